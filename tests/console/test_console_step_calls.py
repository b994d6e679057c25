"""The API calls each step made, end to end: shipped playbooks run by `soar run --simulate` (the
CLI, in-process), then the store's step records, `soar runs show`, the console's run page and
``/api/v1/runs/{id}`` all show the real calls — the isolate POSTs with their status, a 429 the
client absorbed with the time it waited — and never a query string (a canary value sent in an
OData ``$filter`` is nowhere in them)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from console_harness import Console, text_of

import runner.sim
from runner.store import RunStore

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
CANARY = "calls-canary-7f3e0b.example"  # the indicator value: in the `existing` step's $filter
TENANTS = ("contoso", "fabrikam")


@pytest.fixture
def cloud(monkeypatch):
    """The one simulated cloud every `--simulate` command of the test gets: its clock 600x, and
    MDE answering 429 past 4 calls a simulated minute (0.1 s) per tenant."""
    sim = runner.sim.SimulatedCloud(defender={"time_scale": 600, "quota_limits": {"mde": [(4, 60)]}})
    monkeypatch.setattr(runner.sim, "SimulatedCloud", lambda *a, **k: sim)
    return sim


def _soar(store: str, *args: str):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", store, *args], catch_exceptions=False, env={"COLUMNS": "200"})


def _run(store: str, playbook: str, *args: str) -> str:
    result = _soar(store, "run", str(PLAYBOOKS / playbook), "--simulate", "--auto-approve", "--json", *args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "succeeded", doc
    return doc["run_id"]


def _calls(store: RunStore, run_id: str) -> dict[tuple, list[dict]]:
    """{(tenant, step, item): the calls of its last attempt} over the run's tenant runs."""
    out: dict[tuple, list[dict]] = {}
    for child in store.children(run_id):
        for rec in store.step_records(child.id):
            out[(child.tenant, rec.step_id, rec.item)] = (rec.calls or {}).get("calls", [])
            if rec.calls:
                assert rec.calls["total"] == len(rec.calls["calls"])
    return out


def test_step_calls_show_in_the_store_the_cli_and_the_console(tmp_path, cloud):
    url = f"sqlite:///{tmp_path}/soar.db"
    hunt = _run(url, "hunt-file-hash.yaml")
    block = _run(url, "block-indicator-everywhere.yaml", "--input", f"value={CANARY}")

    store = RunStore.open(url)
    try:
        calls = _calls(store, hunt)
        hidden = _calls(store, block)
    finally:
        store.close()

    # the isolate POSTs, each on its item's record, with the status the simulator answered
    for tenant in TENANTS:
        data = cloud.defender.tenant(tenant)
        isolated = set(data.isolated)
        assert isolated
        posts = {c["path"]: c for key, made in calls.items() if key[:2] == (tenant, "isolate") for c in made
                 if c["method"] == "POST"}
        assert set(posts) == {f"/api/machines/{m}/isolate" for m in isolated}
        assert all(c["status"] == 201 and c["api"] == "mde" and c["ms"] >= 0 for c in posts.values())
        [hunted] = calls[(tenant, "hunt", None)]
        assert hunted["method"] == "POST" and hunted["status"] == 200
    # the 429s the simulator sent were absorbed by the client, and each shows its wait
    sent = cloud.defender.count(status=429)
    everything = [c for made in (*calls.values(), *hidden.values()) for c in made]
    throttled = [c for c in everything if c["throttled"]]
    assert sent >= 1 and sum(c["throttled"] for c in throttled) == sent
    assert all(c["waited_s"] > 0 and c["ms"] >= c["waited_s"] * 1000 * 0.9 for c in throttled)
    assert all(c["status"] is not None and c["status"] < 400 for c in everything)  # every run succeeded
    # the canary went out in the `existing` step's $filter; no record of a call has it
    lookups = [c for t in TENANTS for c in hidden[(t, "existing", None)]]
    assert lookups and all(c["method"] == "GET" and c["path"] == "/api/indicators" for c in lookups)
    assert any(CANARY in e["query"].get("$filter", "") for e in cloud.defender.requests(path="/api/indicators"))
    assert CANARY not in json.dumps(everything) and "?" not in json.dumps(everything)
    assert "$filter" not in json.dumps(everything)

    # `soar runs show`: an API calls table; --json has each attempt's calls
    shown = _soar(url, "runs", "show", hunt)
    assert shown.exit_code == 0, shown.output
    assert "API calls" in shown.stdout and "/isolate" in shown.stdout and "201" in shown.stdout
    shown = _soar(url, "runs", "show", block)
    assert "/api/indicators" in shown.stdout and CANARY not in shown.stdout.split("API calls", 1)[1]
    child = _soar(url, "runs", "show", json.loads(_soar(url, "runs", "show", hunt, "--json").stdout)
                  ["children"][0]["run_id"], "--json")
    steps = json.loads(child.stdout)["steps"]
    assert any(s["calls"] and s["calls"]["calls"][-1]["path"].endswith("/isolate") for s in steps)

    # the console: the run page's tables and the API
    console = Console(tmp_path, cloud=cloud)

    async def main():
        await console.start()
        try:
            async with console.client("viewer") as http:
                for run_id, made in ((hunt, calls), (block, hidden)):
                    doc = (await http.get(f"/api/v1/runs/{run_id}")).json()
                    by_key = {(s["tenant"], s["step"], s["item"]): s for s in doc["steps"]}
                    for key, expected in made.items():
                        assert by_key[key]["calls"] == expected and by_key[key]["calls_total"] == len(expected)
                    page = await http.get(f"/runs/{run_id}")
                    assert page.status_code == 200
                    tables = re.findall(r'<details class="api-calls">.*?</details>', page.text, re.S)
                    assert len(tables) == sum(1 for m in made.values() if m)
                    text = " ".join(text_of(t) for t in tables)
                    assert CANARY not in text and "$filter" not in text
                    if run_id == hunt:
                        for m in cloud.defender.tenant("contoso").isolated:
                            assert re.search(rf"POST /api/machines/{m}/isolate 201 ", text), text[:2000]
                    waits = [c for m in made.values() for c in m if c["throttled"]]
                    for c in waits:
                        assert re.search(rf"{c['method']} {re.escape(c['path'])} {c['status']} \S+ m?s "
                                         rf"{c['throttled']} \(\S+ m?s\)", text), text[:2000]
                assert CANARY in (await http.get(f"/runs/{block}")).text  # the inputs still show it (masked only if secret)
        finally:
            await console.stop()

    asyncio.run(main())
