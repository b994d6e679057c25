"""The notifications every process that runs playbooks sends (``soar serve``, ``soar run``,
``soar worker``): a card, a message and an email when an approval waits, and when a run fails,
to each channel configured in ``SOAR_NOTIFY_*`` (:mod:`soar_notify.settings`).

The observer hooks call :func:`approval_requested` and :func:`run_finished` in the engine's
event loop: they only build the message and queue it (:mod:`soar_notify.outbox`); a thread
sends it. A channel that fails is logged — with what to do — and never fails the run.

These notifications are the process operator's configuration, like a log sink, not a step of a
run — but they go over the run's network, as its steps do (``RunInfo.http_client`` and
``RunInfo.check_connect``): on the real network to the configured webhooks and SMTP server;
under ``--simulate`` or ``--sim-url`` only to the hosts let out with ``--allow-host`` — any other
channel is not sent, and the log says which host to allow.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any
from urllib.parse import quote

import httpx

from runner.plugin import ApprovalInfo, RunInfo, SoarError

from soar_notify import cards, smtp, webhook
from soar_notify.message import Link, Message, clip
from soar_notify.outbox import OUTBOX
from soar_notify.settings import Settings, load

log = logging.getLogger("soar.notify")
_said: set[str] = set()  # settings problems already logged (once per process)
PLAN_NAMES = 5  # items of a plan named in a message


def _path(*segments: str) -> str:
    return "/".join(quote(s, safe="") for s in segments)


def approval_url(console: str, run_id: str, step_id: str) -> str:
    """The console's page of the gate: where a signed-in approver decides."""
    return f"{console}/approvals/{_path(run_id, step_id)}"


def run_url(console: str, run_id: str) -> str:
    return f"{console}/runs/{_path(run_id)}"


def _when(value: Any) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _plan_facts(plan: Any) -> list[tuple[str, str]]:
    if not isinstance(plan, dict) or not plan.get("action"):
        return []
    facts = [("Action", f"{plan['action']} ({plan.get('effect', '?')})")]
    items = plan.get("items") or []
    if plan.get("foreach") or len(items) > 1:
        count = len(items) + int(plan.get("more") or 0)
        names = [str(i.get("name") or f"item {i.get('item')}") for i in items[:PLAN_NAMES] if isinstance(i, dict)]
        more = f", and {count - len(names)} more" if count > len(names) else ""
        facts.append(("Items", f"{count}: {', '.join(names)}{more}" if names else str(count)))
    return facts


def approval_message(run: RunInfo, approval: ApprovalInfo, console: str) -> Message:
    """What is said of a waiting approval, with its approve/deny links to the console."""
    step = approval.step_name or approval.step_id
    facts: list[tuple[str, str]] = [("Playbook", approval.playbook or run.playbook)]
    if approval.tenant:
        facts.append(("Tenant", approval.tenant))
    facts.append(("Step", approval.step_id if step == approval.step_id else f"{step} ({approval.step_id})"))
    facts += _plan_facts(approval.plan)
    facts.append(("Who may decide", ", ".join(approval.approvers) if approval.approvers else
                  "anyone allowed to approve"))
    if (expires := _when(approval.expires_at)) is not None:
        facts.append(("Expires", expires))
    facts.append(("Run", approval.run_id))
    page = approval_url(console, approval.run_id, approval.step_id)
    links = (Link("Approve", f"{page}?decision=approve", "primary"),
             Link("Deny", f"{page}?decision=deny", "danger"),
             Link("Open the run", run_url(console, approval.run_id)))
    title = f"Approval needed: {clip(step, 80)} in {approval.playbook or run.playbook}"
    return Message(title=title, text=approval.message, facts=tuple(facts), links=links, color="warning")


def failure_message(run: RunInfo, console: str) -> Message:
    """What is said of a failed run, with a link to it in the console."""
    facts = [("Playbook", run.playbook)]
    if run.tenant:
        facts.append(("Tenant", run.tenant))
    facts.append(("Run", run.run_id))
    title = f"Run failed: {run.playbook}" + (f" ({run.tenant})" if run.tenant else "")
    return Message(title=title, text=run.error or "the run failed (no message)", facts=tuple(facts),
                   links=(Link("Open the run", run_url(console, run.run_id)),), color="attention")


def deliver(settings: Settings, message: Message, what: str, run: RunInfo) -> dict[str, str | None]:
    """Send ``message`` to every configured channel, now (in the calling thread), over ``run``'s
    network. Per channel: ``None`` when it was sent, else the error's message (also logged)."""
    results: dict[str, str | None] = {}
    client: httpx.Client | None = None
    try:
        for channel in settings.channels:
            try:
                if channel == "email":
                    _email(settings, message, run)
                else:
                    if client is None:
                        client = run.http_client(verify=settings.ca_bundle or True, timeout=settings.timeout,
                                                 headers={"User-Agent": "soar-notify"})
                    url = getattr(settings, channel).reveal()
                    payload = cards.teams_payload(message) if channel == "teams" else cards.slack_payload(message)
                    webhook.post_sync(client, channel, url, payload, settings.timeout)
            except SoarError as err:
                results[channel] = err.message
                log.warning("could not notify %s of %s: %s%s", channel, what, err.message,
                            f" ({err.hint})" if err.hint else "")
            else:
                results[channel] = None
                log.info("notified %s of %s", channel, what)
    finally:
        if client is not None:
            client.close()
    return results


def _email(settings: Settings, message: Message, run: RunInfo) -> None:
    email = settings.email
    assert email is not None
    run.check_connect(email.server.host, email.server.port, "SMTP")
    subject, body = cards.email_parts(message)
    refused = smtp.send(email.server, smtp.build(email.sender, list(email.to), subject, body))
    for address, (code, text) in refused.items():
        log.warning("%s refused the recipient %s (%s %s)", email.server.where, address, code, text)


def _settings_for(event: str) -> Settings | None:
    settings = load()
    for problem in settings.problems:
        if problem not in _said:
            _said.add(problem)
            log.error("notifications: %s", problem)
    if event not in settings.events or not settings.channels:
        return None
    return settings


def approval_requested(run: RunInfo, approval: ApprovalInfo) -> None:
    """Queue the notification of a waiting approval (the ``soar_approval_requested`` hook)."""
    if run.dry_run:
        return
    settings = _settings_for("approval")
    if settings is None:
        return
    message = approval_message(run, approval, settings.console_url)
    what = f"the approval waiting at step '{approval.step_id}' of run {approval.run_id}"
    OUTBOX.put(what, lambda: deliver(settings, message, what, run))


def run_finished(run: RunInfo) -> None:
    """Queue the notification of a failed run (the ``soar_run_finished`` hook): a top-level run
    only — a tenant's or a sub-playbook's failure is told with the run that holds it."""
    if run.status != "failed" or run.dry_run or run.parent_id is not None:
        return
    settings = _settings_for("failed")
    if settings is None:
        return
    message = failure_message(run, settings.console_url)
    what = f"the failure of run {run.run_id}"
    OUTBOX.put(what, lambda: deliver(settings, message, what, run))
