"""One `soar serve` per run store: a second process on the same store is refused with a message
naming the store and the first process's pid; the lock goes with the process that held it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from serve_helpers import HOOK, SECRET

from runner.errors import StoreError
from runner.serve.lock import ServeLock
from runner.store import RunStore


def _serve(tmp_path, store_url: str) -> subprocess.Popen:
    env = {**os.environ, "SOAR_TEST_HOOK_SECRET": SECRET}
    return subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", store_url, "serve",
                             str(tmp_path / "pb"), "--port", "0", "--grace", "1s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def test_a_second_serve_on_the_same_store_is_refused_with_the_other_pid(tmp_path):
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "hook.yaml").write_text(HOOK)
    store_url = f"sqlite:///{tmp_path}/soar.db"
    first = _serve(tmp_path, store_url)
    try:
        line = first.stdout.readline()
        assert line, first.stderr.read()
        assert json.loads(line)["webhooks"] == ["/hooks/phish"]
        second = _serve(tmp_path, store_url)
        out, err = second.communicate(timeout=60)
        assert second.returncode != 0 and out == ""
        assert f"pid={first.pid}" in err and str(tmp_path / "soar.db") in err
        assert "already served" in err and "Traceback" not in err
        assert first.poll() is None  # the first one is not disturbed
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0
    # the lock went with the first process: the store can be served again
    with RunStore.open(store_url) as store:
        lock = ServeLock.acquire(store._db.engine)
        assert lock.held
        lock.release()


def test_the_lock_is_exclusive_and_released(tmp_path):
    with RunStore.open(f"sqlite:///{tmp_path}/s.db") as store:
        engine = store._db.engine
        lock = ServeLock.acquire(engine)
        with pytest.raises(StoreError, match=f"pid={os.getpid()}") as caught:
            ServeLock.acquire(engine)
        assert "--store" in caught.value.hint
        lock.release()
        lock.release()  # idempotent
        ServeLock.acquire(engine).release()
    with RunStore.open("sqlite:///:memory:") as store:  # nothing to share: no lock file
        assert not ServeLock.acquire(store._db.engine).held
