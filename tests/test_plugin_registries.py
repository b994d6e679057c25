"""The registries plugins fill through hooks: APIs, poll sources, secret schemes, simulated
services — attributed to the plugin that registered them, duplicates refused naming both."""

from __future__ import annotations

import pytest

from runner import secrets
from runner.errors import PluginError
from runner.plugin import ApiSpec, PollListing, PollSource, SecretAuth, SimService, hookimpl
from runner.plugins import PluginHost

ACME = ApiSpec(name="acme", title="ACME Threat Intel", base_url="https://api.acme.example",
               auth=SecretAuth("api_key", header="X-Acme-Key", default_ref="env:ACME_KEY"),
               quotas={"acme": {"per_minute": 30}})


class Acme:
    @hookimpl
    def register_apis(self, register):
        register(ACME)

    @hookimpl
    def register_poll_sources(self, register):
        register(PollSource("acme.alerts", "ACME alerts", (PollListing("acme", "/v1/alerts", "updated", "id",
                                                                       paging="since"),)))

    @hookimpl
    def register_secret_schemes(self, register):
        register("acmevault", lambda rest: f"value-of-{rest}")

    @hookimpl
    def register_sim_services(self, register):
        register(SimService("acme", ("api.acme.example",), build=lambda cloud, options: (lambda request: None)))


def test_a_plugin_fills_every_registry_and_owns_what_it_registered():
    host = PluginHost(entry_points=False, extra=[Acme()])
    assert host.apis["acme"] is ACME
    assert host.poll_sources["acme.alerts"].listings[0].paging == "since"
    assert host.secret_schemes["acmevault"]("x") == "value-of-x"
    assert secrets.resolve("acmevault:k1").reveal() == "value-of-k1"
    assert list(host.sim_services) == ["acme"]
    owner = host.owner("api", "acme")
    assert owner is not None and owner != "unknown"
    assert host.owner("poll source", "acme.alerts") == owner == host.owner("sim service", "acme")


def test_a_second_plugin_registering_the_same_api_is_refused_naming_both():
    with pytest.raises(PluginError, match="registers api 'acme', which plugin .* already registered"):
        PluginHost(entry_points=False, extra=[Acme(), Acme()])


def test_a_poll_source_on_an_unregistered_api_is_refused():
    class Orphan:
        @hookimpl
        def register_poll_sources(self, register):
            register(PollSource("x.items", "x", (PollListing("nope", "/items", "t", "id"),)))

    with pytest.raises(PluginError, match="API 'nope', which no plugin registered"):
        PluginHost(entry_points=False, extra=[Orphan()])


def test_the_installed_defender_plugin_registers_its_apis():
    host = PluginHost()
    assert {"mde", "xdr", "graph"} <= set(host.apis)
    assert host.owner("api", "mde") == "defender"
