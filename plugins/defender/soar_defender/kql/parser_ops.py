"""The ``| operator ...`` steps of a tabular expression: their syntax, turned into
:class:`syntax.Operator` nodes (the ``args`` shapes are listed on that class)."""

from __future__ import annotations

from . import syntax as s
from .catalog import TABULAR_OPERATORS
from .errors import did_you_mean, parse_error
from .expression_parser import WORD_OPERATORS, ExpressionParser
from .graph_parser import parse_make_graph
from .lexer import Token
from .parsekv import parse_parse_kv
from .scan import parse_scan

#: Operators the simulator evaluates (after '|').
SUPPORTED_OPERATORS = (
    "where", "filter", "project", "project-away", "project-keep", "project-rename", "project-reorder",
    "extend", "summarize", "order", "sort", "take", "limit", "top", "distinct", "count", "join", "lookup",
    "union", "mv-expand", "mvexpand", "mv-apply", "mvapply", "parse", "parse-where", "evaluate", "invoke",
    "as", "serialize", "getschema", "render", "sample", "top-nested", "make-series", "sample-distinct",
    "top-hitters", "scan", "parse-kv",  # scan.py, parsekv.py
    "make-graph", "graph-match", "graph-to-table",  # graph_parser
    "partition",  # parsed in parser_reshape
)
JOIN_KINDS = ("innerunique", "inner", "leftouter", "leftsemi", "leftanti", "anti", "leftantisemi", "semi",
              "rightouter", "rightsemi", "rightanti", "rightantisemi", "fullouter", "outer")
_JOIN_ALIASES = {"anti": "leftanti", "leftantisemi": "leftanti", "semi": "leftsemi",
                 "rightantisemi": "rightanti", "outer": "fullouter"}
_REORDER = ("asc", "desc", "granny-asc", "granny-desc")
_END = (";", ")", "}", "|", ",")


