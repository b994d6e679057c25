"""Finding 8: a PostgreSQL restart under `soar serve` must not drop the serve lock for good nor
strand an event. The restart is simulated on a database of the test's own (the machine's server
is shared): connections to it are refused (ALLOW_CONNECTIONS false) and its backends terminated,
then allowed again.

- the event accepted (202) at the moment of the restart gets its run once the database is back,
  while serve keeps running; a webhook during the outage answers 503, not 202;
- the advisory lock is held again afterwards (pg_locks), so a second serve is still refused;
- if another process took the lock meanwhile, serve stops on its own and `soar serve` exits 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from sec_pg_helpers import pg_admin
from serve_helpers import HOOK, SECRET, Harness, run_status, signed, until

from runner.errors import StoreError
from runner.serve.lock import SERVE_LOCK_KEY, ServeLock
from runner.serve.service import ServeOptions
from runner.store import RunStore

pytestmark = pytest.mark.postgres

FAST = {"lock_check_interval": 0.2, "recover_interval": 0.3}


def _options(**wanted) -> dict:
    known = {f.name for f in dataclasses.fields(ServeOptions)}
    return {k: v for k, v in wanted.items() if k in known}


@pytest.fixture
def database(fresh_pg_database):
    return fresh_pg_database


def _terminate(name: str, application_name: str | None = None) -> int:
    query = "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = %s"
    args: tuple = (name,)
    if application_name is not None:
        query += " and application_name like %s"
        args += (application_name,)
    with pg_admin() as admin:
        return admin.execute(query, args).fetchone()[0]


def _down(name: str) -> None:
    """The database 'restarts': no new connection, every existing one killed."""
    with pg_admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _terminate(name)


def _up(name: str) -> None:
    with pg_admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def _lock_holders(name: str) -> list[str]:
    with pg_admin() as admin:
        return [r[0] for r in admin.execute(
            "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and a.datname = %s and l.objid = %s",
            (name, SERVE_LOCK_KEY & 0xFFFF_FFFF))]


def test_the_event_accepted_at_a_restart_gets_its_run_and_the_lock_comes_back(database, tmp_path):
    name, url = database

    async def main():
        harness = Harness(tmp_path)
        harness.url = url
        harness.write("hook.yaml", HOOK)
        service = await harness.start(**_options(**FAST))
        real_accept, restarted = service.accept, []

        def accept_then_restart(*args, **kwargs):
            accepted = real_accept(*args, **kwargs)  # committed: the 202 is owed
            if not restarted:
                restarted.append(True)
                _down(name)  # ... and the database goes away before the run can start
            return accepted

        service.accept = accept_then_restart
        try:
            async with harness.client() as http:
                body = json.dumps({"delivery": {"id": "at-restart"}}).encode()
                first = await http.post("/hooks/phish", content=body, headers=signed(body))
                assert first.status_code == 202
                run_id = first.json()["run_id"]
                during = json.dumps({"delivery": {"id": "during"}}).encode()
                answer = await http.post("/hooks/phish", content=during, headers=signed(during))
                assert answer.status_code == 503, answer.text  # not recorded: not accepted
                await asyncio.sleep(1.0)
                _up(name)
                await until(lambda: run_status(service.store, run_id) == "succeeded", timeout=15,
                            what="the run of the event accepted at the restart")
                assert not service.stopping  # serve kept running
                await until(lambda: len(_lock_holders(name)) == 1, timeout=10, what="the serve lock again")
                assert f"pid={os.getpid()}" in _lock_holders(name)[0]
                with RunStore.open(url) as other, pytest.raises(StoreError, match="already served"):
                    ServeLock.acquire(other._db.engine)
                again = await http.post("/hooks/phish", content=during, headers=signed(during))
                assert again.status_code == 202
                await until(lambda: run_status(service.store, again.json()["run_id"]) == "succeeded",
                            timeout=15, what="a run after the restart")
        finally:
            _up(name)
            await harness.stop()

    asyncio.run(main())


def test_serve_stops_when_another_process_took_the_lock_meanwhile(database, tmp_path):
    name, url = database

    async def main():
        harness = Harness(tmp_path)
        harness.url = url
        harness.write("hook.yaml", HOOK)
        service = await harness.start(**_options(**FAST))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        serving = asyncio.create_task(service.serve(sock))
        other = RunStore.open(url)
        taken = None
        try:
            await asyncio.sleep(0.3)
            # the lock's session dies, and a second serve starts before the first notices
            assert _terminate(name, "soar serve pid=%") == 1
            taken = ServeLock.acquire(other._db.engine)
            done, _ = await asyncio.wait([serving], timeout=10)
            assert done, "serve kept serving without its lock"
            fatal = getattr(service, "fatal", None)
            assert fatal is not None and "another process" in str(fatal)
        finally:
            if not serving.done():
                service.request_stop()
                await asyncio.wait_for(serving, 30)
            if taken is not None:
                taken.release()
            other.close()
            service.store.close()
            sock.close()

    asyncio.run(main())


def test_soar_serve_exits_1_when_its_lock_was_taken(database, tmp_path):
    name, url = database
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "hook.yaml").write_text(HOOK)
    env = {**os.environ, "SOAR_TEST_HOOK_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", url, "serve", str(tmp_path / "pb"),
                             "--port", "0", "--grace", "1s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    taken = None
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        assert _terminate(name, f"soar serve pid={proc.pid} %") == 1
        with RunStore.open(url) as other:
            taken = ServeLock.acquire(other._db.engine)
            try:
                _out, err = proc.communicate(timeout=20)
            finally:
                taken.release()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert proc.returncode == 1, err[-500:]
    assert "another process took it" in err and "Traceback" not in err
