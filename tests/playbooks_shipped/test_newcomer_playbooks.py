"""Issue #15 "Must show": three playbooks a newcomer SOC engineer would write, run as shipped with
`soar run --simulate`, posting to a chat webhook that is a REAL HTTP server on 127.0.0.1 let out of
the simulation with `--allow-host`. Checked against the receiver (what arrived), the simulator's
state and request log (what Defender was asked), and the run's --json document.

- weekday-alert-summary: high-severity alerts of every tenant, ONE message for all of them;
- siem-device-scan: a SIEM's webhook payload → find the device, scan it, comment on its incidents;
- hunt-domain-indicator: hunt a domain in DeviceNetworkEvents, block it (approval) where contacted.
"""

from __future__ import annotations

import json

import pytest
from shipped_helpers import PLAYBOOKS

from soar_defender.kql.tables import KNOWN_BAD_SHA256, KNOWN_BAD_URL, known_bad_hosts

TENANTS = ("contoso", "fabrikam")
SUMMARY, SCAN, HUNT = "weekday-alert-summary.yaml", "siem-device-scan.yaml", "hunt-domain-indicator.yaml"
DEVICE = "lt-001.contoso.com"  # a seeded contoso device with alerts in open incidents
FAST = ("--input", "poll_interval=0.05")


@pytest.fixture
def hook(receiver, monkeypatch):
    """The receiver's /hook is the chat webhook (the playbooks read it from SOAR_CHAT_WEBHOOK)."""
    monkeypatch.setenv("SOAR_CHAT_WEBHOOK", receiver.url("/hook"))
    return receiver


def _posts(receiver) -> list[dict]:
    assert all(g.method == "POST" and g.path == "/hook" for g in receiver.got), receiver.got
    return [g.json() for g in receiver.got]


def _payload(tmp_path, **fields) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(fields))
    return str(path)


def _run_args(name: str, tmp_path) -> list[str]:
    """What each playbook needs to run to its webhook post."""
    if name == SCAN:
        return ["--payload", _payload(tmp_path, device=DEVICE, event_id="siem-1"), *FAST]
    if name == HUNT:
        return ["--auto-approve"]
    return []


def test_the_three_pass_validate(cli):
    result = cli("validate", *(str(PLAYBOOKS / n) for n in (SUMMARY, SCAN, HUNT)))
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == 3


# ---- weekday-alert-summary ----------------------------------------------------------------------

def test_summary_posts_one_message_for_all_tenants(cli, sim, hook):
    doc = cli.run(SUMMARY, "--allow-host", hook.host, "--input", "lookback=15d", approve=False)
    assert doc["status"] == "succeeded"
    (message,) = _posts(hook)
    lines = message["text"].splitlines()
    assert lines[0].startswith("High alerts since ") and "2 tenant(s)" in lines[0]
    for tenant, line in zip(TENANTS, lines[1:], strict=True):
        high = [a for a in sim.defender.tenant(tenant).alerts if a["severity"] == "High"]
        outputs = doc["tenants"][tenant]["outputs"]
        assert high and outputs["count"] == len(high)
        assert line.startswith(f"{tenant}: {len(high)} alert(s) - ")
        assert 0 < len(outputs["titles"]) <= 3 and set(outputs["titles"]) <= {a["title"] for a in high}
        assert all(title in line for title in outputs["titles"])
        asked = sim.defender.requests(method="GET", tenant=tenant, path="/api/alerts")
        assert len(asked) == 1 and "severity eq 'High'" in asked[0]["query"]["$filter"]
        assert "lastUpdateTime ge " in asked[0]["query"]["$filter"]
    assert doc["outputs"] == {"posted": 200, "failed_tenants": []}


def test_summary_reports_a_failed_tenant_and_the_run_fails(cli, sim, hook):
    sim.defender.faults.add("/api/alerts", status=403, tenant="fabrikam", times=None)
    doc = cli.run(SUMMARY, "--allow-host", hook.host, "--input", "lookback=15d", code=1, approve=False)
    assert doc["tenants"]["fabrikam"]["status"] == "failed" and doc["tenants"]["contoso"]["status"] == "succeeded"
    (message,) = _posts(hook)
    contoso, fabrikam = message["text"].splitlines()[1:]
    assert contoso.startswith("contoso: ") and "alert(s)" in contoso
    assert fabrikam.startswith("fabrikam: FAILED: ") and "403" in fabrikam
    assert doc["outputs"] == {"posted": 200, "failed_tenants": ["fabrikam"]}


