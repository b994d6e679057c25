"""The OpenAPI 3.0 document of ``/api/v1`` (hand-written: the routes are few and their answers are
plain dicts; ``tests/console`` checks that every route of :mod:`runner.console.api` is in it and
that answers match its schemas)."""

from __future__ import annotations

from typing import Any

from runner.store.runstore import STATUSES


def _s(kind: str, nullable: bool = False, **more: Any) -> dict:
    doc: dict[str, Any] = {"type": kind, **more}
    if nullable:
        doc["nullable"] = True
    return doc


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict, required: list[str] | None = None, **more: Any) -> dict:
    return {"type": "object", "properties": props, "required": list(props if required is None else required), **more}


ANY: dict = {}  # any JSON value (inputs, outputs, trigger payloads: as the store kept them, masked)
TIME = _s("string", True, format="date-time")
STR = _s("string")
NSTR = _s("string", True)
RUN_STATUS = {"type": "string", "enum": sorted(STATUSES)}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": STR, "hint": NSTR, "type": STR, "where": _s("object")}, ["error"]),
    "Me": _obj({"name": STR, "oid": STR, "roles": {"type": "array", "items": STR}, "via": STR,
                "csrf_token": NSTR, "signin_note": NSTR}),
    "RunRow": _obj({"run_id": STR, "playbook": STR, "tenant": NSTR, "tenants": {"type": "array", "items": STR},
                    "status": RUN_STATUS, "trigger": NSTR, "dry_run": _s("boolean"), "created_at": TIME,
                    "started_at": TIME, "finished_at": TIME, "duration_s": _s("number", True), "rerun_of": NSTR}),
    "RunList": _obj({"runs": {"type": "array", "items": _ref("RunRow")},
                     "next": _s("string", True, description="cursor of the next page (pass as `after`); null: last page")}),
    "Run": _obj({"run_id": STR, "parent_id": NSTR, "playbook": STR, "playbook_path": NSTR, "tenant": NSTR,
                 "status": RUN_STATUS, "dry_run": _s("boolean"), "trigger_type": NSTR, "inputs": ANY,
                 "trigger": ANY, "outputs": ANY, "error": ANY, "created_at": TIME, "started_at": TIME,
                 "finished_at": TIME, "duration_s": _s("number", True), "rerun_of": NSTR,
                 "cancel_requested_at": TIME, "cancel_requested_by": NSTR}),
    "ApiCall": _obj({"api": STR, "tenant": STR, "method": STR,
                     "path": _s("string", description="the URL's path: never its query string"),
                     "status": _s("integer", True, description="null: no answer (connection failed, timed out)"),
                     "ms": _s("number", description="from the first send to the final answer, waits included"),
                     "throttled": _s("integer", description="429s absorbed"),
                     "waited_s": _s("number", description="seconds waited on those 429s")}),
    "Step": _obj({"run_id": STR, "tenant": NSTR, "step": STR, "item": _s("integer", True), "attempt": _s("integer"),
                  "action": STR, "effect": STR, "status": STR, "started_at": TIME, "finished_at": TIME,
                  "duration_s": _s("number", True), "inputs": ANY, "output": ANY, "output_redacted": _s("boolean"),
                  "error": ANY,
                  "calls": {"type": "array", "items": _ref("ApiCall"),
                            "description": "the API calls the attempt made (the first ones, when there were many)"},
                  "calls_total": _s("integer", description="how many API calls the attempt made")}),
    "Event": _obj({"id": _s("integer"), "ts": TIME, "run_id": NSTR, "tenant": NSTR, "kind": STR, "step": NSTR,
                   "actor": NSTR, "data": ANY}),
    "Approval": _obj({"run_id": STR, "step": STR, "step_name": NSTR, "item": _s("integer", True), "status": STR,
                      "tenant": NSTR, "playbook": NSTR, "message": STR,
                      "approvers": {"type": "array", "items": STR}, "requested_at": TIME, "expires_at": TIME,
                      "decided_at": TIME, "decided_by": NSTR, "reason": NSTR,
                      "plan": _s("object", True, description="what approving lets the step do: action, effect, "
                                                             "items with their inputs (masked)")}),
    "RunDetail": _obj({"run": _ref("Run"), "children": {"type": "array", "items": _ref("Run")},
                       "steps": {"type": "array", "items": _ref("Step")},
                       "approvals": {"type": "array", "items": _ref("Approval")},
                       "events": {"type": "array", "items": _ref("Event")},
                       "can_cancel": _s("boolean"), "can_rerun": _s("boolean")}),
    "ApprovalList": _obj({"approvals": {"type": "array", "items": _ref("Approval")}}),
    "ApprovalDetail": _obj({"run": _ref("Run"), "step": STR, "approvals": {"type": "array", "items": _ref("Approval")}}),
    "Decision": _obj({"decision": {"type": "string", "enum": ["approve", "deny"]}, "reason": NSTR}, ["decision"]),
    "Decided": _obj({"decided": {"type": "array", "items": _obj(
        {"run_id": STR, "step": STR, "status": STR, "decided_by": NSTR, "decided_at": TIME})}}),
    "CancelRequest": _obj({"reason": NSTR}, []),
    "Cancelled": _obj({"run_id": STR, "status": RUN_STATUS, "cancelled": {"type": "array", "items": STR},
                       "requested": {"type": "array", "items": STR},
                       "approvals_closed": {"type": "array", "items": _obj({"run_id": STR, "step": STR})}}),
    "Rerun": _obj({"run_id": STR, "rerun_of": STR, "started": _s("boolean")}),
    "Started": _obj({"run_id": STR, "playbook": STR, "started": _s("boolean")}),
    "Playbooks": _obj({"directory": STR, "playbooks": {"type": "array", "items": _obj(
        {"name": STR, "path": STR, "description": NSTR, "tenants": ANY, "steps": _s("integer"),
         "triggers": {"type": "array", "items": _s("object")},
         "last_runs": {"type": "array", "items": _ref("RunRow")}})},
        "rejected": {"type": "array", "items": _obj({"path": STR, "error": _s("object")})}}),
    "TokenHealth": _obj({
        "api": STR, "auth": _s("string", description="entra (a token), api_key, bearer, basic or none"),
        "cached": _s("boolean", description="a token is cached (this process's memory or the token cache)"),
        "source": _s("string", True, enum=["memory", "cache"]), "expires_at": TIME,
        "expires_in_s": _s("integer", True),
        "roles": _s("array", True, items=STR, description="the roles claim of the last token validated "
                                                         "(what the tenant's admin consented to); null: none yet"),
        "last_error": _s("object", True, description="the last failed token request: message, hint, at",
                         properties={"message": STR, "hint": NSTR, "at": TIME})},
        description="never the token itself"),
    "RoleNeed": _obj({"playbook": STR, "action": STR,
                      "roles": _s("object", description="API → the roles of which the action needs one"),
                      "api": NSTR, "any_of": {"type": "array", "items": STR},
                      "status": _s("string", enum=["ok", "missing", "unknown", "error"],
                                   description="the roles pre-flight on the last token of `api`"),
                      "error": STR}, ["playbook", "action", "roles", "api", "any_of", "status"]),
    "QuotaUsage": _obj({"api": STR, "bucket": STR, "shared": _s("boolean"),
                        "windows": {"type": "array", "items": _obj(
                            {"window_s": _s("number"), "limit": _s("integer"),
                             "used": _s("integer", True, description="calls counted in the window now")})},
                        "paused_s": _s("number"), "waits": _s("integer"), "waited_s": _s("number"),
                        "error": NSTR}),
    "Tenants": _obj({"tenants": {"type": "array", "items": _obj(
        {"name": STR, "tenant_id": STR, "cloud": STR, "region": NSTR, "apis": _s("object"),
         "tokens": {"type": "array", "items": _ref("TokenHealth")},
         "roles_needed": {"type": "array", "items": _ref("RoleNeed")},
         "quotas": {"type": "array", "items": _ref("QuotaUsage")}, "calls": _s("object"),
         "throttled": _s("object"), "retries": _s("object")})}, "token_check": STR}),
}


