"""Expression half of the parser: precedence climbing over scalar expressions and literals.

:class:`ExpressionParser` also holds the token helpers; :class:`soar_defender.kql.parser.Parser`
adds statements and tabular operators on top of it.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from . import syntax as s
from .catalog import SCALAR_FUNCTIONS
from .errors import NOT_SUPPORTED, KqlError, parse_error
from .lexer import Token, tokenize
from .model import parse_datetime, parse_timespan

PRECEDENCE = {"or": 1, "and": 2, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}
for _op in ("==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~", "contains", "!contains",
            "contains_cs", "!contains_cs", "has", "!has", "has_cs", "!has_cs", "startswith",
            "!startswith", "startswith_cs", "!startswith_cs", "endswith", "!endswith",
            "endswith_cs", "!endswith_cs", "in", "!in", "in~", "!in~", "has_any", "between",
            "!between", "hasprefix", "!hasprefix", "hassuffix", "!hassuffix", "hasprefix_cs",
            "!hasprefix_cs", "hassuffix_cs", "!hassuffix_cs", "has_all", "!has_any", "!has_all", "matches"):
    PRECEDENCE[_op] = 3
#: Older spellings Kusto still accepts, and the operator each one is.
LEGACY_OPERATORS = {"notcontains": "!contains", "containscs": "contains_cs", "notcontainscs": "!contains_cs"}
for _op in LEGACY_OPERATORS:
    PRECEDENCE[_op] = 3
LIST_OPERATORS = frozenset({"in", "!in", "in~", "!in~", "has_any", "!has_any", "has_all", "!has_all"})
WORD_OPERATORS = frozenset(k for k in PRECEDENCE if k[0].isalpha() or k[0] == "!")
_TYPED_SCALAR = {"int": "int", "long": "long", "real": "real", "double": "real", "bool": "bool",
                 "boolean": "bool", "decimal": "real"}
#: Type names as written in typeof(), datatable(), externaldata(), mv-expand ... to typeof(), parse.
TYPE_NAMES = {"string": "string", "int": "int", "long": "long", "real": "real", "double": "real",
              "decimal": "real", "bool": "bool", "boolean": "bool", "datetime": "datetime", "date": "datetime",
              "timespan": "timespan", "time": "timespan", "dynamic": "dynamic", "guid": "guid",
              "uniqueid": "guid"}
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?")
MAX_NESTING = 64
MAX_TREE_DEPTH = 100


class ExpressionParser:
    """Token cursor plus the scalar-expression grammar."""

    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.i = 0
        self.nesting = 0
        self.search_mode = False  # in a search predicate, Col:"term" means Col has "term", * means any row

    # ---- token helpers ----
    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, tok: Token, detail: str, **kw):
        return parse_error(tok.text, tok.pos, detail, **kw)

    def unsupported(self, tok: Token, construct: str | None = None, detail: str | None = None, *,
                    operator: str | None = None):
        """Valid KQL the simulator does not evaluate, refused where it stands (the construct as
        written, its line and column)."""
        construct = construct or tok.text
        text = f"'{construct}' {NOT_SUPPORTED}" + (f": {detail}" if detail else "")
        return parse_error(tok.text, tok.pos, text, code="NotSupported", operator=operator or str(tok.value),
                           name=str(tok.value))

    def expect_op(self, value: str, context: str) -> Token:
        if not self.peek().is_op(value):
            raise self.error(self.peek(), f"expected '{value}' {context}")
        return self.next()

    def expect_word(self, value: str, context: str) -> Token:
        if not self.peek().is_word(value):
            raise self.error(self.peek(), f"expected '{value}' {context}")
        return self.next()

    def ident(self, context: str) -> Token:
        tok = self.peek()
        if tok.kind != "ident" or tok.value[0] in "$!" and tok.value != "$table" or tok.value in WORD_OPERATORS:
            raise self.error(tok, f"expected a name {context}")
        return self.next()

    def at_name(self) -> bool:
        """A plain name or a bracketed one (``['a b']``) comes next."""
        tok = self.peek()
        return (tok.kind == "ident" and (tok.value[0] not in "$!" or tok.value == "$table")
                and tok.value not in WORD_OPERATORS) or \
            (tok.is_op("[") and self.peek(1).kind == "string" and self.peek(2).is_op("]"))

    def name(self, context: str) -> Token:
        """A name, plain or bracketed (``['Column name']``, ``["x"]``); the token's value is the name."""
        tok = self.peek()
        if tok.is_op("[") and self.peek(1).kind == "string" and self.peek(2).is_op("]"):
            self.next()
            inner = self.next()
            self.next()
            return Token("ident", inner.value, inner.text, tok.line, tok.column)
        return self.ident(context)

    def type_name(self, context: str) -> str:
        tok = self.next()
        if tok.kind == "ident" and tok.value in TYPE_NAMES:
            return TYPE_NAMES[tok.value]
        if tok.kind == "typed" and tok.value[0] in TYPE_NAMES:  # 'datetime' lexed with a following '('
            raise self.error(tok, f"expected a type name {context}")
        raise self.error(tok, f"expected a type name (string, long, int, real, bool, datetime, timespan, "
                              f"dynamic, guid) {context}")

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(self.peek(), f"the query is nested more than {MAX_NESTING} levels deep",
                             code="LimitsExceeded")

    def comma_list(self, item, *, trailing: str | None = None):
        """``item, item, ...``; with ``trailing`` (a closing operator such as ']'), one comma may
        end the list before it, as Kusto allows in datatable values."""
        items = [item()]
        while self.peek().is_op(","):
            self.next()
            if trailing is not None and self.peek().is_op(trailing):
                break
            items.append(item())
        return items

    def scalar_argument(self):
        """The scalar expression that is toscalar()'s whole argument (a literal, an operation, a
        built-in scalar function's call), or None, having read nothing, for a tabular one (a table
        or tabular let's name, a pipeline, a user function's call)."""
        start, nesting = self.i, self.nesting
        try:
            node = self.expression()
        except KqlError:
            node = None
        if node is not None and self.peek().is_op(")") and type(node) is not s.Name and \
                (type(node) is not s.Call or node.name in SCALAR_FUNCTIONS):
            return node
        self.i, self.nesting = start, nesting
        return None

    # ---- scalar expressions ----
    def expression(self):
        node = self.binary(1)
        _check_depth(node)
        return node

    def binary(self, min_precedence: int):
        self.enter()
        left = self.unary()
        while True:
            tok = self.peek()
            op = tok.value if tok.kind in ("op", "ident") and tok.value in PRECEDENCE else None
            if self.search_mode and tok.is_op(":"):
                op = "has"
            if op is None or PRECEDENCE[op] < min_precedence:
                break
            self.next()
            op = LEGACY_OPERATORS.get(op, op)
            if op == "matches":
                self.expect_word("regex", "after 'matches'")
                op = "matches regex"
            if op in LIST_OPERATORS:
                left = s.InList(op, left, tuple(self.in_list(op)), tok.pos)
            elif op in ("between", "!between"):
                self.expect_op("(", f"after '{op}'")
                low = self.binary(4)
                self.expect_op("..", f"between the bounds of '{op}' (a .. b)")
                high = self.binary(4)
                self.expect_op(")", f"to close '{op}'")
                left = s.Between(op == "!between", left, low, high, tok.pos)
            else:
                if self.peek().kind == "eof":
                    raise self.error(self.peek(), f"expected an expression after '{tok.text}'")
                left = s.Binary("!=" if op == "<>" else op, left, self.binary(PRECEDENCE.get(op, 3) + 1), tok.pos)
        self.nesting -= 1
        return left

    def in_list(self, op: str) -> list:
        self.expect_op("(", f"after '{op}'")
        if self.looks_tabular():  # in (T | where ...), in ((T | project x)), in (materialize(...))
            items = [self.tabular()]
        elif self.peek().is_op(")"):
            raise self.error(self.peek(), f"'{op}' needs at least one value")
        else:
            items = self.comma_list(self.expression)
        self.expect_op(")", f"to close the list of '{op}'")
        return items

    def unary(self):
        tok = self.peek()
        if tok.is_op("-", "+"):
            self.next()
            self.enter()
            operand = self.unary()
            self.nesting -= 1
            if tok.value == "-" and isinstance(operand, s.Literal) and operand.type in ("int", "real", "timespan") \
                    and operand.value is not None:
                return s.Literal(-operand.value, operand.type, tok.pos)
            return operand if tok.value == "+" else s.Unary("-", operand, tok.pos)
        return self.postfix(self.primary())

    def postfix(self, node):
        while True:
            tok = self.peek()
            if tok.is_op(".") and self.peek(1).is_op("["):  # x.["TO.GROUP"]
                self.next()
                continue
            if tok.is_op("."):
                self.next()
                key = self.next()
                if key.kind not in ("ident", "string") or key.value[0] in "$!":
                    raise self.error(key, "expected a property name after '.'")
                node = s.Member(node, key.value, tok.pos)
            elif tok.is_op("["):
                self.next()
                index = self.expression()
                self.expect_op("]", "to close the index")
                node = s.Member(node, index, tok.pos)
            else:
                return node

    def primary(self):
        tok = self.next()
        if tok.is_op("*") and self.peek().is_word("has", "has_cs"):  # where * has "term": any column
            sensitive = self.next().value == "has_cs"
            return s.Call("\0search", (self.unary(), s.Literal(sensitive, "bool", tok.pos)), tok.pos)
        if self.search_mode and tok.is_op("*"):
            return s.Literal(True, "bool", tok.pos)
        if tok.kind in ("int", "real", "timespan", "string"):
            return s.Literal(tok.value, "long" if tok.kind == "int" else tok.kind, tok.pos)
        if tok.kind == "typed":
            clock = _TIME_OF_DAY.fullmatch(tok.value[1].strip("\"' ")) if tok.value[0] == "datetime" else None
            if clock:  # datetime("8:00:00 AM"): that time today, as .NET parses a date-less time
                hour, minute, second, half = clock.groups()
                hour = int(hour) % 12 + (12 if half and half.upper() == "PM" else 0) if half else int(hour)
                today = s.Call("startofday", (s.Call("now", (), tok.pos),), tok.pos)
                offset = timedelta(hours=hour, minutes=int(minute), seconds=int(second or 0))
                return s.Binary("+", today, s.Literal(offset, "timespan", tok.pos), tok.pos)
            value, kql = self.typed_literal(tok)
            return s.Literal(value, kql, tok.pos)
        if tok.is_op("("):
            inner = self.binary(1)
            self.expect_op(")", "to close '('")
            return inner
        if tok.is_op("[") and self.peek().kind == "string" and self.peek(1).is_op("]"):
            name = self.next()
            self.next()
            return s.Name(name.value, name.pos)
        if tok.kind == "ident" and (tok.value[0] not in "!$" or tok.value == "$table") and \
                tok.value not in WORD_OPERATORS:
            if tok.value in ("true", "false", "True", "False", "TRUE", "FALSE"):
                return s.Literal(tok.value.lower() == "true", "bool", tok.pos)
            if not self.peek().is_op("("):
                return s.Name(tok.value, tok.pos)
            if tok.value == "dynamic":
                self.next()
                value = self.dynamic_value()
                self.expect_op(")", "to close dynamic(...)")
                return s.Literal(value, "dynamic", tok.pos)
            if tok.value in _TYPED_SCALAR:
                return self.typed_scalar(tok)
            self.next()
            if tok.value == "typeof":
                kql = self.type_name("inside typeof(...)")
                self.expect_op(")", "to close typeof(...)")
                return s.TypeOf(kql, tok.pos)
            args = []
            if tok.value == "toscalar" and (scalar := self.scalar_argument()) is not None:
                args = [scalar]  # toscalar(array_length(Verses)): a scalar is its own value
            elif tok.value in ("toscalar", "materialize"):
                args = [self.tabular()]
                while self.peek().is_op(","):  # toscalar(T, kind=...) options are ignored
                    self.next()
                    self.argument()
            elif not self.peek().is_op(")"):
                args = self.comma_list(self.argument)
            self.expect_op(")", f"to close the arguments of '{tok.value}'")
            return s.Call(tok.value, tuple(args), tok.pos)
        if tok.kind == "ident" and tok.value.startswith("$"):
            raise self.error(tok, f"'{tok.value}' can only be used in a join condition")
        if tok.kind == "eof":
            raise self.error(tok, "expected an expression, the query ended")
        raise self.error(tok, "expected an expression")

    def argument(self):
        if self.peek().is_op("*") and self.peek(1).is_op(",", ")"):
            return s.Star(self.next().pos)
        if self.at_name() and self.peek(1 if self.peek().kind == "ident" else 3).is_op("="):
            name = self.name("before '='")
            self.next()
            return s.NamedArg(name.value, self.expression(), name.pos)
        return self.expression()

    def looks_tabular(self) -> bool:
        """Does the statement starting here hold a tabular expression (a '|' outside calls, or a
        source keyword)? A lone name or call is decided later, when it is bound."""
        if self.tabular_keyword():
            return True
        depth, j, first_paren = 0, self.i, self.peek().is_op("(")
        while True:
            tok = self.tokens[j]
            if tok.kind == "eof" or depth == 0 and tok.is_op(";", "}", ")", ","):
                return False
            if tok.is_op("(", "[", "{"):
                depth += 1
            elif tok.is_op(")", "]", "}"):
                depth -= 1
            elif tok.is_op("|") and (depth == 0 or depth == 1 and first_paren):
                return True
            j += 1

    def tabular_keyword(self) -> bool:
        """The next token starts a tabular expression that is not a plain table name."""
        tok = self.peek()
        return tok.kind == "ident" and tok.value in ("union", "datatable", "externaldata", "external_data",
                                                     "range", "print", "materialize", "view", "find") \
            and (tok.value != "range" or self.peek(2).is_word("from")) \
            and (tok.value != "find" or self.peek(1).is_word("in", "where", "withsource"))

    def typed_literal(self, tok: Token):
        """The value and type of ``datetime(...)``, ``timespan(...)``, ``guid(...)``."""
        kind, text = tok.value
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]
        kql = {"datetime": "datetime", "timespan": "timespan", "time": "timespan", "guid": "guid"}[kind]
        if text == "null":
            return None, kql
        if kql == "datetime":
            value = parse_datetime(text)
        elif kql == "timespan":
            value = parse_timespan(text)
        else:
            try:
                value = str(uuid.UUID(text))
            except ValueError:
                value = None
        if value is None:
            raise self.error(tok, f"bad {kind} literal '{text}'")
        return value, kql

    def typed_scalar(self, tok: Token) -> s.Literal:
        kql = _TYPED_SCALAR[tok.value]
        self.next()
        sign = 1
        if self.peek().is_op("-"):
            self.next()
            sign = -1
        arg = self.next()
        if arg.is_word("null"):
            value = None
        elif kql == "bool" and arg.is_word("true", "false"):
            value = arg.value == "true"
        elif kql == "real" and arg.is_word("nan", "inf"):
            value = float(arg.value) * sign
        elif arg.kind in ("int", "real") and kql != "bool":
            value = arg.value * sign
            value = float(value) if kql == "real" else value
            if kql != "real" and isinstance(value, float):
                raise self.error(arg, f"'{arg.text}' is not a valid {tok.value} literal")
        else:
            raise self.error(arg, f"expected a literal value or null inside {tok.value}(...)")
        self.expect_op(")", f"to close {tok.value}(...)")
        return s.Literal(value, kql, tok.pos)

    def dynamic_value(self):
        self.enter()
        tok = self.next()
        if tok.is_op("["):
            value: object = []
            if not self.peek().is_op("]"):
                value = self.comma_list(self.dynamic_value)
            self.expect_op("]", "to close the dynamic array")
        elif tok.is_op("{"):
            value = {}
            while not self.peek().is_op("}"):
                key = self.next()
                if key.kind not in ("string", "ident"):
                    raise self.error(key, "expected a property name in the dynamic property bag")
                self.expect_op(":", "after the property name")
                value[key.value] = self.dynamic_value()
                if not self.peek().is_op(","):
                    break
                self.next()
            self.expect_op("}", "to close the dynamic property bag")
        elif tok.kind in ("int", "real", "string"):
            value = tok.value
        elif tok.is_op("-") and self.peek().kind in ("int", "real"):
            value = -self.next().value
        elif tok.is_word("null", "true", "false"):
            value = {"null": None, "true": True, "false": False}[tok.value]
        elif tok.kind == "typed":
            value = self.typed_literal(tok)[0]
        else:
            raise self.error(tok, "expected a value (number, string, true, false, null, [...] or {...}) "
                                  "in dynamic(...)")
        self.nesting -= 1
        return value


def _check_depth(node) -> None:
    """Refuse expression trees deeper than MAX_TREE_DEPTH (long a+b+c+... chains), so the
    compiler and evaluator never recurse past Python's limit."""
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            text = str(getattr(current, "op", getattr(current, "name", "(")))
            raise parse_error(text, current.pos, f"the expression is more than {MAX_TREE_DEPTH} "
                              "operators deep", code="LimitsExceeded")
        for field in getattr(current, "__slots__", ()):
            child = getattr(current, field)
            children = child if isinstance(child, tuple) else (child,)
            for c in children:
                if hasattr(c, "pos") and not isinstance(c, s.Pipeline):
                    stack.append((c, depth + 1))
