"""A small OData ``$filter`` evaluator, enough for the Defender and Graph list endpoints.

Grammar: comparisons ``field op literal`` (``eq ne gt ge lt le``), ``field in ('a','b')``,
``and``/``or``/``not``, parentheses, ``startswith|endswith|contains(field,'x')`` and lambdas
``machineTags/any(t: t eq 'x')``. Literals: ``'text'`` (``''`` escapes a quote), numbers,
``true``/``false``/``null`` and bare ISO datetimes (``2026-01-01T00:00:00Z``) or dates
(``2018-08-01`` or ``2018-08-01Z``, midnight UTC: Microsoft's own MDE sample
``lastSeen gt 2018-08-01Z`` is accepted by the service). Field names
match case-insensitively (MDE documents ``Status``/``MachineId`` for machine actions); string
comparison is case-insensitive; datetimes compare as instants.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Callable, Iterable

from soar_defender.sim.clock import parse_iso

Predicate = Callable[[dict], bool]

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<dt>\d{4}-\d\d-\d\d(?:T[0-9:.]+)?(?:Z|[+-]\d\d:\d\d)?)
  | (?P<num>-?\d+(?:\.\d+)?)(?![\w-])
  | (?P<punct>[(),:])
  | (?P<word>[A-Za-z_$@][\w./$@]*)
)""", re.VERBOSE)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}


class ODataError(ValueError):
    """A ``$filter`` the simulated API rejects (400 ODataError)."""


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(f"Invalid filter: unexpected text at position {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "str":
            out.append(("lit", raw[1:-1].replace("''", "'")))
        elif kind == "dt":
            out.append(("lit", _datetime(raw)))
        elif kind == "num":
            out.append(("lit", float(raw) if "." in raw else int(raw)))
        elif kind == "punct":
            out.append((raw, raw))
        elif raw.lower() in ("true", "false"):
            out.append(("lit", raw.lower() == "true"))
        elif raw.lower() == "null":
            out.append(("lit", None))
        else:
            out.append(("word", raw))
    return out


def _datetime(raw: str) -> datetime:
    # A date is midnight UTC; a trailing Z (as in Microsoft's sample) adds nothing.
    value = parse_iso(raw if "T" in raw else raw[:10] + "T00:00:00Z")
    if value is None:
        raise ODataError(f"Invalid filter: {raw!r} is not a valid date or datetime")
    return value


def get_field(item: Any, path: str) -> Any:
    """``item[path]`` with case-insensitive keys and ``a/b`` navigation."""
    for part in path.split("/"):
        if not isinstance(item, dict):
            return None
        if part in item:
            item = item[part]
            continue
        low = part.lower()
        item = next((v for k, v in item.items() if k.lower() == low), None)
    return item


def _norm(value: Any, other: Any) -> Any:
    if isinstance(other, datetime) and isinstance(value, str):
        return parse_iso(value)
    if isinstance(value, str):
        return value.lower()
    return value


def compare(value: Any, op: str, literal: Any) -> bool:
    a, b = _norm(value, literal), _norm(literal, value)
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if a is None or b is None:
        return False
    try:
        return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, tokens: list, fields: set[str] | None) -> None:
        self.t = tokens
        self.i = 0
        self.fields = fields
        self.lambda_vars: set[str] = set()

    def peek(self, k: int = 0) -> tuple[str, Any] | None:
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def take(self, kind: str | None = None, value: str | None = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value and str(tok[1]).lower() != value):
            raise ODataError(f"Invalid filter: expected {value or kind}, found {tok[1] if tok else 'end'!r}")
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def field(self, name: str) -> str:
        head = name.split("/")[0]
        if head in self.lambda_vars:
            return name
        if self.fields is not None and head.lower() not in self.fields:
            raise ODataError(f"Invalid filter: property '{head}' is not supported in $filter "
                             f"(filterable: {', '.join(sorted(self.fields))})")
        return name

    def expr(self) -> Predicate:
        left = self.and_expr()
        while self.is_word("or"):
            self.i += 1
            right = self.and_expr()
            left = (lambda a, b: lambda x: a(x) or b(x))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while self.is_word("and"):
            self.i += 1
            right = self.unary()
            left = (lambda a, b: lambda x: a(x) and b(x))(left, right)
        return left

    def unary(self) -> Predicate:
        if self.is_word("not"):
            self.i += 1
            inner = self.unary()
            return lambda x: not inner(x)
        if self.peek() and self.peek()[0] == "(":
            self.i += 1
            inner = self.expr()
            self.take(")")
            return inner
        name = self.take("word")[1]
        if self.peek() and self.peek()[0] == "(" and name.lower() in ("startswith", "endswith", "contains"):
            return self.function(name.lower())
        if name.lower().endswith(("/any", "/all")):
            return self.lambda_(name)
        path = self.field(name)
        op = self.take("word")[1].lower()
        if op == "in":
            self.take("(")
            values = [self.take("lit")[1]]
            while self.peek() and self.peek()[0] == ",":
                self.i += 1
                values.append(self.take("lit")[1])
            self.take(")")
            return lambda x: any(compare(self.value(x, path), "eq", v) for v in values)
        if op not in _OPS:
            raise ODataError(f"Invalid filter: unknown operator {op!r}")
        literal = self.take("lit")[1]
        return lambda x: compare(self.value(x, path), op, literal)

    def value(self, item: dict, path: str) -> Any:
        head, _, rest = path.partition("/")
        if head in self.lambda_vars:
            return item.get(head) if not rest else get_field(item.get(head), rest)
        return get_field(item, path)

    def function(self, name: str) -> Predicate:
        self.take("(")
        path = self.field(self.take("word")[1])
        self.take(",")
        literal = str(self.take("lit")[1]).lower()
        self.take(")")
        test = {"startswith": str.startswith, "endswith": str.endswith,
                "contains": lambda s, v: v in s}[name]
        return lambda x: isinstance(self.value(x, path), str) and test(self.value(x, path).lower(), literal)

    def lambda_(self, name: str) -> Predicate:
        collection, _, kind = name.rpartition("/")
        collection = self.field(collection)
        self.take("(")
        var = self.take("word")[1]
        self.take(":")
        self.lambda_vars.add(var)
        inner = self.expr()
        self.lambda_vars.discard(var)
        self.take(")")
        agg = any if kind.lower() == "any" else all

        def pred(x: dict) -> bool:
            items = self.value(x, collection) or []
            return agg(inner({**x, var: it}) for it in items)
        return pred


def compile_filter(text: str | None, fields: Iterable[str] | None = None) -> Predicate:
    """A predicate for ``$filter=text``; ``fields`` (if given) are the filterable properties."""
    if not text or not text.strip():
        return lambda x: True
    allowed = {f.lower() for f in fields} if fields is not None else None
    parser = _Parser(_tokens(text), allowed)
    pred = parser.expr()
    if parser.peek() is not None:
        raise ODataError(f"Invalid filter: unexpected {parser.peek()[1]!r}")
    return pred


def page_params(query: dict[str, str], max_top: int, default_top: int | None = None) -> tuple[int | None, int]:
    """``($top, $skip)`` from a query; ``$top`` above ``max_top`` is an error, as in Defender."""
    try:
        top = int(query["$top"]) if "$top" in query else default_top
        skip = int(query.get("$skip", 0))
    except ValueError as exc:
        raise ODataError("Invalid $top or $skip: must be an integer") from exc
    if top is not None and (top < 0 or top > max_top):
        raise ODataError(f"Invalid $top={top}: the maximum page size is {max_top}")
    if skip < 0:
        raise ODataError("Invalid $skip: must not be negative")
    return top, skip
