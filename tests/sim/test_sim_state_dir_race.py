"""The simulated cloud's ``state_dir`` is shared by concurrent threads and processes (a second
provider process, ``soar sim serve`` beside a run): a key or the app secret is written whole, once,
and every reader agrees on it — never a half-written PEM, never two different secrets."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor

from runner.sim.identity import load_app, signing_key


def _together(n: int, fn):
    results: list = []
    barrier = threading.Barrier(n)

    def work():
        barrier.wait()
        results.append(fn())

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_threads_share_one_signing_key_and_one_app_secret(tmp_path):
    for round_ in range(10):
        state = tmp_path / str(round_)
        kids = _together(6, lambda: signing_key(f"tenant-{round_}", state).kid)
        assert len(set(kids)) == 1
        secrets = _together(6, lambda: load_app("app", state).secret_id)
        assert len(set(secrets)) == 1
        assert not [p for p in state.rglob("*.tmp")]


def _kid_in_child(state: str) -> str:
    from pathlib import Path
    return signing_key("tenant-x", Path(state)).kid


def test_processes_agree_on_the_key_kept_first(tmp_path):
    with ProcessPoolExecutor(3) as pool:
        kids = list(pool.map(_kid_in_child, [str(tmp_path)] * 3))
    assert len(set(kids)) == 1
    assert signing_key("tenant-x", tmp_path).kid == kids[0]
