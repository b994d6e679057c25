"""The ``parse-kv`` operator: named values extracted from a key/value text.

    T | parse-kv Expr as (Key: type, ...) [with (pair_delimiter = ",", kv_delimiter = ":"
                                                 [, quote = '"' ...] [, escape = "\\" ...] [, greedy = true])]
    T | parse-kv Expr as (Key: type, ...) [with (quote = "'" ..., escape = "\\" ...)]   (no delimiters)
    T | parse-kv Expr as (Key: type, ...) with (regex = @"(key)=(value)")

The three modes of Kusto's reference. With both delimiters, the text is read pair by pair: the key
up to the key/value delimiter, the value up to the pair delimiter (with ``greedy``, up to the pair
delimiter that starts the next ``key<kv_delimiter>``); a key or value in quotes may hold either
delimiter, and an escape character keeps the next character as it is. With no delimiter, any
character that is not a letter or digit separates a listed key from its value, and the value is
the run of letters and digits after it (or a quoted text). With ``regex``, its two groups are the
key and the value of each match. The first appearance of a key counts; keys and values are
trimmed; a listed key the text lacks is null (an empty string for a string column), and the
values are converted to their declared types as ``toint()``, ``todatetime()``, ... do.
"""

from __future__ import annotations

import re
from typing import Any

from . import syntax as s
from .compiler import compile_expr
from .convert import convert_to
from .errors import semantic_error
from .model import Column, Relation, null_of
from .regex import compile_regex

_OPTIONS = ("pair_delimiter", "kv_delimiter", "quote", "escape", "greedy", "regex")


def parse_parse_kv(p, tok) -> s.Operator:
    """Called by the operator parser after ``parse-kv``."""
    source = p.expression()
    p.expect_word("as", "after the expression of 'parse-kv' (parse-kv Text as (Key: type, ...))")
    keys = p.column_declarations("parse-kv")
    options: list[tuple[str, Any, Any]] = []
    if p.peek().is_word("with"):
        p.next()
        p.expect_op("(", "after 'parse-kv ... with'")
        while not p.peek().is_op(")"):
            name = p.name("(an option) in 'parse-kv ... with (...)'")
            if name.value not in _OPTIONS:
                raise p.error(name, f"unknown parse-kv option '{name.value}' (use {', '.join(_OPTIONS)})")
            p.expect_op("=", f"after '{name.value}'")
            options.append((name.value, p.expression(), name.pos))
            if not p.peek().is_op(","):
                break
            p.next()
        p.expect_op(")", "to close the options of 'parse-kv'")
    return s.Operator("parse-kv", (source, tuple(keys), tuple(options)), tok.pos)


def _unquote(text: str, i: int, quotes: dict[str, str], escapes: str) -> tuple[str, int] | None:
    """The quoted text starting at ``text[i]`` (an opening quote) and the index after it."""
    close, out, j = quotes[text[i]], [], i + 1
    while j < len(text):
        ch = text[j]
        if ch in escapes and j + 1 < len(text):
            out.append(text[j + 1])
            j += 2
            continue
        if ch == close:
            return "".join(out), j + 1
        out.append(ch)
        j += 1
    return None  # no closing quote: the text is read as it is


def _with_delimiters(text: str, pair: str, kv: str, quotes: dict, escapes: str, greedy: bool) -> dict[str, str]:
    found: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and (text[i].isspace() or text.startswith(pair, i)):
            i += 1
        if i >= n:
            break
        if text[i] in quotes and (q := _unquote(text, i, quotes, escapes)) is not None:
            key, i = q
        else:
            end = text.find(kv, i)
            stop = text.find(pair, i)
            if end < 0 or (0 <= stop < end):  # no key/value delimiter in this pair: skip it
                i = n if stop < 0 else stop + len(pair)
                continue
            key, i = text[i:end], end
        key = key.strip()
        if not text.startswith(kv, i):
            i = text.find(pair, i)
            i = n if i < 0 else i + len(pair)
            continue
        i += len(kv)
        while i < n and text[i].isspace() and not text.startswith(pair, i):
            i += 1
        if i < n and text[i] in quotes and (q := _unquote(text, i, quotes, escapes)) is not None:
            value, i = q
        else:
            end = _value_end(text, i, pair, kv, greedy)
            value, i = text[i:end].strip(), end
        found.setdefault(key, value)
    return found


