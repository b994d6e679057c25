"""The `soar serve` lock on PostgreSQL: a session advisory lock on a connection of its own,
naming its owner; a second holder is refused with that owner's pid; releasing frees it."""

from __future__ import annotations

import os

import pytest

from runner.errors import StoreError
from runner.serve.lock import ServeLock
from runner.store import RunStore

pytestmark = pytest.mark.postgres


def test_advisory_lock_is_exclusive_names_the_owner_and_is_released(pg_schema):
    url, _schema = pg_schema
    with RunStore.open(url) as first, RunStore.open(url) as second:
        lock = ServeLock.acquire(first._db.engine)
        assert lock.held and lock.kind == "advisory"
        with pytest.raises(StoreError, match=f"pid={os.getpid()}") as caught:
            ServeLock.acquire(second._db.engine)
        assert "already served" in str(caught.value) and "kill -TERM" in caught.value.hint
        lock.release()
        lock.release()  # idempotent
        again = ServeLock.acquire(second._db.engine)
        assert again.held
        again.release()
