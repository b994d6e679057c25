"""Polling works for any registered poll source, not only Defender's: a test plugin registers an
API (no auth, ``https://api.acme.example``) and two sources on it — one listed ``since`` a time,
one with OData paging — served by a fake Acme API on a simulated network. The poller submits each
new item once, dedups the re-read ones, keeps its cursor across a restart; ``soar validate``
refuses a source no plugin registered; a source that vanished fails the poll clearly."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from runner import Services, TenantInfo
from runner.apis import ApiClients, RetryPolicy
from runner.config import SoarConfig
from runner.errors import PlaybookError, PluginError
from runner.http import Network
from runner.playbook.loader import PlaybookLoader
from runner.playbook.model import PollSpec
from runner.plugin import ApiSpec, PollListing, PollSource, hookimpl
from runner.plugins import PluginHost
from runner.serve.polling import Poller
from runner.store import RunStore
from runner.store.cursors import CursorStore

UTC = timezone.utc
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT_ID = "8f1c0c4e-5d0a-4d7e-9a8b-2f0e6c1d3b4a"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AcmePlugin:
    """A third party's plugin: an API and two poll sources on it (one with two listings)."""

    @hookimpl
    def register_apis(self, register):
        register(ApiSpec(name="acme", title="Acme Security", base_url="https://api.acme.example"))
        register(ApiSpec(name="acme_v2", title="Acme Security v2", base_url="https://v2.api.acme.example"))

    @hookimpl
    def register_poll_sources(self, register):
        register(PollSource(
            name="acme.events", description="Acme events, by update time", choice="events",
            listings=(
                PollListing(api="acme", path="/v1/events", time_field="updated", id_field="eventId",
                            paging="since", since_param="updated_after", items_key="events",
                            params={"view": "full"}),
                PollListing(api="acme_v2", path="/v2/events", time_field="updated", id_field="eventId",
                            paging="since", since_param="from", items_key="data"),
            )))
        register(PollSource(
            name="acme.tickets", description="Acme tickets (OData)",
            listings=(PollListing(api="acme", path="/odata/tickets", time_field="modified", id_field="ticketId",
                                  page_size=2, normalize=lambda t: {"number": t["ticketId"], **t}),)))


class AcmeApi:
    """The fake Acme API: items with an update time; records every request."""

    def __init__(self) -> None:
        self.events: dict[str, dict] = {}
        self.tickets: dict[int, dict] = {}
        self.requests: list[httpx.Request] = []
        self.failing = False

    def put_event(self, event_id: str, when: datetime, **fields: Any) -> None:
        self.events[event_id] = {"eventId": event_id, "updated": _iso(when), **fields}

    def put_ticket(self, ticket_id: int, when: datetime, status: str = "open") -> None:
        self.tickets[ticket_id] = {"ticketId": ticket_id, "modified": _iso(when), "status": status}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failing:
            return httpx.Response(503, json={"error": {"code": "Unavailable", "message": "try later"}})
        q = request.url.params
        if request.url.host == "api.acme.example" and request.url.path == "/v1/events":
            since = datetime.fromisoformat(q["updated_after"].replace("Z", "+00:00"))
            found = [e for e in self.events.values()
                     if datetime.fromisoformat(e["updated"].replace("Z", "+00:00")) >= since]
            return httpx.Response(200, json={"events": found, "next": None})
        if request.url.host == "v2.api.acme.example" and request.url.path == "/v2/events":
            return httpx.Response(200, json={"data": list(self.events.values())})
        if request.url.host == "api.acme.example" and request.url.path == "/odata/tickets":
            # only what the poller sends: `modified ge <time>` [and (status eq '...')], $top, $skip
            flt = q["$filter"]
            since = datetime.fromisoformat(flt.split(" ge ", 1)[1].split(" ", 1)[0].replace("Z", "+00:00"))
            status = flt.split("status eq '", 1)[1].split("'", 1)[0] if "status eq" in flt else None
            rows = sorted((t for t in self.tickets.values()
                           if datetime.fromisoformat(t["modified"].replace("Z", "+00:00")) >= since
                           and (status is None or t["status"] == status)), key=lambda t: t["ticketId"])
            skip, top = int(q["$skip"]), int(q["$top"])
            return httpx.Response(200, json={"value": rows[skip:skip + top]})
        return httpx.Response(404, json={"error": {"code": "NotFound", "message": request.url.path}})


async def _no_sleep(_seconds: float) -> None:
    return None


