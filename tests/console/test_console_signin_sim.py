"""The simulated Entra ID's sign-in: the MSSP tenant, its authorize page, the authorization
code grant with PKCE (checked with msal itself) and client-credentials tokens for the console app."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest

from runner.sim import SimulatedCloud
from runner.sim.signin import client_secret

CALLBACK = "http://127.0.0.1:8080/auth/callback"


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cloud(clock):
    return SimulatedCloud(clock=clock)


@pytest.fixture
def http(cloud):
    with cloud.network().sync_client() as client:
        yield client


def authority(cloud) -> str:
    return f"https://login.microsoftonline.com/{cloud.entra.signin.tenant.id}"


def authorize_url(cloud, *, challenge: str | None = "x" * 43, method: str = "S256", **extra: str) -> str:
    params = {"client_id": cloud.app.client_id, "response_type": "code", "redirect_uri": CALLBACK,
              "scope": "openid profile", "state": "st", "nonce": "nn", **extra}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method=method)
    return str(httpx.URL(f"{authority(cloud)}/oauth2/v2.0/authorize", params=params))


def code_of(answer: httpx.Response) -> str:
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["st"]
    return query["code"][0]


def redeem(http, cloud, code: str, **form: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "client_id": cloud.app.client_id,
            "client_secret": cloud.app.secret.reveal(), "code": code, "redirect_uri": CALLBACK, **form}
    return http.post(f"{authority(cloud)}/oauth2/v2.0/token", data=data)


def pkce() -> tuple[str, str]:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_msal_signs_alice_in_with_pkce_and_nonce(cloud, http):
    directory = cloud.entra.signin
    app = msal.ConfidentialClientApplication(cloud.app.client_id, client_credential=cloud.app.secret.reveal(),
                                             authority=authority(cloud), http_client=http)
    flow = app.initiate_auth_code_flow([], redirect_uri=CALLBACK, response_mode="form_post")
    assert "code_challenge=" in flow["auth_uri"] and "code_challenge_method=S256" in flow["auth_uri"]
    page = http.get(flow["auth_uri"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for user in directory.users.values():
        assert f'name="user" value="{user.name}"' in page.text and html.escape(user.display) in page.text
    answer = http.post(flow["auth_uri"], data={"user": "alice"})
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))
    assert re.search(r'<form[^>]*action="([^"]+)"', answer.text).group(1) == CALLBACK
    assert 'src="submit.js"' in answer.text and http.get(
        f"{authority(cloud)}/oauth2/v2.0/submit.js").text.startswith("document.forms[0].submit()")
    assert 'href="signin.css"' in page.text and http.get(
        f"{authority(cloud)}/oauth2/v2.0/signin.css").headers["content-type"].startswith("text/css")
    result = app.acquire_token_by_auth_code_flow(flow, fields)
    claims = result["id_token_claims"]
    alice = directory.users["alice"]
    assert claims["name"] == "Alice Martin" and claims["preferred_username"] == alice.username
    assert claims["oid"] == alice.oid and claims["tid"] == directory.tenant.id and claims["roles"] == ["Responder"]
    assert claims["aud"] == cloud.app.client_id
    # signed by the MSSP tenant's published key
    meta = http.get(f"{authority(cloud)}/v2.0/.well-known/openid-configuration").json()
    keys = jwt.PyJWKSet.from_dict(http.get(meta["jwks_uri"]).json())
    key = keys[jwt.get_unverified_header(result["id_token"])["kid"]]
    jwt.decode(result["id_token"], key.key, algorithms=["RS256"], audience=cloud.app.client_id, issuer=meta["issuer"])
    # the code is good once
    again = app.acquire_token_by_auth_code_flow(flow, fields)
    assert again["error"] == "invalid_grant" and "AADSTS54005" in again["error_description"]


def test_pkce_redirect_uri_and_expiry_are_checked(cloud, http, clock):
    verifier, challenge = pkce()
    url = authorize_url(cloud, challenge=challenge)

    def fresh() -> str:
        return code_of(http.post(url, data={"user": "victor"}))

    assert "AADSTS501481" in redeem(http, cloud, fresh(), code_verifier="w" * 50).text
    assert "AADSTS501481" in redeem(http, cloud, fresh()).text  # no verifier at all
    assert "AADSTS70000" in redeem(http, cloud, fresh(), code_verifier=verifier, redirect_uri=CALLBACK + "x").text
    assert "AADSTS70000" in redeem(http, cloud, "made-up", code_verifier=verifier).text
    code = fresh()
    clock.now += 601
    assert "AADSTS70008" in redeem(http, cloud, code, code_verifier=verifier).text
    ok = redeem(http, cloud, fresh(), code_verifier=verifier)
    assert ok.status_code == 200, ok.text
    claims = jwt.decode(ok.json()["id_token"], options={"verify_signature": False})
    assert claims["roles"] == ["Viewer"] and claims["nonce"] == "nn"
    wrong_secret = redeem(http, cloud, fresh(), code_verifier=verifier, client_secret="nope")
    assert wrong_secret.status_code == 401 and "AADSTS7000215" in wrong_secret.text


def test_the_authorize_endpoint_refuses_or_cancels(cloud, http):
    unknown = http.get(authorize_url(cloud, client_id="00000000-0000-0000-0000-000000000001"))
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.text
    cancelled = http.post(authorize_url(cloud), data={"cancel": "1"})
    query = parse_qs(urlsplit(cancelled.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st"]
    nobody = http.post(authorize_url(cloud), data={"user": "mallory"})
    assert nobody.status_code == 200 and "choose one of the accounts" in nobody.text
    # customer tenants have no sign-in page
    contoso = cloud.tenant("contoso").id
    assert http.get(f"https://login.microsoftonline.com/{contoso}/oauth2/v2.0/authorize").status_code == 404


def test_client_credentials_for_the_console_app(cloud, http):
    directory = cloud.entra.signin
    token_url = f"{authority(cloud)}/oauth2/v2.0/token"

    def ask(client: str, secret: str | None = None, scope: str | None = None) -> httpx.Response:
        c = directory.clients[client]
        return http.post(token_url, data={"grant_type": "client_credentials", "client_id": c.client_id,
                                          "client_secret": secret or c.secret.reveal(),
                                          "scope": scope or f"api://{cloud.app.client_id}/.default"})

    automation = jwt.decode(ask("automation").json()["access_token"], options={"verify_signature": False})
    assert automation["roles"] == ["Responder"] and automation["aud"] == cloud.app.client_id
    assert automation["azp"] == directory.clients["automation"].client_id and "nonce" not in automation
    unassigned = jwt.decode(ask("unassigned").json()["access_token"], options={"verify_signature": False})
    assert "roles" not in unassigned
    assert "AADSTS7000215" in ask("automation", secret="wrong").text
    assert "AADSTS500011" in ask("automation", scope="https://graph.microsoft.com/.default").text
    # the secrets derive from the demo app's, which `soar sim serve` prints
    assert directory.clients["reporting"].secret.reveal() == client_secret(cloud.app.secret.reveal(), "reporting")
