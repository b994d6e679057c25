"""``soar.yaml``: the app registration, the tenants, the store, quotas, the token cache.

Example (every key is described in ``docs/auth.md``)::

    app:
      client_id: 11111111-2222-3333-4444-555555555555
      client_secret: env:SOAR_CLIENT_SECRET        # or certificate: {private_key: file:app.key, thumbprint: A1B2...}
      token_flow: {mde: v2, xdr: v2, graph: v2}      # v1 = the seeds' `resource=` form POST
      resources: {mde: default}                      # default | windowsatpservice | a resource URI
      consent_redirect_uri: https://portal.azure.com
    tenants:
      contoso: {id: 0b9d2f3e-..., cloud: commercial, region: eu, apis: {incidents: xdr, hunting: auto}}
    token_cache: {path: .soar/token-cache.json, refresh_before: 5m}

Secret values are *references* (``env:``, ``file:``, ``keyring:``, ``keyvault:``), checked for
shape when the file is loaded and resolved only when a token is requested. This module
imports neither msal nor pyjwt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from runner import secrets
from runner.auth import clouds
from runner.auth import vaults as _vaults  # registers the keyring: and keyvault: schemes
from runner.durations import Duration
from runner.errors import ConfigError, Location

__all__ = ["SoarConfig", "AppConfig", "TenantConfig", "CertificateConfig", "TokenCacheConfig",
           "load_config", "parse_config", "DEFAULT_CONFIG", "DEFAULT_CACHE_PATH"]

DEFAULT_CONFIG = "soar.yaml"
DEFAULT_CACHE_PATH = ".soar/token-cache.json"
MEMORY = ":memory:"
DOCS_HINT = "see docs/auth.md (Configuration) for every key"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ = _vaults  # imported for its side effect


def _guid(value: str) -> str:
    if not _GUID.match(value):
        raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000 "
                         "(Entra admin center > Overview)")
    return value.lower()


def _secret_ref(value: str) -> str:
    # Never echo `value`: it may be a literal secret pasted by mistake.
    if not secrets.is_reference(value):
        scheme, sep, _rest = value.partition(":")
        known = ", ".join(f"{s}:" for s in ("env", "file", "keyring", "keyvault"))
        if sep and re.fullmatch(r"[a-z]+", scheme):
            raise ValueError(f"unknown secret reference scheme '{scheme}:'; use one of {known}")
        raise ValueError(f"is not a secret reference (literal secret values are not accepted); "
                         f"use one of {known}, e.g. env:SOAR_CLIENT_SECRET")
    return value


Guid = Annotated[str, AfterValidator(_guid)]
SecretRef = Annotated[str, AfterValidator(_secret_ref)]
Api = Literal["mde", "xdr", "graph"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CertificateConfig(_Model):
    """Client assertion: a private key plus the certificate's SHA-1 thumbprint or the certificate."""

    private_key: SecretRef
    thumbprint: str | None = None
    certificate: SecretRef | None = None

    @model_validator(mode="after")
    def _one_id(self):
        if not self.thumbprint and not self.certificate:
            raise ValueError("give `thumbprint` (hex, as shown in Certificates & secrets) or "
                             "`certificate` (a reference to the PEM certificate)")
        if self.thumbprint and not re.fullmatch(r"[0-9A-Fa-f:]{40,59}", self.thumbprint):
            raise ValueError("`thumbprint` must be the certificate's SHA-1 thumbprint in hex")
        return self


class AppConfig(_Model):
    """The multi-tenant app registration."""

    client_id: Guid
    client_secret: SecretRef | None = None
    certificate: CertificateConfig | None = None
    token_flow: dict[Api, Literal["v1", "v2"]] = Field(default_factory=dict)
    resources: dict[Api, str] = Field(default_factory=dict)
    consent_redirect_uri: str = "https://portal.azure.com"

    @model_validator(mode="after")
    def _one_credential(self):
        if bool(self.client_secret) == bool(self.certificate):
            raise ValueError("give exactly one of `client_secret` (a reference) and `certificate`")
        return self

    def flow(self, api: str) -> str:
        return self.token_flow.get(api, "v2")  # type: ignore[call-overload]


