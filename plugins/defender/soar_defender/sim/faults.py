"""Fault injection: error rates, timeouts (before or after the request took effect), latency,
and scripted rules ("answer 503 to the next 2 POSTs matching */isolate"; ``params={"$skip": "100"}``
makes one page of a list fail).

A *timeout before* means the server never saw the request: nothing changed. A *timeout after*
means the server applied it (an isolate was queued) and the client still got
``httpx.ReadTimeout`` — the case that makes idempotency testable.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field

BEFORE, AFTER = "before", "after"


@dataclass
class FaultRule:
    """Answer ``status`` (or time out, when ``timeout``) for matching requests, ``times`` times (None = always)."""

    path: str = "*"                 # fnmatch pattern on the URL path, e.g. "*/isolate"
    status: int = 503
    times: int | None = 1
    method: str | None = None
    tenant: str | None = None
    host: str | None = None         # fnmatch pattern on the host
    timeout: bool = False           # raise httpx.ReadTimeout instead of answering
    when: str = BEFORE              # BEFORE: the request has no effect; AFTER: it took effect first
    retry_after: float | None = None
    params: dict[str, str] | None = None  # query parameters that must match, e.g. {"$skip": "100"}
    fired: int = 0

    def matches(self, method: str, host: str, path: str, tenant: str | None,
                query: dict[str, str] | None = None) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        return ((self.method is None or self.method.upper() == method)
                and (self.tenant is None or self.tenant == tenant)
                and (self.host is None or fnmatch.fnmatch(host, self.host))
                and fnmatch.fnmatch(path, self.path)
                and all((query or {}).get(k) == str(v) for k, v in (self.params or {}).items()))


@dataclass
class Fault:
    """What to do to one request."""

    status: int | None = None
    timeout: bool = False
    when: str = BEFORE
    retry_after: float | None = None
    rule: FaultRule | None = None


@dataclass
class Faults:
    """Knobs: ``error_rate`` (5xx), ``timeout_rate`` and ``timeout_after_share`` (the share of
    random timeouts that happen after the effect), ``latency`` (real seconds added), ``rules``."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    timeout_rate: float = 0.0
    timeout_after_share: float = 0.5
    latency: float = 0.0
    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def add(self, path: str = "*", status: int = 503, times: int | None = 1, **kw) -> FaultRule:
        """Add a rule; see :class:`FaultRule` for keywords (``method``, ``tenant``, ``timeout``, ``when``...)."""
        rule = FaultRule(path=path, status=status, times=times, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def timeout(self, path: str = "*", *, after: bool = False, times: int | None = 1, **kw) -> FaultRule:
        """Time out matching requests; ``after=True`` applies them first (the server did the work)."""
        return self.add(path, 0, times, timeout=True, when=AFTER if after else BEFORE, **kw)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.error_rate = self.timeout_rate = self.latency = 0.0

    def pick(self, method: str, host: str, path: str, tenant: str | None,
             query: dict[str, str] | None = None) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, host, path, tenant, query):
                    rule.fired += 1
                    return Fault(None if rule.timeout else rule.status, rule.timeout, rule.when,
                                 rule.retry_after, rule)
            if self.timeout_rate and self._rng.random() < self.timeout_rate:
                after = self._rng.random() < self.timeout_after_share
                return Fault(timeout=True, when=AFTER if after else BEFORE)
            if self.error_rate and self._rng.random() < self.error_rate:
                return Fault(status=self._rng.choice(self.error_statuses))
        return None
