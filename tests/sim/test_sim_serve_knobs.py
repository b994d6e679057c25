"""`soar sim serve --set defender.devices_per_tenant=N --set defender.quotas=false` and its
`GET /_sim/stats` counters, as a benchmark in another process uses them (benchmarks/fanout.py
--mode loopback)."""

from __future__ import annotations

import json
import select
import subprocess
import sys

import httpx

MDE = "https://api.securitycenter.microsoft.com"


def test_served_cloud_has_the_asked_inventory_no_quotas_and_counts_what_reached_it():
    proc = subprocess.Popen([sys.executable, "-c", "from runner.cli import main; main()", "sim", "serve",
                             "--port", "0", "--tenants", "1", "--set", "defender.devices_per_tenant=3",
                             "--set", "defender.quotas=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "soar sim serve printed nothing"
        info = json.loads(proc.stdout.readline())
        base, tenant = info["base_url"], info["tenants"][0]
        with httpx.Client(base_url=base, timeout=30) as client:
            before = client.get("/_sim/stats").json()
            assert (before["token_requests"], before["requests"], before["calls"]) == ({}, 0, {})
            assert before["services"]["defender"] == {"requests": 0, "calls": {}}
            token = client.post(f"/{tenant['tenant_id']}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": info["client_id"],
                "client_secret": info["client_secret"], "scope": f"{MDE}/.default"}).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            api = "/_host/api.securitycenter.microsoft.com/api/machines"
            machines = client.get(api, headers=headers).json()["value"]
            assert len(machines) == 3  # not the default 25
            # 120 calls within the simulated minute: over the documented 100/min, yet no 429
            statuses = {client.get(f"{api}/{machines[i % 3]['id']}", headers=headers).status_code
                        for i in range(120)}
            assert statuses == {200}
            stats = client.get("/_sim/stats").json()
        assert stats["token_requests"] == {tenant["name"]: 1}
        assert stats["requests"] == 121
        assert stats["calls"]["GET /api/machines"] == 1
        assert sum(n for key, n in stats["calls"].items() if key.startswith("GET /api/machines/")) == 120
        assert stats["services"]["defender"] == {"requests": 121, "calls": stats["calls"]}
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_set_refuses_an_unknown_service_and_a_malformed_option():
    from click.testing import CliRunner

    from runner.cli import main

    for spec, said in (("nosuch.x=1", "no simulated service 'nosuch'"),
                       ("defender=3", "expected SERVICE.OPTION=VALUE"),
                       ("defender.tenant_devices={a: ", "not valid YAML")):
        result = CliRunner().invoke(main, ["sim", "serve", "--port", "0", "--set", spec])
        assert result.exit_code == 2 and said in result.output, result.output
