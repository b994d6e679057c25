"""A simulated cloud plus the services an action needs, for calling defender.run_hunting_query directly."""

from __future__ import annotations

import asyncio
from typing import Any

from runner import ActionContext, PluginHost, Services, TenantInfo
from runner.apis import ApiClients
from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud

START = 1_795_435_200.0  # 2026-11-23T12:00:00Z
ACTION = "defender.run_hunting_query"
PATHS = {"graph": "/v1.0/security/runHuntingQuery", "xdr": "/api/advancedhunting/run",
         "mde": "/api/advancedqueries/run"}
_HOST: PluginHost | None = None


def plugin_host() -> PluginHost:
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
        assert _HOST.actions.get(ACTION) is not None, "pip install -e plugins/defender"
    return _HOST


class Env:
    """``cloud`` (frozen clock at START unless told), ``call(**inputs)`` runs the action for ``tenant``."""

    def __init__(self, cloud: SimulatedCloud | None = None, *, tenant: str = "contoso", config: Any = None,
                 **api_kw: Any) -> None:
        self.cloud = cloud or SimulatedCloud(defender={"time_scale": 0, "start": START})
        self.config = config or self.cloud.demo_config()
        net = self.cloud.network()
        self.auth = TokenProvider(self.config, net, cache_store=MemoryCacheStore())
        self.services = Services(plugins=plugin_host(), store=None, network=net, config=self.config, auth=self.auth)
        self.services.apis = ApiClients(net, self.auth, self.config, **api_kw)
        t = self.config.tenants[tenant]
        self.tenant = TenantInfo(tenant, t.id, t.cloud, t.region)

    def ctx(self) -> ActionContext:
        return ActionContext(run_id="run-h", step_id="hunt", item=None, attempt=1, tenant=self.tenant,
                             dry_run=False, services=self.services)

    def call(self, **inputs: Any) -> dict:
        action = plugin_host().actions.get(ACTION)
        model = action.input_model.model_validate(inputs)
        return asyncio.run(action.func(self.ctx(), model)).model_dump(mode="python", by_alias=True)

    def hunting_requests(self) -> list[dict]:
        return [r for r in self.cloud.defender.log if r["path"] in PATHS.values()]

    def close(self) -> None:
        self.auth.close()
