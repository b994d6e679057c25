"""Live progress while a run executes (rich), and the summary table at the end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich loads when something is drawn: `soar run --json` draws nothing (start-up)
    from rich.console import Console
    from rich.table import Table

STATUS_STYLE = {
    "succeeded": "green", "failed": "red", "skipped": "dim", "running": "cyan",
    "waiting_approval": "yellow", "cancelled": "magenta", "pending": "dim",
}


class ProgressView:
    """Receives engine events; renders one row per (tenant, step) with foreach items done/total.

    ``live``: a table redrawn in place (terminals). ``lines``: one printed line per finished step
    (progress that still shows as it happens when the output is piped or logged)."""

    def __init__(self, console: Console, live: bool = True, lines: bool = False):
        self.console = console
        self.rows: dict[tuple, dict] = {}
        self.order: list[tuple] = []
        self.started = time.perf_counter()
        self.live = None
        if live:
            from rich.live import Live

            self.live = Live(console=console, refresh_per_second=8, transient=True)
        self.lines = lines
        self._last = 0.0

    def __enter__(self) -> "ProgressView":
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.live.__exit__(*exc)

    def __call__(self, kind: str, **data: Any) -> None:
        tenant = data.get("tenant")
        step = data.get("step")
        key = (tenant, step)
        if kind == "step_start":
            if key not in self.rows:
                self.order.append(key)
            total = 1 if data.get("action") == "parallel" else data.get("total", 1)
            self.rows[key] = {"status": "running", "done": 0, "total": total, "action": data.get("action", ""),
                              "error": None, "failed": 0, "retries": 0, "approved_by": None}
        elif kind == "item_done" and key in self.rows:
            self.rows[key]["done"] += 1
            if data.get("status") in ("failed", "skipped"):
                self.rows[key][data["status"]] = self.rows[key].get(data["status"], 0) + 1
        elif kind == "retry" and key in self.rows:
            self.rows[key]["retries"] += 1
        elif kind == "step_done":
            row = self.rows.setdefault(key, {"done": 0, "total": 1, "action": "", "failed": 0, "retries": 0})
            if key not in self.order:
                self.order.append(key)
            row["status"] = data["status"]
            row["error"] = data.get("error")
            if row["total"] == 1 and data["status"] in ("succeeded", "failed"):
                row["done"] = 1
            if self.lines:
                self._line(key, row)
        elif kind == "waiting_approval" and key in self.rows:
            self.rows[key]["status"] = "waiting_approval"
            if self.lines:
                self._line(key, self.rows[key])
        elif kind == "approved" and key in self.rows:
            self.rows[key]["approved_by"] = data.get("actor")
        self._refresh()

    def _line(self, key: tuple, row: dict) -> None:
        from rich.markup import escape

        status = row.get("status", "pending")
        style = STATUS_STYLE.get(status, "")
        where = f"{key[0]:<10} " if key[0] else ""
        items = f" {_items(row, ' items')}" if row.get("total", 1) != 1 else ""
        extra = f" ({row['retries']} retries)" if row.get("retries") else ""
        if row.get("approved_by"):
            extra += f" [yellow]({escape(row['approved_by'])}d)[/]"
        elapsed = time.perf_counter() - self.started
        self.console.print(f"  {elapsed:6.2f}s  {escape(where)}{escape(str(key[1] or '')):<12} "
                           f"[{style}]{status}[/]{items}{extra}")

    def _refresh(self) -> None:
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last < 0.1:
            return
        self._last = now
        self.live.update(self.table(live=True))

    def table(self, live: bool = False) -> Table:
        """The steps as a rich table (identifiers kept whole: :mod:`runner.cli.tables`)."""
        from runner.cli.tables import rich_table

        columns, rows, ids = self.rows_table()
        return rich_table(columns, rows, ids=ids, justify={len(columns) - 1: "right"})

    def print_table(self, console: Console) -> None:
        """The steps as a table on a terminal, plain lines otherwise (nothing cut short)."""
        from runner.cli.tables import print_table

        columns, rows, ids = self.rows_table()
        print_table(console, columns, rows, ids=ids, justify={len(columns) - 1: "right"})

    def rows_table(self) -> tuple[list[str], list[list[Any]], tuple[int, ...]]:
        """(columns, rows, indexes of the identifier columns) of the steps seen so far."""
        from rich.text import Text

        multi = any(t for t, _ in self.order)
        columns = (["tenant"] if multi else []) + ["step", "action", "status", "items"]
        ids = (0, 1, 2) if multi else (0, 1)
        rows = []
        for key in self.order:
            row = self.rows[key]
            status = row.get("status", "pending")
            items = _items(row) if row.get("total", 1) != 1 else ""
            if row.get("retries"):
                items += f" ({row['retries']} retries)"
            if row.get("approved_by"):
                items += f" ({row['approved_by']})"
            cells = [key[1] or "", row.get("action", ""), Text(status, style=STATUS_STYLE.get(status, ""))]
            if multi:
                cells.insert(0, key[0] or "")
            rows.append([*cells, items])
        return columns, rows, ids


def summary(console: Console, result: Any, view: ProgressView | None, elapsed: float,
            outputs: bool = True) -> None:
    """Print the end-of-run summary: per-step table, errors, plan (dry-run), outputs, next steps."""
    if view is not None and view.order and not view.lines:
        view.print_table(console)
    status = result.status
    style = STATUS_STYLE.get(status, "")
    console.print(f"\nrun [bold]{result.run_id}[/] [{style}]{status}[/] in {elapsed:.2f}s")
    errors = [(None, result.error)] if result.error is not None and not result.children else []
    errors += [(name, child.error) for name, child in result.children.items() if child.error is not None]
    if getattr(result, "after_error", None) is not None:
        errors.append(("after_tenants", result.after_error))
    from rich.markup import escape

    for tenant, err in errors:
        head, _, hint = str(err).partition("\n  hint: ")
        prefix = f"[{tenant}] " if tenant else ""
        console.print(f"[red]error:[/] {escape(prefix + head)}")
        if hint:
            console.print(f"  [yellow]hint:[/] {escape(hint)}")
    for tenant, step, message in step_warnings(result):
        prefix = f"[{tenant}] " if tenant else ""
        console.print(f"[yellow]warning:[/] {escape(f'{prefix}step {step!r}: {message}')}")
    if result.plan:
        console.print("\n[bold]dry-run plan[/] (write and destructive actions not executed):")
        for entry in result.plan:
            from runner.secrets import mask

            where = f"{entry['tenant']}: " if entry.get("tenant") else ""
            item = f"[{entry['item']}]" if entry.get("item") is not None else ""
            console.print(f"  {escape(where)}{entry['step']}{item} → {entry['action']} ({entry['effect']}) "
                          f"{escape(_short(mask(entry['inputs'])))}")
            if entry.get("placeholders"):
                console.print(f"      [dim]inputs from placeholders:[/] {escape(', '.join(entry['placeholders']))}")
            if "output" in entry:
                console.print(f"      [dim]output (a placeholder for later steps):[/] {escape(_short(entry['output']))}")
    for run_id, step in result.waiting:
        console.print(f"[yellow]waiting for approval:[/] run {run_id} step '{step}' — "
                      f"`soar approve {run_id} {step}` or `soar deny {run_id} {step}`")
    if outputs and result.outputs:
        import json

        from runner.secrets import mask

        console.print("[bold]outputs:[/] " + escape(json.dumps(mask(result.outputs), default=str)[:2000]))
        if result.plan:
            from runner.placeholders import placeholder_paths

            held = placeholder_paths(result.outputs)
            if held:
                console.print(f"  [dim]outputs from dry-run placeholders:[/] {escape(', '.join(held))}")


def step_warnings(result: Any) -> list[tuple[str | None, str, str]]:
    """(tenant, step id, message) of every step warning of a run and its tenant runs."""
    runs = [(None, result)] + [(name, child) for name, child in result.children.items()]
    return [(tenant if tenant is not None else run.tenant, s["id"], w)
            for tenant, run in runs for s in run.steps for w in s.get("warnings") or ()]


def _items(row: dict, unit: str = "") -> str:
    text = f"{row['done']}/{row['total']}{unit}"
    if row.get("skipped"):
        text += f" ({row['skipped']} skipped)"
    if row.get("failed"):
        text += f" ({row['failed']} failed)"
    return text


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= 160 else text[:157] + "..."
