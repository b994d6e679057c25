"""Finding 15: slow clients (slowloris) must not hold `soar serve`: a connection whose request head
or body trickles in is closed within the configured timeout, and /healthz keeps answering while
50 of them are connected."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time

import httpx
from serve_helpers import HOOK, Harness

from runner.serve.service import ServeOptions

SLOW = 50
HEAD_TIMEOUT = READ_TIMEOUT = 2.0
PATIENCE = 7.0  # how long the test waits for the server to drop them (old code: never)


def _options(**wanted) -> dict:
    """Only the options this version of ServeOptions has (the old one had none of these)."""
    known = {f.name for f in dataclasses.fields(ServeOptions)}
    return {k: v for k, v in wanted.items() if k in known}


async def _drip(port: int, first: bytes, drip: bytes) -> float | None:
    """Send ``first``, then one byte of ``drip`` a second; the seconds until the server closed
    the connection (None: still open after PATIENCE)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    writer.write(first)

    async def trickle():
        for byte in drip:
            await asyncio.sleep(1.0)
            writer.write(bytes([byte]))
            await writer.drain()

    dripping = asyncio.create_task(trickle())
    try:
        async with asyncio.timeout(PATIENCE):
            await reader.read(-1)  # until EOF: the server closed it
        return time.monotonic() - start
    except TimeoutError:
        return None
    except OSError:  # reset by the server: closed as well
        return time.monotonic() - start
    finally:
        dripping.cancel()
        await asyncio.gather(dripping, return_exceptions=True)
        writer.close()


async def _slow_clients(tmp_path) -> None:
    harness = Harness(tmp_path)
    harness.write("hook.yaml", HOOK)
    service = await harness.start(**_options(head_timeout=HEAD_TIMEOUT, read_timeout=READ_TIMEOUT))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    serving = asyncio.create_task(service.serve(sock))
    try:
        await asyncio.sleep(0.2)
        heads = [_drip(port, b"POST /hooks/phish HTTP/1.1\r\n", b"X-Slow: " + b"a" * 40)
                 for _ in range(SLOW - 1)]
        body = _drip(port, b"POST /hooks/phish HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", b"a" * 40)
        slow = asyncio.gather(*heads, body)
        await asyncio.sleep(1.0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3.0) as client:
            answer = await client.get("/healthz")
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        closed = await slow
        kept = [t for t in closed if t is None]
        assert not kept, f"{len(kept)} of {SLOW} slow connections were never dropped"
        assert max(closed) < HEAD_TIMEOUT + 3.0, closed
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=3.0) as client:
            assert (await client.get("/healthz")).status_code == 200
    finally:
        service.request_stop()
        await asyncio.wait_for(serving, 30)
        harness.service.store.close()
        sock.close()


def test_slow_heads_and_bodies_are_dropped_and_healthz_answers(tmp_path):
    asyncio.run(_slow_clients(tmp_path))
