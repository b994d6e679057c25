"""Recursive-descent parser: tokens → :mod:`syntax` tree. Expressions use precedence climbing.

Only the subset documented in docs/kql.md is accepted. Valid KQL outside it (``mv-expand``,
``union``, ...) is refused with code ``NotSupported``, naming the operator and its position.
"""

from __future__ import annotations

from . import syntax as s
from .errors import did_you_mean, parse_error
from .expression_parser import WORD_OPERATORS, ExpressionParser
from .lexer import Token

SUPPORTED_OPERATORS = ("where", "filter", "project", "project-away", "project-rename", "extend",
                       "summarize", "order", "sort", "take", "limit", "top", "distinct", "count",
                       "join")
KNOWN_KQL_OPERATORS = frozenset({
    "mv-expand", "mv-apply", "parse", "parse-where", "parse-kv", "make-series", "evaluate", "union",
    "invoke", "lookup", "render", "search", "find", "fork", "facet", "as", "getschema", "sample",
    "sample-distinct", "serialize", "scan", "top-nested", "top-hitters", "reduce", "partition",
    "project-keep", "project-reorder", "consume", "extend-columns", "externaldata", "range",
    "print", "datatable", "materialize", "toscalar", "view", "database", "cluster", "workspace",
})
JOIN_KINDS = ("innerunique", "inner", "leftouter", "leftsemi", "leftanti", "anti")
KNOWN_JOIN_KINDS = frozenset({"rightouter", "fullouter", "rightsemi", "rightanti", "semi", "outer"})


def parse(source: str) -> s.Query:
    """Parse a whole query: ``let`` statements, then one tabular expression."""
    return Parser(source).query()


