"""``soar.yaml``: the app registration, the tenants, the store, quotas, the token cache.

Example (every key is described in ``docs/auth.md``)::

    app:
      client_id: 11111111-2222-3333-4444-555555555555
      client_secret: env:SOAR_CLIENT_SECRET        # or certificate: {private_key: file:app.key, thumbprint: A1B2...}
      token_flow: {mde: v2, xdr: v2, graph: v2}      # v1 = the `resource=` form POST of Microsoft's samples
      resources: {mde: default}                      # default | a resource form of the API | a resource URI
      consent_redirect_uri: https://portal.azure.com
    credentials: {acme: env:ACME_API_KEY}           # secrets of API-key/bearer/basic APIs, for all tenants
    tenants:
      contoso: {id: 0b9d2f3e-..., cloud: commercial, region: eu, apis: {incidents: xdr, hunting: auto},
                credentials: {acme: keyvault:https://vault.example/secrets/acme-contoso}}
    token_cache: {path: .soar/token-cache.json, refresh_before: 5m}   # or {backend: database, key: env:...}
    console: {tenant: mssp.onmicrosoft.com, client_id: ..., client_secret: env:SOAR_CONSOLE_SECRET}  # docs/console.md

API names (``token_flow``, ``resources``, ``credentials``, the values of ``apis``) and ``region``
are checked against the APIs the installed plugins register (``register_apis``): the registry
given to :func:`parse_config` / :func:`load_config`, else the process's plugins — loaded only
when the file names an API or a region.

Secret values are *references* (``env:``, ``file:``, ``keyring:``, ``keyvault:`` or a scheme a
plugin registers), checked for shape when the file is loaded and resolved only when a token or
an API's secret is needed. This module imports neither msal nor pyjwt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, \
    field_validator, model_validator

from runner import secrets
from runner.auth import vaults as _vaults  # registers the keyring: and keyvault: schemes
from runner.durations import Duration
from runner.errors import ConfigError, Location

if TYPE_CHECKING:  # pragma: no cover
    from runner.apis.spec import ApiSpec

__all__ = ["SoarConfig", "AppConfig", "TenantConfig", "CertificateConfig", "TokenCacheConfig", "ConsoleConfig",
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
    if not secrets.is_reference(value) and re.match(r"[a-z][a-z0-9_]*:.", value):
        from runner.plugins import load_plugins

        load_plugins()  # a scheme a plugin registers (register_secret_schemes)
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
AUTO = "auto"  # `apis.<key>: auto`: the action picks among its APIs at run time


def _registry(info: ValidationInfo) -> "Mapping[str, ApiSpec]":
    """The registered APIs to check names against: ``context["apis"]`` when the caller gave one,
    else the process's plugins (loaded now, on the first name to check)."""
    context = info.context if isinstance(info.context, Mapping) else {}
    given = context.get("apis")
    if given is not None:
        return given
    from runner.apis.registry import registered

    return registered(None)


def _known_apis(names: Any, info: ValidationInfo, *, entra: bool = False) -> None:
    """Refuse a name no plugin registered (and, with ``entra``, an API that takes no Entra ID token)."""
    if not names:
        return
    registry = _registry(info)
    for name in names:
        spec = registry.get(name)
        if spec is None:
            raise ValueError(f"unknown API '{name}'; the registered APIs are: {', '.join(sorted(registry)) or '(none)'} "
                             "(install the plugin that provides it, or fix the name)")
        if entra:
            from runner.apis.spec import EntraResource

            if not isinstance(spec.auth, EntraResource):
                raise ValueError(f"API '{name}' ({spec.title}) does not take Entra ID tokens; "
                                 f"its secret goes under `credentials.{name}`")


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
    token_flow: dict[str, Literal["v1", "v2"]] = Field(default_factory=dict)
    resources: dict[str, str] = Field(default_factory=dict)
    consent_redirect_uri: str = "https://portal.azure.com"

    @field_validator("token_flow")
    @classmethod
    def _flow_apis(cls, value: dict, info: ValidationInfo) -> dict:
        _known_apis(value, info, entra=True)
        return value

    @field_validator("resources")
    @classmethod
    def _resource_apis(cls, value: dict, info: ValidationInfo) -> dict:
        _known_apis(value, info, entra=True)
        if value:
            from runner.auth.resources import resource_for

            registry = _registry(info)
            for api, override in value.items():
                spec = registry[api]
                try:
                    resource_for(spec, next(iter(spec.auth.resources), "commercial"), override)  # type: ignore[union-attr]
                except ConfigError as exc:
                    raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        return value

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
    credentials: dict[str, SecretRef] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _credential_apis(cls, value: dict, info: ValidationInfo) -> dict:
        _known_apis(value, info)
        return value

    @model_validator(mode="after")
    def _region(self, info: ValidationInfo):
        if self.region:
            _check_region(self.region, self.cloud, _registry(info))
        if self.apis:
            registry = _registry(info)
            for key, value in self.apis.items():
                if value != AUTO and value not in registry:
                    raise ValueError(f"`apis.{key}`: unknown API '{value}'; use `auto` or one of the registered "
                                     f"APIs: {', '.join(sorted(registry)) or '(none)'}")
        return self

    def api_base(self, api: str, registry: "Mapping[str, ApiSpec] | None" = None) -> str:
        """Base URL for ``api`` calls on this tenant (cloud and region applied — a region the API
        does not list leaves it on its global host), from the API's registration (``registry``;
        default: the process's plugins)."""
        from runner.apis.registry import base_url, spec_for

        spec = spec_for(api, registry)
        try:
            return base_url(spec, self.cloud, self.region)
        except ValueError as exc:
            raise ConfigError(f"tenant '{self.name}': no base URL for {spec.title}: {exc}",
                              hint=f"check `tenants.{self.name}.cloud` and `region` in soar.yaml") from None


