"""The Jinja2 sandbox expressions run in: what they may touch, call and build.

:class:`SoarSandbox` is Jinja's ``ImmutableSandboxedEnvironment`` (no attribute starting with
``_``, no mutation of lists or dicts, unknown names are errors) plus:

- **Secrets are opaque.** No attribute or method of a :class:`~runner.secrets.Secret` can be
  read (``reveal`` included), by ``.x``, ``['x']``, ``attr('x')`` or a format string. A secret
  stays a whole value: passed to an action input, or shown as ``***`` in text.
- **Every operation is bounded** (:mod:`runner.expr_limits`): binary operators, method calls,
  ``str.format`` fields, every filter (built-in, ours and plugins'), and ``~`` concatenation
  (rewritten into a checked filter before the code is generated).
- The globals that only make sense in templates and can build large text (``lipsum``,
  ``cycler``, ``joiner``) are removed.
"""

from __future__ import annotations

import functools
import types
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, Callable

from jinja2 import Environment, StrictUndefined, nodes, pass_environment
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from runner import expr_limits as lim
from runner.secrets import Secret

CONCAT_FILTER = "_soar_concat"
_SECRET_HINT = ("a secret is a whole value: pass it to an action input (`token: ${{ secrets.x }}`) "
                "or into text, where it reads as ***")


def _no_secret(obj: Any, what: Any) -> None:
    if isinstance(obj, Secret):
        raise SecurityError(f"a secret has no attributes or methods inside an expression "
                            f"({what!r} is not available); {_SECRET_HINT}")


class _LimitedFormat:
    """``str.format`` fields whose width or precision passes the limit are refused before Python
    allocates them."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        lim.check_format_spec(format_spec)
        lim.charge()
        return super().format_field(value, format_spec)


class _Formatter(_LimitedFormat, SandboxedFormatter):
    pass


class _EscapeFormatter(_LimitedFormat, SandboxedEscapeFormatter):
    pass


class SoarSandbox(ImmutableSandboxedEnvironment):
    """Dict keys win over dict methods (``item.items`` is the key, as users expect)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)

    # -- attributes -----------------------------------------------------------------------------
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, Secret):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _no_secret(obj, attribute)
        lim.charge()
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _no_secret(obj, argument)
        lim.charge()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format``/``format_map`` through a formatter that checks widths (Jinja's own
        wrapper, with a limited formatter)."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) \
                or value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        text: str = value.__self__
        is_map = value.__name__ == "format_map"
        formatter = (_EscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                     else _Formatter(self))
        str_type = type(text)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            lim.small(text)
            return lim.checked(str_type(formatter.vformat(text, args, kwargs)))

        return functools.update_wrapper(wrapper, value)

    # -- operators and calls --------------------------------------------------------------------
    def call_binop(self, context: Context, op: str, left: Any, right: Any) -> Any:
        if left.__class__ in _NUMBERS and right.__class__ in _NUMBERS:  # the common case, quick
            if op == "*" and left.__class__ is int and right.__class__ is int:
                if left.bit_length() + right.bit_length() > lim.MAX_INT_BITS + 1:
                    lim.check_int(left.bit_length() + right.bit_length() - 1)
            elif op == "**":
                _check_power(left, right)
            result = self.binop_table[op](left, right)
            if result.__class__ is int and result.bit_length() > lim.MAX_INT_BITS:
                lim.check_int(result.bit_length())
            return result
        if op == "*":
            _check_repeat(left, right)
        elif op == "**":
            _check_power(left, right)
        elif op == "%":
            lim.check_printf(left, right)
        lim.small(left)
        lim.small(right)
        return lim.checked(self.binop_table[op](left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(__obj, types.BuiltinMethodType) and owner is not None:
            if isinstance(owner, type):
                if __obj.__name__ == "fromkeys" and len(args) > 1:  # dict.fromkeys(keys, value)
                    keys = _items(args[0])
                    lim.check_copies(args[1], len(keys), "a mapping")
                    args = (keys, *args[1:])
            else:
                _no_secret(owner, __obj.__name__)
                check = _METHOD_CHECKS.get(__obj.__name__)
                if check is not None and isinstance(owner, (str, bytes, int)):
                    args = check(owner, args, kwargs)
                lim.small(owner)
        lim.charge()
        return lim.checked(super().call(__context, __obj, *args, **kwargs))


# ---- operators ---------------------------------------------------------------------------------

_NUMBERS = frozenset({int, float})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_repeat(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        lim.check_int(left.bit_length() + right.bit_length() - 1)
        return
    seq, n = (left, right) if _is_int(right) else (right, left)
    if _is_int(n) and isinstance(seq, (str, bytes, list, tuple)):
        lim.check_length(len(seq) * max(n, 0), "string" if isinstance(seq, (str, bytes)) else "list")
        if isinstance(seq, (list, tuple)):
            lim.check_copies(seq, n, "a list")


def _check_power(base: Any, exp: Any) -> None:
    if _is_int(base) and _is_int(exp) and exp > 0 and abs(base) > 1:
        lim.check_int((abs(base).bit_length() - 1) * exp + 1)


# ---- methods of str / bytes / int whose result can be far larger than their inputs -------------

def _width(owner, args, kwargs):
    lim.check_width(args[0] if args else kwargs.get("width"))
    return args


def _expandtabs(owner, args, kwargs):
    size = args[0] if args else kwargs.get("tabsize", 8)
    if _is_int(size):
        lim.check_length(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * size)
    return args


def _join(owner, args, kwargs):
    if not args:
        return args
    items = _items(args[0])
    lim.check_length(sum(len(x) for x in items if isinstance(x, (str, bytes)))
                     + len(owner) * max(len(items) - 1, 0))
    return (items, *args[1:])


def _replace(owner, args, kwargs):
    if len(args) >= 2:
        lim.check_length(_replaced_length(owner, args[0], args[1], args[2] if len(args) > 2 else -1))
    return args


def _translate(owner, args, kwargs):
    table = args[0] if args else None
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))), default=1)
        lim.check_length(len(owner) * max(longest, 1))
    return args