class TenantConfig(_Model):
    """One customer tenant. ``name`` is its key under ``tenants:``."""

    name: str = ""
    id: Guid
    cloud: Literal["commercial", "gcc", "gcc_high", "dod"] = "commercial"
    region: str | None = None
    apis: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _region(self):
        if self.region:
            if self.region.lower() not in clouds.REGIONS:
                raise ValueError(f"`region` must be one of {', '.join(clouds.REGIONS)}")
            if self.cloud != "commercial":
                raise ValueError("`region` applies to the commercial cloud only")
        for key, value in self.apis.items():
            allowed = {"incidents": ("xdr", "graph"), "hunting": ("auto", "graph", "xdr", "mde")}.get(key)
            if allowed and value not in allowed:
                raise ValueError(f"`apis.{key}` must be one of {', '.join(allowed)}")
        return self

    def api_base(self, api: str) -> str:
        """Base URL for ``api`` calls on this tenant (cloud and region applied)."""
        return clouds.regional_base(self.cloud, api, self.region)


class TokenCacheConfig(_Model):
    path: str | None = None  # None: .soar/token-cache.json under the current directory; ":memory:": not persisted
    refresh_before: Duration = 300.0
    encrypt: bool = False  # msal-extensions' encrypted persistence (see docs/auth.md)


class ApprovalsConfig(_Model):
    destructive: bool = True


class SoarConfig(_Model):
    """The whole ``soar.yaml``. ``source`` is the file it came from (``None`` when built in code)."""

    app: AppConfig | None = None
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    store: str | None = None
    quotas: dict[str, Any] = Field(default_factory=dict)
    token_cache: TokenCacheConfig = Field(default_factory=TokenCacheConfig)
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _name_tenants(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tenants"), dict):
            named = {}
            for name, body in data["tenants"].items():
                if isinstance(body, dict):
                    body = {**body, "name": str(name)}
                named[name] = body
            data = {**data, "tenants": named}
        return data

    @model_validator(mode="after")
    def _tenant_names(self):
        for name in self.tenants:
            if not _NAME.match(name):
                raise ValueError(f"tenant name {name!r} must be lowercase letters, digits, - or _")
        return self

    def tenant_names(self) -> list[str]:
        return list(self.tenants)

    def tenant(self, name: str) -> TenantConfig:
        try:
            return self.tenants[name]
        except KeyError:
            known = ", ".join(self.tenants) or "(none)"
            raise ConfigError(
                f"unknown tenant '{name}'; known tenants: {known}",
                where=Location(file=self.source),
                hint="add it under `tenants:` in soar.yaml, or use one of the known names",
            ) from None

    def cache_path(self) -> Path | None:
        """The token cache file; ``None`` when ``token_cache.path`` is ``:memory:``."""
        if self.token_cache.path == MEMORY:
            return None
        return Path(self.token_cache.path or DEFAULT_CACHE_PATH).expanduser()


# ---- loading ---------------------------------------------------------------------------------

def load_config(path: str | Path | None) -> SoarConfig | None:
    """Load ``path`` (``None``: ``./soar.yaml`` if present, else ``None``).

    Raises :class:`ConfigError` located at ``file:line:col`` for malformed YAML or a wrong shape.
    """
    if path is None:
        if not Path(DEFAULT_CONFIG).is_file():
            return None
        path = DEFAULT_CONFIG
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file '{p}' ({exc.strerror or type(exc).__name__})",
                          where=Location(file=str(p)),
                          hint="check the path given with --config or SOAR_CONFIG") from None
    return parse_config(text, source=str(p))


def parse_config(text: str, source: str = "<config>") -> SoarConfig:
    """Parse config text; errors are located in ``source``."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Location(file=source, line=mark.line + 1 if mark else None,
                         column=mark.column + 1 if mark else None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed YAML: {problem}", where=where,
                          hint="check indentation and quoting around this position") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping (app:, tenants:, ...)",
                          where=Location(file=source, line=1, column=1), hint=DOCS_HINT)
    try:
        cfg = SoarConfig.model_validate(data)
    except ValidationError as exc:
        raise _located(exc, root, source) from None
    return cfg.model_copy(update={"source": source})


def _located(exc: ValidationError, root: Any, source: str) -> ConfigError:
    errors = exc.errors(include_input=False, include_url=False)
    lines = []
    first: Location | None = None
    for err in errors[:5]:
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        node = _node_at(root, loc)
        where = Location(file=source,
                         line=node.start_mark.line + 1 if node is not None else None,
                         column=node.start_mark.column + 1 if node is not None else None)
        first = first or where
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'"
        elif err["type"] == "missing":
            msg = "is required"
        lines.append(f"{where}: {dotted}: {msg}" if where.line else f"{dotted}: {msg}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    message = lines[0].split(": ", 1)[1] if len(lines) == 1 and first and first.line else "; ".join(lines)
    return ConfigError(message + more, where=first if len(lines) == 1 else Location(file=source),
                       hint=DOCS_HINT)


def _node_at(node: Any, loc: list) -> Any:
    """The YAML node at pydantic's ``loc`` path (the deepest one that exists)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node
