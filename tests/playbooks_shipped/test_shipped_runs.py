"""Each shipped playbook runs with `soar run --simulate --auto-approve` and does what it says,
checked against the simulator's state and request log (not against the playbook's own outputs)."""

from __future__ import annotations

import datetime as dt

from shipped_helpers import PLAYBOOKS

TENANTS = ("contoso", "fabrikam")
FAST = ("--input", "poll_interval=0.1")


def _iso_ago(seconds: float) -> str:
    t = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _devices_of(data, incident: dict) -> list[dict]:
    ids = {a["machineId"] for a in data.incident_alerts(incident) if a["machineId"]}
    return [d for d in data.devices if d["id"] in ids]


# ---- triage -------------------------------------------------------------------------------------

def test_triage_isolates_risky_devices_and_updates_the_incidents(cli, sim):
    before = {t: [dict(i, tags=list(i["tags"])) for i in sim.defender.tenant(t).incidents] for t in TENANTS}
    doc = cli.run("triage-high-severity-incidents.yaml", *FAST)
    assert doc["status"] == "succeeded"
    total = 0
    for tenant in TENANTS:
        data = sim.defender.tenant(tenant)
        triaged = [i for i in before[tenant] if i["status"] == "Active" and i["severity"] == "High"]
        assert triaged, "the seeded data always has active high-severity incidents"
        expected = {d["id"] for i in triaged for d in _devices_of(data, i)
                    if d["riskScore"] == "High" and d["healthStatus"] == "Active"
                    and "DoNotIsolate" not in d["machineTags"]}
        assert set(data.isolated) == expected and expected
        assert set(data.isolated.values()) == {"Selective"}  # the playbook's default isolation type
        posts = sim.defender.requests(method="POST", tenant=tenant, path_suffix="/isolate")
        assert {p["machine_id"] for p in posts} == expected and len(posts) == len(expected)
        outputs = doc["outputs"][tenant]["outputs"]
        assert outputs["incidents"] == len(triaged)
        assert sorted(outputs["isolated"]) == sorted(data.device(m)["computerDnsName"] for m in expected)
        for old in triaged:
            now = data.incident(old["incidentId"])
            assert now["status"] == "InProgress"
            assert "soar-triaged" in now["tags"] and set(old["tags"]) <= set(now["tags"])
            names = sorted(d["computerDnsName"] for d in _devices_of(data, old) if d["id"] in expected)
            comment = now["comments"][-1]["comment"]
            assert "triage-high-severity-incidents" in comment
            assert all(n in comment for n in names) and (names or "isolated: none" in comment)
        untouched = [i for i in before[tenant] if i not in triaged]
        assert all(data.incident(i["incidentId"])["comments"] == [] for i in untouched)
        total += len(expected)
    assert total >= 2


def test_triage_without_approval_waits_and_isolates_nothing(cli, sim):
    doc = cli.run("triage-high-severity-incidents.yaml", code=3, approve=False)
    assert doc["status"] == "waiting_approval"
    assert sorted(w["step"] for w in doc["waiting_approval"]) == ["isolate", "isolate"]
    assert sim.defender.count(method="POST", path_suffix="/isolate") == 0
    assert sim.defender.count(method="PATCH") == 0
    assert all(not sim.defender.tenant(t).isolated for t in TENANTS)


def test_triage_skip_tag_and_isolation_type_inputs(cli, sim):
    data = sim.defender.tenant("contoso")
    incidents = [i for i in data.incidents if i["status"] == "Active" and i["severity"] == "High"]
    risky = list({d["id"]: d for i in incidents for d in _devices_of(data, i)
                  if d["riskScore"] == "High" and d["healthStatus"] == "Active"}.values())
    assert len(risky) >= 2
    risky[0]["machineTags"] = risky[0]["machineTags"] + ["DoNotIsolate"]
    cli.run("triage-high-severity-incidents.yaml", "--tenant", "contoso", "--input", "isolation_type=Full", *FAST)
    assert risky[0]["id"] not in data.isolated
    assert {d["id"] for d in risky[1:]} == set(data.isolated)
    assert set(data.isolated.values()) == {"Full"}


# ---- block an indicator everywhere --------------------------------------------------------------

