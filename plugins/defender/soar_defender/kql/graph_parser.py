"""The syntax of ``make-graph`` and of the graph operators that read its graph.

A graph is not a table: only a graph operator can read it. The parser therefore takes
``make-graph ... | graph-match ...`` (or ``| graph-to-table ...``) as one step,
``Operator("make-graph", (MakeGraph,))``, and the graph never flows through the pipeline
(graph.py evaluates the step). The forms::

    make-graph Source --> Target [with Nodes on NodeId [, Nodes2 on NodeId2]]
    make-graph Source --> Target [with_node_id=Name]
    graph-match [cycles=unique_edges|all|none] (a)-[e]->(b)<-[*1..3]-(c)--(d), (a)-->() [where ...] project ...
    graph-to-table nodes [with_node_id=Col]  /  graph-to-table edges [with_source_id=Col] [with_target_id=Col]
"""

from __future__ import annotations

from dataclasses import dataclass

from . import syntax as s

#: A variable-length edge may repeat at most this many times (``-[e*1..10]->``).
MAX_PATH_LENGTH = 10
CYCLES = ("unique_edges", "all", "none")
_UNSUPPORTED_GRAPH_OPERATORS = ("graph-shortest-paths", "graph-mark-components", "graph-merge")


@dataclass(frozen=True, slots=True)
class NodePattern:
    """``(name)`` or ``()``."""
    name: str | None
    pos: s.Pos


@dataclass(frozen=True, slots=True)
class EdgePattern:
    """``-[name]->``, ``<--``, ``--``, ``-[name*low..high]->``: ``direction`` is ``->`` (left to
    right), ``<-`` or ``--`` (either way); ``variable`` for the ``*low..high`` form."""
    name: str | None
    direction: str
    low: int
    high: int
    variable: bool
    pos: s.Pos


@dataclass(frozen=True, slots=True)
class GraphMatch:
    """``paths``: each a tuple node, edge, node, edge, node ... (``(a)-->(b), (b)-->(c)`` is two)."""
    cycles: str
    paths: tuple
    where: object
    project: tuple  # s.Assign, ...
    pos: s.Pos


@dataclass(frozen=True, slots=True)
class GraphToTable:
    what: str  # "nodes" or "edges"
    node_id: str | None
    source_id: str | None
    target_id: str | None
    pos: s.Pos


@dataclass(frozen=True, slots=True)
class MakeGraph:
    source: s.Name
    target: s.Name
    nodes: tuple  # ((Pipeline, id column Name), ...)
    node_id: str | None  # with_node_id=
    then: GraphMatch | GraphToTable
    pos: s.Pos


def parse_make_graph(p, tok) -> s.Operator:
    """``make-graph ...`` and the graph operator after it; ``p`` is the statement parser."""
    source = p.name("(the edges' source column) after 'make-graph'")
    if not (p.peek().is_op("-") and p.peek(1).is_op("-") and p.peek(2).is_op(">")):
        raise p.error(p.peek(), "expected '-->' between the source and target columns of 'make-graph'",
                      operator="make-graph")
    p.next(), p.next(), p.next()
    target = p.name("(the edges' target column) after '-->'")
    nodes: list = []
    node_id = None
    if p.peek().is_word("with"):
        p.next()
        nodes = p.comma_list(lambda: _nodes_table(p))
    elif p.peek().is_word("with_node_id") and p.peek(1).is_op("="):
        p.next(), p.next()
        node_id = p.name("after 'with_node_id='").value
    bar = p.peek()
    if not bar.is_op("|"):
        raise p.error(bar, "'make-graph' makes a graph, which only a graph operator reads: follow it "
                           "with '| graph-match ...' or '| graph-to-table ...'", operator="make-graph")
    p.next()
    op = p.peek()
    if op.is_word("graph-match"):
        then = parse_graph_match(p, p.next())
    elif op.is_word("graph-to-table"):
        then = parse_graph_to_table(p, p.next())
    elif op.is_word(*_UNSUPPORTED_GRAPH_OPERATORS):
        raise p.unsupported(op, op.value, operator=op.value)
    else:
        raise p.error(op, "expected a graph operator (graph-match or graph-to-table) after 'make-graph': "
                          "a graph is not a table", operator="make-graph")
    return s.Operator("make-graph", (MakeGraph(s.Name(source.value, source.pos), s.Name(target.value, target.pos),
                                               tuple(nodes), node_id, then, tok.pos),), tok.pos)


def _nodes_table(p) -> tuple:
    start = p.peek()
    if start.is_op("("):
        p.next()
        table = p.tabular()
        p.expect_op(")", "to close the nodes table of 'make-graph'")
    elif start.kind == "ident" or start.is_op("["):
        table = s.Pipeline(p.source(), (), start.pos)
    else:
        raise p.error(start, "expected a nodes table (a name or a (subquery)) after 'with'", operator="make-graph")
    p.expect_word("on", "after the nodes table of 'make-graph' (with Nodes on NodeId)")
    column = p.name("(the nodes' id column) after 'on'")
    return table, s.Name(column.value, column.pos)


