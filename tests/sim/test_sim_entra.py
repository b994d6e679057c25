"""The simulated Entra ID speaks the seeds' protocol: in process and on loopback."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest

from runner.errors import UnservedHostError
from runner.sim import SimulatedCloud

MDE = "https://api.securitycenter.microsoft.com"


@pytest.fixture
def cloud():
    return SimulatedCloud()


@pytest.fixture
def client(cloud):
    with cloud.network().sync_client() as c:
        yield c


def test_seed_curl_v2_windowsatpservice(cloud, client):
    # curl -d grant_type=client_credentials -d client_id=.. -d scope=https://securitycenter.onmicrosoft.com/
    #   windowsatpservice/.default -d client_secret=.. https://login.microsoftonline.com/%TENANT_ID%/oauth2/v2.0/token
    tid = cloud.tenant("contoso").id
    resp = client.post(f"https://login.microsoftonline.com/{tid}/oauth2/v2.0/token",
                       headers={"Content-Type": "application/x-www-form-urlencoded"},
                       content="grant_type=client_credentials"
                               f"&client_id={cloud.app.client_id}"
                               "&scope=https://securitycenter.onmicrosoft.com/windowsatpservice/.default"
                               f"&client_secret={cloud.app.secret.reveal()}")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["tid"] == tid and claims["appid"] == cloud.app.client_id and "Machine.Isolate" in claims["roles"]
    assert cloud.token_requests["contoso"] == 1


def test_v1_numbers_are_strings_and_login_windows_net_works(cloud, client):
    tid = cloud.tenant("contoso").id
    resp = client.post(f"https://login.windows.net/{tid}/oauth2/token",
                       data={"resource": "https://api.security.microsoft.com", "client_id": cloud.app.client_id,
                             "client_secret": cloud.app.secret.reveal(), "grant_type": "client_credentials"})
    body = resp.json()
    assert resp.status_code == 200
    assert all(isinstance(body[k], str) for k in ("expires_in", "ext_expires_in", "expires_on", "not_before"))
    assert body["resource"] == "https://api.security.microsoft.com"


def test_tokens_verify_against_the_published_jwks(cloud, client):
    tid = cloud.tenant("fabrikam").id
    meta = client.get(f"https://login.microsoftonline.com/{tid}/v2.0/.well-known/openid-configuration").json()
    assert meta["issuer"] == f"https://login.microsoftonline.com/{tid}/v2.0"
    assert meta["token_endpoint"].endswith(f"/{tid}/oauth2/v2.0/token")
    v1 = client.get(f"https://login.microsoftonline.com/{tid}/.well-known/openid-configuration").json()
    assert v1["issuer"] == f"https://sts.windows.net/{tid}/"
    keys = jwt.PyJWKSet.from_dict(client.get(meta["jwks_uri"]).json())
    raw = cloud.issue_token("fabrikam", "graph")
    key = next(k for k in keys.keys if k.key_id == jwt.get_unverified_header(raw)["kid"])
    claims = jwt.decode(raw, key.key, algorithms=["RS256"], audience="https://graph.microsoft.com",
                        issuer=v1["issuer"])
    assert claims["roles"] == ["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All", "SecurityIncident.Read.All",
                              "SecurityIncident.ReadWrite.All", "ThreatHunting.Read.All"]
    common = client.get("https://login.microsoftonline.com/common/discovery/v2.0/keys").json()
    assert len(common["keys"]) == 2


def test_instance_discovery(client):
    body = client.get("https://login.microsoftonline.com/common/discovery/instance",
                      params={"api-version": "1.1", "authorization_endpoint":
                              "https://login.microsoftonline.com/x/oauth2/v2.0/authorize"}).json()
    assert body["tenant_discovery_endpoint"].endswith("/x/v2.0/.well-known/openid-configuration")


@pytest.mark.parametrize("form, code", [
    ({"scope": "Machine.Read.All"}, 70011),
    ({"scope": f"{MDE}/.default https://graph.microsoft.com/.default"}, 700022),
    ({"scope": "https://unknown.example.com/.default"}, 500011),
    ({"scope": f"{MDE}/.default", "client_secret": "wrong"}, 7000215),
    ({"scope": f"{MDE}/.default", "client_id": "00000000-0000-0000-0000-000000000000"}, 700016),
])
def test_token_errors_in_entra_shape(cloud, client, form, code):
    data = {"grant_type": "client_credentials", "client_id": cloud.app.client_id,
            "client_secret": cloud.app.secret.reveal(), **form}
    resp = client.post(f"https://login.microsoftonline.com/{cloud.tenant('contoso').id}/oauth2/v2.0/token", data=data)
    body = resp.json()
    assert resp.status_code in (400, 401) and body["error_codes"] == [code]
    assert {"error", "error_description", "timestamp", "trace_id", "correlation_id"} <= set(body)
    assert cloud.request_log[-1]["error_codes"] == [code]
    assert cloud.app.secret.reveal() not in json.dumps(cloud.request_log)


def test_unknown_tenant_and_common_endpoint(cloud, client):
    resp = client.post("https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token",
                       data={"grant_type": "client_credentials"})
    assert resp.json()["error_codes"] == [90002]
    assert client.post("https://login.microsoftonline.com/common/oauth2/v2.0/token",
                       data={"grant_type": "client_credentials"}).json()["error_codes"] == [9001023]


def test_tenant_can_be_named_by_domain(cloud, client):
    meta = client.get("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert meta.json()["issuer"].endswith(f"{cloud.tenant('contoso').id}/v2.0")


def test_admin_consent_grants_and_redirects(cloud, client):
    cloud.revoke_consent("contoso")
    tid = cloud.tenant("contoso").id
    resp = client.get(f"https://login.microsoftonline.com/{tid}/adminconsent",
                      params={"client_id": cloud.app.client_id, "redirect_uri": "https://portal.azure.com", "state": "s1"})
    assert resp.status_code == 302
    query = parse_qs(urlparse(resp.headers["location"]).query)
    assert query == {"tenant": [tid], "admin_consent": ["True"], "state": ["s1"]}
    assert cloud.tenant("contoso").consented


def test_many_tenants_and_routing_table(cloud):
    many = SimulatedCloud(tenants=12)
    assert list(many.tenants)[0] == "tenant-01" and len(many.demo_config().tenants) == 12
    seen = []
    cloud.mount("example.invalid", lambda r: seen.append(r.url.path) or httpx.Response(204))
    with cloud.network().sync_client() as c:
        assert c.get("https://example.invalid/api/incidents").status_code == 204
        with pytest.raises(UnservedHostError, match="unserved.invalid"):  # never a 404 the caller reads as data
            c.get("https://unserved.invalid/v1.0/security/incidents")
    assert seen == ["/api/incidents"]


def test_async_clients_share_the_handler(cloud):
    import asyncio

    async def main():
        async with cloud.network().async_client() as c:
            return await c.get(f"https://login.microsoftonline.com/{cloud.tenant('contoso').id}/discovery/v2.0/keys")

    assert asyncio.run(main()).json()["keys"][0]["alg"] == "RS256"


def test_seed_python_urllib_snippet_against_soar_sim_serve(tmp_path):
    """The XDR page's Python sample, unchanged apart from the host, against `soar sim serve`."""
    proc = subprocess.Popen([sys.executable, "-c", "from runner.cli import main; main()", "sim", "serve",
                             "--port", "0", "--tenants", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "soar sim serve printed nothing"
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"base_url", "tenants", "client_id", "client_secret"}
        base = info["base_url"]
        assert base.startswith("http://127.0.0.1:")
        snippet = textwrap.dedent(f"""
            import json
            import urllib.request
            import urllib.parse

            tenantId = {info["tenants"][0]["tenant_id"]!r} # Paste your directory (tenant) ID here
            clientId = {info["client_id"]!r} # Paste your application (client) ID here
            appSecret = {info["client_secret"]!r} # Paste your own app secret here to test

            url = "{base}/%s/oauth2/token" % (tenantId)

            resourceAppIdUri = 'https://api.securitycenter.windows.com'

            body = {{
                'resource' : resourceAppIdUri,
                'client_id' : clientId,
                'client_secret' : appSecret,
                'grant_type' : 'client_credentials'
            }}

            data = urllib.parse.urlencode(body).encode("utf-8")

            req = urllib.request.Request(url, data)
            response = urllib.request.urlopen(req)
            jsonResponse = json.loads(response.read())
            aadToken = jsonResponse["access_token"]
            print(json.dumps({{"token": aadToken, "expires_in": jsonResponse["expires_in"]}}))
        """)
        out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=30,
                             env={**os.environ, "no_proxy": "*"})
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        claims = jwt.decode(result["token"], options={"verify_signature": False})
        assert claims["aud"] == "https://api.securitycenter.windows.com"  # the legacy alias is accepted
        assert claims["tid"] == info["tenants"][0]["tenant_id"] and result["expires_in"] == "3599"
        # and the curl form (v2) on the same server, via discovery from the served metadata
        with httpx.Client(timeout=10) as c:
            meta = c.get(f"{base}/{info['tenants'][1]['tenant_id']}/v2.0/.well-known/openid-configuration").json()
            # https, though http reached it (what a TLS-terminating relay in front of it needs)
            assert meta["token_endpoint"].startswith(base.replace("http://", "https://", 1))
            resp = c.post(meta["token_endpoint"].replace("https://", "http://", 1), data={
                "grant_type": "client_credentials", "client_id": info["client_id"],
                "scope": "https://securitycenter.onmicrosoft.com/windowsatpservice/.default",
                "client_secret": info["client_secret"]})
            assert resp.status_code == 200 and resp.json()["expires_in"] == 3599
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_serve_refuses_non_loopback():
    from click.testing import CliRunner

    from runner.cli import main

    result = CliRunner().invoke(main, ["sim", "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "loopback" in result.output


def test_token_lifetime_and_clock(cloud):
    short = SimulatedCloud(token_lifetime=120, clock=lambda: 1_000_000.0)
    raw = short.issue_token("contoso")
    claims = jwt.decode(raw, options={"verify_signature": False})
    assert claims["iat"] == 1_000_000 and claims["exp"] == 1_000_120
    assert time.time() > claims["exp"]
