"""Helpers for the polling tests: a simulated cloud with a frozen clock, services, an inbox."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from runner import Services, TenantInfo
from runner.apis import ApiClients, RetryPolicy
from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.playbook.model import PollSpec
from runner.serve.polling import Poller, parse_time
from runner.sim import SimulatedCloud
from runner.store import RunStore

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MINUTE = 60.0


async def _no_sleep(_seconds: float) -> None:
    return None


class Inbox:
    """What `soar serve`'s inbox does for a poller: record each event, dedup on (playbook, key)."""

    def __init__(self, playbook: str = "triage") -> None:
        self.playbook = playbook
        self.events: list[tuple[str, str, dict]] = []
        self._ids: dict[tuple[str, str], str] = {}
        self.fail_after: int | None = None  # raise on the call after this many events
        self.rejected = 0  # submits of a key already recorded (the poller resubmitted it)

    async def submit(self, payload: dict, dedup_key: str) -> str | None:
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise RuntimeError("inbox unavailable")
        if (self.playbook, dedup_key) in self._ids:
            self.rejected += 1
            return None
        event_id = f"ev-{len(self.events) + 1}"
        self._ids[(self.playbook, dedup_key)] = event_id
        self.events.append((event_id, dedup_key, payload))
        return event_id

    def versions(self) -> Counter:
        """How many times each (id, lastUpdateTime) was delivered, single items and batches alike."""
        out: Counter = Counter()
        for _eid, _key, payload in self.events:
            for item in payload.get("items", [payload.get("item")]):
                out[version(item)] += 1
        return out


def version(item: dict) -> tuple[str, Any]:
    """(id, lastUpdateTime as an instant) of an incident or alert in any of the shapes."""
    item_id = item["id"] if "alertCreationTime" in item else item.get("incidentId", item.get("id"))
    when = item.get("lastUpdateTime") or item.get("lastUpdateDateTime")
    return str(item_id), parse_time(when)


class PollEnv:
    """A simulated cloud (Defender clock frozen at START, no seeded incidents), a run store,
    services with an ApiClients that does not wait, and an inbox."""

    def __init__(self, store_url: str, *, tenant: str = "contoso", incidents_api: str | None = None,
                 **defender: Any) -> None:
        knobs = {"time_scale": 0, "start": START, "incidents_per_tenant": 0, "quotas": False, **defender}
        self.cloud = SimulatedCloud(defender=knobs)
        self.sim = self.cloud.defender
        self.config = self.cloud.demo_config()
        if incidents_api:
            self.config.tenants[tenant].apis["incidents"] = incidents_api
        self.network = self.cloud.network()
        self.auth = TokenProvider(self.config, self.network, cache_store=MemoryCacheStore())
        self.store_url = store_url
        self.store = RunStore.open(store_url)
        self.apis = ApiClients(self.network, self.auth, self.config, quotas="off",
                               retry=RetryPolicy(attempts=2, backoff=0.0), sleep=_no_sleep)
        self.services = Services(plugins=None, store=self.store, network=self.network, config=self.config,
                                 auth=self.auth, apis=self.apis)
        t = self.config.tenants[tenant]
        self.tenant = TenantInfo(tenant, t.id, t.cloud, t.region)
        self.inbox = Inbox()

    def now(self) -> float:
        return self.sim.clock.now()

    def poller(self, playbook: str = "triage", services: Services | None = None, **spec: Any) -> Poller:
        extra = {k: spec.pop(k) for k in ("skip_after", "page_size") if k in spec}
        model = PollSpec.model_validate({"source": "defender.incidents", **spec})
        return Poller(services or self.services, playbook, model, self.tenant, clock=self.now, **extra)

    def poll(self, poller: Poller, inbox: Inbox | None = None):
        return asyncio.run(poller.poll_once((inbox or self.inbox).submit))

    def visible_incidents(self) -> set[tuple[str, Any]]:
        return {version(i) for i in self.sim.tenant(self.tenant.name).incidents}

    def close(self) -> None:
        self.store.close()
        self.auth.close()
