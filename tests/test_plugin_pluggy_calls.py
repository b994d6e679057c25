"""Hooks are called through pluggy: hookwrappers (old and new style) run and tryfirst/trylast
ordering is honoured, seen through the ``soar`` CLI with plugins named in SOAR_PLUGINS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGINS = {
    # every implementation appends its name to ORDER; the wrapper publishes ORDER as an action
    "pg_order.py": "ORDER = []\n",
    "pg_wrap.py": '''
        from pydantic import BaseModel
        from runner import Action, hookimpl
        from pg_order import ORDER

        class In(BaseModel):
            pass

        async def noop(ctx, inputs):
            return None

        @hookimpl(wrapper=True)
        def register_actions(register):
            ORDER.append("wrap-before")
            result = yield
            ORDER.append("wrap-after")
            register(Action(name="pgwrap.order", summary="order " + " ".join(ORDER), func=noop,
                            input_model=In, needs_tenant=False))
            return result

        @hookimpl(wrapper=True)
        def soar_run_finished(run):
            yield
            with open("observed.txt", "a") as f:
                f.write(f"wrapper saw {run.status}\\n")
    ''',
    "pg_old.py": '''
        from runner import hookimpl
        from pg_order import ORDER

        @hookimpl(hookwrapper=True)
        def register_actions(register):
            ORDER.append("old-before")
            yield
            ORDER.append("old-after")
    ''',
    "pg_first.py": '''
        from runner import hookimpl
        from pg_order import ORDER

        @hookimpl(tryfirst=True)
        def register_actions(register):
            ORDER.append("first")

        @hookimpl
        def soar_run_finished(run):
            raise RuntimeError("a broken observer")
    ''',
    "pg_last.py": '''
        from runner import hookimpl
        from pg_order import ORDER

        @hookimpl(trylast=True)
        def register_actions(register):
            ORDER.append("last")

        @hookimpl
        def soar_run_finished(run):
            with open("observed.txt", "a") as f:
                f.write(f"plain saw {run.status}\\n")
    ''',
}


@pytest.fixture()
def soar(tmp_path: Path):
    for name, text in PLUGINS.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path), env.get("PYTHONPATH", "")) if p)
    # registered last-first so that ordering by registration alone would give the wrong answer
    env["SOAR_PLUGINS"] = "pg_first,pg_last,pg_old,pg_wrap"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from runner.cli import run_main; run_main()", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run


def test_register_actions_wrappers_run_and_ordering_is_honoured(soar):
    shown = soar("actions", "show", "pgwrap.order", "--json")
    assert shown.returncode == 0, shown.stderr
    order = shown.stdout.split('"summary": "order ', 1)[1].split('"', 1)[0].split()
    # both wrappers enclose every plain implementation; tryfirst before trylast
    assert order[0] in ("wrap-before", "old-before") and order[1] in ("wrap-before", "old-before")
    assert order[-1] == "wrap-after" and "old-after" in order
    assert order.index("first") < order.index("last") < order.index("old-after")


def test_observer_wrapper_runs_and_a_broken_observer_stops_no_other(soar, tmp_path):
    (tmp_path / "pb.yaml").write_text("name: pg\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n")
    done = soar("run", "pb.yaml", "--simulate")
    assert done.returncode == 0, done.stderr
    observed = (tmp_path / "observed.txt").read_text().splitlines()
    assert "wrapper saw succeeded" in observed and "plain saw succeeded" in observed
    assert "a broken observer" in done.stderr  # logged, not fatal
