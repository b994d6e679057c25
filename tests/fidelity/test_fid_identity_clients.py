"""Contract: Microsoft's own identity clients — msal's ConfidentialClientApplication and
azure-identity's ClientSecretCredential — obtain tokens from the simulated Entra ID served on
loopback (`soar sim serve`) behind a TLS-terminating relay, as a team would put it behind one:
https://login.microsoftonline.com/... arrives at the simulator as plain http, with the original
Host. Both clients refuse any endpoint that is not https, so every document the simulator
serves must name https addresses whatever scheme reached it.

(In-process routing of azure-identity, without the relay, is covered by
tests/auth/test_auth_config.py's Key Vault test.)
"""

from __future__ import annotations

import time

import httpx
import msal
import pytest
from azure import identity

from runner.auth.clouds import LOGIN_HOSTS
from runner.auth.vaults import network_transport
from runner.sim import SimulatedCloud

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class TlsTerminatingRelay(httpx.BaseTransport):
    """What a TLS-terminating reverse proxy in front of the served simulator does: it takes
    ``https://HOST/PATH`` and forwards it over plain http to the loopback server — a login host to
    Entra's paths at the root, any other host to ``/_host/HOST/PATH`` — keeping ``Host``. Some
    relays add ``X-Forwarded-Proto: https`` (nginx, when configured to); a plain TLS terminator
    (stunnel, a TCP load balancer) adds nothing."""

    def __init__(self, base: str, forwarded_proto: bool):
        self.base = httpx.URL(base)
        self.forwarded_proto = forwarded_proto
        self.inner = httpx.HTTPTransport()
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.scheme == "https", f"the relay only terminates TLS: {request.url}"
        host = request.url.host
        path = request.url.raw_path if host in LOGIN_HOSTS else b"/_host/" + host.encode() + request.url.raw_path
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        headers.append((b"Host", host.encode()))
        if self.forwarded_proto:
            headers.append((b"X-Forwarded-Proto", b"https"))
        forwarded = httpx.Request(request.method, self.base.copy_with(raw_path=path), content=request.read(),
                                  headers=headers)
        self.seen.append(f"{request.method} {host}{request.url.path}")
        answer = self.inner.handle_request(forwarded)
        body = answer.read()
        answer.close()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)

    def close(self) -> None:
        self.inner.close()


class _RelayNetwork:
    """The one method of runner.http.Network that runner.auth.vaults.network_transport calls."""

    def __init__(self, relay: TlsTerminatingRelay):
        self.relay = relay

    def sync_client(self) -> httpx.Client:
        return httpx.Client(transport=self.relay, timeout=30)


@pytest.fixture(scope="module")
def served():
    from runner.loopback import serve_in_thread

    cloud = SimulatedCloud()
    with serve_in_thread(cloud.asgi_app()) as url:
        yield cloud, url


@pytest.fixture(params=["plain", "x-forwarded-proto"])
def relay(served, request):
    relay = TlsTerminatingRelay(served[1], forwarded_proto=request.param != "plain")
    yield relay
    relay.close()


def _urls(value) -> list[str]:
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return [value] if isinstance(value, str) and "://" in value else []


def test_every_served_document_names_https_addresses(served, relay):
    cloud, _ = served
    tid = cloud.tenant("contoso").id
    with httpx.Client(transport=relay) as client:
        docs = [client.get(f"https://login.microsoftonline.com/{tid}/v2.0/.well-known/openid-configuration"),
                client.get(f"https://login.microsoftonline.com/{tid}/.well-known/openid-configuration"),
                client.get("https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"),
                client.get("https://login.microsoftonline.com/common/discovery/instance",
                           params={"api-version": "1.1", "authorization_endpoint":
                                   f"https://login.microsoftonline.com/{tid}/oauth2/v2.0/authorize"})]
    assert [d.status_code for d in docs] == [200] * 4
    urls = [u for d in docs for u in _urls(d.json())]
    assert urls and [u for u in urls if not u.startswith("https://")] == []
    assert docs[0].json()["token_endpoint"] == f"https://login.microsoftonline.com/{tid}/oauth2/v2.0/token"


def test_msal_gets_tokens_through_the_relay(served, relay):
    cloud, _ = served
    tid = cloud.tenant("contoso").id
    with httpx.Client(transport=relay, timeout=30) as http:
        app = msal.ConfidentialClientApplication(cloud.app.client_id, client_credential=cloud.app.secret.reveal(),
                                                 authority=f"https://login.microsoftonline.com/{tid}",
                                                 http_client=http)
        first = app.acquire_token_for_client([GRAPH_SCOPE])
        assert "access_token" in first, first
        claims = cloud.verify_bearer(f"Bearer {first['access_token']}", "graph")
        assert claims is not None and claims["tid"] == tid
        second = app.acquire_token_for_client([GRAPH_SCOPE])
        assert second["access_token"] == first["access_token"] and second["token_source"] == "cache"
        wrong = msal.ConfidentialClientApplication(cloud.app.client_id, client_credential="not-the-secret",
                                                   authority=f"https://login.microsoftonline.com/{tid}",
                                                   http_client=http)
        refused = wrong.acquire_token_for_client([GRAPH_SCOPE])
        assert refused.get("error") == "invalid_client" and 7000215 in refused.get("error_codes", [])
        # and the token is good for the Graph API behind the same relay
        incidents = http.get("https://graph.microsoft.com/v1.0/security/incidents",
                             headers={"Authorization": f"Bearer {first['access_token']}"})
        assert incidents.status_code == 200 and incidents.json()["value"]
    assert any(s.startswith("POST login.microsoftonline.com/") for s in relay.seen)


def test_azure_identity_gets_tokens_through_the_relay(served, relay):

    cloud, _ = served
    tid = cloud.tenant("fabrikam").id
    credential = identity.ClientSecretCredential(tid, cloud.app.client_id, cloud.app.secret.reveal(),
                                                 transport=network_transport(_RelayNetwork(relay)))
    try:
        token = credential.get_token(GRAPH_SCOPE)
        claims = cloud.verify_bearer(f"Bearer {token.token}", "graph")
        assert claims is not None and claims["tid"] == tid and token.expires_on > time.time()
        mde = credential.get_token("https://api.securitycenter.microsoft.com/.default")
        assert cloud.verify_bearer(f"Bearer {mde.token}", "mde") is not None
    finally:
        credential.close()
    assert any(s.endswith("/oauth2/v2.0/token") for s in relay.seen)
