"""The Defender poll sources (``register_poll_sources``), for ``on: poll: {source: ...}``:

- ``defender.incidents`` — Defender XDR ``GET /api/incidents`` by default, or Microsoft Graph
  ``GET /v1.0/security/incidents?$expand=alerts`` when the tenant has ``apis: {incidents: graph}``
  in soar.yaml (the same choice as the ``defender.*_incident`` actions). Items come out in this
  plugin's one incident shape (XDR names, ``api`` says which API served them), as
  ``defender.list_incidents`` gives them.
- ``defender.alerts`` — Defender for Endpoint ``GET /api/alerts``, items as MDE returns them.

Both page with OData (``$filter=<time> ge <watermark>``, ``$top``/``$skip``, ``@odata.nextLink``).
"""

from __future__ import annotations

from runner.plugin import PollListing, PollSource

from soar_defender.common import ALERT_READ, INCIDENT_READ
from soar_defender.incidents import from_graph, from_xdr

INCIDENTS = PollSource(
    name="defender.incidents",
    description="Defender XDR incidents (or Graph security incidents), by last update time",
    listings=(
        PollListing(api="xdr", path="/api/incidents", time_field="lastUpdateTime", id_field="incidentId",
                    roles=INCIDENT_READ["xdr"], page_size=100, normalize=from_xdr),
        PollListing(api="graph", path="/v1.0/security/incidents", time_field="lastUpdateDateTime", id_field="id",
                    roles=INCIDENT_READ["graph"], page_size=50, params={"$expand": "alerts"},
                    normalize=from_graph),
    ),
    choice="incidents",
)

ALERTS = PollSource(
    name="defender.alerts",
    description="Defender for Endpoint alerts, by last update time",
    listings=(PollListing(api="mde", path="/api/alerts", time_field="lastUpdateTime", id_field="id",
                          roles=ALERT_READ, page_size=100),),
)

SOURCES = (INCIDENTS, ALERTS)
