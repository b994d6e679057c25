"""The API calls a step made, for its record: method, path, status, duration and the time spent
waiting on 429s — never headers, tokens, query strings or bodies.

The engine opens a log around each step attempt (:func:`calls_of`); every request an
:class:`~runner.apis.client.ApiClient` sends while it is open appends one :class:`ApiCall`.
Outside a step (a poll, a pre-flight check) nothing is recorded and nothing is paid but one
context-variable read per request.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import asdict, dataclass

__all__ = ["ApiCall", "CallLog", "MAX_CALLS", "calls_of", "current"]

MAX_CALLS = 200  # per step attempt; a foreach over many items keeps the first ones and a count


@dataclass(frozen=True, slots=True)
class ApiCall:
    api: str
    tenant: str
    method: str
    path: str  # the URL's path, without the query string
    status: int | None  # None: no answer (connection failed, timed out)
    ms: float  # from the first send to the final answer, retries and waits included
    throttled: int = 0  # 429s absorbed
    waited_s: float = 0.0  # seconds slept on Retry-After

    def as_dict(self) -> dict:
        return asdict(self)


class CallLog:
    """The calls of one step attempt: the first :data:`MAX_CALLS`, and how many there were."""

    __slots__ = ("calls", "total")

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.total = 0

    def add(self, call: ApiCall) -> None:
        self.total += 1
        if len(self.calls) < MAX_CALLS:
            self.calls.append(call)

    def as_dicts(self) -> list[dict]:
        return [c.as_dict() for c in self.calls]

    def doc(self) -> dict | None:
        """What a step record keeps: ``{"total": n, "calls": [...]}`` (None when no call was
        made). One dict literal per call: ``dataclasses.asdict`` copies deeply, ~10x slower."""
        if not self.total:
            return None
        return {"total": self.total, "calls": [
            {"api": c.api, "tenant": c.tenant, "method": c.method, "path": c.path, "status": c.status,
             "ms": c.ms, "throttled": c.throttled, "waited_s": c.waited_s} for c in self.calls]}


_current: ContextVar[CallLog | None] = ContextVar("soar_api_calls", default=None)


def current() -> CallLog | None:
    """The open log of the step running in this context, if any."""
    return _current.get()


class calls_of:  # noqa: N801 - used as a function: ``with calls_of() as log``
    """Open a log (``log``, or a new one) for the code in the ``with`` block (and the tasks it
    starts). A class rather than a generator: the engine opens one per step attempt, and a
    ``contextlib.contextmanager`` costs several times as much to enter and leave."""

    __slots__ = ("log", "_token")

    def __init__(self, log: CallLog | None = None) -> None:
        self.log = log if log is not None else CallLog()

    def __enter__(self) -> CallLog:
        self._token = _current.set(self.log)
        return self.log

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)
