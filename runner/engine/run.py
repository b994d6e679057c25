"""The engine: starts and resumes runs.

A playbook run for several tenants is a parent run with one child run per tenant (run
concurrently); for one tenant (or none) it is a single run. Everything needed to resume a run
lives in its store row: the playbook text, the inputs, the trigger, the tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any, Callable

from runner.engine import after as after_mod
from runner.engine.context import Services, TenantInfo
from runner.engine.control import RunCancelled, end_cancelled, family_status
from runner.engine.durable import GroupCommit
from runner.engine.events import RunInfo
from runner.engine.inputs import resolve_inputs
from runner.engine.outcomes import FINAL, Known, RunResult
from runner.engine.steps import Recorded, RunExecution, RunPaused
from runner.errors import ConfigError, SoarError, StepError, UsageError
from runner.expressions import render_async
from runner.playbook.model import Playbook
from runner.playbook.phases import has_after_phase, summary_keys
from runner.secrets import resolve
from runner.store.runcontrol import cancel_requested, finish_cancelled

log = logging.getLogger("soar.engine")

TENANT_CONCURRENCY = 20
FREEZE_FROM_STEPS = 1000  # playbooks this long are moved out of the garbage collector's way


# What `trigger.*` always offers a playbook (docs/playbooks.md), whatever started the run.
_TRIGGER_KEYS = {"type": "manual", "payload": None, "since": None}


class Engine:
    """Runs playbooks with the given :class:`Services`. ``progress`` receives live events."""

    def __init__(self, services: Services, progress: Callable[..., None] | None = None):
        self.services = services
        self.progress = progress
        self.expressions = services.plugins.expressions
        self._locks: dict[tuple, list] = {}  # (run, step) -> [lock, holders + waiters]
        self._prepared: set[int] = set()
        self.group_commit = GroupCommit(services.store)  # durable step records, one commit per turn
        self._subruns: dict[str, int] = {}  # top-level run -> sub-runs started (while it runs)
        # queue mode (`soar worker`): queues one job per tenant run instead of running them here
        # (runner.engine.spread); None: a run's tenant runs run in this process
        self.spread: Any = None

    # ---- helpers used by RunExecution -----------------------------------------------------------
    def prepare(self, playbook: Playbook) -> None:
        """Move the (long-lived) playbook objects out of the garbage collector's way, so the
        per-step cost does not grow with the playbook's size."""
        import gc

        if id(playbook) in self._prepared or len(playbook.steps) < FREEZE_FROM_STEPS:
            return  # a small playbook gains nothing; a long-lived `soar serve` must not freeze garbage
        self._prepared.add(id(playbook))
        gc.collect()  # nothing unreachable goes into the permanent generation (it would never be freed)
        gc.freeze()  # the loader compiled the steps already (runner.engine.compiled)

    @contextlib.asynccontextmanager
    async def step_lock(self, run_id: str, step_id: str):
        """Hold the lock of one step of one run (items of a foreach meet at its approval gate).
        The entry lives while someone holds or waits for it, so a long-lived engine (``soar
        serve``) keeps none for finished steps."""
        key = (run_id, step_id)
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    def _tenants(self, playbook: Playbook, only: str | None) -> list[TenantInfo | None]:
        config = self.services.config
        configured = config.tenant_names() if config is not None else []
        wanted = playbook.tenants
        if wanted == "none":
            if only is not None:
                raise UsageError(f"playbook '{playbook.name}' runs on no tenant (`tenants: none`)",
                                 hint="run it without --tenant")
            return [None]
        if wanted is None or wanted == "all":
            names = configured
        else:
            missing = [t for t in wanted if t not in configured]
            if missing:
                raise ConfigError(
                    f"playbook '{playbook.name}' names tenant '{missing[0]}', which is not configured",
                    where=playbook.locate(("tenants",)),
                    hint="configured tenants: " + (", ".join(configured) or "none (add them to soar.yaml)"))
            names = list(wanted)
        if only is not None:
            if only not in configured:
                raise UsageError(f"unknown tenant '{only}'",
                                 hint="configured tenants: " + (", ".join(configured) or "none"))
            if only not in names:
                raise UsageError(f"playbook '{playbook.name}' does not run on tenant '{only}'",
                                 hint="its tenants: " + ", ".join(names))
            names = [only]
        if not names:
            return [None]
        return [self.tenant_info(n) for n in names]

    def tenant_info(self, name: str | None) -> TenantInfo | None:
        if name is None:
            return None
        if self.services.config is None:
            raise ConfigError(f"this run acts on tenant '{name}', but no tenants are configured",
                              hint="pass --config (the soar.yaml it ran with), or --simulate for a simulated run")
        t = self.services.config.tenant(name)
        return TenantInfo(name=name, id=getattr(t, "id", None), cloud=getattr(t, "cloud", "commercial"),
                          region=getattr(t, "region", None))

    def _secrets(self, playbook: Playbook) -> dict:
        out = {}
        for name, ref in playbook.secrets.items():
            try:
                out[name] = resolve(ref, name=name)
            except SoarError as exc:
                raise exc.locate(**{k: v for k, v in playbook.locate(("secrets", name)).__dict__.items()
                                    if v is not None})
        return out

    # ---- start ------------------------------------------------------------------------------------
    async def start(self, playbook: Playbook, *, inputs: dict | None = None, tenant: str | None = None,
                    dry_run: bool = False, trigger: dict | None = None,
                    run_id: str | None = None, scope: list[str] | None = None,
                    rerun_of: str | None = None) -> RunResult:
        """Start a run. ``run_id``: the id to create it under (``soar serve`` chooses it when a
        trigger event is accepted, so an event can start at most one run); default a new one.
        ``scope``: exactly these tenants (a rerun: those of the run it repeats, ``rerun_of``)."""
        values = resolve_inputs(playbook, inputs or {})
        tenants = self._tenants(playbook, tenant) if scope is None else \
            [self.tenant_info(n) for n in scope] or [None]
        self.prepare(playbook)
        secrets = self._secrets(playbook)
        trigger = trigger or {"type": "manual"}
        store = self.services.store
        text = playbook.source_text
        if len(tenants) == 1:
            t = tenants[0]
            run_id = store.create_run(playbook_name=playbook.name, playbook_path=_absolute(playbook.source_path),
                                      playbook_text=text, inputs=values, trigger=trigger,
                                      tenant=t.name if t else None, dry_run=dry_run, status="running",
                                      run_id=run_id, origin=self.services.origin, rerun_of=rerun_of)
            return await self._execute(playbook, run_id, t, values, trigger, dry_run, secrets, None, {},
                                       after=True)
        # parent and children in one commit: a crash never leaves a parent without its tenant runs
        parent, child_ids = store.create_run_family(
            playbook_name=playbook.name, playbook_path=_absolute(playbook.source_path), playbook_text=text,
            inputs=values, trigger=trigger, tenants=[t.name for t in tenants], dry_run=dry_run,
            run_id=run_id, origin=self.services.origin, rerun_of=rerun_of)
        if self.spread is not None:
            from runner.engine.spread import spread_family

            return await spread_family(self, playbook, parent, child_ids, dry_run)
        return await self._run_parent(playbook, parent, tenants, child_ids, values, trigger, dry_run,
                                      secrets, {})

    async def _run_parent(self, playbook, parent, tenants, child_ids, values, trigger, dry_run,
                          secrets, recorded_by_child, done: dict | None = None,
                          after_recorded: dict | None = None) -> RunResult:
        """Run the tenant runs of ``parent`` (those not ``done`` yet: tenant → its finished run
        record, on resume), then its after-tenant steps (``after_recorded``: their records)."""
        sem = asyncio.Semaphore(TENANT_CONCURRENCY)
        done = done or {}
        # the parent is a run too: observers see it start and end (once for the family, e.g. to
        # announce one failure for all its tenants), besides each tenant run
        info = self.family_info(parent, playbook, dry_run)
        self.services.plugins.notify("soar_run_started", run=info)

        async def child(t: TenantInfo) -> RunResult:
            if t.name in done:  # finished before a resume
                rec = done[t.name]
                return RunResult(rec.id, rec.status, rec.outputs, tenant=t.name)
            async with sem:
                return await self._execute(playbook, child_ids[t.name], t, values, trigger, dry_run,
                                           secrets, parent, recorded_by_child.get(t.name, {}))

        results = await asyncio.gather(*(child(t) for t in tenants))
        children = {t.name: r for t, r in zip(tenants, results)}
        return await self._close_family(playbook, info, children, done, values, trigger, dry_run, secrets,
                                        after_recorded)

    def family_info(self, parent: str, playbook: Playbook, dry_run: bool) -> RunInfo:
        """A parent run as observers see it (running)."""
        return RunInfo(parent, playbook.name, None, None, dry_run, "running", network=self.services.network)

    async def _close_family(self, playbook, info: RunInfo, children: dict, done: dict, values, trigger,
                            dry_run, secrets, after_recorded: dict | None) -> RunResult:
        """End the parent run ``info.run_id`` whose tenant runs ended with ``children`` (tenant →
        result; ``done``: tenant → its stored record, for errors a result lacks): its status, its
        after-tenant steps and summary outputs, its store row."""
        store = self.services.store
        parent = info.run_id
        results = list(children.values())
        status = family_status(store, parent, results)
        outputs = {name: {"status": r.status, "outputs": r.outputs} for name, r in children.items()}
        failed = [f"{n}: {r.error.message}" for n, r in children.items() if r.error is not None]
        error = StepError("; ".join(failed)) if failed else None
        result = RunResult(parent, status, outputs, error, children=children,
                           plan=[e for r in results for e in r.plan],
                           waiting=[w for r in results for w in r.waiting])
        if status in ("succeeded", "failed") and self._after_phase(playbook):
            scope = {name: after_mod.tenant_entry(r.run_id, r.status, r.outputs,
                                                  r.error or getattr(done.get(name), "error", None))
                     for name, r in children.items()}
            ctx = self._context(playbook, parent, None, values, trigger, dry_run, secrets, None)
            ctx["tenants"] = scope
            part = await after_mod.run_after_tenants(self, playbook, parent, ctx, dry_run=dry_run, parent_id=None,
                                                     recorded=after_recorded or {})
            self._fold_after(result, part, summary=True)
            if part.status == "cancelled":
                finish_cancelled(store, parent, actor=cancel_requested(store, parent) or "someone")
                self.services.plugins.notify("soar_run_finished", run=replace(info, status="cancelled"))
                return result
        store.update_run(parent, status=result.status, outputs=result.outputs,  # errors: `soar runs show`
                         error=result.error.to_dict() if result.error is not None else None)
        self.services.plugins.notify("soar_run_finished", run=replace(
            info, status=result.status, error=str(result.error) if result.error is not None else None))
        return result

    def _fold_after(self, result: RunResult, part, summary: bool) -> None:
        """Add the after-tenant steps' outcome to ``result``. ``summary``: a parent run, whose
        outputs become the summary outputs when the playbook has any (a one-tenant run adds
        them to its own)."""
        result.steps = result.steps + part.steps
        result.plan = result.plan + part.plan
        result.waiting = result.waiting + part.waiting
        if part.status in ("waiting_approval", "cancelled"):
            result.status = part.status
            return
        if part.outputs:
            result.outputs = part.outputs if summary else {**(result.outputs or {}), **part.outputs}
        if part.status != "failed":
            return
        result.status = "failed"
        if result.error is None:
            result.error = part.error
            if summary:  # `soar run` shows a parent's tenants' errors, and this one
                result.after_error = part.error
        else:
            result.after_error = part.error
            if summary:  # the parent's stored error says everything
                result.error = StepError(f"{result.error.message}; after_tenants: {part.error.message}")

    def _after_phase(self, playbook: Playbook) -> bool:
        """After-tenant steps or summary outputs (:mod:`runner.playbook.phases`)."""
        return bool(playbook.after_tenants) or has_after_phase(playbook, self.expressions.references)

    @staticmethod
    def _context(playbook: Playbook, run_id: str, tenant: TenantInfo | None, values: dict, trigger: dict,
                 dry_run: bool, secrets: dict, parent_id: str | None) -> dict:
        """What a run's expressions read (docs/playbooks.md, "Expressions")."""
        return {
            "inputs": values,
            "steps": {},
            "tenant": tenant.as_context() if tenant else None,
            "trigger": {**_TRIGGER_KEYS, **trigger},  # documented keys always exist (a manual run: None)
            "playbook": {"name": playbook.name, "description": playbook.description,
                         "path": playbook.source_path},
            "run": {"id": run_id, "dry_run": dry_run, "parent_id": parent_id},
            "secrets": secrets,
        }

    async def _execute(self, playbook: Playbook, run_id: str, tenant: TenantInfo | None, values: dict,
                       trigger: dict, dry_run: bool, secrets: dict, parent_id: str | None,
                       recorded: dict, ctx_steps: dict | None = None, *, after: bool = False,
                       resumed: bool = False) -> RunResult:
        """Run ``playbook``'s steps as run ``run_id``. ``after``: a run of its own (not one tenant
        run of a parent), which runs the after-tenant steps itself; ``resumed``: a resume."""
        store = self.services.store
        ctx = self._context(playbook, run_id, tenant, values, trigger, dry_run, secrets, parent_id)
        if ctx_steps:
            ctx["steps"].update(ctx_steps)
        after = after and self._after_phase(playbook)
        prior = after_mod.recorded_tenant_part(store, run_id) if after and resumed else None
        ex = RunExecution(self, playbook, run_id, tenant, dry_run, ctx, parent_id=parent_id,
                          recorded=recorded, resuming=bool(recorded))
        if recorded:
            store.update_run(run_id, status="running")
        self.services.plugins.notify("soar_run_started", run=ex.info("running"))
        self.progress and self.progress("run_start", run_id=run_id, tenant=tenant.name if tenant else None,
                                        steps=[s.id for s in playbook.steps])
        error: SoarError | None = None
        waiting: list = []
        try:
            if prior is None:
                await ex.run_steps()
                outputs = await self._outputs(playbook, ex)
                status = "succeeded"
            else:  # a resume of the after-tenant steps: the tenant steps ended before
                status, outputs = prior["status"], prior["outputs"]
                error = StepError(prior["error"]["message"]) if prior.get("error") else None
        except RunPaused as paused:
            status, outputs = "waiting_approval", None
            waiting = [(run_id, paused.step_id)]
            if ex.cancel.requested():  # cancelled while it ran up to the gate: end it now
                status, waiting = "cancelled", []
        except RunCancelled:
            status, outputs = "cancelled", None
        except SoarError as exc:
            status, outputs, error = "failed", None, exc
        except Exception as exc:  # a bug of ours: the run still ends failed, never stays 'running'
            log.error("internal error in run %s", run_id, exc_info=True)
            status, outputs = "failed", None
            error = StepError(f"internal error: {type(exc).__name__}: {exc}",
                              hint=f"this is a bug in soar-runner; report it with `soar runs show {run_id}`")
        except asyncio.CancelledError:
            store.flush()
            store.update_run(run_id, status="cancelled")
            raise
        part = None
        if after and status in ("succeeded", "failed"):
            part = await self._after_one(playbook, ex, tenant, status, outputs, error, prior is None)
            folded = RunResult(run_id, status, outputs, error)
            self._fold_after(folded, part, summary=False)
            status, outputs, error, waiting = folded.status, folded.outputs, folded.error, folded.waiting
        self._subruns.pop(run_id, None)  # a top-level run's count lives while it runs
        if status == "cancelled":
            finish_cancelled(store, run_id, actor=ex.cancel.requested() or "someone")
        else:
            store.update_run(run_id, status=status, outputs=outputs,
                             error=error.to_dict() if error is not None else None)
            store.audit(run_id, f"run_{status}", data={"error": str(error)} if error else None)
        store.flush()
        steps = [{"id": sid, "status": s["status"], **({"error": s["error"]} if s["error"] else {}),
                  **({"warnings": s["warnings"]} if s.get("warnings") else {})}
                 for sid, s in ctx["steps"].items()]
        self.services.plugins.notify("soar_run_finished", run=ex.info(status, str(error) if error else None))
        self.progress and self.progress("run_done", run_id=run_id, tenant=tenant.name if tenant else None,
                                        status=status)
        result = RunResult(run_id, status, outputs, error, steps=steps, plan=ex.plan, waiting=waiting,
                           tenant=tenant.name if tenant else None)
        if part is not None:
            result.steps, result.plan = steps + part.steps, ex.plan + part.plan
            result.after_error = folded.after_error
        return result

    async def _after_one(self, playbook: Playbook, ex: RunExecution, tenant: TenantInfo | None, status: str,
                         outputs: Any, error: SoarError | None, record: bool):
        """The after-tenant steps of a run of one tenant (or none), in that run. ``record``: write
        how its tenant steps ended first (a resume reads it back)."""
        if record:
            after_mod.record_tenant_part(self.services.store, ex.run_id, status, outputs, error)
        ctx = {**ex.ctx, "steps": {}, "tenant": None,
               "tenants": {tenant.name: after_mod.tenant_entry(ex.run_id, status, outputs, error)} if tenant else {}}
        return await after_mod.run_after_tenants(self, playbook, ex.run_id, ctx, dry_run=ex.dry_run,
                                                 parent_id=ex.parent_id, recorded=ex.recorded)

    async def _outputs(self, playbook: Playbook, ex: RunExecution, keys: list | None = None) -> dict:
        """The playbook's outputs evaluated in ``ex``'s scope: ``keys`` (the summary outputs,
        after the after-tenant steps), or else the tenant outputs (:mod:`runner.playbook.phases`)."""
        out = {}
        items = playbook.outputs.items()
        if keys is not None:
            items = [(k, playbook.outputs[k]) for k in keys]
        elif self._after_phase(playbook):
            summary = set(summary_keys(playbook, self.expressions.references))
            items = [(k, v) for k, v in items if k not in summary]
        for key, value in items:
            try:
                out[key] = await render_async(self.expressions.compile_value(value), ex.ctx)
            except SoarError as exc:
                raise exc.locate(**{k: v for k, v in playbook.locate(("outputs", key)).__dict__.items()
                                    if v is not None})
        return out

    # ---- resume -----------------------------------------------------------------------------------
    async def resume(self, run_id: str, *, retry_steps: tuple = (), skip_steps: tuple = ()) -> RunResult:
        """Continue a run from its last recorded step (after a crash, or after an approval)."""
        from runner.playbook.loader import PlaybookLoader

        store = self.services.store
        store.flush()
        run = store.get_run(run_id)
        if run.parent_id is not None and not retry_steps and not skip_steps:
            # resuming one tenant resumes the whole parent, so the parent's result is right
            return await self.resume(run.parent_id)
        if run.cancel_requested_at is not None and run.status not in FINAL:
            return end_cancelled(store, run)
        playbook = PlaybookLoader(self.services.plugins).load_text(run.playbook_text, run.playbook_path or "<stored>")
        secrets = self._secrets(playbook)
        # its tenant runs (a parent); the runs of its core.playbook steps resume with their step
        children = [c for c in store.children(run.id) if (c.trigger or {}).get("type") != "playbook"]
        trigger = run.trigger or {"type": "manual"}
        store.audit(run.id, "run_resumed", durable=True)
        if children and self.spread is not None and not retry_steps and not skip_steps:
            from runner.engine.spread import resume_family

            return await resume_family(self, run, playbook, children)
        if children:
            tenants = [self.tenant_info(c.tenant) for c in children]
            ids = {c.tenant: c.id for c in children}
            done = {c.tenant: c for c in children if c.status in FINAL}
            recorded = {c.tenant: self._recorded(c.id, retry_steps, skip_steps) for c in children}
            after_recorded = self._recorded(run.id, retry_steps, skip_steps) if self._after_phase(playbook) else {}
            result = await self._run_parent_resume(playbook, run, tenants, ids, done, recorded, secrets, trigger,
                                                   after_recorded)
            return result
        if run.status in FINAL and not retry_steps and not skip_steps:
            raise UsageError(f"run {run.id} already {run.status}; nothing to resume",
                             hint=f"`soar runs show {run.id}`")
        tenant = self.tenant_info(run.tenant)
        # a run of its own runs its after-tenant steps; a tenant run of a parent leaves them to it
        own = run.parent_id is None or trigger.get("type") == "playbook"
        return await self._execute(playbook, run.id, tenant, run.inputs, trigger, run.dry_run, secrets,
                                   run.parent_id, self._recorded(run.id, retry_steps, skip_steps),
                                   after=own, resumed=True)

    async def _run_parent_resume(self, playbook, run, tenants, ids, done, recorded, secrets, trigger,
                                 after_recorded):
        """Resume the tenant runs that had not finished, then the after-tenant steps (which also
        resume alone: every tenant had finished and one of them waited for an approval)."""
        todo = [t for t in tenants if t.name not in done]
        if not todo and (not self._after_phase(playbook) or run.status in FINAL):
            raise UsageError(f"run {run.id} already {run.status}; nothing to resume")
        self.services.store.update_run(run.id, status="running")
        return await self._run_parent(playbook, run.id, tenants, ids, run.inputs, trigger, run.dry_run,
                                      secrets, recorded, done=done, after_recorded=after_recorded)

    def _recorded(self, run_id: str, retry_steps: tuple, skip_steps: tuple) -> dict:
        """Latest attempt per (step, item), as the store has it."""
        out: dict = {}
        for r in self.services.store.step_records(run_id):
            key = (r.step_id, r.item)
            prev = out.get(key)
            if prev is None or r.attempt >= prev.attempt:
                out[key] = Recorded(r.status, r.output, r.output_redacted, r.error, r.attempt, r.effect or "read")
        for key, rec in out.items():
            if key[0] in retry_steps and rec.status == Known.RUNNING:
                # only an item whose outcome is unknown is retried: a recorded success is never
                # sent again, and the action's reconcile hook (if any) still looks first
                out[key] = replace(rec, status=Known.RETRY)
            elif key[0] in skip_steps and rec.status != Known.SUCCEEDED:
                out[key] = Recorded(Known.SKIPPED, None, False, None, rec.attempt, rec.effect)
        # a step that failed before the crash is run again on resume (failed ≠ unknown)
        return {k: v for k, v in out.items() if v.status != Known.FAILED}

    # ---- sub-playbooks (runner.engine.subruns) ---------------------------------------------------
    async def run_child_playbook(self, parent: RunExecution, actx, ref: str, inputs: dict,
                                 tenant: str | None = None) -> Any:
        """Run the sub-playbook ``ref`` of a ``core.playbook`` step and return its outputs."""
        from runner.engine.subruns import run_child_playbook

        return await run_child_playbook(self, parent, actx, ref, inputs, tenant)


def _absolute(source_path: str | None) -> str | None:
    """The playbook's path as stored with a run: absolute, so a resume from another directory
    confines sub-playbooks to the same playbook directory (runner.playbook.subplaybooks)."""
    if not source_path or source_path.startswith("<"):
        return source_path
    import os

    return os.path.abspath(source_path)
