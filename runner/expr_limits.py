"""How much one ``${{ … }}`` expression may compute: sizes, work, time, and regex matching.

Every value an expression produces through an operator, a filter or a method call is checked
against the limits below, and operations whose result can be far larger than their inputs
(``'a' * n``, ``'%0*d'``, ``'{:>n}'.format``, ``center``, ``indent``, ``join``, ``replace``…)
are checked *before* they run, so nothing is allocated past a limit. A failed check raises
:class:`~runner.errors.ExpressionLimitError` ("expression limit: …").

The checks run inside a :class:`Budget`, installed for the thread that evaluates an expression:

- **inline** (on the event loop): a short slice of time, and operations on small values only.
  An expression that needs more raises :class:`MoveOff` (never seen by users): the caller
  evaluates it again from the start in a worker thread. Expressions are pure, so running one
  twice is harmless, and the common case (a comparison, a filter over a few items) pays no
  thread hop.
- **in a worker thread**: the full limits, and a deadline (the expression time limit, or the
  step's ``timeout`` when that is shorter) checked at every operation. Regex matching uses the
  ``regex`` module, which releases the GIL and stops at the remaining time.

The time check is cooperative: it runs between operations, and each single operation is
bounded by the size limits, so an expression stops shortly after its deadline.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.errors import ExpressionLimitError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

MAX_INT_BITS = 4096  # integers: 1233 decimal digits
MAX_STRING = 4_000_000  # characters of one string (bytes of one bytes value)
MAX_ITEMS = 1_000_000  # items of one list, tuple, dict or set
MAX_WORK = 40_000_000  # characters and items produced by one expression, in total
MAX_SECONDS = 1.0  # one expression's time, at most (less when the step's timeout is shorter)
MAX_PATTERN = 10_000  # characters of a regex pattern
MAX_JSON_INDENT = 32  # `to_json(indent)` / `tojson(indent)`
INLINE_SECONDS = 0.005  # time an expression may hold the event loop before it moves to a thread
INLINE_SIZE = 10_000  # larger values are only worked on in a worker thread

_state = threading.local()
_DIGITS = re.compile(r"\d+")
# one printf-style conversion: flags, width, precision (``%(name)-*.*f``)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.S)


class MoveOff(BaseException):
    """Internal: this expression needs more than an inline slice; evaluate it in a worker thread.

    A BaseException, so no ``except Exception`` in a filter can swallow it."""


class Budget:
    """The limits state of one expression evaluation (one thread evaluates it at a time)."""

    __slots__ = ("deadline", "slice_end", "inline", "work", "seconds", "by_step", "error")

    def __init__(self, timeout: float | None = None, *, inline: bool = False,
                 deadline: float | None = None):
        now = time.monotonic()
        if timeout is not None and timeout < MAX_SECONDS:
            self.seconds, self.by_step = max(float(timeout), 0.0), True
        else:
            self.seconds, self.by_step = MAX_SECONDS, False
        self.deadline = deadline if deadline is not None else now + self.seconds
        self.inline = inline
        end = now + INLINE_SECONDS
        self.slice_end = (end if end < self.deadline else self.deadline) if inline else self.deadline
        self.work = 0
        self.error: ExpressionLimitError | None = None

    def off_loop(self, deadline: float) -> "Budget":
        """The budget for evaluating the same expression again in a worker thread."""
        b = Budget(deadline=deadline)
        b.seconds, b.by_step = self.seconds, self.by_step
        return b

    def remaining(self) -> float:
        return self.slice_end - time.monotonic()

    def fail(self, message: str) -> None:
        self.error = ExpressionLimitError(f"expression limit: {message}", hint=_HINT)
        raise self.error

    def over_time(self) -> None:
        if self.inline and time.monotonic() < self.deadline:
            raise MoveOff
        why = "the step's timeout" if self.by_step else "the expression time limit"
        self.fail(f"evaluation ran past {self.seconds:g}s ({why})")


_HINT = "the limits are in docs/playbooks.md#limits; do heavy work in an action, not in an expression"


class active:
    """``with active(budget):`` — ``budget`` governs expressions evaluated in this thread."""

    __slots__ = ("budget", "outer")

    def __init__(self, budget: Budget):
        self.budget = budget

    def __enter__(self) -> Budget:
        self.outer = getattr(_state, "budget", None)
        _state.budget = self.budget
        return self.budget

    def __exit__(self, *exc) -> None:
        _state.budget = self.outer


def current() -> Budget | None:
    return getattr(_state, "budget", None)


# ---- the checks --------------------------------------------------------------------------------

def charge(units: int = 0) -> None:
    """Count ``units`` of work (characters or items produced) and check the time."""
    b = getattr(_state, "budget", None)
    if b is None:
        return
    b.work += units
    if b.work > MAX_WORK:
        b.fail(f"more than {MAX_WORK:,} characters and items produced by one expression")
    if time.monotonic() > b.slice_end:
        b.over_time()


def small(value: Any) -> None:
    """Inline, only small values are worked on: a larger one moves the expression off the loop."""
    b = getattr(_state, "budget", None)
    if b is not None and b.inline and _size(value) > INLINE_SIZE:
        raise MoveOff


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return 0


def refuse(message: str) -> None:
    b = getattr(_state, "budget", None)
    if b is None:
        raise ExpressionLimitError(f"expression limit: {message}", hint=_HINT)
    b.fail(message)


def check_int(bits: int) -> None:
    if bits > MAX_INT_BITS:
        refuse(f"an integer of {bits:,} bits (at most {MAX_INT_BITS:,})")


def check_length(n: int, what: str = "string") -> None:
    if what == "string":
        if n > MAX_STRING:
            refuse(f"a string of {n:,} characters (at most {MAX_STRING:,})")
    elif n > MAX_ITEMS:
        refuse(f"a {what} of {n:,} items (at most {MAX_ITEMS:,})")


def checked(value: Any) -> Any:
    """``value`` itself, once its size is within the limits (and counted as work)."""
    cls = value.__class__
    if cls is int:
        if value.bit_length() > MAX_INT_BITS:
            check_int(value.bit_length())
        return value
    if cls in _TEXTS or isinstance(value, (str, bytes, bytearray)):
        n = len(value)
        if n > MAX_STRING:
            check_length(n)
    elif cls in _SEQUENCES or isinstance(value, (list, tuple, dict, set, frozenset)):
        n = len(value)
        if n > MAX_ITEMS:
            check_length(n, "dict" if isinstance(value, Mapping) else "list")
    else:
        n = 0
        if isinstance(value, int) and not isinstance(value, bool):
            check_int(value.bit_length())
    b = getattr(_state, "budget", None)
    if b is not None:
        b.work += n
        if b.work > MAX_WORK or time.monotonic() > b.slice_end:
            charge()
    return value


_TEXTS = frozenset({str, bytes})
_SEQUENCES = frozenset({list, tuple, dict})


def weight(value: Any, cap: int = MAX_WORK) -> int:
    """The size ``value`` would have written out: characters of its strings plus its items,
    counting a value each time it is referenced. Stops counting past ``cap`` (so the cost of the
    walk is bounded by ``cap``, not by how many references a list holds)."""
    total, stack = 0, [value]
    while stack and total <= cap:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            total += len(v)
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += len(v)
            stack.extend(v)
        elif isinstance(v, Mapping):
            total += len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        else:
            total += 1
    return total


def check_copies(value: Any, n: Any, what: str) -> None:
    """``n`` references to ``value`` in one result (``[x] * n``, a fill value): their written-out
    size is within the work limit, so a list of references cannot stand for gigabytes."""
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        w = weight(value, MAX_WORK // n + 1)
        if w * n > MAX_WORK:
            refuse(f"{what} of {n:,} copies of a value of size {w:,}"
                   f" (at most {MAX_WORK:,} characters and items in all)")


def check_width(n: Any, what: str = "width", limit: int = MAX_STRING) -> None:
    """A width, padding or precision an operation will fill with characters (or a count of
    items it will make, with ``limit=MAX_ITEMS``)."""
    if isinstance(n, int) and not isinstance(n, bool) and n > limit:
        refuse(f"a {what} of {n:,} (at most {limit:,})")


def check_format_spec(spec: str) -> None:
    """A ``str.format`` field spec (``>999``, ``0.12f``): no width or precision past the limit."""
    for m in _DIGITS.finditer(spec):
        digits = m.group()
        check_width(int(digits) if len(digits) <= 12 else MAX_STRING + 1, "format width or precision")


def check_printf(fmt: Any, args: Any) -> None:
    """``fmt % args`` (``'%0999d' % 1``, ``'%*d' % (n, 1)``): widths and precisions in bounds."""
    if isinstance(fmt, bytes):
        fmt = fmt.decode("latin-1")
    if not isinstance(fmt, str) or "%" not in fmt:
        return
    star = False
    for m in _PRINTF.finditer(fmt):
        for part in (m.group(1), m.group(2)):
            if part == "*":
                star = True
            elif part:
                check_width(int(part) if len(part) <= 12 else MAX_STRING + 1, "format width or precision")
    if star:
        values = args if isinstance(args, tuple) else (args,)
        for v in values:
            check_width(v, "format width or precision")


# ---- regex matching ----------------------------------------------------------------------------

def regex_search(pattern: Any, text: str) -> Any:
    """``regex.search`` with the expression's remaining time as its timeout."""
    import regex  # on first use: `soar validate` and playbooks without regexes never pay for it

    pattern = str(pattern)
    if len(pattern) > MAX_PATTERN:
        refuse(f"a regex pattern of {len(pattern):,} characters (at most {MAX_PATTERN:,})")
    small(text)
    b = getattr(_state, "budget", None)
    timeout = None if b is None else max(b.remaining(), 0.0)
    try:
        return regex.search(pattern, text, timeout=timeout if timeout is None else max(timeout, 1e-4))
    except TimeoutError:
        if b is None:  # pragma: no cover - a budget is always installed while evaluating
            raise
        b.over_time()
        raise  # pragma: no cover - over_time always raises
    except regex.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


