"""Tables whose cells are never cut short.

On a terminal, a rich table: identifier columns (run ids, step ids, action, tenant and
playbook names) keep their full width and the other columns wrap — never an ellipsis; if the
terminal is too narrow even for the identifiers, plain lines, which the terminal wraps. Piped or
redirected, one plain line per row (columns padded with spaces, no colours), so ``soar actions
list | grep NAME`` finds every name whole whatever ``COLUMNS`` says.

Cells are plain text (never read as rich markup) or :class:`rich.text.Text` for a styled cell.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def print_table(console: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
                ids: Iterable[int] = (), title: str | None = None, header: bool = True,
                justify: dict[int, str] | None = None) -> None:
    """Print ``rows`` under ``columns`` on ``console``. ``ids``: the indexes of the columns
    holding identifiers (kept whole on a terminal); ``justify``: index -> "right" etc."""
    rows = [list(row) for row in rows]
    ids = set(ids)
    justify = justify or {}
    if console.is_terminal:
        from rich.measure import Measurement

        table = rich_table(columns, rows, ids=ids, title=title, header=header, justify=justify)
        # too narrow even for the identifiers: plain lines, which the terminal wraps whole
        if Measurement.get(console, console.options.update_width(1 << 16), table).minimum <= console.width:
            console.print(table)
            return
    texts = [[_plain(cell) for cell in row] for row in rows]
    lines = ([list(columns)] if header else []) + texts
    if not lines:
        return
    if title:
        console.out(title, highlight=False)
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    for line in lines:
        cells = [cell.rjust(widths[i]) if justify.get(i) == "right" else cell.ljust(widths[i])
                 for i, cell in enumerate(line)]
        console.out("  ".join(cells).rstrip(), highlight=False)


def _plain(cell: Any) -> str:
    text = cell.plain if hasattr(cell, "plain") else "" if cell is None else str(cell)
    return " ".join(text.split("\n"))  # one row, one line: grep sees the whole row


def rich_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, ids: Iterable[int] = (),
               title: str | None = None, header: bool = True, justify: dict[int, str] | None = None) -> Any:
    """The terminal form of :func:`print_table`: a rich table (e.g. for a live view)."""
    from rich.table import Table
    from rich.text import Text

    ids, justify = set(ids), justify or {}
    table = Table(box=None, header_style="bold", title=title, show_header=header, pad_edge=False)
    for i, name in enumerate(columns):
        width = None
        if i in ids:  # a fixed width: rich narrows the other columns first
            width = max([len(name)] + [len(line) for row in rows for line in _plain_lines(row[i])])
        table.add_column(name, overflow="fold", width=width, justify=justify.get(i, "left"))
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text("" if cell is None else str(cell))
                        for cell in row))
    return table


def _plain_lines(cell: Any) -> list[str]:
    text = cell.plain if hasattr(cell, "plain") else "" if cell is None else str(cell)
    return text.split("\n")
