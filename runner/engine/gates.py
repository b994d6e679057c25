"""What stands between a step and its action: approval gates, the pre-flight permission check,
and — after a crash — reconciling a write whose outcome was never recorded.

A mixin of :class:`~runner.engine.steps.RunExecution` (it uses the run's store, services,
playbook and tenant).
"""

from __future__ import annotations

import datetime as _dt

from runner.engine.context import ActionContext
from runner.engine.outcomes import Known, Recorded, RunPaused, StepOutcome, output_of
from runner.errors import ApprovalDenied, ReconcileError
from runner.playbook.model import Step
from runner.store.approval_queue import decide_timed_out


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

    async def _approval_gate(self, step: Step, action_name: str) -> None:
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
            if record is None and self.services.auto_approve:
                # the operator turned gates off for this process: a policy, like a timeout, not
                # a person — so it is recorded as such, not checked against `approvers:`
                store.request_approval(self.run_id, step.id, message=_approval_message(step, action_name),
                                       approvers=list(spec.approvers) if spec else [])
                decide_timed_out(store, store.get_approval(self.run_id, step.id), approved=True,
                                 actor="auto-approve", reason="auto-approved (demo / --auto-approve)")
                record = store.get_approval(self.run_id, step.id)
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


def _approval_message(step: Step, action_name: str) -> str:
    if step.approval is not None and step.approval.message:
        return step.approval.message
    return f"step '{step.id}' wants to run {action_name}"
