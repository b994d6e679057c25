"""Helpers of the shared quota tests: a fresh PostgreSQL database per test module, and checks
on call times.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth, user ``postgres``; ``SOAR_TEST_POSTGRES``
overrides it). The tests FAIL (never skip) when the server is down.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets

import pytest

ADMIN_URL = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def fresh_database():
    """A new database with the run store's schema; yields its URL (``postgresql://``), dropped
    at the end."""
    import psycopg

    from runner.store import RunStore

    name = f"soar_quotashare_{secrets.token_hex(5)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is unreachable at {ADMIN_URL} ({str(exc).strip()}); the shared quota tests "
                    "need it (trust auth for user postgres), or set SOAR_TEST_POSTGRES", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
            RunStore.open(url).close()  # the schema, quota tables included
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def most_in_any_window(times: list[float], window: float) -> int:
    """The most calls inside any half-open interval ``(t - window, t]``."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def achieved_share(times: list[float], limit: int, window: float) -> float:
    """Achieved rate / allowed rate: (ideal span / actual span) from the first call to the last,
    the ideal span for N calls being (⌈N / limit⌉ − 1) windows — spending each window's budget
    the moment it frees scores 1.0 (the first window's burst does not count as speed)."""
    times = sorted(times)
    ideal = (math.ceil(len(times) / limit) - 1) * window
    return ideal / (times[-1] - times[0])


def sustained_share(times: list[float], limit: int, window: float) -> float:
    """Achieved rate / allowed rate over whole windows: calls ``0 .. k·limit − 1`` went out
    between the first call and call ``k·limit`` (the first of the last window), for the largest
    such ``k``; spending each window's budget the moment it frees scores 1.0. Unlike
    :func:`achieved_share`, the time the last window's calls take to go out (how fast the
    machine serves a burst, not the limiter) is left out: it is an end effect, not a rate."""
    times = sorted(times)
    k = (len(times) - 1) // limit
    return (k * window) / (times[k * limit] - times[0])