def parse_graph_to_table(p, tok) -> GraphToTable:
    what = p.peek()
    if not what.is_word("nodes", "edges"):
        raise p.error(what, "expected 'nodes' or 'edges' after 'graph-to-table'", operator="graph-to-table")
    p.next()
    ids: dict[str, str] = {}
    allowed = ("with_node_id",) if what.value == "nodes" else ("with_source_id", "with_target_id")
    while True:
        t = p.peek()
        if t.is_word("as"):
            p.next()
            p.name("after 'as'")  # names the one table: the rows are the same
        elif t.kind == "ident" and t.value in ("with_node_id", "with_source_id", "with_target_id") \
                and p.peek(1).is_op("="):
            if t.value not in allowed:
                raise p.error(t, f"'{t.value}' does not go with 'graph-to-table {what.value}'",
                              operator="graph-to-table")
            p.next(), p.next()
            ids[t.value] = p.name(f"after '{t.value}='").value
        else:
            break
    if p.peek().is_op(","):
        raise p.unsupported(tok, "graph-to-table nodes and edges together", operator="graph-to-table")
    return GraphToTable(what.value, ids.get("with_node_id"), ids.get("with_source_id"),
                        ids.get("with_target_id"), tok.pos)


def parse_graph_match(p, tok) -> GraphMatch:
    cycles = "unique_edges"
    while p.peek().is_word("cycles") and p.peek(1).is_op("="):
        p.next(), p.next()
        value = p.next()
        if value.value not in CYCLES:
            raise p.error(value, "expected unique_edges, all or none after 'cycles='", operator="graph-match")
        cycles = value.value
    p.hints()
    paths = tuple(p.comma_list(lambda: _path(p)))
    where = None
    if p.peek().is_word("where"):
        p.next()
        where = p.expression()
    if not p.peek().is_word("project"):
        raise p.unsupported(p.peek(), "graph-match without project", operator="graph-match",
                            detail="end the pattern with 'project Name = a.Property, ...'")
    p.next()
    return GraphMatch(cycles, paths, where, tuple(p.assignments()), tok.pos)


def _path(p) -> tuple:
    elements: list = [_node(p)]
    while p.peek().is_op("-", "<"):
        elements.append(_edge(p))
        elements.append(_node(p))
    return tuple(elements)


def _node(p) -> NodePattern:
    start = p.expect_op("(", "to open a node of the pattern, such as (a) or ()")
    name = None
    if not p.peek().is_op(")"):
        name = p.name("(a node variable) in the pattern").value
    if p.peek().is_op(":"):
        raise p.unsupported(p.peek(), "node labels in a graph pattern", operator="graph-match")
    p.expect_op(")", "to close the node of the pattern")
    return NodePattern(name, start.pos)


def _edge(p) -> EdgePattern:
    start = p.peek()
    left = start.is_op("<")
    if left:
        p.next()
    p.expect_op("-", "in the edge of the pattern (-->, <--, --, -[e]->)")
    name, low, high, variable = None, 1, 1, False
    if p.peek().is_op("["):
        p.next()
        if p.at_name():
            name = p.name("(an edge variable) in the pattern").value
        if p.peek().is_op(":"):
            raise p.unsupported(p.peek(), "edge labels in a graph pattern", operator="graph-match")
        if p.peek().is_op("*"):
            variable = True
            low, high = _bounds(p)
        p.expect_op("]", "to close the edge of the pattern")
    p.expect_op("-", "in the edge of the pattern (-->, <--, --, -[e]->)")
    right = p.peek().is_op(">")
    if right:
        p.next()
    if left and right:
        raise p.error(start, "an edge points one way or none: use -->, <-- or --", operator="graph-match")
    return EdgePattern(name, "->" if right else "<-" if left else "--", low, high, variable, start.pos)


def _bounds(p) -> tuple[int, int]:
    star = p.next()
    low = p.next()
    if low.kind != "int" or not p.peek().is_op(".."):
        raise p.error(low, "expected min..max after '*' in a variable-length edge (-[e*1..3]->)",
                      operator="graph-match")
    p.next()
    high = p.next()
    if high.kind != "int":
        raise p.error(high, "expected the maximum after '..' in a variable-length edge", operator="graph-match")
    if low.value < 1:
        raise p.unsupported(star, "a variable-length edge of length 0", operator="graph-match",
                            detail="start the range at 1")
    if high.value < low.value:
        raise p.error(high, f"the maximum length {high.value} is below the minimum {low.value}",
                      operator="graph-match")
    if high.value > MAX_PATH_LENGTH:
        raise p.error(high, f"a variable-length edge may repeat at most {MAX_PATH_LENGTH} times in the "
                            "simulated hunting service", operator="graph-match", code="LimitsExceeded")
    return low.value, high.value
