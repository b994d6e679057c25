"""Advanced hunting: ``defender.run_hunting_query`` on Graph, XDR or MDE, one normalized output.

Three endpoints run KQL (Microsoft's advanced hunting API pages):

======  ==========================================  =========================  ==========
api     endpoint                                    role                       timeout
======  ==========================================  =========================  ==========
graph   ``POST /v1.0/security/runHuntingQuery``     ThreatHunting.Read.All     3 min
xdr     ``POST /api/advancedhunting/run``           AdvancedHunting.Read.All   3 min
mde     ``POST /api/advancedqueries/run``           AdvancedQuery.Read.All     200 s
======  ==========================================  =========================  ==========

Graph answers ``{"schema": [{"name", "type"}], "results"}``; XDR and MDE answer
``{"Stats", "Schema": [{"Name", "Type"}], "Results"}``. The output is one shape whatever the
casing: ``schema`` (name, type), ``results`` (the rows), ``stats`` (XDR/MDE only), plus ``api``
(which endpoint answered) and why it was chosen. ``api: auto`` takes the tenant's
``apis.hunting`` from soar.yaml, else Graph, else — when the app's tokens lack Graph's role —
XDR or MDE, whichever role the app holds. XDR and MDE hunting stop returning data on
2027-02-01, so using them adds a warning.

Every call draws on the tenant's ``hunting`` quota bucket (45 calls/min, 1,500/h); a 429 that
speaks of the CPU quota waits for the reset its body names (runner.apis). The APIs return at
most 100,000 rows and refuse results above 50 MB (Graph) / 124 MB (MDE); both are reported as
errors that say how to narrow the query, as is a refused query (the API's message names the
operator and position).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from runner.plugin import Action, errors
from runner.plugin import Location

from soar_defender.common import Inputs, Loose, choose_api, client, tenant_of

Api = Literal["graph", "xdr", "mde"]
ORDER: tuple[str, ...] = ("graph", "xdr", "mde")
ROLES: dict[str, tuple[str, ...]] = {"graph": ("ThreatHunting.Read.All",), "xdr": ("AdvancedHunting.Read.All",),
                                     "mde": ("AdvancedQuery.Read.All",)}
PATHS = {"graph": "/v1.0/security/runHuntingQuery", "xdr": "/api/advancedhunting/run",
         "mde": "/api/advancedqueries/run"}
TITLES = {"graph": "Microsoft Graph", "xdr": "Defender XDR", "mde": "Defender for Endpoint"}
TIMEOUTS = {"graph": 180.0, "xdr": 180.0, "mde": 200.0}  # the service's own limit per request
TIMEOUT_MARGIN = 15.0  # wait a little longer than the service, so that its own timeout answer arrives
ROW_LIMIT = 100_000  # every endpoint stops there (silently)
SIZE_LIMITS = {"graph": "50 MB", "xdr": "124 MB", "mde": "124 MB"}
LOOKBACK_DAYS = 30  # XDR and MDE always see the last 30 days
RETIREMENT = dt.date(2027, 2, 1)  # XDR and MDE hunting stop returning data (Microsoft's retirement notice for the XDR and MDE hunting APIs)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class SchemaColumn(Loose):
    name: str = Field(description="Column name")
    type: str | None = Field(None, description="Column type as the API names it (String, DateTime, Int64...)")


class HuntingResult(Loose):
    """The normalized answer of any of the three hunting endpoints."""

    api: Api = Field(description="The endpoint that answered: graph, xdr or mde")
    chosen_by: Literal["input", "tenant config", "default", "roles"] = Field(
        description="Why that endpoint: the step's `api`, the tenant's `apis.hunting`, the default (Graph), "
                    "or the roles the app holds")
    endpoint: str = Field(description="The URL that was called")
    columns: list[SchemaColumn] = Field(alias="schema", description="The result's columns, in order")
    results: list[dict] = Field(description="The rows (column name → value); feed them to a `foreach`")
    stats: dict | None = Field(None, description="Execution statistics, when the endpoint gives them (XDR, MDE)")
    row_count: int = Field(description="len(results)")
    warnings: list[str] = Field(default_factory=list, description="e.g. the XDR/MDE retirement notice")


class RunHuntingQueryInput(Inputs):
    query: str = Field(min_length=1, description="The KQL query")
    timespan: str | None = Field(None, description="How far back to look: ISO 8601 (P7D, PT12H) or 7d/12h/30m. "
                                                   "Graph only; XDR and MDE always look back 30 days")
    api: Literal["auto", "graph", "xdr", "mde"] = Field(
        "auto", description="graph, xdr, mde, or auto (the tenant's `apis.hunting`, else Graph, else whichever "
                            "hunting role the app holds)")
    parameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Values for the query, declared as `let name = <value>;` on one line "
                                          "before it, safely quoted (use them instead of `${{ }}` inside the KQL)")
    max_rows: int = Field(ROW_LIMIT, ge=1, le=ROW_LIMIT, description="Fail if the query returns more rows than this")
    allow_truncated: bool = Field(False, description="Accept a result cut at the APIs' 100,000-row limit "
                                                     "instead of failing")

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict) -> dict:
        for name, v in value.items():
            if not _NAME.match(name):
                raise ValueError(f"parameter name {name!r} must be a KQL identifier (letters, digits, _)")
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"parameter {name!r} must be a finite number")
            if isinstance(v, str) and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", v):
                raise ValueError(f"parameter {name!r} holds control characters")
        return value


# ---- helpers -------------------------------------------------------------------------------------

def kql_literal(value: str | int | float | bool) -> str:
    """A KQL literal for ``value``: strings double-quoted with backslash escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"real({value!r})"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") \
        .replace("\t", "\\t")
    return f'"{escaped}"'


