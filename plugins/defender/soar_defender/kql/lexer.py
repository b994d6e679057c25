"""Tokenizer: KQL text → tokens with 1-based line and column.

Token kinds: ``ident`` (names and word operators: ``where``, ``contains``, ``!contains``,
``in~``, ``project-away``, ``$left``), ``op`` (punctuation), ``int``, ``real``, ``timespan``,
``string``, ``typed`` (the raw text of ``datetime(...)``, ``timespan(...)``, ``guid(...)``) and
``eof``. Nothing here evaluates the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from .errors import parse_error
from .model import TIMESPAN_UNITS, timespan_from

#: Operators spelled with a hyphen; any other ``a-b`` is a subtraction.
HYPHENATED = frozenset({
    "project-away", "project-rename", "project-keep", "project-reorder", "mv-expand", "mv-apply",
    "make-series", "top-nested", "top-hitters", "parse-where", "parse-kv", "sample-distinct",
    "graph-match", "graph-merge", "graph-to-table", "graph-shortest-paths", "graph-mark-components",
    "macro-expand", "make-graph", "granny-asc", "granny-desc", "assert-schema", "project-by-names",
    "project-smart",
})
_HYPHEN_PREFIXES = frozenset(w.rsplit("-", k)[0] for w in HYPHENATED for k in range(1, w.count("-") + 1))
#: Word operators that take a leading '!'.
NEGATABLE = frozenset({
    "contains", "contains_cs", "has", "has_cs", "startswith", "startswith_cs", "endswith",
    "endswith_cs", "in", "between", "hasprefix", "hasprefix_cs", "hassuffix", "hassuffix_cs",
    "has_any", "has_all",
})
RAW_LITERALS = frozenset({"datetime", "timespan", "time", "guid"})

_TWO_CHAR = frozenset({"==", "!=", "<>", "<=", ">=", "=~", "!~", ".."})
_ONE_CHAR = frozenset("=<>()[]{},;:|+-*/%.")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_DIGITS = frozenset("0123456789")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}
LONG_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: Any
    text: str  # the source text of the token, for error messages
    line: int
    column: int

    @property
    def pos(self) -> tuple[int, int]:
        return (self.line, self.column)

    def is_op(self, *values: str) -> bool:
        return self.kind == "op" and self.value in values

    def is_word(self, *values: str) -> bool:
        return self.kind == "ident" and self.value in values


class _Lines:
    def __init__(self, source: str) -> None:
        self.starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]

    def pos(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens; raise KqlError (SyntaxError) on text that is not KQL."""
    lines = _Lines(source)
    tokens: list[Token] = []
    i, n = 0, len(source)

    string_start = -1  # where the last string token began, to join adjacent literals

    def add(kind: str, value: Any, start: int, end: int) -> None:
        nonlocal string_start
        if kind == "string" and tokens and tokens[-1].kind == "string":  # "a" "b" is "ab"
            prev = tokens.pop()
            tokens.append(Token("string", prev.value + value, source[string_start:end], prev.line, prev.column))
            return
        string_start = start if kind == "string" else -1
        tokens.append(Token(kind, value, source[start:end], *lines.pos(start)))

    def fail(start: int, end: int, detail: str):
        return parse_error(source[start:end], lines.pos(start), detail)

    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if source.startswith("//", i):
            nl = source.find("\n", i)
            i = n if nl < 0 else nl
            continue
        start = i
        if ch in "hH" and source.startswith("@", i + 1) and i + 2 < n and source[i + 2] in "\"'":
            value, i = _string(source, i + 2, verbatim=True, fail=fail)
            add("string", value, start, i)
        elif source.startswith("```", i + (ch in "hH")) or source.startswith("~~~", i + (ch in "hH")):
            fence = i + (ch in "hH")
            close = source.find(source[fence:fence + 3], fence + 3)
            if close < 0:
                raise fail(start, fence + 3, "unterminated multi-line string literal")
            i = close + 3
            add("string", source[fence + 3:close], start, i)
        elif ch in "hH@" and i + 1 < n and source[i + 1] in "\"'":
            value, i = _string(source, i + 1, verbatim=ch == "@", fail=fail)
            add("string", value, start, i)
        elif ch in "\"'":
            value, i = _string(source, i, verbatim=False, fail=fail)
            add("string", value, start, i)
        elif ch.isascii() and (ch.isalpha() or ch == "_") or (ch == "$" and _WORD.match(source, i + 1)):
            word = _WORD.match(source, i + (ch == "$")).group()
            word = "$" + word if ch == "$" else word
            i += len(word)
            end = i
            joined = word
            while end < n and source[end] == "-" and (m := _WORD.match(source, end + 1)) \
                    and f"{joined}-{m.group()}" in HYPHENATED | _HYPHEN_PREFIXES:
                joined, end = f"{joined}-{m.group()}", m.end()
                if joined in HYPHENATED:
                    word, i = joined, end
            if word == "in" and source.startswith("~", i):
                word, i = "in~", i + 1
            if word in RAW_LITERALS:
                j = i
                while j < n and source[j] in " \t":
                    j += 1
                if j < n and source[j] == "(":
                    close = source.find(")", j)
                    if close < 0 or "\n" in source[j:close]:
                        raise fail(start, j + 1, f"unterminated {word}(...) literal")
                    i = close + 1
                    add("typed", (word, source[j + 1:close].strip()), start, i)
                    continue
            add("ident", word, start, i)
        elif ch in _DIGITS or (ch == "." and i + 1 < n and source[i + 1] in _DIGITS):
            i = _number(source, i, add, fail)
        elif ch == "!" and (m := _WORD.match(source, i + 1)):
            word = m.group()
            i = m.end()
            if word not in NEGATABLE:
                raise fail(start, i, f"'!{word}' is not an operator")
            if word == "in" and source.startswith("~", i):
                word, i = "in~", i + 1
            add("ident", "!" + word, start, i)
        elif source[i:i + 2] in _TWO_CHAR:
            i += 2
            add("op", source[start:i], start, i)
        elif ch in _ONE_CHAR:
            i += 1
            add("op", ch, start, i)
        else:
            raise fail(start, start + 1, f"unexpected character {ch!r}")
    tokens.append(Token("eof", None, "", *lines.pos(n)))
    return tokens


