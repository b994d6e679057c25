"""Recursive-descent parser: tokens → :mod:`syntax` tree. Expressions use precedence climbing.

This module holds statements (``let`` of scalars, tables and functions) and tabular sources
(table names, ``union``, ``datatable``, ``externaldata``, ``range``, ``print``, function calls;
``find`` is in parser_reshape);
:mod:`parser_ops` parses the ``| operator`` steps and :mod:`expression_parser` the scalar
expressions. Valid KQL the simulator does not evaluate is refused with code ``NotSupported``,
naming the construct as written and its position.
"""

from __future__ import annotations

from . import syntax as s
from .catalog import STATEMENTS, TABULAR_OPERATORS
from .errors import NOT_SUPPORTED, parse_error
from .expression_parser import TYPE_NAMES, WORD_OPERATORS
from .parser_reshape import ReshapeParser

_SOURCE_ONLY = frozenset({"evaluate", "cluster", "database", "workspace", "app",
                          "external_table", "materialized_view", "stored_query_result"})


def parse(source: str) -> s.Query:
    """Parse a whole query: ``let`` statements, then one tabular expression."""
    return Parser(source).query()


class Parser(ReshapeParser):
    """Statements and tabular sources."""

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
                raise parse_error(tok.text, tok.pos, f"'a second tabular statement' {NOT_SUPPORTED}: only "
                                  "one tabular expression per query is evaluated", code="NotSupported")
            if tok.is_word("let"):
                lets.append(self.let())
                if not self.peek().is_op(";"):
                    raise self.error(self.peek(), "expected ';' after the let statement")
            elif tok.kind == "ident" and tok.value in STATEMENTS:
                raise self.unsupported(tok, f"{tok.value} statement", operator=tok.value)
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
        name = self.name("after 'let'")
        self.expect_op("=", f"after 'let {name.value}'")
        tok = self.peek()
        if tok.is_word("view") and self.peek(1).is_op("("):
            self.next()
            return s.Let(name.value, self.function_def(self.peek()), name.pos)
        if tok.is_op("(") and (self.peek(1).is_op(")") and self.peek(2).is_op("{")
                               or self.peek(1).kind == "ident" and self.peek(2).is_op(":")):
            return s.Let(name.value, self.function_def(tok), name.pos)
        if self.looks_tabular():
            return s.Let(name.value, self.tabular(), name.pos)
        return s.Let(name.value, self.expression(), name.pos)

    def function_def(self, start) -> s.FunctionDef:
        """``(a:string, b:long = 5, T:(*)) { [let ...;] body }``."""
        self.expect_op("(", "to open the parameters")
        params: list[s.Param] = []
        while not self.peek().is_op(")"):
            pname = self.name("(a parameter name)")
            self.expect_op(":", f"after the parameter '{pname.value}'")
            if self.peek().is_op("("):  # a tabular parameter: T:(*) or T:(Col:type, ...)
                depth = 0
                while True:
                    tok = self.next()
                    depth += tok.is_op("(") - tok.is_op(")")
                    if depth == 0 or tok.kind == "eof":
                        break
                ptype = "table"
            else:
                ptype = self.type_name(f"for the parameter '{pname.value}'")
            default = None
            if self.peek().is_op("="):
                self.next()
                default = self.expression()
            params.append(s.Param(pname.value, ptype, default, pname.pos))
            if not self.peek().is_op(","):
                break
            self.next()
        self.expect_op(")", "to close the parameters")
        self.expect_op("{", "to open the function body")
        lets: list[s.Let] = []
        while self.peek().is_word("let"):
            lets.append(self.let())
            self.expect_op(";", "after the let statement")
        body = self.tabular() if self.looks_tabular() else self.expression()
        while self.peek().is_op(";"):
            self.next()
        self.expect_op("}", "to close the function body")
        return s.FunctionDef(tuple(params), tuple(lets), body, start.pos)

    # ---- tabular expressions ----
    def tabular(self) -> s.Pipeline:
        start = self.peek()
        self.enter()
        source = self.source()
        operators = []
        while self.peek().is_op("|"):
            self.next()
            operators.append(self.operator())
        self.nesting -= 1
        return s.Pipeline(source, tuple(operators), start.pos)

    def source(self):
        start = self.peek()
        if start.is_op("("):
            self.next()
            inner = self.tabular()
            self.expect_op(")", "to close the subquery")
            return inner
        if start.is_op("[") and self.at_name():
            return s.TableRef(self.name("(a table name)").value, start.pos)
        if start.kind != "ident" or start.value[0] in "$!" or start.value in WORD_OPERATORS:
            raise self.error(start, "expected a table name")
        word = start.value
        if word == "union":
            self.next()
            return self.union_clause(start)
        if word == "datatable" and self.peek(1).is_op("("):
            return self.datatable()
        if word in ("externaldata", "external_data") and self.peek(1).is_op("("):
            return self.externaldata()
        if word == "range" and self.peek(2).is_word("from"):
            return self.range_source()
        if word == "search":
            return self.search()
        if word == "find":
            return self.find()
        if word == "print":
            self.next()
            return s.PrintSource(tuple(self.assignments()) if not self.at_end_of_operator() else (), start.pos)
        if word in _SOURCE_ONLY:
            raise self.unsupported(start, word, operator=word)
        if word == "graph" and self.peek(1).is_op("("):  # a persisted graph model (make-graph is evaluated)
            raise self.unsupported(start, "graph()", operator="graph")
        if word in TABULAR_OPERATORS and not self.peek(1).is_op("("):
            raise self.error(start, f"expected a table name, not the operator '{word}' (operators come "
                                    "after '|')", operator=word, name=word)
        self.next()
        if self.peek().is_op("("):
            if word == "materialize":
                self.next()
                inner = self.tabular()
                self.expect_op(")", "to close materialize(...)")
                return s.CallSource(word, (inner,), start.pos)
            self.next()
            args = [] if self.peek().is_op(")") else self.comma_list(self.argument)
            self.expect_op(")", f"to close the arguments of '{word}'")
            return s.CallSource(word, tuple(args), start.pos)
        return s.TableRef(word, start.pos)

    def search(self) -> s.Search:
        start = self.next()
        case_sensitive = False
        while self.peek().kind == "ident" and self.peek(1).is_op("=") and self.peek().value in ("kind", "hint"):
            self.next(), self.next()
            case_sensitive = self.next().value == "case_sensitive"
        tables = None
        if self.peek().is_word("in") and self.peek(1).is_op("("):
            self.next(), self.next()
            tables = tuple(self.comma_list(self.union_item))
            self.expect_op(")", "to close the tables of 'search'")
        self.search_mode = True
        try:
            predicate = self.expression()
        finally:
            self.search_mode = False
        return s.Search(case_sensitive, tables, predicate, start.pos)

    def union_clause(self, start) -> s.UnionOp:
        """After 'union': ``[kind=inner|outer] [withsource=C] [isfuzzy=b] item, item, ...``."""
        kind, withsource, fuzzy = "outer", None, False
        while self.peek().kind == "ident" and self.peek(1).is_op("=") and \
                self.peek().value in ("kind", "withsource", "isfuzzy", "hint.concurrency", "hint.spread"):
            key = self.next()
            self.next()
            value = self.next()
            if key.value == "kind":
                if value.value not in ("inner", "outer"):
                    raise self.error(value, "expected 'inner' or 'outer' after 'kind='", operator="union")
                kind = value.value
            elif key.value == "withsource":
                withsource = value.value
            elif key.value == "isfuzzy":
                fuzzy = value.value is True or value.value == "true"
        while self.peek().is_word("hint") and self.peek(1).is_op("."):
            self.hints()
        items = self.comma_list(self.union_item)
        return s.UnionOp(kind, withsource, tuple(items), start.pos, fuzzy)

    def union_item(self):
        tok = self.peek()
        if tok.is_op("("):
            self.next()
            inner = self.tabular()
            self.expect_op(")", "to close the subquery in 'union'")
            return inner
        if tok.kind == "ident" and self.peek(1).is_op("(") or self.tabular_keyword():
            return s.Pipeline(self.source(), (), tok.pos)
        if not (tok.is_op("*") or self.at_name()):
            raise self.error(tok, "expected a table name, a wildcard such as Device*Events or a "
                                  "(subquery) in 'union'", operator="union")
        if tok.is_op("["):
            return s.TableRef(self.name("in 'union'").value, tok.pos)
        named = self.pattern()  # a name, maybe with wildcards: Device*Events
        return s.TableRef(named.name, named.pos)

    def datatable(self) -> s.DataTable:
        start = self.next()
        columns = self.column_declarations("datatable")
        self.expect_op("[", "after the datatable columns")
        if self.peek().is_op(","):  # Kusto takes a leading comma, as it takes a trailing one
            self.next()
        values = [] if self.peek().is_op("]") else self.comma_list(self.expression, trailing="]")
        self.expect_op("]", "to close the datatable values")
        return s.DataTable(tuple(columns), tuple(values), start.pos)

    def externaldata(self) -> s.ExternalData:
        """``externaldata(Name:type, ...)[ "url", ... ] [with (format="csv", ...)]``."""
        start = self.next()
        columns = self.column_declarations(start.value)
        self.expect_op("[", f"after the columns of '{start.value}'")
        urls = self.comma_list(self.expression)
        self.expect_op("]", "to close the list of URLs")
        options: list = []
        if self.peek().is_word("with"):
            self.next()
            self.expect_op("(", "after 'with'")
            if not self.peek().is_op(")"):
                options = self.comma_list(self.argument)
            self.expect_op(")", "to close 'with (...)'")
        return s.ExternalData(start.text, start.pos, tuple(columns), tuple(urls), tuple(options))

    def range_source(self) -> s.RangeSource:
        start = self.next()
        name = self.name("after 'range'")
        self.expect_word("from", "after the column name of 'range'")
        low = self.expression()
        self.expect_word("to", "in 'range' (range x from a to b step c)")
        high = self.expression()
        self.expect_word("step", "in 'range' (range x from a to b step c)")
        return s.RangeSource(name.value, low, high, self.expression(), start.pos)


__all__ = ["Parser", "TYPE_NAMES", "parse"]
