"""Entra ID resources of the registered APIs: what a token is requested for, which ``aud``
values it may carry, and which registered API a resource URI (or app id) belongs to.

Every fact comes from the API's :class:`~runner.apis.spec.EntraResource` (``register_apis``):
``resources`` per cloud, named ``resource_forms`` a user may pick with ``app.resources.<api>``,
``identifier_uris`` and ``app_id``. Terms:

- *resource* — the identifier URI a token is requested for: the v1 ``resource=`` value, and,
  followed by ``/.default``, the v2 ``scope=``. It is also what the token's ``aud`` carries.
- *resource app* — the application behind a resource. One app has several identifier URIs
  (aliases); a token for any of them is a token for that app.

This module imports nothing heavy (the simulated Entra ID and :mod:`runner.config` use it).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from runner.apis.registry import Registry, registered, spec_for
from runner.apis.spec import ApiSpec, EntraResource
from runner.errors import ConfigError

__all__ = ["DEFAULT", "ResourceIndex", "accepted_audiences", "entra_resource", "resource_api", "resource_for", "resource_names"]

DEFAULT = "default"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def entra_resource(api: str, registry: Registry | None = None) -> EntraResource:
    """The :class:`EntraResource` of the registered API ``api``; :class:`ConfigError` when it is
    not registered or does not take Entra ID tokens."""
    spec = spec_for(api, registry)
    if not isinstance(spec.auth, EntraResource):
        how = "no authentication" if spec.auth is None else f"a {spec.auth.scheme} secret (`credentials.{api}`)"
        raise ConfigError(f"{spec.title} (API '{api}') does not take Entra ID tokens: it uses {how}",
                          hint="only APIs registered with an EntraResource have tokens; call this API through "
                               "its client (ctx.api), which sends its credentials")
    return spec.auth


def resource_names(spec: ApiSpec) -> tuple[str, ...]:
    """What ``app.resources.<api>`` may name besides a full URI: ``default`` and the resource forms."""
    forms = tuple(spec.auth.resource_forms) if isinstance(spec.auth, EntraResource) else ()
    return (DEFAULT, *forms)


def resource_for(spec: ApiSpec, cloud: str, override: str | None = None) -> str:
    """The resource URI a token for ``spec``'s API in ``cloud`` is requested for.

    ``override`` is ``app.resources.<api>`` from soar.yaml: ``default``, the name of one of the
    API's ``resource_forms``, or a full URI.
    """
    auth = spec.auth
    if not isinstance(auth, EntraResource):
        raise ConfigError(f"{spec.title} (API '{spec.name}') does not take Entra ID tokens")
    if override and override != DEFAULT:
        form = auth.resource_forms.get(override)
        if form is None:
            if "://" not in override and not _GUID.fullmatch(override):
                raise ConfigError(f"`app.resources.{spec.name}`: {override!r} is neither a resource URI, an app id "
                                  f"nor a resource form of {spec.title}",
                                  hint=f"use {', '.join(resource_names(spec))} or a resource URI like "
                                       f"{next(iter(auth.resources.values()), 'https://...')}")
            return override.rstrip("/").removesuffix("/.default")
        if cloud not in form:
            raise ConfigError(f"`app.resources.{spec.name}: {override}` has no URI in the {cloud} cloud",
                              hint=f"use `default` or a resource URI (the form exists in: {', '.join(form)})")
        return form[cloud]
    if cloud not in auth.resources:
        raise ConfigError(f"{spec.title} is not available in the {cloud} cloud (it is in: {', '.join(auth.resources)})",
                          hint=f"check the tenant's `cloud:`, or set `app.resources.{spec.name}` to a resource URI")
    return auth.resources[cloud]


def accepted_audiences(spec: ApiSpec, resource: str) -> frozenset[str]:
    """``aud`` values a token for ``spec``'s API may carry: its app id, every identifier URI and
    resource of its app (with and without a trailing ``/``), and the resource requested."""
    auth = spec.auth
    out: set[str] = set()
    uris = [resource]
    if isinstance(auth, EntraResource):
        out.add(auth.app_id)
        uris += [*auth.identifier_uris, *auth.resources.values()]
        uris += [uri for form in auth.resource_forms.values() for uri in form.values()]
    for uri in uris:
        out.add(uri.rstrip("/"))
        out.add(uri.rstrip("/") + "/")
    return frozenset(out)


def _normal(text: str) -> str:
    text = text.strip()
    if text.endswith("/.default"):
        text = text[: -len("/.default")]
    return text.rstrip("/").lower()


def _names(auth: EntraResource) -> Iterable[str]:
    """Every way a token request or an ``aud`` names ``auth``'s resource app."""
    yield auth.app_id
    yield from auth.identifier_uris
    yield from auth.resources.values()
    for form in auth.resource_forms.values():
        yield from form.values()


class ResourceIndex:
    """API name ↔ Entra ID resource app, for a set of APIs: which API a resource URI, scope or
    app id names (looked up in a dict: the simulated APIs ask on every request)."""

    def __init__(self, resources: Mapping[str, EntraResource]) -> None:
        self.resources = dict(resources)
        self._index: dict[str, str] = {}
        for name, auth in self.resources.items():
            for uri in _names(auth):
                self._index.setdefault(_normal(uri), name)

    @classmethod
    def of(cls, registry: Mapping[str, ApiSpec]) -> "ResourceIndex":
        return cls({name: spec.auth for name, spec in registry.items() if isinstance(spec.auth, EntraResource)})

    def api_for(self, resource: str) -> str | None:
        """The API ``resource`` names — its name, an identifier URI, a resource of any cloud, a
        resource form, a ``<uri>/.default`` scope (any case, trailing ``/`` ignored) or the
        resource app's id — or ``None``."""
        if resource in self.resources:
            return resource
        return self._index.get(_normal(resource)) if resource.strip() else None


def resource_api(resource: str, registry: Registry | None = None) -> str | None:
    """The registered API whose Entra ID resource app ``resource`` names (see
    :meth:`ResourceIndex.api_for`), or ``None``."""
    return ResourceIndex.of(registered(registry)).api_for(resource)
