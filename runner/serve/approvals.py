"""Approvals while serving: decisions over HTTP, timeouts, and continuing decided runs.

- :meth:`ApprovalDesk.decide` records a human decision (as ``soar approve``/``deny`` do) and
  continues the run in this process at once.
- :meth:`ApprovalDesk.sweep` (every few seconds) decides gates whose time is up — the step's
  ``approval.timeout`` or, for gates without one, the server's ``--approval-timeout`` — as the
  step's ``on_timeout`` says (deny by default), recorded with ``decided_by = "timeout"``. It also
  continues runs whose gate was decided elsewhere (``soar approve --no-resume``) once the decision
  is ``settle`` seconds old, so a CLI that continues the run itself is not raced.

A run is continued by one process only: it is claimed (``waiting_approval`` → ``running``) in one
atomic update first. A decision that finds the run's family still executing here (another
tenant's run continues, say) is not dropped: a tenant run waiting in the family's task continues
at once (:mod:`runner.serve.tenantgates`), and otherwise the family is continued as soon as its
task ends, if a decided gate still waits then.

Who decides over HTTP (:func:`identify`): a personal token (``soar serve --approver NAME=REF``)
decides as NAME, whatever the body says; the shared ``--api-token`` decides as the body's
self-declared ``actor``. Either way the gate's ``approvers:`` are checked by the store
(:meth:`RunStore.decide_approval`), as for ``soar approve``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from runner.errors import SoarError, UsageError
from runner.serve.webhooks import check_bearer
from runner.store.approval_queue import (claim_waiting_run, decide_timed_out, decided_waiting_runs, due_approvals,
                                         stamp_expiry, with_run_details)

log = logging.getLogger("soar.serve")
UTC = timezone.utc


@dataclass(frozen=True)
class Caller:
    """Who called ``/approvals``: ``name`` is the approver a personal token belongs to, ``None``
    for the shared ``--api-token`` (whose decisions name a self-declared actor)."""

    name: str | None


def identify(authorization: str, api_token: Any, approver_tokens: dict[str, Any]) -> Caller | None:
    """The caller a ``Authorization: Bearer <token>`` header proves, or None. Every configured
    token is compared (in constant time, :func:`~runner.serve.webhooks.check_bearer`), so the
    answer's timing does not say which matched."""
    found: Caller | None = None
    for name, token in approver_tokens.items():
        if check_bearer(token, authorization) and found is None:
            found = Caller(name)
    if api_token is not None and check_bearer(api_token, authorization) and found is None:
        found = Caller(None)
    return found


