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
    if getattr(service, "stopping", False):
        raise UsageError("soar serve is stopping; nothing new starts", hint="rerun it once serve is back")
    playbook = service.loader.load_text(run.playbook_text, run.playbook_path or "<stored>")  # still valid?
    scope = [c.tenant for c in store.children(run.id) if c.tenant and (c.trigger or {}).get("type") != "playbook"]
    scope = scope or ([run.tenant] if run.tenant else [])
    for name in scope:  # a tenant removed from soar.yaml since: refused before anything is recorded
        service.engine.tenant_info(name)
    common = dict(playbook_name=playbook.name, playbook_path=run.playbook_path, playbook_text=run.playbook_text,
                  inputs=run.inputs or {}, trigger=run.trigger or {"type": "manual"}, dry_run=run.dry_run,
                  origin=service.services.origin, rerun_of=run.id)
    if len(scope) > 1:
        new_id, _children = store.create_run_family(tenants=scope, **common)
    else:
        new_id = store.create_run(tenant=scope[0] if scope else None, status="pending", **common)
    store.audit(new_id, "run_rerun", data={"rerun_of": run.id, "actor_oid": user.oid or None}, actor=_actor(user),
                durable=True)
    started = bool(service.dispatcher.resume(new_id, playbook.name))
    return {"run_id": new_id, "rerun_of": run.id, "started": started}


def refusal(exc: SoarError) -> dict:
    """The JSON body of a refusal: the error's message, type, location and hint."""
    doc = exc.to_dict()
    return {"error": doc["message"], **{k: v for k, v in doc.items() if k != "message" and v}}


__all__ = ["cancel", "decide", "refusal", "rerun", "status_of", "SoarError"]
