"""Contract: Microsoft's Graph SDK (msgraph-sdk) reads every Graph security response the
simulator gives — incidents with ``$expand=alerts``, alerts_v2 list/get/update, runHuntingQuery
on the SDK's namespaced path, errors — with no property left in a model's ``additional_data``
and no enum value the SDK does not know (it parses those as ``None``); and its page iterator
walks our ``@odata.nextLink``.

The SDK's HTTP goes to the simulator in-process (an httpx transport); its token comes from the
simulated Entra ID through azure-identity's ``ClientSecretCredential``. Nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import json
import re
import warnings
from typing import Any

import httpx
import pytest

# kiota-abstractions and msgraph's generated request builders warn, once at import, about their
# own deprecated classes (GetQueryParameters, the per-builder request configurations): not ours
# to fix, so only those two warnings are let through here (the suite turns warnings into errors).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="GetQueryParameters is deprecated", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="This class is deprecated. Please use the generic RequestConfiguration",
                            category=DeprecationWarning)
    from azure.core.credentials import AccessToken
    from azure.identity import ClientSecretCredential
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.security.alert import Alert
    from msgraph.generated.models.security.alert_classification import AlertClassification
    from msgraph.generated.models.security.alert_comment import AlertComment
    from msgraph.generated.models.security.alert_determination import AlertDetermination
    from msgraph.generated.models.security.alert_status import AlertStatus
    from msgraph.generated.models.security.incident import Incident
    from msgraph.generated.security.alerts_v2.alerts_v2_request_builder import Alerts_v2RequestBuilder
    from msgraph.generated.security.incidents.incidents_request_builder import IncidentsRequestBuilder
    from msgraph.generated.security.microsoft_graph_security_run_hunting_query import \
        run_hunting_query_post_request_body as hunting_body
    from msgraph_core import GraphClientFactory, PageIterator

from runner.auth.vaults import network_transport
from runner.sim import SimulatedCloud

GRAPH = "https://graph.microsoft.com"
# The SDK imports its request builders lazily, so the same two warnings come at run time too.
pytestmark = [pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:This class is deprecated. Please use the generic "
                                         "RequestConfiguration:DeprecationWarning")]


class _Recorder:
    """The simulator's handler, keeping each JSON body it answered (to compare with the SDK's models)."""

    def __init__(self, cloud: SimulatedCloud):
        self.cloud = cloud
        self.bodies: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.cloud.handler(request)
        if response.headers.get("content-type", "").startswith("application/json"):
            self.bodies.append((request.method, request.url.path, json.loads(response.content)))
        return response


class _SyncToAsync:
    """azure-identity's sync ClientSecretCredential (routed to the simulated Entra ID) behind the
    async get_token the SDK's authentication provider awaits."""

    def __init__(self, credential: ClientSecretCredential):
        self.credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self.credential.get_token, *scopes)

    async def close(self) -> None:
        self.credential.close()


@pytest.fixture
def graph():
    cloud = SimulatedCloud()
    recorder = _Recorder(cloud)
    credential = ClientSecretCredential(cloud.tenant("contoso").id, cloud.app.client_id, cloud.app.secret.reveal(),
                                        transport=network_transport(cloud.network()))
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)))
    auth = AzureIdentityAuthenticationProvider(_SyncToAsync(credential), scopes=[f"{GRAPH}/.default"])
    adapter = GraphRequestAdapter(auth, client=http)
    client = GraphServiceClient(request_adapter=adapter)
    yield client, adapter, recorder, cloud
    credential.close()


# ---- the check: every property the simulator sent is a property the SDK knows ----------------

