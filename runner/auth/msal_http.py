"""msal's ``http_client`` on one of our httpx clients (so msal goes through the process's
:class:`~runner.http.Network`: simulated, loopback or real). The one adapter the token provider
and the console's sign-in both give msal.

``documents``: URL → a metadata document already fetched (answered without a request);
``on_token_request``: called before each POST to a ``/token`` endpoint (the provider counts
what reaches Entra ID).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import httpx

__all__ = ["MsalHttp"]


class MsalHttp:
    def __init__(self, client: httpx.Client, *, documents: Mapping[str, str] | None = None,
                 on_token_request: Callable[[], None] | None = None) -> None:
        self.client = client
        self.documents = documents if documents is not None else {}
        self.on_token_request = on_token_request

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> httpx.Response:
        known = self.documents.get(url)
        if known is not None and not params:
            return httpx.Response(200, text=known, request=httpx.Request("GET", url))
        return self.client.get(url, params=params, headers=headers)

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any) -> httpx.Response:
        if url.endswith("/token") and self.on_token_request is not None:
            self.on_token_request()
        if isinstance(data, (str, bytes)):
            return self.client.post(url, params=params, content=data, headers=headers)
        if isinstance(data, dict):  # msal hands the client assertion over as bytes (requests encodes them)
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.client.post(url, params=params, data=data, headers=headers)

    def close(self) -> None:  # msal may call it; the client belongs to whoever made it
        pass
