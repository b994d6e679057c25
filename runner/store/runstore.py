"""RunStore: run history, step attempts, audit trail and approvals in SQLite or PostgreSQL.

Durability is chosen per call. Rows written with ``durable=False`` (read steps, which are safe to
repeat after a crash) wait in a :class:`~runner.store.buffer.WriteBuffer` and reach the database in
one transaction — one executemany per table — at the next durable write, at
:meth:`RunStore.flush`, when the buffer holds :attr:`RunStore.buffer_limit` rows, or on
:meth:`RunStore.close`. A durable write (and every run or approval change) first writes the buffer,
then its own row, in one commit: when it returns, that row — and everything recorded before it —
survives a crash of the process.

Every JSON value is masked (Secrets and known secret values, see :func:`records.to_json`) when
the store is called, buffered or not.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, literal, select, update

from runner.errors import RunNotFound, StoreError
from runner.secrets import redact

from . import tables as t
from .approval_queue import may_decide, not_an_approver, refused_event
from .buffer import dialect_insert
from .connect import default_store_url
from .database import Database
from .records import (
    ApprovalRecord,
    EventRecord,
    RunRecord,
    StepRecord,
    approval_record,
    event_record,
    new_run_id,
    run_record,
    step_record,
    to_json,
    to_json_flagged,
)

UTC = timezone.utc
STATUSES = frozenset(
    {"pending", "running", "succeeded", "failed", "skipped", "waiting_approval", "cancelled"})
FINISHED = frozenset({"succeeded", "failed", "skipped", "cancelled"})
EFFECTS = frozenset({"read", "write", "destructive"})
_ANY = ...  # list_runs(parent_id=...) default: no filter on the parent


def _check(value: str, allowed: frozenset, what: str) -> None:
    if value not in allowed:
        raise StoreError(f"unknown {what} {value!r}; expected one of {', '.join(sorted(allowed))}")


def _item_text(item: int | None) -> str:
    return "" if item is None else f" item {item}"


class RunStore:
    """Run history, step attempts, audit events and approvals. Open with :meth:`open`.

    Safe to share between threads (one lock guards the buffer and the connection); several
    processes may use the same SQLite file or PostgreSQL database at once.
    """

    buffer_limit = 500

    def __init__(self, url: str):
        self._db = Database(url)
        # the hot path (step_started/step_finished) reaches these directly
        self._lock, self._buffer, self._now = self._db.lock, self._db.buffer, self._db.now
        self._flush_locked = self._db.flush_locked
        self._known_runs: set[str] = set()  # run ids seen to exist, so buffered rows cannot dangle

    @classmethod
    def open(cls, url: str | None = None) -> "RunStore":
        """Open (and create if needed) the store at ``url``; None means :func:`default_store_url`."""
        return cls(url if url is not None else default_store_url())

    @property
    def url(self) -> str:
        """The store URL, password masked, for display."""
        return self._db.url

    def close(self) -> None:
        """Write what is buffered, then release every connection. Calling it again does nothing."""
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url!r})"

    # ---- runs ---------------------------------------------------------------------------------

    def create_run(self, *, playbook_name: str, playbook_path: str | None, playbook_text: str,
                   inputs: dict, trigger: dict | None = None, tenant: str | None = None,
                   parent_id: str | None = None, dry_run: bool = False, status: str = "pending",
                   run_id: str | None = None, origin: dict | None = None,
                   rerun_of: str | None = None) -> str:
        """Record a new run, durably, and return its id (``r-`` + a time-ordered ULID by default).
        ``origin``: how it was started (what resuming it from another process needs)."""
        row = self._run_row(playbook_name=playbook_name, playbook_path=playbook_path,
                            playbook_text=playbook_text, inputs=inputs, trigger=trigger, tenant=tenant,
                            parent_id=parent_id, dry_run=dry_run, status=status, run_id=run_id,
                            origin=origin, rerun_of=rerun_of)
        self._insert_runs([row], doing="create a run")
        return row["id"]

    def create_run_family(self, *, playbook_name: str, playbook_path: str | None, playbook_text: str,
                          inputs: dict, tenants: list[str], trigger: dict | None = None,
                          dry_run: bool = False, run_id: str | None = None, origin: dict | None = None,
                          rerun_of: str | None = None) -> tuple[str, dict[str, str]]:
        """Record a multi-tenant run — a ``running`` parent and one ``pending`` child per tenant —
        in one transaction, so a crash leaves all of them or none. Returns ``(parent id,
        {tenant: child id})``."""
        common = dict(playbook_name=playbook_name, playbook_path=playbook_path, playbook_text=playbook_text,
                      inputs=inputs, trigger=trigger, dry_run=dry_run)
        parent = self._run_row(**common, tenant=None, status="running", run_id=run_id, origin=origin,
                               rerun_of=rerun_of)
        children = [self._run_row(**common, tenant=name, parent_id=parent["id"], status="pending",
                                  text=parent["playbook_text"], json_of=parent) for name in tenants]
        self._insert_runs([parent, *children], doing="create a run and its tenant runs")
        return parent["id"], {row["tenant"]: row["id"] for row in children}

    def _run_row(self, *, playbook_name, playbook_path, playbook_text, inputs, trigger, tenant,
                 parent_id=None, dry_run=False, status="pending", run_id=None, text=None,
                 json_of=None, origin=None, rerun_of=None) -> dict:
        _check(status, STATUSES, "run status")
        now = datetime.now(UTC)
        return dict(
            id=run_id or new_run_id(), parent_id=parent_id, playbook_name=playbook_name,
            playbook_path=playbook_path, tenant=tenant, dry_run=bool(dry_run), status=status,
            playbook_text=text if text is not None else redact(playbook_text),
            # children share the parent's (already masked) inputs and trigger
            inputs=json_of["inputs"] if json_of else to_json(inputs),
            trigger=json_of["trigger"] if json_of else to_json(trigger),
            origin=json_of["origin"] if json_of else to_json(origin), rerun_of=rerun_of,
            created_at=now, updated_at=now, started_at=now if status == "running" else None,
            finished_at=now if status in FINISHED else None,
        )

    def _insert_runs(self, rows: list[dict], *, doing: str) -> None:
        """Insert runs (parents before their children) in one durable commit."""
        new = {row["id"] for row in rows}

        def insert(conn):
            for row in rows:
                parent_id = row["parent_id"]
                if parent_id is not None and parent_id not in new and not self._run_exists(conn, parent_id):
                    raise RunNotFound(f"parent run '{parent_id}' does not exist",
                                      hint="create the parent run first")
                if self._run_exists(conn, row["id"]):
                    raise StoreError(f"a run with id '{row['id']}' already exists",
                                     hint="leave run_id unset to get a fresh id")
            conn.execute(t.runs.insert(), rows)

        self._db.commit(insert, doing=doing)
        with self._lock:
            self._known_runs.update(new)

    def update_run(self, run_id: str, *, status: str | None = None, outputs=None,
                   error: dict | None = None) -> None:
        """Change a run's status, outputs or error (None leaves a field as it is). Durable.

        ``started_at`` is set the first time the status becomes ``running``; ``finished_at`` when it
        becomes succeeded/failed/cancelled (and cleared if the run goes back to a live status).
        """
        now = datetime.now(UTC)
        values: dict[str, Any] = {"updated_at": now}
        if status is not None:
            _check(status, STATUSES, "run status")
            values["status"] = status
            values["finished_at"] = now if status in FINISHED else None
            if status == "running":
                values["started_at"] = func.coalesce(t.runs.c.started_at,
                                                     literal(now, t.UtcDateTime()))
        if outputs is not None:
            values["outputs"] = to_json(outputs)
        if error is not None:
            values["error"] = to_json(error)

        def change(conn):
            result = conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(values))
            if result.rowcount == 0:
                raise self._not_found(run_id)

        self._db.commit(change, doing="update a run")

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix (``r-`` may be left out)."""
        with self._db.read("read a run") as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
            if row is not None:
                return run_record(row)
            if not run_id:
                raise self._not_found(run_id)
            cond = t.runs.c.id.istartswith(run_id, autoescape=True)
            if not run_id.lower().startswith("r-"):
                cond = cond | t.runs.c.id.istartswith("r-" + run_id, autoescape=True)
            rows = conn.execute(select(t.runs).where(cond).order_by(t.runs.c.id).limit(6)).all()
        if len(rows) == 1:
            return run_record(rows[0])
        if not rows:
            raise self._not_found(run_id)
        shown = ", ".join(r.id for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise RunNotFound(f"run id prefix '{run_id}' is ambiguous: it matches {shown}",
                          hint="give more characters of the id (`soar runs list` shows them)")

    def list_runs(self, *, limit: int | None = 50, status: str | None = None,
                  playbook: str | None = None, parent_id: str | None = _ANY,
                  top_level_only: bool = False) -> list[RunRecord]:
        """Runs, newest first. ``parent_id``: only that run's children (None or ... = any parent);
        ``top_level_only``: only runs without a parent."""
        query = select(t.runs).order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc())
        if status is not None:
            query = query.where(t.runs.c.status == status)
        if playbook is not None:
            query = query.where(t.runs.c.playbook_name == playbook)
        if parent_id is not _ANY and parent_id is not None:
            query = query.where(t.runs.c.parent_id == parent_id)
        if top_level_only:
            query = query.where(t.runs.c.parent_id.is_(None))
        if limit is not None:
            query = query.limit(limit)
        with self._db.read("list runs") as conn:
            return [run_record(r) for r in conn.execute(query)]

    def children(self, run_id: str) -> list[RunRecord]:
        """The runs started under ``run_id`` (one per tenant, sub-playbooks), oldest first."""
        query = (select(t.runs).where(t.runs.c.parent_id == run_id)
                 .order_by(t.runs.c.created_at, t.runs.c.id))
        with self._db.read("list child runs") as conn:
            return [run_record(r) for r in conn.execute(query)]

    def runs_in_flight(self) -> list[RunRecord]:
        """Runs that are pending or running — to resume after a crash — oldest first."""
        query = (select(t.runs).where(t.runs.c.status.in_(("pending", "running")))
                 .order_by(t.runs.c.created_at, t.runs.c.id))
        with self._db.read("list runs in flight") as conn:
            return [run_record(r) for r in conn.execute(query)]

    # ---- step attempts ------------------------------------------------------------------------

    def step_started(self, run_id: str, step_id: str, *, item: int | None, attempt: int,
                     action: str, effect: str, inputs, durable: bool) -> None:
        """Record that an attempt started (status ``running``).

        ``durable=True`` (write/destructive steps): committed, with everything buffered before it,
        when this returns — call it before the action is sent. Starting the same attempt again
        replaces its row.
        """
        if effect not in EFFECTS:
            _check(effect, EFFECTS, "effect")
        key = (run_id, step_id, t.NO_ITEM if item is None else item, attempt)
        row = [*key, action, effect, "running", to_json(inputs), None, False, None, self._now(), None, None]
        with self._lock:
            if run_id not in self._known_runs or self._db.closed:
                self._check_run(run_id)
            if self._buffer.start(key, row) >= self.buffer_limit or durable:
                self._flush_locked()

    def step_finished(self, run_id: str, step_id: str, *, item: int | None, attempt: int,
                      status: str, output=None, error: dict | None = None, durable: bool,
                      calls: dict | None = None) -> None:
        """Record how an attempt ended. If its start is still buffered, the two make one row.

        The output is stored masked; ``output_redacted`` is true when masking hid something (a
        :class:`~runner.secrets.Secret`, as ``contains_secret`` finds, or a known secret value in
        text), so a resumed run knows the stored output is not the real one. ``calls``: the API
        calls the attempt made (:meth:`runner.apis.calllog.CallLog.doc`), stored masked with the row.
        """
        if status not in STATUSES:
            _check(status, STATUSES, "step status")
        key = (run_id, step_id, t.NO_ITEM if item is None else item, attempt)
        out, redacted = to_json_flagged(output)
        err = None if error is None else to_json(error)
        made = None if calls is None else to_json(calls)
        now = self._now()
        with self._lock:
            if run_id not in self._known_runs or self._db.closed:
                self._check_run(run_id)
            if self._buffer.finish(key, status, out, redacted, err, now, made) >= self.buffer_limit or durable:
                self._flush_locked()

    def step_records(self, run_id: str) -> list[StepRecord]:
        """Every attempt of the run's steps, in the order they started, buffered ones included."""
        query = select(t.steps).where(t.steps.c.run_id == run_id).order_by(t.steps.c.seq)
        with self._db.read("read step records") as conn:
            rows = {tuple(m[c] for c in t.STEP_KEY): dict(m)
                    for m in (r._mapping for r in conn.execute(query))}
            for key, complete, values in self._buffer.steps_of(run_id):
                if complete or key not in rows:
                    rows[key] = values  # what the upsert will write
                else:
                    rows[key].update({c: values[c] for c in t.STEP_FINISH_COLUMNS})
        return [step_record(m) for m in rows.values()]

    def flush(self) -> None:
        """Write every buffered row now, in one transaction."""
        with self._lock:
            self._flush_locked()

    # ---- audit trail --------------------------------------------------------------------------

    def audit(self, run_id: str | None, kind: str, *, step_id: str | None = None,
              data: dict | None = None, actor: str | None = None, durable: bool = False) -> None:
        """Append an event to the audit trail (``run_id`` None: not about one run)."""
        row = (run_id, self._now(), kind, step_id, to_json(data), actor)
        with self._lock:
            if (run_id is not None and run_id not in self._known_runs) or self._db.closed:
                self._check_run(run_id)
            if self._buffer.event(row) >= self.buffer_limit or durable:
                self._flush_locked()

    def events(self, run_id: str) -> list[EventRecord]:
        """The run's audit events, oldest first (writes buffered events first, to number them)."""
        query = select(t.events).where(t.events.c.run_id == run_id).order_by(t.events.c.id)
        with self._lock:
            self._flush_locked()
            with self._db.read("read audit events") as conn:
                return [event_record(r) for r in conn.execute(query)]

    # ---- approvals ----------------------------------------------------------------------------

    def request_approval(self, run_id: str, step_id: str, *, item: int | None = None,
                         message: str = "", approvers: list[str] | None = None,
                         expires_at: datetime | None = None, tenant: str | None = None,
                         playbook: str | None = None, step_name: str | None = None,
                         plan: dict | None = None, expires_in: float | None = None) -> None:
        """Ask for a human decision on a step. Durable; asking again for the same gate does nothing.
        ``plan``: what approving lets the step do (see :class:`ApprovalRecord`), stored masked;
        ``expires_in``: seconds from now until it expires (instead of ``expires_at``)."""
        now = datetime.now(UTC)
        if expires_in is not None:
            expires_at = now + timedelta(seconds=expires_in)
        row = dict(run_id=run_id, step_id=step_id, item=t.NO_ITEM if item is None else item,
                   status="pending", message=redact(message or ""),
                   approvers=to_json(list(approvers or [])), requested_at=now,
                   expires_at=expires_at, tenant=tenant, playbook=playbook,
                   step_name=None if step_name is None else redact(step_name), plan=to_json(plan))

        def insert(conn):
            if not self._run_exists(conn, run_id):
                raise self._not_found(run_id)
            conn.execute(dialect_insert(self._db.dialect, t.approvals).values(row).on_conflict_do_nothing())

        self._db.commit(insert, doing="request an approval")

    def decide_approval(self, run_id: str, step_id: str, *, approved: bool, actor: str,
                        reason: str = "", item: int | None = None, actor_oid: str | None = None) -> ApprovalRecord:
        """Approve or deny a pending gate, durably, and write an ``approval.approved``/``.denied``
        audit event (``actor_oid``: the signed-in decider's Entra object id, kept in its data). Raises :class:`StoreError` if that gate is not pending (the message says
        what there is instead), :class:`NotAnApprover` if the gate's ``approvers`` do not name
        ``actor`` (nothing changes but an ``approval.refused`` audit event)."""
        key = (t.approvals.c.run_id == run_id, t.approvals.c.step_id == step_id,
               t.approvals.c.item == (t.NO_ITEM if item is None else item))
        gate = f"step '{step_id}'{_item_text(item)} of run {run_id}"
        now = datetime.now(UTC)
        decision = "approved" if approved else "denied"

        def decide(conn):
            row = conn.execute(select(t.approvals).where(*key)).first()
            if row is None:
                raise self._no_approval(conn, run_id, gate)
            current = approval_record(row, now=now)
            if current.status == "expired":
                conn.execute(update(t.approvals).where(*key, t.approvals.c.status == "pending")
                             .values(status="expired"))
                return current
            if current.status != "pending":
                raise self._already_decided(current, gate)
            if not may_decide(current, actor):  # the gate's `approvers:` (issue #13: 3)
                conn.execute(t.events.insert().values(refused_event(current, actor, approved, now)))
                return current  # still pending: refused below, once the attempt is audited
            pending = t.approvals.c.status == "pending"
            done = conn.execute(update(t.approvals).where(*key, pending).values(
                status=decision, decided_at=now, decided_by=actor, reason=redact(reason or "")))
            if done.rowcount != 1:  # another process decided between our read and our write
                row = conn.execute(select(t.approvals).where(*key)).first()
                raise self._already_decided(approval_record(row), gate)
            data = {"item": item, "reason": reason or "", **({"actor_oid": actor_oid} if actor_oid else {})}
            conn.execute(t.events.insert().values(
                run_id=run_id, ts=now, kind=f"approval.{decision}", step_id=step_id,
                data=to_json(data), actor=actor))
            return approval_record(conn.execute(select(t.approvals).where(*key)).first())

        record = self._db.commit(decide, doing="decide an approval")
        if record.status == "pending":
            raise not_an_approver(record, actor, gate)
        if record.status == "expired":
            raise StoreError(f"the approval for {gate} expired at {record.expires_at:%Y-%m-%d %H:%M:%S} UTC",
                             hint="the run will treat the gate as expired; start a new run to ask again")
        return record

    def get_approval(self, run_id: str, step_id: str, item: int | None = None) -> ApprovalRecord | None:
        """The gate's approval (``expired`` once its ``expires_at`` passed undecided), or None."""
        query = select(t.approvals).where(
            t.approvals.c.run_id == run_id, t.approvals.c.step_id == step_id,
            t.approvals.c.item == (t.NO_ITEM if item is None else item))
        with self._db.read("read an approval") as conn:
            row = conn.execute(query).first()
        return None if row is None else approval_record(row, now=datetime.now(UTC))

    def pending_approvals(self) -> list[ApprovalRecord]:
        """Every gate waiting for a decision (expired ones left out), oldest request first."""
        query = (select(t.approvals).where(t.approvals.c.status == "pending")
                 .order_by(t.approvals.c.requested_at, t.approvals.c.run_id))
        now = datetime.now(UTC)
        with self._db.read("list pending approvals") as conn:
            records = [approval_record(r, now=now) for r in conn.execute(query)]
        return [r for r in records if r.status == "pending"]

    def approvals_of(self, run_ids: list[str]) -> list[ApprovalRecord]:
        """Every gate of these runs (whatever its status), oldest request first."""
        query = (select(t.approvals).where(t.approvals.c.run_id.in_(list(run_ids)))
                 .order_by(t.approvals.c.requested_at, t.approvals.c.run_id))
        now = datetime.now(UTC)
        with self._db.read("read approvals") as conn:
            return [approval_record(r, now=now) for r in conn.execute(query)]

    # ---- internals: errors --------------------------------------------------------------------

    def _not_found(self, run_id: str) -> RunNotFound:
        return RunNotFound(f"no run with id '{run_id}' in {self.url}",
                           hint="`soar runs list` shows recent runs")

    def _no_approval(self, conn, run_id: str, gate: str) -> StoreError:
        rows = conn.execute(select(t.approvals).where(t.approvals.c.run_id == run_id)
                            .order_by(t.approvals.c.requested_at)).all()
        now = datetime.now(UTC)
        there = [approval_record(r, now=now) for r in rows]
        if there:
            listed = "; ".join(f"step '{a.step_id}'{_item_text(a.item)} ({a.status})" for a in there)
            what = f"this run has approvals for: {listed}"
        elif self._run_exists(conn, run_id):
            what = "this run has no approval requests"
        else:
            return self._not_found(run_id)
        return StoreError(f"no approval was requested for {gate}; {what}",
                          hint="check the step id and item (`soar runs show` lists a run's steps)")

    @staticmethod
    def _already_decided(record: ApprovalRecord, gate: str) -> StoreError:
        by = f" by {record.decided_by}" if record.decided_by else ""
        at = f" at {record.decided_at:%Y-%m-%d %H:%M:%S} UTC" if record.decided_at else ""
        return StoreError(f"the approval for {gate} is not pending: it was {record.status}{by}{at}",
                          hint="a decision cannot be changed; start a new run to ask again")

    # ---- internals ----------------------------------------------------------------------------

    def _check_run(self, run_id: str) -> None:
        # a row for a run that does not exist would fail the whole buffered batch later; refuse it
        # now, at the call that brought it (one lookup per run and store). Raises if closed.
        with self._db.read("record a step or event") as conn:
            if run_id is not None and not self._run_exists(conn, run_id):
                raise self._not_found(run_id)
        if run_id is not None:
            self._known_runs.add(run_id)

    @staticmethod
    def _run_exists(conn, run_id: str) -> bool:
        return conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is not None