def _attr(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def unparsed(raw: Any, model: Any, where: str = "$") -> list[str]:
    """Where the SDK's model lost what the simulator sent: a key in ``additional_data`` (a
    property the SDK's metadata does not have), or a value sent but parsed as ``None`` (an enum
    member the SDK does not know, or a malformed value)."""
    problems: list[str] = []
    if isinstance(raw, list):
        if not isinstance(model, list) or len(model) != len(raw):
            return [f"{where}: sent a list of {len(raw)}, parsed {model!r}"]
        for i, (r, m) in enumerate(zip(raw, model)):
            problems += unparsed(r, m, f"{where}[{i}]")
        return problems
    if not isinstance(raw, dict):
        return problems
    extra = {k: v for k, v in (getattr(model, "additional_data", None) or {}).items() if not k.startswith("@odata.")}
    problems += [f"{where}.{k}: left in additional_data" for k in extra]
    for key, value in raw.items():
        if key.startswith("@odata.") or key in extra:
            continue
        parsed = getattr(model, _attr(key), None)
        if value is not None and parsed is None:
            problems.append(f"{where}.{key}: sent {value!r}, the SDK parsed None")
        elif isinstance(value, (dict, list)) and value:
            problems += unparsed(value, parsed, f"{where}.{key}")
    return problems


def _last(recorder: _Recorder, path: str) -> Any:
    return next(body for method, p, body in reversed(recorder.bodies) if p.endswith(path))


def _run(coro):
    return asyncio.run(coro)


# ---- incidents -----------------------------------------------------------------------------------

def test_incidents_expanded_with_alerts_parse_completely(graph):
    client, _, recorder, cloud = graph
    config = RequestConfiguration(
        query_parameters=IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(expand=["alerts"], top=50))
    page = _run(client.security.incidents.get(config))
    raw = _last(recorder, "/security/incidents")
    assert len(page.value) == len(cloud.defender.tenant("contoso").incidents) == len(raw["value"])
    assert unparsed(raw["value"], page.value) == []
    kinds = {type(ev).__name__ for inc in page.value for a in inc.alerts for ev in a.evidence}
    assert {"DeviceEvidence", "UserEvidence", "FileEvidence"} <= kinds  # the derived types, not the base
    first = page.value[0].alerts[0]
    assert isinstance(first.incident_id, str) and first.detection_source is not None


def test_page_iterator_walks_our_next_link(graph):
    client, adapter, recorder, cloud = graph
    config = RequestConfiguration(
        query_parameters=IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(top=5))

    async def walk() -> list[Incident]:
        first = await client.security.incidents.get(config)
        assert first.odata_next_link and "%24skip=5" in first.odata_next_link.replace("$", "%24")
        seen: list[Incident] = []
        iterator = PageIterator(first, adapter)

        def keep(item: Incident) -> bool:
            seen.append(item)
            return True
        await iterator.iterate(keep)
        return seen

    seen = _run(walk())
    ids = [i.id for i in seen]
    assert len(ids) == len(set(ids)) == len(cloud.defender.tenant("contoso").incidents)
    assert sum(1 for _, p, _ in recorder.bodies if p.endswith("/security/incidents")) == 3  # 5 + 5 + 2


def test_incident_update_through_the_sdk(graph):
    client, _, recorder, cloud = graph
    incident_id = str(cloud.defender.tenant("contoso").incidents[0]["incidentId"])
    body = Incident(classification=AlertClassification.FalsePositive, determination=AlertDetermination.NotMalicious,
                    custom_tags=["sdk"])
    updated = _run(client.security.incidents.by_incident_id(incident_id).patch(body))
    assert unparsed(_last(recorder, f"/security/incidents/{incident_id}"), updated) == []
    assert (updated.classification, updated.determination) == (AlertClassification.FalsePositive,
                                                                AlertDetermination.NotMalicious)
    assert updated.custom_tags == ["sdk"]


# ---- alerts_v2 -----------------------------------------------------------------------------------

def test_alerts_v2_list_get_update(graph):
    client, adapter, recorder, cloud = graph
    tenant = cloud.defender.tenant("contoso")
    config = RequestConfiguration(
        query_parameters=Alerts_v2RequestBuilder.Alerts_v2RequestBuilderGetQueryParameters(top=7))

    async def walk() -> list[Alert]:
        first = await client.security.alerts_v2.get(config)
        assert unparsed(_last(recorder, "/security/alerts_v2")["value"], first.value) == []
        seen: list[Alert] = []
        iterator = PageIterator(first, adapter)
        await iterator.iterate(lambda a: seen.append(a) or True)
        return seen

    alerts = _run(walk())
    assert sorted(a.id for a in alerts) == sorted(a["id"] for a in tenant.alerts)
    alert_id = alerts[0].id
    got = _run(client.security.alerts_v2.by_alert_id(alert_id).get())
    assert unparsed(_last(recorder, f"/security/alerts_v2/{alert_id}"), got) == []
    assert got.alert_web_url and got.incident_web_url and got.classification is not None
    patch = Alert(status=AlertStatus.Resolved, classification=AlertClassification.InformationalExpectedActivity,
                  determination=AlertDetermination.SecurityTesting, assigned_to="soc@contoso.com")
    updated = _run(client.security.alerts_v2.by_alert_id(alert_id).patch(patch))
    assert unparsed(_last(recorder, f"/security/alerts_v2/{alert_id}"), updated) == []
    assert (updated.status, updated.determination, updated.assigned_to) == (
        AlertStatus.Resolved, AlertDetermination.SecurityTesting, "soc@contoso.com")
    assert updated.resolved_date_time is not None
    # The SDK posts a comment as a JSON array; Graph wants one object and answers the array with a
    # 400 (msgraph-sdk-python#1168, msgraph-sdk-dotnet#2514) -- the simulator does the same.
    with pytest.raises(ODataError) as info:
        _run(client.security.alerts_v2.by_alert_id(alert_id).comments.post([AlertComment(comment="sdk")]))
    assert info.value.response_status_code == 400 and "Empty Payload" in info.value.error.message
    cloud.defender.tenant("contoso").alert(alert_id)["comments"].append(
        {"comment": "posted", "createdBy": "soc@contoso.com", "createdTime": "2026-01-01T00:00:00Z"})
    again = _run(client.security.alerts_v2.by_alert_id(alert_id).get())
    assert unparsed(_last(recorder, f"/security/alerts_v2/{alert_id}"), again) == []
    assert [(c.comment, c.created_by_display_name) for c in again.comments] == [("posted", "soc@contoso.com")]


# ---- hunting -------------------------------------------------------------------------------------

def test_run_hunting_query_on_the_sdk_path(graph):
    client, _, recorder, cloud = graph
    body = hunting_body.RunHuntingQueryPostRequestBody(query="DeviceInfo | take 3 | project DeviceId, DeviceName")
    result = _run(client.security.microsoft_graph_security_run_hunting_query.post(body))
    method, path, raw = recorder.bodies[-1]
    assert (method, path) == ("POST", "/v1.0/security/microsoft.graph.security.runHuntingQuery")
    assert [(s.name, s.type) for s in result.schema] == [(c["name"], c["type"]) for c in raw["schema"]]
    assert unparsed({"schema": raw["schema"]}, result) == []  # also: nothing else in additional_data
    # a row is Graph's open type security.dictionary: its columns are additional_data by design
    assert [r.additional_data for r in result.results] == raw["results"] and len(raw["results"]) == 3


# ---- errors --------------------------------------------------------------------------------------

def test_errors_parse_as_odata_errors(graph):
    client, _, _, _ = graph
    with pytest.raises(ODataError) as info:
        _run(client.security.alerts_v2.by_alert_id("da000_0").get())
    assert info.value.response_status_code == 404
    assert info.value.error.code == "NotFound" and "da000_0" in info.value.error.message
    assert info.value.error.inner_error is not None and not info.value.error.additional_data
    bad = RequestConfiguration(
        query_parameters=IncidentsRequestBuilder.IncidentsRequestBuilderGetQueryParameters(filter="nosuch eq 1"))
    with pytest.raises(ODataError) as info:
        _run(client.security.incidents.get(bad))
    assert info.value.response_status_code == 400 and info.value.error.code == "BadRequest"
