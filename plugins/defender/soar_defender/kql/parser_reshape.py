"""The syntax of ``find`` (a source) and ``| partition`` (an operator); reshape.py and find.py
evaluate them.

    find [withsource=C] [in (T1, T2*, (subquery))] where Predicate [project-smart | project A, B:type]
    find Predicate [project-smart | project ...]
    T | partition [hint.strategy=native|shuffle|legacy] [hint.x=...] by Column ( operator | ... )
"""

from __future__ import annotations

from . import syntax as s
from .errors import NOT_SUPPORTED, parse_error
from .lexer import Token
from .parser_ops import OperatorParser


class ReshapeParser(OperatorParser):
    """Adds ``op_partition`` and the ``find`` source to the operator parser."""

    def op_partition(self, tok: Token) -> s.Operator:
        self.hints()
        self.expect_word("by", "in 'partition' (partition by Column (subquery))")
        key = self.name("(the column to partition by) after 'by'")
        start = self.peek()
        if start.is_op("{"):
            raise parse_error(start.text, start.pos, "'partition by Column { subquery with its own source }' "
                              f"{NOT_SUPPORTED}: write the subquery in parentheses, over the partition's "
                              "rows (partition by Column ( top 1 by Timestamp ))", code="NotSupported",
                              operator="partition", name="partition")
        self.expect_op("(", "after the column of 'partition' (partition by Column (subquery))")
        self.enter()
        operators = [self.operator()]
        while self.peek().is_op("|"):
            self.next()
            operators.append(self.operator())
        self.nesting -= 1
        self.expect_op(")", "to close the subquery of 'partition'")
        subquery = s.Pipeline(s.TableRef("\0partition", start.pos), tuple(operators), start.pos)
        return s.Operator("partition", (s.Name(key.value, key.pos), subquery), tok.pos)

    def find(self) -> s.Find:
        start = self.next()
        withsource = "source_"
        if self.peek().is_word("withsource") and self.peek(1).is_op("="):
            self.next(), self.next()
            withsource = self.name("after 'withsource='").value
        self.hints()
        tables = None
        if self.peek().is_word("in") and self.peek(1).is_op("("):
            self.next(), self.next()
            tables = tuple(self.comma_list(self.union_item))
            self.expect_op(")", "to close the tables of 'find'")
            self.expect_word("where", "after the tables of 'find' (find in (T1, T2) where Predicate)")
        elif self.peek().is_word("where"):
            self.next()
        predicate = self.expression()
        project = None
        tok = self.peek()
        if tok.is_word("project-smart"):
            self.next()
        elif tok.is_word("project"):
            self.next()
            project = tuple(self.comma_list(self.find_column))
        return s.Find(withsource, tables, predicate, project, start.pos)

    def find_column(self) -> tuple:
        tok = self.peek()
        if tok.is_word("pack_all") and self.peek(1).is_op("("):
            raise self.unsupported(tok, "find ... project pack_all()", operator="find")
        name = self.name("(a column name) in the 'project' of 'find'")
        kql = None
        if self.peek().is_op(":"):
            self.next()
            kql = self.type_name(f"for the column '{name.value}'")
        return (name.value, kql, name.pos)