def with_parameters(query: str, parameters: dict) -> str:
    if not parameters:
        return query
    lets = " ".join(f"let {name} = {kql_literal(v)};" for name, v in parameters.items())
    return f"{lets}\n{query}"


def lookback(text: str | None) -> tuple[str, float] | None:
    """(ISO 8601 duration, seconds) for the step's ``timespan``; ``None`` when not given."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    m = _ISO.match(text.upper())
    if m and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
        w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = w * 604800 + d * 86400 + h * 3600 + mi * 60 + s
        return text.upper(), seconds
    from runner.plugin import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError:
        raise errors.ActionInputError(f"timespan {text!r} is not a duration",
                                      hint="write ISO 8601 (P7D, PT12H) or 7d, 12h, 30m") from None
    return _iso(seconds), seconds


def _iso(seconds: float) -> str:
    for unit, size, prefix in (("D", 86400, "P"), ("H", 3600, "PT"), ("M", 60, "PT")):
        if seconds >= size and seconds % size == 0:
            return f"{prefix}{int(seconds // size)}{unit}"
    return f"PT{seconds:g}S"


def retirement_warning(api: str, today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    days = (RETIREMENT - today).days
    when = f"stops returning data on {RETIREMENT} ({days} days from now)" if days > 0 else \
        f"stopped returning data on {RETIREMENT}"
    return (f"the {TITLES[api]} advanced hunting API is retired and {when}; use api: graph "
            f"(application role ThreatHunting.Read.All)")


async def choose(ctx: Any, wanted: str) -> tuple[str, str]:
    """(api, why): the step's choice, the tenant's ``apis.hunting``, else the first API whose
    hunting role the app's token holds (Graph first). No hunting call is made here."""
    return await choose_api(ctx, wanted, preference="hunting", roles={api: ROLES[api] for api in ORDER},
                            titles=TITLES, what="advanced-hunting")


def _get(mapping: Any, key: str) -> Any:
    """``mapping[key]`` whatever its casing (Schema/schema, Name/name)."""
    if not isinstance(mapping, dict):
        return None
    if key in mapping:
        return mapping[key]
    low = key.lower()
    return next((v for k, v in mapping.items() if isinstance(k, str) and k.lower() == low), None)


def normalize(body: Any) -> tuple[list[dict], list[dict], dict | None]:
    """(schema, results, stats) of a Graph, XDR or MDE answer."""
    if not isinstance(body, dict) or not isinstance(_get(body, "results"), list):
        raise errors.ApiError("the hunting API answered without a results list", code="UnexpectedAnswer",
                              hint="check `app.resources` and the tenant's region in soar.yaml")
    schema = [{"name": _get(c, "name"), "type": _get(c, "type")} for c in _get(body, "schema") or []
              if isinstance(c, dict)]
    stats = _get(body, "stats")
    return schema, list(_get(body, "results")), stats if isinstance(stats, dict) else None


