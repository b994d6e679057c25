"""The three advanced-hunting answers (Graph, XDR, MDE), rendered from one query run.

The simulator's hunting hook can be just::

    status, body = hunting_response(api, request_body, tables, now=clock_now)
    return httpx.Response(status, json=body)

``api`` is ``"graph"`` (``POST /v1.0/security/runHuntingQuery``), ``"xdr"``
(``POST /api/advancedhunting/run``) or ``"mde"`` (``POST /api/advancedqueries/run``, Device*
tables only). Queries see the last 30 days, or Graph's ``Timespan``. Refused queries become a 400
in each API's error shape, with the evaluator's message.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any, Mapping

from .errors import KqlError
from .evaluator import run_query
from .external import Resolver
from .model import API_TYPE_NAMES, QueryResult, Table, format_timespan, jsonable
from .schemas import MDE_TABLES

DEFAULT_LOOKBACK = timedelta(days=30)
_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.ASCII)


def parse_duration(text: str) -> timedelta | None:
    """ISO 8601 durations as Graph's Timespan takes them: P30D, PT12H, P1DT2H30M, P2W."""
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not m or text in ("P", "PT") or text.endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


RESULT_TOO_LARGE = ("Query execution has exceeded the allowed result size. Optimize your query by limiting the "
                    "number of results and try again.")


def hunting_response(api: str, body: Any, tables: Mapping[str, Table], *, now: datetime,
                     max_rows: int = 100_000, max_result_bytes: int | None = None,
                     usage: dict | None = None, external: Resolver | None = None) -> tuple[int, dict]:
    """(HTTP status, JSON body) of one hunting call with request ``body``.

    ``max_rows`` cuts the results (the APIs return at most 100,000 rows, silently);
    ``max_result_bytes``: a larger JSON result is a 400 with the service's wording
    (:data:`RESULT_TOO_LARGE`). ``usage``, when given, receives the run's stats
    (``rows_scanned``, ``rows_returned``, ``truncated``, ``elapsed_seconds``). ``external``:
    the local copies ``externaldata`` may read (see :mod:`.external`).
    """
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(body, sort_keys=True, default=str)))
    query = body.get("Query") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip():
        return 400, _error(api, "BadRequest" if api == "graph" else "InvalidRequestBody",
                           "The request body must be a JSON object with a non-empty 'Query' string "
                           "(parameter names are case-sensitive)", request_id, now)
    lookback = DEFAULT_LOOKBACK
    if api == "graph" and body.get("Timespan") is not None:
        lookback = parse_duration(body["Timespan"])
        if lookback is None:
            return 400, _error(api, "BadRequest", f"Timespan {body['Timespan']!r} is not an ISO 8601 duration "
                                                  "such as P30D or PT12H", request_id, now)
    visible = {k: v for k, v in tables.items() if k in MDE_TABLES} if api == "mde" else tables
    try:
        result = run_query(query, visible, now=now, max_rows=max_rows, timespan=lookback, external=external)
    except KqlError as err:
        return 400, _error(api, "BadRequest", err.message, request_id, now)
    rows = result.to_json_rows()
    if usage is not None:
        usage.update(result.stats)
    if max_result_bytes is not None and len(json.dumps(rows, default=str).encode()) > max_result_bytes:
        return 400, _error(api, "BadRequest", RESULT_TOO_LARGE, request_id, now)
    if api == "graph":
        return 200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
                     "schema": [{"name": c.name, "type": API_TYPE_NAMES[c.type]} for c in result.columns],
                     "results": rows}
    return 200, {"Stats": _stats(result, rows),
                 "Schema": [{"Name": c.name, "Type": API_TYPE_NAMES[c.type]} for c in result.columns],
                 "Results": rows}


def _stats(result: QueryResult, rows: list[dict]) -> dict:
    seconds = result.stats["elapsed_seconds"]
    cpu = format_timespan(timedelta(seconds=round(seconds, 6)))
    return {"ExecutionTime": round(seconds, 6),
            "resource_usage": {"cache": {"memory": {"hits": 0, "misses": 0, "total": 0},
                                         "disk": {"hits": 0, "misses": 0, "total": 0}},
                               "cpu": {"user": cpu, "kernel": "00:00:00", "total cpu": cpu},
                               "memory": {"peak_per_node": 0}},
            "dataset_statistics": [{"table_row_count": len(rows),
                                    "table_size": len(json.dumps(jsonable(rows)))}]}


def _error(api: str, code: str, message: str, request_id: str, now: datetime) -> dict:
    if api == "graph":
        return {"error": {"code": code, "message": message,
                          "innerError": {"date": now.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
                                         "client-request-id": request_id}}}
    return {"error": {"code": code, "message": message, "target": request_id}}
