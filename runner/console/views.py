"""What the console shows, as JSON-ready data: one function per page, used by the HTML pages and
by ``/api/v1`` alike (so both always show the same thing).

Everything read from the run store is shown as the store keeps it: inputs, outputs, errors,
messages and plans were masked when they were recorded (``runner.store.records``), and nothing
here reads a secret's value. Playbooks show their credentials as references (``env:NAME``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from runner.errors import RunNotFound, SoarError
from runner.store.approval_queue import with_run_details

UTC = timezone.utc


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def run_doc(run: Any) -> dict:
    """One run as stored (times in ISO 8601); ``soar runs show --json`` shows the same fields."""
    trigger = run.trigger if isinstance(run.trigger, dict) else {}
    return {"run_id": run.id, "parent_id": run.parent_id, "playbook": run.playbook_name,
            "playbook_path": run.playbook_path, "tenant": run.tenant, "status": run.status,
            "dry_run": run.dry_run, "trigger_type": trigger.get("type"), "inputs": run.inputs,
            "trigger": run.trigger, "outputs": run.outputs, "error": run.error,
            "created_at": _when(run.created_at), "started_at": _when(run.started_at),
            "finished_at": _when(run.finished_at), "duration_s": _seconds(run.started_at, run.finished_at),
            "rerun_of": run.rerun_of, "cancel_requested_at": _when(run.cancel_requested_at),
            "cancel_requested_by": run.cancel_requested_by}


def step_doc(step: Any, tenant: str | None) -> dict:
    """One step attempt, with the API calls it made (``calls``: the first ones the store kept —
    method, path without its query, status, milliseconds, 429s absorbed and seconds waited on
    them; ``calls_total``: how many there were)."""
    made = step.calls if isinstance(step.calls, dict) else None
    return {"run_id": step.run_id, "tenant": tenant, "step": step.step_id, "item": step.item,
            "attempt": step.attempt, "action": step.action, "effect": step.effect, "status": step.status,
            "started_at": _when(step.started_at), "finished_at": _when(step.finished_at),
            "duration_s": _seconds(step.started_at, step.finished_at), "inputs": step.inputs,
            "output": step.output, "output_redacted": step.output_redacted, "error": step.error,
            "calls": list(made.get("calls") or []) if made else [],
            "calls_total": int(made.get("total") or 0) if made else 0}


def _gate_docs(store: Any, records: list, default_timeout: float | None) -> list[dict]:
    """Gates as ``GET /approvals`` shows them: the expiry a gate without its own gets from serve."""
    docs = []
    for a in with_run_details(store, records):
        if a.status == "pending" and a.expires_at is None and default_timeout is not None:
            a = replace(a, expires_at=a.requested_at + timedelta(seconds=default_timeout))
        docs.append(a.as_doc())
    return docs


def run_detail(service: Any, run_id: str) -> dict:
    """A run (by id or unique prefix) with its tenant runs, every step attempt of each, its
    approvals and its audit trail — ``soar runs show``'s content."""
    store = service.store
    run = store.get_run(run_id)
    children = store.children(run.id)
    family = [run, *children]
    label = {r.id: r.tenant for r in family}
    steps = [step_doc(s, label[r.id]) for r in family for s in store.step_records(r.id)]
    # an item that never started (skipped by when:) is shown where its step's other items started
    first: dict = {}
    for s in steps:
        key = (s["run_id"], s["step"])
        if s["started_at"] and (key not in first or s["started_at"] < first[key]):
            first[key] = s["started_at"]
    steps.sort(key=lambda s: (s["started_at"] or first.get((s["run_id"], s["step"])) or s["finished_at"] or "~",
                              s["tenant"] or ""))
    events = sorted((e for r in family for e in store.events(r.id)), key=lambda e: (e.ts, e.id))
    gates = _gate_docs(store, store.approvals_of([r.id for r in family]), _default_timeout(service))
    return {"run": run_doc(run), "children": [run_doc(c) for c in children], "steps": steps,
            "approvals": gates,
            "events": [{"id": e.id, "ts": _when(e.ts), "run_id": e.run_id, "tenant": label.get(e.run_id),
                        "kind": e.kind, "step": e.step_id, "actor": e.actor, "data": e.data} for e in events],
            "can_cancel": any(r.status in ("pending", "running", "waiting_approval") for r in family),
            "can_rerun": (run.trigger or {}).get("type") != "playbook"}


