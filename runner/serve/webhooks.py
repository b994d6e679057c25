"""Webhook checks: who may call (HMAC-SHA256 signature or bearer token), how big a body may be,
whether it is JSON, and which key deduplicates it. Pure functions of the request's parts, so the
HTTP layer (``runner.serve.app``) stays a thin shell.

Bodies are parsed with limits (:func:`parse_json`: nesting depth, digits of an integer, no
NaN/Infinity), so a hostile but validly signed body is a 400, never a crash. Without a
``dedup_key`` a webhook is deduplicated on the SHA-256 of its raw body (:func:`body_key`): a
replayed delivery inside the window starts nothing.

Signatures are GitHub's: ``X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>``.
Every comparison is constant-time (:func:`hmac.compare_digest`). Secrets are
:class:`~runner.secrets.Secret` values resolved when the playbook is loaded; their values are
revealed only to compute a digest and never logged.
"""

from __future__ import annotations

import array
import hashlib
import hmac
import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from runner.secrets import Secret

SIGNATURE_HEADER = "x-hub-signature-256"
DEFAULT_BODY_LIMIT = 1024 * 1024  # 1 MiB
MAX_JSON_DEPTH = 64      # nested arrays/objects in a body; the store and the engine recurse
MAX_INT_DIGITS = 100     # digits of one JSON integer (Python refuses over 4,300 with a ValueError)


@dataclass(frozen=True)
class HookAuth:
    """The credentials a webhook requires: a signing secret, a bearer token, or both."""

    secret: Secret | None = None
    token: Secret | None = None

    def check(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when every configured credential is present and right."""
        return self.refusal(body, headers) is None

    def refusal(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """Why the request is refused (for the server's log; the caller is told nothing more
        than 401), or None when every configured credential is present and right. It names
        which credential failed and how (missing or wrong), never a value."""
        if self.secret is None and self.token is None:
            return "the webhook has no credentials"  # never open: the catalog refuses such a webhook anyway
        why = []
        if self.secret is not None:
            given = headers.get(SIGNATURE_HEADER)
            if not check_signature(self.secret, body, given):
                why.append("signature does not match" if given else f"no {SIGNATURE_HEADER} header")
        if self.token is not None:
            given = headers.get("authorization")
            if not check_bearer(self.token, given):
                why.append("no bearer token" if not given else "bearer token does not match"
                           if given.lower().startswith("bearer ") else "Authorization is not a bearer token")
        return "; ".join(why) or None


def sign(secret: str | Secret, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body`` (what a sender computes)."""
    key = secret.reveal() if isinstance(secret, Secret) else secret
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def check_signature(secret: Secret, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = sign(secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def check_bearer(token: Secret, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.reveal().encode(), given.strip().encode())


class BadPayload(ValueError):
    """The body is not JSON, or not JSON soar accepts (HTTP 400)."""


_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of ``body`` — a document known to be valid JSON — nest.

    Counted on the text (C-speed steps: strip the strings, keep the brackets as +1/-1, running
    sum); on valid JSON the string pattern never backtracks, since every string is closed."""
    steps = _STRINGS.sub(b"", body).translate(_STEPS, _NOT_BRACKETS)
    return max(itertools.accumulate(array.array("b", steps)), default=0)


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise BadPayload(f"the body has an integer of {digits} digits; at most {MAX_INT_DIGITS} are accepted "
                         "(send big numbers as strings)")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadPayload(f"the body has a number out of range ({text[:20]})")
    return value


def _constant(name: str) -> Any:
    raise BadPayload(f"the body is not JSON: {name} is not a JSON value")


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; raises :class:`BadPayload` with a short reason.

    Refused as well: nesting deeper than ``MAX_JSON_DEPTH``, integers longer than
    ``MAX_INT_DIGITS`` digits, ``NaN``/``Infinity`` and numbers that overflow a float."""
    if not body.strip():
        raise BadPayload("the body is empty; send a JSON document")
    too_deep = BadPayload(f"the body nests arrays/objects more than {MAX_JSON_DEPTH} deep")
    try:
        # the stdlib's C parser guards its recursion (RecursionError, never a crash); the rest of
        # soar (the store's encoder, expressions) is held to MAX_JSON_DEPTH
        value = json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise too_deep from None
    except UnicodeDecodeError:
        raise BadPayload("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadPayload(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except BadPayload:
        raise
    except ValueError as exc:  # a limit of the parser itself: still the sender's fault
        raise BadPayload(f"the body is not JSON soar accepts: {type(exc).__name__}") from None
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
        raise too_deep  # (with fewer brackets than the limit it cannot nest deeper: no walk)
    return value


def body_key(url_path: str, body: bytes) -> str:
    """The dedup key of a webhook without ``dedup_key``: its path and the SHA-256 of the raw
    body, so a replayed (or re-sent) delivery is recognised."""
    return f"body:{url_path}:{hashlib.sha256(body).hexdigest()}"


def dedup_key(spec: str | None, headers: Mapping[str, str], payload: Any) -> str | None:
    """The event's deduplication key: ``header:NAME`` reads a header, anything else is a
    dotted path into the JSON payload (``delivery.id``, ``items.0.id``). None when absent."""
    if not spec:
        return None
    if spec.lower().startswith("header:"):
        value = headers.get(spec[len("header:"):].strip().lower())
        return value or None
    value = payload
    for part in spec.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if value is None or isinstance(value, (dict, list)):
        return None if value is None else json.dumps(value, sort_keys=True)
    return str(value)


def hook_url_path(path: str) -> str:
    """The URL path a playbook's ``webhook.path`` is served at: under ``/hooks``."""
    path = "/" + path.strip("/")
    return path if path == "/hooks" or path.startswith("/hooks/") else "/hooks" + path
