"""The ACME actions: look an indicator up (read), block it and unblock it (writes), fetch a feed
over plain HTTP (``ctx.http()``), and classify an IP address (no API at all).

Each action is a pydantic input model, an ``async def`` and an :class:`~runner.plugin.Action`
declaration (``ACTIONS``, registered by ``soar_example.register_actions``).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from runner.plugin import Action, ActionContext, ActionInputError, ApiError, Secret, TransientApiError, id_type

from soar_example.api import API, FEEDS_HOST


class Inputs(BaseModel):
    """Base of the input models: a misspelt `with:` key is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


IndicatorType = Literal["ip", "domain", "url", "sha256"]
#: ACME's block ids: a value of another form is the step's input error (and `soar validate`'s),
#: before any call
BlockId = id_type("an ACME block id: blk- and 6 digits", "blk-[0-9]{6}", "blk-000001")


def indicator_type(value: str) -> IndicatorType:
    """What kind of indicator ``value`` is, as ACME names it."""
    try:
        ipaddress.ip_address(value)
        return "ip"
    except ValueError:
        pass
    if "://" in value:
        return "url"
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return "sha256"
    return "domain"


# ---- acme.lookup_indicator (read) ------------------------------------------------------------------

class LookupInput(Inputs):
    indicator: str = Field(description="An IP address, domain name, URL or SHA-256 hash")


class Verdict(BaseModel):
    indicator: str
    type: IndicatorType
    verdict: Literal["malicious", "suspicious", "clean", "unknown"] = Field(
        description="ACME's verdict; `unknown` when ACME has never seen the indicator")
    score: int = Field(ge=0, le=100, description="ACME's risk score, 0-100")
    tags: list[str] = Field(default_factory=list)
    first_seen: str | None = None


async def lookup_indicator(ctx: ActionContext, inputs: LookupInput) -> Verdict:
    """Look an indicator up in ACME Threat Intel: its verdict, risk score (0-100) and tags. An
    indicator ACME has never seen is `unknown` with score 0."""
    value = inputs.indicator.strip()
    try:
        # a value goes into the path as one escaped segment ({value}), never by formatting text
        found = await ctx.api(API).get("/v2/indicators/{value}", segments={"value": value})
    except ApiError as err:
        if err.status != 404:  # ACME's documented answer for an indicator it does not know
            raise
        return Verdict(indicator=value, type=indicator_type(value), verdict="unknown", score=0)
    return Verdict.model_validate(found)


# ---- acme.block_indicator / acme.unblock_indicator (write) ------------------------------------------

class BlockInput(Inputs):
    indicator: str = Field(description="The IP address, domain name, URL or SHA-256 hash to block")
    reason: str = Field("Blocked by soar-runner", description="Shown in ACME's console")
    expires_in_days: int | None = Field(None, ge=1, le=365, description="Lift the block after this many days "
                                                                        "(default: never)")


class Block(BaseModel):
    id: str = Field(description="ACME's block id, e.g. blk-000001")
    indicator: str
    type: IndicatorType
    reason: str
    created_at: str
    expires_at: str | None = None


async def block_indicator(ctx: ActionContext, inputs: BlockInput) -> Block:
    """Block an indicator on ACME's enforcement points. ACME's POST is idempotent by indicator
    (blocking one already blocked answers the existing block), so a lost answer is safe to resend."""
    value = inputs.indicator.strip()
    body = {"indicator": value, "type": indicator_type(value), "reason": inputs.reason}
    if inputs.expires_in_days is not None:
        body["expires_in_days"] = inputs.expires_in_days
    created = await ctx.api(API).post("/v2/blocks", body, idempotent=True)
    ctx.log.info("blocked %s as %s", value, created.get("id"))
    return Block.model_validate(created)


async def _blocks_of(ctx: ActionContext, value: str) -> list[dict]:
    found = await ctx.api(API).get("/v2/blocks", {"indicator": value})
    return list(found.get("blocks", [])) if isinstance(found, dict) else []


async def reconcile_block(ctx: ActionContext, inputs: BlockInput) -> Block | None:
    """After a crash: is the indicator blocked? Then the block took effect (its output);
    else ``None`` and the engine sends it."""
    blocks = await _blocks_of(ctx, inputs.indicator.strip())
    return Block.model_validate(blocks[0]) if blocks else None


class UnblockInput(Inputs):
    indicator: str | None = Field(None, description="Lift every block on this indicator")
    block_id: BlockId | None = Field(None, description="Or: lift this block (blk-000001)")

    @model_validator(mode="after")
    def _one(self) -> "UnblockInput":
        if (self.indicator is None) == (self.block_id is None):
            raise ValueError("give exactly one of indicator and block_id")
        return self


class Unblocked(BaseModel):
    lifted: list[str] = Field(default_factory=list, description="Block ids lifted now")
    absent: list[str] = Field(default_factory=list, description="Block ids that were already gone")


