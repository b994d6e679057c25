"""Secret values: a type that cannot be printed, references that resolve them, and redaction.

Two layers keep secrets out of logs, run history, errors and CLI output:

1. **Structure** — a resolved secret is a :class:`Secret`. ``str()``/``repr()``/``format()``
   give ``***``; only :meth:`Secret.reveal` gives the value, and only actions call it when
   they put the value on the wire. Stored rows and JSON output serialise it as ``"***"``.
2. **Text** — every revealed value is registered, and :func:`redact` replaces any registered
   value found in free text (exception messages, API error bodies echoed back, log lines) —
   written plainly, percent-encoded (``%2F``/``+`` forms a URL query gives it) or JSON-escaped.

References: ``env:NAME``, ``file:PATH``; other schemes (``keyring:``, ``keyvault:``) are added
by :func:`register_scheme` (see ``runner.config``).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any, Callable

MASK = "***"

# Known secret values, oldest first. Bounded: a long-running server resolves a new access token
# per tenant every hour; the oldest values (long expired tokens) are forgotten first.
_known: dict[str, None] = {}
_known_lock = threading.Lock()
_MIN_LEN = 4  # shorter values would redact ordinary words
MAX_KNOWN = 10_000
_KEY_LEN = 12  # a known value is looked up by its first characters (fewer for a shorter value)


class _Matcher:
    """Finds every occurrence of a set of values in a text, at a cost that does not grow with the
    number of values: one compiled regex of the values' distinct first :data:`_KEY_LEN` characters
    finds the candidate positions (in C; tokens from one issuer share their first characters, so
    the pattern stays small), and at each candidate a set look-up per distinct value length
    confirms a whole value. Every occurrence is masked — overlapping ones as one span."""

    __slots__ = ("_search", "_index", "_key_lengths")

    def __init__(self, values: list[str]) -> None:
        index: dict[str, dict[int, set[str]]] = {}
        for v in values:
            index.setdefault(v[:_KEY_LEN], {}).setdefault(len(v), set()).add(v)
        # key -> ((length, values), ...), longest first
        self._index = {k: tuple(sorted(((n, frozenset(vs)) for n, vs in by_len.items()), reverse=True))
                       for k, by_len in index.items()}
        self._key_lengths = sorted({len(k) for k in index}, reverse=True)
        pattern = "|".join(re.escape(k) for k in sorted(index, key=len, reverse=True))
        self._search = re.compile(pattern).search if pattern else None

    def sub(self, text: str) -> str:
        """``text`` with every occurrence masked; ``text`` itself when there is none."""
        search = self._search
        m = search(text) if search is not None else None
        if m is None:
            return text
        index, spans = self._index, []
        while m is not None:
            p = m.start()
            end = 0
            for kn in self._key_lengths:
                for n, values in index.get(text[p:p + kn], ()):
                    if n > end - p and text[p:p + n] in values:
                        end = p + n
                        break
            if end:
                spans.append((p, end))
            m = search(text, p + 1)
        if not spans:
            return text
        out, last, cur_start, cur_end = [], 0, spans[0][0], spans[0][1]
        for a, b in spans[1:]:
            if a < cur_end:  # overlapping occurrences: one mask
                cur_end = max(cur_end, b)
                continue
            out += (text[last:cur_start], MASK)
            last, cur_start, cur_end = cur_end, a, b
        out += (text[last:cur_start], MASK, text[cur_end:])
        return "".join(out)


_EMPTY = _Matcher([])
_plain: _Matcher | None = _EMPTY  # None: rebuild on next use (the known values changed)
_json: _Matcher | None = _EMPTY


def register_value(value: str) -> None:
    """Remember a secret value so :func:`redact` masks it wherever it shows up as text."""
    global _plain, _json
    if not value or len(value) < _MIN_LEN or value in _known:
        return
    with _known_lock:
        _known[value] = None
        while len(_known) > MAX_KNOWN:
            del _known[next(iter(_known))]
        _plain = _json = None  # rebuilt lazily: registering many values costs one build


def _matcher(json_forms: bool) -> _Matcher:
    global _plain, _json
    made = _json if json_forms else _plain
    if made is not None:
        return made
    with _known_lock:
        values = [form for v in _known for form in _forms(v)]
        if json_forms:
            values += [_json_string(v) for v in values]
        made = _Matcher(list(dict.fromkeys(values)))
        if json_forms:
            _json = made
        else:
            _plain = made
    return made


def _forms(value: str) -> list[str]:
    """``value`` and the forms it takes on the way to and back from an HTTP endpoint: percent-
    encoded as a URL component (``quote``, ``quote_plus``; upper- and lower-case hex) and as a
    JSON string with non-ASCII escaped — a server that echoes a request shows these, not the
    value itself."""
    import json
    from urllib.parse import quote, quote_plus

    forms = [value]
    for encoded in (quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="/")):
        forms += [encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)]
    forms.append(json.dumps(value)[1:-1])  # \uXXXX for non-ASCII, as most servers write JSON
    return [f for f in dict.fromkeys(forms) if len(f) >= _MIN_LEN]


def _json_string(value: str) -> str:
    """``value`` as it appears inside a JSON string (quotes, backslashes, controls escaped)."""
    from json.encoder import encode_basestring  # what the run store's encoder uses

    return encode_basestring(value)[1:-1]


def redact(text: str) -> str:
    """Mask every known secret value in ``text`` (plain, percent-encoded or JSON-escaped)."""
    if not _known or not isinstance(text, str):
        return text
    return _matcher(False).sub(text)


def redact_json(text: str) -> str:
    """Mask every known secret value in JSON text, written plainly or JSON-escaped (a value with
    a quote, a backslash or a control character reads differently inside a JSON string).
    Returns ``text`` itself when nothing was found."""
    if not _known:
        return text
    return _matcher(True).sub(text)


class Secret:
    """A value that must not be shown. Use :meth:`reveal` only to send it where it belongs."""

    __slots__ = ("_value", "name", "_shown")

    def __init__(self, value: str, name: str | None = None, shown: str | None = None):
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)
        self.name = name
        self._shown = shown  # e.g. "Bearer ***" for a string built around a secret
        if shown is None:  # a composite ("Bearer <secret>") needs no entry: its parts have one
            register_value(self._value)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return self._shown if self._shown is not None else MASK

    def __repr__(self) -> str:
        return f"Secret({self.name or ''}{'=' if self.name else ''}{str(self)!r})"

    def __format__(self, spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # never pickle the clear value by accident
        raise TypeError("a Secret cannot be pickled")

    # pydantic: an input field typed `Secret` accepts a Secret or a plain string
    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        from pydantic_core import core_schema

        def coerce(v: Any) -> "Secret":
            if isinstance(v, Secret):
                return v
            if isinstance(v, str):
                return Secret(v)
            raise ValueError("expected a secret (a string or ${{ secrets.NAME }})")

        return core_schema.no_info_plain_validator_function(
            coerce,
            # JSON dumps show ***; python-mode dumps keep the Secret so it can flow to later steps
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: MASK, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        # "secret": a secret reference or value, never shown (the catalogue renders it so)
        return {"type": "string", "format": "secret", "writeOnly": True}


def reveal(value: Any) -> Any:
    """Reveal a Secret; leave anything else as it is (for values that may or may not be secret)."""
    return value.reveal() if isinstance(value, Secret) else value


def mask(value: Any) -> Any:
    """A copy of ``value`` safe to show or store: Secrets become ``***``, known values redacted."""
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value


def reveal_all(value: Any) -> Any:
    """``value`` with every Secret inside replaced by its clear text (for actions whose inputs are
    plain strings; the values stay registered, so text redaction still masks them)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: reveal_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reveal_all(v) for v in value]
    return value


