"""The corpus of published hunting queries (tests/kql_corpus/), run through the real HTTP route.

    python tests/kql_corpus/harness.py [--show evaluated|refused|misleading|crashed|slow] [--top N]
                                       [--only SOURCE/DOCUMENT] [--api graph|xdr|mde] [--loopback]

Every query of ``tests/kql_corpus/<source>/<document>.kql`` is POSTed to Graph's
``/v1.0/security/runHuntingQuery`` (or, with ``--api``, XDR's ``/api/advancedhunting/run`` or
MDE's ``/api/advancedqueries/run``) of a default seeded simulated cloud (the tables ``soar sim
serve`` generates; clock frozen, request quotas off so 200 calls a minute are not throttled),
with a real token from the simulated Entra ID, and classified:

    evaluated    200: rows (or none)
    refused      400 whose message is the clear "... is not supported by the simulated hunting
                 service" form
    misleading   any other 400 (every query of the corpus is published, valid KQL)
    crashed      any other status, or an exception on the way
    slow         (on top of the above) the call took more than SLOW_SECONDS

A corpus file holds the queries of one published document; lines up to the first
``// query: <name>`` are its header (``// source:``, ``// license:``, ...); each query runs from
its ``// query:`` line to the next one (a ``// dropped:`` header line records a published query
left out, and why). Loaded by path from tests/kql/test_kql_corpus.py and benchmarks/kql.py (this
folder is not a package); README.md next to it lists the sources and their licences.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
URLS = {  # the three hunting endpoints, all served by the simulated cloud
    "graph": "https://graph.microsoft.com/v1.0/security/runHuntingQuery",
    "xdr": "https://api.security.microsoft.com/api/advancedhunting/run",
    "mde": "https://api.securitycenter.microsoft.com/api/advancedqueries/run",
}
SLOW_SECONDS = 2.0
NOT_SUPPORTED = "is not supported by the simulated hunting service"
OUTCOMES = ("evaluated", "refused", "misleading", "crashed")
_QUERY_LINE = re.compile(r"^// query:\s*(\S.*?)\s*$")
_HEADER_LINE = re.compile(r"^//\s*(\w[\w-]*):\s*(.*?)\s*$")


@dataclass(frozen=True)
class CorpusQuery:
    source: str   # tests/kql_corpus/<source>/...: the collection it comes from
    name: str     # <document>/<query name>, unique in the corpus
    origin: str   # where it was published (the header's "// source:")
    text: str


@dataclass
class Outcome:
    query: CorpusQuery
    outcome: str          # one of OUTCOMES
    seconds: float
    rows: int | None = None
    message: str = ""     # the refusal's message, or what crashed
    results: list | None = None   # the rows themselves, as the endpoint sent them
    columns: list | None = None   # [(name, type)] of the endpoint's schema

    @property
    def slow(self) -> bool:
        return self.seconds > SLOW_SECONDS


def parse_file(path: Path, source: str) -> list[CorpusQuery]:
    """The queries of one corpus file (see the module docstring for its layout)."""
    header: dict[str, str] = {}
    queries: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _QUERY_LINE.match(line)
        if m:
            queries.append((m.group(1), []))
        elif queries:
            queries[-1][1].append(line)
        elif (h := _HEADER_LINE.match(line)):
            header[h.group(1).lower()] = h.group(2)
    if "source" not in header:
        raise ValueError(f"{path}: no '// source:' header line before the first '// query:'")
    out = []
    for name, lines in queries:
        text = "\n".join(lines).strip()
        if not text:
            raise ValueError(f"{path}: query {name!r} is empty")
        out.append(CorpusQuery(source, f"{path.stem}/{name}", header["source"], text))
    return out


def load_corpus(root: Path = CORPUS) -> list[CorpusQuery]:
    """Every query under ``root``, sorted by source and name; names must be unique."""
    queries = [q for path in sorted(root.glob("*/*.kql")) for q in parse_file(path, path.parent.name)]
    seen = Counter((q.source, q.name) for q in queries)
    dupes = [k for k, n in seen.items() if n > 1]
    if dupes:
        raise ValueError(f"duplicate corpus query names: {dupes}")
    return queries


class _Client:
    """POSTs queries to one default seeded simulated cloud (its clock frozen), holding a real
    token for each endpoint of ``apis`` (``graph``, ``xdr``, ``mde``). ``loopback``: the cloud is
    served over HTTP on 127.0.0.1 as ``soar sim serve`` serves it (uvicorn), and the queries go
    there; else they go to its request handler in process."""

    def __init__(self, apis: tuple[str, ...] = ("graph",), *, loopback: bool = False) -> None:
        import contextlib

        import httpx

        from runner.auth import TokenProvider
        from runner.auth.cache import MemoryCacheStore
        from runner.sim import SimulatedCloud

        self.cloud = SimulatedCloud(defender={"time_scale": 0, "quotas": False})
        self._stack = contextlib.ExitStack()
        if loopback:
            from runner.loopback import serve_in_thread

            base = self._stack.enter_context(serve_in_thread(self.cloud.asgi_app()))
            self.urls = {api: f"{base}/_host/{url.removeprefix('https://')}" for api, url in URLS.items()}
            self.http = httpx.Client(timeout=30)
        else:
            self.urls = dict(URLS)
            self.http = httpx.Client(transport=httpx.MockTransport(self.cloud.handler))
        self._stack.callback(self.http.close)
        provider = TokenProvider(self.cloud.demo_config(), self.cloud.network(), cache_store=MemoryCacheStore())
        try:
            self.headers = {api: {"Authorization": "Bearer " + asyncio.run(
                provider.get_token("contoso", api)).value.reveal()} for api in apis}
        finally:
            provider.close()
        self.cloud.defender.hunting.tables("contoso")  # generate the tables before any query is timed

    def run(self, query: CorpusQuery, api: str = "graph") -> Outcome:
        started = time.perf_counter()
        try:
            r = self.http.post(self.urls[api], json={"Query": query.text}, headers=self.headers[api])
            seconds = time.perf_counter() - started
            body = r.json()
        except Exception as exc:  # a crash anywhere on the route is a finding, not a harness failure
            return Outcome(query, "crashed", time.perf_counter() - started, message=f"{type(exc).__name__}: {exc}")
        if r.status_code == 200:
            results = body.get("results", body.get("Results"))
            schema = body.get("schema") or body.get("Schema") or []
            columns = [(c.get("name", c.get("Name")), c.get("type", c.get("Type"))) for c in schema]
            return Outcome(query, "evaluated", seconds, rows=len(results), results=results, columns=columns)
        message = str((body.get("error") or {}).get("message", "")) if isinstance(body, dict) else ""
        if r.status_code == 400:
            kind = "refused" if NOT_SUPPORTED in message else "misleading"
            return Outcome(query, kind, seconds, message=message)
        return Outcome(query, "crashed", seconds, message=f"HTTP {r.status_code}: {message or r.text[:200]}")

    def close(self) -> None:
        self._stack.close()


def run_corpus(queries: list[CorpusQuery] | None = None, api: str = "graph") -> list[Outcome]:
    """Run every corpus query (or ``queries``) once, in order, on a fresh seeded cloud, through
    ``api``'s endpoint."""
    return run_corpus_on((api,), queries)[api]


