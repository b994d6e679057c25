"""Executes the steps of one run: when, foreach, parallel groups, retry, timeout, on_error,
dry-run and durable step records (approvals, permission pre-flight and crash reconcile are in
:mod:`runner.engine.gates`).

One :class:`RunExecution` per run (per tenant). Its durable state is the run row and the
step-attempt rows in the store; the in-memory ``ctx`` is rebuilt from them on resume.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runner.apis.calllog import CallLog, calls_of
from runner.engine import dryrun
from runner.engine.compiled import compiled_step, step_table
from runner.engine.context import ActionContext, TenantInfo
from runner.engine.control import CancelWatch, RunCancelled
from runner.engine.events import RunInfo, StepInfo
from runner.engine.gates import StepGates
from runner.engine.outcomes import Known, Recorded, RunPaused, StepOutcome, input_error, output_of, plain
from runner.errors import ActionInputError, ConfigError, SoarError, StepError, StepTimeout
from runner.expressions import render_async
from runner.logfmt import STEP
from runner.notes import collecting, warn
from runner.playbook.model import Playbook, Step
from runner.secrets import contains_secret, reveal_all

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.run import Engine

__all__ = ["Recorded", "RunExecution", "RunPaused", "StepOutcome"]

log = logging.getLogger("soar.engine")
_output = output_of  # the name runner.testing imports

NO_ITEM = None
# the longest wait a step's `retry:` accepts from an error's ``retry_after`` (a 429's Retry-After),
# as long as the API clients wait for one (runner.apis.client.RetryPolicy.max_retry_after)
RETRY_AFTER_CAP = 300.0


@dataclass
class RunExecution(StepGates):
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
    steps: list | None = None  # the top-level steps to run: the playbook's `steps` by default

    def __post_init__(self) -> None:
        self.services = self.engine.services
        self.store = self.services.store
        self.group = self.engine.group_commit
        self.actions = self.services.plugins.actions
        self.observe = self.services.plugins.has_observers()
        self._gates_passed: set = set()
        self.handlers = frozenset(s.on_error for s in self.playbook.all_steps()
                                  if s.on_error not in ("fail", "continue"))
        self._by_id = {s.id: s for s in self.playbook.all_steps()}
        self._compiled = step_table(self.engine.expressions, self.playbook)
        self.source_path = self.playbook.source_path  # pydantic private attrs are slow to read
        if self.steps is None:
            self.steps = self.playbook.steps
        self.cancel = CancelWatch(self.store, self.run_id)  # `soar runs cancel` from elsewhere
        # what every log line about one of this run's steps names (runner.logfmt.STEP)
        self._where = {"run": self.run_id, "tenant": self.tenant.name} if self.tenant else {"run": self.run_id}

    # ---- info ------------------------------------------------------------------------------
    def info(self, status: str, error: str | None = None) -> RunInfo:
        return RunInfo(self.run_id, self.playbook.name, self.tenant.name if self.tenant else None,
                       self.parent_id, self.dry_run, status, error, network=self.services.network)

    def where(self, step: Step, *sub) -> Any:
        return self.playbook.locate(step.path + tuple(sub), step=step.id,
                                    tenant=self.tenant.name if self.tenant else None)

    # ---- the run's steps --------------------------------------------------------------------
    async def run_steps(self) -> None:
        """Run the top-level steps in order. Raises the error that failed the run, or RunPaused."""
        for step in self.steps:
            self.cancel.check()
            if step.id in self.handlers:
                if step.id not in self.ctx["steps"]:
                    self._set(step, StepOutcome("skipped", note="an on_error handler no failed step routed to"), [])
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

    def _set(self, step: Step, outcome: StepOutcome, warnings: list[str]) -> None:
        self.ctx["steps"][step.id] = {
            "output": outcome.output,
            "status": outcome.status,
            "error": outcome.error.message if outcome.error else None,
            "warnings": warnings,
            "note": outcome.note,
        }

    def events(self, kind: str, **data) -> None:
        sink = self.engine.progress
        if sink is not None:
            sink(kind, run_id=self.run_id, tenant=self.tenant.name if self.tenant else None, **data)

    async def exec_step(self, step: Step) -> StepOutcome:
        if step.parallel is not None:
            outcome = await self._exec_group(step)
            warnings: list[str] = []
        else:
            # what the step's expressions and action report through runner.notes.warn, and the
            # step every line logged meanwhile is about
            token = STEP.set({**self._where, "step": step.id})
            try:
                with collecting() as notes:
                    try:
                        outcome = await self._exec_action_step(step)
                    except RunPaused:
                        raise
                    except SoarError as exc:
                        outcome = StepOutcome("failed", error=exc.locate(**self._loc(step)))
            finally:
                STEP.reset(token)
            warnings = list(notes)
        self._set(step, outcome, warnings)
        if self.engine.progress is not None:
            self.events("step_done", step=step.id, status=outcome.status,
                        error=str(outcome.error) if outcome.error else None, warnings=warnings)
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
        compiled = compiled_step(self._compiled, step)
        if action.needs_tenant and self.tenant is None:
            raise ConfigError(
                f"action '{action.name}' acts on a tenant, but this run has none",
                hint="configure tenants in soar.yaml (or use --simulate) and set `tenants:` on the playbook")
        if step.foreach is None:
            if compiled.when is not None and not await self._truthy(step, compiled.when, self.ctx, "when"):
                self._record_skip(step, action.name, NO_ITEM)
                return StepOutcome("skipped", note="when: false")
            if self.engine.progress is not None:
                self.events("step_start", step=step.id, total=1, action=action.name)
            if self._may_gate(step, action):
                await self._gate_step(step, action, compiled, None)
            return await self._invoke(step, action, compiled, self.ctx, NO_ITEM)
        items = await self._render(step, compiled.foreach, self.ctx, "foreach")
        if isinstance(items, dict):
            items = [{"key": k, "value": v} for k, v in items.items()]
        if items is None:
            items = []
        if not isinstance(items, (list, tuple)):
            raise ActionInputError(f"`foreach` must give a list, got {type(items).__name__}",
                                   where=self.where(step, "foreach"))
        self.events("step_start", step=step.id, total=len(items), action=action.name)
        if self._may_gate(step, action):  # one approval for the whole step, with every item's plan
            await self._gate_step(step, action, compiled, items)
        results: list[StepOutcome | None] = [None] * len(items)

        where = STEP.get() or {**self._where, "step": step.id}

        async def one(i: int, item: Any) -> None:
            self.cancel.check()
            ictx = {**self.ctx, "item": item, "index": i}
            token = STEP.set({**where, "item": i})  # lines about this item name it
            try:
                if compiled.when is not None and not await self._truthy(step, compiled.when, ictx, "when"):
                    self._record_skip(step, action.name, i)
                    results[i] = StepOutcome("skipped")
                else:
                    results[i] = await self._invoke(step, action, compiled, ictx, i)
            finally:
                STEP.reset(token)
            if self.engine.progress is not None:
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
                    try:
                        await one(i, item)
                    except RunCancelled:  # items in flight finish; the run stops after them
                        return
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
            self.cancel.check()  # an item saw a cancel request: stop here, after the items in flight
        ran = [r for r in results if r is not None and r.status != "skipped"]
        output = [r.output for r in ran if r.status == "succeeded"]
        errors = [r.error for r in ran if r.status == "failed"]
        if errors:
            first = errors[0]
            if len(errors) > 1:
                first.message = f"{first.message} (and {len(errors) - 1} more item(s) failed)"
            return StepOutcome("failed", output, first)
        if not ran and items:
            return StepOutcome("skipped", [], note="when: false for every item")
        return StepOutcome("succeeded", output)

    async def _render(self, step: Step, compiled: Any, ctx: dict, *where) -> Any:
        """A compiled value of ``step`` resolved, within the expression limits and the step's
        ``timeout`` (off the event loop when the evaluation is expensive)."""
        try:
            if not compiled.jinja:
                return compiled.render(ctx)
            return await render_async(compiled, ctx, step.timeout)
        except SoarError as exc:
            raise exc.locate(**self._loc(step, *where, *getattr(exc, "path", ())))

    async def _truthy(self, step: Step, compiled: Any, ctx: dict, key: str) -> bool:
        return bool(await self._render(step, compiled, ctx, key))

    def _record_skip(self, step: Step, action: str, item: int | None) -> None:
        rec = self.recorded.get((step.id, item)) if self.recorded else None
        if rec is not None and rec.status == "skipped":
            return
        self.store.step_finished(self.run_id, step.id, item=item, attempt=1, status="skipped",
                                 output=None, durable=False)

    async def _invoke(self, step: Step, action, compiled, ctx: dict, item: int | None) -> StepOutcome:
        """Resolve inputs and run one call of the action (one foreach item), with retries."""
        raw, inputs = await resolve_inputs_of(self, step, action, compiled, ctx)
        effect = action.effect_for(inputs)
        # Crash recovery: reuse what was recorded before the crash.
        rec = self.recorded.get((step.id, item)) if self.recorded else None
        attempt0 = 0
        if rec is not None:
            # a recorded success is final; only a read whose output held a secret (stored
            # masked) runs again, to get the real value back. A write is never sent twice.
            if rec.status == Known.SUCCEEDED and (not rec.output_redacted or rec.effect != "read"):
                return StepOutcome("succeeded", rec.output)
            if rec.status == Known.SKIPPED:
                return StepOutcome("skipped", dryrun.replanned(step, action, rec.output) if self.dry_run else None,
                                   note="recorded as skipped before the run was resumed")
            attempt0 = rec.attempt
            if rec.status in (Known.RUNNING, Known.RETRY) and rec.effect != "read":
                outcome = await self._reconcile(step, action, inputs, ctx, item, rec)
                if outcome is not None:
                    return outcome
        if self.dry_run and effect != "read":
            return dryrun.plan_and_skip(self, step, action, inputs, raw, item, effect)
        if (step.approval is not None or effect == "destructive") and self._needs_approval(step, effect):
            if self.dry_run:  # a dry run opens no gate: the read step runs, and says a real run would wait
                warn(f"dry run: a real run waits for approval here (`{step.id}`); no gate was opened")
            else:
                await self._approval_gate(step, action.name)
        if action.roles and self.services.auth is not None:
            await self._preflight(step, action, inputs)
        # the inputs as recorded: a model that takes any mapping holds exactly ``raw`` (no dump)
        shown_inputs = raw if raw.__class__ is dict and _takes_any_mapping(action.input_model) else None
        outcome = await self._attempts(step, action, inputs, effect, ctx, item, attempt0, shown_inputs)
        if outcome.status == "failed" and self.dry_run:
            dryrun.explain_failure(outcome, raw)
        return outcome

    async def _attempts(self, step, action, inputs, effect, ctx, item, attempt0,
                        shown_inputs=None) -> StepOutcome:
        retry = step.retry
        attempts = retry.attempts if retry else 1
        durable = effect != "read"
        # "done" must be committed before the item goes on only when a resume could not find
        # out by itself: with a reconcile hook, a lost "done" record is a "running" one, and
        # resume asks the target (docs/engine.md, durability rule). Any later durable record
        # commits it too: the buffer is written in order.
        durable_done = durable and action.reconcile is None
        for n in range(1, attempts + 1):
            attempt = attempt0 + n
            if shown_inputs is None:
                shown_inputs = plain(inputs)
            self.store.step_started(self.run_id, step.id, item=item, attempt=attempt, action=action.name,
                                    effect=effect, inputs=shown_inputs, durable=False)
            if durable:  # "about to send" survives a crash before anything is sent
                await self.group.durable()
            actx = ActionContext(run_id=self.run_id, step_id=step.id, item=item, attempt=attempt,
                                 tenant=self.tenant, dry_run=self.dry_run, services=self.services,
                                 engine=self, playbook_path=self.source_path)
            if self.observe:
                self.services.plugins.notify("soar_step_started", run=self.info("running"),
                                             step=StepInfo(step.id, action.name, item, attempt, "running"))
            t0 = time.perf_counter()
            calls = CallLog()  # the API calls of this attempt (runner.apis.calllog), kept with its record
            try:
                result = await _call(step, action, actx, inputs, calls)
                output = output_of(action, result)
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
                                         status="succeeded", output=output, durable=False,
                                         calls=calls.doc())
                if durable_done:
                    await self.group.durable()
                if self.observe:
                    self._notify_done(step, action, item, attempt, "succeeded", t0)
                return StepOutcome("succeeded", output)
            delay = None
            if n < attempts and getattr(error, "retryable", False):
                delay = retry_delay(retry, n, getattr(error, "retry_after", None))
                if delay is None:  # asked to wait longer than a step waits: fail now, and say why
                    error.hint = (f"the server asks to wait {error.retry_after:g}s, longer than a step's "
                                  f"`retry:` waits ({RETRY_AFTER_CAP:g}s): run it again later")
            self.store.step_finished(self.run_id, step.id, item=item, attempt=attempt, status="failed",
                                     error=error.to_dict(), durable=False,
                                     calls=calls.doc())
            if durable_done:
                await self.group.durable()
            self._notify_done(step, action, item, attempt, "failed", t0, str(error))
            if delay is not None:
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

    # ---- sub-playbooks --------------------------------------------------------------------------
    async def run_subplaybook(self, actx: ActionContext, playbook: str, inputs: dict,
                              tenant: str | None = None) -> Any:
        return await self.engine.run_child_playbook(self, actx, playbook, inputs, tenant)


async def _call(step: Step, action, actx: ActionContext, inputs: Any, calls: CallLog) -> Any:
    """One call of the action, within the step's ``timeout``, the API calls it makes logged in
    ``calls`` (the tasks it starts log there too)."""
    with calls_of(calls):
        if step.timeout is None:
            return await action.func(actx, inputs)
        try:
            return await asyncio.wait_for(action.func(actx, inputs), step.timeout)
        except asyncio.TimeoutError:
            raise StepTimeout(f"timed out after {step.timeout:g}s",
                              hint="raise the step's `timeout`, or add `retry`") from None


def retry_delay(retry, n: int, asked: float | None) -> float | None:
    """Seconds to wait before attempt ``n + 1``: the step's backoff (``backoff × 2^(n-1)``,
    capped at ``max_backoff``, jittered), or longer when the error says how long the server asked
    to wait (``retry_after``: a 429's Retry-After) — None when that is over RETRY_AFTER_CAP."""
    delay = min(retry.max_backoff, retry.backoff * (2 ** (n - 1)))
    if retry.jitter:
        delay *= random.uniform(0.5, 1.0)
    if asked is None:
        return delay
    if asked > RETRY_AFTER_CAP:
        return None
    return max(delay, asked)


async def resolve_inputs_of(ex: RunExecution, step: Step, action, compiled, ctx: dict) -> tuple[Any, Any]:
    """One call's inputs: ``with:`` rendered in ``ctx`` (raw) and validated by the action's model.
    Raises a located :class:`ActionInputError` when they do not fit."""
    raw = await ex._render(step, compiled.with_, ctx, "with")
    try:
        try:
            inputs = action.input_model.model_validate(raw)
        except ValidationError:
            if not contains_secret(raw):
                raise
            # a secret given to a plain-string input: hand over its text (still redacted in output)
            inputs = action.input_model.model_validate(_reveal_plain_fields(action.input_model, raw))
    except ValidationError as exc:
        err = ActionInputError(input_error(action.name, exc), where=ex.where(step, "with"),
                               hint=f"`soar actions show {action.name}` lists its inputs")
        if ex.dry_run:
            dryrun.explain_failure(StepOutcome("failed", error=err), raw)
        raise err from None
    return raw, inputs


@functools.cache
def _takes_any_mapping(model: type[BaseModel]) -> bool:
    """A model without fields that keeps every key (``AnyInputs``): validating a dict changes
    nothing in it, so the dict itself is what to record."""
    return not model.model_fields and model.model_config.get("extra") == "allow" \
        and not model.__pydantic_decorators__.model_validators \
        and not model.__pydantic_decorators__.field_validators


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