def _default_timeout(service: Any) -> float | None:
    return getattr(getattr(service, "options", None), "approval_timeout", None)


def pending_approvals(service: Any) -> list[dict]:
    """The approval queue, as ``GET /approvals`` answers it."""
    return service.approvals.pending()


def approval_detail(service: Any, run_id: str, step: str) -> dict:
    """The gates of ``step`` on a run — on a parent run, those of its tenant runs — whatever their
    status (a link in a notification still shows who decided). RunNotFound if there is none."""
    store = service.store
    run = store.get_run(run_id)
    ids = [run.id, *(c.id for c in store.children(run.id))]
    gates = [a for a in store.approvals_of(ids) if a.step_id == step]
    if not gates:
        raise RunNotFound(f"run {run.id} has no approval for step '{step}'",
                          hint="the approvals page lists the pending ones")
    return {"run": run_doc(run), "step": step,
            "approvals": _gate_docs(store, gates, _default_timeout(service))}


def _next_times(service: Any, job: Any, count: int = 3) -> list[str]:
    """The next fire times: a cron's as the scheduler computes them; an interval's from the
    next run time this serve persisted (its phase), else as if serve started now."""
    from runner.serve.scheduler import next_fire_times

    schedules = getattr(service, "schedules", None)
    first = schedules.next_run_time(job.id) if schedules is not None and schedules.started else None
    if job.kind == "every" and first is not None:
        return [_when((first + timedelta(seconds=job.every * k)).astimezone(UTC)) for k in range(count)]
    return [_when(t) for t in next_fire_times(job, count)]


def playbooks(service: Any, base_url: str, *, last: int = 5) -> dict:
    """Each served playbook with its triggers (next fire times, webhook URLs; credentials as
    references), its last runs, and the files rejected with their located errors."""
    from runner.console.runlist import RunFilter, list_page
    from runner.serve.catalog import describe_triggers

    catalog = service.catalog
    out = []
    for name in sorted(catalog.entries):
        entry = catalog.entries[name]
        pb = entry.playbook
        triggers = []
        jobs = {job.id: job for job in entry.jobs if job.kind in ("schedule", "every")}
        for trig in describe_triggers(pb):
            job = trig.pop("job", None)
            if job is not None:
                trig["next"] = _next_times(service, jobs.get(job.id, job))
            if trig["kind"] == "webhook":
                trig["url"] = base_url.rstrip("/") + trig["path"]
            triggers.append(trig)
        runs, _ = list_page(service.store, RunFilter(playbook=name), limit=last)
        out.append({"name": name, "path": str(entry.path), "description": getattr(pb, "description", None),
                    "tenants": pb.tenants, "steps": sum(1 for _ in pb.all_steps()), "triggers": triggers,
                    "last_runs": [r.as_doc() for r in runs]})
    rejected = [{"path": path, "error": _error_doc(exc)} for path, exc in sorted(catalog.errors.items())]
    return {"directory": str(catalog.directory), "playbooks": out, "rejected": rejected}


def _error_doc(exc: Any) -> dict:
    if isinstance(exc, SoarError):
        doc = exc.to_dict()
        problems = getattr(exc, "errors", None)  # PlaybookErrors: every problem of the file
        if problems:
            doc["problems"] = [p.to_dict() for p in problems]
        return doc
    return {"type": type(exc).__name__, "message": str(exc), "where": {}, "hint": None}


def roles_needed(service: Any) -> dict[str, list[dict]]:
    """Per tenant, the roles the loaded playbooks' actions declare: ``{tenant: [{playbook,
    action, roles: {api: [role, ...]}}]}`` (the pre-flight check's input; read from the loaded
    playbooks, nothing is requested)."""
    actions = service.services.plugins.actions
    config = service.services.config
    configured = config.tenant_names() if config is not None else []
    out: dict[str, list[dict]] = {name: [] for name in configured}
    for name in sorted(service.catalog.entries):
        pb = service.catalog.entries[name].playbook
        wanted = pb.tenants
        tenants = configured if wanted in (None, "all") else [t for t in wanted if t in out]
        used = sorted({step.action for step in pb.all_steps() if getattr(step, "action", None)})
        for action_name in used:
            action = actions.get(action_name)
            roles = getattr(action, "roles", None) if action is not None else None
            if not roles:
                continue
            need = {"playbook": name, "action": action_name, "roles": {k: list(v) for k, v in roles.items()}}
            for tenant in tenants:
                out[tenant].append(need)
    return out