def _answer(schema: str, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict:
    text = {400: "bad request", 401: "not signed in", 403: "missing role, CSRF token, or not an approver of this gate",
            404: "no such run or gate", 409: "decided already, expired, or finished", 413: "body too large"}
    return {str(c): _answer("Error", text[c]) for c in codes}


def _param(name: str, where: str = "query", description: str = "", **schema: Any) -> dict:
    return {"name": name, "in": where, "required": where == "path", "description": description,
            "schema": schema or {"type": "string"}}


RUN_ID = _param("run_id", "path", "a run id (or a unique prefix of one)")
STEP = _param("step", "path", "the gated step's id")


def _op(summary: str, answer: dict, *, role: str = "Viewer", params: list | None = None, body: str | None = None,
        errors: tuple = (401, 403)) -> dict:
    if "description" in answer:  # one answer: 200
        answer = {"200": answer}
    op: dict[str, Any] = {"summary": summary, "description": f"Needs the {role} role.",
                          "responses": {**answer, **_errors(*errors)}, "parameters": params or []}
    if body is not None:
        op["requestBody"] = {"required": body == "Decision", "content": {"application/json": {"schema": _ref(body)}}}
    return op


def document() -> dict:
    """The OpenAPI document (a fresh dict: callers may change it)."""
    filters = [_param("playbook", description="exact playbook name"),
               _param("status", description="run status (empty: any)", type="string", enum=["", *sorted(STATUSES)]),
               _param("tenant", description="a run on this tenant (or whose tenant runs include it)"),
               _param("trigger", description="trigger type: manual, webhook, schedule, poll, ..."),
               _param("since", description="created at or after (ISO 8601: a date, or a date and time; UTC "
                                           "without a zone)", type="string", format="date-time"),
               _param("until", description="created before (ISO 8601)", type="string", format="date-time"),
               _param("limit", description="rows per page", type="integer", minimum=1, maximum=200, default=50),
               _param("after", description="the `next` cursor of the previous page", type="string",
                      pattern="^[A-Za-z0-9_-]+$")]
    paths = {
        "/api/v1/me": {"get": _op("Who is calling", _answer("Me"))},
        "/api/v1/runs": {"get": _op("Top-level runs, newest first, one page", _answer("RunList"), params=filters,
                                    errors=(400, 401, 403))},
        "/api/v1/runs/{run_id}": {"get": _op("A run with its tenant runs, steps, approvals and audit trail",
                                             _answer("RunDetail"), params=[RUN_ID], errors=(401, 403, 404))},
        "/api/v1/runs/{run_id}/cancel": {"post": _op(
            "Cancel a run as a whole", {"200": _answer("Cancelled", "cancelled"),
                                        "202": _answer("Cancelled", "requested: the run stops before its next step")},
            role="Responder", params=[RUN_ID], body="CancelRequest", errors=(400, 401, 403, 404, 409, 413))},
        "/api/v1/runs/{run_id}/rerun": {"post": _op(
            "Start the run again (same playbook version, inputs, trigger, tenants)",
            {"202": _answer("Rerun", "the new run is recorded and started")}, role="Responder", params=[RUN_ID],
            errors=(400, 401, 403, 404, 409, 413))},
        "/api/v1/approvals": {"get": _op("The pending approvals", _answer("ApprovalList"))},
        "/api/v1/approvals/{run_id}/{step}": {
            "get": _op("One gate (on a parent run: its tenant runs' gates), whatever its status",
                       _answer("ApprovalDetail"), params=[RUN_ID, STEP], errors=(401, 403, 404)),
            "post": _op("Approve or deny, as the caller", _answer("Decided"), role="Responder",
                        params=[RUN_ID, STEP], body="Decision", errors=(400, 401, 403, 404, 409, 413))},
        "/api/v1/playbooks": {"get": _op("Served playbooks, their triggers and last runs; rejected files",
                                         _answer("Playbooks"))},
        "/api/v1/playbooks/{name}/run": {"post": _op(
            "Run a served playbook now (trigger manual, its inputs' defaults, its tenants)",
            {"202": _answer("Started", "the new run is recorded and started")}, role="Responder",
            params=[_param("name", "path", "the playbook's name")], errors=(400, 401, 403, 404, 409, 413))},
        "/api/v1/tenants": {"get": _op("Configured tenants: token health, consented roles against the roles the "
                                       "served playbooks need, quota usage, API call counters", _answer("Tenants"))},
        "/api/v1/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI 3.0 document",
                                                                       "content": {"application/json": {}}}})},
    }
    return _copy({
        "openapi": "3.0.3",
        "info": {"title": "soar-runner console API", "version": "1",
                 "description": "The data and decisions of the soar serve console. Reads need the Viewer role, "
                                "decisions the Responder role; a browser session sends its CSRF token in "
                                "X-CSRF-Token, a bearer token needs none."},
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                           "session": {"type": "apiKey", "in": "cookie", "name": "soar_session"}}},
        "security": [{"bearer": []}, {"session": []}, {}],
    })


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
