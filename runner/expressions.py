"""``${{ … }}`` expressions, evaluated in a Jinja2 sandbox.

- A value that is exactly one ``${{ expr }}`` keeps its type (list, dict, number, Secret).
- A longer string is interpolated. If any interpolated value is a :class:`Secret`, the result
  is a Secret too (its text form shows ``***`` where the secret was), so
  ``"Bearer ${{ secrets.token }}"`` works and never leaks.
- Expressions compile once per distinct text; plain references (``steps.a.output.id``,
  ``item['deviceId']``, ``inputs.x``) skip Jinja entirely.
- The sandbox is ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: no attribute access
  to internals, no mutation, no imports, and an unknown name is an error, not an empty string.
- Inside a Jinja expression a Secret stringifies to ``***``: operations on secrets never leak.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Callable, Iterable, Mapping

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runner.errors import ExpressionError, ExpressionSyntaxError
from runner.secrets import MASK, Secret, redact

EXPR_RE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
ROOT_NAMES = frozenset({"inputs", "steps", "item", "index", "tenant", "trigger", "playbook",
                        "run", "secrets"})
_REF_RE = re.compile(
    r"^\s*([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*-?\d+\s*\]|\s*\[\s*'[^'\\]*'\s*\]"
    r"|\s*\[\s*\"[^\"\\]*\"\s*\])*)\s*$")
_PART_RE = re.compile(r"\.\s*([A-Za-z_]\w*)|\[\s*(-?\d+)\s*\]|\[\s*'([^'\\]*)'\s*\]|\[\s*\"([^\"\\]*)\"\s*\]")
_MISSING = object()


# ---- built-in filters and globals (documented in docs/playbooks.md#filters) -------------------

def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def f_alerts(incidents: Any) -> list:
    """All alerts of one incident or a list of incidents (XDR ``alerts`` or Graph ``alerts``)."""
    out = []
    for inc in _as_list(incidents):
        out.extend(inc.get("alerts") or [])
    return out


def f_devices(value: Any) -> list:
    """Unique devices (by ``deviceId``) of incidents or alerts, in first-seen order."""
    seen: dict[str, Any] = {}
    for obj in _as_list(value):
        alerts = obj.get("alerts") if isinstance(obj, Mapping) and "alerts" in obj else [obj]
        for alert in alerts or []:
            for dev in (alert.get("devices") or []) if isinstance(alert, Mapping) else []:
                key = dev.get("deviceId") or dev.get("mdeDeviceId") or dev.get("id")
                if key and key not in seen:
                    seen[key] = dev
    return list(seen.values())


def f_entities(value: Any, entity_type: str | None = None) -> list:
    """Entities of incidents or alerts, optionally of one ``entityType`` (``File``, ``Ip``...)."""
    out = []
    for obj in _as_list(value):
        alerts = obj.get("alerts") if isinstance(obj, Mapping) and "alerts" in obj else [obj]
        for alert in alerts or []:
            for ent in (alert.get("entities") or []) if isinstance(alert, Mapping) else []:
                if entity_type is None or str(ent.get("entityType", "")).lower() == entity_type.lower():
                    out.append(ent)
    return out


def f_flatten(value: Any) -> list:
    out = []
    for v in _as_list(value):
        if isinstance(v, (list, tuple)):
            out.extend(v)
        else:
            out.append(v)
    return out


def f_unique_by(value: Any, key: str) -> list:
    seen, out = set(), []
    for v in _as_list(value):
        k = v.get(key) if isinstance(v, Mapping) else v
        k = json.dumps(k, sort_keys=True, default=str) if isinstance(k, (dict, list)) else k
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def f_to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, default=lambda o: MASK if isinstance(o, Secret) else str(o))


def f_from_json(value: str) -> Any:
    return json.loads(value)


def f_defang(value: Any) -> str:
    """Make a URL, domain or IP unclickable for reports: ``http`` → ``hxxp``, ``.`` → ``[.]``."""
    text = str(value)
    text = re.sub(r"^http", "hxxp", text, flags=re.I)
    return text.replace("://", "[://]").replace(".", "[.]")


def f_regex_search(value: Any, pattern: str) -> str | None:
    m = re.search(pattern, str(value))
    return m.group(0) if m else None


def g_now() -> str:
    """Current UTC time, ISO 8601 with ``Z`` (the format Defender uses)."""
    return _iso(_dt.datetime.now(_dt.timezone.utc))


def g_ago(duration: Any) -> str:
    """UTC time ``duration`` ago (``'24h'``, ``'30m'``), ISO 8601 with ``Z``."""
    from runner.durations import parse_duration

    return _iso(_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=parse_duration(duration)))


def _iso(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


BUILTIN_FILTERS: dict[str, Callable] = {
    "alerts": f_alerts, "devices": f_devices, "entities": f_entities, "flatten": f_flatten,
    "unique_by": f_unique_by, "to_json": f_to_json, "from_json": f_from_json,
    "defang": f_defang, "regex_search": f_regex_search,
}
BUILTIN_GLOBALS: dict[str, Callable] = {"now": g_now, "ago": g_ago}


# ---- compiled values ---------------------------------------------------------------------------

class _SoarSandbox(ImmutableSandboxedEnvironment):
    """Dict keys win over dict methods (``item.items`` is the key, as users expect)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


