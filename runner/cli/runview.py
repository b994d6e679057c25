"""How runs and approvals read on the console: ``soar runs show``, ``soar approvals list``.

Identifiers — run ids, step ids, action, tenant and playbook names — are never cut short: a
gate is printed as a block of lines (which the terminal wraps, and ``grep`` sees whole), and the
tables go through :func:`runner.cli.tables.print_table`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from rich.markup import escape

from runner.secrets import mask
from runner.store.approval_queue import with_run_details

__all__ = ["approval_lines", "print_run", "when", "with_run_details"]

UTC = timezone.utc
CALLS_SHOWN = 50  # API call rows `soar runs show` prints (--json has them all)


def when(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "-"


def _left(t: datetime, now: datetime) -> str:
    seconds = int((t - now).total_seconds())
    if seconds <= 0:
        return "passed"
    hours, rest = divmod(seconds, 3600)
    return f"in {hours}h {rest // 60:02d}m" if hours else f"in {rest // 60}m {rest % 60:02d}s"


def _compact(value: Any) -> str:
    return json.dumps(mask(value), ensure_ascii=False, separators=(", ", ": "), default=str)


def approval_lines(a: Any, *, items: int | None = 20, decide: bool = True) -> list[str]:
    """A gate as console lines (rich markup, values escaped): what it asks, where, who may
    decide, until when, and the plan of the gated step — item by item, inputs masked."""
    now = datetime.now(UTC)
    name = f" ({escape(a.step_name)})" if a.step_name else ""
    lines = [f"[bold]run {a.run_id}[/]  step [bold]{escape(a.step_id)}[/]{name}  "
             f"tenant {escape(a.tenant or '-')}  playbook {escape(a.playbook or '-')}  ({a.status})",
             f"  {escape(a.message)}"]
    plan = a.plan if isinstance(a.plan, dict) else None
    if plan and plan.get("message_error"):
        lines.append(f"  [yellow]the message could not be rendered:[/] {escape(plan['message_error'])}")
    expires = when(a.expires_at) + (f" ({_left(a.expires_at, now)})" if a.expires_at else " (never)")
    lines.append(f"  approvers: {escape(', '.join(a.approvers) or 'anyone')}   requested {when(a.requested_at)}"
                 f"   expires {expires}")
    if a.decided_at is not None:
        reason = f": {escape(a.reason)}" if a.reason else ""
        lines.append(f"  {a.status} by {escape(a.decided_by or '?')} at {when(a.decided_at)}{reason}")
    if plan is None:
        lines.append("  plan: not recorded (the gate predates plans)")
    else:
        entries = plan.get("items") or []
        total = len(entries) + int(plan.get("more") or 0)
        what = f"{total} item(s)" if plan.get("foreach") else "one call"
        extra = [f"{plan['skipped']} skipped"] if plan.get("skipped") else []
        extra += [f"{len(plan['errors'])} with inputs that fail"] if plan.get("errors") else []
        lines.append(f"  plan: {escape(plan.get('action', '?'))} ({escape(str(plan.get('effect', '?')))}), {what}"
                     + (f" ({', '.join(extra)})" if extra else ""))
        shown = entries if items is None else entries[:items]
        for e in shown:
            label = "" if e.get("item") is None else f"[{e['item']}] "
            title = f"{escape(e['name'])}: " if e.get("name") else ""
            lines.append(f"    {label}{title}{escape(_compact(e.get('inputs')))}")
        hidden = total - len(shown)
        if hidden > 0:
            lines.append(f"    ... and {hidden} more item(s): `soar runs show {a.run_id}` lists "
                         f"{'them' if not plan.get('more') else 'the first ' + str(len(entries))}")
        for err in (plan.get("errors") or [])[:5]:
            label = "" if err.get("item") is None else f"[{err['item']}] "
            lines.append(f"    [red]{label}{escape(str(err.get('error')))}[/]")
    if decide and a.status == "pending":
        lines.append(f"  decide: soar approve {a.run_id} {escape(a.step_id)}  |  soar deny {a.run_id} {escape(a.step_id)}")
    return lines


def print_run(out: Any, store: Any, run: Any) -> None:
    """``soar runs show RUN``: the run, its tenant runs with their errors, every step attempt,
    the approvals with their plans, and the audit trail."""
    from runner.cli.origin import RunOrigin
    from runner.cli.tables import print_table

    children = store.children(run.id)
    family = [run, *children]
    label = {r.id: r.tenant or ("(parent)" if r is run and children else "-") for r in family}
    tenants = f"tenant {escape(run.tenant)}" if run.tenant else \
        f"tenants {escape(', '.join(c.tenant or c.id for c in children))}" if children else "no tenant"
    out.print(f"[bold]run {run.id}[/]  playbook {escape(run.playbook_name)}  {tenants}  "
              f"status [bold]{run.status}[/]" + ("  (dry run)" if run.dry_run else ""))
    out.print(f"  created {when(run.created_at)}   finished {when(run.finished_at)}")
    origin = RunOrigin.from_json(run.origin)
    if origin is not None:
        out.print(f"  started against {escape(origin.describe())}")
    if run.rerun_of:
        out.print(f"  rerun of {run.rerun_of}")
    if run.cancel_requested_at is not None:
        out.print(f"  cancel requested by {escape(run.cancel_requested_by or '?')} at {when(run.cancel_requested_at)}")
    _print_error(out, "error", run.error)
    if children:
        print_table(out, ("run", "tenant", "status", "error"),
                    [(c.id, c.tenant or "", c.status, _error_text(c.error)) for c in children],
                    ids=(0, 1), title="tenant runs")
    rows, calls = [], []
    for r in family:
        for s in store.step_records(r.id):
            rows.append((label[r.id], s.step_id, "" if s.item is None else str(s.item), str(s.attempt),
                         s.action or "", s.effect or "", s.status, _error_text(s.error)))
            calls += _call_rows(label[r.id], s)
    if rows:
        print_table(out, ("tenant", "step", "item", "attempt", "action", "effect", "status", "error"), rows,
                    ids=(0, 1, 4), title="step attempts")
    if calls:
        shown = calls[:CALLS_SHOWN]
        print_table(out, ("tenant", "step", "item", "attempt", "api", "method", "path", "status", "ms", "429s waited"),
                    shown, ids=(0, 1, 6), title="API calls", justify={8: "right"})
        if len(calls) > len(shown):
            out.print(f"  ... and {len(calls) - len(shown)} more: `soar runs show {run.id} --json` has every "
                      "attempt's calls")
    gates = with_run_details(store, store.approvals_of([r.id for r in family]))
    if gates:
        out.print("[bold]approvals[/]")
        for a in gates:
            for line in approval_lines(a, items=None):
                out.print(line)
    events = sorted((e for r in family for e in store.events(r.id)), key=lambda e: (e.ts, e.id))
    if events:
        print_table(out, ("time", "tenant", "event", "step", "by", "details"),
                    [(when(e.ts), label.get(e.run_id, "-"), e.kind, e.step_id or "", e.actor or "",
                      _compact(e.data) if e.data else "") for e in events],
                    ids=(1, 2, 3), title="audit trail")
    if run.outputs is not None:
        out.print("[bold]outputs:[/] " + escape(_compact(run.outputs)))


def _call_rows(tenant: str, step: Any) -> list[tuple]:
    """The API calls of one step attempt as table rows (the store keeps the first ones of many;
    a last row says how many more there were)."""
    made = step.calls if isinstance(getattr(step, "calls", None), dict) else None
    if not made:
        return []
    item = "" if step.item is None else str(step.item)
    rows = []
    for c in made.get("calls") or []:
        waited = f"{c.get('throttled')} ({c.get('waited_s', 0):g}s)" if c.get("throttled") else ""
        rows.append((tenant, step.step_id, item, str(step.attempt), c.get("api", ""), c.get("method", ""),
                     c.get("path", ""), "-" if c.get("status") is None else str(c["status"]),
                     f"{c.get('ms', 0):.0f}", waited))
    more = int(made.get("total") or 0) - len(rows)
    if more > 0:
        rows.append((tenant, step.step_id, item, str(step.attempt), "", "", f"... {more} more not kept", "", "", ""))
    return rows


def _error_text(error: Any) -> str:
    if not error:
        return ""
    if isinstance(error, dict):
        message = str(error.get("message", error))
        where = error.get("where") if isinstance(error.get("where"), dict) else {}
        step = where.get("step")
        return f"{message} (step {step})" if step and f"'{step}'" not in message else message
    return str(error)


def _print_error(out: Any, title: str, error: Any) -> None:
    if error:
        out.print(f"[red]{title}:[/] {escape(_error_text(error))}")
        hint = error.get("hint") if isinstance(error, dict) else None
        if hint:
            out.print(f"  [yellow]hint:[/] {escape(str(hint))}")
