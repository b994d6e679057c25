"""Polling triggers: ``poll: {source: <vendor.things>, every, filter, overlap, batch}``.

A plugin registers each source (``register_poll_sources``, :mod:`runner.serve.sources`): which
APIs can list it, at which path, with which time and id fields, roles and page size. This module
knows no source by name. A :class:`Poller` watches one source for one (playbook, tenant): it looks
the source up in the plugin host, picks the listing's API for the tenant with
:func:`runner.apis.choice.choose_api` (the source's ``choice`` key of the tenant's ``apis:``), and
lists it through :class:`runner.apis.ApiClients` — the same quotas, token handling, retries and
error mapping as actions. Each :meth:`Poller.poll_once`:

1. reads the scope's cursor (:mod:`runner.store.cursors`): the **watermark**, the max
   ``time_field`` seen (on the first poll: the clock's now);
2. lists what changed since ``watermark - overlap``. A listing that pages ``odata`` is read with
   ``$filter=<time_field> ge <since>`` (and the trigger's ``filter:`` ANDed in), page by page
   (``$top``/``$skip``, ``@odata.nextLink``); one that pages ``since`` with one request carrying
   ``<since_param>=<since>`` (ISO 8601), its items under ``items_key``;
3. drops every item whose key ``(id, time)`` was already processed, so the overlap window
   re-reads late arrivals without repeating anything; an *update* of an item (a new time) is a
   new key and is processed again;
4. hands the new items to ``submit`` — one call per item, oldest first, or one per poll with
   ``batch: true`` — and only then saves the cursor and the new keys (keys older than the window
   are pruned). ``submit`` dedups on its key too, so a crash between 4 and the save repeats nothing.

A page that fails after the API client's own retries is recorded (store + log, with playbook,
tenant and page) and holds the watermark back, so the next poll reads it again. After
``skip_after`` consecutive polls held back like that (default 3) the failing page is **skipped**:
recorded as such, the poll goes on past it and the watermark moves. The count is per poll, not
per page offset, because new arrivals shift items between pages; so a failing page holds the
cursor back for at most ``skip_after`` polls. Items of a skipped page whose time falls behind
``watermark - overlap`` are lost (the skip record says where to look). So is an item that arrives
later than the overlap window: its time is older than any future query. Size ``overlap`` to the
delivery delay you expect (default 1 h).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from runner import odata
from runner.errors import PluginError, SoarError
from runner.serve.sources import PollListing, PollSource, unknown_source_hint
from runner.store.cursors import CursorStore

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.context import Services, TenantInfo
    from runner.playbook.model import PollSpec

log = logging.getLogger("soar.poll")
UTC = timezone.utc

Submit = Callable[[dict, str], Awaitable["str | None"]]


@dataclass
class PollResult:
    """What one poll did, for logs and metrics. ``submitted``: items delivered in events that
    ``submit`` created (``events`` of them: one per item, or one per batch); ``duplicates``: items
    already processed (by this poller or, per ``submit``, before a crash)."""

    items_seen: int = 0
    submitted: int = 0
    duplicates: int = 0
    pages: int = 0
    failed_pages: int = 0
    skipped_pages: int = 0
    events: int = 0
    cursor: str | None = None    # the watermark after the poll (ISO 8601)
    since: str | None = None     # the lower bound this poll queried
    held_back: bool = False      # a failed page kept the watermark where it was

    def as_dict(self) -> dict:
        return asdict(self)


# ---- times -------------------------------------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    """An API time (``...Z``, up to 7 fractional digits) as an aware UTC datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def odata_time(value: datetime) -> str:
    """``2026-01-01T00:00:00.123Z``, floored to the millisecond (so the query never narrows)."""
    return str(odata.datetime(value, milliseconds=True))


def floor_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def key_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- the source --------------------------------------------------------------------------------

def scope_name(spec: "PollSpec") -> str:
    """The cursor's scope: the source, plus a hash of ``filter:`` (a new filter is a new cursor)."""
    if not spec.filter:
        return spec.source
    return f"{spec.source}#{hashlib.sha256(spec.filter.encode()).hexdigest()[:12]}"


def registered_source(services: Any, name: str) -> tuple[PollSource, Any]:
    """The poll source ``name`` from the plugin host of ``services`` (``services.plugins``, else
    the process-wide one), with the host; a name no installed plugin registered is a
    :class:`~runner.errors.PluginError` that lists the registered ones."""
    host = getattr(services, "plugins", None)
    if host is None:
        from runner.plugins import load_plugins

        host = load_plugins()
    source = host.poll_sources.get(name)
    if source is None:
        raise PluginError(f"poll source '{name}' is not registered by any installed plugin",
                          hint=unknown_source_hint(host, name))
    return source, host


def choose_listing(services: Any, tenant: Any, source: PollSource) -> PollListing:
    """The listing that serves ``source`` for ``tenant``: its API chosen by
    :func:`runner.apis.choice.choose_api` (the tenant's ``apis.<source.choice>``, else the first)."""
    from runner.apis.choice import choose_api

    api = choose_api(getattr(services, "config", None), tenant.name, [lst.api for lst in source.listings],
                     choice=source.choice)
    return next(lst for lst in source.listings if lst.api == api)


