"""The documented-field check for the Defender for Endpoint and XDR resources the simulator serves.

A fixture (``fixtures/mde/*.json``, ``fixtures/xdr/*.json``) holds one resource's documented
properties, taken from the Microsoft Learn page it names (``source``; ``also`` for the other pages
it draws on, ``recorded`` for real responses where they disagree with the page, and
``deviations`` saying which one was followed and why). Each property has a ``type`` (string,
integer, boolean, datetime, array, object), ``always`` when every example and recorded response
carries it, ``nullable``, ``enum`` where the page lists the values, ``items`` for an array's
elements and ``properties`` for an object's (``open`` objects, such as a hunting result row, may
hold anything). :func:`problems` lists what a JSON value does against that: a field the API does
not send, a missing always-present field, a wrong type, a value outside the enum.

A module with a unique name (not ``conftest``), as tests/simdefender does it.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx

from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud

FIXTURES = Path(__file__).parent / "fixtures"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MDE = "https://api.securitycenter.microsoft.com"
XDR = "https://api.security.microsoft.com"
# Defender's timestamps: ISO 8601 in UTC, with or without (up to 7) fraction digits.
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "datetime":
        return isinstance(value, str) and bool(_DATETIME.fullmatch(value))
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise ValueError(f"fixture type {kind!r} is not one the check knows")


def problems(value: Any, spec: dict, path: str = "$") -> list[str]:
    """Every way ``value`` departs from the property ``spec`` (an empty list when it conforms)."""
    if value is None:
        return [] if spec.get("nullable") else [f"{path}: null, but the property is not nullable"]
    if not _type_ok(spec["type"], value):
        return [f"{path}: {value!r} is not a {spec['type']}"]
    out: list[str] = []
    if "enum" in spec and value not in spec["enum"]:
        out.append(f"{path}: {value!r} is not one of the documented values {spec['enum']}")
    if spec["type"] == "array" and "items" in spec:
        for i, item in enumerate(value):
            out += problems(item, spec["items"], f"{path}[{i}]")
    if spec["type"] == "object" and not spec.get("open"):
        out += object_problems(value, spec.get("properties", {}), path)
    return out


def object_problems(obj: dict, properties: dict, path: str = "$") -> list[str]:
    out = [f"{path}.{key}: not a documented field" for key in obj
           if key not in properties and not key.startswith("@odata.")]
    out += [f"{path}.{key}: missing, but documented as always present" for key, spec in properties.items()
            if spec.get("always") and key not in obj]
    for key, spec in properties.items():
        if key in obj:
            out += problems(obj[key], spec, f"{path}.{key}")
    return out


def resource_problems(obj: dict, fx: dict, path: str = "$") -> list[str]:
    return object_problems(obj, fx["properties"], path)


class Api:
    """A sync httpx client on a simulated cloud, with real tokens from its Entra ID."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self.cloud = cloud
        self.http = httpx.Client(transport=httpx.MockTransport(cloud.handler))
        self.provider = TokenProvider(cloud.demo_config(), cloud.network(), cache_store=MemoryCacheStore())
        self._tokens: dict[str, str] = {}

    def _token(self, api: str) -> str:
        if api not in self._tokens:
            self._tokens[api] = asyncio.run(self.provider.get_token("contoso", api)).value.reveal()
        return self._tokens[api]

    def call(self, method: str, url: str, api: str = "mde", **kw: Any) -> httpx.Response:
        return self.http.request(method, url, headers={"Authorization": f"Bearer {self._token(api)}"}, **kw)

    def close(self) -> None:
        self.http.close()


def new_cloud(**defender: Any) -> SimulatedCloud:
    return SimulatedCloud(defender={"time_scale": 0, "start": START, **defender})
