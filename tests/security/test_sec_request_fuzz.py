"""Issue #13: untrusted input never changes which call is made — fuzzed.

For each Defender action that takes an id or a filter value, arbitrary text (and near-misses:
real ids with a suffix, traversals, escapes, quotes) goes into those inputs. Every request the
simulated API then receives must have the method and path template the action is written for —
the same number of path segments, the same fixed segments, a value segment that is neither empty
nor a dot segment — no query keys but the expected ones, and a ``$filter`` made only of the
action's own clauses with one literal each. Or the action is refused before anything is sent.
The simulator logs the path as it was sent (escapes kept), so an escaped ``/`` stays inside its
segment here, as on a real API front end."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runner.errors import SoarError
from soar_defender.sim.odata import ODataError, _tokens
from runner.testing import SoarRunner, make_cloud

LIST_QUERY = {"$filter", "$top", "$skip"}


@dataclass(frozen=True)
class Shape:
    method: str
    path: str                      # '*' marks the one value segment
    query: frozenset = frozenset()
    clauses: tuple = ()            # the $filter's allowed clauses, literals written as L

    def matches(self, entry: dict) -> bool:
        if entry["method"] != self.method:
            return False
        want, got = self.path.split("/"), entry["path"].split("/")
        if len(want) != len(got):
            return False
        for w, g in zip(want, got):
            if w == "*":
                if g in ("", ".", "..") or "?" in g or "#" in g:
                    return False
            elif w.lower() != g.lower():
                return False
        return True


@dataclass(frozen=True)
class Case:
    action: str
    fuzzed: dict                   # input -> strategy name
    shapes: tuple
    fixed: dict = field(default_factory=dict)
    optional: tuple = ()           # inputs an example may leave out (filters: any subset is a call)


def _skeleton(text: str) -> list[str]:
    """The $filter's clauses (split on top-level 'and'), literals written as L."""
    out: list[str] = []
    for kind, value in _tokens(text):
        out.append("L" if kind == "lit" else str(value))
    return " ".join(out).split(" and ")


def check_request(entry: dict, shapes: tuple) -> None:
    shape = next((s for s in shapes if s.matches(entry)), None)
    assert shape is not None, f"unexpected call: {entry['method']} {entry['path']}"
    assert set(entry["query"]) <= shape.query, f"unexpected query keys: {sorted(entry['query'])}"
    flt = entry["query"].get("$filter")
    if flt is not None:
        try:
            clauses = _skeleton(flt)
        except ODataError as exc:  # pragma: no cover - a literal that does not even tokenize
            raise AssertionError(f"$filter does not parse: {flt!r}") from exc
        assert all(c in shape.clauses for c in clauses), f"$filter changed shape: {flt!r} -> {clauses}"
        assert len(set(clauses)) == len(clauses), f"a clause repeated: {flt!r}"


MA = Shape("GET", "/api/machineactions", frozenset(LIST_QUERY),
           ("machineId eq L", "type eq L", "status eq L"))
INC_XDR = ("status eq L", "lastUpdateTime ge L", "createdTime ge L", "assignedTo eq L")
INC_GRAPH = ("status eq L", "lastUpdateDateTime ge L", "createdDateTime ge L", "assignedTo eq L")

CASES = [
    Case("defender.isolate_machine", {"machine_id": "machine", "comment": "text"},
         (MA, Shape("POST", "/api/machines/*/isolate"))),
    Case("defender.collect_investigation_package", {"machine_id": "machine"},
         (MA, Shape("POST", "/api/machines/*/collectInvestigationPackage"))),
    Case("defender.get_machine", {"machine_id": "machine"}, (Shape("GET", "/api/machines/*"),)),
    Case("defender.list_machine_actions", {"machine_id": "machine", "type": "text"}, (MA,),
         optional=("machine_id", "type")),
    Case("defender.get_machine_action", {"action_id": "guid"}, (Shape("GET", "/api/machineactions/*"),)),
    Case("defender.cancel_machine_action", {"action_id": "guid", "comment": "text"},
         (Shape("GET", "/api/machineactions/*"), Shape("POST", "/api/machineactions/*/cancel"))),
    Case("defender.get_alert", {"alert_id": "alert"}, (Shape("GET", "/api/alerts/*"),)),
    Case("defender.update_alert", {"alert_id": "alert", "comment": "text"},
         (Shape("PATCH", "/api/alerts/*"), Shape("GET", "/api/alerts/*"))),
    Case("defender.list_alerts", {"updated_since": "time", "machine_id": "machine"},
         (Shape("GET", "/api/alerts", frozenset(LIST_QUERY), ("lastUpdateTime ge L",)),),
         optional=("updated_since", "machine_id")),
    Case("defender.get_incident", {"incident_id": "incident"},
         (Shape("GET", "/api/incidents/*"),), {"api": "xdr"}),
    Case("defender.get_incident", {"incident_id": "incident"},
         (Shape("GET", "/v1.0/security/incidents/*", frozenset({"$expand"})),), {"api": "graph"}),
    Case("defender.update_incident", {"incident_id": "incident", "comment": "text"},
         (Shape("PATCH", "/api/incidents/*"),), {"api": "xdr"}),
    Case("defender.update_incident", {"incident_id": "incident", "comment": "text"},
         (Shape("POST", "/v1.0/security/incidents/*/comments"),
          Shape("GET", "/v1.0/security/incidents/*", frozenset({"$expand"}))), {"api": "graph"}),
    Case("defender.list_incidents", {"updated_since": "time", "created_since": "time", "assigned_to": "text"},
         (Shape("GET", "/api/incidents", frozenset(LIST_QUERY), INC_XDR),), {"api": "xdr", "status": "Active"},
         optional=("updated_since", "created_since", "assigned_to")),
    Case("defender.list_incidents", {"updated_since": "time", "assigned_to": "text"},
         (Shape("GET", "/v1.0/security/incidents", frozenset(LIST_QUERY | {"$expand"}), INC_GRAPH),),
         {"api": "graph"}, optional=("updated_since", "assigned_to")),
    Case("defender.list_machines", {"tag": "text", "health_status": "text", "os_platform": "text"},
         (Shape("GET", "/api/machines", frozenset(LIST_QUERY),
                ("healthStatus eq L", "osPlatform eq L", "machineTags/any ( v : v eq L )")),),
         optional=("tag", "health_status", "os_platform")),
    Case("defender.find_machine", {"dns_name": "text"},
         (Shape("GET", "/api/machines", frozenset(LIST_QUERY),
                ("computerDnsName eq L", "startswith ( computerDnsName , L )")),)),
    Case("defender.list_indicators", {"value": "text", "action": "text"},
         (Shape("GET", "/api/indicators", frozenset(LIST_QUERY), ("indicatorValue eq L", "action eq L")),),
         optional=("value", "action")),
    Case("defender.delete_indicator", {"indicator_id": "indicator"}, (Shape("DELETE", "/api/indicators/*"),)),
    Case("defender.delete_indicator", {"value": "text"},
         (Shape("GET", "/api/indicators", frozenset(LIST_QUERY), ("indicatorValue eq L",)),
          Shape("DELETE", "/api/indicators/*"))),
]

