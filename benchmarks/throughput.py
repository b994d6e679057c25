"""Run throughput of ``soar serve``: signed webhooks in, three-step runs out, with the default
SQLite store, against a bare HTTP handler on the same stack, in one run.

    python -m benchmarks.throughput [--requests 2000] [--concurrency 32] [--max-runs 16] [--repeat 3] [--quick]

``soar serve`` serves one playbook (three ``core.set`` steps) behind a webhook with an HMAC-SHA256
signing secret, from a fresh working directory (so the store is the default ``./.soar/soar.db``).
A load generator in a second process (this module with ``--load``) sends ``--requests`` signed
JSON webhooks over ``--concurrency`` keep-alive connections, each sending its next request when
the previous answer arrives (closed loop: the load is bounded by design). Then the run store says
when each run finished. Reported: runs accepted per second (202 answers), runs completed per
second (first request sent → last run finished) and the latency from sending a request to its
run's completion (p50, p99). Target: ≥ 200 runs/s completed on this 2-core machine.

Reference, measured the same way in the same run: a bare Starlette app on uvicorn (the stack
``soar serve`` is built on) that checks the same signature, parses the JSON and answers 202 —
the ceiling of HTTP alone here, with no store and no run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, Samples, child_env, format_table, venv_bin  # noqa: E402

TARGET = 200.0
SECRET = "bench-webhook-signing-secret"  # a benchmark's own secret, handed to both servers by env
HOOK = "/hooks/bench"
DEADLINE = 300.0  # seconds: the load generator and the wait for runs stop by themselves

PLAYBOOK = """\
name: bench-hook
description: Three trivial steps, started by a signed webhook (benchmarks/throughput.py)
on:
  - webhook: {path: /bench, secret: env:BENCH_HOOK_SECRET}
steps:
  - id: receive
    action: core.set
    with: {n: "${{ trigger.payload.n }}"}
  - id: double
    action: core.set
    with: {n2: "${{ steps.receive.output.n * 2 }}"}
  - id: done
    action: core.set
    with: {ok: true}
outputs:
  n2: "${{ steps.double.output.n2 }}"
"""


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


# ---- the load generator (a process of its own) --------------------------------------------------

async def _connection(host: str, port: int, path: str, todo, results: list, deadline: float) -> None:
    """One keep-alive HTTP/1.1 connection sending the next request when the answer is in.
    Hand-written on asyncio streams: an HTTP client library would spend more CPU per request
    than the servers measured, and the generator would measure itself."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
    try:
        for body in todo:
            if time.monotonic() > deadline:
                return
            request = (f"{head}x-hub-signature-256: {sign(body)}\r\ncontent-length: {len(body)}\r\n\r\n"
                       ).encode() + body
            sent = time.time()
            writer.write(request)
            status_line, _, headers = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
            status = int(status_line.split()[1])
            try:
                run_id = json.loads(answer).get("run_id")
            except ValueError:
                run_id = None
            results.append([sent, time.time(), status, run_id])
    finally:
        writer.close()