def test_block_indicator_adds_it_in_every_tenant_once(cli, sim):
    doc = cli.run("block-indicator-everywhere.yaml", "--input", "value=evil-updates.example")
    for tenant in TENANTS:
        found = [i for i in sim.defender.tenant(tenant).indicators if i["indicatorValue"] == "evil-updates.example"]
        assert len(found) == 1
        assert (found[0]["indicatorType"], found[0]["action"], found[0]["severity"]) == \
            ("DomainName", "AlertAndBlock", "High")
        assert doc["outputs"][tenant]["outputs"] == {"type": "DomainName", "added": True,
                                                     "indicator_id": found[0]["id"]}
    assert sim.defender.count(method="POST", path="/api/indicators") == 2
    # a second run finds it in place and sends nothing
    again = cli.run("block-indicator-everywhere.yaml", "--input", "value=evil-updates.example")
    assert sim.defender.count(method="POST", path="/api/indicators") == 2
    assert {t: o["outputs"]["added"] for t, o in again["outputs"].items()} == {"contoso": False, "fabrikam": False}


def test_block_indicator_guesses_the_type(cli, sim):
    values = {"2001:db8::7": "IpAddress", "203.0.113.9": "IpAddress", "https://x.example/p?q=1": "Url",
              "a" * 64: "FileSha256", "b" * 40: "FileSha1", "c" * 32: "FileMd5"}
    for value, kind in values.items():
        doc = cli.run("block-indicator-everywhere.yaml", "--tenant", "contoso", "--input", f"value={value}")
        assert doc["outputs"]["type"] == kind, value
        added = [i for i in sim.defender.tenant("contoso").indicators if i["indicatorValue"] == value]
        assert [i["indicatorType"] for i in added] == [kind]


def test_block_indicator_needs_a_value(cli, sim):
    result = cli("run", str(PLAYBOOKS / "block-indicator-everywhere.yaml"), "--simulate")
    assert result.exit_code == 2
    assert "needs input 'value'" in result.output


# ---- stale incidents report ---------------------------------------------------------------------

def _stale(data, seconds: float) -> set:
    cutoff = _iso_ago(seconds)
    return {i["incidentId"] for i in data.incidents if i["status"] not in ("Resolved", "Redirected")
            and i["lastUpdateTime"] < cutoff and i["severity"] != "Informational"}


def test_stale_report_reads_only_and_lists_the_stale_incidents(cli, sim):
    doc = cli.run("stale-incidents-report.yaml")
    for tenant in TENANTS:
        expected = _stale(sim.defender.tenant(tenant), 3 * 86400)
        out = doc["outputs"][tenant]["outputs"]
        assert {r["id"] for r in out["incidents"]} == expected and expected
        assert out["count"] == len(expected) and out["tagged"] == []
        updates = [r["last_update"] for r in out["incidents"]]
        assert updates == sorted(updates)  # oldest first
    assert sim.defender.count(method="PATCH") == 0


def test_stale_report_can_tag_and_comment(cli, sim):
    expected = {t: _stale(sim.defender.tenant(t), 7 * 86400) for t in TENANTS}
    doc = cli.run("stale-incidents-report.yaml", "--input", "stale_after=7d", "--input", "tag_stale=true")
    for tenant in TENANTS:
        data = sim.defender.tenant(tenant)
        assert set(doc["outputs"][tenant]["outputs"]["tagged"]) == expected[tenant]
        for incident_id in expected[tenant]:
            inc = data.incident(incident_id)
            assert "Stale" in inc["tags"] and "flagged by stale-incidents-report" in inc["comments"][-1]["comment"]
    assert sim.defender.count(method="PATCH") == sum(len(v) for v in expected.values())


def test_stale_report_has_a_schedule_trigger():
    from runner.playbook import load_playbook

    playbook = load_playbook(str(PLAYBOOKS / "stale-incidents-report.yaml"))
    assert [(type(t).__name__, t.schedule) for t in playbook.on] == [("ScheduleTrigger", "0 7 * * 1-5")]


# ---- release isolated devices -------------------------------------------------------------------

def _isolate(sim, tenant: str, index: int, hours_ago: float, tags=()) -> dict:
    sd = sim.defender
    data = sd.tenant(tenant)
    device = data.devices[index]
    device["machineTags"] = sorted(set(device["machineTags"]) | set(tags))
    data.new_action(device, "Isolate", requestor="analyst@contoso.com", comment="manual isolation", scope="Full",
                    now=sd.clock.now() - hours_ago * 3600, timing=sd.timing, rng=sd.next_rng())
    data.tick(sd.clock.now(), sd.timing)
    assert device["id"] in data.isolated
    return device


