"""Where the simulated Defender XDR, Defender for Endpoint and Graph security APIs answer, and what
the simulated tenants grant the demo app on them: read when the simulated cloud is first built
(``register_sim_services``), before any simulator module is imported.
"""

from __future__ import annotations

REGIONS = ("us", "eu", "uk", "au", "swa", "ina", "aea")
XDR_HOSTS = (["api.security.microsoft.com", "api-gcc.security.microsoft.us", "api-gov.security.microsoft.us"]
             + [f"{r}.api.security.microsoft.com" for r in REGIONS]
             + [f"api-{r}.security.microsoft.com" for r in ("us", "eu", "uk")])
MDE_HOSTS = (["api.securitycenter.microsoft.com", "api.securitycenter.windows.com",
              "api-gcc.securitycenter.microsoft.us", "api-gov.securitycenter.microsoft.us"]
             + [f"api-{r}.securitycenter.microsoft.com" for r in ("us", "eu", "uk", "au")])
GRAPH_HOSTS = ["graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us"]
HOSTS = XDR_HOSTS + MDE_HOSTS + GRAPH_HOSTS

# What the demo app is granted by default: every application role the Defender and Graph security APIs define.
ROLES: dict[str, tuple[str, ...]] = {
    "mde": ("Alert.Read.All", "Alert.ReadWrite.All", "Machine.Read.All", "Machine.ReadWrite.All",
            "Machine.Isolate", "Machine.Scan", "Machine.CollectForensics", "Machine.RestrictExecution",
            "Machine.StopAndQuarantine", "Machine.Offboard", "Machine.LiveResponse",
            "AdvancedQuery.Read.All", "Ti.ReadWrite", "Ti.ReadWrite.All", "File.Read.All",
            "Vulnerability.Read.All", "Software.Read.All", "SecurityRecommendation.Read.All"),
    "xdr": ("Incident.Read.All", "Incident.ReadWrite.All", "AdvancedHunting.Read.All"),
    "graph": ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All", "SecurityAlert.Read.All",
              "SecurityAlert.ReadWrite.All", "ThreatHunting.Read.All"),
}