def test_summary_dry_run_prints_the_plan_and_posts_nothing(cli, sim, hook):
    result = cli("run", str(PLAYBOOKS / SUMMARY), "--simulate", "--dry-run", "--allow-host", hook.host,
                 "--trigger-type", "schedule")
    assert result.exit_code == 0, result.output
    assert "no schedule trigger" not in result.output  # soar serve starts it this way
    assert "dry-run plan" in result.output and "post → core.http_request (write)" in result.output
    assert hook.got == []
    assert sim.defender.count(method="GET", path="/api/alerts") == 2  # reads still run


# ---- siem-device-scan ---------------------------------------------------------------------------

def _open_incidents_of(data, machine_id: str) -> set[int]:
    return {a["incidentId"] for a in data.alerts if a["machineId"] == machine_id and a["status"] != "Resolved"}


def test_scan_finds_the_device_scans_it_and_comments_on_its_incidents(cli, sim, hook, tmp_path):
    data = sim.defender.tenant("contoso")
    (machine,) = [d for d in data.devices if d["computerDnsName"] == DEVICE]
    incidents = _open_incidents_of(data, machine["id"])
    assert incidents, "the seeded device has open incidents"
    event = _payload(tmp_path, device=DEVICE.upper(), reason="Beaconing to a rare domain", event_id="siem-4711")
    doc = cli.run(SCAN, "--payload", event, "--allow-host", hook.host, *FAST, approve=False)
    assert doc["status"] == "succeeded"
    # one scan, of that machine, in contoso only; it finished
    scans = sim.defender.requests(method="POST", path_suffix="/runAntiVirusScan")
    assert [(s["tenant"], s["machine_id"]) for s in scans] == [("contoso", machine["id"])]
    (action,) = [a.data for a in data.actions if a.data["type"] == "RunAntiVirusScan"]
    assert action["status"] == "Succeeded" and action["scope"] == "Quick"
    assert "SIEM event siem-4711: Beaconing to a rare domain" in action["requestorComment"]
    contoso = doc["tenants"]["contoso"]["outputs"]
    assert contoso["machines"] == [DEVICE] and contoso["scans"] == ["Succeeded"]
    assert contoso["scan_ids"] == [action["id"]] and set(contoso["incidents"]) == incidents
    for incident in data.incidents:
        comments = [c["comment"] for c in incident["comments"]]
        if incident["incidentId"] in incidents:
            assert len(comments) == 1 and "after SIEM event siem-4711" in comments[0]
            assert f"{DEVICE} Succeeded" in comments[0]
        else:
            assert comments == []
    assert doc["tenants"]["fabrikam"]["outputs"]["machines"] == []
    assert doc["outputs"] == {"found": [DEVICE], "posted": 200}
    (message,) = _posts(hook)
    assert message["text"].splitlines() == [
        f"Scan request for {DEVICE}:",
        f"contoso: scanned {DEVICE} Succeeded; commented on incident(s) "
        + ", ".join(str(i) for i in contoso["incidents"]),
        f"fabrikam: no machine named {DEVICE}"]


def test_scan_of_a_host_name_in_a_named_tenant_searches_that_tenant_only(cli, sim, hook, tmp_path):
    event = _payload(tmp_path, device="lt-001", tenant="contoso")
    doc = cli.run(SCAN, "--payload", event, "--allow-host", hook.host, *FAST, approve=False)
    assert doc["status"] == "succeeded"
    assert sim.defender.count(tenant="fabrikam", path="/api/machines") == 0
    assert doc["tenants"]["fabrikam"]["outputs"]["searched"] is False
    assert doc["tenants"]["contoso"]["outputs"]["machines"] == [DEVICE]
    (message,) = _posts(hook)
    assert "fabrikam: not searched (the request names contoso)" in message["text"]