def contains_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_secret(v) for v in value)
    return False


# ---- references -----------------------------------------------------------------------------

Resolver = Callable[[str], str]
_schemes: dict[str, Resolver] = {}


def register_scheme(scheme: str, resolver: Resolver) -> None:
    """Add a reference scheme (``keyring``, ``keyvault``...). The resolver gets what follows ``scheme:``."""
    _schemes[scheme] = resolver


def _env(name: str) -> str:
    from runner.errors import SecretError

    if name not in os.environ:
        raise SecretError(
            f"secret reference 'env:{name}' is not set",
            hint=f"export {name}=... before running, or change the reference",
        )
    return os.environ[name]


def _file(path: str) -> str:
    from runner.errors import SecretError

    p = Path(path).expanduser()
    try:
        return p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(
            f"secret reference 'file:{path}' cannot be read ({exc.strerror or type(exc).__name__})",
            hint="check that the file exists and is readable by this user",
        ) from None


register_scheme("env", _env)
register_scheme("file", _file)


def is_reference(text: str) -> bool:
    scheme, sep, rest = text.partition(":")
    return bool(sep and rest and scheme in _schemes)


def resolve(reference: str, name: str | None = None) -> Secret:
    """Resolve ``scheme:rest`` into a :class:`Secret`. Errors name the reference, never a value."""
    from runner.errors import SecretError

    scheme, sep, rest = str(reference).partition(":")
    if not sep or scheme not in _schemes or not rest:
        known = ", ".join(f"{s}:" for s in sorted(_schemes))
        shown = f"scheme '{scheme}:'" if sep else "a literal value"
        label = f"secret '{name}'" if name else "a secret"
        raise SecretError(
            f"{label} is {shown}, not a secret reference",
            hint=f"use one of {known} (literal secret values are not accepted)",
        )
    return Secret(_schemes[scheme](rest), name=name)