async def generate(url: str, count: int, concurrency: int, start: int = 0) -> list[list]:
    """``count`` signed webhooks over ``concurrency`` connections; per request
    ``[sent (epoch s), answered (epoch s), status, run_id]``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    bodies = iter([json.dumps({"n": start + i, "source": "bench"}).encode() for i in range(count)])
    results: list[list] = []
    deadline = time.monotonic() + DEADLINE
    await asyncio.gather(*(_connection(parts.hostname, parts.port, parts.path, bodies, results, deadline)
                           for _ in range(concurrency)))
    return results


def load(url: str, count: int, concurrency: int, start: int = 0) -> list[list]:
    """Run the load generator in a child process and return its per-request records."""
    cmd = [sys.executable, "-m", "benchmarks.throughput", "--load", url, "--requests", str(count),
           "--concurrency", str(concurrency), "--start", str(start)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE + 60, env=child_env(),
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout)


# ---- the servers -----------------------------------------------------------------------------------

def _bare_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        if not hmac.compare_digest(sign(body), request.headers.get("x-hub-signature-256", "")):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        payload = json.loads(body)
        return JSONResponse({"status": "accepted", "run_id": f"bare-{payload['n']}"}, status_code=202)

    return Starlette(routes=[Route(HOOK, hook, methods=["POST"])])


def bare_server() -> None:
    """Serve the reference handler on a free loopback port; print ``{"url": ...}`` first."""
    import uvicorn

    # IPPROTO_TCP, as uvicorn's own host/port path creates it: asyncio then sets TCP_NODELAY
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"url": f"http://127.0.0.1:{sock.getsockname()[1]}"}), flush=True)
    config = uvicorn.Config(_bare_app(), log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


class Server:
    """A server child process whose first stdout line is JSON with its ``url``; stopped on exit."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]):
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("{"):
            self.proc.kill()
            self.proc.wait()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"{Path(cmd[0]).name} {cmd[1]} did not start: {line}{err[-800:]}")
        self.doc = json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # soar serve drains (its runs are done by now) and exits
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def serve_available() -> str | None:
    """Why ``soar serve`` cannot be measured, or ``None``."""
    try:
        from runner.cli import COMMANDS
    except ImportError:
        return "soar CLI missing"
    if "serve" not in COMMANDS:
        return "soar serve missing"
    import importlib.util

    module = COMMANDS["serve"].split(":")[0]
    return None if importlib.util.find_spec(module) is not None else "soar serve missing"


def _finished(db: Path, run_ids: list[str], deadline: float) -> dict[str, float]:
    """run id → finished_at (epoch s), waiting (bounded) until every run has one."""
    wanted = set(run_ids)
    done: dict[str, float] = {}
    while time.monotonic() < deadline:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            for run_id, finished in con.execute("SELECT id, finished_at FROM runs WHERE finished_at IS NOT NULL"):
                if run_id in wanted:
                    done[run_id] = dt.datetime.fromisoformat(finished).timestamp()
        finally:
            con.close()
        if len(done) >= len(wanted):
            break
        time.sleep(0.2)
    return done


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_ours(requests: int, concurrency: int, max_runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="soar-bench-serve-") as tmp:
        work = Path(tmp)
        (work / "playbooks").mkdir()
        (work / "playbooks" / "bench-hook.yaml").write_text(PLAYBOOK)
        env = child_env(BENCH_HOOK_SECRET=SECRET)
        env.pop("SOAR_STORE", None)  # the default store: ./.soar/soar.db in the working directory
        cmd = [str(venv_bin("soar")), "serve", "playbooks", "--port", "0", "--max-runs", str(max_runs),
               "--watch-interval", "off"]
        server = Server(cmd, work, env)
        try:
            url = server.doc["url"] + HOOK
            load(url, min(50, requests), concurrency, start=-10_000)  # warm-up, not counted
            records = load(url, requests, concurrency)
            accepted = [r for r in records if r[2] == 202 and r[3]]
            finished = _finished(work / ".soar" / "soar.db", [r[3] for r in accepted], time.monotonic() + 120)
        finally:
            server.stop()
    first = min(r[0] for r in records)
    latencies = [finished[r[3]] - r[0] for r in accepted if r[3] in finished]
    return {"accepted": len(accepted), "completed": len(finished), "sent": len(records),
            "accepted_per_s": len(accepted) / (max(r[1] for r in accepted) - first) if accepted else 0.0,
            "completed_per_s": len(finished) / (max(finished.values()) - first) if finished else 0.0,
            "p50": percentile(latencies, 0.50) if latencies else None,
            "p99": percentile(latencies, 0.99) if latencies else None}


