"""Notifications for soar-runner: Microsoft Teams, Slack and email.

It imports only ``runner.plugin`` (the plugin author's surface) and adds:

- actions — ``notify.teams`` (an Adaptive Card to a Teams Workflows or incoming webhook),
  ``notify.slack`` (Block Kit to a Slack incoming webhook) and ``notify.email`` (SMTP with
  STARTTLS), for playbooks (:mod:`soar_notify.actions`);
- observers — when an approval waits (``soar_approval_requested``: approve/deny links to the
  console) and when a run fails (``soar_run_finished``), a notification to every channel set in
  ``SOAR_NOTIFY_*`` (:mod:`soar_notify.notifier`, :mod:`soar_notify.settings`).

The entry point in pyproject.toml (``[project.entry-points."soar.plugins"] notify =
"soar_notify"``) names this module. docs/notify.md tells how to set it up.
"""

from __future__ import annotations

from runner.plugin import ApprovalInfo, RegisterAction, RunInfo, hookimpl


@hookimpl
def register_actions(register: RegisterAction) -> None:
    from soar_notify.actions import ACTIONS

    for action in ACTIONS:
        register(action)


@hookimpl
def soar_approval_requested(run: RunInfo, approval: ApprovalInfo) -> None:
    from soar_notify import notifier

    notifier.approval_requested(run, approval)


@hookimpl
def soar_run_finished(run: RunInfo) -> None:
    if run.status != "failed":  # the common case costs nothing more
        return
    from soar_notify import notifier

    notifier.run_finished(run)