class OperatorParser(ExpressionParser):
    """Parses one operator after '|' (the statement parser adds sources on top)."""

    def at_end_of_operator(self) -> bool:
        tok = self.peek()
        return tok.kind == "eof" or tok.is_op(*_END)

    def operator(self) -> s.Operator:
        tok = self.next()
        name = tok.value if tok.kind == "ident" else None
        if name not in SUPPORTED_OPERATORS:
            if name in TABULAR_OPERATORS:
                raise self.unsupported(tok, name, operator=name)
            hint = did_you_mean(name, SUPPORTED_OPERATORS) if name else None
            raise self.error(tok, "expected a tabular operator after '|'" + (f". {hint}" if hint else ""),
                             operator=name, name=name)
        method = getattr(self, "op_" + name.replace("-", "_"), None)
        if method is not None:
            return method(tok)
        if name in ("where", "filter"):
            return s.Operator("where", (self.expression(),), tok.pos)
        if name in ("project", "extend"):
            return s.Operator(name, tuple(self.assignments()), tok.pos)
        if name in ("project-away", "project-keep"):
            return s.Operator(name, tuple(self.comma_list(self.pattern)), tok.pos)
        if name in ("order", "sort"):
            self.expect_word("by", f"after '{name}'")
            return s.Operator("sort", tuple(self.comma_list(self.sort_key)), tok.pos)
        if name in ("take", "limit", "sample"):
            return s.Operator("take", (self.expression(),), tok.pos)
        if name in ("count", "getschema"):
            return s.Operator(name, (), tok.pos)
        raise AssertionError(name)  # pragma: no cover - every supported name is handled above

    # ---- projections ----
    def assignments(self) -> list[s.Assign]:
        return self.comma_list(self.assignment)

    def assignment(self) -> s.Assign:
        tok = self.peek()
        if self.at_name() and self.peek(1 if tok.kind == "ident" else 3).is_op("="):
            name = self.name("before '='")
            self.next()
            return s.Assign(name.value, self.expression(), name.pos)
        if tok.is_op("(") and self.peek(1).kind == "ident" and self.peek(2).is_op(","):
            self.next()
            names = [n.value for n in self.comma_list(lambda: self.name("in '(a, b) = ...'"))]
            self.expect_op(")", "to close the column names")
            self.expect_op("=", "after the column names")
            return s.Assign(None, self.expression(), tok.pos, tuple(names))
        return s.Assign(None, self.expression(), tok.pos)

    def pattern(self) -> s.Name:
        """A column name, or a wildcard pattern made of adjacent names and '*': ``Initiating*``."""
        first = self.peek()
        if first.is_op("[") and self.at_name():
            return s.Name(self.name("(a column name)").value, first.pos)
        if not (first.is_op("*") or first.kind == "ident"):
            raise self.error(first, "expected a column name")
        text, prev = "", None
        while (tok := self.peek()).is_op("*") or (tok.kind == "ident" and (
                tok.value[0] != "!" and (tok.value[0] != "$" or prev is None))):  # $table, as search names it
            if prev is not None and (tok.line != prev.line or tok.column != prev.column + len(prev.text)):
                break
            text += tok.text
            prev = self.next()
        return s.Name(text, first.pos)

    def op_project_rename(self, tok: Token) -> s.Operator:
        def rename() -> s.Assign:
            new = self.name("in 'project-rename'")
            self.expect_op("=", "in 'project-rename' (new = old)")
            old = self.name("after '=' in 'project-rename'")
            return s.Assign(new.value, s.Name(old.value, old.pos), new.pos)
        return s.Operator("project-rename", tuple(self.comma_list(rename)), tok.pos)

    def op_project_reorder(self, tok: Token) -> s.Operator:
        def item():
            pattern = self.pattern()
            order = self.next().value if self.peek().is_word(*_REORDER) else None
            return (pattern, order)
        return s.Operator("project-reorder", tuple(self.comma_list(item)), tok.pos)

    def op_summarize(self, tok: Token) -> s.Operator:
        self.hints()
        aggs = () if self.peek().is_word("by") else tuple(self.assignments())
        by = ()
        if self.peek().is_word("by"):
            self.next()
            by = tuple(self.assignments())
        return s.Operator("summarize", (aggs, by), tok.pos)

    def op_distinct(self, tok: Token) -> s.Operator:
        self.hints()
        if self.peek().is_op("*"):
            self.next()
            return s.Operator("distinct", (), tok.pos)
        return s.Operator("distinct", tuple(self.assignments()), tok.pos)

    def op_serialize(self, tok: Token) -> s.Operator:
        return s.Operator("serialize", () if self.at_end_of_operator() else tuple(self.assignments()), tok.pos)

    def op_as(self, tok: Token) -> s.Operator:
        self.hints()
        return s.Operator("as", (self.name("after 'as'").value,), tok.pos)

    def op_render(self, tok: Token) -> s.Operator:
        """``render chart [with (...)]`` only shapes a chart in the portal: the rows pass unchanged."""
        depth = 0
        while not (self.peek().kind == "eof" or depth == 0 and self.peek().is_op(";", "|", ")")):
            t = self.next()
            depth += t.is_op("(") - t.is_op(")")
        return s.Operator("render", (), tok.pos)

    def sort_key(self) -> s.SortKey:
        tok = self.peek()
        expr = self.expression()
        descending = True
        if self.peek().is_word("asc", "desc"):
            descending = self.next().value == "desc"
        nulls_first = None
        if self.peek().is_word("nulls"):
            self.next()
            which = self.peek()
            if not which.is_word("first", "last"):
                raise self.error(which, "expected 'first' or 'last' after 'nulls'")
            nulls_first = self.next().value == "first"
        return s.SortKey(expr, descending, nulls_first, tok.pos)

    def op_top(self, tok: Token) -> s.Operator:
        count = self.expression()
        self.expect_word("by", "after 'top N'")
        return s.Operator("top", (count, self.sort_key()), tok.pos)

    def op_sample_distinct(self, tok: Token) -> s.Operator:
        """``sample-distinct N of Column``."""
        count = self.expression()
        self.expect_word("of", "after 'sample-distinct N' (sample-distinct 10 of DeviceId)")
        column = self.name("(a column name) after 'of'")
        return s.Operator("sample-distinct", (count, s.Name(column.value, column.pos)), tok.pos)

    def op_top_hitters(self, tok: Token) -> s.Operator:
        """``top-hitters N of Expression [by SummedExpression]``."""
        count = self.expression()
        self.expect_word("of", "after 'top-hitters N' (top-hitters 5 of FileName)")
        value = self.expression()
        total = None
        if self.peek().is_word("by"):
            self.next()
            total = self.expression()
        return s.Operator("top-hitters", (count, value, total), tok.pos)

    def op_make_series(self, tok: Token) -> s.Operator:
        """``make-series [kind=nonempty] [Name =] agg [default = v], ... on Axis [from a] [to b] step s
        [by ...]`` (or ``on Axis in range(a, b, s)``)."""
        kind = "default"
        while self.peek().kind == "ident" and self.peek(1).is_op("=") and self.peek().value == "kind":
            self.next(), self.next()
            kind = self.name("after 'kind='").value
        self.hints()

        def aggregation():
            assign = self.assignment()
            default = None
            if self.peek().is_word("default") and self.peek(1).is_op("="):
                self.next(), self.next()
                default = self.expression()
            return (assign, default)
        aggregations = self.comma_list(aggregation)
        self.expect_word("on", "in 'make-series' (make-series count() on Timestamp step 1h)")
        axis = self.expression()
        start = end = step = None
        if self.peek().is_word("in"):
            self.next()
            self.expect_word("range", "after 'in' in 'make-series'")
            self.expect_op("(", "after 'range'")
            start = self.expression()
            self.expect_op(",", "in range(start, stop, step)")
            end = self.expression()
            self.expect_op(",", "in range(start, stop, step)")
            step = self.expression()
            self.expect_op(")", "to close range(...)")
        else:
            if self.peek().is_word("from"):
                self.next()
                start = self.expression()
            if self.peek().is_word("to"):
                self.next()
                end = self.expression()
            self.expect_word("step", "in 'make-series' (... on Timestamp from a to b step 1h)")
            step = self.expression()
        by = ()
        if self.peek().is_word("by"):
            self.next()
            by = tuple(self.assignments())
        return s.Operator("make-series", (kind, tuple(aggregations), axis, start, end, step, by), tok.pos)

    def op_top_nested(self, tok: Token) -> s.Operator:
        """``top-nested [N] of [Name =] expr [with others = v] by [Agg =] aggregation [asc|desc], top-nested ...``"""
        levels = [self.nested_level()]
        while self.peek().is_op(",") and self.peek(1).is_word("top-nested"):
            self.next(), self.next()
            levels.append(self.nested_level())
        return s.Operator("top-nested", tuple(levels), tok.pos)

    def nested_level(self) -> tuple:
        start = self.peek()
        count = None if self.peek().is_word("of") else self.expression()
        self.expect_word("of", "in 'top-nested' (top-nested N of Column by count())")
        what = self.assignment()
        others = None
        if self.peek().is_word("with"):
            self.next()
            self.expect_word("others", "after 'with' in 'top-nested'")
            self.expect_op("=", "after 'with others'")
            others = self.expression()
        self.expect_word("by", "in 'top-nested' (top-nested N of Column by count())")
        aggregation = self.assignment()
        descending = True
        if self.peek().is_word("asc", "desc"):
            descending = self.next().value == "desc"
        return (count, what, others, aggregation, descending, start.pos)

    def hints(self) -> None:
        while self.peek().is_word("hint") and self.peek(1).is_op("."):
            self.next(), self.next()
            self.ident("after 'hint.'")
            self.expect_op("=", "after the hint name")
            self.next()

    def op_make_graph(self, tok: Token) -> s.Operator:
        return parse_make_graph(self, tok)

    def op_scan(self, tok: Token) -> s.Operator:
        return parse_scan(self, tok)

    def op_parse_kv(self, tok: Token) -> s.Operator:
        return parse_parse_kv(self, tok)

    def op_graph_match(self, tok: Token) -> s.Operator:
        raise self.error(tok, f"'{tok.value}' reads a graph, not a table: put '| make-graph Source --> Target "
                              "[with Nodes on NodeId]' right before it", operator=tok.value)

    op_graph_to_table = op_graph_match

    # ---- joins and unions ----
    def op_join(self, tok: Token, lookup: bool = False) -> s.Operator:
        op = "lookup" if lookup else "join"
        kind = "leftouter" if lookup else "innerunique"
        while True:
            if self.peek().is_word("kind") and self.peek(1).is_op("="):
                self.next(), self.next()
                k = self.next()
                kind = str(k.value)
                allowed = ("leftouter", "inner") if lookup else JOIN_KINDS
                if kind not in allowed:
                    raise self.error(k, f"unknown {op} kind '{k.text}' (use one of {', '.join(allowed)})",
                                     operator=op, name=k.text)
            elif self.peek().is_word("hint", "withsource") or self.peek().kind == "ident" and \
                    self.peek(1).is_op("=") and self.peek().value.startswith("hint"):
                if self.peek().is_word("withsource"):
                    raise self.unsupported(self.peek(), f"{op} withsource=", operator=op)
                self.hints()
            else:
                break
        start = self.peek()
        if start.is_op("("):
            self.next()
            right = self.tabular()
            self.expect_op(")", f"to close the right side of the {op}")
        elif start.kind == "ident" and start.value[0] not in "$!" and start.value not in WORD_OPERATORS:
            right = s.Pipeline(self.source(), (), start.pos)
        else:
            raise self.error(start, f"expected '(subquery)' or a table name after '{op}'", operator=op)
        self.expect_word("on", f"after the right side of the {op}")
        conditions = [self.join_condition(op)]
        while self.peek().is_op(",") or self.peek().is_word("and"):
            self.next()
            conditions.append(self.join_condition(op))
        return s.Operator(op, (_JOIN_ALIASES.get(kind, kind), right, tuple(conditions)), tok.pos)

    def op_lookup(self, tok: Token) -> s.Operator:
        return self.op_join(tok, lookup=True)

    def join_condition(self, op: str) -> tuple[str, str, s.Pos]:
        tok = self.peek()
        if tok.is_word("$left", "$right"):
            side1, col1 = self.side_column(op)
            self.expect_op("==", f"between the two sides of the {op} condition")
            side2, col2 = self.side_column(op)
            if side1 == side2:
                raise self.error(tok, f"a {op} condition must compare $left.Column with $right.Column",
                                 operator=op)
            return (col1, col2, tok.pos) if side1 == "$left" else (col2, col1, tok.pos)
        name = self.name("(a key column, or $left.Column == $right.Column) after 'on'")
        return name.value, name.value, name.pos

    def side_column(self, op: str) -> tuple[str, str]:
        side = self.peek()
        if not side.is_word("$left", "$right"):
            raise self.error(side, "expected $left.Column or $right.Column", operator=op)
        self.next()
        self.expect_op(".", f"after '{side.value}'")
        return side.value, self.name(f"after '{side.value}.'").value

    def op_union(self, tok: Token) -> s.Operator:
        return s.Operator("union", (self.union_clause(tok),), tok.pos)

    # ---- expanding ----
    def op_mv_expand(self, tok: Token) -> s.Operator:
        kind, index, items, limit = self.expand_clause(tok.value)
        if tok.value == "mvexpand" and limit is None:  # the legacy spelling keeps 128 rows per record
            limit = s.Literal(128, "long", tok.pos)
        return s.Operator("mv-expand", (kind, index, items, limit), tok.pos)

    op_mvexpand = op_mv_expand

    def op_mv_apply(self, tok: Token) -> s.Operator:
        kind, index, items, limit = self.expand_clause(tok.value)
        while self.peek().kind == "ident" and self.peek(1).is_op("=") and not self.peek().is_word("on"):
            self.next(), self.next(), self.next()  # id=..., other options
        self.expect_word("on", "in 'mv-apply' (mv-apply x on (subquery))")
        start = self.expect_op("(", "after 'on' in 'mv-apply'")
        operators = [self.operator()]
        while self.peek().is_op("|"):
            self.next()
            operators.append(self.operator())
        self.expect_op(")", "to close the subquery of 'mv-apply'")
        subquery = s.Pipeline(s.TableRef("\0mv-apply", start.pos), tuple(operators), start.pos)
        return s.Operator("mv-apply", (kind, index, items, limit, subquery), tok.pos)

    op_mvapply = op_mv_apply

    def expand_clause(self, op: str):
        kind, index, limit = "bag", None, None
        while self.peek().kind == "ident" and self.peek(1).is_op("=") and \
                self.peek().value in ("kind", "bagexpansion", "with_itemindex"):
            key = self.next().value
            self.next()
            value = self.name(f"after '{key}='")
            if key == "with_itemindex":
                index = value.value
            elif value.value not in ("bag", "array"):
                raise self.error(value, f"expected 'bag' or 'array' after '{key}='", operator=op)
            else:
                kind = value.value
        self.hints()

        def item():
            assign = self.assignment()
            to_type = None
            if self.peek().is_word("to"):
                self.next()
                self.expect_word("typeof", "after 'to'")
                self.expect_op("(", "after 'typeof'")
                to_type = self.type_name("inside typeof(...)")
                self.expect_op(")", "to close typeof(...)")
            return (assign, to_type)
        items = self.comma_list(item)
        if self.peek().is_word("limit"):
            self.next()
            limit = self.expression()
        return kind, index, tuple(items), limit

    def op_parse(self, tok: Token) -> s.Operator:
        """``parse [kind=simple|regex|relaxed [flags=...]] expr with [*] "text" Column[:type] ...``."""
        kind = "simple"
        while self.peek().kind == "ident" and self.peek(1).is_op("=") and self.peek().value in ("kind", "flags"):
            key = self.next().value
            self.next()
            value = self.next()
            if key == "kind":
                if value.value not in ("simple", "regex", "relaxed"):
                    raise self.error(value, "expected simple, regex or relaxed after 'kind='", operator=tok.value)
                kind = value.value
        source = self.expression()
        self.expect_word("with", f"after the expression to {tok.value}")
        items: list[tuple] = []
        while not self.at_end_of_operator():
            t = self.peek()
            if t.kind == "string":
                items.append(("text", self.next().value))
            elif t.is_op("*"):
                self.next()
                items.append(("star",))
            elif self.at_name():
                column = self.name("in the parse pattern")
                kql = "string"
                if self.peek().is_op(":"):
                    self.next()
                    kql = self.type_name(f"for the column '{column.value}'")
                items.append(("column", column.value, kql, column.pos))
            else:
                raise self.error(t, "expected a string, a column name or '*' in the parse pattern",
                                 operator=tok.value)
        if not items:
            raise self.error(self.peek(), "expected a pattern after 'with'", operator=tok.value)
        return s.Operator("parse", (kind, source, tuple(items), tok.value == "parse-where"), tok.pos)

    op_parse_where = op_parse

    # ---- plugins and functions ----
    def op_evaluate(self, tok: Token) -> s.Operator:
        self.hints()
        call = self.plugin_call("evaluate")
        schema = None
        if self.peek().is_op(":"):  # evaluate bag_unpack(x) : (Name:type, ...), (*, Name:type, ...)
            self.next()
            schema = tuple(self.column_declarations("evaluate", star=True))
        return s.Operator("evaluate", (call, schema), tok.pos)

    def column_declarations(self, what: str, *, star: bool = False) -> list[tuple[str, str | None]]:
        """``(Name: type, ...)``; with ``star``, ``*`` may come first: ``("*", None)``, the input's
        other columns (an evaluate output schema)."""
        self.expect_op("(", f"after '{what}'")
        columns: list[tuple[str, str | None]] = []
        while True:
            if star and not columns and self.peek().is_op("*"):
                self.next()
                columns.append(("*", None))
                if not self.peek().is_op(","):
                    break
                self.next()
            cname = self.name(f"(a column name) in '{what}'")
            self.expect_op(":", f"after the column name '{cname.value}' in '{what}'")
            columns.append((cname.value, self.type_name(f"for the column '{cname.value}'")))
            if not self.peek().is_op(","):
                break
            self.next()
        self.expect_op(")", f"to close the columns of '{what}'")
        return columns

    def op_invoke(self, tok: Token) -> s.Operator:
        return s.Operator("invoke", (self.plugin_call("invoke"),), tok.pos)

    def plugin_call(self, op: str) -> s.Call:
        name = self.peek()
        if name.kind != "ident" or not self.peek(1).is_op("("):
            raise parse_error(name.text, name.pos, f"expected a function call such as name(...) after '{op}'",
                              operator=op)
        self.next(), self.next()
        args = [] if self.peek().is_op(")") else self.comma_list(self.argument)
        self.expect_op(")", f"to close the arguments of '{name.value}'")
        return s.Call(name.value, tuple(args), name.pos)