HOSTILE = ["/isolate?x=", "?$select=id", "/../../api/indicators?", "/..", "#frag", "%2F..%2F", "%00", "\\..\\",
           "') or (true", "' or 1 eq 1 or '", ") or (createdTime ge 1900-01-01T00:00:00Z", " ", "/", "\n", "?", ";x"]


@pytest.fixture(scope="module")
def world():
    runner = SoarRunner(make_cloud(["contoso"], defender={"quotas": False, "devices_per_tenant": 3}), quotas="off",
                        retry={"attempts": 1, "backoff": 0.0})
    data = runner.defender.tenant("contoso")
    valid = {
        "machine": data.devices[0]["id"],
        "guid": "5382f7ea-7557-4ab7-9782-d50480024a4e",
        "alert": data.alerts[0]["id"],
        "incident": str(data.incidents[0]["incidentId"]),
        "indicator": str(data.indicators[0]["id"]),
        "time": "2026-01-01T00:00:00Z",
        "text": "Active",
    }
    yield runner, valid
    runner.close()


def values(kind: str, valid: dict) -> st.SearchStrategy:
    good = valid[kind]
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(HOSTILE),
        st.builds(lambda v, h: v + h, st.just(good), st.sampled_from(HOSTILE)),
        st.builds(lambda h, v: h + v, st.sampled_from(HOSTILE), st.just(good)),
        st.just(good),
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.action}-{c.fixed.get('api', '')}".rstrip("-"))
def test_untrusted_inputs_never_change_the_request_line(world, case):
    runner, valid = world
    sim = runner.defender
    inputs = st.fixed_dictionaries(
        {name: values(kind, valid) for name, kind in case.fuzzed.items() if name not in case.optional},
        optional={name: values(kind, valid) for name, kind in case.fuzzed.items() if name in case.optional})
    seen = {"sent": 0, "refused": 0}

    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(inputs)
    def one(given_inputs):
        sim.clear_log()
        try:
            runner.action(case.action, tenant="contoso", **case.fixed, **given_inputs)
        except ValidationError:
            assert sim.log == [], "an input was refused after a request was sent"
            seen["refused"] += 1
            return
        except SoarError:
            pass  # the API said no (404, 400): fine, as long as the call was the right one
        for entry in sim.log:
            check_request(entry, case.shapes)
        seen["sent"] += bool(sim.log)

    one()
    assert seen["sent"] > 0, f"no example reached the API: the test proves nothing ({seen})"


def test_the_shapes_reject_a_steered_request():
    """The checker itself: the requests the issue's attacks produced fail it."""
    iso = Shape("POST", "/api/machines/*/collectInvestigationPackage")
    with pytest.raises(AssertionError):
        check_request({"method": "POST", "path": "/api/machines/ab12/isolate", "query": {"x": ""}}, (MA, iso))
    with pytest.raises(AssertionError):
        check_request({"method": "POST", "path": "/api/indicators", "query": {"/isolate": ""}}, (MA, iso))
    with pytest.raises(AssertionError):
        check_request({"method": "GET", "path": "/api/incidents", "query": {
            "$filter": "status eq 'Resolved' and lastUpdateTime ge 1900-01-01T00:00:00Z) or (createdTime ge "
                       "1900-01-01T00:00:00Z"}}, (Shape("GET", "/api/incidents", frozenset(LIST_QUERY), INC_XDR),))
    check_request({"method": "POST", "path": "/api/machines/ab%2F..%2Fisolate/collectInvestigationPackage",
                   "query": {}}, (MA, iso))
    assert re.fullmatch(r"L", _skeleton("'a'' or ''b'")[0])
