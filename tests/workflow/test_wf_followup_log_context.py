"""Every log line about a step names its run, tenant and step (and foreach item): API calls on
`soar.http`, step warnings on `soar.warnings`, and the other lines logged while a step runs
(a token obtained on `soar.auth`) — in the text prefix and as fields with --log-format json."""

from __future__ import annotations

import json
import re

import pytest
import wf_receiver

HUNT = """
name: hunt-each
tenants: [contoso]
steps:
  - id: hunt
    action: defender.run_hunting_query
    with: {query: "DeviceProcessEvents | take 2"}
  - id: incidents
    action: defender.list_incidents
"""


def _warned_and_called(receiver) -> str:
    return f"""
name: logged
tenants: none
steps:
  - id: seed
    action: core.set
    with: {{incidents: [{{alerts: [{{devices: [{{computerDnsName: nameless}}]}}]}}]}}
  - id: pick
    action: core.set
    with: {{devices: "${{{{ steps.seed.output.incidents | devices }}}}"}}
  - id: notify
    action: core.http_request
    foreach: [a, b]
    with: {{url: "{receiver.url('/hook')}?x=${{{{ item }}}}", verify: false}}
"""


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    monkeypatch.delenv("SOAR_OFFLINE", raising=False)  # the real network; the socket guard keeps it on loopback
    rec = wf_receiver.start(tmp_path)
    yield rec
    wf_receiver.stop(rec)


def _lines(stderr: str, logger: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(rf"(DEBUG|INFO|WARNING|ERROR) {logger}[ :]", line)]


def test_api_calls_and_token_lines_name_run_tenant_and_step(soar, sim):
    pb = soar.write("h.yaml", HUNT)
    result = soar("-vv", "run", str(pb), "--simulate", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run_id"]
    calls = _lines(result.stderr, "soar.http")
    assert calls, result.stderr
    hunt = f"DEBUG soar.http run={run} tenant=contoso step=hunt: "
    listing = f"DEBUG soar.http run={run} tenant=contoso step=incidents: "
    assert all(line.startswith((hunt, listing)) for line in calls), "\n".join(calls)
    assert any(line.startswith(hunt + "POST graph.microsoft.com/v1.0/security/runHuntingQuery -> 200")
               for line in calls)
    assert any(line.startswith(listing + "GET api.security.microsoft.com/api/incidents?") for line in calls)
    tokens = _lines(result.stderr, "soar.auth")
    assert tokens and all(line.startswith(f"INFO soar.auth run={run} tenant=contoso step=") for line in tokens)


def test_step_warnings_and_calls_name_the_step_and_item(soar, receiver):
    pb = soar.write("logged.yaml", _warned_and_called(receiver))
    quiet = soar("run", str(pb), "--json")  # without -v: the warnings show
    assert quiet.exit_code == 0, quiet.output
    run = json.loads(quiet.stdout)["run_id"]
    warned = _lines(quiet.stderr, "soar.warnings")
    assert len(warned) == 2, quiet.stderr
    assert warned[0].startswith(f"WARNING soar.warnings run={run} step=pick: devices: no device has 'deviceId'")
    assert warned[1].startswith(f"WARNING soar.warnings run={run} step=notify item=0: TLS certificate "
                                "verification is off for 127.0.0.1")
    loud = soar("-vv", "run", str(pb), "--json")
    run = json.loads(loud.stdout)["run_id"]
    calls = _lines(loud.stderr, "soar.http")
    assert [line.split(" -> ")[0] for line in calls] == [
        f"DEBUG soar.http run={run} step=notify item={i}: GET 127.0.0.1/hook?x=***" for i in (0, 1)]


def test_json_lines_carry_run_tenant_step_and_item_as_fields(soar, sim, receiver):
    pb = soar.write("logged.yaml", _warned_and_called(receiver))
    result = soar("--log-format", "json", "-vv", "run", str(pb), "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run_id"]
    docs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    warnings = [d for d in docs if d["logger"] == "soar.warnings"]
    assert [(d["run"], d["step"], d.get("item")) for d in warnings] == [(run, "pick", None), (run, "notify", 0)]
    calls = [d for d in docs if d["logger"] == "soar.http"]
    assert [(d["run"], d["step"], d["item"], d["method"], d["status"]) for d in calls] == [
        (run, "notify", 0, "GET", 200), (run, "notify", 1, "GET", 200)]
    hunt = soar.write("h.yaml", HUNT)
    simulated = soar("--log-format", "json", "-vv", "run", str(hunt), "--simulate")
    assert simulated.exit_code == 0, simulated.output
    docs = [json.loads(line) for line in simulated.stderr.splitlines() if line.startswith("{")]
    about = [(d["logger"], d.get("tenant"), d.get("step")) for d in docs if d["logger"] in ("soar.http", "soar.auth")]
    assert about and {a[1:] for a in about} <= {("contoso", "hunt"), ("contoso", "incidents")}, about
