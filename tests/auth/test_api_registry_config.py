"""soar.yaml against the API registry: API names, `region`, `app.resources`, `credentials` and
`apis:` preferences are checked against what the installed plugins register — and a file that
names none of them loads no plugin at all. Also the registry's defaults (quota buckets, regions)
and the generic parts of the API clients (error bodies, nextLink domains)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

import soar_defender
from runner.apis.paths import check_absolute
from runner.apis.registry import default_quotas, regions
from runner.apis.responses import api_error
from runner.apis.spec import ApiSpec, EntraResource, ErrorBody, SecretAuth
from runner.config import parse_config
from runner.errors import ConfigError, InvalidValue
from runner.hookspecs import hookimpl
from runner.plugins import PluginHost

NORTH = ApiSpec(
    name="acme_edr", title="Acme EDR",
    base_url=lambda cloud, region: f"https://{region or 'www'}.acme-edr.example",
    regions=("north", "south"),
    auth=EntraResource(app_id="5a1e0d7c-1111-4222-8333-444455556666", display_name="Acme EDR",
                       resources={"commercial": "https://api.acme-edr.example"},
                       resource_forms={"legacy": {"commercial": "https://legacy.acme-edr.example"}}),
    quotas={"acme_edr": {"per_minute": 10}, "hunting": {"per_minute": 30, "per_day": 1000}},
)
INTEL = ApiSpec(name="acme_intel", title="Acme Threat Intel", base_url="https://intel.acme.example",
                auth=SecretAuth(header="X-Key"))


class Plugin:
    def __init__(self, *specs):
        self.specs = specs

    @hookimpl
    def register_apis(self, register):
        for s in self.specs:
            register(s)


def registry(*specs, defender=True):
    return PluginHost(entry_points=False, extra=[*([soar_defender] if defender else []), Plugin(*specs)]).apis


BASE = """\
app:
  client_id: 11111111-2222-3333-4444-555555555555
  client_secret: env:SOAR_CLIENT_SECRET
tenants:
  contoso:
    id: 0b9d2f3e-0000-4000-8000-000000000001