def test_scan_of_an_unknown_device_fails_and_says_so(cli, sim, hook, tmp_path):
    event = _payload(tmp_path, device="nosuch-host.contoso.com")
    result = cli("run", str(PLAYBOOKS / SCAN), "--simulate", "--payload", event, "--allow-host", hook.host)
    assert result.exit_code == 1, result.output
    assert ("device 'nosuch-host.contoso.com' was not found in any tenant (tenants: contoso, fabrikam): "
            "nothing was scanned") in result.output
    assert sim.defender.count(method="POST", path_suffix="/runAntiVirusScan") == 0
    assert sim.defender.count(path="/api/machines") == 2  # it was looked for in both tenants
    (message,) = _posts(hook)
    assert "contoso: no machine named nosuch-host.contoso.com" in message["text"]
    # a tenant the request names that is not configured
    event = _payload(tmp_path, device="lt-001", tenant="northwind")
    result = cli("run", str(PLAYBOOKS / SCAN), "--simulate", "--payload", event, "--allow-host", hook.host)
    assert result.exit_code == 1, result.output
    assert "the request names tenant 'northwind', which is not configured" in result.output


@pytest.mark.parametrize("payload", [{"reason": "no device"}, {"device": ["lt-001"]},
                                     {"device": "lt-001; rm -rf /"}, ["lt-001"]])
def test_scan_refuses_a_payload_without_a_valid_device(cli, sim, hook, tmp_path, payload):
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))
    result = cli("run", str(PLAYBOOKS / SCAN), "--simulate", "--payload", str(event), "--allow-host", hook.host)
    assert result.exit_code == 1, result.output
    assert "the request names no valid device" in result.output
    assert sim.defender.count(path="/api/machines") == 0
    (message,) = _posts(hook)
    assert "contoso: FAILED: the request names no valid device" in message["text"]


def test_scan_dry_run_prints_the_plan_and_scans_and_posts_nothing(cli, sim, hook, tmp_path):
    event = _payload(tmp_path, device=DEVICE)
    result = cli("run", str(PLAYBOOKS / SCAN), "--simulate", "--dry-run", "--payload", event,
                 "--allow-host", hook.host)
    assert result.exit_code == 0, result.output
    assert "dry-run plan" in result.output
    assert "contoso: scan[0] → defender.run_antivirus_scan (write)" in result.output
    assert "notify → core.http_request (write)" in result.output
    assert sim.defender.count(method="POST") == 0 and hook.got == []


# ---- hunt-domain-indicator ----------------------------------------------------------------------

def _domain_indicators(sim, tenant: str, domain: str) -> list[dict]:
    return [i for i in sim.defender.tenant(tenant).indicators
            if i["indicatorValue"] == domain and i["indicatorType"] == "DomainName"]


def test_hunt_blocks_a_contacted_domain_in_every_tenant(cli, sim, hook):
    doc = cli.run(HUNT, "--allow-host", hook.host)
    assert doc["status"] == "succeeded"
    lines = _posts(hook)[0]["text"].splitlines()
    assert len(hook.got) == 1 and lines[0] == f"Hunt for {KNOWN_BAD_URL} in DeviceNetworkEvents:"
    for tenant, line in zip(TENANTS, lines[1:], strict=True):
        data = sim.defender.tenant(tenant)
        contacted = sorted(data.device(i)["computerDnsName"] for i in known_bad_hosts(data.devices)[KNOWN_BAD_SHA256])
        outputs = doc["tenants"][tenant]["outputs"]
        assert outputs["devices"] == contacted and outputs["connections"] >= len(contacted)
        (indicator,) = _domain_indicators(sim, tenant, KNOWN_BAD_URL)
        assert indicator["action"] == "AlertAndBlock" and indicator["severity"] == "High"
        assert outputs["indicator"] == KNOWN_BAD_URL
        assert line == f"{tenant}: contacted by {', '.join(contacted)}; indicator added (AlertAndBlock)"
    assert doc["outputs"] == {"blocked_in": list(TENANTS), "posted": 200}


def test_hunt_of_a_domain_never_contacted_adds_nothing_and_says_so(cli, sim, hook):
    before = {t: len(sim.defender.tenant(t).indicators) for t in TENANTS}
    result = cli("run", str(PLAYBOOKS / HUNT), "--simulate", "--allow-host", hook.host,
                 "--input", "domain=Never-Seen.example")
    assert result.exit_code == 0, result.output
    assert "no device contacted never-seen.example: no indicator added" in result.output  # the log line
    assert {t: len(sim.defender.tenant(t).indicators) for t in TENANTS} == before
    assert sim.defender.count(method="POST", path="/api/indicators") == 0
    (message,) = _posts(hook)
    assert message["text"].splitlines()[1:] == [f"{t}: not contacted; no indicator added" for t in TENANTS]


