"""Issue #13, finding 5: a value must never become OData filter syntax.

``defender.list_incidents`` with ``updated_since: "1900-01-01T00:00:00Z) or (createdTime ge
1900-01-01T00:00:00Z"`` and ``status: Resolved`` returned incidents of every status; alerts
built their filter the same way. Now a time input is parsed and written anew (text that is not
a time is the input's error, before any call), and every value goes into a filter as a literal
of its type through ``runner.odata``.

Imports of what the fix added stay inside the tests, so this file also runs against the code
before it, where each test must fail for its own reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soar_defender.sim.odata import compile_filter

ATTACK = "1900-01-01T00:00:00Z) or (createdTime ge 1900-01-01T00:00:00Z"

LIST = """
name: list-step
inputs:
  value: {{type: string}}
steps:
  - id: listed
    action: {action}
    with: {{{field}: "${{{{ inputs.value }}}}"{extra}}}
outputs:
  count: "${{{{ steps.listed.output | length }}}}"
"""


def run_list(runner, action: str, field: str, value: str, extra: str = ""):
    playbook = LIST.format(action=action, field=field, extra=extra)
    return runner.run(playbook, tenant="contoso", inputs={"value": value})


def assert_refused(out, field: str) -> None:
    assert out.status == "failed"
    err = out.json()["error"]
    assert err["type"] == "ActionInputError", err
    assert err["where"]["step"] == "listed" and f"input '{field}'" in err["message"], err


@pytest.mark.parametrize("api", ["xdr", "graph"])
@pytest.mark.parametrize("field", ["updated_since", "created_since"])
def test_a_time_input_cannot_widen_the_incident_filter(soar_runner, soar_cloud, api, field):
    out = run_list(soar_runner, "defender.list_incidents", field, ATTACK, extra=f", status: Resolved, api: {api}")
    sent = soar_cloud.defender.log
    assert [e["query"].get("$filter") for e in sent] == [], "the filter was sent: it matched " \
        f"{out.outputs and out.outputs.get('count')} incident(s)"
    assert_refused(out, field)


def test_a_time_input_cannot_widen_the_alert_filter(soar_runner, soar_cloud):
    out = run_list(soar_runner, "defender.list_alerts", "updated_since",
                   "1900-01-01T00:00:00Z or status ne 'Resolved'", extra=", status: Resolved")
    assert [e["query"].get("$filter") for e in soar_cloud.defender.log] == []
    assert_refused(out, "updated_since")


def test_a_time_input_is_sent_as_a_utc_time(soar_runner, soar_cloud):
    out = run_list(soar_runner, "defender.list_incidents", "updated_since", "2026-01-01T10:00:00.5+02:00",
                   extra=", status: Resolved, api: xdr")
    assert out.status == "succeeded", out.json()
    (sent,) = soar_cloud.defender.requests(path="/api/incidents")
    assert sent["query"]["$filter"] == "status eq 'Resolved' and lastUpdateTime ge 2026-01-01T08:00:00Z"


@pytest.mark.parametrize("action, field, value, extra, expected", [
    ("defender.list_incidents", "assigned_to", "x' or status eq 'Active", ", status: Resolved, api: xdr",
     "status eq 'Resolved' and assignedTo eq 'x'' or status eq ''Active'"),
    ("defender.list_machines", "tag", "vip') or (true", "",
     "machineTags/any(v: v eq 'vip'') or (true')"),
    ("defender.list_indicators", "value", "evil.example' or action ne 'x", "",
     "indicatorValue eq 'evil.example'' or action ne ''x'"),
    ("defender.list_machine_actions", "type", "Isolate' or type ne 'x", "",
     "type eq 'Isolate'' or type ne ''x'"),
])
def test_text_values_stay_string_literals(soar_runner, soar_cloud, action, field, value, extra, expected):
    out = run_list(soar_runner, action, field, value, extra=extra)
    assert out.status == "succeeded", out.json()
    assert out.outputs["count"] == 0
    assert [e["query"]["$filter"] for e in soar_cloud.defender.log] == [expected]


# ---- runner.odata -------------------------------------------------------------------------------------

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=40))
def test_any_text_is_one_string_literal(value):
    from runner import odata

    clause = odata.eq("name", value)
    matches = compile_filter(clause)  # the simulator's OData parser: one comparison, or it fails to parse
    assert matches({"name": value})
    assert not matches({"name": value + "x"})
    both = odata.all_of(clause, odata.eq("kind", "a"))
    assert compile_filter(both)({"name": value, "kind": "a"}) and not compile_filter(both)({"name": value, "kind": "b"})


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=40) | st.sampled_from([ATTACK, "2026-01-31", "2026-01-31T08:00:00+01:00",
                                                      " 2026-01-31T08:00Z", "2026-01-31T08:00:00.1234567Z",
                                                      "1900-01-01T00:00:00Z) or (x"]))
def test_a_datetime_is_parsed_and_written_anew_or_refused(value):
    from runner import errors, odata

    try:
        text = odata.datetime(value)
    except errors.InvalidValue:
        return
    assert _TIME.fullmatch(text)


def test_datetimes_are_utc_seconds_or_milliseconds():
    import datetime as dt

    from runner import odata

    assert odata.datetime("2026-01-31T09:00:00+01:00") == "2026-01-31T08:00:00Z"
    assert odata.datetime("2026-01-31") == "2026-01-31T00:00:00Z"
    assert odata.datetime("2026-01-31T08:00:00.1239Z", milliseconds=True) == "2026-01-31T08:00:00.123Z"
    assert odata.datetime(dt.datetime(2026, 1, 31, 8, tzinfo=dt.timezone.utc)) == "2026-01-31T08:00:00Z"


@pytest.mark.parametrize("build", [
    lambda o: o.datetime(ATTACK), lambda o: o.datetime(12), lambda o: o.datetime(None),
    lambda o: o.integer("1 or 1 eq 1"), lambda o: o.integer(True), lambda o: o.boolean("true"),
    lambda o: o.guid("5382f7ea-7557-4ab7-9782-d50480024a4e) or (x"), lambda o: o.enum("High' or 'x", ["Low", "High"]),
    lambda o: o.eq("status eq 'x' or status", "y"), lambda o: o.compare("a", "eq 1 or a", 1),
    lambda o: o.all_of("status eq 'x'"), lambda o: o.eq("a", 1.5), lambda o: o.eq("a", None),
])
def test_values_of_the_wrong_type_are_refused(build):
    from runner import errors, odata

    with pytest.raises(errors.InvalidValue):
        build(odata)


def test_clauses_join_and_author_text_is_kept_apart():
    from runner import odata

    assert odata.all_of(None, None) is None
    assert odata.all_of(odata.eq("a", 1), None) == "a eq 1"
    assert odata.all_of(odata.eq("a", True), odata.raw("b eq 1 or c eq 2"), odata.ne("d", "x")) == \
        "a eq true and (b eq 1 or c eq 2) and d ne 'x'"
    assert odata.any_of(odata.eq("a", 1), odata.all_of(odata.eq("b", 2), odata.eq("c", 3))) == \
        "a eq 1 or (b eq 2 and c eq 3)"
    assert odata.raw("  ") is None and odata.raw(None) is None
    assert odata.startswith("name", "ws'") == "startswith(name,'ws''')"
    assert odata.enum("High", ["Low", "High"]) == "'High'" and odata.guid("5382F7EA-7557-4AB7-9782-D50480024A4E") == \
        "5382f7ea-7557-4ab7-9782-d50480024a4e"