def measure_bare(requests: int, concurrency: int) -> dict:
    server = Server([sys.executable, "-m", "benchmarks.throughput", "--bare-server"],
                    Path(__file__).resolve().parent.parent, child_env())
    try:
        url = server.doc["url"] + HOOK
        load(url, min(50, requests), concurrency, start=-10_000)
        records = load(url, requests, concurrency)
    finally:
        server.stop()
    ok = [r for r in records if r[2] == 202]
    first = min(r[0] for r in records)
    latencies = [r[1] - r[0] for r in ok]
    return {"accepted": len(ok), "sent": len(records),
            "accepted_per_s": len(ok) / (max(r[1] for r in ok) - first) if ok else 0.0,
            "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99)}


def report(ours: list[dict] | None, bare: list[dict], requests: int, concurrency: int, max_runs: int,
           missing: str | None) -> list[Row]:
    rate = Samples(tuple(b["accepted_per_s"] for b in bare))
    b_p99 = Samples(tuple(b["p99"] for b in bare))
    ref = f"bare Starlette+uvicorn signed-hook handler {rate.median:,.0f} req/s"
    where = f"{requests} signed webhooks, {concurrency} connections, --max-runs {max_runs}, SQLite"
    if ours is None:
        return [Row.unavailable(f"serve: runs completed/s ({where})", missing or "not measured", ref,
                                f"ours ≥ {TARGET:g} runs/s"),
                Row.unavailable("serve: p99 latency, request → run completed", missing or "not measured",
                                f"bare handler p99 response {b_p99.median * 1e3:.1f} ms")]
    done = Samples(tuple(o["completed_per_s"] for o in ours))
    acc = Samples(tuple(o["accepted_per_s"] for o in ours))
    p99 = Samples(tuple(o["p99"] or float("nan") for o in ours))
    p50 = Samples(tuple(o["p50"] or float("nan") for o in ours))
    lost = max(o["sent"] - o["completed"] for o in ours)

    def per_s(x: float) -> str:
        return f"{x:,.0f}/s"

    def ms(x: float) -> str:
        return f"{x * 1e3:.1f} ms"

    return [
        Row(measure=f"serve: runs completed/s ({where})", ours=f"{done.median:,.0f} runs/s"
            + (f" ({lost} not completed)" if lost else ""), reference=ref, ratio=done.median / rate.median,
            target=f"ours ≥ {TARGET:g} runs/s", met=done.median >= TARGET and lost == 0,
            noise=f"ours {done.spread(per_s)}; ref {rate.spread(per_s)}"),
        Row(measure="serve: webhooks accepted/s (202, event recorded)", ours=f"{acc.median:,.0f}/s", reference=ref,
            ratio=acc.median / rate.median, target="-", met=None, noise=f"ours {acc.spread(per_s)}"),
        Row(measure="serve: latency, request sent → run completed (p99; p50)",
            ours=f"{ms(p99.median)}; {ms(p50.median)}", reference=f"bare handler p99 response {ms(b_p99.median)}",
            ratio=p99.median / b_p99.median, target="-", met=None,
            noise=f"ours p99 {p99.spread(ms)}; ref p99 {b_p99.spread(ms)}"),
    ]


def rows(quick: bool, requests: int | None = None, concurrency: int | None = None, max_runs: int = 16,
         repeat: int | None = None) -> list[Row]:
    requests = requests or (100 if quick else 2000)
    concurrency = concurrency or (8 if quick else 32)
    repeat = repeat or (1 if quick else 3)
    missing = serve_available()
    ours, bare = [], []
    for _ in range(repeat):  # interleaved, so load from elsewhere on the machine hits both alike
        bare.append(measure_bare(requests, concurrency))
        if missing is None:
            ours.append(measure_ours(requests, concurrency, max_runs))
    return report(ours or None, bare, requests, concurrency, max_runs, missing)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=None, help="webhooks per measurement (default 2000; quick 100)")
    ap.add_argument("--concurrency", type=int, default=None, help="connections (default 32; quick 8)")
    ap.add_argument("--max-runs", type=int, default=16, help="soar serve --max-runs")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions (default 3; quick 1)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)  # internal: be the load generator
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)  # internal: the reference
    args = ap.parse_args(argv)
    if args.bare_server:
        bare_server()
        return 0
    if args.load:
        print(json.dumps(asyncio.run(generate(args.load, args.requests or 100, args.concurrency or 8, args.start))))
        return 0
    result = rows(args.quick, args.requests, args.concurrency, args.max_runs, args.repeat)
    print(json.dumps([r.to_dict() for r in result]) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