def test_release_frees_only_devices_isolated_long_enough(cli, sim):
    old = _isolate(sim, "contoso", 0, hours_ago=48)
    recent = _isolate(sim, "contoso", 1, hours_ago=2)
    kept = _isolate(sim, "contoso", 2, hours_ago=30, tags=["KeepIsolated"])
    doc = cli.run("release-isolated-devices.yaml", *FAST)
    data = sim.defender.tenant("contoso")
    assert set(data.isolated) == {recent["id"], kept["id"]}
    posts = sim.defender.requests(method="POST", path_suffix="/unisolate")
    assert [p["machine_id"] for p in posts] == [old["id"]]
    out = doc["outputs"]["contoso"]["outputs"]
    assert out["released"] == [old["computerDnsName"]] and out["kept"] == [kept["computerDnsName"]]
    assert doc["outputs"]["fabrikam"]["outputs"]["candidates"] == []
    # run again: the release is now the latest action for that device, so nothing is sent
    cli.run("release-isolated-devices.yaml", *FAST)
    assert sim.defender.count(method="POST", path_suffix="/unisolate") == 1


def test_release_waits_for_approval_before_releasing(cli, sim):
    _isolate(sim, "fabrikam", 3, hours_ago=72)
    doc = cli.run("release-isolated-devices.yaml", code=3, approve=False)
    assert [w["step"] for w in doc["waiting_approval"]] == ["release"]
    assert sim.defender.count(method="POST", path_suffix="/unisolate") == 0


# ---- collect investigation packages -------------------------------------------------------------

def test_collect_packages_for_a_given_incident(cli, sim):
    data = sim.defender.tenant("fabrikam")
    incident = max(data.incidents, key=lambda i: len(_devices_of(data, i)))
    devices = {d["id"] for d in _devices_of(data, incident)}
    assert len(devices) >= 2
    doc = cli.run("collect-investigation-packages.yaml", "--tenant", "fabrikam",
                  "--input", f"incident_id={incident['incidentId']}", *FAST)
    posts = sim.defender.requests(method="POST", path_suffix="/collectInvestigationPackage")
    assert {p["machine_id"] for p in posts} == devices and len(posts) == len(devices)
    done = [r.data for r in data.actions if r.data["type"] == "CollectInvestigationPackage"]
    assert {a["status"] for a in done} == {"Succeeded"}
    assert sorted(doc["outputs"]["collected"]) == sorted(data.device(m)["computerDnsName"] for m in devices)
    assert doc["outputs"]["incident"] == incident["incidentId"]
    comment = data.incident(incident["incidentId"])["comments"][-1]["comment"]
    assert comment.startswith("Investigation packages") and all(
        data.device(m)["computerDnsName"] in comment for m in devices)


def test_collect_packages_defaults_to_the_newest_high_incident_per_tenant(cli, sim):
    doc = cli.run("collect-investigation-packages.yaml", *FAST)
    for tenant in TENANTS:
        data = sim.defender.tenant(tenant)
        newest = max((i for i in data.incidents if i["status"] == "Active" and i["severity"] == "High"),
                     key=lambda i: i["createdTime"])
        assert doc["outputs"][tenant]["outputs"]["incident"] == newest["incidentId"]
        posts = sim.defender.requests(method="POST", tenant=tenant, path_suffix="/collectInvestigationPackage")
        assert {p["machine_id"] for p in posts} == {d["id"] for d in _devices_of(data, newest)}


def test_collect_packages_for_an_unknown_incident_is_a_located_error(cli, sim):
    result = cli("run", str(PLAYBOOKS / "collect-investigation-packages.yaml"), "--simulate", "--tenant", "contoso",
                 "--input", "incident_id=999999")
    assert result.exit_code == 1
    assert "collect-investigation-packages.yaml" in result.output and "given" in result.output
    assert "Traceback" not in result.output
    assert sim.defender.count(method="POST") == 0


def test_hello_runs_with_simulate_too(cli, sim):
    doc = cli.run("hello.yaml", "--input", "min_risk=High")
    # no `tenants:` means every configured tenant: the simulated cloud's two
    assert {t: o["outputs"] for t, o in doc["outputs"].items()} == {
        t: {"risky": ["ws-001.contoso.com"], "count": 1, "of": 3} for t in TENANTS}
    assert sim.defender.log == []  # core actions only: no API call