def run_corpus_on(apis: tuple[str, ...], queries: list[CorpusQuery] | None = None, *,
                  loopback: bool = False) -> dict[str, list[Outcome]]:
    """The corpus (or ``queries``) through each endpoint of ``apis``, on one seeded cloud (served
    on loopback with ``loopback``)."""
    queries = load_corpus() if queries is None else queries
    client = _Client(apis, loopback=loopback)
    try:
        return {api: [client.run(q, api) for q in queries] for api in apis}
    finally:
        client.close()


_POSITION = re.compile(r"\s*\(line \d+, column \d+\)|\s*on line \[\d+,\d+\]")


def blocker(message: str) -> str:
    """What a refusal's message says blocks the query, without its position: for the clear form
    the construct as written (``'mv-expand'``), else the whole message (a misleading refusal)."""
    text = _POSITION.sub("", message).strip()
    if NOT_SUPPORTED in text:
        head = text.split(NOT_SUPPORTED)[0].strip()
        quoted = re.findall(r"'[^']*'|`[^`]*`", head)
        return f"{quoted[-1] if quoted else head} (not supported)"
    return text if len(text) <= 160 else text[:157] + "..."


@dataclass
class Summary:
    total: int
    counts: dict[str, int]
    slow: int
    rows_found: int                     # evaluated queries that returned at least one row
    p50: float
    p95: float
    max: float
    blockers: list[tuple[str, int]] = field(default_factory=list)   # most queries blocked first
    per_source: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def evaluated_rate(self) -> float:
        return self.counts["evaluated"] / self.total if self.total else 0.0


