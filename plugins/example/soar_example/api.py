"""The ACME Threat Intel API, as the plugin registers it (``register_apis``).

ACME is a made-up, non-Microsoft REST service: one base URL for every cloud, an API key in the
``X-Api-Key`` header, its own call budget, and error bodies of its own shape. Registering it
gives the plugin's actions (``ctx.api("acme")``) and its poll source the runtime's quotas,
credentials, retries and error mapping, with no HTTP code of their own.
"""

from __future__ import annotations

from typing import Any

from runner.plugin import ApiSpec, ErrorBody, SecretAuth

API = "acme"
HOST = "api.acme.example"
#: the host of ACME's downloadable feeds: not part of the API (plain HTTP, see actions.fetch_feed)
FEEDS_HOST = "feeds.acme.example"
#: the secret reference of the API key when soar.yaml's ``credentials:`` names none
DEFAULT_KEY_REF = "env:ACME_API_KEY"


def error_body(body: Any) -> ErrorBody:
    """ACME answers errors as ``{"error_code": "...", "detail": "..."}``."""
    if isinstance(body, dict):
        return ErrorBody(code=body.get("error_code"), message=body.get("detail"))
    return ErrorBody()


ACME_API = ApiSpec(
    name=API,
    title="ACME Threat Intel API",
    base_url=f"https://{HOST}",
    auth=SecretAuth(scheme="api_key", header="X-Api-Key", default_ref=DEFAULT_KEY_REF),
    # ACME's documented limit is 10 calls a second per key: the client keeps under it, so a
    # burst of lookups queues instead of being answered 429 (soar.yaml `quotas: {acme: ...}`
    # overrides it)
    quotas={API: {"per_second": 10, "per_minute": 300}},
    error_body=error_body,
)
