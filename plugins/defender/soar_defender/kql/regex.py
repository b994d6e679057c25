"""KQL regular expressions (RE2 syntax) as Python ``re`` patterns.

RE2 and Python agree on almost everything hunting queries use; the differences handled here are
named groups written ``(?<name>...)``, POSIX classes such as ``[[:alpha:]]``, ``\\z``, and inline
flags such as ``(?i)`` that are not at the start of the pattern (Python wants global flags first).
A pattern Python still cannot compile raises ``ValueError`` with the reason.
"""

from __future__ import annotations

import re
from functools import lru_cache

_POSIX = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
          "space": r"\s", "xdigit": "0-9A-Fa-f", "punct": r"!-/:-@\[-`{-~", "word": r"\w",
          "blank": r" \t", "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e"}
_INLINE_FLAGS = re.compile(r"\(\?([imsU]+)\)")
MAX_PATTERN = 10_000


@lru_cache(maxsize=512)
def compile_regex(pattern: str, flags: str = "") -> re.Pattern:
    """Compile a KQL (RE2) regex; ``flags`` is KQL's ``flags=`` letters (i, m, s, U)."""
    if not isinstance(pattern, str):
        raise ValueError("the regular expression must be a string")
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"the regular expression is longer than {MAX_PATTERN} characters")
    text = pattern.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!")
    text = text.replace(r"\z", r"\Z")
    for name, chars in _POSIX.items():
        text = text.replace(f"[:{name}:]", chars)
    found = "".join(_INLINE_FLAGS.findall(text))
    if found:
        text = _INLINE_FLAGS.sub("", text)
    wanted = set(found + flags) - {"U"}
    if wanted:
        text = f"(?{''.join(sorted(wanted))})" + text
    try:
        return re.compile(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def rewrite_template(rewrite: str) -> str:
    r"""KQL rewrite patterns (``\1``, ``$1``) as a Python ``re.sub`` template."""
    out, i = [], 0
    while i < len(rewrite):
        ch = rewrite[i]
        if ch in "\\$" and i + 1 < len(rewrite) and rewrite[i + 1].isdigit():
            out.append(f"\\g<{rewrite[i + 1]}>")
            i += 2
            continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)
