"""Prometheus metrics of ``soar serve`` — the only module that imports prometheus_client.

Runs are counted by the dispatcher, which sees every top-level run start and end; step latency
by an observer plugin (the ``soar_step_finished`` hook of ``runner.hookspecs``); API calls, 429s and token requests are read from
``services.apis.stats()`` and ``services.auth.stats()`` when ``/metrics`` is scraped. Every
metric name is listed in docs/serve.md.
"""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from runner.hookspecs import hookimpl

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _ClientStats:
    """Reads the API client's and token provider's counters at scrape time."""

    def __init__(self, services: Any, gauges: Callable[[], dict[str, float]]):
        self.services, self.gauges = services, gauges

    def collect(self):
        apis = getattr(self.services, "apis", None)
        stats = apis.stats() if apis is not None else {}
        calls = CounterMetricFamily("soar_api_calls", "API calls sent, per tenant and API",
                                    labels=["tenant", "api"])
        throttled = CounterMetricFamily("soar_api_throttled", "HTTP 429 answers absorbed, per tenant and API",
                                        labels=["tenant", "api"])
        retries = CounterMetricFamily("soar_api_retries", "API retries (5xx, timeouts), per tenant and API",
                                      labels=["tenant", "api"])
        for family, key in ((calls, "calls"), (throttled, "throttled"), (retries, "retries")):
            for tenant, per_api in (stats.get(key) or {}).items():
                for api, n in per_api.items():
                    family.add_metric([tenant, api], n)
        yield from (calls, throttled, retries)
        auth = getattr(self.services, "auth", None)
        tokens = CounterMetricFamily("soar_token_requests", "Token requests sent to Entra ID, per tenant",
                                     labels=["tenant"])
        stats = getattr(auth, "stats", None) if auth is not None else None
        if callable(stats):
            stats = stats()
        if isinstance(stats, dict):
            for tenant, n in (stats.get("token_requests") or {}).items():
                tokens.add_metric([tenant], n)
        yield tokens
        for name, value in self.gauges().items():
            gauge = GaugeMetricFamily(f"soar_{name}", name.replace("_", " "))
            gauge.add_metric([], value)
            yield gauge


class ServeMetrics:
    """The process's metrics in their own registry. ``plugin`` is the observer to register."""

    def __init__(self, services: Any, gauges: Callable[[], dict[str, float]] = dict):
        self.registry = r = CollectorRegistry()
        self.runs_started = Counter("soar_runs_started", "Runs started or resumed (top-level runs)",
                                    ["playbook"], registry=r)
        self.runs_finished = Counter("soar_runs_finished", "Runs that reached a final or waiting state",
                                     ["playbook", "status"], registry=r)
        self.runs_failed = Counter("soar_runs_failed", "Runs that failed", ["playbook"], registry=r)
        self.step_seconds = Histogram("soar_step_duration_seconds", "Duration of one step attempt",
                                      ["playbook", "action", "status"], buckets=STEP_BUCKETS, registry=r)
        self.events = Counter("soar_trigger_events", "Trigger events accepted", ["playbook", "source"],
                              registry=r)
        self.duplicates = Counter("soar_trigger_duplicates", "Trigger events dropped as duplicates",
                                  ["playbook", "source"], registry=r)
        self.rejected = Counter("soar_webhook_rejected", "Webhook requests refused, by HTTP status",
                                ["status"], registry=r)
        self.skipped = Counter("soar_schedule_skipped", "Scheduled runs skipped: the playbook was at its "
                               "concurrency limit", ["playbook"], registry=r)
        self.missed = Counter("soar_schedule_missed", "Scheduled runs missed beyond the misfire grace",
                              ["playbook"], registry=r)
        self.reloads = Counter("soar_playbook_reloads", "Playbook files (re)loaded or rejected",
                               ["result"], registry=r)
        self.up = Gauge("soar_serve_up", "1 while serving, 0 while stopping", registry=r)
        self.up.set(1)
        r.register(_ClientStats(services, gauges))
        self.plugin = _Observer(self)

    def run_started(self, playbook: str) -> None:
        self.runs_started.labels(playbook).inc()

    def run_finished(self, playbook: str, status: str) -> None:
        self.runs_finished.labels(playbook, status).inc()
        if status == "failed":
            self.runs_failed.labels(playbook).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Observer:
    """Observer hook implementations feeding :class:`ServeMetrics` (must be quick, never raise)."""

    def __init__(self, metrics: ServeMetrics):
        self.m = metrics

    @hookimpl
    def soar_step_finished(self, run, step):
        if step.duration is not None:
            self.m.step_seconds.labels(run.playbook, step.action, step.status).observe(step.duration)
