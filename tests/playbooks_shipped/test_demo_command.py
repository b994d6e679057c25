"""`soar demo`: runs the triage playbook offline against the simulated cloud and summarises
what happened; the figures are checked against the simulator's own records."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TENANTS = ("contoso", "fabrikam")


def _demo_json(cli) -> dict:
    result = cli("demo", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_summary_matches_the_simulator(cli, sim):
    high = {t: [i for i in sim.defender.tenant(t).incidents if i["status"] == "Active" and i["severity"] == "High"]
            for t in TENANTS}
    doc = _demo_json(cli)
    s = doc["summary"]
    assert doc["status"] == s["status"] == "succeeded"
    assert s["incidents_seen_by_tenant"] == {t: len(high[t]) for t in TENANTS}
    assert s["incidents_seen"] == sum(len(v) for v in high.values())
    for tenant in TENANTS:
        data = sim.defender.tenant(tenant)
        isolated = sorted(data.device(m)["computerDnsName"] for m in data.isolated)
        assert isolated and s["devices_isolated"][tenant] == isolated
        assert s["machine_actions"][tenant] == {"Isolate": {"Succeeded": len(isolated)}}
        posts = sim.defender.count(method="POST", tenant=tenant, path_suffix="/isolate")
        assert posts == len(isolated)
    # one token per (tenant, API) pair used, shared by every step
    assert sorted(map(tuple, s["api_pairs"])) == [(t, a) for t in TENANTS for a in ("mde", "xdr")]
    assert s["token_requests"] == len(s["api_pairs"]) == sim.total_token_requests()
    assert s["token_requests_by_tenant"] == {t: sim.token_requests[t] for t in TENANTS}
    # every API call the clients counted reached the simulator, and nothing else did
    assert s["api_calls"] == len(sim.defender.log)
    for tenant in TENANTS:
        for api, n in s["api_calls_by_tenant"][tenant].items():
            assert n == sim.defender.count(tenant=tenant, api=api if api == "xdr" else "mde"), (tenant, api)
    assert s["throttled_429_absorbed"] == sim.defender.count(status=429) == 0
    assert s["auto_approved"] == 2  # the isolate step, once per tenant
    assert 0 < s["elapsed_seconds"] < 60


def test_demo_absorbs_429s_when_the_quota_is_tight(cli, make_sim):
    # MDE: 8 calls per simulated minute (0.1 s at this clock); the demo bursts more than that
    sim = make_sim(quota_limits={"mde": [(8, 60)]})
    s = _demo_json(cli)["summary"]
    assert s["status"] == "succeeded"
    throttled = sim.defender.count(status=429)
    assert throttled >= 2 and s["throttled_429_absorbed"] == throttled
    assert all(i["status"] == "InProgress" for t in TENANTS for i in sim.defender.tenant(t).incidents
               if "soar-triaged" in i["tags"])


def test_demo_text_summary_says_what_happened(cli, sim):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "auto-approved" in out and "simulated cloud" in out
    for label in ("incidents seen", "devices isolated", "machine actions", "token requests", "API calls",
                  "429s absorbed", "elapsed"):
        assert label in out, label
    for tenant in TENANTS:
        assert f"{tenant}: Isolate {len(sim.defender.tenant(tenant).isolated)} Succeeded" in out
    assert "4 for 4 (tenant, API) pairs" in out
    # live progress, one line per finished step when not on a terminal
    assert "contoso    isolate" in out and "(auto-approved)" in out


def test_soar_demo_in_a_fresh_directory_completes_offline(tmp_path):
    env = {**os.environ, "SOAR_OFFLINE": "1", "COLUMNS": "120"}
    env.pop("SOAR_CONFIG", None)
    env.pop("SOAR_STORE", None)
    proc = subprocess.run([sys.executable, "-m", "runner.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo summary" in proc.stdout and "Traceback" not in proc.stderr
    assert "token requests    4 for 4 (tenant, API) pairs" in proc.stdout
    assert (tmp_path / ".soar").is_dir()  # the run was recorded in the default store
