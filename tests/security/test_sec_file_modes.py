"""Finding 13: the run store is private to its owner — `.soar/` 0700, the SQLite file and its
-wal/-shm 0600 (whatever the umask), the serve lock file 0600 — and a store made wider by an older
version is tightened, with a warning."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from runner.serve.lock import ServeLock
from runner.store import RunStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o002)  # a group-writable default, as some distributions have
    yield
    os.umask(old)


def _use(store: RunStore) -> None:
    store.create_run(playbook_name="pb", playbook_path=None, playbook_text="name: pb\n", inputs={"x": 1})


def test_the_default_store_is_private(tmp_path, loose_umask):
    with RunStore.open() as store:  # ./.soar/soar.db (the test runs in tmp_path)
        _use(store)
        folder = tmp_path / ".soar"
        assert _mode(folder) == 0o700
        files = {p.name: _mode(p) for p in folder.iterdir()}
        assert {"soar.db", "soar.db-wal", "soar.db-shm"} <= set(files), files
        assert all(mode == 0o600 for mode in files.values()), {k: oct(v) for k, v in files.items()}
        lock = ServeLock.acquire(store._db.engine)
        try:
            assert _mode(folder / "soar.db.serve.lock") == 0o600
        finally:
            lock.release()


def test_a_store_in_a_new_directory_is_private(tmp_path, loose_umask):
    with RunStore.open(f"sqlite:///{tmp_path}/a/b/soar.db") as store:
        _use(store)
        assert _mode(tmp_path / "a" / "b") == 0o700
        assert _mode(tmp_path / "a" / "b" / "soar.db") == 0o600
        assert _mode(tmp_path / "a" / "b" / "soar.db-wal") == 0o600


def test_an_existing_wide_store_is_tightened_with_a_warning(tmp_path, caplog):
    with RunStore.open() as store:
        _use(store)
    folder = tmp_path / ".soar"
    os.chmod(folder, 0o755)
    for path in folder.iterdir():
        os.chmod(path, 0o644)
    wal = folder / "soar.db-wal"
    wal.touch()
    os.chmod(wal, 0o666)
    with caplog.at_level(logging.WARNING, logger="soar.store"):
        with RunStore.open() as store:
            assert len(store.list_runs(limit=None)) == 1
            assert _mode(folder) == 0o700
            assert {p.name: _mode(p) for p in folder.iterdir() if p.name.startswith("soar.db")} == {
                p.name: 0o600 for p in folder.iterdir() if p.name.startswith("soar.db")}
    assert "tightened" in caplog.text and "soar.db" in caplog.text
