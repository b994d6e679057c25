"""API paths: templates whose values are escaped as one path segment each, and the check on a
path given as plain text.

An action calls ``client.post("/api/machines/{machine_id}/isolate", body,
segments={"machine_id": inputs.machine_id})``. The template is code; the values are data, and
data must never change which call is made. So each ``{name}`` is a whole segment, its value is
percent-encoded with nothing left safe (``/ ? # %`` and every other reserved character become
``%XX``), and the values ``""``, ``"."`` and ``".."`` are refused: the path keeps the template's
segment count and fixed segments whatever the value is. The template's fixed segments are code
and may use any character RFC 3986 allows in a segment (Graph's ``getX(period='D7')``);
``segments={}`` sends such a fixed path.

A path given without ``segments`` must be *plain*: letters, digits, ``- . _ ~ $`` and ``/``, no
empty or dot segments. That refuses an f-string path built from an input that carries a query
(``?``), a fragment (``#``), an escape (``%``), a backslash or a ``..`` — the ways a value changes
the call — so a plugin that forgets the template form fails loudly instead of being steered.
Absolute URLs are an API's own ``@odata.nextLink``s and are sent as given, but only over https
(or the base URL's own scheme) to the API's own domain (the base URL's registrable domain: its
last two labels, ``microsoft.com``; three under a country code's second level, ``acme.co.uk``;
regional hosts differ from the base below it), so a link that came from anywhere else cannot
take the tenant's credentials to another host.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from runner.errors import InvalidValue

# RFC 3986 unreserved characters, plus '$' (OData's /$count, /$value, /$ref)
_PLAIN = re.compile(r"/?(?:[A-Za-z0-9\-._~$]+/)*[A-Za-z0-9\-._~$]*")
# a fixed template segment: RFC 3986 pchar without escapes (unreserved, sub-delims, ':' and '@')
_FIXED = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]*")
_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DOTS = ("", ".", "..")

_templates: dict[str, tuple[tuple[str, ...], tuple[tuple[int, str], ...]]] = {}


def _parse(template: str) -> tuple[tuple[str, ...], tuple[tuple[int, str], ...]]:
    """The template's segments, and the (index, name) of its ``{name}`` placeholders (cached:
    templates are constants of the calling code)."""
    parsed = _templates.get(template)
    if parsed is not None:
        return parsed
    parts = template.split("/")
    names: list[tuple[int, str]] = []
    for i, part in enumerate(parts):
        found = _NAME.fullmatch(part)
        if found:
            names.append((i, found.group(1)))
        elif (part in _DOTS and not (i == 0 and part == "")) or not _FIXED.fullmatch(part):
            raise InvalidValue(f"API path template {template!r}: segment {part!r} is neither plain text nor "
                               "a whole {name} placeholder")
    parsed = (tuple(parts), tuple(names))
    if len(_templates) < 4096:  # templates are constants; the cap only guards a misuse
        _templates[template] = parsed
    return parsed


def segment(value: Any, name: str = "segment") -> str:
    """``value`` as ONE path segment: text or an integer, percent-encoded with no character left
    safe but the unreserved ones; empty, ``.`` and ``..`` are refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidValue(f"path segment {name!r} must be text or an integer, not {type(value).__name__}")
    text = str(value)
    if text in _DOTS:
        raise InvalidValue(f"path segment {name!r} cannot be {text!r}")
    return quote(text, safe="")


def expand(template: str, segments: Mapping[str, Any]) -> str:
    """The path for ``template`` with each ``{name}`` replaced by ``segments[name]`` as one
    escaped segment. Every placeholder needs a value, and every value a placeholder."""
    parts, names = _parse(template)
    if len(names) != len(segments):
        extra = sorted(set(segments) - {key for _, key in names})
        if extra:
            raise InvalidValue(f"API path template {template!r} has no placeholder for {', '.join(extra)}")
    out = list(parts)
    for i, key in names:
        if key not in segments:
            raise InvalidValue(f"API path template {template!r}: no value for {{{key}}}")
        out[i] = segment(segments[key], key)
    return "/".join(out)


def check_plain(path: str) -> str:
    """``path`` when it is plain (see the module docstring), else :class:`InvalidValue`."""
    inner = path.strip("/")
    if _PLAIN.fullmatch(path) and (not inner or not any(s in _DOTS for s in inner.split("/"))):
        return path
    hint = ("pass its values as segments={...}" if "{" in path else
            "put each value in a {name} segment of the path and pass it as segments={...}")
    raise InvalidValue(f"refused API path {path[:120]!r}: a path given as text must be plain (letters, digits, "
                       f"- . _ ~ $ and /, no empty or dot segments)", hint=hint)


# second-level labels under which a country code's domains are registered (co.uk, com.au...)
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "govt", "mil", "net", "ne", "or", "org"})


def _domain(host: str) -> str:
    """The registrable domain of ``host``, near enough without a public-suffix list: the last
    two labels, or three when the last two are a country code's second level (``co.uk``)."""
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def check_absolute(url: str, base_url: str) -> str:
    """``url`` when it is https on the domain of ``base_url`` (a nextLink), else :class:`InvalidValue`."""
    base = urlsplit(base_url)
    base_host = (base.hostname or "").lower()
    domain = _domain(base_host)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        ok = parts.scheme in ("https", base.scheme) and not parts.username and not parts.password and bool(domain) \
            and (host == base_host or host == domain or host.endswith("." + domain))
    except ValueError:
        ok = False
    if not ok:
        raise InvalidValue(f"refused absolute URL {url[:120]!r}: API calls go over https to {domain or base_host} only",
                           hint="give a path relative to the API (a template with segments=...); only the API's "
                                "own @odata.nextLink is followed as an absolute URL")
    return url
