"""The run store: run history, step attempts, audit trail and approvals (SQLite or PostgreSQL).

A run is fully described by its row — playbook text, inputs, trigger, tenant, status — and its
step attempts, so any process can resume it. See :class:`RunStore` for the durability rules.

    runstore.py  RunStore: the API the engine and the CLI use
    database.py  Database: engine, connection, lock and transactions under one RunStore
    buffer.py    WriteBuffer: non-durable rows waiting for the next commit
    records.py   the records handed back, run ids, masked JSON
    tables.py    the schema (SQLAlchemy Core)
    connect.py   store URLs and the Engine (SQLite pragmas, PostgreSQL pooling)
"""

from .connect import default_store_url
from .records import ApprovalRecord, EventRecord, RunRecord, StepRecord
from .runstore import RunStore

__all__ = ["RunStore", "RunRecord", "StepRecord", "ApprovalRecord", "EventRecord", "default_store_url"]