def explain(err: errors.ApiError, api: str, inputs: RunHuntingQueryInput) -> errors.ApiError:
    """A refused query, a too-large result, a retired endpoint: say what to do about it."""
    text = f"{err.code or ''} {err.message}".lower()
    if err.status == 400 and "exceeded the allowed result size" in text:
        return errors.ApiError(
            f"the query's result is larger than {TITLES[api]} returns ({SIZE_LIMITS[api]}): {err.message}",
            status=400, code="ResultTooLarge", where=err.where,
            hint="return less: `| project` only the columns you need, `| summarize`, or `| take N`")
    if err.status == 400:
        shift = " (the first line holds the `let`s for `parameters`)" if inputs.parameters else ""
        return errors.ApiError(f"{TITLES[api]} refused the hunting query: {err.message}", status=400,
                               code=err.code, where=err.where,
                               hint=f"fix the KQL in `query`; line and column count from its first line{shift}. "
                                    "docs/kql.md lists what the simulated tenants support")
    if api in ("xdr", "mde") and err.status in (404, 410):
        return errors.ApiError(err.message, status=err.status, code=err.code, where=err.where,
                               hint=retirement_warning(api))
    return err


# ---- the action ----------------------------------------------------------------------------------

async def run_hunting_query(ctx, inputs: RunHuntingQueryInput) -> HuntingResult:
    """Run a KQL query on Graph (runHuntingQuery), XDR (advancedhunting/run) or MDE (advancedqueries/run)
    and return one normalized shape: `schema`, `results`, `stats`, and which endpoint answered."""
    api, why = await choose(ctx, inputs.api)
    warnings = []
    if api != "graph":
        warnings.append(retirement_warning(api))
        ctx.log.warning("%s", warnings[-1])
    body: dict[str, Any] = {"Query": with_parameters(inputs.query, inputs.parameters)}
    span = lookback(inputs.timespan)
    if span is not None:
        if api == "graph":
            body["Timespan"] = span[0]
        elif not math.isclose(span[1], LOOKBACK_DAYS * 86400):
            raise errors.ActionInputError(
                f"timespan {inputs.timespan!r} works on Graph only; {TITLES[api]} always looks back "
                f"{LOOKBACK_DAYS} days", hint="filter in the query instead (`| where Timestamp > ago(7d)`), or "
                                              "use api: graph")
    c = client(ctx, api, ROLES[api], quota="hunting")
    try:
        answer = await c.post(PATHS[api], body, idempotent=True, timeout=TIMEOUTS[api] + TIMEOUT_MARGIN,
                              headers={"Content-Type": "application/json; charset=utf-8"})
    except errors.ApiError as err:
        raise explain(err, api, inputs) from None
    schema, rows, stats = normalize(answer)
    where = Location(tenant=tenant_of(ctx).name)
    if len(rows) >= ROW_LIMIT and not inputs.allow_truncated:
        raise errors.ApiError(
            f"the query returned {len(rows):,} rows, the hunting APIs' limit: the result is probably cut off",
            code="RowLimitReached", where=where,
            hint="narrow the query (a shorter timespan, `| where`, `| summarize`), or set allow_truncated: true")
    if len(rows) > inputs.max_rows:
        raise errors.ApiError(f"the query returned {len(rows):,} rows, more than max_rows ({inputs.max_rows:,})",
                              code="TooManyRows", where=where,
                              hint="narrow the query, or raise `max_rows` if that many rows are expected")
    ctx.log.info("hunting query on %s: %d row(s)", api, len(rows))
    return HuntingResult.model_validate({
        "api": api, "chosen_by": why, "endpoint": c.url(PATHS[api]), "schema": schema, "results": rows,
        "stats": stats, "row_count": len(rows), "warnings": warnings})


ACTIONS = [
    Action(name="defender.run_hunting_query", summary="Run an advanced hunting (KQL) query on Graph, XDR or MDE, "
           "normalized to one shape", func=run_hunting_query, input_model=RunHuntingQueryInput,
           output_model=HuntingResult, effect="read", roles=ROLES, quota="hunting", api_choice="hunting"),
]
