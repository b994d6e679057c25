"""Issue #15: under simulation nothing answers for a host no simulated service serves.

A post to a real webhook receiver under `soar run --simulate` used to be answered 404 by the
simulated cloud, and the step succeeded although the receiver got nothing. Now the request is
refused — the step fails naming the host and how to allow it — in-process (`--simulate`), through
`soar sim serve` (`--sim-url`), and in the pytest fixtures. `--allow-host` (SOAR_ALLOW_HOSTS,
`allow_hosts=`) is the one way out: those hosts are reached over the real network while Defender
stays simulated. The "real webhook receiver" is an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json

import httpx
import pytest
import wf_receiver
import wf_sim_loopback

NOTIFY = """
name: notify
steps:
  - id: incidents
    action: defender.list_incidents
    with: {{max_items: 3}}
  - id: post
    action: core.http_request
    with:
      method: POST
      url: "{url}"
      json: {{text: "${{{{ steps.incidents.output | length }}}} incidents", tenant: "${{{{ tenant.name }}}}"}}
outputs:
  status: "${{{{ steps.post.output.status }}}}"
"""


def _json(soar, *args: str, env: dict, code: int = 0) -> dict:
    result = soar(*args, "--json", env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def receiver(tmp_path):
    rec = wf_receiver.start(tmp_path)
    yield rec
    wf_receiver.stop(rec)


def test_simulate_refuses_a_webhook_host_it_does_not_serve(soar):
    for url in ("https://hooks.example.invalid/services/x", "https://contoso.webhook.office.com/webhookb2/abc"):
        pb = soar.write("notify.yaml", NOTIFY.format(url=url))
        result = soar("run", "--simulate", "--tenant", "contoso", str(pb))
        host = httpx.URL(url).host
        assert result.exit_code == 1, result.output
        assert f"a POST request to {host} was not sent" in result.output
        assert f"--allow-host {host}" in result.output
        doc = soar.json("run", "--simulate", "--tenant", "contoso", str(pb), code=1)
        assert {s["id"]: s["status"] for s in doc["steps"]} == {"incidents": "succeeded", "post": "failed"}
        assert doc["error"]["type"] == "UnservedHostError"


def test_an_allowed_host_gets_the_post_while_defender_stays_simulated(soar, receiver):
    pb = soar.write("notify.yaml", NOTIFY.format(url=receiver.url("/teams")))
    result = soar("-v", "run", "--simulate", "--tenant", "contoso", "--allow-host", receiver.host, str(pb))
    assert result.exit_code == 0, result.output
    assert f"requests to {receiver.host} go out over the real network" in result.output
    assert [(g.method, g.path, g.json()) for g in receiver.got] == [("POST", "/teams", {"text": "3 incidents",
                                                                                       "tenant": "contoso"})]
    # the same through the environment, for every tenant
    doc = _json(soar, "run", "--simulate", str(pb), env={"SOAR_ALLOW_HOSTS": f"hooks.example.invalid,{receiver.host}"})
    assert doc["status"] == "succeeded"
    assert sorted(g.json()["tenant"] for g in receiver.got[1:]) == ["contoso", "fabrikam"]


def test_an_allowed_host_is_exact_about_its_port(soar, receiver):
    other = wf_sim_loopback.closed_port()
    pb = soar.write("notify.yaml", NOTIFY.format(url=f"http://127.0.0.1:{other}/hook"))
    result = soar("run", "--simulate", "--tenant", "contoso", "--allow-host", receiver.host, str(pb))
    assert result.exit_code == 1, result.output
    assert f"a POST request to 127.0.0.1:{other} was not sent" in result.output
    assert receiver.got == []


def test_allowed_hosts_that_are_not_hosts_or_are_simulated_are_usage_errors(soar):
    pb = soar.write("notify.yaml", NOTIFY.format(url="https://hooks.example.invalid/x"))
    url = soar("run", "--simulate", "--allow-host", "https://hooks.example.invalid/x?sig=1", str(pb))
    assert url.exit_code == 2, url.output
    assert "is a URL, not a host" in url.output and "give its host: hooks.example.invalid" in url.output
    served = soar("run", "--simulate", "--allow-host", "api.security.microsoft.com", str(pb))
    assert served.exit_code == 2, served.output
    assert "api.security.microsoft.com is served by the simulated cloud" in served.output
    wild = soar("run", "--simulate", "--allow-host", "*", str(pb))
    assert wild.exit_code == 2 and "wildcard" in wild.output


def test_sim_url_refuses_an_unserved_host_and_lets_an_allowed_one_out(soar, receiver, tmp_path):
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud()
    config = wf_sim_loopback.write_config(tmp_path, cloud.app.client_id, {"contoso": cloud.tenant("contoso").id})
    env = {wf_sim_loopback.SECRET_ENV: cloud.app.secret.reveal()}
    refused = soar.write("refused.yaml", NOTIFY.format(url="https://hooks.example.invalid/x"))
    allowed = soar.write("allowed.yaml", NOTIFY.format(url=receiver.url("/hook")))
    with wf_sim_loopback.served(cloud) as base:
        # what `soar sim serve` answers for the host, to curl and to the relay alike
        answer = httpx.post(f"{base}/_host/hooks.example.invalid/x", json={})
        assert answer.status_code == 421 and answer.headers["x-soar-unserved-host"] == "hooks.example.invalid"
        result = soar("--config", str(config), "run", "--sim-url", base, str(refused), env=env)
        assert result.exit_code == 1, result.output
        assert "a POST request to hooks.example.invalid was not sent" in result.output
        assert "--allow-host hooks.example.invalid" in result.output
        doc = _json(soar, "--config", str(config), "run", "--sim-url", base, "--allow-host", receiver.host,
                    str(allowed), env=env)
    assert doc["status"] == "succeeded" and doc["outputs"] == {"status": 200}
    assert [g.json() for g in receiver.got] == [{"text": "3 incidents", "tenant": "contoso"}]


def test_pytest_fixtures_refuse_unserved_hosts_and_take_allow_hosts(soar_runner, make_soar_runner, receiver):
    refused = soar_runner.run(NOTIFY.format(url="https://hooks.example.invalid/x"), tenant="contoso")
    assert refused.status == "failed" and refused.steps == {"incidents": "succeeded", "post": "failed"}
    (record,) = refused.failed("post")
    assert record.error["type"] == "UnservedHostError" and "hooks.example.invalid" in record.error["message"]
    runner = make_soar_runner(allow_hosts=[receiver.host])
    allowed = runner.run(NOTIFY.format(url=receiver.url("/hook")), tenant="contoso")
    assert allowed.status == "succeeded", allowed.error
    assert [g.json()["tenant"] for g in receiver.got] == ["contoso"]
    assert json.loads(json.dumps(allowed.outputs)) == {"status": 200}
