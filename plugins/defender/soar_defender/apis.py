"""The three APIs this plugin calls, registered with soar-runner (``register_apis``):
Defender for Endpoint (``mde``, the WindowsDefenderATP app), Defender XDR (``xdr``, the
Microsoft Threat Protection app) and Microsoft Graph (``graph``), each in the commercial, GCC,
GCC High and DoD clouds, with Defender's regional hosts and documented call limits.

Facts from Microsoft's Defender for Endpoint and Defender XDR pages for US Government customers
(msticpy and demisto agree). Where Microsoft's sources disagree (GCC's Graph host) the choice is
written next to the value.
"""

from __future__ import annotations

from runner.plugin import ApiSpec, EntraResource, QuotaReset

# Regional API hosts (commercial cloud only). MDE's older pages list
# api-us|eu|uk|au.securitycenter.microsoft.com; current pages list
# us|eu|uk|au|swa|ina|aea.api.security.microsoft.com, which XDR uses too.
MDE_LEGACY_REGIONS = ("us", "eu", "uk", "au")
REGIONS = ("us", "eu", "uk", "au", "swa", "ina", "aea")

MDE_BASE = {
    "commercial": "https://api.securitycenter.microsoft.com",
    "gcc": "https://api-gcc.securitycenter.microsoft.us",
    "gcc_high": "https://api-gov.securitycenter.microsoft.us",
    "dod": "https://api-gov.securitycenter.microsoft.us",
}
XDR_BASE = {
    "commercial": "https://api.security.microsoft.com",
    "gcc": "https://api-gcc.security.microsoft.us",
    "gcc_high": "https://api-gov.security.microsoft.us",
    "dod": "https://api-gov.security.microsoft.us",
}
GRAPH_BASE = {
    "commercial": "https://graph.microsoft.com",
    # demisto maps GCC Graph to .com in one table and .us in another (UNCONF);
    # GCC (moderate) tenants live in the worldwide Entra ID, so we pick .com.
    "gcc": "https://graph.microsoft.com",
    "gcc_high": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
}
# MDE's `windowsatpservice` identifier URI form (its curl samples), per cloud
WINDOWSATPSERVICE = {
    "commercial": "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "gcc": "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "gcc_high": "https://securitycenter.onmicrosoft.us/windowsatpservice",
    "dod": "https://securitycenter.onmicrosoft.us/windowsatpservice",
}


def _regional(api: str, table: dict[str, str]):
    def base_url(cloud: str, region: str | None) -> str:
        if cloud not in table:
            raise ValueError(f"unknown cloud {cloud!r}")
        if not region or cloud != "commercial":
            return table[cloud]
        region = region.lower()
        if region not in REGIONS:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(REGIONS)}")
        if api == "mde" and region in MDE_LEGACY_REGIONS:
            return f"https://api-{region}.securitycenter.microsoft.com"
        return f"https://{region}.api.security.microsoft.com"

    return base_url


#: Advanced hunting's CPU quota: a 429 whose message speaks of CPU names a reset up to 15 minutes
#: away (the call-count 429s name a minute at most).
HUNTING_CPU = QuotaReset(r"\bCPU\b", "the tenant's CPU quota",
                         "run the query later, or make it cheaper (filter on time first, return fewer "
                         "columns, summarize)")

MDE = ApiSpec(
    name="mde",
    title="Microsoft Defender for Endpoint (WindowsDefenderATP)",
    base_url=_regional("mde", MDE_BASE),
    regions=REGIONS,
    auth=EntraResource(
        app_id="fc780465-2017-40d4-a0c5-307022471b92",
        display_name="WindowsDefenderATP",
        resources=dict(MDE_BASE),
        identifier_uris=(
            "https://api.securitycenter.microsoft.com",
            "https://securitycenter.onmicrosoft.com/windowsatpservice",
            "https://api.securitycenter.windows.com",  # legacy; the XDR page's Python sample
            "https://api-gcc.securitycenter.microsoft.us",
            "https://api-gov.securitycenter.microsoft.us",
            "https://securitycenter.onmicrosoft.us/windowsatpservice",
        ),
        resource_forms={"windowsatpservice": WINDOWSATPSERVICE},
    ),
    # Documented limits (each API reference page's "Limitations")
    quotas={"mde": {"per_minute": 100, "per_hour": 1500},
            "hunting": {"per_minute": 45, "per_hour": 1500},
            "live_response": {"per_minute": 10}},
    quota_reset=HUNTING_CPU,
)

XDR = ApiSpec(
    name="xdr",
    title="Microsoft Defender XDR (Microsoft Threat Protection)",
    base_url=_regional("xdr", XDR_BASE),
    regions=REGIONS,
    auth=EntraResource(
        app_id="8ee8fdad-f234-4243-8f3b-15c294843740",
        display_name="Microsoft Threat Protection",
        resources=dict(XDR_BASE),
        identifier_uris=(
            "https://api.security.microsoft.com",
            "https://securitycenter.microsoft.com/mtp",  # used by third-party tools (UNCONF)
            "https://api-gcc.security.microsoft.us",
            "https://api-gov.security.microsoft.us",
        ),
    ),
    quotas={"xdr": {"per_minute": 50, "per_hour": 1500}},
    quota_reset=HUNTING_CPU,
)

GRAPH = ApiSpec(
    name="graph",
    title="Microsoft Graph",
    base_url=GRAPH_BASE,
    auth=EntraResource(
        app_id="00000003-0000-0000-c000-000000000000",
        display_name="Microsoft Graph",
        resources=dict(GRAPH_BASE),
        identifier_uris=("https://graph.microsoft.com", "https://graph.microsoft.us",
                         "https://dod-graph.microsoft.us"),
    ),
    # Graph's security API documents no call-count limit for incidents: none unless configured
    quotas={"graph": {}},
    quota_reset=HUNTING_CPU,
)

APIS = (MDE, XDR, GRAPH)
