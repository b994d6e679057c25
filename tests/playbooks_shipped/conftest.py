"""Run the shipped playbooks (playbooks/*.yaml) and `soar demo` through the CLI, in-process,
against a simulated cloud the test can inspect and seed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from shipped_helpers import Cli

# the workflow tests' real HTTP receiver on 127.0.0.1 (the chat webhook of the newcomer playbooks)
sys.path.insert(0, str(Path(__file__).parents[1] / "workflow"))
import wf_receiver  # noqa: E402


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def make_sim(monkeypatch):
    """``make_sim(**defender_knobs)``: the one SimulatedCloud every `--simulate` run (and `soar demo`)
    in this test gets. Its clock runs 600x (machine actions finish in 0.3 s instead of 3 s)."""
    import runner.sim

    real = runner.sim.SimulatedCloud

    def make(**knobs: Any):
        cloud = real(defender={"time_scale": 600, **knobs})
        monkeypatch.setattr(runner.sim, "SimulatedCloud", lambda *a, **k: cloud)
        return cloud

    return make


@pytest.fixture
def sim(make_sim):
    return make_sim()


@pytest.fixture
def receiver(tmp_path):
    """A real HTTP server on 127.0.0.1 that records every request (wf_receiver.Receiver)."""
    rec = wf_receiver.start(tmp_path)
    yield rec
    wf_receiver.stop(rec)
