"""How a run was started — and how to continue it the same way from another process.

``soar run --simulate`` pauses at an approval; hours later ``soar approve RUN STEP`` (or ``soar
serve``, or ``soar runs resume``) continues it, in another process that was given none of the
original flags. So every run records its :class:`RunOrigin` — simulated or not (and how many
simulated tenants), ``--sim-url``, ``--replay`` (absolute), the config file (absolute), the hosts
allowed out under simulation — and continuing it rebuilds the same runtime from that record
(:func:`runtime_for_run`). ``--auto-approve`` is deliberately not part of it: a decision to pass
gates holds for the process that was told so, never for a later one.

A flag given to the continuing command wins over the record (``soar runs resume RUN
--simulate`` continues a real run against the simulated cloud), and is said so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError


@dataclass(frozen=True)
class RunOrigin:
    simulate: bool = False
    sim_tenants: int | None = None
    sim_url: str | None = None
    replay: str | None = None  # absolute directory of the recordings
    config: str | None = None  # absolute path of the soar.yaml loaded (none when simulated)
    allow_hosts: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"simulate": self.simulate, "sim_tenants": self.sim_tenants, "sim_url": self.sim_url,
                "replay": self.replay, "config": self.config, "allow_hosts": list(self.allow_hosts)}

    @classmethod
    def from_json(cls, doc: Any) -> "RunOrigin | None":
        if not isinstance(doc, dict):
            return None
        tenants = doc.get("sim_tenants")
        return cls(simulate=bool(doc.get("simulate")), sim_tenants=tenants if isinstance(tenants, int) else None,
                   sim_url=doc.get("sim_url") or None, replay=doc.get("replay") or None,
                   config=doc.get("config") or None, allow_hosts=tuple(doc.get("allow_hosts") or ()))

    def describe(self) -> str:
        """Against what the run was started, in words."""
        if self.replay:
            return f"the recordings in {self.replay} (--replay)"
        if self.simulate:
            return "the simulated cloud (--simulate" + (f", {self.sim_tenants} tenants)" if self.sim_tenants else ")")
        if self.sim_url:
            return f"`soar sim serve` at {self.sim_url} (--sim-url)"
        return f"the tenants of {self.config}" if self.config else "no soar.yaml (core actions only)"

    def flags(self) -> str:
        """The flags of ``soar run`` that start a run the same way."""
        parts = []
        if self.config and not (self.simulate or self.replay):
            parts.append(f"--config {self.config}")
        if self.simulate:
            parts.append("--simulate")
        if self.sim_url:
            parts.append(f"--sim-url {self.sim_url}")
        if self.replay:
            parts.append(f"--replay {self.replay}")
        parts.extend(f"--allow-host {h}" for h in self.allow_hosts)
        return " ".join(parts)


def origin_of(*, simulate: bool, sim_tenants: int | None, sim_url: str | None, replay: str | None,
              config: Any, allow_hosts: tuple[str, ...] = ()) -> dict:
    """The origin a runtime built with these arguments gives its runs (as stored)."""
    source = getattr(config, "source", None) if not (simulate or replay is not None) else None
    return RunOrigin(simulate=bool(simulate), sim_tenants=sim_tenants if simulate else None,
                     sim_url=sim_url or None, replay=os.path.abspath(replay) if replay is not None else None,
                     config=os.path.abspath(source) if source else None,
                     allow_hosts=tuple(allow_hosts)).to_json()


def runtime_for_run(run: Any, *, simulate: bool = False, auto_approve: bool = False) -> tuple[Any, list[str]]:
    """The runtime to continue ``run`` (a top-level :class:`~runner.store.RunRecord`) with: the
    one it was started with, unless ``simulate`` says otherwise. Returns it with the notes to
    show the user (where the continuation differs from the start, or cannot know it)."""
    from runner.cli.common import build_runtime, state

    st = state()
    origin = RunOrigin.from_json(run.origin)
    notes: list[str] = []
    if origin is None:
        notes.append(f"run {run.id} does not record how it was started (it predates that record); "
                     "continuing with the flags given here" + ("" if simulate else
                                                                 " — add --simulate if it ran simulated"))
        return build_runtime(simulate=simulate, auto_approve=auto_approve), notes
    if simulate and not origin.simulate:
        notes.append(f"run {run.id} was started against {origin.describe()}; continuing it against "
                     "the simulated cloud, as --simulate asks")
        origin = RunOrigin(simulate=True, allow_hosts=origin.allow_hosts)
    elif st.sim_url and not (origin.simulate or origin.replay) and st.sim_url != origin.sim_url:
        notes.append(f"run {run.id} was started against {origin.describe()}; continuing it against "
                     f"`soar sim serve` at {st.sim_url}, as --sim-url / SOAR_SIM_URL asks")
        origin = RunOrigin(sim_url=st.sim_url, config=origin.config, allow_hosts=origin.allow_hosts)
    uses_config = not (origin.simulate or origin.replay)
    if uses_config and origin.config:
        if st.config_path is None:
            if not os.path.isfile(origin.config):
                raise ConfigError(f"run {run.id} was started with the config {origin.config}, which is gone",
                                  hint="pass --config FILE with the same app and tenants")
            st.config_path = origin.config
        elif os.path.abspath(st.config_path) != origin.config:
            notes.append(f"run {run.id} was started with the config {origin.config}; continuing it with "
                         f"{os.path.abspath(st.config_path)}, as --config asks")
    runtime = build_runtime(simulate=origin.simulate, sim_tenants=origin.sim_tenants,
                            sim_url=origin.sim_url, replay=origin.replay, allow_hosts=origin.allow_hosts,
                            auto_approve=auto_approve)
    return runtime, notes
