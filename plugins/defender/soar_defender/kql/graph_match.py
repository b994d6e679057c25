"""``graph-match``: every occurrence of a pattern in the graph of make-graph (graph.py), one row each.

Semantics, as Kusto documents them:
- a match binds each node and edge of the pattern; a node name used twice is the same node, so
  ``(a)-->(b)-->(a)`` finds cycles. Anonymous elements bind too: two matches that differ only in
  an anonymous node are two rows;
- ``-->`` follows edges from source to target, ``<--`` against it, ``--`` either way (so an edge
  matches ``(a)--(b)`` once each way);
- ``-[p*1..3]->`` is a path of 1 to 3 edges; every path is its own match;
- ``cycles=unique_edges`` (the default): a match uses each edge at most once; ``cycles=none``: no
  node repeats along a path (a comma-separated pattern is several paths); ``cycles=all``: edges
  may repeat.

The ``where`` is split at its top-level ``and``s, and each part is tested as soon as the variables
it reads are bound, so a filter on the first node prunes the search early. The search stops with
LimitsExceeded past MAX_MATCHES rows or MAX_STEPS edges followed.
"""

from __future__ import annotations

from typing import Any

from . import syntax as s
from .errors import semantic_error
from .graph_expr import MatchExpressions, row_key
from .graph_parser import EdgePattern, GraphMatch, NodePattern
from .model import Column, Relation
from .naming import ColumnNamer

MAX_MATCHES = 100_000
MAX_STEPS = 500_000


def graph_match(ev, spec: GraphMatch, graph, env: dict) -> Relation:
    kinds = _variables(spec)
    exprs = MatchExpressions(ev, env, graph, kinds)
    parts = [(p, *exprs.rewrite(p)) for p in _conjuncts(spec.where)]
    projected = [(a, exprs.rewrite(a.expr)[0]) for a in spec.project]
    steps = _steps(spec)
    bound_at = {}
    for i, (_, edge, node) in enumerate(steps):
        for element in (edge, node):
            if element is not None and element.name is not None:
                bound_at.setdefault(element.name, i)
    tests: list[list] = [[] for _ in range(len(steps) + 1)]  # tests[i + 1]: once step i is bound
    for original, rewritten, used in parts:
        compiled = exprs.compile(rewritten)
        if compiled.type not in ("bool", "dynamic"):
            raise semantic_error("graph-match", getattr(original, "pos", spec.pos),
                                 f"the predicate must be a Boolean expression, not {compiled.type}")
        tests[1 + max((bound_at[v] for v in used), default=-1)].append(compiled.fn)
    out, seen, namer = [], set(), ColumnNamer(set())
    for assign, rewritten in projected:
        compiled = exprs.compile(rewritten)
        name = namer.name(assign)
        if name in seen and (assign.name or type(assign.expr) is s.Name):
            raise semantic_error("graph-match", assign.pos, f"duplicate column name '{name}'", name=name)
        base, n = name, 0
        while name in seen:
            n += 1
            name = f"{base}{n}"
        seen.add(name)
        namer.taken.add(name)
        out.append((name, compiled))
    search = _Search(graph, spec, steps, exprs, tests, [(n, c.fn) for n, c in out])
    return Relation([Column(n, c.type) for n, c in out], search.run())


def _variables(spec: GraphMatch) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for path in spec.paths:
        for element in path:
            name = element.name
            if name is None:
                continue
            if type(element) is NodePattern:
                if kinds.setdefault(name, "node") != "node":
                    raise semantic_error("graph-match", element.pos, f"'{name}' names both an edge and a node",
                                         name=name)
            elif name in kinds:
                what = "another edge" if kinds[name] != "node" else "a node"
                raise semantic_error("graph-match", element.pos, f"the edge '{name}' has the name of {what}: "
                                                                 "each edge needs its own name", name=name)
            else:
                kinds[name] = "path" if element.variable else "edge"
    return kinds


def _conjuncts(where: Any) -> list:
    if where is None:
        return []
    parts, stack = [], [where]
    while stack:
        node = stack.pop()
        if type(node) is s.Binary and node.op == "and":
            stack += [node.right, node.left]
        else:
            parts.append(node)
    return parts


def _steps(spec: GraphMatch) -> list[tuple[str, EdgePattern | None, NodePattern]]:
    """The search order: each path's first node, then its (edge, node) hops."""
    steps: list = []
    for path in spec.paths:
        steps.append(("start", None, path[0]))
        steps += [("hop", path[i], path[i + 1]) for i in range(1, len(path), 2)]
    return steps