# ---- where an evaluation runs ------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None


def _executor() -> "ThreadPoolExecutor":
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="soar-expr")
    return _pool


async def render_async(compiled: Any, ctx: Mapping[str, Any], timeout: float | None = None) -> Any:
    """``compiled.render(ctx)``, never holding the event loop for long: references and constants
    inline; Jinja code inline within a short slice, else again from the start in a worker thread.
    ``timeout`` (the step's) shortens the time limit of the evaluation."""
    if not compiled.jinja:
        return compiled.render(ctx)
    budget = Budget(timeout, inline=True)
    outer = getattr(_state, "budget", None)
    _state.budget = budget
    try:
        return compiled.render(ctx)
    except MoveOff:
        pass
    finally:
        _state.budget = outer
    loop = asyncio.get_running_loop()
    remaining = budget.deadline - time.monotonic()
    # in a copy of this context, so what the expression reports (runner.notes) reaches the step
    return await loop.run_in_executor(_executor(), contextvars.copy_context().run, _render_within, compiled, ctx,
                                      budget, remaining)


def _render_within(compiled: Any, ctx: Mapping[str, Any], inline: Budget, remaining: float) -> Any:
    # the time left is counted from when a worker takes the evaluation: time spent waiting behind
    # other runs' expensive expressions does not fail this one
    with active(inline.off_loop(time.monotonic() + remaining)):
        return compiled.render(ctx)
