"""`soar tenants check` when nothing answers: it names the login host and the error and says what
to check (network, proxy, --sim-url) — it does not ask an admin to consent, which cannot help."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner
from wf_sim_loopback import SECRET_ENV, closed_port, write_config

from runner.cli import main


@pytest.fixture
def config(tmp_path, monkeypatch):
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud()
    write_config(tmp_path, cloud.app.client_id, {t.name: t.id for t in cloud.tenants.values()})
    monkeypatch.setenv(SECRET_ENV, cloud.app.secret.reveal())
    return cloud


def check(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["tenants", "check", *args], env=env)


def test_a_sim_url_nobody_serves(config):
    url = f"http://127.0.0.1:{closed_port()}"
    result = check(env={"SOAR_SIM_URL": url})
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "consent" not in out
    assert f"could not reach the login host login.microsoftonline.com through the simulated cloud at {url}" in out
    assert "ConnectError" in out
    assert "soar sim serve" in out and "--sim-url" in out
    doc = json.loads(check("--json", env={"SOAR_SIM_URL": url}).output)
    for tenant in doc["tenants"]:
        assert tenant["unreachable"] and tenant["consent_url"] is None
        assert all(api["unreachable"] == "login.microsoftonline.com" for api in tenant["apis"].values())


def test_the_real_network_failing(config, monkeypatch):
    """No route to Entra ID (DNS, proxy, firewall): the host, the error, and what to check."""
    from runner.http import Network

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    monkeypatch.setattr(Network, "internet", classmethod(lambda cls: cls.simulated(unreachable)))
    result = check()
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "consent" not in out
    assert "could not reach the login host login.microsoftonline.com for tenant 'contoso'" in out
    assert "Temporary failure in name resolution" in out
    assert "HTTPS_PROXY" in out and "--sim-url" in out


def test_a_refused_consent_still_asks_for_consent(config, tmp_path, monkeypatch):
    """Entra ID answered (consent revoked): consent is the advice, as before."""
    from runner.http import Network

    config.revoke_consent("fabrikam")
    monkeypatch.setattr(Network, "internet", classmethod(lambda cls: config.network()))
    result = check()
    assert result.exit_code == 1
    assert "fabrikam: an admin of the tenant should (re)consent" in " ".join(result.output.split())
    assert "could not reach" not in result.output
