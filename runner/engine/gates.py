"""What stands between a step and its action: approval gates, the pre-flight permission check,
and — after a crash — reconciling a write whose outcome was never recorded.

A mixin of :class:`~runner.engine.steps.RunExecution` (it uses the run's store, services,
playbook and tenant).
"""

from __future__ import annotations

from runner.engine.context import ActionContext
from runner.engine.events import ApprovalInfo
from runner.engine.outcomes import Known, Recorded, RunPaused, StepOutcome, output_of, plain
from runner.errors import ApprovalDenied, ReconcileError, SoarError
from runner.notes import warn
from runner.playbook.model import Step
from runner.secrets import mask
from runner.store.approval_queue import decide_timed_out

PLAN_ITEMS = 1000  # items a gate's plan lists (the rest are counted)


class StepGates:
    """Approvals, permissions and reconcile, for :class:`~runner.engine.steps.RunExecution`."""

    # ---- crash recovery ------------------------------------------------------------------------
    async def _reconcile(self, step, action, inputs, ctx, item, rec: Recorded) -> StepOutcome | None:
        """An item whose write was started but never recorded: its output if the target shows
        it took effect, None to send it, or a failure asking the operator to decide."""
        if action.reconcile is None:
            if rec.status == Known.RETRY:
                return None  # `--retry-step`: the operator checked the target and asked to send it
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
        output = output_of(action, found)
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

    def _may_gate(self, step: Step, action) -> bool:
        """Whether the step may stop at an approval gate, known before any item is resolved. Not
        with ``--auto-approve``: that gate is passed as the first item reaches it (no plan)."""
        if self.dry_run or step.id in self._gates_passed or self.services.auto_approve:
            return False
        if step.approval is not None:
            return step.approval.required
        if action.effect != "destructive" and action.effect_of is None:
            return False
        return self._needs_approval(step, "destructive")

    async def _gate_step(self, step: Step, action, compiled, items: list | None) -> None:
        """The gate of a whole step, before any of its items runs, so that the approver sees what
        every item would do (:meth:`_plan`). No gate when no item would call the action."""

        async def plan() -> dict:
            return await self._plan(step, action, compiled, items)

        await self._approval_gate(step, action.name, plan_of=plan)

    async def _approval_gate(self, step: Step, action_name: str, plan_of=None) -> None:
        """Once per step (not per item): pass if approved, fail if denied, else pause the run."""
        if step.id in self._gates_passed:
            return
        async with self.engine.step_lock(self.run_id, step.id):
            if step.id in self._gates_passed:
                return
            store = self.store
            record = store.get_approval(self.run_id, step.id)
            spec = step.approval
            if record is not None and record.status == "expired":
                # nobody decided in time: record the step's on_timeout (deny by default) as the
                # decision, as `soar serve` does (a human can no longer decide an expired gate)
                approve = spec is not None and spec.on_timeout == "approve"
                decide_timed_out(store, record, approved=approve)  # False: someone decided first
                record = store.get_approval(self.run_id, step.id)
                self.events("approved" if record.status == "approved" else "denied",
                            step=step.id, actor=record.decided_by)
            if record is None:
                plan = await plan_of() if plan_of is not None else None
                if plan is not None and not plan["items"]:
                    return  # no item calls the action (all skipped, or failing before it): nothing to ask
                request = await self._gate_request(step, action_name, plan)
            if record is None and self.services.auto_approve:
                # the operator turned gates off for this process: a policy, like a timeout, not
                # a person — so it is recorded as such, not checked against `approvers:`
                store.request_approval(self.run_id, step.id, **request)
                decide_timed_out(store, store.get_approval(self.run_id, step.id), approved=True,
                                 actor="auto-approve", reason="auto-approved (demo / --auto-approve)")
                record = store.get_approval(self.run_id, step.id)
                self.events("approved", step=step.id, actor="auto-approve")
            if record is None or record.status == "pending":
                if record is None:
                    timeout = spec.timeout if spec is not None and spec.timeout else self.services.approval_timeout
                    if timeout:
                        request["expires_in"] = timeout
                    store.request_approval(self.run_id, step.id, **request)
                    self._announce_gate(step)
                self.events("waiting_approval", step=step.id)
                raise RunPaused(step.id)
            if record.status != "approved":
                who = record.decided_by or "someone"
                raise ApprovalDenied(f"approval {record.status} by {who}" + (f": {record.reason}" if record.reason else ""),
                                     where=self.where(step, "approval"))
            self._gates_passed.add(step.id)

    def _announce_gate(self, step: Step) -> None:
        """Tell the ``soar_approval_requested`` observers (notifications) about a gate just
        recorded, as the store keeps it (message masked, expiry computed)."""
        hook = self.services.plugins.pm.hook.soar_approval_requested
        if not hook.get_hookimpls():
            return
        record = self.store.get_approval(self.run_id, step.id)
        if record is None or record.status != "pending":
            return
        approval = ApprovalInfo(record.run_id, record.step_id, record.playbook, record.tenant, record.message,
                                step_name=record.step_name, approvers=tuple(record.approvers), plan=record.plan,
                                requested_at=record.requested_at, expires_at=record.expires_at)
        self.services.plugins.notify("soar_approval_requested", run=self.info("waiting_approval"),
                                     approval=approval)

    async def _gate_request(self, step: Step, action_name: str, plan: dict | None) -> dict:
        """What the gate asks: the message and step name rendered with the run's context
        (secrets masked), the tenant, the playbook, who may decide and the plan."""
        spec = step.approval
        if spec is not None and spec.message:
            message, error = await self._text(step, spec.message, self.ctx, ("approval", "message"))
            if error is not None:
                # the question could not be put as written: ask it unrendered, and say so (in
                # the gate's plan for the approver, as a step warning for the run)
                warn(f"step '{step.id}': the approval message could not be rendered ({error}); "
                     "the approver sees it as written")
                plan = {**(plan or {}), "message_error": error}
        else:
            count = f" for {len(plan['items'])} item(s)" if plan and plan.get("foreach") else ""
            message = f"step '{step.id}' wants to run {action_name}{count}"
        name = None
        if step.name:
            rendered, error = await self._text(step, step.name, self.ctx, ("name",))
            name = rendered if error is None else None  # e.g. a name made of `item` (each item has its own)
        return dict(message=message, approvers=list(spec.approvers) if spec else [],
                    tenant=self.tenant.name if self.tenant else None, playbook=self.playbook.name,
                    step_name=name, plan=plan)

    async def _text(self, step: Step, template: str, ctx: dict, where: tuple) -> tuple[str, str | None]:
        """``template`` rendered as text, secrets masked; on an error, the template and the error."""
        if "${{" not in template:
            return template, None
        try:
            compiled = self.engine.expressions.compile_value(template)
            value = await self._render(step, compiled, ctx, *where)
        except SoarError as exc:
            return template, exc.message
        return str(mask(value)), None

    async def _plan(self, step: Step, action, compiled, items: list | None) -> dict:
        """What approving ``step`` lets it do: per item that would call the action, its name,
        effect and resolved inputs (masked) — the dry-run plan of the step. Items skipped by
        `when`, already done (on resume), or whose inputs fail are counted, not listed."""
        from runner.engine.steps import resolve_inputs_of

        entries: list[dict] = []
        skipped, more, errors = 0, 0, []
        seq = [(None, self.ctx)] if items is None else \
            [(i, {**self.ctx, "item": it, "index": i}) for i, it in enumerate(items)]
        for i, ctx in seq:
            rec = self.recorded.get((step.id, i)) if self.recorded else None
            if rec is not None and rec.status in (Known.SUCCEEDED, Known.SKIPPED):
                skipped += 1
                continue
            try:
                if i is not None and compiled.when is not None \
                        and not await self._truthy(step, compiled.when, ctx, "when"):
                    skipped += 1
                    continue
                _raw, inputs = await resolve_inputs_of(self, step, action, compiled, ctx)
            except SoarError as exc:
                errors.append({"item": i, "error": exc.message})
                continue
            effect = action.effect_for(inputs)
            if not ((step.approval is not None or effect == "destructive") and self._needs_approval(step, effect)):
                continue
            if len(entries) >= PLAN_ITEMS:
                more += 1
                continue
            entry = {"item": i, "effect": effect, "inputs": mask(plain(inputs))}
            if step.name:
                name, error = await self._text(step, step.name, ctx, ("name",))
                if error is None:
                    entry["name"] = name
            entries.append(entry)
        plan = {"action": action.name, "effect": action.effect, "foreach": items is not None,
                "items": entries, "skipped": skipped, "errors": errors[:PLAN_ITEMS]}
        if more:
            plan["more"] = more
        return plan

    async def _preflight(self, step: Step, action, inputs) -> None:
        auth = self.services.auth
        if auth is None or not action.roles or not action.needs_tenant or self.tenant is None:
            return
        api = _api_input(inputs)
        key = ("roles", action.name, api)
        if key in self._gates_passed:
            return
        await auth.preflight(self.tenant.name, action.roles, prefer=api, choice=action.api_choice)
        self._gates_passed.add(key)


def _api_input(inputs) -> str | None:
    """The ``api`` input, if the action has one. Read from the model's storage: a missing
    attribute on a pydantic model costs an exception per call (once per foreach item)."""
    fields = getattr(inputs, "__dict__", None)
    if fields is None:
        return getattr(inputs, "api", None)
    value = fields.get("api")
    if value is None:
        extra = getattr(inputs, "__pydantic_extra__", None)
        value = extra.get("api") if extra else None
    return value


