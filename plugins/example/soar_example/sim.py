"""The simulated ACME service (``register_sim_services``): what ``soar run --simulate``,
``soar serve --simulate`` and the test fixtures talk to instead of the real ACME.

It serves ``api.acme.example`` (the API: indicators, blocks, alerts) and ``feeds.acme.example``
(the plain-text feeds) in the simulated cloud, checks the API key like ACME does (401 without a
known one), starts with seeded data, and keeps a log of what it received (:meth:`AcmeSim.requests`)
for tests. Built once per simulated cloud: ``soar_cloud.services["acme"]`` in a test.

Options (``SimulatedCloud(services={"acme": {...}})`` or the ``soar_cloud`` marker):
``api_keys`` (default: :data:`DEMO_KEY`), ``feed_tokens`` (default: :data:`DEMO_FEED_TOKEN`),
``indicators`` (more indicators: value → ``{type, verdict, score, tags}``).
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import unquote

import httpx

from runner.plugin import SimService

from soar_example.actions import indicator_type
from soar_example.api import FEEDS_HOST, HOST

#: the API key the simulated ACME accepts unless ``api_keys`` says otherwise
DEMO_KEY = "acme-demo-key"
#: the bearer token of the simulated private feed (``premium.txt``)
DEMO_FEED_TOKEN = "acme-feed-demo"

SEEDED: dict[str, dict[str, Any]] = {
    "198.51.100.7": {"type": "ip", "verdict": "malicious", "score": 92, "tags": ["botnet-c2"]},
    "203.0.113.9": {"type": "ip", "verdict": "suspicious", "score": 55, "tags": ["scanner"]},
    "8.8.8.8": {"type": "ip", "verdict": "clean", "score": 0, "tags": ["dns-resolver"]},
    "update-check.badcdn.example": {"type": "domain", "verdict": "malicious", "score": 88, "tags": ["c2", "beacon"]},
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": {
        "type": "sha256", "verdict": "clean", "score": 0, "tags": ["empty-file"]},
}
FEEDS = {"botnet-c2": ["198.51.100.7", "update-check.badcdn.example"],
         "premium": ["203.0.113.9", "198.51.100.7", "evil.example.net"]}
UTC = timezone.utc


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, code: str, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "detail": detail})


class AcmeSim:
    """One simulated ACME account, shared by every tenant of the simulated cloud."""

    def __init__(self, cloud: Any, options: Mapping[str, Any]) -> None:
        self.clock = getattr(cloud, "clock", time.time)
        self.api_keys = set(options.get("api_keys", (DEMO_KEY,)))
        self.feed_tokens = set(options.get("feed_tokens", (DEMO_FEED_TOKEN,)))
        self.indicators: dict[str, dict[str, Any]] = {k: dict(v) for k, v in SEEDED.items()}
        for value, data in dict(options.get("indicators", {})).items():
            self.indicators[value] = {"type": indicator_type(value), "tags": [], **data}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        started = self._now()
        self.add_alert("198.51.100.7", "Beaconing to a known botnet C2", "high", at=started - timedelta(minutes=10))
        self.add_alert("203.0.113.9", "Port scan from a known scanner", "medium", at=started - timedelta(minutes=5))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ---- what tests use ----------------------------------------------------------------------------

    def add_alert(self, indicator: str, title: str = "Indicator seen", severity: str = "high", *,
                  at: datetime | None = None) -> dict:
        """A new alert (``updated_at``: ``at``, default now), listed from then on."""
        when = _iso(at or self._now())
        with self._lock:
            alert = {"id": f"al-{len(self.alerts) + 1:04d}", "title": title, "severity": severity,
                     "indicator": indicator, "created_at": when, "updated_at": when}
            self.alerts.append(alert)
        return alert

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        """What reached the service: ``{method, host, path, query, api_key, status}`` per request,
        optionally only one method and paths starting with ``path``."""
        with self._lock:
            return [dict(r) for r in self.log if (method is None or r["method"] == method)
                    and (path is None or r["path"].startswith(path))]

    # ---- HTTP ----------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii").split("?", 1)[0]
        segments = [unquote(s) for s in raw.strip("/").split("/")]
        key = request.headers.get("x-api-key")
        if request.url.host == FEEDS_HOST:
            response = self._feed(request, segments)
        elif key not in self.api_keys:
            response = _error(401, "unauthorized", "missing or unknown API key (X-Api-Key)")
        else:
            response = self._api(request, segments)
        with self._lock:
            self.log.append({"method": request.method, "host": request.url.host, "path": "/" + "/".join(segments),
                             "query": dict(request.url.params), "api_key": key, "status": response.status_code})
        return response

    def _feed(self, request: httpx.Request, segments: list[str]) -> httpx.Response:
        if request.method != "GET" or len(segments) != 3 or segments[:2] != ["v1", "feeds"] \
                or not segments[2].endswith(".txt") or segments[2][:-4] not in FEEDS:
            return httpx.Response(404, text="no such feed\n")
        name = segments[2][:-4]
        if name == "premium" and request.headers.get("authorization", "")[len("Bearer "):] not in self.feed_tokens:
            return httpx.Response(401, text="this feed needs a subscriber token\n")
        body = f"# ACME {name} feed\n" + "\n".join(FEEDS[name]) + "\n"
        return httpx.Response(200, text=body)

    def _api(self, request: httpx.Request, segments: list[str]) -> httpx.Response:
        method, params = request.method, request.url.params
        if segments[:1] != ["v2"]:
            return _error(404, "not_found", f"no route {request.url.path}")
        route = segments[1:]
        if method == "GET" and len(route) == 2 and route[0] == "indicators":
            data = self.indicators.get(route[1])
            if data is None:
                return _error(404, "not_found", "ACME has never seen this indicator")
            return httpx.Response(200, json={"indicator": route[1], "first_seen": "2024-03-01T00:00:00Z", **data})
        if route == ["blocks"] and method == "GET":
            wanted = params.get("indicator")
            with self._lock:
                found = [b for b in self.blocks.values() if wanted is None or b["indicator"] == wanted]
            return httpx.Response(200, json={"blocks": found})
        if route == ["blocks"] and method == "POST":
            return self._block(request)
        if method == "DELETE" and len(route) == 2 and route[0] == "blocks":
            with self._lock:
                gone = self.blocks.pop(route[1], None)
            return httpx.Response(204) if gone else _error(404, "not_found", "no such block")
        if route == ["alerts"] and method == "GET":
            since = params.get("since")
            try:
                cut = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
            except ValueError:
                return _error(400, "bad_request", "since must be an ISO 8601 time")
            with self._lock:
                found = [a for a in self.alerts if cut is None
                         or datetime.fromisoformat(a["updated_at"].replace("Z", "+00:00")) >= cut]
            return httpx.Response(200, json={"alerts": found})
        return _error(404, "not_found", f"no route {method} {request.url.path}")

    def _block(self, request: httpx.Request) -> httpx.Response:
        import json

        try:
            body = json.loads(request.content or b"{}")
            value, kind = str(body["indicator"]), str(body.get("type") or indicator_type(str(body["indicator"])))
        except (ValueError, KeyError, TypeError):
            return _error(400, "bad_request", "a block needs {indicator, type, reason}")
        with self._lock:
            for block in self.blocks.values():
                if block["indicator"] == value:  # idempotent by indicator
                    return httpx.Response(200, json=block)
            now = self._now()
            days = body.get("expires_in_days")
            block = {"id": f"blk-{next(self._ids):06d}", "indicator": value, "type": kind,
                     "reason": str(body.get("reason") or ""), "created_at": _iso(now),
                     "expires_at": _iso(now + timedelta(days=int(days))) if days else None}
            self.blocks[block["id"]] = block
        return httpx.Response(201, json=block)


ACME_SIM = SimService(name="acme", hosts=(HOST, FEEDS_HOST), build=AcmeSim, credentials={"acme": DEMO_KEY})