class Compiled:
    """A value with its expressions compiled. ``render(context)`` gives the resolved value."""

    __slots__ = ()
    has_expressions = True

    def render(self, ctx: Mapping[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Const(Compiled):
    __slots__ = ("value",)
    has_expressions = False

    def __init__(self, value: Any):
        self.value = value

    def render(self, ctx):
        return self.value


class Expr(Compiled):
    """One ``${{ expr }}`` that makes up a whole value: keeps its native type."""

    __slots__ = ("text", "_fn")

    def __init__(self, text: str, fn: Callable[[Mapping[str, Any]], Any]):
        self.text = text
        self._fn = fn

    def render(self, ctx):
        try:
            return self._fn(ctx)
        except ExpressionError:
            raise
        except UndefinedError as exc:
            raise ExpressionError(f"in ${{{{ {self.text} }}}}: {exc}",
                                  hint="check the name; `soar validate` lists what is defined") from None
        except SecurityError as exc:
            raise ExpressionError(f"in ${{{{ {self.text} }}}}: not allowed in the sandbox ({exc})") from None
        except Exception as exc:  # any error of user-level evaluation, reported in place
            raise ExpressionError(f"in ${{{{ {self.text} }}}}: {type(exc).__name__}: {exc}") from None


class Interp(Compiled):
    __slots__ = ("parts",)

    def __init__(self, parts: list):
        self.parts = parts

    def render(self, ctx):
        out, shown, secret = [], [], False
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                shown.append(part)
                continue
            v = part.render(ctx)
            if isinstance(v, Secret):
                secret = True
                out.append(v.reveal())
                shown.append(str(v))
                continue
            elif v is None:
                out.append("")
            elif isinstance(v, bool):
                out.append("true" if v else "false")
            elif isinstance(v, (dict, list)):
                out.append(f_to_json(v))
            else:
                out.append(str(v))
            shown.append(out[-1])
        text = "".join(out)
        return Secret(text, shown=redact("".join(shown))) if secret else text


class DictT(Compiled):
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[Any, Compiled]]):
        self.items = items

    def render(self, ctx):
        out = {}
        for k, v in self.items:
            try:
                out[k] = v.render(ctx)
            except ExpressionError as exc:  # remember where inside the value it failed
                exc.path = (k, *getattr(exc, "path", ()))
                raise
        return out


class ListT(Compiled):
    __slots__ = ("items",)

    def __init__(self, items: list[Compiled]):
        self.items = items

    def render(self, ctx):
        out = []
        for i, v in enumerate(self.items):
            try:
                out.append(v.render(ctx))
            except ExpressionError as exc:
                exc.path = (i, *getattr(exc, "path", ()))
                raise
        return out


