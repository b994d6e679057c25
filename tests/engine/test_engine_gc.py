"""Engine.prepare moves only long playbooks out of the garbage collector's way, and collects
first: a long-running `soar serve` must not freeze garbage into the permanent generation."""

from __future__ import annotations

import gc

import pytest

from runner.engine import run as engine_run
from runner.engine.run import Engine
from runner.testing import SoarRunner, make_cloud


@pytest.fixture
def runner(tmp_path):
    with SoarRunner(make_cloud(["contoso"]), workdir=tmp_path) as r:
        yield r


def _playbook(n: int) -> str:
    steps = "".join(f"  - id: s{i}\n    action: core.set\n    with: {{v: {i}}}\n" for i in range(n))
    return f"name: chain\nsteps:\n{steps}"


def test_small_playbooks_are_not_frozen_long_ones_are_collected_then_frozen(runner, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(engine_run, "FREEZE_FROM_STEPS", 5)
    engine = Engine(runner.services)
    engine.prepare(runner.load(_playbook(3)))
    assert calls == []
    long = runner.load(_playbook(6))
    engine.prepare(long)
    engine.prepare(long)  # once per playbook object
    assert calls == ["collect", "freeze"]
