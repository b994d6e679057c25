"""The tenants page and API on a simulated cloud: configured tenants (never a credential), the
roles the served playbooks' actions need on each, and this serve's API call counters."""

from __future__ import annotations

import asyncio

from console_harness import Console, status, text_of, until

from runner.sim import SimulatedCloud

ISOLATE = """
name: contain
tenants: [contoso]
inputs:
  machine: {type: string, default: "0000000000000000000000000000000000000000"}
on:
  - every: 1h
steps:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ inputs.machine }}"}
"""

HUNT = """
name: look
steps:
  - id: machines
    action: defender.list_machines
"""


def test_tenants_show_roles_needed_and_api_calls(tmp_path):
    cloud = SimulatedCloud()
    console = Console(tmp_path, cloud=cloud)

    async def main():
        console.write("contain.yaml", ISOLATE)
        console.write("look.yaml", HUNT)
        service = await console.start()
        result = await service.engine.start(service.catalog.get("look"), tenant="fabrikam")
        await until(lambda: status(service.store, result.run_id) == "succeeded")
        async with console.client("viewer") as http:
            doc = (await http.get("/api/v1/tenants")).json()
            by_name = {t["name"]: t for t in doc["tenants"]}
            assert set(by_name) == {"contoso", "fabrikam"}
            contoso = {(n["playbook"], n["action"]): n["roles"] for n in by_name["contoso"]["roles_needed"]}
            assert contoso[("contain", "defender.isolate_machine")] == {"mde": ["Machine.Isolate"]}
            assert ("look", "defender.list_machines") in contoso
            fabrikam = {n["action"] for n in by_name["fabrikam"]["roles_needed"]}
            assert fabrikam == {"defender.list_machines"}  # contain runs on contoso only
            assert sum(by_name["fabrikam"]["calls"].values()) >= 1 and not by_name["contoso"]["calls"]
            assert "soar tenants check" in doc["token_check"]
            page = await http.get("/tenants")
            text = text_of(page.text)
            assert page.status_code == 200 and "Machine.Isolate" in text and "defender.isolate_machine" in text
            assert "client_secret" not in page.text and "client_secret" not in str(doc)  # no credential, not even its reference
            playbooks = (await http.get("/api/v1/playbooks")).json()
            [contain] = [p for p in playbooks["playbooks"] if p["name"] == "contain"]
            [every] = contain["triggers"]
            assert every["kind"] == "every" and len(every["next"]) == 3  # the persisted next fire, then each hour
        await console.stop()

    asyncio.run(main())