class Env:
    def __init__(self, tmp_path, *, apis: dict[str, str] | None = None) -> None:
        self.host = PluginHost(entry_points=False, extra=[AcmePlugin()])
        self.api = AcmeApi()
        self.network = Network.simulated(self.api.handler)
        self.config = SoarConfig.model_validate({"tenants": {"acme-corp": {"id": TENANT_ID, "apis": apis or {}}}},
                                                context={"apis": self.host.apis})
        self.store_url = f"sqlite:///{tmp_path / 'soar.db'}"
        self.stores: list[RunStore] = []
        self.services = self.new_services()
        self.tenant = TenantInfo("acme-corp", TENANT_ID, "commercial", None)
        self.now = START
        self.events: list[tuple[str, dict]] = []
        self._keys: set[str] = set()

    def new_services(self) -> Services:
        store = RunStore.open(self.store_url)
        self.stores.append(store)
        apis = ApiClients(self.network, None, self.config, quotas="off", registry=self.host.apis,
                          retry=RetryPolicy(attempts=1, backoff=0.0), sleep=_no_sleep)
        return Services(plugins=self.host, store=store, network=self.network, config=self.config, apis=apis)

    def poller(self, services: Services | None = None, **spec: Any) -> Poller:
        return Poller(services or self.services, "watch", PollSpec.model_validate(spec), self.tenant,
                      clock=lambda: self.now.timestamp())

    async def submit(self, payload: dict, key: str) -> str | None:
        if key in self._keys:
            return None
        self._keys.add(key)
        self.events.append((key, payload))
        return f"ev-{len(self.events)}"

    def poll(self, poller: Poller):
        return asyncio.run(poller.poll_once(self.submit))

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def acme(tmp_path):
    env = Env(tmp_path)
    yield env
    env.close()


def test_a_since_source_submits_each_new_item_once_and_keeps_its_cursor(acme):
    poller = acme.poller(source="acme.events", overlap="10m")
    first = acme.poll(poller)
    assert (first.items_seen, first.events) == (0, 0)

    acme.api.put_event("e1", START - timedelta(minutes=2), kind="login")   # inside the overlap window
    acme.api.put_event("e0", START - timedelta(hours=2), kind="old")       # before it: not asked for
    acme.now = START + timedelta(minutes=1)
    second = acme.poll(poller)
    assert (second.submitted, second.events) == (1, 1)
    key, payload = acme.events[0]
    assert key == f"poll:acme-corp:acme.events:e1@{_iso(START - timedelta(minutes=2))}"
    assert {k: payload[k] for k in ("tenant", "source", "api", "id")} == {
        "tenant": "acme-corp", "source": "acme.events", "api": "acme", "id": "e1"}
    assert payload["item"] == acme.api.events["e1"] and payload["lastUpdateTime"] == _iso(START - timedelta(minutes=2))

    # one request per poll, `since` as a parameter, the listing's fixed params; no OData
    sent = acme.api.requests[-1]
    assert sent.url.host == "api.acme.example" and sent.url.path == "/v1/events"
    assert dict(sent.url.params) == {"view": "full", "updated_after": second.since}
    assert second.since == "2026-03-01T11:50:00.000Z" and second.pages == 1

    # re-read inside the overlap window: a duplicate, not a new event
    third = acme.poll(poller)
    assert (third.events, third.duplicates) == (0, 1) and len(acme.events) == 1
    # an update is a new version: processed again, once
    acme.api.put_event("e1", START + timedelta(seconds=30), kind="login", status="closed")
    assert acme.poll(poller).events == 1 and acme.poll(poller).events == 0
    assert [p["item"].get("status") for _k, p in acme.events] == [None, "closed"]

    # the cursor is the newest time seen, and survives a restart (a new store and Poller)
    cursor = CursorStore(acme.services.store).get("watch", "acme-corp", "acme.events")
    assert cursor.watermark == START + timedelta(seconds=30)
    restarted = acme.poller(acme.new_services(), source="acme.events", overlap="10m")
    again = acme.poll(restarted)
    assert again.since == "2026-03-01T11:50:30.000Z" and again.events == 0 and again.duplicates == 1


def test_a_failing_since_request_holds_the_cursor_back_then_is_skipped(acme):
    poller = acme.poller(source="acme.events", overlap="5m")
    acme.poll(poller)
    acme.api.put_event("e1", START + timedelta(seconds=10))
    acme.now = START + timedelta(minutes=1)
    acme.api.failing = True
    held = [acme.poll(poller) for _ in range(2)]
    assert all(r.held_back and r.failed_pages == 1 and r.skipped_pages == 0 for r in held)
    skipped = acme.poll(poller)  # the third poll in a row: recorded as skipped, the cursor is free again
    assert not skipped.held_back and skipped.skipped_pages == 1
    failures = CursorStore(acme.services.store).failures("watch", "acme-corp")
    assert [f.skipped for f in failures] == [False, False, True] and "try later" in failures[-1].error
    acme.api.failing = False
    assert acme.poll(poller).events == 1 and acme.events[0][1]["id"] == "e1"


