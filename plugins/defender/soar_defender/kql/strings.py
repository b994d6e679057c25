"""String functions: building, cutting, searching, regular expressions, encodings and hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import urllib.parse
from typing import Any

from .convert import convert_to
from .model import to_kql_string
from .regex import compile_regex, rewrite_template
from .signatures import ANY, DYNAMIC, INTEGER, STR, Function, rule

MAX_STRING = 1_048_576  # longer strings are cut, so strcat() cannot blow up memory
MAX_MATCHES = 10_000


def cut(text: str) -> str:
    return text if len(text) <= MAX_STRING else text[:MAX_STRING]


def join(delimiter: Any, values) -> str:
    """strcat / strcat_delim, stopping once the result passes MAX_STRING."""
    sep, parts, size = to_kql_string(delimiter), [], 0
    for v in values:
        text = to_kql_string(v)
        parts.append(text)
        size += len(text) + len(sep)
        if size > MAX_STRING:
            break
    return cut(sep.join(parts))


def _substring(s: Any, start: Any, length: Any = None) -> str:
    text = to_kql_string(s)
    if not isinstance(start, int) or isinstance(start, bool):
        return ""
    start = max(len(text) + start, 0) if start < 0 else start  # a negative start counts from the end
    if length is None:
        return text[start:]
    if not isinstance(length, int) or length < 0:
        return ""
    return text[start:start + length]


def _indexof(s: Any, match: Any, start: Any = 0, length: Any = -1, occurrence: Any = 1) -> int | None:
    text, look = to_kql_string(s), to_kql_string(match)
    if not all(isinstance(v, int) for v in (start, length, occurrence)) or occurrence < 1:
        return None
    if start < 0:
        start = max(len(text) + start, 0)
    if start > len(text):
        return -1
    if length < -1:
        return None
    # Kusto looks for each further occurrence from one past the last, over a window of the same
    # length (indexof-function.md: indexof("abcdefgabcdefg", "cde", 1, 10, 2) is 9).
    position = start - 1
    for _ in range(occurrence):
        begin = position + 1
        end = len(text) if length == -1 else min(len(text), begin + length)
        position = text.find(look, begin, end)
        if position < 0:
            return -1
    return position


def _replace_string(s: Any, lookup: Any, rewrite: Any) -> str:
    text, old, new = to_kql_string(s), to_kql_string(lookup), to_kql_string(rewrite)
    if not old:
        return text
    growth = len(new) - len(old)
    if growth > 0 and len(text) + text.count(old) * growth > MAX_STRING:  # replace only what fits
        return cut(text.replace(old, new, (MAX_STRING - len(text)) // growth + 1))
    return text.replace(old, new)


def _replace_regex(s: Any, pattern: Any, rewrite: Any) -> str:
    try:
        regex = compile_regex(to_kql_string(pattern))
        return cut(regex.sub(rewrite_template(to_kql_string(rewrite)), to_kql_string(s)))
    except (ValueError, re.error, IndexError):
        return to_kql_string(s)


def _split(s: Any, delimiter: Any, index: Any = None) -> Any:
    text, delim = to_kql_string(s), to_kql_string(delimiter)
    if not delim:
        return None
    parts = text.split(delim)
    if index is None:
        return parts
    return [parts[index]] if isinstance(index, int) and -len(parts) <= index < len(parts) else []


def _trim(which: str):
    def apply(pattern: Any, s: Any) -> str:
        text = to_kql_string(s)
        try:
            regex = to_kql_string(pattern)
            if which in ("both", "start"):
                text = re.sub(f"^(?:{compile_regex(regex).pattern})+", "", text)
            if which in ("both", "end"):
                text = re.sub(f"(?:{compile_regex(regex).pattern})+$", "", text)
        except (ValueError, re.error):
            return to_kql_string(s)
        return text
    return apply


def _countof(s: Any, search: Any, kind: Any = "normal") -> int | None:
    text, look = to_kql_string(s), to_kql_string(search)
    if kind == "regex":
        try:
            return sum(1 for _ in zip(range(MAX_MATCHES), compile_regex(look).finditer(text)))
        except ValueError:
            return None
    if not look:
        return 0
    count, position = 0, text.find(look)
    while position >= 0:  # KQL counts overlapping occurrences
        count += 1
        position = text.find(look, position + 1)
    return count


def _convert(value: Any, kql: str | None) -> Any:
    if kql is None or kql == "string":
        return value if value is not None else ("" if kql == "string" else None)
    return convert_to(value, kql)


def _extract(pattern: Any, group: Any, s: Any, kql: Any = None) -> Any:
    try:
        match = compile_regex(to_kql_string(pattern)).search(to_kql_string(s))
        value = match.group(group) if match and isinstance(group, int) else None
    except (ValueError, IndexError, re.error):
        value = None
    if kql is None:
        return value if value is not None else ""
    return _convert(value, kql)


def _extract_all(pattern: Any, *rest: Any) -> Any:
    groups, s = (None, rest[0]) if len(rest) == 1 else (rest[0], rest[1])
    try:
        regex = compile_regex(to_kql_string(pattern))
    except ValueError:
        return None
    out = []
    for match in zip(range(MAX_MATCHES), regex.finditer(to_kql_string(s))):
        m = match[1]
        if groups is None:
            out.append(m.group(1) if regex.groups == 1 else (list(m.groups()) if regex.groups else m.group(0)))
        else:
            try:
                out.append([m.group(g) for g in groups] if isinstance(groups, list) else m.group(groups))
            except (IndexError, TypeError):
                return None
    return out if out else None


def _matches(s: Any, pattern: Any) -> bool:
    try:
        return compile_regex(to_kql_string(pattern)).search(to_kql_string(s)) is not None
    except ValueError:
        return False


def _extract_json(path: Any, text: Any, kql: Any = None) -> Any:
    from .dynamic import json_path
    try:
        value = json_path(json.loads(to_kql_string(text)), to_kql_string(path))
    except (ValueError, RecursionError):
        value = None
    if kql is None:
        return to_kql_string(value)
    return _convert(value, kql)


def _b64decode(v: Any) -> bytes | None:
    text = to_kql_string(v).strip()
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None


def _b64_to_string(v: Any) -> str:
    raw = _b64decode(v)
    if raw is None:
        return ""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _hash(algorithm: str):
    def apply(v: Any) -> str:
        return hashlib.new(algorithm, to_kql_string(v).encode("utf-8")).hexdigest()
    return apply


def _strrep(v: Any, count: Any, delimiter: Any = "") -> str:
    if not isinstance(count, int) or count < 0:
        return ""
    text, sep = to_kql_string(v), to_kql_string(delimiter)
    count = min(count, MAX_STRING // max(1, len(text) + len(sep)))
    return cut(sep.join([text] * count))


def _translate(search: Any, replace: Any, s: Any) -> str:
    source, target, text = to_kql_string(search), to_kql_string(replace), to_kql_string(s)
    table: dict[int, Any] = {}
    for i, ch in enumerate(source):
        table[ord(ch)] = (target[i] if i < len(target) else target[-1]) if target else None
    return text.translate(table)


def _from_codepoints(*values: Any) -> str:
    points = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    try:
        return "".join(chr(p) for p in points if isinstance(p, int) and not isinstance(p, bool))
    except (ValueError, OverflowError):
        return ""


def _parse_csv(v: Any) -> list:
    """One CSV record → its fields (quotes group, "" is a quote); only the first record counts."""
    text = to_kql_string(v)
    fields, current, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and text[i + 1:i + 2] == '"':
                current.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            fields.append("".join(current))
            current = []
        elif ch in "\r\n":
            break
        else:
            current.append(ch)
        i += 1
    fields.append("".join(current))
    return fields


def _format_bytes(size: Any, precision: Any = 0, unit: Any = None) -> str:
    if not isinstance(size, (int, float)) or isinstance(size, bool):
        return ""
    units = ["Bytes", "KB", "MB", "GB", "TB", "PB"]
    index = units.index(unit) if unit in units else 0
    value = float(size)
    if unit is None:
        while abs(value) >= 1024 and index < len(units) - 1:
            value /= 1024
            index += 1
    else:
        value = value / 1024 ** index
    digits = precision if isinstance(precision, int) and precision >= 0 else 0
    text = f"{value:.{digits}f}"
    return f"{text} {units[index]}"


def _indexof_regex(s: Any, pattern: Any, start: Any = 0, length: Any = -1, occurrence: Any = 1) -> int | None:
    text = to_kql_string(s)
    try:
        regex = compile_regex(to_kql_string(pattern))
    except ValueError:
        return None
    if not all(isinstance(v, int) for v in (start, length, occurrence)) or occurrence < 1 or start < 0:
        return None
    end = len(text) if length == -1 else min(len(text), start + length)
    for count, m in enumerate(regex.finditer(text, start, end), start=1):
        if count == occurrence:
            return m.start()
    return -1


def _has_any_index(s: Any, values: Any) -> int | None:
    if not isinstance(values, list):
        return None
    from .operators import has_pattern
    text = to_kql_string(s)
    for i, v in enumerate(values):
        term = to_kql_string(v)
        if term and has_pattern(term, False).search(text):
            return i
    return -1


def _strcmp(a: Any, b: Any) -> int:
    x, y = to_kql_string(a), to_kql_string(b)
    return (x > y) - (x < y)


_VERSION = re.compile(r"\s*(\d{1,8})(?:\.(\d{1,8})){0,3}\s*", re.ASCII)


def _parse_version(v: Any) -> int | None:
    """parse_version("1.2.3.4"): up to four dot-separated parts of up to 8 digits each, padded to
    four parts, as one comparable decimal (each part takes 9 digits: "1.2.3.4" is
    1000000002000000003000000004, as Kusto shows it), or null."""
    text = to_kql_string(v)
    if not _VERSION.fullmatch(text):
        return None
    parts = [int(p) for p in text.strip().split(".")]
    parts += [0] * (4 - len(parts))
    value = 0
    for p in parts:
        value = value * 10**9 + p
    return value


_F = Function
_STRING_OR_ANY = ANY
FUNCTIONS = [
    _F("tolower", 1, 1, rule("string"), lambda v: to_kql_string(v).lower()),
    _F("toupper", 1, 1, rule("string"), lambda v: to_kql_string(v).upper()),
    _F("strcat", 1, 64, rule("string"), lambda *vs: join("", vs)),
    _F("strcat_delim", 2, 65, rule("string"), lambda d, *vs: join(d, vs)),
    _F("strcat_array", 2, 2, rule("string", DYNAMIC, ANY),
       lambda a, d: join(d, a) if isinstance(a, list) else ""),
    _F("array_strcat", 2, 2, rule("string", DYNAMIC, ANY),
       lambda a, d: join(d, a) if isinstance(a, list) else ""),
    _F("substring", 2, 3, rule("string", ANY, INTEGER), _substring),
    _F("strlen", 1, 1, rule("long"), lambda v: len(to_kql_string(v))),
    _F("parse_version", 1, 1, rule("real"), _parse_version),
    _F("string_size", 1, 1, rule("long"), lambda v: len(to_kql_string(v).encode("utf-8"))),
    _F("indexof", 2, 5, rule("long", ANY, ANY, INTEGER), _indexof),
    _F("replace_string", 3, 3, rule("string", STR), _replace_string),
    _F("replace_regex", 3, 3, rule("string", STR), _replace_regex),
    _F("replace", 3, 3, rule("string", STR), lambda p, r, s: _replace_regex(s, p, r)),
    _F("split", 2, 3, rule("dynamic", ANY, STR, INTEGER), _split),
    _F("trim", 2, 2, rule("string", STR), _trim("both")),
    _F("trim_start", 2, 2, rule("string", STR), _trim("start")),
    _F("trim_end", 2, 2, rule("string", STR), _trim("end")),
    _F("countof", 2, 3, rule("long", STR), _countof),
    _F("reverse", 1, 1, rule("string"), lambda v: to_kql_string(v)[::-1]),
    _F("strrep", 2, 3, rule("string", ANY, INTEGER, ANY), _strrep),
    _F("strcmp", 2, 2, rule("long"), _strcmp),
    _F("translate", 3, 3, rule("string", STR), _translate),
    _F("extract", 3, 4, lambda name, types: "string", _extract, type_arg=3),
    _F("extract_all", 2, 3, rule("dynamic"), _extract_all),
    _F("extractall", 2, 3, rule("dynamic"), _extract_all),
    _F("extract_json", 2, 3, lambda name, types: "string", _extract_json, type_arg=2),
    _F("extractjson", 2, 3, lambda name, types: "string", _extract_json, type_arg=2),
    _F("regex_quote", 1, 1, rule("string", STR), lambda v: re.escape(to_kql_string(v))),
    _F("base64_encode_tostring", 1, 1, rule("string"),
       lambda v: base64.b64encode(to_kql_string(v).encode("utf-8")).decode("ascii")),
    _F("base64_encodestring", 1, 1, rule("string"),
       lambda v: base64.b64encode(to_kql_string(v).encode("utf-8")).decode("ascii")),
    _F("base64_decode_tostring", 1, 1, rule("string", STR), _b64_to_string),
    _F("base64_decodestring", 1, 1, rule("string", STR), _b64_to_string),
    _F("base64_decode_toarray", 1, 1, rule("dynamic", STR), lambda v: list(raw) if (raw := _b64decode(v)) else []),
    _F("base64_encode_fromarray", 1, 1, rule("string", DYNAMIC),
       lambda a: base64.b64encode(bytes(x & 255 for x in a if isinstance(x, int))).decode("ascii")
       if isinstance(a, list) else ""),
    _F("url_encode", 1, 1, rule("string"), lambda v: urllib.parse.quote(to_kql_string(v), safe="/:?&=#")),
    _F("url_encode_component", 1, 1, rule("string"), lambda v: urllib.parse.quote(to_kql_string(v), safe="")),
    _F("url_decode", 1, 1, rule("string"), lambda v: urllib.parse.unquote(to_kql_string(v))),
    _F("hash_sha256", 1, 1, rule("string"), _hash("sha256")),
    _F("hash_sha1", 1, 1, rule("string"), _hash("sha1")),
    _F("hash_md5", 1, 1, rule("string"), _hash("md5")),
    _F("unicode_codepoints_from_string", 1, 1, rule("dynamic"), lambda v: [ord(c) for c in to_kql_string(v)]),
    _F("to_utf8", 1, 1, rule("dynamic"), lambda v: [ord(c) for c in to_kql_string(v)]),
    _F("unicode_codepoints_to_string", 1, 64, rule("string"), _from_codepoints),
    _F("make_string", 1, 64, rule("string"), _from_codepoints),
    _F("parse_csv", 1, 1, rule("dynamic", STR), _parse_csv),
    _F("format_bytes", 1, 3, rule("string", ANY, INTEGER, STR), _format_bytes),
    _F("indexof_regex", 2, 5, rule("long", ANY, STR, INTEGER), _indexof_regex),
    _F("has_any_index", 2, 2, rule("long", ANY, DYNAMIC), _has_any_index),
    _F("isascii", 1, 1, rule("bool"), lambda v: to_kql_string(v).isascii()),
    _F("isutf8", 1, 1, rule("bool"), lambda v: True),
]
MATCHES_REGEX = _matches
