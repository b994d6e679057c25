"""Admin-consent links: the Defender pages' v1 form and Entra's v2 ``adminconsent`` form."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from runner.auth import clouds

DEFAULT_REDIRECT_URI = "https://portal.azure.com"  # what the Defender partner pages register


@dataclass(frozen=True)
class ConsentUrls:
    """``authorize``: Microsoft's partner-page ``/common/oauth2/authorize?prompt=consent`` link (any tenant's
    admin signs in). ``admin_consent``: the v2 ``/{tenant}/adminconsent`` link for one tenant."""

    authorize: str
    admin_consent: str

    def as_dict(self) -> dict[str, str]:
        return {"authorize": self.authorize, "admin_consent": self.admin_consent}


def consent_urls(client_id: str, *, tenant_id: str | None = None, cloud: str = "commercial",
                 redirect_uri: str | None = None, state: str | None = None) -> ConsentUrls:
    """Both consent links for ``client_id``; ``tenant_id`` narrows the v2 link to one tenant
    (``organizations`` otherwise). ``redirect_uri`` must be registered on the app."""
    host = clouds.cloud(cloud).authority_url
    # exactly the Defender pages' form; Entra redirects to the app's registered redirect URI
    v1 = {"prompt": "consent", "client_id": client_id, "response_type": "code", "sso_reload": "true"}
    v2 = {"client_id": client_id, "redirect_uri": redirect_uri or DEFAULT_REDIRECT_URI}
    if state:
        v2["state"] = state
    return ConsentUrls(
        authorize=f"{host}/common/oauth2/authorize?{urlencode(v1)}",
        admin_consent=f"{host}/{tenant_id or 'organizations'}/adminconsent?{urlencode(v2)}",
    )
