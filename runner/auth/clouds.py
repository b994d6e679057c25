"""Where each Microsoft cloud lives: token authority, API hosts, token resources.

Facts from Microsoft's Defender for Endpoint and Defender XDR pages for US Government customers
(msticpy and demisto agree). Where Microsoft's sources disagree (GCC's Graph host) the choice is written
next to the value. This module imports nothing heavy: :mod:`runner.config` uses it to
validate ``cloud:`` and ``region:``.

Terms:

- *resource* — the identifier URI a token is requested for: the v1 ``resource=`` value, and,
  followed by ``/.default``, the v2 ``scope=``. It is also what the token's ``aud`` carries.
- *resource app* — the Microsoft first-party application behind a resource (WindowsDefenderATP,
  Microsoft Threat Protection, Microsoft Graph). One app has several identifier URIs
  (aliases); a token for any of them is a token for that app.
"""

from __future__ import annotations

from dataclasses import dataclass, field

APIS: tuple[str, ...] = ("mde", "xdr", "graph")
CLOUDS: tuple[str, ...] = ("commercial", "gcc", "gcc_high", "dod")

API_TITLES = {
    "mde": "Microsoft Defender for Endpoint (WindowsDefenderATP)",
    "xdr": "Microsoft Defender XDR (Microsoft Threat Protection)",
    "graph": "Microsoft Graph",
}


@dataclass(frozen=True)
class ResourceApp:
    """A Microsoft first-party API app: its app id and every identifier URI it answers to."""

    api: str
    app_id: str
    display_name: str
    identifier_uris: tuple[str, ...]

    def audiences(self) -> frozenset[str]:
        """Every ``aud`` value a token for this app may carry (URI with/without ``/``, app id)."""
        out = {self.app_id}
        for uri in self.identifier_uris:
            out.add(uri.rstrip("/"))
            out.add(uri.rstrip("/") + "/")
        return frozenset(out)


RESOURCE_APPS: dict[str, ResourceApp] = {
    "mde": ResourceApp(
        "mde", "fc780465-2017-40d4-a0c5-307022471b92", "WindowsDefenderATP",
        (
            "https://api.securitycenter.microsoft.com",
            "https://securitycenter.onmicrosoft.com/windowsatpservice",
            "https://api.securitycenter.windows.com",  # legacy; the XDR page's Python sample
            "https://api-gcc.securitycenter.microsoft.us",
            "https://api-gov.securitycenter.microsoft.us",
            "https://securitycenter.onmicrosoft.us/windowsatpservice",
        ),
    ),
    "xdr": ResourceApp(
        "xdr", "8ee8fdad-f234-4243-8f3b-15c294843740", "Microsoft Threat Protection",
        (
            "https://api.security.microsoft.com",
            "https://securitycenter.microsoft.com/mtp",  # used by third-party tools (UNCONF)
            "https://api-gcc.security.microsoft.us",
            "https://api-gov.security.microsoft.us",
        ),
    ),
    "graph": ResourceApp(
        "graph", "00000003-0000-0000-c000-000000000000", "Microsoft Graph",
        ("https://graph.microsoft.com", "https://graph.microsoft.us", "https://dod-graph.microsoft.us"),
    ),
}


def resource_app_for(resource: str) -> ResourceApp | None:
    """The resource app a resource URI (or scope, or app id) belongs to, or ``None``."""
    text = resource.strip()
    if text.endswith("/.default"):
        text = text[: -len("/.default")]
    text = text.rstrip("/").lower()
    for app in RESOURCE_APPS.values():
        if text == app.app_id or any(text == u.lower() for u in app.identifier_uris):
            return app
    return None


@dataclass(frozen=True)
class Cloud:
    """One national cloud: the authority host and, per API, the base URL and token resource."""

    name: str
    title: str
    authority_host: str
    api_base: dict[str, str]
    resource: dict[str, str]
    windowsatpservice: str  # the MDE `windowsatpservice` identifier URI form for this cloud
    aliases: tuple[str, ...] = field(default=())  # other login hosts of the same cloud

    @property
    def authority_url(self) -> str:
        return f"https://{self.authority_host}"

    def authority(self, tenant_id: str) -> str:
        return f"https://{self.authority_host}/{tenant_id}"


