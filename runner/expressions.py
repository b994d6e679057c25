"""``${{ … }}`` expressions, evaluated in a Jinja2 sandbox.

- A value that is exactly one ``${{ expr }}`` keeps its type (list, dict, number, Secret).
- A longer string is interpolated. If any interpolated value is a :class:`Secret`, the result
  is a Secret too (its text form shows ``***`` where the secret was), so
  ``"Bearer ${{ secrets.token }}"`` works and never leaks.
- Expressions compile once per distinct text; plain references (``steps.a.output.id``,
  ``item['deviceId']``, ``inputs.x``) skip Jinja entirely.
- The sandbox (:mod:`runner.sandbox`) is ``ImmutableSandboxedEnvironment`` with
  ``StrictUndefined``: no attribute access to internals, no mutation, no imports, and an unknown
  name is an error, not an empty string. Inside a Jinja expression a Secret stringifies to
  ``***`` and has no attributes or methods (``reveal`` included): operations on secrets never leak.
- Every Jinja evaluation runs within the limits of :mod:`runner.expr_limits` (sizes, work, time).
  :func:`render_async` evaluates on the event loop while that is cheap and moves an expensive
  evaluation to a worker thread; references and constants never leave the loop.
- A result is settled before it is returned: lazy sequences (``map``, ``select``…) become lists,
  and an undefined value anywhere inside it (``map(attribute='typo')``) is a located error.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any, Callable, Iterable, Mapping

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateAssertionError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Context

from runner import expr_limits as lim
from runner.errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from runner.filters import (BUILTIN_FILTERS, BUILTIN_GLOBALS, f_defang, f_flatten, f_from_json,  # noqa: F401
                            f_regex_search, f_to_json, f_unique_by, g_ago, g_now)
from runner.expr_hints import null_value_hint
from runner.expr_limits import render_async  # noqa: F401  (the engine renders through it)
from runner.placeholders import PlaceholderMap
from runner.sandbox import ConcatToFilter, SoarSandbox, install_filters, settle
from runner.secrets import Secret, redact

EXPR_RE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
ROOT_NAMES = frozenset({"inputs", "steps", "item", "index", "tenant", "tenants", "trigger", "playbook",
                        "run", "secrets"})
_REF_RE = re.compile(
    r"^\s*([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*-?\d+\s*\]|\s*\[\s*'[^'\\]*'\s*\]"
    r"|\s*\[\s*\"[^\"\\]*\"\s*\])*)\s*$")
_PART_RE = re.compile(r"\.\s*([A-Za-z_]\w*)|\[\s*(-?\d+)\s*\]|\[\s*'([^'\\]*)'\s*\]|\[\s*\"([^\"\\]*)\"\s*\]")
_MISSING = object()


# ---- built-in filters and globals: runner/filters.py (re-exported here) ------------------------

# ---- compiled values ---------------------------------------------------------------------------

_build_lock = threading.Lock()  # a Jinja expression's code is generated once, by one thread


class Compiled:
    """A value with its expressions compiled. ``render(context)`` gives the resolved value.

    ``jinja`` tells whether rendering runs Jinja code (else: constants and references only)."""

    __slots__ = ()
    has_expressions = True
    jinja = False

    def render(self, ctx: Mapping[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Const(Compiled):
    __slots__ = ("value",)
    has_expressions = False
    jinja = False

    def __init__(self, value: Any):
        self.value = value

    def render(self, ctx):
        return self.value


class Expr(Compiled):
    """One ``${{ expr }}`` that makes up a whole value: keeps its native type.

    ``fn`` evaluates it; or ``build`` makes ``fn`` on the first evaluation (Jinja code generation
    is deferred until an expression is first used: most of the cost of compiling one)."""

    __slots__ = ("text", "_fn", "_build")
    jinja = True

    def __init__(self, text: str, fn: Callable[[Mapping[str, Any]], Any] | None = None,
                 build: Callable[[], Callable] | None = None):
        self.text = text
        self._fn = fn
        self._build = build

    def render(self, ctx):
        if lim.current() is None:  # evaluated directly (not through render_async): full limits
            with lim.active(lim.Budget()):
                return self._evaluate(ctx)
        return self._evaluate(ctx)

    def _evaluate(self, ctx):
        try:
            fn = self._fn
            if fn is None:
                with _build_lock:
                    if self._fn is None:
                        self._fn = self._build()
                        self._build = None
                fn = self._fn
            return fn(ctx)
        except ExpressionLimitError as exc:
            raise ExpressionLimitError(f"in ${{{{ {self.text} }}}}: {exc.message}", hint=exc.hint) from None
        except ExpressionError:
            raise
        except UndefinedError as exc:
            raise ExpressionError(f"in ${{{{ {self.text} }}}}: {exc}",
                                  hint=null_value_hint(self.text, ctx)
                                  or "check the name; `soar validate` lists what is defined") from None
        except SecurityError as exc:
            raise ExpressionError(f"in ${{{{ {self.text} }}}}: not allowed in the sandbox ({exc})") from None
        except Exception as exc:  # any error of user-level evaluation, reported in place
            raise ExpressionError(f"in ${{{{ {self.text} }}}}: {type(exc).__name__}: {exc}",
                                  hint=null_value_hint(self.text, ctx)) from None


class Ref(Expr):
    """A plain reference (``steps.a.output.id``, ``item['x']``): a walk through dicts, no Jinja."""

    __slots__ = ("root", "parts")
    jinja = False

    def __init__(self, text: str, root: str, parts: tuple):
        super().__init__(text)
        self.root, self.parts = root, parts

    def render(self, ctx):
        value = ctx.get(self.root, _MISSING)
        for part in self.parts:  # the common case: keys of dicts
            if value.__class__ is not dict or part.__class__ is not str:
                return self._walk(ctx)
            value = value.get(part, _MISSING)
        return self._walk(ctx) if value is _MISSING else value

    def _walk(self, ctx):  # every other case, with the located errors of a failed walk
        return _resolve_path(ctx, self.root, self.parts, self.text)


class Interp(Compiled):
    __slots__ = ("parts", "jinja")

    def __init__(self, parts: list):
        self.parts = parts
        self.jinja = any(p.jinja for p in parts if not isinstance(p, str))

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
                out.append(str(v) if isinstance(v, PlaceholderMap) else f_to_json(v))
            else:
                out.append(str(v))
            shown.append(out[-1])
        text = "".join(out)
        return Secret(text, shown=redact("".join(shown))) if secret else text


class DictT(Compiled):
    __slots__ = ("items", "jinja")

    def __init__(self, items: list[tuple[Any, Compiled]]):
        self.items = items
        self.jinja = any(v.jinja for _, v in items)

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
    __slots__ = ("items", "jinja")

    def __init__(self, items: list[Compiled]):
        self.items = items
        self.jinja = any(v.jinja for v in items)

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
            elif value is None:
                hint = null_value_hint(text, ctx)
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
        env = SoarSandbox()
        install_filters(env, {**BUILTIN_FILTERS, **(filters or {})})
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
            expr = Ref(text, root, parts)
        else:
            try:
                node = self._parse(text)
                _check_callables(self.env, node)
            except TemplateSyntaxError as exc:
                raise ExpressionSyntaxError(f"in ${{{{ {text} }}}}: {exc.message}",
                                            hint="expressions use Jinja syntax: `a.b`, `x | length`, `a == 'b'`") from None
            expr = Expr(text, build=functools.partial(self._jinja, text, node))
        self._cache[text] = expr
        return expr

    def _parse(self, text: str) -> nodes.Expr:
        """Parse one expression as :meth:`jinja2.Environment.compile_expression` does (raises
        TemplateSyntaxError), worded as in a ``{{ }}`` print statement. No code is generated."""
        parser = Parser(self.env, text + " }}", state="variable")
        node = parser.parse_expression()
        parser.stream.expect("variable_end")
        if not parser.stream.eos:  # the text held a '}}' of its own
            parser.fail("unexpected '}}' inside an expression", parser.stream.current.lineno)
        node.set_environment(self.env)
        return node

    def _jinja(self, text: str, node: nodes.Expr) -> Callable[[Mapping[str, Any]], Any]:
        """Generate and compile the code for a parsed expression (what compile_expression does).

        The template is rendered directly with pre-flattened globals: jinja's TemplateExpression
        merges a ChainMap of globals on every call (~3x slower)."""
        node = ConcatToFilter().visit(node)
        body = [nodes.Assign(nodes.Name("result", "store"), node, lineno=1)]
        template = self.env.from_string(nodes.Template(body, lineno=1))
        flat_globals = dict(template.globals)
        render = template.root_render_func
        env, name, blocks = self.env, template.name, template.blocks

        def run(ctx):
            context = Context(env, {**flat_globals, **ctx}, name, blocks)
            for _ in render(context):
                pass
            result = settle(context.vars.get("result"))  # an undefined result raises its error
            budget = lim.current()
            if budget.error is not None:  # a limit error some filter caught and ignored
                raise budget.error
            return result

        return run

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
            tree = self._parse(text)
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
            test = _named_test(node)
            if test is not None and test not in self.env.tests:
                raise ExpressionSyntaxError(
                    f"in ${{{{ {text} }}}}: unknown test '{test}' in {node.name}()",
                    hint="Jinja tests include: " + ", ".join(sorted(self.env.tests)[:25]) + " ...")
            for child in node.iter_child_nodes():
                visit(child)

        visit(tree)
        if text not in self._cache:  # checked: compile_expr need not parse it again
            self._cache[text] = Expr(text, build=functools.partial(self._jinja, text, tree))
        return chains


# Filters whose first (select/reject) or second (selectattr/rejectattr) argument names a test.
_TEST_ARG = {"select": 0, "reject": 0, "selectattr": 1, "rejectattr": 1}


def _named_test(node: nodes.Node) -> str | None:
    """The test a ``select('x')``-style filter names by a literal string, if any."""
    if not isinstance(node, nodes.Filter) or node.name not in _TEST_ARG:
        return None
    index = _TEST_ARG[node.name]
    if len(node.args) > index and isinstance(node.args[index], nodes.Const) \
            and isinstance(node.args[index].value, str):
        return node.args[index].value
    return None


def _check_callables(env, node: nodes.Node, soft: bool = False) -> None:
    """Unknown filters and tests, as Jinja's code generator reports them (TemplateAssertionError);
    inside a conditional expression Jinja leaves them to run time, and so does this."""
    if isinstance(node, nodes.CondExpr):
        soft = True
    elif isinstance(node, (nodes.Filter, nodes.Test)) and not soft:
        kind, known = ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        if node.name not in known:
            raise TemplateAssertionError(f"No {kind} named {node.name!r}.", node.lineno)
    for child in node.iter_child_nodes():
        _check_callables(env, child, soft)


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