def _to_bytes(owner, args, kwargs):
    lim.check_width(args[0] if args else kwargs.get("length", 1), "length")
    return args


_METHOD_CHECKS: dict[str, Callable] = {
    "center": _width, "ljust": _width, "rjust": _width, "zfill": _width,
    "expandtabs": _expandtabs, "join": _join, "replace": _replace, "translate": _translate,
    "to_bytes": _to_bytes,
}


def _items(value: Any) -> list:
    """``value`` as a list, within the item limit."""
    if isinstance(value, (str, bytes)):
        return list(value)
    items = []
    for x in value:
        items.append(x)
        if len(items) > lim.MAX_ITEMS:
            lim.check_length(len(items), "list")
    lim.charge(len(items))
    return items


def _replaced_length(s: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(s, (str, bytes)) or not isinstance(old, type(s)) or not isinstance(new, type(s)):
        return 0
    n = s.count(old) if old else len(s) + 1
    if _is_int(count) and count >= 0:
        n = min(n, count)
    return len(s) + n * (len(new) - len(old))


# ---- filters -----------------------------------------------------------------------------------

def _attr_getter(env: Environment, attribute: Any) -> Callable[[Any], Any]:
    """``attribute`` of an item, as Jinja's filters read it (``'a.b'``, ``'0'``), through the
    sandbox."""
    if attribute is None:
        return lambda x: x
    parts = [int(p) if p.isdigit() else p for p in attribute.split(".")] \
        if isinstance(attribute, str) else [attribute]

    def get(x: Any) -> Any:
        for p in parts:
            x = env.getitem(x, p)
        return x

    return get


@pass_environment
def f_join(env: Environment, value: Any, d: Any = "", attribute: Any = None) -> str:
    """Jinja's ``join``, with the length of the result checked before it is built."""
    get = _attr_getter(env, attribute)
    parts = [x if isinstance(x, str) else str(x) for x in map(get, _items(value))]
    sep = str(d)
    lim.check_length(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0))
    return sep.join(parts)