async def unblock_indicator(ctx: ActionContext, inputs: UnblockInput) -> Unblocked:
    """Lift ACME blocks, by indicator or by block id; one that is already gone counts as done."""
    ids = [inputs.block_id] if inputs.block_id is not None else \
        [str(b["id"]) for b in await _blocks_of(ctx, (inputs.indicator or "").strip())]
    out = Unblocked()
    for block_id in ids:
        try:
            await ctx.api(API).delete("/v2/blocks/{block_id}", segments={"block_id": block_id})
        except ApiError as err:
            if err.status != 404:
                raise
            out.absent.append(block_id)
            continue
        out.lifted.append(block_id)
    return out


# ---- acme.fetch_feed (read; plain HTTP through ctx.http()) -------------------------------------------

class FeedInput(Inputs):
    url: str = Field(f"https://{FEEDS_HOST}/v1/feeds/botnet-c2.txt",
                     description="A plain-text feed: one indicator per line, # starts a comment")
    token: Secret | None = Field(None, description="Bearer token of a private feed (a secret: pass "
                                                   "${{ secrets.NAME }})")
    max_items: int = Field(1000, ge=1, le=100_000, description="Stop after this many indicators")


class Feed(BaseModel):
    url: str
    indicators: list[str]
    count: int


async def fetch_feed(ctx: ActionContext, inputs: FeedInput) -> Feed:
    """Download an indicator feed. The feed is not the ACME API, so it goes through the runtime's
    plain HTTP client: under --simulate it reaches the simulated feed host and nothing else."""
    headers = {"Authorization": f"Bearer {inputs.token.reveal()}"} if inputs.token is not None else {}
    client = await ctx.http()
    try:
        resp = await client.get(inputs.url, headers=headers, timeout=30.0)
    except httpx.InvalidURL as exc:
        raise ActionInputError(f"url is not a valid URL ({exc})", hint="give an https:// URL") from None
    except httpx.HTTPError as exc:
        raise TransientApiError(f"GET {inputs.url}: no answer ({type(exc).__name__})", retryable=True,
                                hint="add `retry:` to the step to try again") from None
    if resp.status_code != 200:
        raise ApiError(f"GET {inputs.url} answered HTTP {resp.status_code}", status=resp.status_code,
                       retryable=resp.status_code == 429 or resp.status_code >= 500,
                       hint="a private feed needs `token:`" if resp.status_code in (401, 403) else None)
    lines = [line.strip() for line in resp.text.splitlines()]
    indicators = [line for line in lines if line and not line.startswith("#")][: inputs.max_items]
    return Feed(url=inputs.url, indicators=indicators, count=len(indicators))


# ---- acme.classify_ip (no API, no tenant) ------------------------------------------------------------

class ClassifyIpInput(Inputs):
    address: str = Field(description="An IPv4 or IPv6 address")


class ClassifyIpOutput(BaseModel):
    address: str
    version: int
    private: bool
    reserved: bool
    verdict: Literal["internal", "external"]


async def classify_ip(ctx: ActionContext, inputs: ClassifyIpInput) -> ClassifyIpOutput:
    """Tell whether an address is internal (private, loopback, link-local) or external."""
    try:
        ip = ipaddress.ip_address(inputs.address.strip())
    except ValueError:
        raise ActionInputError(f"{inputs.address!r} is not an IP address",
                               hint="pass an IPv4 or IPv6 address, e.g. 10.0.0.1") from None
    internal = ip.is_private or ip.is_loopback or ip.is_link_local
    ctx.log.info("classified %s as %s", ip, "internal" if internal else "external")
    return ClassifyIpOutput(address=str(ip), version=ip.version, private=ip.is_private, reserved=ip.is_reserved,
                            verdict="internal" if internal else "external")


ACTIONS = [
    Action(name="acme.lookup_indicator", summary="Look an indicator up in ACME Threat Intel (verdict, score)",
           func=lookup_indicator, input_model=LookupInput, output_model=Verdict, effect="read", quota=API),
    Action(name="acme.block_indicator", summary="Block an indicator on ACME's enforcement points",
           func=block_indicator, input_model=BlockInput, output_model=Block, effect="write", quota=API,
           undo="acme.unblock_indicator", reconcile=reconcile_block),
    Action(name="acme.unblock_indicator", summary="Lift ACME's blocks on an indicator", func=unblock_indicator,
           input_model=UnblockInput, output_model=Unblocked, effect="write", quota=API),
    Action(name="acme.fetch_feed", summary="Download an indicator feed (plain text, one per line)",
           func=fetch_feed, input_model=FeedInput, output_model=Feed, effect="read", needs_tenant=False),
    Action(name="acme.classify_ip", summary="Classify an IP address as internal or external", func=classify_ip,
           input_model=ClassifyIpInput, output_model=ClassifyIpOutput, effect="read", needs_tenant=False),
]