def _number(source: str, i: int, add, fail) -> int:
    m = _NUMBER.match(source, i)
    text = m.group()
    end = m.end()
    unit = _WORD.match(source, end)
    if unit and not text.lower().startswith("0x"):
        name = unit.group()
        if name not in TIMESPAN_UNITS:
            raise fail(i, unit.end(), f"bad numeric literal '{text}{name}' (timespan units are "
                                      "d, h, m, s, ms, microsecond, tick)")
        try:
            add("timespan", timespan_from(float(text), name), i, unit.end())
        except OverflowError:
            raise fail(i, unit.end(), "timespan literal out of range") from None
        return unit.end()
    if unit:
        raise fail(i, unit.end(), f"bad numeric literal '{source[i:unit.end()]}'")
    if text.lower().startswith("0x"):
        value: Any = int(text, 16)
    elif any(c in text for c in ".eE"):
        value = float(text)
        add("real", value, i, end)
        return end
    else:
        value = int(text)
    if value > LONG_MAX:
        raise fail(i, end, f"numeric literal '{text}' is out of range for long")
    add("int", value, i, end)
    return end


def _string(source: str, i: int, *, verbatim: bool, fail) -> tuple[str, int]:
    quote = source[i]
    j = i + 1
    out: list[str] = []
    n = len(source)
    while j < n:
        ch = source[j]
        if ch == quote:
            if verbatim and source.startswith(quote, j + 1):  # "" inside @"..." is one quote
                out.append(quote)
                j += 2
                continue
            return "".join(out), j + 1
        if ch == "\n" and not verbatim:
            break
        if ch == "\\" and not verbatim:
            esc = source[j + 1:j + 2]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                j += 2
                continue
            if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[j + 2:j + 6]):
                out.append(chr(int(source[j + 2:j + 6], 16)))
                j += 6
                continue
            raise fail(j, j + 2, f"invalid escape sequence '\\{esc}' in string literal "
                                 "(use @\"...\" for paths with backslashes)")
        out.append(ch)
        j += 1
    raise fail(i, min(j, i + 20), "unterminated string literal")
