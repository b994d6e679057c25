"""The ``acme.alerts`` poll source (``register_poll_sources``): ACME's alerts about your
indicators, for playbooks triggered by ``on: poll: {source: acme.alerts, every: 1m}``.

ACME lists alerts by time, not with OData: ``GET /v2/alerts?since=<ISO 8601>`` answers every
alert updated since then in ``{"alerts": [...]}`` — ``paging="since"``. The poller keeps the
cursor (the newest ``updated_at`` seen) and never hands the same (id, updated_at) twice.
"""

from __future__ import annotations

from runner.plugin import PollListing, PollSource

from soar_example.api import API


def normalize(alert: dict) -> dict:
    """The shape a playbook sees as ``trigger.payload.item``."""
    return {
        "id": alert.get("id"),
        "title": alert.get("title"),
        "severity": alert.get("severity"),
        "indicator": alert.get("indicator"),
        "updated_at": alert.get("updated_at"),
        "link": f"https://console.acme.example/alerts/{alert.get('id')}",
    }


ALERTS = PollSource(
    name="acme.alerts",
    description="ACME Threat Intel alerts: one of your indicators seen in ACME's telemetry",
    listings=(PollListing(api=API, path="/v2/alerts", time_field="updated_at", id_field="id",
                          paging="since", since_param="since", items_key="alerts", normalize=normalize),),
)
