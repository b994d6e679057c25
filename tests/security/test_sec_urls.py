"""Issue #13, finding 1: an input must never change which API call is made.

``machine_id`` used to be pasted into the URL path: ``<id>/isolate?x=`` turned
``collect_investigation_package`` into an isolation, ``../../api/indicators?`` made
``isolate_machine`` POST /api/indicators, ``<id>?$select=id`` added a query. Now ids are typed at
the action's input model (refused, naming the step and the field, before any call) and every
path value is escaped as one segment by the API client; a plain-text path that could carry a
query, a fragment, an escape or a dot segment is refused before it is sent.

Imports of what the fix added stay inside the tests, so this file also runs against the code
before it, where each test must fail for its own reason."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from runner import errors
from runner.apis import ApiClients
from runner.engine.context import TenantInfo
from runner.http import Network

ONE_STEP = """
name: one-step
inputs:
  value: {{type: string}}
steps:
  - id: {step}
    action: {action}
    with: {{{field}: "${{{{ inputs.value }}}}"{extra}}}
"""


def run_step(runner, action: str, field: str, value: str, step: str = "act", extra: str = ""):
    playbook = ONE_STEP.format(step=step, action=action, field=field, extra=extra)
    return runner.run(playbook, tenant="contoso", inputs={"value": value}, auto_approve=True)


def a_device(cloud) -> str:
    return cloud.defender.tenant("contoso").devices[0]["id"]


def assert_refused(out, step: str, field: str) -> None:
    assert out.status == "failed"
    err = out.json()["error"]
    assert err["type"] == "ActionInputError", err
    assert err["where"]["step"] == step and f"input '{field}'" in err["message"], err


# ---- the attacks of the issue, as a playbook runs them ----------------------------------------------

def test_collect_package_with_an_isolate_suffix_isolates_nothing(soar_runner, soar_cloud):
    device = a_device(soar_cloud)
    out = run_step(soar_runner, "defender.collect_investigation_package", "machine_id", f"{device}/isolate?x=",
                   step="collect")
    sim = soar_cloud.defender
    assert sim.count(method="POST", path_suffix="/isolate") == 0
    assert not [a for a in sim.tenant("contoso").actions if a.data["type"] == "Isolate"]
    assert sim.log == [], "nothing may be sent for an input that is not a machine id"
    assert_refused(out, "collect", "machine_id")


def test_isolate_with_a_traversal_posts_no_indicator(soar_runner, soar_cloud):
    before = len(soar_cloud.defender.tenant("contoso").indicators)
    out = run_step(soar_runner, "defender.isolate_machine", "machine_id", "../../api/indicators?", step="isolate")
    sim = soar_cloud.defender
    assert sim.requests(method="POST", path="/api/indicators") == [] and sim.log == []
    assert len(sim.tenant("contoso").indicators) == before
    assert_refused(out, "isolate", "machine_id")


def test_a_query_string_cannot_ride_on_an_id(soar_runner, soar_cloud):
    device = a_device(soar_cloud)
    out = run_step(soar_runner, "defender.get_machine", "machine_id", f"{device}?$select=id", step="get")
    assert all("$select" not in e["query"] for e in soar_cloud.defender.log)
    assert soar_cloud.defender.log == []
    assert_refused(out, "get", "machine_id")


@pytest.mark.parametrize("action, field, value", [
    ("defender.get_alert", "alert_id", "da637472900382838869_1364969609/../../machines"),
    ("defender.update_alert", "alert_id", "x?$expand=evidence"),
    ("defender.get_incident", "incident_id", "12/comments"),
    ("defender.get_machine_action", "action_id", "../machines/abc/isolate"),
    ("defender.cancel_machine_action", "action_id", "5382f7ea-7557-4ab7-9782-d50480024a4e%2F"),
    ("defender.delete_indicator", "indicator_id", "1?x=#"),
    ("defender.unisolate_machine", "machine_id", ""),
])
def test_every_id_input_is_checked_before_any_call(soar_runner, soar_cloud, action, field, value):
    extra = ", comment: hi" if action == "defender.update_alert" else ""
    out = run_step(soar_runner, action, field, value, extra=extra)
    assert [(e["method"], e["path"]) for e in soar_cloud.defender.log] == []
    assert_refused(out, "act", field)


def test_real_ids_still_work_and_are_normalised(soar_runner, soar_cloud):
    device = a_device(soar_cloud)
    out = run_step(soar_runner, "defender.collect_investigation_package", "machine_id", device.upper())
    assert out.status == "succeeded", out.json()
    posts = soar_cloud.defender.requests(method="POST")
    assert [p["path"] for p in posts] == [f"/api/machines/{device}/collectInvestigationPackage"]
    name = soar_cloud.defender.tenant("contoso").devices[0]["computerDnsName"]
    assert soar_runner.action("defender.get_machine", tenant="contoso", machine_id=name.upper())["id"] == device


def test_a_literal_bad_id_is_refused_when_the_playbook_is_loaded(soar_runner):
    playbook = ONE_STEP.format(step="isolate", action="defender.isolate_machine", field="machine_id", extra="")
    playbook = playbook.replace('"${{ inputs.value }}"', '"../../api/indicators?"')
    with pytest.raises(errors.PlaybookError) as info:
        soar_runner.load(playbook)
    assert "machine_id" in str(info.value)


# ---- the API client: templates and plain paths --------------------------------------------------------

T = TenantInfo("contoso", "0b9d2f3e-0000-0000-0000-000000000001")


def _client():
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"value": []})

    return ApiClients(Network.simulated(handler), auth=None, quotas="off").client(T, "mde"), sent


@pytest.mark.parametrize("value", ["abc/isolate?x=", "../../api/indicators?", "a#b", "%2e%2e", "a\\b", "é ü",
                                   "...", "a;b=c", 12345])
def test_a_template_value_is_one_escaped_segment(value):
    client, sent = _client()
    asyncio.run(client.post("/api/machines/{machine_id}/collectInvestigationPackage", {"Comment": "x"},
                            segments={"machine_id": value}))
    (request,) = sent
    raw = request.url.raw_path.decode("ascii")
    assert "?" not in raw and request.url.query == b""
    parts = raw.split("/")
    assert len(parts) == 5 and parts[:3] == ["", "api", "machines"] and parts[4] == "collectInvestigationPackage"
    assert unquote(parts[3]) == str(value)


@pytest.mark.parametrize("value", ["", ".", "..", None, True, 1.5])
def test_a_template_refuses_values_that_are_no_segment(value):
    client, sent = _client()
    with pytest.raises(errors.ActionInputError):
        asyncio.run(client.get("/api/machines/{machine_id}", segments={"machine_id": value}))
    assert sent == []


@pytest.mark.parametrize("path", ["/api/machines/abc/isolate?x=", "/api/machines/../indicators", "/api/a#b",
                                  "/api/machines/%2e%2e/x", "/api/a\\b", "/api//x", "/api/./x", "/api/{machine_id}",
                                  "/api/machines/a b"])
def test_a_plain_path_that_could_carry_data_is_refused_before_sending(path):
    client, sent = _client()
    with pytest.raises(errors.ActionInputError):
        asyncio.run(client.get(path))
    assert sent == []


def test_templates_must_match_their_values():
    client, sent = _client()
    for path, segments in [("/api/machines/{machine_id}", {}), ("/api/machines/{machine_id}", {"id": "x"}),
                           ("/api/machines/x{machine_id}", {"machine_id": "a"}),
                           ("/api/machines", {"machine_id": "a"})]:
        with pytest.raises(errors.ActionInputError):
            asyncio.run(client.get(path, segments=segments))
    assert sent == []


def test_a_template_s_fixed_text_may_use_any_segment_character():
    client, sent = _client()
    asyncio.run(client.get("/v1.0/reports/getEmailActivityUserDetail(period='D7')", segments={}))
    asyncio.run(client.get("/v1.0/users/{user}/x", segments={"user": "a'b(c)"}))
    assert [r.url.raw_path for r in sent] == [b"/v1.0/reports/getEmailActivityUserDetail(period='D7')",
                                              b"/v1.0/users/a%27b%28c%29/x"]
    with pytest.raises(errors.ActionInputError):
        asyncio.run(client.get("/v1.0/reports/getX(period='D7')"))  # not plain: only as a template


def test_next_links_and_plain_paths_still_pass():
    client, sent = _client()
    asyncio.run(client.get("/api/machines", {"$filter": "x eq 'y'"}))
    asyncio.run(client.get("https://api.securitycenter.microsoft.com/api/machines?$skip=100&$top=100"))
    asyncio.run(client.get("/v1.0/security/incidents/$count"))
    assert [r.url.raw_path for r in sent] == [b"/api/machines?%24filter=x+eq+%27y%27",
                                              b"/api/machines?$skip=100&$top=100", b"/v1.0/security/incidents/$count"]


@pytest.mark.parametrize("link", ["https://evil.example/api/machines?$skip=100",
                                  "http://api.securitycenter.microsoft.com/x",
                                  "https://api.securitycenter.microsoft.com@evil.example/api/machines",
                                  "https://evilmicrosoft.com/api/machines"])
def test_an_absolute_url_off_the_api_s_domain_is_refused(link):
    client, sent = _client()
    with pytest.raises(errors.ActionInputError):
        asyncio.run(client.get(link))
    assert sent == []


def test_a_regional_next_link_on_the_api_s_domain_is_followed():
    client, sent = _client()
    asyncio.run(client.get("https://api-eu.securitycenter.microsoft.com/api/machines?$skip=100"))
    assert [r.url.host for r in sent] == ["api-eu.securitycenter.microsoft.com"]


def test_the_loopback_simulator_keeps_an_escaped_slash_in_its_segment(soar_cloud):
    """``soar sim serve`` routes on the path as sent, like the in-process simulator."""
    from runner.sim.serve import build_asgi_app

    raw = b"/_host/api.securitycenter.microsoft.com/api/machines/ab%2F..%2Fisolate/collectInvestigationPackage"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": unquote(raw.decode()), "raw_path": raw, "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8765")], "server": ("127.0.0.1", 8765), "client": ("127.0.0.1", 1)}
    sent: list = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(build_asgi_app(soar_cloud)(scope, receive, send))
    (entry,) = soar_cloud.defender.log
    assert entry["path"] == "/api/machines/ab%2F..%2Fisolate/collectInvestigationPackage"
    assert entry["status"] in (401, 404) and entry["effect"] is False


# ---- the id types ---------------------------------------------------------------------------------------

def _model() -> type[BaseModel]:
    from soar_defender import ids  # here: the test module also runs against code without it (see the docstring)

    class _M(BaseModel):
        machine: ids.MachineId | None = None
        action: ids.MachineActionId | None = None
        alert: ids.AlertId | None = None
        incident: ids.IncidentId | None = None
        indicator: ids.IndicatorId | None = None

    return _M


@pytest.mark.parametrize("field, value, normal", [
    ("machine", "1E5BC9D7E413DDD7902C2932E418702B84D0CC07", "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"),
    ("action", "5382F7EA-7557-4AB7-9782-D50480024A4E", "5382f7ea-7557-4ab7-9782-d50480024a4e"),
    ("alert", "da637472900382838869_1364969609", "da637472900382838869_1364969609"),
    ("alert", "da637308392288907382_-880718168", "da637308392288907382_-880718168"),
    ("alert", "ed638510306555978178_-1528645984", "ed638510306555978178_-1528645984"),
    ("alert", "faf8edc936-85f8-a603-b800-08d8525cf099", "faf8edc936-85f8-a603-b800-08d8525cf099"),
    ("incident", "1126093", 1126093), ("incident", 28282, 28282),
    ("indicator", "995", "995"), ("indicator", 995, "995"),
])
def test_documented_id_forms_are_accepted(field, value, normal):
    assert getattr(_model().model_validate({field: value}), field) == normal


@pytest.mark.parametrize("field, value", [
    ("machine", "1e5bc9d7e413ddd7902c2932e418702b84d0cc0"), ("machine", "1e5bc9d7e413ddd7902c2932e418702b84d0cc07/x"),
    ("machine", "g" * 40), ("machine", 12),
    ("action", "5382f7ea-7557-4ab7-9782-d50480024a4e/cancel"), ("action", "{5382f7ea-7557-4ab7-9782-d50480024a4e}"),
    ("alert", "da637_1/../x"), ("alert", "-leading"), ("alert", "a" * 129), ("alert", "a b"), ("alert", "a?b"),
    ("incident", "12/comments"), ("incident", True), ("incident", -1), ("incident", "1e3"), ("incident", 1.5),
    ("indicator", "1?x"), ("indicator", "abc"), ("indicator", -1),
])
def test_other_forms_are_refused_with_the_field_named(field, value):
    with pytest.raises(ValidationError) as info:
        _model().model_validate({field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_check_applies_an_id_type_outside_a_model():
    from soar_defender import ids

    assert ids.check(ids.MachineId, "A" * 40) == "a" * 40
    with pytest.raises(errors.ActionInputError, match="40 hex"):
        ids.check(ids.MachineId, "x/isolate")