def summarize(outcomes: list[Outcome]) -> Summary:
    times = sorted(o.seconds for o in outcomes) or [0.0]
    counts = {k: sum(o.outcome == k for o in outcomes) for k in OUTCOMES}
    per_source: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = per_source.setdefault(o.query.source, {"total": 0, **{k: 0 for k in OUTCOMES}})
        row["total"] += 1
        row[o.outcome] += 1
    blocked = Counter(blocker(o.message) for o in outcomes if o.outcome in ("refused", "misleading", "crashed"))
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return Summary(len(outcomes), counts, sum(o.slow for o in outcomes),
                   sum(1 for o in outcomes if o.rows), statistics.median(times), p95, times[-1],
                   blocked.most_common(), per_source)


def report(summary: Summary, top: int = 25) -> str:
    """The rates, the per-source table and the ranked blockers, as text."""
    c = summary.counts
    lines = [f"corpus: {summary.total} queries: {c['evaluated']} evaluated ({summary.evaluated_rate:.0%}, "
             f"{summary.rows_found} with rows), {c['refused']} refused as not supported, "
             f"{c['misleading']} misleading refusals, {c['crashed']} crashed, {summary.slow} over {SLOW_SECONDS:g} s",
             f"time per query: p50 {summary.p50 * 1e3:.0f} ms, p95 {summary.p95 * 1e3:.0f} ms, "
             f"max {summary.max * 1e3:.0f} ms", "", "per source:"]
    for source, row in sorted(summary.per_source.items()):
        lines.append(f"  {source:28s} {row['total']:4d} queries, {row['evaluated']:4d} evaluated, "
                     f"{row['refused']:4d} refused, {row['misleading']:4d} misleading, {row['crashed']:3d} crashed")
    lines += ["", f"what blocks the most queries (top {top}):"]
    lines += [f"  {n:4d}  {what}" for what, n in summary.blockers[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", choices=OUTCOMES + ("slow",), help="list the queries with this outcome")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--only", metavar="TEXT", help="run only the queries whose <source>/<name> contains TEXT")
    ap.add_argument("--api", choices=sorted(URLS), default="graph", help="the hunting endpoint to call")
    ap.add_argument("--loopback", action="store_true", help="serve the simulated cloud over HTTP on 127.0.0.1 "
                                                            "(as `soar sim serve` does) and query it there")
    args = ap.parse_args(argv)
    queries = load_corpus()
    if args.only:
        queries = [q for q in queries if args.only in f"{q.source}/{q.name}"]
    outcomes = run_corpus_on((args.api,), queries, loopback=args.loopback)[args.api]
    print(report(summarize(outcomes), args.top))
    if args.show:
        print()
        for o in outcomes:
            if (o.slow if args.show == "slow" else o.outcome == args.show):
                detail = f"{o.rows} rows" if o.outcome == "evaluated" else o.message
                print(f"{o.query.source}/{o.query.name} [{o.seconds * 1e3:.0f} ms]: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