def _check_region(region: str, cloud: str, registry: "Mapping[str, ApiSpec]") -> None:
    """``region`` must be one a registered API knows, and move some API's host in ``cloud``."""
    from runner.apis.registry import regions

    known = regions(registry)
    name = region.lower()
    if name not in known:
        raise ValueError(f"`region` must be one of {', '.join(known)}" if known else
                         "`region`: no registered API has regional hosts (remove `region`)")
    for spec in registry.values():
        if name in (r.lower() for r in spec.regions):
            try:
                if spec.url_for(cloud, region) != spec.url_for(cloud, None):
                    return
            except ValueError as exc:
                raise ValueError(f"`region`: {exc}") from None
    raise ValueError(f"`region` changes no API's host in the {cloud} cloud (regional hosts are elsewhere); "
                     "remove it")


class TokenCacheConfig(_Model):
    """Where tokens are kept (docs/auth.md, "The token cache"). ``backend``: ``file`` (``path``),
    ``database`` (the run store's database, shared by every process on it, encrypted with
    ``key``), or ``auto``: ``database`` in a front or worker whose store is PostgreSQL (the role
    given to :func:`runner.compose.build_services`) unless ``path`` or ``encrypt`` is set, else
    ``file``."""

    backend: Literal["auto", "file", "database"] = "auto"
    path: str | None = None  # None: .soar/token-cache.json under the current directory; ":memory:": not persisted
    refresh_before: Duration = 300.0
    encrypt: bool = False  # msal-extensions' encrypted persistence (see docs/auth.md)
    key: SecretRef | None = None  # the database cache's Fernet key(s), e.g. env:SOAR_TOKEN_CACHE_KEY

    @model_validator(mode="after")
    def _database_needs_key(self):
        if self.backend == "database":
            if not self.key:
                raise ValueError("`backend: database` needs `key`, a reference to a Fernet key (e.g. "
                                 "key: env:SOAR_TOKEN_CACHE_KEY): tokens are never stored in clear; make one with "
                                 "python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"")
            if self.encrypt or self.path:
                raise ValueError("`path` and `encrypt` are for the file cache; the database cache is "
                                 "encrypted with `key`")
        elif self.backend == "file" and self.key:
            raise ValueError("`key` encrypts the database cache (`backend: database`); the file cache "
                             "is encrypted with `encrypt: true`")
        return self


class ApprovalsConfig(_Model):
    destructive: bool = True


class ConsoleConfig(_Model):
    """Sign-in to the console with Entra ID (docs/console.md, "Sign-in"): the MSSP's own tenant
    (GUID or ``NAME.onmicrosoft.com``) and the console's app registration, whose app roles
    (``Viewer``, ``Responder``, ``Admin``) arrive in the ``roles_claim`` of ID and access tokens.
    ``session_key``: a reference to the key that seals session cookies (default: one per
    process, so a restart signs everyone out; give one when several fronts serve the console)."""

    tenant: str
    client_id: Guid
    client_secret: SecretRef
    cloud: Literal["commercial", "gcc", "gcc_high", "dod"] = "commercial"
    redirect_uri: str | None = None
    roles_claim: str = "roles"
    session_key: SecretRef | None = None
    session_lifetime: Duration = 8 * 3600.0

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if _GUID.match(value):
            return value.lower()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*(\.[A-Za-z0-9-]+)+", value):
            raise ValueError("must be the MSSP tenant's id (a GUID) or a domain of it, e.g. mssp.onmicrosoft.com")
        return value.lower()

    @field_validator("redirect_uri")
    @classmethod
    def _redirect(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/?#\s]+/[^?#\s]*", value):
            raise ValueError("must be the console's callback URL as registered on the app, e.g. "
                             "https://soar.example.com/auth/callback")
        return value


class SoarConfig(_Model):
    """The whole ``soar.yaml``. ``source`` is the file it came from (``None`` when built in code)."""

    app: AppConfig | None = None
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    store: str | None = None
    quotas: dict[str, Any] = Field(default_factory=dict)
    token_cache: TokenCacheConfig = Field(default_factory=TokenCacheConfig)
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    console: ConsoleConfig | None = None
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

    @field_validator("credentials")
    @classmethod
    def _credential_apis(cls, value: dict, info: ValidationInfo) -> dict:
        _known_apis(value, info)
        return value

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

def load_config(path: str | Path | None, *, registry: "Mapping[str, ApiSpec] | None" = None) -> SoarConfig | None:
    """Load ``path`` (``None``: ``./soar.yaml`` if present, else ``None``). ``registry``: the
    registered APIs to check API names and ``region`` against (default: the process's plugins).

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
    return parse_config(text, source=str(p), registry=registry)


def parse_config(text: str, source: str = "<config>", *, registry: "Mapping[str, ApiSpec] | None" = None) -> SoarConfig:
    """Parse config text; errors are located in ``source``. ``registry``: as for :func:`load_config`."""
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
        cfg = SoarConfig.model_validate(data, context={"apis": registry} if registry is not None else None)
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
