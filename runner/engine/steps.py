"""Executes the steps of one run: when, foreach, parallel groups, retry, timeout, on_error,
approvals, dry-run, pre-flight permission checks, durable step records and crash recovery.

One :class:`RunExecution` per run (per tenant). Its durable state is the run row and the
step-attempt rows in the store; the in-memory ``ctx`` is rebuilt from them on resume.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runner.engine.context import ActionContext, TenantInfo
from runner.engine.events import RunInfo, StepInfo
from runner.errors import (ActionInputError, ApprovalDenied, ConfigError, ReconcileError, SoarError,
                           StepError, StepTimeout)
from runner.playbook.model import Playbook, Step
from runner.secrets import Secret, contains_secret, mask, reveal_all

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.run import Engine

log = logging.getLogger("soar.engine")

NO_ITEM = None


class RunPaused(Exception):
    """A step waits for a human: the run stops here in state ``waiting_approval``."""

    def __init__(self, step_id: str):
        self.step_id = step_id
        super().__init__(step_id)


@dataclass
class StepOutcome:
    status: str  # succeeded | failed | skipped
    output: Any = None
    error: SoarError | None = None


@dataclass
class Recorded:
    """What the store knows of one (step, item) from before a resume."""

    status: str
    output: Any
    output_redacted: bool
    error: dict | None
    attempt: int
    effect: str


@dataclass
class RunExecution:
    engine: "Engine"
    playbook: Playbook
    run_id: str
    tenant: TenantInfo | None
    dry_run: bool
    ctx: dict
    parent_id: str | None = None
    recorded: dict = field(default_factory=dict)  # (step_id, item) -> Recorded
    plan: list = field(default_factory=list)
    handlers: frozenset = frozenset()
    resuming: bool = False

    def __post_init__(self) -> None:
        self.services = self.engine.services
        self.store = self.services.store
        self.actions = self.services.plugins.actions
        self.observe = self.services.plugins.has_observers()
        self._gates_passed: set = set()
        self.handlers = frozenset(s.on_error for s in self.playbook.all_steps()
                                  if s.on_error not in ("fail", "continue"))
        self._by_id = {s.id: s for s in self.playbook.all_steps()}
        self.source_path = self.playbook.source_path  # pydantic private attrs are slow to read

    # ---- info ------------------------------------------------------------------------------
    def info(self, status: str, error: str | None = None) -> RunInfo:
        return RunInfo(self.run_id, self.playbook.name, self.tenant.name if self.tenant else None,
                       self.parent_id, self.dry_run, status, error)

    def where(self, step: Step, *sub) -> Any:
        return self.playbook.locate(step.path + tuple(sub), step=step.id,
                                    tenant=self.tenant.name if self.tenant else None)

    # ---- the run's steps --------------------------------------------------------------------
    async def run_steps(self) -> None:
        """Run the top-level steps in order. Raises the error that failed the run, or RunPaused."""
        for step in self.playbook.steps:
            if step.id in self.handlers:
                if step.id not in self.ctx["steps"]:
                    self._set(step, StepOutcome("skipped"))
                continue
            outcome = await self.exec_step(step)
            if outcome.status == "failed":
                await self._on_failure(step, outcome)

    async def _on_failure(self, step: Step, outcome: StepOutcome) -> None:
        if step.on_error == "continue":
            return
        if step.on_error == "fail":
            raise outcome.error
        handler = self._by_id[step.on_error]
        self.events("handler", step=handler.id, failed=step.id)
        h = await self.exec_step(handler)
        if h.status == "failed":
            raise h.error

    def _set(self, step: Step, outcome: StepOutcome) -> None:
        self.ctx["steps"][step.id] = {
            "output": outcome.output,
            "status": outcome.status,
            "error": outcome.error.message if outcome.error else None,
        }

    def events(self, kind: str, **data) -> None:
        sink = self.engine.progress
        if sink is not None:
            sink(kind, run_id=self.run_id, tenant=self.tenant.name if self.tenant else None, **data)

    async def exec_step(self, step: Step) -> StepOutcome:
        if step.parallel is not None:
            outcome = await self._exec_group(step)
        else:
            try:
                outcome = await self._exec_action_step(step)
            except RunPaused:
                raise
            except SoarError as exc:
                outcome = StepOutcome("failed", error=exc.locate(**self._loc(step)))
        self._set(step, outcome)
        self.events("step_done", step=step.id, status=outcome.status,
                    error=str(outcome.error) if outcome.error else None)
        return outcome

    def _loc(self, step: Step, *sub) -> dict:
        loc = self.where(step, *sub)
        return {k: v for k, v in loc.__dict__.items() if v is not None}

    async def _exec_group(self, group: Step) -> StepOutcome:
        self.events("step_start", step=group.id, total=len(group.parallel), action="parallel")
        results = await asyncio.gather(*(self.exec_step(s) for s in group.parallel),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        output = {s.id: r.output for s, r in zip(group.parallel, results)}
        for s, r in zip(group.parallel, results):
            if r.status == "failed" and s.on_error != "continue":
                if s.on_error not in ("fail", "continue"):
                    await self._on_failure(s, r)
                    continue
                return StepOutcome("failed", output, r.error)
        return StepOutcome("succeeded", output)

    # ---- one action step ----------------------------------------------------------------------
    async def _exec_action_step(self, step: Step) -> StepOutcome:
        action = self.actions.get(step.action)
        if action is None:
            raise ConfigError(f"unknown action '{step.action}'",
                              hint="`soar actions list` shows the installed actions")
        compiled = self.engine.compiled(step)
        if action.needs_tenant and self.tenant is None:
            raise ConfigError(
                f"action '{action.name}' acts on a tenant, but this run has none",
                hint="configure tenants in soar.yaml (or use --simulate) and set `tenants:` on the playbook")
        if step.foreach is None:
            if compiled.when is not None and not self._truthy(step, compiled.when, self.ctx, "when"):
                self._record_skip(step, action.name, NO_ITEM)
                return StepOutcome("skipped")
            self.events("step_start", step=step.id, total=1, action=action.name)
            return await self._invoke(step, action, compiled, self.ctx, NO_ITEM)
        items = self._render(step, compiled.foreach, self.ctx, "foreach")
        if isinstance(items, dict):
            items = [{"key": k, "value": v} for k, v in items.items()]
        if items is None:
            items = []
        if not isinstance(items, (list, tuple)):
            raise ActionInputError(f"`foreach` must give a list, got {type(items).__name__}",
                                   where=self.where(step, "foreach"))
        self.events("step_start", step=step.id, total=len(items), action=action.name)
        results: list[StepOutcome | None] = [None] * len(items)

        async def one(i: int, item: Any) -> None:
            ictx = {**self.ctx, "item": item, "index": i}
            if compiled.when is not None and not self._truthy(step, compiled.when, ictx, "when"):
                self._record_skip(step, action.name, i)
                results[i] = StepOutcome("skipped")
            else:
                results[i] = await self._invoke(step, action, compiled, ictx, i)
            self.events("item_done", step=step.id, index=i, status=results[i].status)

        if step.concurrency <= 1 or len(items) <= 1:
            for i, item in enumerate(items):
                await one(i, item)
                if results[i].status == "failed" and step.on_error == "fail":
                    break  # fail fast: do not act on more items
        else:
            sem = asyncio.Semaphore(step.concurrency)
            failed = asyncio.Event()

            async def bounded(i: int, item: Any) -> None:
                async with sem:
                    if failed.is_set() and step.on_error == "fail":
                        return
                    await one(i, item)
                    if results[i].status == "failed":
                        failed.set()

            tasks = [asyncio.create_task(bounded(i, it)) for i, it in enumerate(items)]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        ran = [r for r in results if r is not None and r.status != "skipped"]
        output = [r.output for r in ran if r.status == "succeeded"]
        errors = [r.error for r in ran if r.status == "failed"]
        if errors:
            first = errors[0]
            if len(errors) > 1:
                first.message = f"{first.message} (and {len(errors) - 1} more item(s) failed)"
            return StepOutcome("failed", output, first)
        if not ran and items:
            return StepOutcome("skipped", [])
        return StepOutcome("succeeded", output)

    def _render(self, step: Step, compiled: Any, ctx: dict, *where) -> Any:
        try:
            return compiled.render(ctx)
        except SoarError as exc:
            raise exc.locate(**self._loc(step, *where, *getattr(exc, "path", ())))

    def _truthy(self, step: Step, compiled: Any, ctx: dict, key: str) -> bool:
        return bool(self._render(step, compiled, ctx, key))

    def _record_skip(self, step: Step, action: str, item: int | None) -> None:
        rec = self.recorded.get((step.id, item))
        if rec is not None and rec.status == "skipped":
            return
        self.store.step_finished(self.run_id, step.id, item=item, attempt=1, status="skipped",
                                 output=None, durable=False)

    async def _invoke(self, step: Step, action, compiled, ctx: dict, item: int | None) -> StepOutcome:
        """Resolve inputs and run one call of the action (one foreach item), with retries."""
        raw = self._render(step, compiled.with_, ctx, "with")
        try:
            try:
                inputs = action.input_model.model_validate(raw)
            except ValidationError:
                if not contains_secret(raw):
                    raise
                # a secret given to a plain-string input: hand over its text (still redacted in output)
                inputs = action.input_model.model_validate(_reveal_plain_fields(action.input_model, raw))
        except ValidationError as exc:
            raise ActionInputError(_input_error(action.name, exc), where=self.where(step, "with"),
                                   hint=f"`soar actions show {action.name}` lists its inputs") from None
        effect = action.effect_for(inputs)
        # Crash recovery: reuse what was recorded before the crash.
        rec = self.recorded.get((step.id, item))
        attempt0 = 0
        if rec is not None:
            if rec.status == "succeeded" and not rec.output_redacted:
                return StepOutcome("succeeded", rec.output)
            if rec.status in ("skipped",):
                return StepOutcome("skipped")
            attempt0 = rec.attempt
            if rec.status == "running" and rec.effect != "read":
                outcome = await self._reconcile(step, action, inputs, ctx, item, rec)
                if outcome is not None:
                    return outcome
        if self.dry_run and effect != "read":
            entry = {"tenant": self.tenant.name if self.tenant else None, "step": step.id,
                     "item": item, "action": action.name, "effect": effect,
                     "inputs": mask(_plain(inputs))}
            self.plan.append(entry)
            self.store.step_finished(self.run_id, step.id, item=item, attempt=1, status="skipped",
                                     output={"dry_run": True, "planned": entry}, durable=False)
            return StepOutcome("skipped", None)
        if self._needs_approval(step, effect):
            await self._approval_gate(step, action.name)
        await self._preflight(step, action, inputs)
        return await self._attempts(step, action, inputs, effect, ctx, item, attempt0)

    async def _attempts(self, step, action, inputs, effect, ctx, item, attempt0) -> StepOutcome:
        retry = step.retry
        attempts = retry.attempts if retry else 1
        durable = effect != "read"
        shown_inputs = None
        for n in range(1, attempts + 1):
            attempt = attempt0 + n
            if shown_inputs is None:
                shown_inputs = _plain(inputs)
            self.store.step_started(self.run_id, step.id, item=item, attempt=attempt, action=action.name,
                                    effect=effect, inputs=shown_inputs, durable=durable)
            actx = ActionContext(run_id=self.run_id, step_id=step.id, item=item, attempt=attempt,
                                 tenant=self.tenant, dry_run=self.dry_run, services=self.services,
                                 engine=self, playbook_path=self.source_path)
            if self.observe:
                self.services.plugins.notify("soar_step_started", run=self.info("running"),
                                             step=StepInfo(step.id, action.name, item, attempt, "running"))
            t0 = time.perf_counter()
            try:
                if step.timeout is not None:
                    try:
                        result = await asyncio.wait_for(action.func(actx, inputs), step.timeout)
                    except asyncio.TimeoutError:
                        raise StepTimeout(f"timed out after {step.timeout:g}s",
                                          hint="raise the step's `timeout`, or add `retry`") from None
                else:
                    result = await action.func(actx, inputs)
                output = _output(action, result)
            except RunPaused:
                raise
            except SoarError as exc:
                error = exc.locate(**self._loc(step))
            except Exception as exc:  # an action's own bug: report it in place, keep the run alive
                log.debug("action %s raised", action.name, exc_info=True)
                error = StepError(f"action '{action.name}' raised {type(exc).__name__}: {exc}",
                                  where=self.where(step),
                                  hint=f"this is a bug in plugin '{action.plugin}'; report it with `soar runs show {self.run_id}`")
            else:
                self.store.step_finished(self.run_id, step.id, item=item, attempt=attempt,
                                         status="succeeded", output=output, durable=durable)
                self._notify_done(step, action, item, attempt, "succeeded", t0)
                return StepOutcome("succeeded", output)
            self.store.step_finished(self.run_id, step.id, item=item, attempt=attempt, status="failed",
                                     error=error.to_dict(), durable=durable)
            self._notify_done(step, action, item, attempt, "failed", t0, str(error))
            if n < attempts and getattr(error, "retryable", False):
                delay = min(retry.max_backoff, retry.backoff * (2 ** (n - 1)))
                if retry.jitter:
                    delay *= random.uniform(0.5, 1.0)
                self.events("retry", step=step.id, index=item, attempt=attempt, delay=delay)
                await asyncio.sleep(delay)
                continue
            return StepOutcome("failed", error=error)
        raise AssertionError("unreachable")  # pragma: no cover

    def _notify_done(self, step, action, item, attempt, status, t0, error=None) -> None:
        if self.observe:
            self.services.plugins.notify(
                "soar_step_finished", run=self.info("running"),
                step=StepInfo(step.id, action.name, item, attempt, status, time.perf_counter() - t0, error))

    # ---- crash recovery ------------------------------------------------------------------------
    async def _reconcile(self, step, action, inputs, ctx, item, rec: Recorded) -> StepOutcome | None:
        if action.reconcile is None:
            err = ReconcileError(
                f"'{action.name}' was started before the run stopped and its outcome was never "
                "recorded; it is not sent again blindly",
                where=self.where(step),
                hint=f"check the target by hand, then `soar runs resume {self.run_id} --retry-step {step.id}` "
                     f"to send it again, or `--skip-step {step.id}`")
            return StepOutcome("failed", error=err)
        actx = ActionContext(run_id=self.run_id, step_id=step.id, item=item, attempt=rec.attempt,
                             tenant=self.tenant, dry_run=self.dry_run, services=self.services,
                             engine=self, playbook_path=self.source_path)
        found = await action.reconcile(actx, inputs)
        self.store.audit(self.run_id, "reconciled", step_id=step.id,
                         data={"item": item, "found": found is not None}, durable=True)
        if found is None:
            return None  # it never took effect: safe to send
        output = _output(action, found)
        self.store.step_finished(self.run_id, step.id, item=item, attempt=rec.attempt, status="succeeded",
                                 output=output, durable=True)
        return StepOutcome("succeeded", output)

    # ---- approvals and permissions --------------------------------------------------------------
    def _needs_approval(self, step: Step, effect: str) -> bool:
        if step.approval is not None:
            return step.approval.required
        if effect != "destructive":
            return False
        config = self.services.config
        if config is not None and not getattr(getattr(config, "approvals", None), "destructive", True):
            return False
        return self.playbook.approvals.destructive

    async def _approval_gate(self, step: Step, action_name: str) -> None:
        """Once per step (not per item): pass if approved, fail if denied, else pause the run."""
        if step.id in self._gates_passed:
            return
        lock = self.engine.step_lock(self.run_id, step.id)
        async with lock:
            if step.id in self._gates_passed:
                return
            store = self.store
            record = store.get_approval(self.run_id, step.id)
            spec = step.approval
            if record is not None and record.status == "pending" and record.expires_at is not None \
                    and record.expires_at <= _dt.datetime.now(_dt.timezone.utc):
                approve = spec is not None and spec.on_timeout == "approve"
                record = store.decide_approval(self.run_id, step.id, approved=approve,
                                               actor="timeout", reason="approval timed out")
            if record is None and self.services.auto_approve:
                store.request_approval(self.run_id, step.id, message=_approval_message(step, action_name))
                record = store.decide_approval(self.run_id, step.id, approved=True, actor="auto-approve",
                                               reason="auto-approved (demo / --auto-approve)")
                self.events("approved", step=step.id, actor="auto-approve")
            if record is None or record.status == "pending":
                if record is None:
                    expires = None
                    if spec is not None and spec.timeout:
                        expires = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=spec.timeout)
                    store.request_approval(self.run_id, step.id, message=_approval_message(step, action_name),
                                           approvers=list(spec.approvers) if spec else [], expires_at=expires)
                self.events("waiting_approval", step=step.id)
                raise RunPaused(step.id)
            if record.status != "approved":
                who = record.decided_by or "someone"
                raise ApprovalDenied(f"approval denied by {who}" + (f": {record.reason}" if record.reason else ""),
                                     where=self.where(step, "approval"))
            self._gates_passed.add(step.id)

    async def _preflight(self, step: Step, action, inputs) -> None:
        auth = self.services.auth
        if auth is None or not action.roles or not action.needs_tenant or self.tenant is None:
            return
        key = ("roles", action.name, getattr(inputs, "api", None))
        if key in self._gates_passed:
            return
        await auth.preflight(self.tenant.name, action.roles, prefer=getattr(inputs, "api", None))
        self._gates_passed.add(key)

    # ---- sub-playbooks --------------------------------------------------------------------------
    async def run_subplaybook(self, actx: ActionContext, playbook: str, inputs: dict) -> Any:
        return await self.engine.run_child_playbook(self, actx, playbook, inputs)


def _approval_message(step: Step, action_name: str) -> str:
    if step.approval is not None and step.approval.message:
        return step.approval.message
    return f"step '{step.id}' wants to run {action_name}"


def _reveal_plain_fields(model: type[BaseModel], raw: Any) -> Any:
    """Reveal Secrets in the inputs whose field is not declared as a Secret."""
    if not isinstance(raw, dict):
        return raw
    out = {}
    for key, value in raw.items():
        field_info = model.model_fields.get(key)
        wants_secret = field_info is not None and "Secret" in str(field_info.annotation)
        out[key] = value if wants_secret else reveal_all(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python", by_alias=True, exclude_none=False)
    return value


def _output(action, result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="python", by_alias=True)
    if action.output_model is not None and isinstance(result, dict):
        try:
            return action.output_model.model_validate(result).model_dump(mode="python", by_alias=True)
        except ValidationError as exc:
            raise StepError(f"action '{action.name}' returned an output that does not match its model: "
                            f"{_input_error(action.name, exc)}",
                            hint=f"a bug in plugin '{action.plugin}'") from None
    return result


def _input_error(action: str, exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "inputs"
        if e["type"] == "missing":
            parts.append(f"input '{loc}' is required")
        elif e["type"] == "extra_forbidden":
            parts.append(f"'{loc}' is not an input of {action}")
        else:
            got = e.get("input")
            shown = "***" if got.__class__.__name__ == "Secret" else repr(got)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            parts.append(f"input '{loc}': {e['msg']} (got {shown})")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
