"""The OpenAPI document of /api/v1: valid JSON, every route in it (and nothing else), every
$ref resolvable, every schema a valid JSON Schema, and real answers matching their schemas."""

from __future__ import annotations

import asyncio

import jsonschema
from console_harness import CSRF, GATED, SLOW, status, until

from runner.console import api
from runner.console.openapi import document


def _resolved(node, components):
    """The schema with $refs inlined and OpenAPI 3.0's ``nullable`` as JSON Schema's null type."""
    if isinstance(node, list):
        return [_resolved(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _resolved(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: _resolved(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        out["type"] = [node["type"], "null"] if "type" in node else None
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _check(doc, path, method, status_code, body):
    components = doc["components"]["schemas"]
    answer = doc["paths"][path][method]["responses"][str(status_code)]
    schema = answer["content"]["application/json"].get("schema")
    if schema is not None:
        jsonschema.validate(body, _resolved(schema, components))


def test_every_route_is_documented_and_every_ref_resolves():
    doc = document()
    assert doc["openapi"].startswith("3.0")
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    served = {(route.path, method) for route in api.routes(object()) for method in route.methods - {"HEAD"}}
    assert documented == served
    components = doc["components"]["schemas"]
    for name, schema in components.items():
        jsonschema.Draft7Validator.check_schema(_resolved(schema, components))
    text = str(doc)
    for ref in {part.split("'")[0] for part in text.split("'$ref': '")[1:]}:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components, ref
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["summary"] and op["responses"], (path, method)
            assert all(code.isdigit() and "description" in r for code, r in op["responses"].items()), (path, method)
            for p in op["parameters"]:
                if p["in"] == "path":
                    assert "{" + p["name"] + "}" in path


def test_answers_match_the_document(console):
    async def main():
        console.write("gated.yaml", GATED % "")
        console.write("slow.yaml", SLOW % "5ms")
        service = await console.start()
        waiting = await console.fire("gated")
        done = await console.fire("slow")
        await until(lambda: status(service.store, waiting) == "waiting_approval")
        await until(lambda: status(service.store, done) == "succeeded")
        async with console.client("admin") as http:
            r = await http.get("/api/v1/openapi.json")
            assert r.status_code == 200
            doc = r.json()
            assert doc == document()
            gets = {"/api/v1/me": "/api/v1/me", "/api/v1/runs": "/api/v1/runs",
                    "/api/v1/runs/{run_id}": f"/api/v1/runs/{waiting}", "/api/v1/approvals": "/api/v1/approvals",
                    "/api/v1/approvals/{run_id}/{step}": f"/api/v1/approvals/{waiting}/ask",
                    "/api/v1/playbooks": "/api/v1/playbooks", "/api/v1/tenants": "/api/v1/tenants"}
            for path, url in gets.items():
                r = await http.get(url)
                assert r.status_code == 200, url
                _check(doc, path, "get", 200, r.json())
            r = await http.get("/api/v1/runs/r-none")
            _check(doc, "/api/v1/runs/{run_id}", "get", 404, r.json())
            h = {"X-CSRF-Token": CSRF}
            r = await http.post(f"/api/v1/runs/{done}/rerun", headers=h)
            _check(doc, "/api/v1/runs/{run_id}/rerun", "post", r.status_code, r.json())
            r = await http.post(f"/api/v1/approvals/{waiting}/ask", json={"decision": "approve"}, headers=h)
            _check(doc, "/api/v1/approvals/{run_id}/{step}", "post", r.status_code, r.json())
            r = await http.post(f"/api/v1/approvals/{waiting}/ask", json={"decision": "approve"}, headers=h)
            assert r.status_code == 409
            _check(doc, "/api/v1/approvals/{run_id}/{step}", "post", 409, r.json())
            await until(lambda: status(service.store, waiting) == "succeeded")
            r = await http.post(f"/api/v1/runs/{waiting}/cancel", json={}, headers=h)
            assert r.status_code == 409
            _check(doc, "/api/v1/runs/{run_id}/cancel", "post", 409, r.json())
            r = await http.post(f"/api/v1/approvals/{waiting}/ask", content=b"[1]", headers=h)
            _check(doc, "/api/v1/approvals/{run_id}/{step}", "post", 400, r.json())
        async with console.client("viewer") as http:
            r = await http.post(f"/api/v1/runs/{done}/rerun", headers={"X-CSRF-Token": CSRF})
            _check(doc, "/api/v1/runs/{run_id}/rerun", "post", 403, r.json())
        await console.stop()

    asyncio.run(main())