CLOUD_TABLE: dict[str, Cloud] = {
    "commercial": Cloud(
        "commercial", "Commercial (worldwide)", "login.microsoftonline.com",
        api_base={
            "mde": "https://api.securitycenter.microsoft.com",
            "xdr": "https://api.security.microsoft.com",
            "graph": "https://graph.microsoft.com",
        },
        resource={
            "mde": "https://api.securitycenter.microsoft.com",
            "xdr": "https://api.security.microsoft.com",
            "graph": "https://graph.microsoft.com",
        },
        windowsatpservice="https://securitycenter.onmicrosoft.com/windowsatpservice",
        aliases=("login.windows.net", "login.microsoft.com", "sts.windows.net"),
    ),
    "gcc": Cloud(
        "gcc", "US Government Community Cloud (GCC)", "login.microsoftonline.com",
        api_base={
            "mde": "https://api-gcc.securitycenter.microsoft.us",
            "xdr": "https://api-gcc.security.microsoft.us",
            # demisto maps GCC Graph to .com in one table and .us in another (UNCONF);
            # GCC (moderate) tenants live in the worldwide Entra ID, so we pick .com.
            "graph": "https://graph.microsoft.com",
        },
        resource={
            "mde": "https://api-gcc.securitycenter.microsoft.us",
            "xdr": "https://api-gcc.security.microsoft.us",
            "graph": "https://graph.microsoft.com",
        },
        windowsatpservice="https://securitycenter.onmicrosoft.com/windowsatpservice",
        aliases=("login.windows.net", "login.microsoft.com"),
    ),
    "gcc_high": Cloud(
        "gcc_high", "US Government GCC High", "login.microsoftonline.us",
        api_base={
            "mde": "https://api-gov.securitycenter.microsoft.us",
            "xdr": "https://api-gov.security.microsoft.us",
            "graph": "https://graph.microsoft.us",
        },
        resource={
            "mde": "https://api-gov.securitycenter.microsoft.us",
            "xdr": "https://api-gov.security.microsoft.us",
            "graph": "https://graph.microsoft.us",
        },
        windowsatpservice="https://securitycenter.onmicrosoft.us/windowsatpservice",
    ),
    "dod": Cloud(
        "dod", "US Government DoD", "login.microsoftonline.us",
        api_base={
            "mde": "https://api-gov.securitycenter.microsoft.us",
            "xdr": "https://api-gov.security.microsoft.us",
            "graph": "https://dod-graph.microsoft.us",
        },
        resource={
            "mde": "https://api-gov.securitycenter.microsoft.us",
            "xdr": "https://api-gov.security.microsoft.us",
            "graph": "https://dod-graph.microsoft.us",
        },
        windowsatpservice="https://securitycenter.onmicrosoft.us/windowsatpservice",
    ),
}

# Login hosts and the cloud family they serve (GCC shares the worldwide Entra ID).
LOGIN_HOSTS: dict[str, str] = {
    "login.microsoftonline.com": "worldwide",
    "login.windows.net": "worldwide",
    "login.microsoft.com": "worldwide",
    "login.microsoftonline.us": "usgov",
}
CLOUD_FAMILY: dict[str, str] = {
    "commercial": "worldwide", "gcc": "worldwide", "gcc_high": "usgov", "dod": "usgov",
}

# Regional API hosts (commercial cloud only). MDE's older pages (the seeds) list
# api-us|eu|uk|au.securitycenter.microsoft.com; current pages list
# us|eu|uk|au|swa|ina|aea.api.security.microsoft.com, which XDR uses too.
MDE_LEGACY_REGIONS = ("us", "eu", "uk", "au")
REGIONS = ("us", "eu", "uk", "au", "swa", "ina", "aea")


def cloud(name: str) -> Cloud:
    """The :class:`Cloud` called ``name``; ``KeyError`` for an unknown one."""
    return CLOUD_TABLE[name]


def regional_base(cloud_name: str, api: str, region: str | None) -> str:
    """The API base URL for ``api`` in ``cloud_name``, on ``region``'s host when one is given.

    Tokens are still requested for the global resource (``Cloud.resource``), the one form
    Microsoft documents; regional hosts only change where the calls go.
    """
    c = CLOUD_TABLE[cloud_name]
    if not region or api == "graph" or cloud_name != "commercial":
        return c.api_base[api]
    region = region.lower()
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; known: {', '.join(REGIONS)}")
    if api == "mde" and region in MDE_LEGACY_REGIONS:
        return f"https://api-{region}.securitycenter.microsoft.com"
    return f"https://{region}.api.security.microsoft.com"


def resource_for(cloud_name: str, api: str, override: str | None = None) -> str:
    """The resource URI a token for ``api`` is requested for.

    ``override`` is ``app.resources.<api>`` from the config: ``default``, ``windowsatpservice``
    (MDE's curl-sample form) or a full URI.
    """
    c = CLOUD_TABLE[cloud_name]
    if not override or override == "default":
        return c.resource[api]
    if override == "windowsatpservice":
        return c.windowsatpservice
    return override.rstrip("/").removesuffix("/.default")


def accepted_audiences(api: str, resource: str) -> frozenset[str]:
    """``aud`` values a token for ``api`` may carry: every alias of the API's resource app."""
    app = RESOURCE_APPS[api]
    return app.audiences() | {resource.rstrip("/"), resource.rstrip("/") + "/"}


def issuers(tenant_id: str, authority_host: str) -> tuple[str, str]:
    """Default v1 and v2 issuer forms (used when the metadata document gives none)."""
    return (f"https://sts.windows.net/{tenant_id}/", f"https://{authority_host}/{tenant_id}/v2.0")