@pass_environment
def f_sum(env: Environment, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Jinja's ``sum``; adding lists (``sum(start=[])``) counts the copies as work."""
    get = _attr_getter(env, attribute)
    total = start
    for x in _items(iterable):
        x = get(x)
        if isinstance(total, (list, tuple)) and isinstance(x, (list, tuple)):
            lim.check_length(len(total) + len(x), "list")
            lim.charge(len(total) + len(x))
        total = total + x
        if _is_int(total):
            lim.check_int(total.bit_length())
    return total


def f_concat(items: list) -> str:
    """``a ~ b ~ c``: the text of each joined, the result's length checked before it is built."""
    parts = [x if isinstance(x, str) else str(x) for x in items]
    lim.check_length(sum(map(len, parts)))
    return "".join(parts)


def _pre_center(value, args, kwargs):
    lim.check_width(args[0] if args else kwargs.get("width", 80))


def _pre_indent(value, args, kwargs):
    width = args[0] if args else kwargs.get("width", 4)
    w = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    if isinstance(value, str):
        lim.check_length(len(value) + (value.count("\n") + 2) * max(w, 0))
    else:
        lim.check_width(w)


def _pre_wordwrap(value, args, kwargs):
    width = args[0] if args else kwargs.get("width", 79)
    breaks = args[1] if len(args) > 1 else kwargs.get("break_long_words", True)
    wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
    wrap = "\n" if wrap is None else wrap
    if isinstance(value, str) and isinstance(wrap, str) and _is_int(width):
        width = max(width, 1)
        lines = len(value) // width + value.count(" ") + value.count("\n") + 1
        lim.check_length(len(value) + lines * len(wrap))
        longest = max(map(len, value.split()), default=0)
        if breaks and longest > width:  # textwrap copies the rest of a long word for each line
            lim.charge(longest * (longest // width))


def _pre_replace(value, args, kwargs):
    if len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count")
        lim.check_length(_replaced_length(value, args[0], args[1], -1 if count is None else count))


def _pre_format(value, args, kwargs):
    lim.check_printf(value, kwargs or args)


def _pre_batch(value, args, kwargs):
    n = args[0] if args else kwargs.get("linecount")
    lim.check_width(n, "batch size", lim.MAX_ITEMS)
    fill = args[1] if len(args) > 1 else kwargs.get("fill_with")
    if fill is not None:
        lim.check_copies(fill, n, "a batch")


def _pre_slice(value, args, kwargs):
    n = args[0] if args else kwargs.get("slices")
    lim.check_width(n, "number of slices", lim.MAX_ITEMS)
    if _is_int(n):
        lim.charge(max(n, 0))
    fill = args[1] if len(args) > 1 else kwargs.get("fill_with")
    if fill is not None:
        lim.check_copies(fill, n, "slices")


def _pre_json(value, args, kwargs):
    indent = args[0] if args else kwargs.get("indent")
    n = len(indent) if isinstance(indent, str) else indent if _is_int(indent) else 0
    if n > lim.MAX_JSON_INDENT:
        lim.refuse(f"a JSON indent of {n:,} (at most {lim.MAX_JSON_INDENT})")


_FILTER_CHECKS: dict[str, Callable] = {
    "center": _pre_center, "indent": _pre_indent, "wordwrap": _pre_wordwrap,
    "replace": _pre_replace, "format": _pre_format, "batch": _pre_batch, "slice": _pre_slice,
    "tojson": _pre_json, "to_json": _pre_json,
}
_REPLACED = {"join": f_join, "sum": f_sum}


_PASSED = (Environment, EvalContext, Context)  # what Jinja passes first to a pass_* filter


def _guard(name: str, func: Callable) -> Callable:
    """``func`` with its input sized, its arguments pre-checked and its result checked."""
    pre = _FILTER_CHECKS.get(name)

    @functools.wraps(func)  # keeps Jinja's pass_environment / pass_eval_context marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        i = 1 if args and isinstance(args[0], _PASSED) else 0
        if len(args) > i:
            lim.small(args[i])
            if pre is not None:
                pre(args[i], args[i + 1:], kwargs)
        return lim.checked(func(*args, **kwargs))

    return guarded


def install_filters(env: SoarSandbox, filters: Mapping[str, Callable]) -> None:
    """Set ``env``'s filters to Jinja's built-ins plus ``filters``, every one guarded."""
    merged = {**env.filters, **_REPLACED, **filters}
    env.filters.clear()
    env.filters.update({name: _guard(name, f) for name, f in merged.items()})
    env.filters[CONCAT_FILTER] = _guard(CONCAT_FILTER, f_concat)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def settle(value: Any) -> Any:
    """``value`` ready to leave the sandbox: lazy sequences as lists (within the item limit), and
    an undefined value anywhere inside raises its error (a typo in ``map(attribute=…)``, an
    attribute the sandbox refused)."""
    if value.__class__ in _SCALARS:
        return value
    if isinstance(value, Undefined):
        bool(value)  # StrictUndefined: raises the error it stands for
    if isinstance(value, (str, int, float, Secret)):
        return value
    if callable(value):  # a function or a method leaves the sandbox only as data it returned
        raise TypeError(f"{getattr(value, '__name__', 'this')} is a function, not a value; "
                        "call it, e.g. now()")
    if isinstance(value, (Iterator, KeysView, ValuesView, ItemsView, range)):
        items = []
        for x in value:
            items.append(x)
            if len(items) > lim.MAX_ITEMS:
                lim.check_length(len(items), "list")
        value = items
    if isinstance(value, (list, tuple)):
        out = None
        for i, x in enumerate(value):
            if x.__class__ in _SCALARS:
                continue
            y = settle(x)
            if y is not x:
                if out is None:
                    out = list(value)
                out[i] = y
        return value if out is None else (tuple(out) if isinstance(value, tuple) else out)
    if isinstance(value, dict):
        changed = {}
        for k, v in value.items():
            if k.__class__ not in _SCALARS:
                settle(k)
            if v.__class__ in _SCALARS:
                continue
            y = settle(v)
            if y is not v:
                changed[k] = y
        return {**value, **changed} if changed else value
    return value


class ConcatToFilter(NodeTransformer):
    """``a ~ b`` compiles to an unchecked join; make it a call of the checked concat filter."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), CONCAT_FILTER, [], [],
                            None, None, lineno=node.lineno)

