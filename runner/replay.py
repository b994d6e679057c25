"""Replay: run actions and playbooks against recorded API answers (``soar run PB --replay DIR``).

A recording directory holds one file (JSON or YAML) per request → response exchange, captured
from a real tenant and scrubbed (docs/replay.md)::

    source: where the answer comes from (a capture date, a Microsoft page)   # free text
    request:
      method: GET
      host: api.security.microsoft.com      # optional; * wildcards
      path: /api/incidents                  # exact, or with * wildcards
      query: {$filter: "*status eq 'Active'*"}   # optional; only the keys given must match (wildcards)
      body: {Type: Selective}               # optional; only the keys given must be equal
    response:                               # or `responses: [...]`: served in order, the last repeats
      status: 200
      headers: {}
      body: {...}

and optionally ``replay.yaml``: ``tenant`` (the tenant's name in the run, default ``replay``)
and ``roles`` (API → the application roles the app holds there, e.g. ``{xdr: []}`` for an app
with Graph's incident roles only; the other APIs keep every role).

Tokens come from the simulated Entra ID (:class:`runner.sim.SimulatedCloud`), so sign-in, token
caching and role checks run as they do against a tenant; every API host a simulated service
serves is answered from the recordings. A request no recording answers is not guessed at: the action fails with
:class:`~runner.errors.NotRecorded`, naming the request, and :attr:`Replay.missing` lists it.
"""

from __future__ import annotations

import fnmatch
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runner.errors import ConfigError, NotRecorded

MANIFEST = "replay.yaml"
SUFFIXES = (".json", ".yaml", ".yml")


def _glob(pattern: Any, value: str) -> bool:
    pattern = str(pattern)
    return fnmatch.fnmatchcase(value, pattern) if "*" in pattern else value == pattern


@dataclass
class Exchange:
    """One recorded request and the answer(s) given to it."""

    file: str
    method: str
    path: str
    host: str | None = None
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    responses: list[dict] = field(default_factory=list)
    served: int = 0

    def matches(self, method: str, host: str, path: str, query: dict[str, str], body: Any) -> bool:
        if method != self.method or not _glob(self.path, path):
            return False
        if self.host is not None and not _glob(self.host.lower(), host):
            return False
        if any(k not in query or not _glob(v, query[k]) for k, v in self.query.items()):
            return False
        if self.body is not None:
            return isinstance(body, dict) and all(body.get(k) == v for k, v in self.body.items())
        return True

    def next_response(self) -> httpx.Response:
        spec = self.responses[min(self.served, len(self.responses) - 1)]
        self.served += 1
        headers = dict(spec.get("headers") or {})
        if "body" in spec and spec["body"] is not None:
            return httpx.Response(int(spec.get("status", 200)), headers=headers, json=spec["body"])
        return httpx.Response(int(spec.get("status", 200)), headers=headers)


def _load_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    return yaml.safe_load(text)


def load_exchange(path: Path) -> Exchange:
    try:
        doc = _load_file(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"replay recording {path}: cannot be read ({exc})") from None
    req = doc.get("request") if isinstance(doc, dict) else None
    responses = doc.get("responses") or ([doc["response"]] if isinstance(doc, dict) and "response" in doc else [])
    if not isinstance(req, dict) or not req.get("method") or not req.get("path") or not responses \
            or not all(isinstance(r, dict) for r in responses):
        raise ConfigError(f"replay recording {path}: needs `request` (method, path) and `response` or `responses`",
                          hint="see docs/replay.md for the format")
    return Exchange(file=path.name, method=str(req["method"]).upper(), path=str(req["path"]),
                    host=req.get("host"), query=dict(req.get("query") or {}), body=req.get("body"),
                    responses=list(responses))


class Replay:
    """The recordings of one directory, answering requests as an httpx handler."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ConfigError(f"replay directory {self.directory} does not exist",
                              hint="give the directory of recorded exchanges (docs/replay.md)")
        manifest = self.directory / MANIFEST
        meta = _load_file(manifest) if manifest.is_file() else {}
        meta = meta if isinstance(meta, dict) else {}
        self.tenant: str = str(meta.get("tenant") or "replay")
        self.roles: dict[str, list[str]] = {k: list(v or []) for k, v in (meta.get("roles") or {}).items()}
        self.exchanges = [load_exchange(p) for p in sorted(self.directory.iterdir())
                          if p.suffix in SUFFIXES and p.name != MANIFEST and p.is_file()]
        if not self.exchanges:
            raise ConfigError(f"replay directory {self.directory} holds no recordings",
                              hint="one .json or .yaml file per request (docs/replay.md)")
        self.received: list[dict] = []  # every API request, answered or not, in order
        self.missing: list[dict] = []   # the requests no recording answered
        self._lock = threading.Lock()
        self._cloud: Any = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer an API request from the recordings (the bearer token must be the simulated
        Entra ID's), else raise :class:`NotRecorded`."""
        cloud = self._cloud
        if cloud is not None and cloud.verify_bearer(request.headers.get("authorization")) is None:
            return httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "no valid bearer token"}})
        body: Any = None
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                body = request.content.decode("utf-8", "replace")
        seen = {"method": request.method, "host": request.url.host.lower(), "path": request.url.path,
                "query": dict(request.url.params), "body": body}
        with self._lock:
            found = next((x for x in self.exchanges
                          if x.matches(seen["method"], seen["host"], seen["path"], seen["query"], body)), None)
            self.received.append({**seen, "file": found.file if found else None})
            if found is None:
                self.missing.append(seen)
            else:
                return found.next_response()
        query = f"?{request.url.query.decode()}" if request.url.query else ""
        raise NotRecorded(f"replay: no recording in {self.directory} answers {request.method} "
                          f"{seen['host']}{seen['path']}{query}",
                          hint="record what the tenant answers to this request (docs/replay.md), or fix the "
                               "playbook if it should not send it")

    def requests(self, method: str | None = None, path_suffix: str = "") -> list[dict]:
        """The requests received, optionally only one method and paths ending with ``path_suffix``."""
        return [r for r in self.received
                if (method is None or r["method"] == method) and r["path"].endswith(path_suffix)]

    def cloud(self, plugins: Any = None) -> Any:
        """A :class:`~runner.sim.SimulatedCloud` with this replay's tenant: its Entra ID signs the
        tokens, and every host a registered simulated service serves is answered by
        :meth:`handle` instead (``plugins``: a :class:`~runner.plugins.PluginHost`; default: the
        process's)."""
        if self._cloud is None:
            from runner.sim import SimulatedCloud

            cloud = SimulatedCloud(tenants=[self.tenant], plugins=plugins)
            for api, roles in self.roles.items():
                cloud.set_roles(self.tenant, api, roles)
            for service in cloud.plugins.sim_services.values():
                for host in service.hosts:
                    cloud.mount(host, self.handle)
            self._cloud = cloud
        return self._cloud
