"""What the console's buttons do, for the pages and ``/api/v1`` alike, on the code paths the CLI
and serve's HTTP endpoints use, with the signed-in user as the actor:

- :func:`decide` — :meth:`ApprovalDesk.decide` (``POST /approvals/<run>/<step>``): the store's
  ``decide_approval`` (which enforces the gate's ``approvers:``), then the run continues here.
- :func:`cancel` — :func:`runner.store.runcontrol.request_cancel` (``soar runs cancel``,
  ``POST /runs/<id>/cancel``): the whole run; a tenant run's id means its parent.
- :func:`rerun` — ``soar runs rerun``'s rules (the stored playbook version, the same inputs,
  trigger, tenants and dry-run flag; ``rerun_of`` names the original; a sub-playbook run is
  refused): the new run is recorded, then handed to serve's dispatcher, which runs it like any
  run it resumes (counted against the playbook's ``max_runs``, checkpointed at shutdown; with
  ``--role front``, queued for a worker).
- :func:`start` — "Run now" on a served playbook: a manual run (``trigger.type`` ``manual``)
  of the version serve has loaded, with the inputs' defaults, on the playbook's tenants; then
  handed to the dispatcher like a rerun.

Each raises a :class:`~runner.errors.SoarError`; :func:`status_of` maps it to an HTTP status.
"""

from __future__ import annotations

from typing import Any

from runner.errors import NotAnApprover, RunNotFound, SoarError, UsageError


def status_of(exc: SoarError, *, deciding: bool = False) -> int:
    """The HTTP status of a refusal, as serve's own endpoints answer it: 403 not an approver,
    404 no such run (or, ``deciding``, no such gate), 409 for the rest (decided already,
    expired, finished, a run that cannot be rerun)."""
    if isinstance(exc, NotAnApprover):
        return 403
    if isinstance(exc, RunNotFound) or (deciding and isinstance(exc, UsageError)):
        return 404
    return 409


def _actor(user: Any) -> str:
    return user.name


def decide(service: Any, user: Any, run_id: str, step: str, *, approved: bool, reason: str = "") -> list[dict]:
    """Approve or deny ``step`` of a run (on a parent: every tenant run waiting there)."""
    return service.approvals.decide(run_id, step, approved=approved, actor=_actor(user), reason=reason,
                                    actor_oid=user.oid or None)


def cancel(service: Any, user: Any, run_id: str, *, reason: str = "") -> dict:
    """Cancel a run as a whole; the answer of ``POST /runs/<id>/cancel``."""
    from runner.store.runcontrol import request_cancel

    store = service.store
    run = store.get_run(run_id)
    if run.parent_id is not None:
        run = store.get_run(run.parent_id)
    done = request_cancel(store, run.id, actor=_actor(user), reason=reason, actor_oid=user.oid or None)
    return {"run_id": run.id, "status": store.get_run(run.id).status, "cancelled": done.cancelled,
            "requested": done.requested,
            "approvals_closed": [{"run_id": r, "step": s} for r, s in done.approvals]}


def rerun(service: Any, user: Any, run_id: str) -> dict:
    """Start ``run_id`` again as a new run; returns ``{"run_id", "rerun_of", "started"}``."""
    store = service.store
    run = store.get_run(run_id)
    if (run.trigger or {}).get("type") == "playbook":
        raise UsageError(f"run {run.id} is a sub-playbook run of {run.parent_id}",
                         hint=f"rerun the run that called it ({run.parent_id})")
    _not_stopping(service, "rerun it")
    playbook = service.loader.load_text(run.playbook_text, run.playbook_path or "<stored>")  # still valid?
    scope = [c.tenant for c in store.children(run.id) if c.tenant and (c.trigger or {}).get("type") != "playbook"]
    scope = scope or ([run.tenant] if run.tenant else [])
    new_id, started = _launch(service, user, playbook, scope, event="run_rerun", data={"rerun_of": run.id},
                              playbook_path=run.playbook_path, playbook_text=run.playbook_text,
                              inputs=run.inputs or {}, trigger=run.trigger or {"type": "manual"},
                              dry_run=run.dry_run, rerun_of=run.id)
    return {"run_id": new_id, "rerun_of": run.id, "started": started}


def start(service: Any, user: Any, name: str) -> dict:
    """Run the served playbook ``name`` now (its inputs' defaults); ``{"run_id", "playbook", "started"}``."""
    from pathlib import Path

    from runner.engine.inputs import resolve_inputs

    playbook = service.catalog.get(name)
    if playbook is None:
        raise RunNotFound(f"no served playbook is named '{name}'", hint="the playbooks page lists the served ones")
    _not_stopping(service, "start it")
    inputs = resolve_inputs(playbook, {})  # an input without a default: refused here (`soar run --input`)
    config = service.services.config
    wanted = playbook.tenants
    if wanted == "none":
        scope: list[str] = []
    else:
        scope = list(config.tenant_names() if config is not None else []) if wanted in (None, "all") else list(wanted)
    path = playbook.source_path
    if path and not path.startswith("<"):
        path = str(Path(path).resolve())
    new_id, started = _launch(service, user, playbook, scope, event="run_started_from_console", data={},
                              playbook_path=path, playbook_text=playbook.source_text, inputs=inputs,
                              trigger={"type": "manual", "payload": {"started_by": _actor(user)}}, dry_run=False)
    return {"run_id": new_id, "playbook": playbook.name, "started": started}


def _not_stopping(service: Any, what: str) -> None:
    if getattr(service, "stopping", False):
        raise UsageError("soar serve is stopping; nothing new starts", hint=f"{what} once serve is back")


def _launch(service: Any, user: Any, playbook: Any, scope: list[str], *, event: str, data: dict,
            **run: Any) -> tuple[str, bool]:
    """Record a new pending run of ``playbook`` on the tenants ``scope`` (a parent with its tenant
    runs for several), audit ``event`` as the user, and hand it to serve's dispatcher."""
    store = service.store
    for name in scope:  # a tenant removed from soar.yaml since: refused before anything is recorded
        service.engine.tenant_info(name)
    common = dict(playbook_name=playbook.name, origin=service.services.origin, **run)
    if len(scope) > 1:
        new_id, _children = store.create_run_family(tenants=scope, **common)
    else:
        new_id = store.create_run(tenant=scope[0] if scope else None, status="pending", **common)
    store.audit(new_id, event, data={**data, "actor_oid": user.oid or None}, actor=_actor(user), durable=True)
    return new_id, bool(service.dispatcher.resume(new_id, playbook.name))


def refusal(exc: SoarError) -> dict:
    """The JSON body of a refusal: the error's message, type, location and hint."""
    doc = exc.to_dict()
    return {"error": doc["message"], **{k: v for k, v in doc.items() if k != "message" and v}}


__all__ = ["cancel", "decide", "refusal", "rerun", "start", "status_of", "SoarError"]