"""


def fails(text, reg, where, *words):
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="soar.yaml", registry=reg)
    shown = str(info.value)
    assert f"soar.yaml{where}" in shown, shown
    for word in words:
        assert word in shown, shown
    return shown


def test_region_is_one_a_registered_api_knows():
    reg = registry(NORTH, defender=False)
    cfg = parse_config(BASE + "    region: north\n", registry=reg)
    assert cfg.tenant("contoso").api_base("acme_edr", reg) == "https://north.acme-edr.example"
    fails(BASE + "    region: eu\n", reg, ":6:", "`region` must be one of north, south")
    both = registry(NORTH)
    assert parse_config(BASE + "    region: eu\n", registry=both).tenant("contoso").api_base("mde", both) == \
        "https://api-eu.securitycenter.microsoft.com"
    assert parse_config(BASE + "    region: south\n", registry=both).tenant("contoso").api_base("xdr", both) == \
        "https://api.security.microsoft.com"  # Defender has no `south`: its global host
    fails(BASE + "    region: eu\n", registry(INTEL, defender=False), ":6:", "no registered API has regional hosts")
    fails(BASE + "    region: eu\n    cloud: gcc_high\n", both, ":6:", "changes no API's host in the gcc_high cloud")


def test_app_resources_token_flow_and_credentials_are_keyed_by_registered_apis():
    reg = registry(NORTH, INTEL)
    app = BASE.replace("tenants:", "  resources: {acme_edr: legacy, mde: windowsatpservice}\n"
                                   "  token_flow: {acme_edr: v1}\ncredentials: {acme_intel: env:ACME_KEY}\ntenants:")
    cfg = parse_config(app + "    credentials: {acme_intel: file:/run/secrets/acme}\n", registry=reg)
    assert cfg.app.resources == {"acme_edr": "legacy", "mde": "windowsatpservice"} and cfg.app.flow("acme_edr") == "v1"
    assert cfg.credentials == {"acme_intel": "env:ACME_KEY"}
    assert cfg.tenant("contoso").credentials == {"acme_intel": "file:/run/secrets/acme"}
    shown = fails(BASE.replace("tenants:", "  resources: {acme_xdr: default}\ntenants:"), reg, ":4:",
                  "app.resources", "unknown API 'acme_xdr'", "acme_edr, acme_intel, graph, mde, xdr")
    assert "install the plugin" in shown
    fails(BASE.replace("tenants:", "  resources: {acme_intel: default}\ntenants:"), reg, ":4:",
          "does not take Entra ID tokens", "credentials.acme_intel")
    fails(BASE.replace("tenants:", "  resources: {acme_edr: legcy}\ntenants:"), reg, ":4:",
          "neither a resource URI", "default, legacy")
    fails(BASE.replace("tenants:", "credentials: {acme_nope: env:X}\ntenants:"), reg, ":4:",
          "credentials", "unknown API 'acme_nope'")
    shown = fails(BASE + "    credentials: {acme_intel: Sup3rLiteralKeyValue}\n", reg, ":7:", "not a secret reference")
    assert "Sup3rLiteralKeyValue" not in shown


def test_api_preferences_name_registered_apis():
    reg = registry(NORTH)
    cfg = parse_config(BASE + "    apis: {detections: acme_edr, hunting: auto, incidents: graph}\n", registry=reg)
    assert cfg.tenant("contoso").apis["detections"] == "acme_edr"
    fails(BASE + "    apis: {incidents: grahp}\n", reg, ":6:", "`apis.incidents`: unknown API 'grahp'", "auto")


def test_a_config_that_names_no_api_loads_no_plugin():
    """Loading soar.yaml stays cheap: plugins are imported only to check a name it gives."""
    code = ("import sys; from runner.config import parse_config; parse_config(sys.argv[1]); "
            "print('runner.plugins' in sys.modules, 'soar_defender' in sys.modules)")
    plain = subprocess.run([sys.executable, "-c", code, BASE], capture_output=True, text=True, check=True)
    assert plain.stdout.split() == ["False", "False"]
    named = subprocess.run([sys.executable, "-c", code, BASE + "    region: eu\n"], capture_output=True, text=True,
                           check=True)
    assert named.stdout.split() == ["True", "True"]


def test_default_quotas_are_the_union_of_the_specs():
    reg = registry(NORTH)
    table = default_quotas(reg)
    assert table["acme_edr"] == {"per_minute": 10}
    assert table["mde"] == {"per_minute": 100, "per_hour": 1500}
    # a bucket two APIs give: each window keeps the lower limit
    assert table["hunting"] == {"per_minute": 30, "per_hour": 1500, "per_day": 1000}
    assert default_quotas(registry(INTEL, defender=False)) == {}
    assert {"us", "eu", "swa", "north", "south"} <= set(regions(reg))


def _response(status, body):
    return httpx.Response(status, json=body, request=httpx.Request("GET", "https://intel.acme.example/v1/x"))


def test_error_bodies_by_the_spec_reader_else_the_common_form():
    def reader(body):
        return ErrorBody(code=body["fault"]["id"], message=body["fault"]["text"])

    own = ApiSpec(name="acme_intel", title="Acme Threat Intel", base_url="https://x", error_body=reader)
    err = api_error(_response(409, {"fault": {"id": "DUP", "text": "already there"}}), tenant="t", api="acme_intel",
                    spec=own)
    assert "Acme Threat Intel rejected GET /v1/x with HTTP 409: DUP: already there" in err.message
    # a reader that cannot read this body: the answer's text, never a crash
    err = api_error(_response(400, {"other": 1}), tenant="t", api="acme_intel", spec=own)
    assert '{"other":1}' in err.message.replace(" ", "")
    common = ApiSpec(name="acme_open", title="Acme Open Data", base_url="https://x")
    err = api_error(_response(400, {"error": {"code": "Bad", "message": "no"}}), tenant="t", api="acme_open",
                    spec=common)
    assert "Acme Open Data rejected GET /v1/x with HTTP 400: Bad: no" in err.message


def test_next_links_stay_on_the_apis_registrable_domain():
    assert check_absolute("https://eu.api.acme.co.uk/v1?page=2", "https://api.acme.co.uk/v1")
    with pytest.raises(InvalidValue, match="acme.co.uk"):
        check_absolute("https://evil.co.uk/v1?page=2", "https://api.acme.co.uk/v1")
    assert check_absolute("https://api-eu.securitycenter.microsoft.com/api/x",
                          "https://api.securitycenter.microsoft.com")
    with pytest.raises(InvalidValue):
        check_absolute("https://graph.microsoft.com.evil.example/x", "https://graph.microsoft.com")
