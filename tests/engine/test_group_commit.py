"""Group commit: the durable records of concurrently running write items share transactions,
and still every item's "about to send" record is committed before its action runs."""

from __future__ import annotations

import asyncio
import sqlite3

from pydantic import BaseModel

from runner import Action, hookimpl
from runner.engine.run import Engine
from runner.errors import StoreError
from runner.testing import SoarRunner, make_cloud

PLAYBOOK = """
name: probe
steps:
  - id: send
    action: probe.send
    foreach: "${{ range(%d) | list }}"
    concurrency: %d
    with: {n: "${{ item }}"}
"""


class ProbeInput(BaseModel):
    n: int


class Probe:
    """A write action that looks, through a connection of its own (what a crash leaves), at its
    own step row when it runs."""

    def __init__(self, db: str):
        self.db = db
        self.sent: list[int] = []

    async def send(self, ctx, inputs: ProbeInput) -> dict:
        with sqlite3.connect(self.db) as conn:
            row = conn.execute("SELECT status FROM steps WHERE run_id=? AND step_id=? AND item=?",
                               (ctx.run_id, ctx.step_id, ctx.item)).fetchone()
        self.sent.append(inputs.n)
        await asyncio.sleep(0)
        return {"n": inputs.n, "seen": row[0] if row else None}

    @hookimpl
    def register_actions(self, register):
        register(Action(name="probe.send", summary="probe", func=self.send, input_model=ProbeInput,
                        effect="write", needs_tenant=False))


def _runner(tmp_path):
    probe = Probe(str(tmp_path / "soar.db"))
    return SoarRunner(make_cloud(["contoso"]), workdir=tmp_path, plugins=[probe]), probe


def test_each_item_is_durably_started_before_it_sends_and_commits_are_shared(tmp_path):
    runner, probe = _runner(tmp_path)
    with runner:
        engine = Engine(runner.services)
        result = asyncio.run(engine.start(runner.load(PLAYBOOK % (40, 20))))

        assert result.status == "succeeded", result.error
        outputs = runner.services.store.step_records(result.run_id)
        assert sorted(probe.sent) == list(range(40))
        assert [r.output["seen"] for r in outputs] == ["running"] * 40  # durable before the call
        assert all(r.status == "succeeded" for r in outputs)
        # 80 durable records (a start and a finish per item); one commit each before
        assert engine.group_commit.commits <= 12


def test_an_item_whose_start_cannot_be_committed_is_not_sent(tmp_path, monkeypatch):
    runner, probe = _runner(tmp_path)
    with runner:
        store = runner.services.store

        real_flush, calls = store.flush, []

        def flush_fails_once():  # the group commit of the five starts fails; later ones work
            calls.append(1)
            if len(calls) == 1:
                raise StoreError("disk full")
            real_flush()

        monkeypatch.setattr(store, "flush", flush_fails_once)
        result = asyncio.run(Engine(runner.services).start(runner.load(PLAYBOOK % (5, 5))))

        assert result.status == "failed"
        assert "disk full" in result.error.message and result.error.where.step == "send"
        assert probe.sent == []


class ReconcilingProbe(Probe):
    """The same write action with a ``reconcile`` hook: a resume can ask the target, so its
    "finished" row is committed with the next commit instead of being waited for. Each call looks
    at the previous item's row through its own connection."""

    async def send(self, ctx, inputs: ProbeInput) -> dict:
        with sqlite3.connect(self.db) as conn:
            row = conn.execute("SELECT status FROM steps WHERE run_id=? AND step_id=? AND item=?",
                               (ctx.run_id, ctx.step_id, ctx.item - 1)).fetchone()
        self.sent.append(inputs.n)
        return {"n": inputs.n, "seen": row[0] if row else None}

    async def reconcile(self, ctx, inputs: ProbeInput):
        return None

    @hookimpl
    def register_actions(self, register):
        register(Action(name="probe.send", summary="probe", func=self.send, input_model=ProbeInput,
                        effect="write", needs_tenant=False, reconcile=self.reconcile))


def test_a_reconcilable_write_commits_its_finish_with_the_next_start_not_before_going_on(tmp_path):
    probe = ReconcilingProbe(str(tmp_path / "soar.db"))
    with SoarRunner(make_cloud(["contoso"]), workdir=tmp_path, plugins=[probe]) as runner:
        engine = Engine(runner.services)
        result = asyncio.run(engine.start(runner.load(PLAYBOOK % (6, 1))))

        assert result.status == "succeeded", result.error
        seen = [r.output["seen"] for r in runner.services.store.step_records(result.run_id)]
        # the previous item's finish reached the database with this item's durable start
        assert seen == [None] + ["succeeded"] * 5
        assert engine.group_commit.commits == 6  # one per item (its start), none per finish
    with sqlite3.connect(tmp_path / "soar.db") as conn:  # and the last finish by the run's end
        rows = conn.execute("SELECT status FROM steps WHERE run_id=?", (result.run_id,)).fetchall()
    assert [r[0] for r in rows] == ["succeeded"] * 6
