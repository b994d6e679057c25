"""CursorStore on SQLite and PostgreSQL: cursor, keys with pruning, failures, old stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from runner.store import RunStore
from runner.store.cursors import CursorStore

UTC = timezone.utc
T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
SCOPE = ("triage", "contoso", "defender.incidents")


def test_cursor_round_trip_and_upsert(poll_store_url):
    with RunStore.open(poll_store_url) as store:
        cursors = CursorStore(store)
        assert cursors.get(*SCOPE) is None
        cursors.save(*SCOPE, watermark=T0, failures=2, last_error="HTTP 500")
        cursors.save("triage", "fabrikam", "defender.incidents", watermark=None, failures=0)
        got = cursors.get(*SCOPE)
        assert (got.watermark, got.failures, got.last_error) == (T0, 2, "HTTP 500")
        assert got.watermark.tzinfo is not None and got.updated_at.tzinfo is not None
        cursors.save(*SCOPE, watermark=T0 + timedelta(minutes=5), failures=0)
    with RunStore.open(poll_store_url) as store:  # durable, and updated in place
        got = CursorStore(store).get(*SCOPE)
        assert (got.watermark, got.failures, got.last_error) == (T0 + timedelta(minutes=5), 0, None)
        assert CursorStore(store).get("triage", "fabrikam", "defender.incidents").watermark is None


def test_seen_keys_are_scoped_idempotent_and_pruned(poll_store_url):
    with RunStore.open(poll_store_url) as store:
        cursors = CursorStore(store)
        keys = [(f"{n}@t{n}", T0 + timedelta(minutes=n)) for n in range(5)]
        cursors.save(*SCOPE, watermark=T0, failures=0, new_keys=keys)
        cursors.save(*SCOPE, watermark=T0, failures=0, new_keys=keys[:2])  # again: no conflict
        cursors.save("other", "contoso", "defender.incidents", watermark=T0, failures=0, new_keys=keys[:1])
        assert cursors.seen_keys(*SCOPE) == {k for k, _ in keys}
        cursors.save(*SCOPE, watermark=T0, failures=0, prune_before=T0 + timedelta(minutes=3))
        assert cursors.seen_keys(*SCOPE) == {"3@t3", "4@t4"}
        assert cursors.seen_keys("other", "contoso", "defender.incidents") == {"0@t0"}  # other scope kept


def test_failures_are_recorded_in_order_and_filtered(poll_store_url):
    with RunStore.open(poll_store_url) as store:
        cursors = CursorStore(store)
        cursors.record_failure(*SCOPE, since=T0, page=1, offset=100, error="HTTP 500", skipped=False)
        cursors.record_failure(*SCOPE, since=T0, page=1, offset=100, error="HTTP 500 again", skipped=True)
        cursors.record_failure("triage", "fabrikam", "defender.alerts", since=None, page=0, offset=None,
                               error="HTTP 403", skipped=False)
        mine = cursors.failures(*SCOPE)
        assert [(f.page, f.offset, f.error, f.skipped) for f in mine] == [
            (1, 100, "HTTP 500", False), (1, 100, "HTTP 500 again", True)]
        assert mine[0].since == T0 and mine[0].at.tzinfo is not None
        assert [f.tenant for f in cursors.failures("triage")] == ["contoso", "contoso", "fabrikam"]
        assert [f.error for f in cursors.failures(source="defender.alerts")] == ["HTTP 403"]


def test_secrets_in_error_text_are_redacted(poll_store_url):
    from runner.secrets import register_value  # what resolving a secret reference does

    register_value("s3cr3t-value-123")
    with RunStore.open(poll_store_url) as store:
        cursors = CursorStore(store)
        cursors.record_failure(*SCOPE, since=None, page=0, offset=0, error="bad s3cr3t-value-123", skipped=False)
        cursors.save(*SCOPE, watermark=T0, failures=1, last_error="token s3cr3t-value-123")
        assert "s3cr3t-value-123" not in cursors.failures()[0].error
        assert "s3cr3t-value-123" not in cursors.get(*SCOPE).last_error


def test_a_store_created_before_the_polling_tables_gets_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    RunStore.open(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as an older soar-runner left it
        for name in ("poll_failures", "poll_seen", "poll_cursors"):
            conn.exec_driver_sql(f"DROP TABLE {name}")
    with RunStore.open(url) as store:
        cursors = CursorStore(store)
        cursors.save(*SCOPE, watermark=T0, failures=0, new_keys=[("1@x", T0)])
        assert cursors.seen_keys(*SCOPE) == {"1@x"}
    with engine.connect() as conn:
        assert {"poll_cursors", "poll_seen", "poll_failures"} <= set(sa.inspect(conn).get_table_names())
    engine.dispose()
