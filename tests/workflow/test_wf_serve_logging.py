"""What `soar serve` says on stderr, as a real subprocess on the simulated cloud: a failed run at
the default verbosity; with -v every accepted event (webhook, duplicate, schedule fire, poll) and
every run's start and end, and step lines naming run, tenant and step; with -vv every API call
(method, host, path, status, time) and never a header or a token."""

from __future__ import annotations

import re
import time

from wf_log_helpers import HOOK_TOKEN, Served, post, wait

FAILING = """
name: failing-tick
on:
  - every: 1s
tenants: [contoso]
steps:
  - id: check
    action: core.fail
    with: {message: "the nightly check failed"}
"""

HUNT_HOOK = """
name: hunt-hook
on:
  - webhook: {path: /hunt, token: env:WF_HOOK_TOKEN, dedup_key: delivery}
tenants: [contoso, fabrikam]
steps:
  - id: hunt
    action: defender.run_hunting_query
    with: {query: "DeviceProcessEvents | take 2"}
"""

TICK = """
name: tick
on:
  - every: 1s
tenants: [contoso]
steps:
  - id: t
    action: core.set
    with: {at: "${{ trigger.scheduled_for }}"}
"""

POLLED = """
name: polled
tenants: [contoso]
on:
  - poll: {source: defender.incidents, every: 1s}
steps:
  - id: seen
    action: core.set
    with: {incident: "${{ trigger.payload.id }}"}
"""


def test_failed_scheduled_runs_are_logged_without_v(tmp_path):
    served = Served(tmp_path, {"failing.yaml": FAILING})
    try:
        wait(lambda: len(served.runs("failing-tick", "failed")) >= 3, what="three failed scheduled runs")
        failed = [r.id for r in served.runs("failing-tick", "failed")]
        err = served.stop()
    finally:
        served.kill()
    lines = [line for line in err.splitlines() if "run of failing-tick FAILED" in line]
    assert len(lines) >= 3, err
    for run_id in failed[:3]:
        [line] = [line for line in lines if f"run={run_id}" in line]
        assert line.startswith("WARNING soar.serve ")
        assert "tenant=contoso" in line and "the nightly check failed" in line and "step 'check'" in line
    assert not [line for line in err.splitlines() if line.startswith(("INFO", "DEBUG"))], err


def test_v_logs_events_runs_and_step_lines_with_tenant(tmp_path):
    served = Served(tmp_path, {"hunt.yaml": HUNT_HOOK, "tick.yaml": TICK, "polled.yaml": POLLED}, "-v")
    try:
        first = post(served.url, {"delivery": "d-1"})
        again = post(served.url, {"delivery": "d-1"})
        assert again["duplicate"] and again["run_id"] == first["run_id"]
        wait(lambda: [r for r in served.runs("hunt-hook") if r.id == first["run_id"] and r.status == "succeeded"],
             what="the webhook run")
        wait(lambda: served.runs("tick", "succeeded"), what="a scheduled run")
        wait(lambda: served.runs("polled") or _polled(served), what="a poll")
        time.sleep(1.5)  # a poll comes every second: at least one has been logged by now
        children = {c.tenant: c.id for c in served.store.children(first["run_id"])}
        tick = served.runs("tick", "succeeded")[-1].id
        err = served.stop()
    finally:
        served.kill()
    run, event = first["run_id"], first["event_id"]

    def one(pattern: str) -> str:
        found = [line for line in err.splitlines() if re.search(pattern, line)]
        assert found, f"no line matches {pattern!r} in:\n{err}"
        return found[0]

    # the webhook: accepted (with its event and run), then the replay as a duplicate
    one(rf"^INFO soar\.serve run={run}: webhook /hooks/hunt \(playbook hunt-hook\): event {event} accepted$")
    one(rf"^INFO soar\.serve run={run}: webhook /hooks/hunt \(playbook hunt-hook\): duplicate of event {event}: "
        r"no new run$")
    # the run's start and end, with its tenants, trigger and duration
    one(rf"^INFO soar\.serve run={run}: run of hunt-hook started \(trigger webhook, event {event}, "
        r"tenants contoso, fabrikam\)$")
    one(rf"^INFO soar\.serve run={run}: run of hunt-hook succeeded in (\d+ ms|\d+\.\d\ds) \(tenants contoso, fabrikam\)$")
    # each tenant's step line names its tenant run, the tenant and the step
    for tenant in ("contoso", "fabrikam"):
        one(rf"^INFO soar\.step run={children[tenant]} tenant={tenant} step=hunt: hunting query on \w+: "
            r"\d+ row\(s\)$")
    # a schedule fire and its run; a poll
    one(rf"^INFO soar\.serve run={tick}: schedule tick/every/\w+ fired for \S+ \(playbook tick\): event \S+ "
        r"accepted$")
    one(rf"^INFO soar\.serve run={tick} tenant=contoso: run of tick succeeded in (\d+ ms|\d+\.\d\ds)$")
    one(r"^INFO soar\.serve tenant=contoso: poll of defender\.incidents for polled: \d+ item\(s\), \d+ new "
        r"event\(s\), \d+ already seen$")
    assert "Traceback" not in err and HOOK_TOKEN not in err


def _polled(served: Served) -> bool:
    from runner.store.cursors import CursorStore

    try:
        return CursorStore(served.store).get("polled", "contoso", "defender.incidents") is not None
    except Exception:  # noqa: BLE001 - not created yet
        return False


def test_vv_logs_each_api_call_without_headers_or_tokens(tmp_path):
    served = Served(tmp_path, {"hunt.yaml": HUNT_HOOK, "polled.yaml": POLLED}, "-vv")
    try:
        first = post(served.url, {"delivery": "d-2"})
        wait(lambda: [r for r in served.runs("hunt-hook") if r.id == first["run_id"] and r.status == "succeeded"],
             what="the webhook run")
        wait(lambda: _polled(served), what="a poll")
        err = served.stop()
    finally:
        served.kill()
    calls = [line for line in err.splitlines() if line.startswith("DEBUG soar.http")]
    # the token requests (msal's client) and the hunting queries (the API client), each tenant
    token = [c for c in calls if re.search(r": POST login\.microsoftonline\.com/[\w.-]+/oauth2/v2\.0/token -> 200 "
                                           r"in \d+\.\d ms$", c)]
    hunts = [c for c in calls if re.search(r": POST graph\.microsoft\.com/v1\.0/security/runHuntingQuery -> 200 "
                                           r"in \d+\.\d ms$", c)]
    assert len(token) >= 2 and len(hunts) == 2, "\n".join(calls) or err
    # the poll's list: the query's names, never its values (the $filter holds the watermark)
    polls = [c for c in calls if re.search(r": GET api\.security\.microsoft\.com/api/incidents"
                                           r"\?\$filter=\*\*\*&\$top=\*\*\*&\$skip=\*\*\* -> 200 in", c)]
    assert polls, "\n".join(calls)
    assert "lastUpdateTime" not in "\n".join(calls)
    lowered = err.lower()
    for leak in ("authorization", "bearer", "eyj", "client_secret", "client_assertion", HOOK_TOKEN.lower()):
        assert leak not in lowered, leak