class Parser(ExpressionParser):
    """Statements and tabular operators."""

    # ---- statements ----
    def query(self) -> s.Query:
        lets: list[s.Let] = []
        body = None
        while self.peek().kind != "eof":
            tok = self.peek()
            if tok.is_op(";"):
                self.next()
                continue
            if body is not None:
                raise self.error(tok, "only one tabular expression per query is supported by the "
                                      "soar-runner simulator", code="NotSupported")
            if tok.is_word("let"):
                lets.append(self.let())
                if not self.peek().is_op(";"):
                    raise self.error(self.peek(), "expected ';' after the let statement")
            else:
                body = self.tabular()
                if not (self.peek().is_op(";") or self.peek().kind == "eof"):
                    raise self.error(self.peek(), "expected '|', ';' or the end of the query")
        if body is None:
            raise self.error(self.peek(), "the query has no tabular expression (start it with a "
                                          "table name such as DeviceProcessEvents)")
        return s.Query(tuple(lets), body)

    def let(self) -> s.Let:
        self.next()
        name = self.ident("after 'let'")
        self.expect_op("=", f"after 'let {name.value}'")
        tok = self.peek()
        if tok.is_word("view") or (tok.is_op("(") and (self.peek(1).is_op(")") or self.peek(2).is_op(":"))):
            raise parse_error(tok.text, tok.pos, "user-defined functions and views in 'let' are not "
                              "supported by the soar-runner simulator", code="NotSupported", operator="let")
        j = self.i
        while not (self.tokens[j].is_op(";") or self.tokens[j].kind == "eof"):
            if self.tokens[j].is_op("|"):
                return s.Let(name.value, self.tabular(), name.pos)
            j += 1
        return s.Let(name.value, self.expression(), name.pos)

    # ---- tabular expressions ----
    def tabular(self) -> s.Pipeline:
        start = self.peek()
        self.enter()
        if start.is_op("("):
            self.next()
            source = self.tabular()
            self.expect_op(")", "to close the subquery")
        elif start.kind == "ident" and start.value[0] not in "$!" and start.value not in WORD_OPERATORS:
            if start.value in KNOWN_KQL_OPERATORS:
                raise self.unsupported(start, f"'{start.value}' is not supported by the soar-runner simulator")
            self.next()
            if self.peek().is_op("("):
                raise self.unsupported(start, f"calling '{start.value}(...)' as a table (stored "
                                              "functions) is not supported by the soar-runner simulator")
            source = s.TableRef(start.value, start.pos)
        else:
            raise self.error(start, "expected a table name")
        operators = []
        while self.peek().is_op("|"):
            self.next()
            operators.append(self.operator())
        self.nesting -= 1
        return s.Pipeline(source, tuple(operators), start.pos)

    def operator(self) -> s.Operator:
        tok = self.next()
        name = tok.value if tok.kind == "ident" else None
        if name not in SUPPORTED_OPERATORS:
            if name in KNOWN_KQL_OPERATORS:
                raise self.unsupported(tok, f"the operator '{name}' is not supported by the "
                                            "soar-runner simulator")
            hint = did_you_mean(name, SUPPORTED_OPERATORS) if name else None
            raise self.error(tok, "expected a tabular operator after '|'" + (f". {hint}" if hint else ""),
                             operator=name, name=name)
        if name in ("where", "filter"):
            return s.Operator("where", (self.expression(),), tok.pos)
        if name in ("project", "extend"):
            return s.Operator(name, tuple(self.assignments()), tok.pos)
        if name == "project-away":
            return s.Operator(name, tuple(self.comma_list(self.pattern)), tok.pos)
        if name == "project-rename":
            return s.Operator(name, tuple(self.comma_list(self.rename)), tok.pos)
        if name == "summarize":
            self.hints()
            aggs = () if self.peek().is_word("by") else tuple(self.assignments())
            by = ()
            if self.peek().is_word("by"):
                self.next()
                by = tuple(self.assignments())
            return s.Operator(name, (aggs, by), tok.pos)
        if name in ("order", "sort"):
            self.expect_word("by", f"after '{name}'")
            return s.Operator("sort", tuple(self.comma_list(self.sort_key)), tok.pos)
        if name in ("take", "limit"):
            return s.Operator("take", (self.expression(),), tok.pos)
        if name == "top":
            count = self.expression()
            self.expect_word("by", "after 'top N'")
            return s.Operator(name, (count, self.sort_key()), tok.pos)
        if name == "distinct":
            if self.peek().is_op("*"):
                self.next()
                return s.Operator(name, (), tok.pos)
            return s.Operator(name, tuple(s.Name(t.value, t.pos) for t in
                                          self.comma_list(lambda: self.ident("in 'distinct'"))), tok.pos)
        if name == "count":
            return s.Operator(name, (), tok.pos)
        return self.join(tok)

    def assignments(self) -> list[s.Assign]:
        return self.comma_list(self.assignment)

    def assignment(self) -> s.Assign:
        tok = self.peek()
        if tok.kind == "ident" and self.peek(1).is_op("=") and tok.value not in WORD_OPERATORS:
            name = self.ident("before '='")
            self.next()
            return s.Assign(name.value, self.expression(), name.pos)
        if tok.is_op("(") and self.peek(1).kind == "ident" and self.peek(2).is_op(","):
            raise parse_error(tok.text, tok.pos, "naming several columns at once '(a, b) = ...' is "
                              "not supported by the soar-runner simulator", code="NotSupported")
        return s.Assign(None, self.expression(), tok.pos)

    def pattern(self) -> s.Name:
        """A column name, or a wildcard pattern made of adjacent names and '*': ``Initiating*``."""
        first = self.peek()
        if not (first.is_op("*") or first.kind == "ident"):
            raise self.error(first, "expected a column name")
        text, prev = "", None
        while (tok := self.peek()).is_op("*") or (tok.kind == "ident" and tok.value[0] not in "$!"):
            if prev is not None and (tok.line != prev.line or tok.column != prev.column + len(prev.text)):
                break
            text += tok.text
            prev = self.next()
        return s.Name(text, first.pos)

    def rename(self) -> s.Assign:
        new = self.ident("in 'project-rename'")
        self.expect_op("=", "in 'project-rename' (new = old)")
        old = self.ident("after '=' in 'project-rename'")
        return s.Assign(new.value, s.Name(old.value, old.pos), new.pos)

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

    def hints(self) -> None:
        while self.peek().is_word("hint") and self.peek(1).is_op("."):
            self.next(), self.next()
            self.ident("after 'hint.'")
            self.expect_op("=", "after the hint name")
            self.next()

    def join(self, tok: Token) -> s.Operator:
        kind = "innerunique"
        while True:
            if self.peek().is_word("kind") and self.peek(1).is_op("="):
                self.next(), self.next()
                k = self.next()
                kind = str(k.value)
                if kind in KNOWN_JOIN_KINDS:
                    raise parse_error(k.text, k.pos, f"join kind '{kind}' is not supported by the "
                                      "soar-runner simulator", code="NotSupported", operator="join", name=kind)
                if kind not in JOIN_KINDS:
                    raise self.error(k, f"unknown join kind '{k.text}' (use one of {', '.join(JOIN_KINDS)})",
                                     operator="join", name=k.text)
            elif self.peek().is_word("hint"):
                self.hints()
            else:
                break
        start = self.peek()
        if start.is_op("("):
            self.next()
            right = self.tabular()
            self.expect_op(")", "to close the right side of the join")
        elif start.kind == "ident" and start.value[0] not in "$!" and start.value not in WORD_OPERATORS:
            self.next()
            right = s.Pipeline(s.TableRef(start.value, start.pos), (), start.pos)
        else:
            raise self.error(start, "expected '(subquery)' or a table name after 'join'", operator="join")
        self.expect_word("on", "after the right side of the join")
        conditions = [self.join_condition()]
        while self.peek().is_op(",") or self.peek().is_word("and"):
            self.next()
            conditions.append(self.join_condition())
        return s.Operator("join", ("leftanti" if kind == "anti" else kind, right, tuple(conditions)), tok.pos)

    def join_condition(self) -> tuple[str, str, s.Pos]:
        tok = self.peek()
        if tok.is_word("$left", "$right"):
            side1, col1 = self.side_column()
            self.expect_op("==", "between the two sides of the join condition")
            side2, col2 = self.side_column()
            if side1 == side2:
                raise self.error(tok, "a join condition must compare $left.Column with $right.Column",
                                 operator="join")
            return (col1, col2, tok.pos) if side1 == "$left" else (col2, col1, tok.pos)
        name = self.ident("(a key column, or $left.Column == $right.Column) after 'on'")
        return name.value, name.value, name.pos

    def side_column(self) -> tuple[str, str]:
        side = self.peek()
        if not side.is_word("$left", "$right"):
            raise self.error(side, "expected $left.Column or $right.Column", operator="join")
        self.next()
        self.expect_op(".", f"after '{side.value}'")
        return side.value, self.ident(f"after '{side.value}.'").value