def _resolve_path(ctx: Mapping[str, Any], root: str, parts: tuple, text: str) -> Any:
    try:
        value = ctx[root]
    except KeyError:
        raise ExpressionError(f"in ${{{{ {text} }}}}: '{root}' is undefined here",
                              hint=_root_hint(root)) from None
    walked = root
    for part in parts:
        if isinstance(value, dict):
            nxt = value.get(part, _MISSING) if not isinstance(part, int) else _MISSING
        elif isinstance(value, (list, tuple)) and isinstance(part, int):
            nxt = value[part] if -len(value) <= part < len(value) else _MISSING
        else:
            nxt = _MISSING
        if nxt is _MISSING:
            what = (f"has no key '{part}'" if isinstance(value, dict) else
                    (f"has no item {part} (length {len(value)})" if isinstance(part, int)
                     else f"is a list, which has no '{part}' (use [index] or a filter)")
                    if isinstance(value, (list, tuple))
                    else f"is {type(value).__name__ if value is not None else 'null'}, which has no '{part}'")
            hint = None
            if isinstance(value, dict) and value:
                hint = "available keys: " + ", ".join(sorted(map(str, value))[:12])
            raise ExpressionError(f"in ${{{{ {text} }}}}: '{walked}' {what}", hint=hint)
        value = nxt
        walked += f"[{part}]" if isinstance(part, int) else f".{part}"
    return value


def _root_hint(root: str) -> str:
    if root == "item" or root == "index":
        return "`item` and `index` exist only in a step with `foreach`"
    return "names available: " + ", ".join(sorted(ROOT_NAMES))


