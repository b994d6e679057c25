"""Where each Microsoft cloud signs in: the Entra ID facts every Microsoft plugin needs.

One :class:`Cloud` per national cloud (commercial, GCC, GCC High, DoD): its token authority
host and the other login hosts of the same Entra ID. Which APIs live in each cloud, their hosts,
regions and token resources are not here: each plugin registers its APIs with their per-cloud
base URLs and Entra ID resources (:class:`runner.apis.spec.ApiSpec`,
:mod:`runner.auth.resources`). This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CLOUDS", "CLOUD_FAMILY", "CLOUD_TABLE", "Cloud", "LOGIN_HOSTS", "cloud", "issuers"]

CLOUDS: tuple[str, ...] = ("commercial", "gcc", "gcc_high", "dod")


@dataclass(frozen=True)
class Cloud:
    """One national cloud: its name, title and Entra ID authority host."""

    name: str
    title: str
    authority_host: str
    aliases: tuple[str, ...] = field(default=())  # other login hosts of the same cloud

    @property
    def authority_url(self) -> str:
        return f"https://{self.authority_host}"

    def authority(self, tenant_id: str) -> str:
        return f"https://{self.authority_host}/{tenant_id}"


CLOUD_TABLE: dict[str, Cloud] = {
    "commercial": Cloud("commercial", "Commercial (worldwide)", "login.microsoftonline.com",
                        aliases=("login.windows.net", "login.microsoft.com", "sts.windows.net")),
    # GCC (moderate) tenants live in the worldwide Entra ID
    "gcc": Cloud("gcc", "US Government Community Cloud (GCC)", "login.microsoftonline.com",
                 aliases=("login.windows.net", "login.microsoft.com")),
    "gcc_high": Cloud("gcc_high", "US Government GCC High", "login.microsoftonline.us"),
    "dod": Cloud("dod", "US Government DoD", "login.microsoftonline.us"),
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


def cloud(name: str) -> Cloud:
    """The :class:`Cloud` called ``name``; ``KeyError`` for an unknown one."""
    return CLOUD_TABLE[name]


def issuers(tenant_id: str, authority_host: str) -> tuple[str, str]:
    """Default v1 and v2 issuer forms (used when the metadata document gives none)."""
    return (f"https://sts.windows.net/{tenant_id}/", f"https://{authority_host}/{tenant_id}/v2.0")

