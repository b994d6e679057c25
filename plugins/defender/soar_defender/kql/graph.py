"""``make-graph`` and ``graph-to-table``; graph_match.py runs ``graph-match`` on the graph built here.

The parser fuses ``make-graph ... | graph-match ...`` into one step (graph_parser.py), so a graph
exists only inside that step. How the graph is made, as Kusto documents it:

- each row of the piped table is an edge, with the row's columns as its properties;
- each row of a nodes table (``with Nodes on NodeId``) is a node, with the row's columns as its
  properties. An id that several rows share keeps its first row;
- an id that edges use but no nodes table has becomes a node with no properties (its
  properties read as null), or, with ``with_node_id=Name``, with the one property ``Name``;
- edges whose source or target is null are left out.
"""

from __future__ import annotations

from .errors import did_you_mean, semantic_error
from .graph_match import graph_match
from .graph_parser import GraphMatch, MakeGraph
from .model import Column, Relation, null_of


class Graph:
    """Nodes by index (``ids``, ``nodes``: full property dicts), edges by index (``edges``: the
    edge rows, ``src``/``tgt``: node indexes) and the adjacency lists of edge indexes."""

    def __init__(self, node_types: dict[str, str], edge_types: dict[str, str]) -> None:
        self.node_types = node_types
        self.edge_types = edge_types
        self.ids: list = []
        self.nodes: list[dict] = []
        self.index: dict = {}
        self.edges: list[dict] = []
        self.src: list[int] = []
        self.tgt: list[int] = []
        self.out: list[list[int]] = []
        self.inc: list[list[int]] = []

    def add_node(self, node_id, properties: dict) -> int:
        at = self.index.get(node_id)
        if at is None:
            at = self.index[node_id] = len(self.ids)
            self.ids.append(node_id)
            self.nodes.append(properties)
            self.out.append([])
            self.inc.append([])
        return at

    def add_edge(self, row: dict, source: int, target: int) -> None:
        at = len(self.edges)
        self.edges.append(row)
        self.src.append(source)
        self.tgt.append(target)
        self.out[source].append(at)
        self.inc[target].append(at)


def _same_type(a: str, b: str) -> bool:
    return (a if a != "int" else "long") == (b if b != "int" else "long")


def _column(rel: Relation, name, what: str) -> str:
    types = rel.types()
    if name.name not in types:
        raise semantic_error("make-graph", name.pos, f"Failed to resolve the {what} column '{name.name}'",
                             hint=did_you_mean(name.name, types), name=name.name)
    return types[name.name]


def build_graph(ev, spec: MakeGraph, rel: Relation, env: dict) -> Graph:
    id_type = _column(rel, spec.source, "source")
    target_type = _column(rel, spec.target, "target")
    if not _same_type(id_type, target_type):
        raise semantic_error("make-graph", spec.target.pos, f"the source column is of type {id_type} but the "
                                                            f"target column is of type {target_type}")
    if id_type == "dynamic":
        raise semantic_error("make-graph", spec.source.pos, "node ids must be scalar values, not dynamic "
                                                            "(convert them with tostring())")
    tables = []
    node_types: dict[str, str] = {}
    for table, column in spec.nodes:
        nodes = ev.source(table, env)
        kql = _column(nodes, column, "node id")
        if not _same_type(kql, id_type):
            raise semantic_error("make-graph", column.pos, f"the node id column '{column.name}' is of type {kql}, "
                                                           f"but the edges' node ids are of type {id_type}",
                                 name=column.name)
        for c in nodes.columns:
            if not _same_type(node_types.setdefault(c.name, c.type), c.type):
                raise semantic_error("make-graph", column.pos, f"the nodes tables give the property '{c.name}' "
                                                               f"two types, {node_types[c.name]} and {c.type}",
                                     name=c.name)
        tables.append((nodes, column.name))
    if spec.node_id is not None:
        node_types = {spec.node_id: id_type}
    graph = Graph(node_types, rel.types())
    empty = {p: null_of(t) for p, t in node_types.items()}
    for nodes, column in tables:
        for row in nodes.rows:
            if row[column] is not None:
                graph.add_node(row[column], {**empty, **row})
    source, target = spec.source.name, spec.target.name
    for row in rel.rows:
        a, b = row[source], row[target]
        if a is None or b is None:
            continue
        ia, ib = graph.index.get(a), graph.index.get(b)
        ia = graph.add_node(a, _implicit(spec, empty, a)) if ia is None else ia
        ib = graph.add_node(b, _implicit(spec, empty, b)) if ib is None else ib
        graph.add_edge(row, ia, ib)
    return graph


def _implicit(spec: MakeGraph, empty: dict, node_id) -> dict:
    return {spec.node_id: node_id} if spec.node_id is not None else dict(empty)


def graph_to_table(spec, graph: Graph, id_type: str) -> Relation:
    if spec.what == "nodes":
        extra = [(spec.node_id, id_type, graph.ids)] if spec.node_id else []
        types, rows = graph.node_types, graph.nodes
    else:
        extra = [(n, id_type, [graph.ids[i] for i in ends]) for n, ends in
                 ((spec.source_id, graph.src), (spec.target_id, graph.tgt)) if n]
        types, rows = graph.edge_types, graph.edges
    columns = [Column(n, t) for n, t, _ in extra] + [Column(n, t) for n, t in types.items()]
    names = [c.name for c in columns]
    for n in names:
        if names.count(n) > 1:
            raise semantic_error("graph-to-table", spec.pos, f"duplicate column name '{n}'", name=n)
    out = [dict(r) for r in rows]
    for n, _, values in extra:
        for r, v in zip(out, values):
            r[n] = v
    return Relation(columns, out)


def make_graph(ev, op, rel: Relation, env: dict) -> Relation:
    spec: MakeGraph = op.args[0]
    graph = build_graph(ev, spec, rel, env)
    if isinstance(spec.then, GraphMatch):
        return graph_match(ev, spec.then, graph, env)
    return graph_to_table(spec.then, graph, rel.types()[spec.source.name])


OPERATORS = {"make-graph": make_graph}