class ExpressionEngine:
    """Compiles and evaluates expressions with a fixed set of filters (built-ins + plugins)."""

    def __init__(self, filters: Mapping[str, Callable] | None = None):
        env = _SoarSandbox(undefined=StrictUndefined, autoescape=False)
        env.filters.update(BUILTIN_FILTERS)
        env.filters.update(filters or {})
        env.globals.update(BUILTIN_GLOBALS)
        self.env = env
        self._cache: dict[str, Expr] = {}

    # -- compile ---------------------------------------------------------------------------
    def compile_value(self, value: Any) -> Compiled:
        """Compile a YAML value (str, list, dict, scalar). Raises ExpressionSyntaxError."""
        if isinstance(value, str):
            if "${{" not in value:
                return Const(value)
            matches = list(EXPR_RE.finditer(value))
            if not matches:
                raise ExpressionSyntaxError(f"unclosed expression in {value!r}",
                                            hint="close it with }}: ${{ steps.x.output }}")
            if len(matches) == 1 and value.strip() == matches[0].group(0):
                return self.compile_expr(matches[0].group(1))
            parts: list = []
            pos = 0
            for m in matches:
                if m.start() > pos:
                    parts.append(value[pos:m.start()])
                parts.append(self.compile_expr(m.group(1)))
                pos = m.end()
            if pos < len(value):
                rest = value[pos:]
                if "${{" in rest:
                    raise ExpressionSyntaxError(f"unclosed expression in {value!r}",
                                                hint="close it with }}")
                parts.append(rest)
            return Interp(parts)
        if isinstance(value, dict):
            items = [(k, self.compile_value(v)) for k, v in value.items()]
            if not any(c.has_expressions for _, c in items):
                return Const(value)
            return DictT(items)
        if isinstance(value, list):
            items = [self.compile_value(v) for v in value]
            if not any(c.has_expressions for c in items):
                return Const(value)
            return ListT(items)
        return Const(value)

    def compile_expr(self, text: str) -> Expr:
        text = text.strip()
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if not text:
            raise ExpressionSyntaxError("empty expression ${{ }}", hint="write a name, e.g. ${{ inputs.x }}")
        m = _REF_RE.match(text)
        if m and m.group(1) not in ("true", "false", "none", "True", "False", "None") \
                and m.group(1) not in BUILTIN_GLOBALS:
            root = m.group(1)
            parts = tuple(int(a[1]) if a[1] else (a[0] or a[2] or a[3]) for a in _PART_RE.findall(m.group(2)))
            expr = Expr(text, lambda ctx, r=root, p=parts, t=text: _resolve_path(ctx, r, p, t))
        else:
            try:
                fn = self.env.compile_expression(text, undefined_to_none=False)
            except TemplateSyntaxError as exc:
                raise ExpressionSyntaxError(f"in ${{{{ {text} }}}}: {exc.message}",
                                            hint="expressions use Jinja syntax: `a.b`, `x | length`, `a == 'b'`") from None

            # Render the compiled template directly with pre-flattened globals: jinja's
            # TemplateExpression merges a ChainMap of globals on every call (~3x slower).
            template = fn._template
            flat_globals = dict(template.globals)
            render = template.root_render_func
            env, name, blocks = self.env, template.name, template.blocks

            def run(ctx, text=text):
                context = Context(env, {**flat_globals, **ctx}, name, blocks)
                for _ in render(context):
                    pass
                result = context.vars.get("result")
                if isinstance(result, Undefined):
                    raise ExpressionError(f"in ${{{{ {text} }}}}: {result._undefined_message}",
                                          hint="check the name; `soar validate` lists what is defined")
                return result

            expr = Expr(text, run)
        self._cache[text] = expr
        return expr

    def evaluate(self, value: Any, ctx: Mapping[str, Any]) -> Any:
        return self.compile_value(value).render(ctx)

    # -- static analysis (used by `soar validate`) --------------------------------------------
    def references(self, text: str) -> list[tuple[str, ...]]:
        """Names an expression reads, as chains: ``("steps", "a", "output")``, ``("inputs", "x")``.

        Raises ExpressionSyntaxError. Loop variables of comprehensions are not reported."""
        text = text.strip()
        m = _REF_RE.match(text)
        if m and m.group(1) not in ("true", "false", "none", "True", "False", "None"):
            # a plain reference: same chain as the Jinja walk below, without parsing (validate speed)
            return [(m.group(1),) + tuple(int(a[1]) if a[1] else (a[0] or a[2] or a[3])
                                          for a in _PART_RE.findall(m.group(2)))]
        try:
            tree = self.env.parse("{{ " + text + " }}")
        except TemplateSyntaxError as exc:
            raise ExpressionSyntaxError(f"in ${{{{ {text} }}}}: {exc.message}",
                                        hint="expressions use Jinja syntax: `a.b`, `x | length`, `a == 'b'`") from None
        chains: list[tuple[str, ...]] = []

        def chain(node: nodes.Node) -> tuple[str, ...] | None:
            if isinstance(node, nodes.Name):
                return (node.name,)
            if isinstance(node, nodes.Getattr):
                base = chain(node.node)
                return base + (node.attr,) if base else None
            if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                base = chain(node.node)
                return base + (node.arg.value,) if base else None
            return None

        def visit(node: nodes.Node) -> None:
            if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
                c = chain(node)
                if c is not None and isinstance(node, nodes.Name) and node.ctx != "load":
                    return
                if c is not None:
                    chains.append(c)
                    if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
                        visit(node.arg)
                    return
            if isinstance(node, (nodes.Filter, nodes.Test)) and node.name not in (
                    self.env.filters if isinstance(node, nodes.Filter) else self.env.tests):
                kind = "filter" if isinstance(node, nodes.Filter) else "test"
                raise ExpressionSyntaxError(f"in ${{{{ {text} }}}}: unknown {kind} '{node.name}'",
                                            hint=f"see docs/playbooks.md for the {kind}s available")
            for child in node.iter_child_nodes():
                visit(child)

        visit(tree)
        return chains


def find_expressions(value: Any, path: tuple = ()) -> Iterable[tuple[tuple, str]]:
    """Every ``${{ }}`` text inside a YAML value, with the path to the string holding it."""
    if isinstance(value, str):
        if "${{" in value:
            found = EXPR_RE.findall(value)
            if not found or value.count("${{") != len(found):
                yield path, value  # unclosed: compile_value reports it
            for text in found:
                yield path, text
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from find_expressions(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from find_expressions(v, path + (i,))