def test_hunt_matches_subdomains_and_urls(cli, sim, hook):
    # the parent domain of the planted one, and a domain seen only inside URLs (http://host/path)
    doc = cli.run(HUNT, "--input", "domain=badcdn.example", "--dry-run", approve=False)
    assert all(doc["tenants"][t]["outputs"]["devices"] for t in TENANTS)
    url_only = {e["url"].split("/")[2] for t in TENANTS for a in sim.defender.tenant(t).alerts
                for e in a["evidence"] if e.get("url")}
    domain = sorted(url_only)[0]
    doc = cli.run(HUNT, "--input", f"domain={domain}", "--dry-run", approve=False)
    assert any(doc["tenants"][t]["outputs"]["devices"] for t in TENANTS)
    assert hook.got == []


def test_hunt_waits_for_approval_then_blocks_and_posts_once(cli, sim, hook):
    doc = cli.run(HUNT, "--allow-host", hook.host, code=3, approve=False)
    assert doc["status"] == "waiting_approval"
    assert sorted(w["step"] for w in doc["waiting_approval"]) == ["block", "block"]
    assert hook.got == [] and not any(_domain_indicators(sim, t, KNOWN_BAD_URL) for t in TENANTS)
    # the run remembers --allow-host: approving continues it and posts to the receiver
    result = cli("approve", doc["run_id"], "block")
    assert result.exit_code == 0, result.output
    assert all(len(_domain_indicators(sim, t, KNOWN_BAD_URL)) == 1 for t in TENANTS)
    (message,) = _posts(hook)
    assert "contoso: contacted by" in message["text"] and "fabrikam: contacted by" in message["text"]


def test_hunt_refuses_a_value_that_is_not_a_domain(cli, sim, hook):
    result = cli("run", str(PLAYBOOKS / HUNT), "--simulate", "--auto-approve", "--allow-host", hook.host,
                 "--input", "domain=https://evil.example/x")
    assert result.exit_code == 1, result.output
    assert "input 'domain' must be a domain name such as evil.example" in result.output
    assert sim.defender.count(method="POST") == 0


# ---- every one of them: the webhook ------------------------------------------------------------

@pytest.mark.parametrize("name", [SUMMARY, SCAN, HUNT])
def test_a_webhook_answering_500_fails_the_run(cli, sim, hook, tmp_path, name):
    hook.answer("/hook", (500, {"Content-Type": "text/plain"}, "chat service down"))
    result = cli("run", str(PLAYBOOKS / name), "--simulate", "--allow-host", hook.host, *_run_args(name, tmp_path))
    assert result.exit_code == 1, result.output
    assert "answered HTTP 500 Internal Server Error: chat service down" in result.output
    text = " ".join(result.output.split())
    # the webhook's URL is a secret: the error names its host, never the rest of it
    assert f"POST http://{hook.host}/*** answered" in text and "/hook" not in text
    assert len(hook.got) == 1  # a POST answered 5xx is not sent again


@pytest.mark.parametrize("name", [SUMMARY, SCAN, HUNT])
def test_an_unserved_webhook_host_fails_the_run_naming_it(cli, sim, receiver, monkeypatch, tmp_path, name):
    monkeypatch.setenv("SOAR_CHAT_WEBHOOK", "https://chat.example.invalid/webhookb2/abc")
    result = cli("run", str(PLAYBOOKS / name), "--simulate", *_run_args(name, tmp_path))
    assert result.exit_code == 1, result.output
    assert "a POST request to chat.example.invalid was not sent" in result.output
    assert "--allow-host chat.example.invalid" in result.output
    assert "webhookb2/abc" not in result.output  # the URL is a secret


@pytest.mark.parametrize("name", [SUMMARY, SCAN, HUNT])
def test_without_the_webhook_secret_nothing_runs(cli, sim, monkeypatch, tmp_path, name):
    monkeypatch.delenv("SOAR_CHAT_WEBHOOK", raising=False)
    result = cli("run", str(PLAYBOOKS / name), "--simulate", *_run_args(name, tmp_path))
    assert result.exit_code != 0, result.output
    assert "SOAR_CHAT_WEBHOOK" in result.output
    assert sim.defender.log == []
