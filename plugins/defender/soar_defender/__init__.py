"""Microsoft Defender and Entra ID actions for soar-runner.

Installed like any third-party plugin (entry point ``defender`` in group ``soar.plugins``) and
registered only through the public API. Modules: ``entra`` (tokens), ``incidents`` (XDR or
Graph, one normalized shape), ``alerts``, ``machines``, ``machine_actions`` (isolate & co.,
never sent twice), ``indicators``, ``hunting`` (KQL on Graph, XDR or MDE).
"""

from __future__ import annotations

from pathlib import Path

from runner.plugin import hookimpl

from soar_defender import alerts, entra, hunting, incidents, indicators, machine_actions, machines

MODULES = (entra, incidents, alerts, machines, machine_actions, indicators, hunting)


def all_actions() -> list:
    return [action for module in MODULES for action in module.ACTIONS]


@hookimpl
def register_actions(register):
    for action in all_actions():
        register(action)


@hookimpl
def register_apis(register):
    from soar_defender.apis import APIS

    for spec in APIS:
        register(spec)


@hookimpl
def register_poll_sources(register):
    from soar_defender.polling import SOURCES

    for source in SOURCES:
        register(source)


@hookimpl
def register_filters(register):
    from soar_defender.filters import FILTERS

    for name, function in FILTERS.items():
        register(name, function)


@hookimpl
def register_sim_services(register):
    # the hosts and roles only: the simulator itself is imported when a simulated cloud builds it
    from runner.plugin import SimService
    from soar_defender.sim import build
    from soar_defender.sim.hosts import HOSTS, ROLES

    demo = Path(__file__).resolve().parent / "playbooks" / "triage-high-severity-incidents.yaml"
    register(SimService("defender", tuple(HOSTS), build=build, roles=ROLES, demo=str(demo)))
