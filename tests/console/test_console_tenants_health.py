"""The tenants page and API on a simulated cloud: per tenant and API, token health read from the
serve's token provider (cached or not, expiry, the last token error — never the token), the roles
the last token holds against those the served playbooks need (the roles pre-flight), and the API
budgets spent in the current window."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from console_harness import Console, status, text_of, until

from runner.sim import SimulatedCloud

CONTAIN = """
name: contain
tenants: [contoso]
inputs:
  machine: {type: string, default: "0000000000000000000000000000000000000000"}
steps:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ inputs.machine }}"}
"""

LOOK = """
name: look
steps:
  - id: machines
    action: defender.list_machines
"""


def _tenant(doc: dict, name: str) -> dict:
    [found] = [t for t in doc["tenants"] if t["name"] == name]
    return found


def test_tenants_show_token_health_consented_roles_and_quota_usage(tmp_path):
    cloud = SimulatedCloud(defender={"time_scale": 600})
    cloud.withhold_role("Machine.Isolate", tenant="contoso")  # its admin never consented to it
    console = Console(tmp_path, cloud=cloud)

    async def main():
        console.write("contain.yaml", CONTAIN)
        console.write("look.yaml", LOOK)
        service = await console.start()
        async with console.client("viewer") as http:
            # before any run: the APIs the playbooks would use, no token seen, nothing spent
            before = _tenant((await http.get("/api/v1/tenants")).json(), "contoso")
            [mde] = before["tokens"]
            assert mde["api"] == "mde" and mde["auth"] == "entra"
            assert not mde["cached"] and mde["roles"] is None and mde["last_error"] is None
            assert {n["status"] for n in before["roles_needed"]} == {"unknown"}
            assert all(w["used"] == 0 for q in before["quotas"] for w in q["windows"])

            done = await service.engine.start(service.catalog.get("look"), tenant="contoso")
            await until(lambda: status(service.store, done.run_id) == "succeeded")
            cloud.revoke_consent("fabrikam")
            refused = await service.engine.start(service.catalog.get("look"), tenant="fabrikam")
            await until(lambda: status(service.store, refused.run_id) == "failed")

            r = await http.get("/api/v1/tenants")
            assert r.status_code == 200
            doc = r.json()
            contoso = _tenant(doc, "contoso")
            [mde] = contoso["tokens"]
            assert mde["cached"] and mde["source"] == "memory" and mde["last_error"] is None
            expires = datetime.fromisoformat(mde["expires_at"])
            assert expires > datetime.now(timezone.utc) and 0 < mde["expires_in_s"] <= 3 * 3600
            assert "Machine.Read.All" in mde["roles"] and "Machine.Isolate" not in mde["roles"]
            needs = {n["action"]: n for n in contoso["roles_needed"]}
            isolate = needs["defender.isolate_machine"]
            assert (isolate["api"], isolate["status"], isolate["any_of"]) == ("mde", "missing", ["Machine.Isolate"])
            assert needs["defender.list_machines"]["status"] == "ok"
            # the budget: this serve's MDE calls for contoso, all within the minute
            calls = contoso["calls"]["mde"]
            [bucket] = [q for q in contoso["quotas"] if q["bucket"] == "mde"]
            assert not bucket["shared"] and bucket["paused_s"] == 0 and bucket["error"] is None
            assert [(w["limit"], w["window_s"], w["used"]) for w in bucket["windows"]] == \
                [(100, 60.0, calls), (1500, 3600.0, calls)]
            # fabrikam: consent revoked, so the token request failed, and says why
            fabrikam = _tenant(doc, "fabrikam")
            [mde] = fabrikam["tokens"]
            assert not mde["cached"] and mde["roles"] is None
            error = mde["last_error"]
            assert error and "consent" in (error["message"] + (error["hint"] or "")).lower()
            assert datetime.fromisoformat(error["at"]) <= datetime.now(timezone.utc)
            assert {n["status"] for n in fabrikam["roles_needed"]} == {"unknown"}

            page = await http.get("/tenants")
            assert page.status_code == 200
            text = text_of(page.text)
            assert "missing on mde: Machine.Isolate" in text and "cached (memory)" in text
            assert f"{calls} / 100 per 60.0 s" in text and error["message"][:40] in text
            # never a token: not the one the provider holds, nor any part of a JWT
            token = service.services.auth._memo[("contoso", mde_resource(service))].value.reveal()
            for body in (page.text, r.text):
                assert token not in body and token.split(".")[1] not in body and "eyJ" not in body
        await console.stop()

    asyncio.run(main())


def mde_resource(service) -> str:
    return service.services.auth.route("contoso", "mde").resource