def test_an_odata_source_pages_and_ands_the_trigger_filter(acme):
    poller = acme.poller(source="acme.tickets", filter="status eq 'open'", overlap="1h")
    acme.poll(poller)
    for n in range(1, 6):
        acme.api.put_ticket(n, START - timedelta(minutes=n))
    acme.api.put_ticket(9, START - timedelta(minutes=1), status="closed")
    result = acme.poll(poller)
    assert (result.submitted, result.pages) == (5, 3)  # page size 2: 2 + 2 + 1
    assert [p["id"] for _k, p in acme.events] == ["5", "4", "3", "2", "1"]  # oldest first
    assert all(p["item"]["number"] == int(p["id"]) and p["api"] == "acme" for _k, p in acme.events)  # normalized
    params = [dict(r.url.params) for r in acme.api.requests[-3:]]
    assert [(p["$top"], p["$skip"]) for p in params] == [("2", "0"), ("2", "2"), ("2", "4")]
    assert params[0]["$filter"] == f"modified ge {result.since} and (status eq 'open')"
    assert acme.poll(poller).events == 0
    assert len(acme.events) == 5


def test_the_tenants_choice_picks_the_listing(tmp_path):
    env = Env(tmp_path, apis={"events": "acme_v2"})
    try:
        env.api.put_event("e7", START - timedelta(minutes=1))
        poller = env.poller(source="acme.events")
        assert poller.listing.api == "acme_v2"
        assert env.poll(poller).events == 1
        sent = env.api.requests[-1]
        assert sent.url.host == "v2.api.acme.example" and "from" in sent.url.params
        assert env.events[0][1]["api"] == "acme_v2"
    finally:
        env.close()


def test_a_source_that_vanished_fails_the_poll_clearly(acme):
    poller = acme.poller(source="acme.gone")
    with pytest.raises(PluginError) as info:
        acme.poll(poller)
    assert "poll source 'acme.gone' is not registered" in info.value.message
    assert "acme.events, acme.tickets" in info.value.hint


PLAYBOOK = """\
name: watch
tenants: [acme-corp]
on:
  - poll: {{source: {source}{extra}}}
steps:
  - id: seen
    action: core.set
    with: {{item: "${{{{ trigger.payload.item }}}}"}}
"""


def _validate(source: str, extra: str = "") -> PlaybookError | None:
    loader = PlaybookLoader(PluginHost(entry_points=False, extra=[AcmePlugin()]))
    try:
        loader.load_text(PLAYBOOK.format(source=source, extra=extra), "watch.yaml")
    except PlaybookError as exc:
        return exc
    return None


def test_validate_accepts_a_registered_source_and_refuses_others():
    assert _validate("acme.events") is None
    assert _validate("acme.tickets", ", filter: \"status eq 'open'\"") is None

    unknown = _validate("acme.event")
    assert str(unknown).startswith("watch.yaml:4:")
    assert "poll source 'acme.event' is not registered by any installed plugin (did you mean 'acme.events'?)" \
        in unknown.message
    assert "acme.events, acme.tickets" in unknown.hint and "install the plugin" in unknown.hint

    shape = _validate("Acme")
    assert "poll source 'Acme' must be a plugin's source name" in str(shape)

    filtered = _validate("acme.events", ", filter: \"kind eq 'x'\"")
    assert "watch.yaml:4:" in str(filtered) and "takes no `filter:`" in filtered.message


def test_the_defender_sources_are_registered_by_the_defender_plugin():
    from runner.plugins import load_plugins

    host = load_plugins()
    incidents = host.poll_sources["defender.incidents"]
    assert host.owner("poll source", "defender.incidents") == host.owner("poll source", "defender.alerts")
    assert [(lst.api, lst.path, lst.time_field, lst.id_field, lst.page_size) for lst in incidents.listings] == [
        ("xdr", "/api/incidents", "lastUpdateTime", "incidentId", 100),
        ("graph", "/v1.0/security/incidents", "lastUpdateDateTime", "id", 50)]
    assert incidents.choice == "incidents" and dict(incidents.listings[1].params) == {"$expand": "alerts"}
    (alerts,) = host.poll_sources["defender.alerts"].listings
    assert (alerts.api, alerts.path, alerts.roles) == ("mde", "/api/alerts", ("Alert.Read.All", "Alert.ReadWrite.All"))
