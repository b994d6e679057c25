"""``make-graph``, ``graph-match`` and ``graph-to-table``: known answers on a small datatable graph,
the errors, the limits, and Microsoft's exposure-graph queries on a hand-made exposure graph.

The graph (N: nodes, E: edges; ``ghost`` is in no nodes row):

    ip1 -routes(1)-> vm1 -authAs(2)-> id1 -logonTo(3)-> dev1 -manages(5)-> vm1
    vm2 -authAs(4)-> id1          ghost -routes(6)-> vm2
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from soar_defender.kql import KqlError, Table, run_query
from soar_defender.kql.schemas import SCHEMAS

from kql_dataset import NOW

GRAPH = (
    'let N = datatable(Id:string, Kind:string, Score:long)["vm1", "vm", 5, "vm2", "vm", 1, "id1", "identity", 3, '
    '"dev1", "device", 9, "ip1", "ip", 0];\n'
    'let E = datatable(Src:string, Dst:string, Label:string, W:long)["ip1", "vm1", "routes", 1, '
    '"vm1", "id1", "authAs", 2, "id1", "dev1", "logonTo", 3, "vm2", "id1", "authAs", 4, '
    '"dev1", "vm1", "manages", 5, "ghost", "vm2", "routes", 6];\n'
)
G = GRAPH + "E | make-graph Src --> Dst with N on Id | "

CASES = [
    # --- one edge, each direction
    ("directed", G + 'graph-match (a)-[e]->(b) where a.Kind == "vm" project a.Id, e.Label, b.Id',
     ["a_Id:string", "e_Label:string", "b_Id:string"], [("vm1", "authAs", "id1"), ("vm2", "authAs", "id1")]),
    ("against-the-edge", G + 'graph-match (a)<-[e]-(b) where a.Id == "id1" project From = b.Id, e.W',
     ["From:string", "e_W:long"], [("vm1", 2), ("vm2", 4)]),
    ("either-way", G + 'graph-match (a)--(b) where a.Id == "vm1" project b.Id',
     ["b_Id:string"], [("id1",), ("ip1",), ("dev1",)]),
    ("either-way-each-edge-twice", G + "graph-match (a)--(b) project a.Id | count", ["Count:long"], [(12,)]),
    ("anonymous-edge-filter-on-target", G + 'graph-match (a)-->(b) where b.Kind == "identity" project a.Id',
     ["a_Id:string"], [("vm1",), ("vm2",)]),
    # --- chains and repeated names
    ("chain", G + 'graph-match (a)-[e1]->(b)-[e2]->(c) where a.Kind == "vm" project a.Id, b.Id, c.Id, '
                  "w = e1.W + e2.W",
     ["a_Id:string", "b_Id:string", "c_Id:string", "w:long"], [("vm1", "id1", "dev1", 5), ("vm2", "id1", "dev1", 7)]),
    ("named-node-twice-is-a-cycle", G + "graph-match (a)-->(b)-->(c)-->(a) project a.Id, b.Id, c.Id",
     ["a_Id:string", "b_Id:string", "c_Id:string"],
     [("vm1", "id1", "dev1"), ("id1", "dev1", "vm1"), ("dev1", "vm1", "id1")]),
    ("anonymous-middle-node", G + 'graph-match (a)-->()-->(c) where a.Id == "ip1" project c.Id',
     ["c_Id:string"], [("id1",)]),
    ("two-paths-share-a-node", G + 'graph-match (a)-->(b), (c)-->(b) where a.Id == "vm1" and c.Id != a.Id '
                                   "project b.Id, c.Id",
     ["b_Id:string", "c_Id:string"], [("id1", "vm2")]),
    ("mixed-directions", G + 'graph-match (a)-->(b)<--(c) where a.Id == "ip1" project c.Id',
     ["c_Id:string"], [("dev1",)]),
    # --- variable-length edges
    ("variable-length", G + 'graph-match (s)-[p*1..3]->(t) where s.Id == "ip1" project t.Id, hops = array_length(p), '
                            "labels = map(p, Label), via = map(inner_nodes(p), Id), first = p[0].Label",
     ["t_Id:string", "hops:long", "labels:dynamic", "via:dynamic", "first:dynamic"],
     [("vm1", 1, ["routes"], [], "routes"), ("id1", 2, ["routes", "authAs"], ["vm1"], "routes"),
      ("dev1", 3, ["routes", "authAs", "logonTo"], ["vm1", "id1"], "routes")]),
    ("variable-length-minimum", G + 'graph-match (s)-[p*2..3]->(t) where s.Id == "ip1" project t.Id',
     ["t_Id:string"], [("id1",), ("dev1",)]),
    ("unique-edges-by-default", G + 'graph-match (s)-[p*1..5]->(t) where s.Id == "vm1" project t.Id, '
                                    "n = array_length(p)",
     ["t_Id:string", "n:long"], [("id1", 1), ("dev1", 2), ("vm1", 3)]),
    ("cycles-none", G + 'graph-match cycles=none (s)-[p*1..5]->(t) where s.Id == "vm1" project t.Id',
     ["t_Id:string"], [("id1",), ("dev1",)]),
    ("cycles-all", G + 'graph-match cycles=all (s)-[p*1..5]->(t) where s.Id == "vm1" project t.Id',
     ["t_Id:string"], [("id1",), ("dev1",), ("vm1",), ("id1",), ("dev1",)]),
    ("all-edges", G + 'graph-match (s)-[p*1..3]->(t) where s.Id == "vm2" and all(p, W > 3) project t.Id',
     ["t_Id:string"], [("id1",)]),
    ("any-edge", G + 'graph-match (s)-[p*1..3]->(t) where s.Id == "vm2" and any(p, Label == "manages") project t.Id',
     ["t_Id:string"], [("vm1",)]),
    ("all-inner-nodes", G + 'graph-match (s)-[p*1..3]->(t) where s.Id == "ip1" and all(inner_nodes(p), Kind == "vm") '
                            "project t.Id",
     ["t_Id:string"], [("vm1",), ("id1",)]),
    ("variable-length-against-the-edge", G + 'graph-match (t)<-[p*1..2]-(s) where t.Id == "id1" project s.Id',
     ["s_Id:string"], [("vm1",), ("ip1",), ("dev1",), ("vm2",), ("",)]),  # ghost has no Id property
    # --- nodes: from a table, implicit, with_node_id
    ("implicit-node-has-null-properties", G + 'graph-match (a)-[e]->(b) where b.Id == "vm2" '
                                              "project a.Id, none = isempty(a.Kind), isnull(a.Score), e.W",
     ["a_Id:string", "none:bool", "Column1:bool", "e_W:long"], [("", True, True, 6)]),
    ("filtered-nodes-table", GRAPH + 'E | make-graph Src --> Dst with (N | where Kind != "ip") on Id '
                                     '| graph-match (a)-->(b) where b.Id == "vm1" project a.Kind',
     ["a_Kind:string"], [("device",), ("",)]),  # the nodes table's rows come first
    ("two-nodes-tables", GRAPH + 'let M = datatable(Id:string, Owner:string)["ghost", "eve"]; '
                                 "E | make-graph Src --> Dst with N on Id, M on Id "
                                 '| graph-match (a)-->(b) where b.Id == "vm2" project a.Id, a.Owner, a.Kind',
     ["a_Id:string", "a_Owner:string", "a_Kind:string"], [("ghost", "eve", "")]),
    ("with-node-id", GRAPH + 'E | make-graph Src --> Dst with_node_id=Name | graph-match (a)-->(b) '
                             'where b.Name == "vm2" project a.Name',
     ["a_Name:string"], [("ghost",)]),
    ("long-ids-and-dynamic-properties",
     'let V = datatable(Key:long, Props:dynamic)[1, dynamic({"tags": ["a", "b"]}), 2, dynamic({"tags": []})];\n'
     "datatable(From:long, To:long)[1, 2, 2, 3] | make-graph From --> To with V on Key "
     "| graph-match (x)-->(y) project x.Key, y.Key, tag = tostring(x.Props.tags[0])",
     ["x_Key:long", "y_Key:long", "tag:string"], [(1, 2, "a"), (2, None, "")]),
    ("self-loop", "datatable(s:string, t:string)['x', 'x'] | make-graph s --> t with_node_id=n "
                  "| graph-match (a)--(b) project a.n, b.n",
     ["a_n:string", "b_n:string"], [("x", "x")]),
    ("null-ends-left-out", "datatable(s:long, t:long)[1, 2, 2, long(null)] | make-graph s --> t with_node_id=n "
                           "| graph-to-table nodes",
     ["n:long"], [(1,), (2,)]),
    # --- results flow on; empty graphs
    ("pipeline-continues", G + "graph-match (a)-->(b) project k = b.Kind | summarize c = count() by k | order by k asc",
     ["k:string", "c:long"], [("device", 1), ("identity", 2), ("vm", 3)]),
    ("empty-graph", GRAPH + "E | where false | make-graph Src --> Dst with N on Id "
                            "| graph-match (a)-[e]->(b) project a.Id, e.W",
     ["a_Id:string", "e_W:long"], []),
    ("nodes-without-edges-match-nothing", GRAPH + "E | where false | make-graph Src --> Dst with N on Id "
                                                  "| graph-match (a)-->(b) project a.Id",
     ["a_Id:string"], []),
    ("constant-false-where", G + "graph-match (a)-->(b) where 1 > 2 project a.Id", ["a_Id:string"], []),
    # --- graph-to-table
    ("nodes-table", G + "graph-to-table nodes with_node_id=NodeId | where Kind == '' or Score > 4",
     ["NodeId:string", "Id:string", "Kind:string", "Score:long"],
     [("vm1", "vm1", "vm", 5), ("dev1", "dev1", "device", 9), ("ghost", "", "", None)]),
    ("edges-table", G + "graph-to-table edges with_source_id=From with_target_id=To | take 2",
     ["From:string", "To:string", "Src:string", "Dst:string", "Label:string", "W:long"],
     [("ip1", "vm1", "ip1", "vm1", "routes", 1), ("vm1", "id1", "vm1", "id1", "authAs", 2)]),
]


def _rows(result) -> list[tuple]:
    names = [c.name for c in result.columns]
    return [tuple(r[n] for n in names) for r in result.to_json_rows()]


@pytest.mark.parametrize("query,columns,rows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_graph_answers(query, columns, rows):
    result = run_query(query, {}, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == columns
    assert _rows(result) == rows


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


def _pos(query: str, needle: str) -> tuple[int, int]:
    """Where ``needle`` starts in ``query`` (or its character after a '^')."""
    offset = query.index(needle.replace("^", "")) + max(needle.find("^"), 0)
    return query.count("\n", 0, offset) + 1, offset - (query.rfind("\n", 0, offset) + 1) + 1


# (id, query, code, operator, where: needle in the query, message fragment)
ERRORS = [
    ("no-graph-operator", GRAPH + "E | make-graph Src --> Dst | project Src", "SyntaxError", "make-graph",
     "project Src", "a graph is not a table"),
    ("graph-at-the-end", GRAPH + "E | make-graph Src --> Dst ", "SyntaxError", "make-graph", "\0",
     "follow it with '| graph-match ...'"),
    ("graph-match-on-a-table", GRAPH + "E | graph-match (a)-->(b) project a.Id", "SyntaxError", "graph-match",
     "graph-match", "reads a graph, not a table"),
    ("bad-arrow", GRAPH + "E | make-graph Src -> Dst | graph-to-table nodes", "SyntaxError", "make-graph", "-> Dst",
     "expected '-->'"),
    ("unknown-source-column", GRAPH + "E | make-graph Sr --> Dst | graph-to-table edges", "SemanticError",
     "make-graph", "Sr -->", "Failed to resolve the source column 'Sr'"),
    ("id-types-differ", GRAPH + "let L = datatable(Id:long)[1]; E | make-graph Src --> Dst with L on Id "
                                "| graph-to-table nodes", "SemanticError", "make-graph", "Id |",
     "the node id column 'Id' is of type long"),
    ("unknown-property", G + "graph-match (a)-->(b) where a.Kin == 'vm' project b.Id", "SemanticError",
     "graph-match", ".Kin", "the node 'a' has no property 'Kin'"),
    ("unknown-edge-property", G + "graph-match (a)-[e]->(b) project e.Weight", "SemanticError", "graph-match",
     ".Weight", "the edge 'e' has no property 'Weight'"),
    ("path-property", G + "graph-match (a)-[p*1..2]->(b) project p.W", "SemanticError", "graph-match", ".W",
     "read their properties with map(p, W)"),
    ("node-as-value", G + "graph-match (a)-->(b) project a", "NotSupported", "graph-match", "project ^a",
     "'node variable 'a' used as a value' is not supported"),
    ("all-on-a-single-edge", G + "graph-match (a)-[e]->(b) where all(e, W > 1) project a.Id", "SemanticError",
     "graph-match", "e, W", "'e' is not a variable-length edge"),
    ("inner-nodes-alone", G + "graph-match (a)-[p*1..2]->(b) project inner_nodes(p)", "SemanticError",
     "graph-match", "inner_nodes", "inner_nodes() can only be the first argument"),
    ("no-project", G + "graph-match (a)-->(b) where a.Id == 'x'", "NotSupported", "graph-match", "\0",
     "'graph-match without project' is not supported"),
    ("predicate-not-bool", G + "graph-match (a)-->(b) where a.Score project a.Id", "SemanticError", "graph-match",
     ".Score", "the predicate must be a Boolean expression, not long"),
    ("edge-name-twice", G + "graph-match (a)-[e]->(b)-[e]->(c) project a.Id", "SemanticError", "graph-match",
     "-[e]->(c)", "the edge 'e' has the name of another edge"),
    ("node-and-edge-names-clash", G + "graph-match (a)-[a]->(b) project b.Id", "SemanticError", "graph-match",
     "-[a]", "the edge 'a' has the name of a node"),
    ("both-ways-arrow", G + "graph-match (a)<-[e]->(b) project a.Id", "SyntaxError", "graph-match", "<-[e]",
     "an edge points one way or none"),
    ("node-label", G + "graph-match (a:Person)-->(b) project a.Id", "NotSupported", "graph-match", ":Person",
     "'node labels in a graph pattern' is not supported"),
    ("too-long", G + "graph-match (a)-[p*1..11]->(b) project a.Id", "LimitsExceeded", "graph-match", "11]",
     "at most 10 times"),
    ("zero-length", G + "graph-match (a)-[p*0..2]->(b) project a.Id", "NotSupported", "graph-match", "*0",
     "'a variable-length edge of length 0' is not supported"),
    ("bad-bounds", G + "graph-match (a)-[p*3..2]->(b) project a.Id", "SyntaxError", "graph-match", "2]",
     "the maximum length 2 is below the minimum 3"),
    ("shortest-paths", GRAPH + "E | make-graph Src --> Dst | graph-shortest-paths (a)-[p*1..3]->(b) project a",
     "NotSupported", "graph-shortest-paths", "graph-shortest-paths", "'graph-shortest-paths' is not supported"),
    ("persisted-graph", 'graph("Exposure") | graph-match (a)-->(b) project a.Id', "NotSupported", "graph", "graph(",
     "'graph()' is not supported"),
    ("two-tables-out", G + "graph-to-table nodes as N2, edges as E2", "NotSupported", "graph-to-table",
     "graph-to-table", "'graph-to-table nodes and edges together' is not supported"),
    ("id-column-clash", G + "graph-to-table nodes with_node_id=Kind", "SemanticError", "graph-to-table",
     "graph-to-table", "duplicate column name 'Kind'"),
]


@pytest.mark.parametrize("query,code,operator,where,fragment", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_graph_errors(query, code, operator, where, fragment):
    with pytest.raises(KqlError) as info:
        run_query(query, {}, now=NOW)
    err = info.value
    assert err.code == code, err.message
    assert fragment in err.message, err.message
    assert err.operator == operator, err.message
    if where == "\0":  # the end of the query
        assert err.line == query.count("\n") + 1, err.message
    else:
        assert (err.line, err.column) == _pos(query, where), err.message


def test_error_ids_are_unique():
    assert len({e[0] for e in ERRORS}) == len(ERRORS)


@pytest.mark.parametrize("limit,value", [("MAX_MATCHES", 2), ("MAX_STEPS", 10)])
def test_limits_are_limits_errors(monkeypatch, limit, value):
    from soar_defender.kql import graph_match
    monkeypatch.setattr(graph_match, limit, value)
    with pytest.raises(KqlError) as info:
        run_query(G + "graph-match (a)-[p*1..3]->(b) project a.Id", {}, now=NOW)
    assert info.value.code == "LimitsExceeded", info.value.message
    assert f"{value:,}" in info.value.message


# ---- Microsoft's exposure-graph queries on a hand-made exposure graph ----------------------------

def _node(node_id, label, name, categories, raw, entity_type, entity_id):
    return {"NodeId": node_id, "NodeLabel": label, "NodeName": name, "Categories": categories,
            "NodeProperties": {"rawData": raw}, "EntityIds": [{"type": entity_type, "id": entity_id}]}


VM = "microsoft.compute/virtualmachines"
NODES = [
    _node("vmA", VM, "vm-a", ["compute", "virtual_machine"],
          {"exposedToInternet": True, "criticalityLevel": {"criticalityLevel": 1}}, "AzureResourceId", "/vms/a"),
    _node("ipX", "microsoft.network/publicipaddresses", "20.1.2.3", ["ip_address"], {"ipAddress": "20.1.2.3"},
          "IpAddress", "20.1.2.3"),
    _node("user1", "user", "alice", ["identity"], {}, "SecurityIdentifier", "S-1-5-21-1"),
    _node("dev1", "device", "pc1", ["device"], {"vulnerableToRCE": {"cve": "CVE-1"},
                                                "criticalityLevel": {"criticalityLevel": 5}},
          "DeviceInventoryId", "dev-1"),
    _node("dev2", "device", "srv2", ["device"], {"criticalityLevel": {"criticalityLevel": 0}},
          "DeviceInventoryId", "dev-2"),
    _node("dev3", "device", "pc3", ["device"], {"criticalityLevel": {"criticalityLevel": 6}},
          "DeviceInventoryId", "dev-3"),
]
EDGES = [{"EdgeId": f"e{i}", "EdgeLabel": label, "SourceNodeId": a, "TargetNodeId": b}
         for i, (a, label, b) in enumerate([
             ("ipX", "routes traffic to", "vmA"), ("vmA", "Can Authenticate As", "user1"),
             ("user1", "CanRemoteInteractiveLogonTo", "dev2"), ("dev1", "Can Authenticate As", "user1"),
             ("dev3", "Can Authenticate As", "user1"), ("user1", "has permissions to", "vmA")], 1)]

# query name → (columns, rows): worked out by hand from the graph above
EXPOSURE = {
    "incoming-node-labels-to-vm": (["IncomingNodeLabels:string"],
                                   [("microsoft.network/publicipaddresses",), ("user",)]),
    "outgoing-node-labels-from-vm": (["OutgoingNodeLabels:string"], [(VM,)]),
    "hybrid-attack-paths": (["CloudVMName:string", "IdentityName:string", "OnPremDeviceName:string"],
                            [("vm-a", "alice", "srv2")]),
    # dev1 and dev3 (criticality above 4) can authenticate as alice; vmA's edge reaches a node that
    # the nodes table left out, so it has no properties and fails the filter
    "users-logged-in-to-several-critical-devices": (
        ["Number Of devices user is logged-in to:long", "User Id:string"], [(2, "S-1-5-21-1")]),
    "rce-devices-with-paths-to-critical-devices": (
        ["DeviceWithRCEIds:dynamic", "DeviceWithRCEName:string", "CriticalDeviceIds:dynamic",
         "CriticalDeviceName:string"],
        [([{"type": "DeviceInventoryId", "id": "dev-1"}], "pc1", [{"type": "DeviceInventoryId", "id": "dev-2"}],
          "srv2")]),
    # two paths: ipX -> vmA, and ipX -> vmA -> user1 -> vmA (no edge twice, so it counts)
    "paths-from-ip-to-vm": (["IpIds:dynamic", "IpProperties:dynamic", "VmIds:dynamic", "VmProperties:dynamic"],
                            [([{"type": "IpAddress", "id": "20.1.2.3"}], {"ipAddress": "20.1.2.3"},
                              [{"type": "AzureResourceId", "id": "/vms/a"}], NODES[0]["NodeProperties"]["rawData"])]
                            * 2),
}


def _corpus_queries() -> dict[str, str]:
    root = Path(__file__).resolve().parents[1] / "kql_corpus"
    spec = importlib.util.spec_from_file_location("kql_corpus_harness_graph", root / "harness.py")
    harness = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = harness  # its dataclasses look their module up there
        spec.loader.exec_module(harness)
    queries = harness.parse_file(root / "msdocs" / "query-enterprise-exposure-graph.kql", "msdocs")
    return {q.name.split("/", 1)[1]: q.text for q in queries}


@pytest.fixture(scope="module")
def exposure_tables() -> dict[str, Table]:
    return {"ExposureGraphNodes": Table("ExposureGraphNodes", SCHEMAS["ExposureGraphNodes"], NODES),
            "ExposureGraphEdges": Table("ExposureGraphEdges", SCHEMAS["ExposureGraphEdges"], EDGES)}


def test_every_graph_query_of_the_page_is_checked():
    graph_queries = {name for name, text in _corpus_queries().items() if "make-graph" in text}
    assert graph_queries == set(EXPOSURE)


@pytest.mark.parametrize("name", sorted(EXPOSURE))
def test_exposure_graph_queries(exposure_tables, name):
    columns, rows = EXPOSURE[name]
    result = run_query(_corpus_queries()[name], exposure_tables, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == columns
    assert sorted(map(repr, _rows(result))) == sorted(map(repr, rows))


@pytest.mark.parametrize("name", sorted(EXPOSURE))
def test_exposure_graph_queries_on_empty_tables(name):
    empty = {t: Table(t, SCHEMAS[t], []) for t in ("ExposureGraphNodes", "ExposureGraphEdges")}
    result = run_query(_corpus_queries()[name], empty, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == EXPOSURE[name][0]
    assert result.rows == []
