"""graph-match's ``where`` and ``project`` expressions, read over one match.

A match binds the pattern's variables: a node (``a``), an edge (``e``) or a variable-length edge
(``p`` in ``-[p*1..3]->``, a list of edges). The expressions reach them in these forms, which are
rewritten into columns of the match's row before the ordinary compiler sees them:

- ``a.Prop`` / ``e.Prop`` (also ``a["Prop"]``): the property, typed as its column is;
- ``p``: the list of the path's edges as property bags, so ``array_length(p)`` and ``p[0].Prop`` work;
- ``all(p, cond)``, ``any(p, cond)``, ``map(p, expr)``: ``cond``/``expr`` evaluated on each edge of
  the path, whose properties it names directly (``all(p, Weight > 2)``); with
  ``inner_nodes(p)`` as first argument, on each node inside the path.

:meth:`MatchExpressions.rewrite` also says which variables an expression reads, so graph_match.py
can test each part of the ``where`` as soon as its variables are bound.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Callable

from . import syntax as s
from .compiler import Compiled, compile_expr
from .errors import did_you_mean, not_supported, semantic_error
from .model import Column, Relation

_EXPRESSIONS = (s.Name, s.Call, s.Unary, s.Binary, s.InList, s.Between, s.Member, s.NamedArg)
PATH_FUNCTIONS = ("all", "any", "map")


def row_key(variable: str, prop: str) -> str:
    """The match row's column for ``variable.prop`` (no KQL name holds a NUL)."""
    return f"{variable}\0{prop}"


class MatchExpressions:
    """Rewrites and compiles the expressions of one graph-match; ``kinds`` maps each pattern
    variable to ``node``, ``edge`` or ``path``."""

    def __init__(self, ev, env: dict, graph, kinds: dict[str, str]) -> None:
        self.ev, self.env, self.graph, self.kinds = ev, env, graph, kinds
        self.columns: dict[str, str] = {}
        self.reads: dict[str, dict[str, str]] = {v: {} for v in kinds}  # variable → {row key: property}
        self.whole: set[str] = set()  # path variables read as a list of edges
        self.derived: dict[str, list[tuple[str, Callable]]] = {v: [] for v in kinds}  # path → [(key, fn)]
        self.used: set[str] = set()

    def error(self, pos, detail: str, **kw):
        return semantic_error("graph-match", pos, detail, **kw)

    def scope(self, types: dict[str, str]):
        return self.ev.scope(Relation([Column(n, t) for n, t in types.items()], []), self.env, "graph-match")

    def rewrite(self, node: Any) -> tuple[Any, frozenset[str]]:
        """``node`` with the variables' forms replaced by row columns, and the variables it reads."""
        self.used = set()
        return self._rewrite(node), frozenset(self.used)

    def compile(self, node: Any) -> Compiled:
        return compile_expr(node, self.scope(self.columns))

    def _rewrite(self, node: Any) -> Any:
        kind = type(node)
        if kind is s.Member and type(node.target) is s.Name and node.target.name in self.kinds:
            key = node.key if isinstance(node.key, str) else \
                node.key.value if type(node.key) is s.Literal and node.key.type == "string" else None
            if key is not None:
                return self._property(node.target, key, node.pos)
        if kind is s.Name and node.name in self.kinds:
            return self._whole(node)
        if kind is s.Call and node.name in PATH_FUNCTIONS and node.args and self._path_of(node.args[0]):
            return self._path_function(node)
        if kind is s.Call and node.name == "inner_nodes":
            raise self.error(node.pos, "inner_nodes() can only be the first argument of all(), any() or map()",
                             name="inner_nodes")
        if kind not in _EXPRESSIONS:
            return node
        changes = {}
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, _EXPRESSIONS):
                changes[f.name] = self._rewrite(value)
            elif type(value) is tuple:
                changes[f.name] = tuple(self._rewrite(v) if isinstance(v, _EXPRESSIONS) else v for v in value)
        return replace(node, **changes)

    def _property(self, target: s.Name, prop: str, pos) -> s.Name:
        var, kind = target.name, self.kinds[target.name]
        if kind == "path":
            raise self.error(pos, f"'{var}' is a variable-length edge, a list of edges: read their properties "
                                  f"with map({var}, {prop}), all({var}, ...) or any({var}, ...)", name=var)
        types = self.graph.node_types if kind == "node" else self.graph.edge_types
        if prop not in types:
            what = "node" if kind == "node" else "edge"
            raise self.error(pos, f"the {what} '{var}' has no property '{prop}'",
                             hint=did_you_mean(prop, types), name=prop)
        key = row_key(var, prop)
        self.columns[key] = types[prop]
        self.reads[var][key] = prop
        self.used.add(var)
        return s.Name(key, pos)

    def _whole(self, node: s.Name) -> s.Name:
        var = node.name
        if self.kinds[var] != "path":
            raise not_supported(f"{self.kinds[var]} variable '{var}' used as a value", node.pos,
                                operator="graph-match", name=var,
                                detail=f"read one of its properties: {var}.Property")
        key = row_key(var, "")
        self.columns[key] = "dynamic"
        self.whole.add(var)
        self.used.add(var)
        return s.Name(key, node.pos)

    def _path_of(self, arg: Any) -> tuple[str, str] | None:
        """(path variable, 'edges' or 'nodes') for ``p`` or ``inner_nodes(p)``, else None."""
        inner = type(arg) is s.Call and arg.name == "inner_nodes"
        if inner:
            if len(arg.args) != 1 or type(arg.args[0]) is not s.Name:
                raise self.error(arg.pos, "inner_nodes() takes one variable-length edge", name="inner_nodes")
            arg = arg.args[0]
        if type(arg) is not s.Name or arg.name not in self.kinds:
            return None
        if self.kinds[arg.name] != "path":
            raise self.error(arg.pos, f"'{arg.name}' is not a variable-length edge (such as -[{arg.name}*1..3]->)",
                             name=arg.name)
        return arg.name, "nodes" if inner else "edges"

    def _path_function(self, node: s.Call) -> s.Name:
        var, over = self._path_of(node.args[0])
        name = node.name
        if len(node.args) != 2:
            raise self.error(node.pos, f"{name}() on a variable-length edge takes 2 arguments", name=name)
        graph = self.graph
        inner = self.scope(graph.node_types if over == "nodes" else graph.edge_types)
        body = compile_expr(node.args[1], inner)
        if name != "map" and body.type not in ("bool", "dynamic"):
            raise self.error(node.pos, f"the condition of {name}() must be a Boolean expression, not {body.type}",
                             name=name)
        fn, items = body.fn, graph.nodes if over == "nodes" else graph.edges
        pick = 1 if over == "nodes" else 0
        if name == "all":
            def value(walk):
                return all(fn(items[i]) is True for i in walk[pick])
        elif name == "any":
            def value(walk):
                return any(fn(items[i]) is True for i in walk[pick])
        else:
            def value(walk):
                return [fn(items[i]) for i in walk[pick]]
        key = row_key(var, f"{name}#{len(self.derived[var])}")
        self.derived[var].append((key, value))
        self.columns[key] = "dynamic" if name == "map" else "bool"
        self.used.add(var)
        return s.Name(key, node.pos)