def _value_end(text: str, i: int, pair: str, kv: str, greedy: bool) -> int:
    stop = text.find(pair, i)
    while greedy and stop >= 0:  # the pair delimiter that starts the next key=value
        after = stop + len(pair)
        nxt = text.find(pair, after)
        if text.find(kv, after, nxt if nxt >= 0 else len(text)) >= 0:
            break
        stop = nxt
    return len(text) if stop < 0 else stop


def _without_delimiters(text: str, keys: list[str], quotes: dict, escapes: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in keys:
        for m in re.finditer(re.escape(key), text):
            start, i = m.start(), m.end()
            if start > 0 and text[start - 1].isalnum() or i < len(text) and text[i].isalnum():
                continue  # part of a longer word
            while i < len(text) and not text[i].isalnum() and text[i] not in quotes:
                i += 1
            if i < len(text) and text[i] in quotes and (q := _unquote(text, i, quotes, escapes)) is not None:
                found[key] = q[0]
                break
            j = i
            while j < len(text) and text[j].isalnum():
                j += 1
            if j > i:
                found[key] = text[i:j]
                break
    return found


def parse_kv_relation(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    source, keys, options = op.args
    scope = ev.scope(rel, env, "parse-kv")
    text_of = compile_expr(source, scope).fn
    settings: dict[str, list[Any]] = {}
    for name, expr, pos in options:
        value = compile_expr(expr, ev.scope(Relation([], []), env, "parse-kv"))
        if not value.const:
            raise semantic_error("parse-kv", pos, f"the option '{name}' must be a constant")
        settings.setdefault(name, []).append(value.value)
    pair, kv = (settings.get(k, [None])[0] for k in ("pair_delimiter", "kv_delimiter"))
    if (pair is None) != (kv is None):
        raise semantic_error("parse-kv", op.pos, "give both pair_delimiter and kv_delimiter, or neither")
    quotes = {q[0]: q[-1] for q in settings.get("quote", []) if isinstance(q, str) and q}
    escapes = "".join(e for e in settings.get("escape", []) if isinstance(e, str))
    greedy = settings.get("greedy", [False])[0] is True
    regex = settings.get("regex", [None])[0]
    try:
        pattern = compile_regex(regex) if isinstance(regex, str) else None
    except ValueError as exc:
        raise semantic_error("parse-kv", op.pos, str(exc)) from None
    if pattern is not None and pattern.groups != 2:
        raise semantic_error("parse-kv", op.pos, "the regex of parse-kv needs exactly two groups: the key and "
                                                 "the value")
    names = [name for name, _ in keys]
    kept = [c for c in rel.columns if c.name not in names]
    rows = []
    for r in rel.rows:
        text = text_of(r)
        text = text if isinstance(text, str) else ("" if text is None else str(text))
        if pattern is not None:
            found: dict[str, str] = {}
            for m in pattern.finditer(text):
                found.setdefault(m.group(1).strip(), (m.group(2) or "").strip())
        elif pair is not None:
            found = _with_delimiters(text, str(pair), str(kv), quotes, escapes, greedy)
        else:
            found = _without_delimiters(text, names, quotes, escapes)
        row = {c.name: r[c.name] for c in kept}
        for name, kql in keys:
            row[name] = convert_to(found[name], kql) if name in found else null_of(kql)
        rows.append(row)
    return Relation(kept + [Column(name, kql) for name, kql in keys], rows)


OPERATORS = {"parse-kv": parse_kv_relation}
