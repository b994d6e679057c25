"""The write buffer: non-durable step attempts and audit events waiting for the next commit.

Rows are kept in the form the database driver takes (JSON text; ISO text times on SQLite) and are
written with statements SQLAlchemy compiled once for the dialect, through the DBAPI cursor:
SQLAlchemy's per-row parameter processing and per-statement execution context would otherwise
cost more than everything else the engine does for a read step.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterator

from sqlalchemy import case

from . import tables as t

# positions in a buffered step row (tables.STEP_COLUMNS)
_STATUS, _OUTPUT, _REDACTED, _ERROR, _STARTED_AT, _FINISHED_AT, _CALLS = 6, 8, 9, 10, 11, 12, 13
_START_ONLY = ("action", "effect", "inputs", "started_at")


def dialect_insert(dialect_name: str, table):
    """An INSERT that knows ON CONFLICT, for SQLite or PostgreSQL."""
    if dialect_name == "sqlite":  # loaded by create_engine already
        from sqlalchemy.dialects import sqlite as dialect
    else:
        from sqlalchemy.dialects import postgresql as dialect
    return dialect.insert(table)


class WriteBuffer:
    """Buffered rows, in call order: one step row per attempt, then audit events.

    A finish merges into its buffered start. A finish whose start is already in the database is
    buffered as a row without ``started_at``; the upsert then keeps the stored start columns.
    """

    def __init__(self, dialect):
        self._dialect = dialect
        self._steps: dict[tuple, list] = {}  # attempt key -> row in tables.STEP_COLUMNS order
        self._events: list[tuple] = []
        self._positional = True
        self._sql_steps = self._upsert_steps()
        self._sql_events = self._compile(t.events.insert(), t.EVENT_COLUMNS)

    def __len__(self) -> int:
        return len(self._steps) + len(self._events)

    def start(self, key: tuple, row: list) -> int:
        """A new attempt row; starting the same attempt again replaces what was buffered for it.
        Returns the number of buffered rows (so do :meth:`finish` and :meth:`event`)."""
        if key in self._steps:
            del self._steps[key]  # and re-add at the end: the order rows are written in
        self._steps[key] = row
        return len(self._steps) + len(self._events)

    def finish(self, key: tuple, status: str, output, redacted: bool, error, now, calls=None) -> int:
        row = self._steps.get(key)
        if row is None:  # the start is in the database: write just the outcome
            row = self._steps[key] = [*key, "", "", status, None, None, False, None, None, None, None]
        row[_STATUS], row[_OUTPUT], row[_REDACTED], row[_ERROR], row[_FINISHED_AT], row[_CALLS] = (
            status, output, redacted, error, now, calls)
        return len(self._steps) + len(self._events)

    def event(self, row: tuple) -> int:
        self._events.append(row)
        return len(self._steps) + len(self._events)

    def write(self, cursor) -> None:
        """Write everything, one executemany per table (the caller commits)."""
        if self._steps:
            cursor.executemany(self._sql_steps, self._params(t.STEP_COLUMNS, self._steps.values()))
        if self._events:
            cursor.executemany(self._sql_events, self._params(t.EVENT_COLUMNS, self._events))

    def clear(self) -> None:
        self._steps.clear()
        self._events.clear()

    def steps_of(self, run_id: str) -> Iterator[tuple[tuple, bool, dict]]:
        """``(key, complete, values)`` for the run's buffered step rows, decoded like a read.
        ``complete`` is False for a finish whose start is in the database."""
        for key, row in self._steps.items():
            if key[0] == run_id:
                yield key, row[_STARTED_AT] is not None, self._decode(row)

    # ---- internals ----------------------------------------------------------------------------

    def _params(self, columns: tuple, rows) -> list:
        if self._positional:  # rows are already in the statement's parameter order
            return rows
        return [dict(zip(columns, row)) for row in rows]

    def _compile(self, stmt, columns: tuple) -> str:
        # for_executemany: no per-row sequence pre-fetch for the id (the database assigns it)
        compiled = stmt.compile(dialect=self._dialect, column_keys=list(columns), for_executemany=True)
        if compiled.positional and list(compiled.positiontup) != list(columns):
            raise AssertionError(f"unexpected parameter order {compiled.positiontup}")
        self._positional = compiled.positional
        return str(compiled)

    def _upsert_steps(self) -> str:
        stmt = dialect_insert(self._dialect.name, t.steps)
        new = stmt.excluded
        finish_only = new.started_at.is_(None)
        updates = {c: new[c] for c in t.STEP_COLUMNS[4:]}
        updates.update({c: case((finish_only, t.steps.c[c]), else_=new[c]) for c in _START_ONLY})
        stmt = stmt.on_conflict_do_update(index_elements=list(t.STEP_KEY), set_=updates)
        return self._compile(stmt, t.STEP_COLUMNS)

    @staticmethod
    def _decode(row: list) -> dict:
        values = dict(zip(t.STEP_COLUMNS, row))
        for column in ("inputs", "output", "error", "calls"):
            if values[column] is not None:
                values[column] = json.loads(values[column])
        for column in ("started_at", "finished_at"):
            if isinstance(values[column], str):
                values[column] = datetime.fromisoformat(values[column])
        return values
