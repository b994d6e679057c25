"""Poll triggers as serve wires them: one job per (playbook, trigger, tenant); `submit` records a
deduplicated event for that tenant and the run acts on that tenant alone."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from serve_helpers import Harness, run_status, until

from runner.serve.polling import Poller

POLLED = """
name: polled
tenants: [contoso, fabrikam]
on:
  - poll: {source: defender.incidents, every: 1h}
steps:
  - id: seen
    action: core.set
    with: {incident: "${{ trigger.payload.incident }}", tenant: "${{ tenant.name }}"}
outputs:
  seen: "${{ steps.seen.output }}"
"""


class FakePoller:
    created: list = []

    def __init__(self, services, playbook_name, spec, tenant, *, clock=None):
        self.tenant = tenant
        FakePoller.created.append((playbook_name, spec.source, tenant.name))

    async def poll_once(self, submit):
        first = await submit({"incident": f"{self.tenant.name}-1"}, "inc-1@t1")
        again = await submit({"incident": f"{self.tenant.name}-1"}, "inc-1@t1")  # seen: a duplicate
        return first, again


def test_poll_jobs_per_tenant_and_submit_dedups(tmp_path):
    from runner.sim import SimulatedCloud

    assert Poller.__init__.__code__.co_varnames[1:5] == ("services", "playbook_name", "spec", "tenant")
    harness = Harness(tmp_path, cloud=SimulatedCloud())

    async def main():
        harness.write("polled.yaml", POLLED)
        service = await harness.start()
        service.Poller = FakePoller
        jobs = sorted(j for j in service._jobs if "/poll/" in j)
        assert [j.split("/")[2] for j in jobs] == ["contoso", "fabrikam"]
        for job_id in jobs:
            service._on_fire(job_id, datetime.now(timezone.utc))
        results = await asyncio.gather(*service._polls.values())
        assert all(first is not None and again is None for first, again in results)
        events = service.inbox.events(source="poll")
        assert sorted((e.tenant, e.payload["incident"]) for e in events) == [
            ("contoso", "contoso-1"), ("fabrikam", "fabrikam-1")]
        for e in events:
            await until(lambda: run_status(service.store, e.run_id) == "succeeded", what="a poll run")
            run = service.store.get_run(e.run_id)
            assert run.tenant == e.tenant and run.outputs["seen"]["tenant"] == e.tenant
            assert service.store.children(e.run_id) == []  # one tenant, not a parent run
        await harness.stop()

    asyncio.run(main())
    assert sorted(FakePoller.created) == [("polled", "defender.incidents", "contoso"),
                                          ("polled", "defender.incidents", "fabrikam")]
