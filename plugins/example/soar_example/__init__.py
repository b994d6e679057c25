"""ACME Threat Intel for soar-runner: the example plugin, a whole integration.

It imports only ``runner.plugin`` (the plugin author's surface), as any third party would, and
adds through the hooks below:

- an API (``acme``: a made-up REST service on ``api.acme.example``, API-key auth, its own quota);
- actions on it — ``acme.lookup_indicator`` (read), ``acme.block_indicator`` and
  ``acme.unblock_indicator`` (writes) — plus ``acme.fetch_feed`` (plain HTTP) and
  ``acme.classify_ip`` (no API);
- a poll source, ``acme.alerts``;
- expression filters, ``is_internal_ip`` and ``acme_risk``;
- a secret scheme, ``acmevault:``;
- a simulated ACME, so ``soar run --simulate`` and the test fixtures work offline.

The entry point in pyproject.toml (``[project.entry-points."soar.plugins"] acme =
"soar_example"``) names this module. docs/plugins.md walks through it.
"""

from __future__ import annotations

from runner.plugin import (
    RegisterAction,
    RegisterApi,
    RegisterFilter,
    RegisterPollSource,
    RegisterSecretScheme,
    RegisterSimService,
    hookimpl,
)


@hookimpl
def register_apis(register: RegisterApi) -> None:
    from soar_example.api import ACME_API

    register(ACME_API)


@hookimpl
def register_actions(register: RegisterAction) -> None:
    from soar_example.actions import ACTIONS

    for action in ACTIONS:
        register(action)


@hookimpl
def register_filters(register: RegisterFilter) -> None:
    from soar_example.filters import FILTERS

    for name, function in FILTERS.items():
        register(name, function)


@hookimpl
def register_poll_sources(register: RegisterPollSource) -> None:
    from soar_example.alerts import ALERTS

    register(ALERTS)


@hookimpl
def register_secret_schemes(register: RegisterSecretScheme) -> None:
    from soar_example import vault

    register(vault.SCHEME, vault.resolve)


@hookimpl
def register_sim_services(register: RegisterSimService) -> None:
    from soar_example.sim import ACME_SIM  # only simulated runs import the simulator

    register(ACME_SIM)