class _Search:
    """Depth-first over the steps; ``row`` holds the bound variables' properties (row_key)."""

    def __init__(self, graph, spec: GraphMatch, steps, exprs: MatchExpressions, tests, project) -> None:
        self.graph, self.spec, self.steps, self.tests, self.project = graph, spec, steps, tests, project
        self.cycles = spec.cycles
        self.row: dict = {}
        self.bound: dict[str, int] = {}
        self.used: set[int] = set()  # edges of the match so far (unique_edges)
        self.path_nodes: set[int] = set()  # nodes of the current path (cycles=none)
        self.count = 0
        self.out: list[dict] = []
        self.adjacency: dict[str, list] = {}
        self.node_writes, self.edge_writes = [], []
        seen: set[str] = set()
        for _, edge, node in steps:  # what to write into the row at each step
            first = node.name is not None and node.name not in seen
            seen.add(node.name)
            self.node_writes.append(list(exprs.reads[node.name].items()) if first else [])
            name = edge.name if edge is not None else None
            if name is None:
                self.edge_writes.append(None)
            else:
                whole = row_key(name, "") if name in exprs.whole else None
                self.edge_writes.append((edge.variable, list(exprs.reads[name].items()), whole,
                                         exprs.derived[name]))

    def run(self) -> list[dict]:
        if all(f(self.row) is True for f in self.tests[0]):
            self._step(0, -1)
        return self.out

    def _tick(self, steps: int) -> None:
        self.count += steps
        if self.count > MAX_STEPS:
            raise semantic_error("graph-match", self.spec.pos, f"the pattern follows more than {MAX_STEPS:,} "
                                 "edges; filter the edges or nodes before make-graph", code="LimitsExceeded")

    def _emit(self) -> None:
        if len(self.out) >= MAX_MATCHES:
            raise semantic_error("graph-match", self.spec.pos, f"more than {MAX_MATCHES:,} matches; narrow the "
                                 "pattern or filter the edges or nodes before make-graph", code="LimitsExceeded")
        row = self.row
        self.out.append({n: f(row) for n, f in self.project})

    def _step(self, i: int, here: int) -> None:
        if i == len(self.steps):
            self._emit()
            return
        kind, edge, node = self.steps[i]
        if kind == "start":
            saved = self.path_nodes
            fixed = self.bound.get(node.name) if node.name is not None else None
            candidates = range(len(self.graph.ids)) if fixed is None else (fixed,)
            self._tick(len(candidates))
            for x in candidates:
                self.path_nodes = {x}
                self._bind(i, node, x, None)
            self.path_nodes = saved
        elif edge.variable:
            for walk, there in self._walks(here, edge):
                self._bind(i, node, there, walk)
        else:  # one edge: no walk to build
            pairs = self._neighbours(edge.direction)[here]
            self._tick(len(pairs))
            unique, acyclic = self.cycles == "unique_edges", self.cycles == "none"
            used, path_nodes = self.used, self.path_nodes
            for e, y in pairs:
                if unique:
                    if e in used:
                        continue
                    used.add(e)
                elif acyclic:
                    if y in path_nodes:
                        continue
                    path_nodes.add(y)
                self._bind(i, node, y, ((e,), ()))
                used.discard(e)
                if acyclic:
                    path_nodes.discard(y)

    def _bind(self, i: int, node: NodePattern, x: int, walk) -> None:
        """Bind step i's node to ``x`` (and its edge to ``walk``), test, go on to step i + 1."""
        name, row = node.name, self.row
        if name is not None and self.bound.get(name, x) != x:
            return
        first = name is not None and name not in self.bound
        if first:
            self.bound[name] = x
        properties = self.graph.nodes[x]
        for key, prop in self.node_writes[i]:
            row[key] = properties[prop]
        writes = self.edge_writes[i]
        if writes is not None:
            variable, reads, whole, derived = writes
            if not variable:
                edge_row = self.graph.edges[walk[0][0]]
                for key, prop in reads:
                    row[key] = edge_row[prop]
            else:
                if whole is not None:
                    row[whole] = [dict(self.graph.edges[e]) for e in walk[0]]
                for key, fn in derived:
                    row[key] = fn(walk)
        for test in self.tests[i + 1]:
            if test(row) is not True:
                break
        else:
            self._step(i + 1, x)
        if first:
            del self.bound[name]

    def _neighbours(self, direction: str) -> list:
        """Per node, its (edge, other end) pairs in ``direction``."""
        table = self.adjacency.get(direction)
        if table is None:
            g = self.graph
            out = [[(e, g.tgt[e]) for e in edges] for edges in g.out]
            inc = [[(e, g.src[e]) for e in edges] for edges in g.inc]
            if direction == "->":
                table = out
            elif direction == "<-":
                table = inc
            else:  # a self-loop is in both lists: take it once
                table = [o + [(e, y) for e, y in n if y != x] for x, (o, n) in enumerate(zip(out, inc))]
            self.adjacency[direction] = table
        return table

    def _walks(self, start: int, edge: EdgePattern):
        """(walk, end node) for each path of edge.low..edge.high edges from ``start``: walk is
        (edge indexes, inner node indexes). The used edges and path nodes stay marked while the
        caller works on a walk."""
        neighbours = self._neighbours(edge.direction)
        low, high = edge.low, edge.high
        unique, acyclic = self.cycles == "unique_edges", self.cycles == "none"
        used, path_nodes, edges, ends = self.used, self.path_nodes, [], []

        def extend(x: int, depth: int):
            pairs = neighbours[x]
            self._tick(len(pairs))
            done, deeper = depth + 1 >= low, depth + 1 < high
            for e, y in pairs:
                if unique and e in used or acyclic and y in path_nodes:
                    continue
                if unique:
                    used.add(e)
                if acyclic:
                    path_nodes.add(y)
                edges.append(e)
                ends.append(y)
                if done:
                    yield (tuple(edges), tuple(ends[:-1])), y
                if deeper:
                    yield from extend(y, depth + 1)
                edges.pop()
                ends.pop()
                if unique:
                    used.discard(e)
                if acyclic:
                    path_nodes.discard(y)
        return extend(start, 0)