class ApprovalDesk:
    def __init__(self, store: Any, dispatcher: Any, loader: Any, *, default_timeout: float | None = None,
                 settle: float = 10.0):
        self.store = store
        self.dispatcher = dispatcher
        self.loader = loader
        self.default_timeout = default_timeout
        self.settle = settle
        self._following: set[str] = set()  # runs to look at again when their task here ends
        # the gates this server's engine opens carry the expiry it applies to them (shown by
        # `soar approvals list` and GET /approvals); older ones get it at the next sweep
        dispatcher.engine.services.approval_timeout = default_timeout

    def pending(self) -> list[dict]:
        """``GET /approvals``: each pending gate as ``soar approvals list --json`` shows it — the
        rendered message, tenant, playbook, approvers, expiry (the one this server applies) and
        the plan of the gated step (action, effect, each item's inputs, masked)."""
        docs = []
        for a in with_run_details(self.store, self.store.pending_approvals()):
            if a.expires_at is None and self.default_timeout is not None:
                a = replace(a, expires_at=a.requested_at + timedelta(seconds=self.default_timeout))
            docs.append(a.as_doc())
        return docs

    def decide(self, run_id: str, step_id: str, *, approved: bool, actor: str, reason: str = "",
               actor_oid: str | None = None) -> list[dict]:
        """Decide the gate of ``step_id`` on ``run_id`` (on a parent run: on every tenant run
        waiting there) and continue the run. ``actor_oid``: the signed-in decider's object id
        (the console). Raises a :class:`SoarError` the caller shows."""
        store = self.store
        run = store.get_run(run_id)
        targets = [run] if store.get_approval(run.id, step_id) is not None else [
            c for c in store.children(run.id) if store.get_approval(c.id, step_id) is not None]
        if not targets:
            raise UsageError(f"run {run.id} has no step '{step_id}' waiting for approval",
                             hint="GET /approvals lists the pending ones")
        out = []
        for target in targets:
            rec = store.decide_approval(target.id, step_id, approved=approved, actor=actor, reason=reason,
                                        actor_oid=actor_oid)
            out.append({"run_id": rec.run_id, "step": rec.step_id, "status": rec.status,
                        "decided_by": rec.decided_by, "decided_at": rec.decided_at.isoformat()})
        self._continue_decided(self._top(run.id), [t.id for t in targets])
        return out

    def sweep(self) -> int:
        """Decide timed-out gates and continue decided runs; returns how many runs were continued."""
        store = self.store
        decided_now: set[str] = set()
        if self.default_timeout is not None:
            stamp_expiry(store, self.default_timeout)  # gates opened elsewhere (soar run) included
        for record in due_approvals(store, default_timeout=self.default_timeout):
            approve = self._on_timeout(record) == "approve"
            if decide_timed_out(store, record, approved=approve):
                log.warning("approval of step '%s' of run %s timed out: %s", record.step_id, record.run_id,
                            "approved" if approve else "denied")
                top = self._top(record.run_id)
                if not self._wake(record.run_id, top):
                    decided_now.add(top)
        settled = datetime.now(UTC) - timedelta(seconds=self.settle)
        continued = 0
        for run_id in [*decided_now, *decided_waiting_runs(store, decided_before=settled)]:
            continued += self._continue(run_id)
        return continued

    def _continue_decided(self, top: str, decided: list[str]) -> int:
        """Gates of the runs ``decided`` (the top-level run ``top`` or runs under it) were just
        decided: wake those waiting in their family's task here, continue ``top`` for the others."""
        woken = [r for r in decided if self._wake(r, top)]
        return len(woken) if len(woken) == len(decided) else self._continue(top)

    def _wake(self, run_id: str, top: str) -> bool:
        """Wake the run waiting in its family's task for the gate decided on ``run_id``: that run
        itself, or the run above it whose sub-playbook step it is (``top`` is not held)."""
        held = getattr(self.dispatcher.engine, "held", None)  # None: a front, whose engine runs nothing
        if held is None:
            return False
        while run_id != top:
            if held.wake(run_id):
                return True
            run_id = self.store.get_run(run_id).parent_id or top
        return False

    def _top(self, run_id: str) -> str:
        """The top-level run above ``run_id`` (a tenant run's parent; a sub-playbook run's caller's)."""
        for _ in range(100):  # sub-playbooks nest a few levels (runner.playbook.subplaybooks)
            parent = self.store.get_run(run_id).parent_id
            if parent is None:
                break
            run_id = parent
        return run_id

    def _continue(self, run_id: str) -> int:
        run_id = self._top(run_id)  # a family is continued as a whole, from its top-level run
        if self.dispatcher.is_running(run_id):
            self._follow_up(run_id)
            return 0
        if not claim_waiting_run(self.store, run_id):
            return 0
        run = self.store.get_run(run_id)
        self.store.audit(run_id, "run_continued", data={"by": "soar serve"})
        return int(self.dispatcher.resume(run_id, run.playbook_name))

    def _follow_up(self, run_id: str) -> None:
        """The run's task is still going here: look again as soon as it ends (once, however many
        decisions came in meanwhile); a gate it did not pass then is continued at once."""
        when_done = getattr(self.dispatcher, "when_done", None)  # a front's jobs: the sweep picks them up
        if run_id in self._following or when_done is None:
            return
        if when_done(run_id, lambda: self._followed(run_id)):
            self._following.add(run_id)

    def _followed(self, run_id: str) -> None:
        self._following.discard(run_id)
        try:
            if run_id in {self._top(r) for r in decided_waiting_runs(self.store)}:
                self._continue(run_id)
        except SoarError as exc:  # the store blinked: the sweep continues it
            log.error("run %s could not be continued after its task ended: %s", run_id, exc)

    def _on_timeout(self, record: Any) -> str:
        try:
            run = self.store.get_run(record.run_id)
            playbook = self.loader.load_text(run.playbook_text, run.playbook_path or "<stored>", check=False)
        except SoarError:
            return "deny"
        step = next((s for s in playbook.all_steps() if s.id == record.step_id), None)
        spec = step.approval if step is not None else None
        return spec.on_timeout if spec is not None else "deny"