def _same(item: dict) -> dict:
    return item


def _reason(exc: SoarError) -> str:
    text = f"{type(exc).__name__}: {exc.message}"
    return f"{text} (hint: {exc.hint})" if exc.hint else text


# ---- the poller ----------------------------------------------------------------------------------

class Poller:
    """Polls one source for one (playbook, tenant); see the module docstring.

    ``services``: the process's :class:`~runner.engine.context.Services` (its ``plugins`` registry
    holds the source; its ``store`` the cursor; its ``apis`` — made on first use — fetch).
    ``clock``: Unix seconds, used for the first watermark only. ``skip_after``: polls a failing
    page may hold the cursor back. ``page_size``: ``$top`` per request (default: the listing's).
    ``max_pages``: safety stop per poll.

    The source is looked up, and its API chosen, on the first poll: a source that no installed
    plugin registers fails that poll (and each next one) with a :class:`~runner.errors.PluginError`.
    """

    def __init__(self, services: "Services", playbook_name: str, spec: "PollSpec", tenant: "TenantInfo", *,
                 clock: Callable[[], float] = time.time, skip_after: int = 3, page_size: int | None = None,
                 max_pages: int = 1000, cursors: CursorStore | None = None) -> None:
        if skip_after < 1:
            raise ValueError("skip_after must be at least 1")
        self.services = services
        self.playbook = playbook_name
        self.spec = spec
        self.tenant = tenant
        self.clock = clock
        self.skip_after = skip_after
        self.max_pages = max_pages
        self.scope = scope_name(spec)
        self._page_size = page_size
        self._listing: PollListing | None = None
        self.cursors = cursors or CursorStore(services.store)
        self._running = False

    def __repr__(self) -> str:
        return f"Poller({self.playbook!r}, {self.spec.source!r}, tenant={self.tenant.name!r})"

    @property
    def label(self) -> str:
        return f"poll {self.spec.source} for playbook '{self.playbook}', tenant '{self.tenant.name}'"

    @property
    def listing(self) -> PollListing:
        """How the source is listed for this tenant (looked up once)."""
        if self._listing is None:
            source, _host = registered_source(self.services, self.spec.source)
            listing = choose_listing(self.services, self.tenant, source)
            if self.spec.filter and listing.paging != "odata":
                raise PluginError(f"poll source '{source.name}' is listed from API '{listing.api}' by time "
                                  f"(`{listing.since_param}=`), which takes no `filter:`",
                                  hint="remove `filter:` from the poll trigger and filter the items in the "
                                       "playbook (a step's `when:`)")
            self._listing = listing
        return self._listing

    @property
    def page_size(self) -> int:
        return self._page_size or self.listing.page_size

    async def poll_once(self, submit: Submit) -> PollResult:
        """Fetch what changed since the watermark (minus the overlap), submit what is new, save."""
        if self._running:
            raise RuntimeError(f"{self.label}: a poll is already running (one at a time per poller)")
        self._running = True
        try:
            return await self._poll(submit)
        finally:
            self._running = False

    async def _poll(self, submit: Submit) -> PollResult:
        src = self.listing
        args = (self.playbook, self.tenant.name, self.scope)
        cursor = self.cursors.get(*args)
        watermark = cursor.watermark if cursor and cursor.watermark else datetime.fromtimestamp(self.clock(), UTC)
        held_failures = cursor.failures if cursor else 0
        since = floor_ms(watermark - timedelta(seconds=self.spec.overlap))
        result = PollResult(since=odata_time(since))
        skip_mode = held_failures + 1 >= self.skip_after
        fetch = self._fetch_odata if src.paging == "odata" else self._fetch_since
        items, held, error = await fetch(src, since, skip_mode, result)

        seen = self.cursors.seen_keys(*args)
        fresh: dict[str, tuple[datetime, dict]] = {}
        newest = watermark
        for item in items:
            item_id, when = item.get(src.id_field), parse_time(item.get(src.time_field))
            if item_id is None or when is None:
                log.warning("%s: item without %s/%s ignored", self.label, src.id_field, src.time_field)
                continue
            newest = max(newest, when)
            key = f"{item_id}@{key_time(when)}"
            if key in seen or key in fresh:
                result.duplicates += 1
            else:
                fresh[key] = (when, item)
        result.items_seen = len(items)

        done: list[tuple[str, datetime]] = []
        try:
            await self._submit(submit, fresh, result, done)
        except BaseException:
            # what was submitted stays recorded; the watermark waits for the rest
            self.cursors.save(*args, watermark=watermark, failures=held_failures, last_error=error,
                              new_keys=done, prune_before=since)
            raise
        if not held:
            watermark = newest
        failures = held_failures + 1 if held else 0
        self.cursors.save(*args, watermark=watermark, failures=failures, last_error=error, new_keys=done,
                          prune_before=floor_ms(watermark - timedelta(seconds=self.spec.overlap)))
        result.cursor = key_time(watermark)
        result.held_back = held
        log.debug("%s: %s", self.label, result)
        return result

    async def _submit(self, submit: Submit, fresh: dict[str, tuple[datetime, dict]], result: PollResult,
                      done: list[tuple[str, datetime]]) -> None:
        src = self.listing
        normalize = src.normalize or _same
        base = {"tenant": self.tenant.name, "source": self.spec.source, "api": src.api, "since": result.since}
        prefix = f"poll:{self.tenant.name}:{self.scope}:"
        ordered = sorted(fresh.items(), key=lambda kv: (kv[1][0], kv[0]))
        if self.spec.batch:
            if not ordered:
                return
            keys = [k for k, _ in ordered]
            digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]
            payload = {**base, "items": [normalize(item) for _, (_, item) in ordered]}
            event = await submit(payload, f"{prefix}batch:{digest}")
            if event is None:
                result.duplicates += len(ordered)
            else:
                result.events += 1
                result.submitted += len(ordered)
            done.extend((k, when) for k, (when, _) in ordered)
            return
        for key, (when, item) in ordered:
            payload = {**base, "id": str(item[src.id_field]), "lastUpdateTime": key_time(when),
                       "item": normalize(item)}
            event = await submit(payload, prefix + key)
            if event is None:
                result.duplicates += 1
            else:
                result.events += 1
                result.submitted += 1
            done.append((key, when))

    async def _fetch_since(self, src: PollListing, since: datetime, skip_mode: bool,
                           result: PollResult) -> tuple[list[dict], bool, str | None]:
        """One request with ``<since_param>=<since>``; returns (items, held back, last error)."""
        client = self._client(src)
        try:
            body = await client.get(src.path, {**dict(src.params), src.since_param: odata_time(since)})
        except SoarError as exc:
            error = _reason(exc)
            self._failed(since, 0, None, error, skipped=skip_mode, result=result)
            return [], not skip_mode, error
        result.pages += 1
        page = body.get(src.items_key) if isinstance(body, dict) else body  # a bare list: the items
        items = [i for i in page if isinstance(i, dict)] if isinstance(page, list) else []
        return items, False, None

    async def _fetch_odata(self, src: PollListing, since: datetime, skip_mode: bool,
                           result: PollResult) -> tuple[list[dict], bool, str | None]:
        """Every page from ``since``; returns (items, held back by a failed page, last error)."""
        client = self._client(src)
        page_size = self.page_size
        # the trigger's `filter:` is the playbook author's text; the watermark is a typed literal
        flt = odata.all_of(odata.ge(src.time_field, odata.datetime(since, milliseconds=True)),
                           odata.raw(self.spec.filter))
        base = {**dict(src.params), "$filter": flt}
        url: str = src.path
        query: dict | None = {**base, "$top": page_size, "$skip": 0}
        items: list[dict] = []
        offset, index, followed, failed_in_a_row = 0, 0, False, 0
        error: str | None = None
        while True:
            if index >= self.max_pages:
                self._failed(since, index, offset, f"stopped after {self.max_pages} pages in one poll",
                             skipped=True, result=result)
                return items, False, error
            try:
                body = await client.get(url, query)
            except SoarError as exc:
                error = _reason(exc)
                self._failed(since, index, None if followed else offset, error, skipped=skip_mode, result=result)
                failed_in_a_row += 1
                if not skip_mode:
                    return items, True, error
                if followed or failed_in_a_row > 1:  # no way past it, or the API is down: stop here
                    return items, False, error
                offset += page_size
                index += 1
                query = {**base, "$top": page_size, "$skip": offset}
                continue
            failed_in_a_row = 0
            result.pages += 1
            page = body.get(src.items_key, []) if isinstance(body, dict) else []
            items.extend(i for i in page if isinstance(i, dict))
            link = body.get("@odata.nextLink") if isinstance(body, dict) else None
            index += 1
            if link:
                url, query, followed = link, None, True
                continue
            if followed or len(page) < page_size:
                return items, False, error
            offset += len(page)
            query = {**base, "$top": page_size, "$skip": offset}

    def _failed(self, since: datetime, page: int, offset: int | None, error: str, *, skipped: bool,
                result: PollResult) -> None:
        result.failed_pages += 1
        result.skipped_pages += int(skipped)
        where = f"page {page}" + (f" ($skip={offset})" if offset is not None else "")
        if skipped:
            log.error("%s: %s failed and is SKIPPED (the cursor moves past it; items there older than "
                      "the overlap window are not processed): %s", self.label, where, error)
        else:
            log.warning("%s: %s failed; the cursor waits for it (it is skipped after %d polls): %s",
                        self.label, where, self.skip_after, error)
        self.cursors.record_failure(self.playbook, self.tenant.name, self.scope, since=since, page=page,
                                    offset=offset, error=error, skipped=skipped)

    def _client(self, src: PollListing) -> Any:
        from runner.apis import ApiClients

        apis = getattr(self.services, "apis", None) or ApiClients.for_services(self.services)
        return apis.client(self.tenant, src.api, src.roles, quota=src.api)
