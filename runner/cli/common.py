"""What every ``soar`` command shares: state from the root options, building the services
(config, store, network, auth — real or simulated), error handling and output."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from runner.errors import SoarError
from runner.logfmt import FIELDS, PLAYBOOK_LINE, JsonFormatter, TextFormatter
from runner.secrets import mask, redact

log = logging.getLogger("soar")

DEFAULT_CONFIG = "soar.yaml"  # runner.config.DEFAULT_CONFIG, without importing the config models


class RedactingFilter(logging.Filter):
    """Last line of defence: no known secret value leaves through logging — not in the message,
    the traceback, or a text field of the line (``runner.logfmt``), whichever format writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not kill the run
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        found = getattr(record, FIELDS, None)
        if found:
            masked = {k: _masked(v) for k, v in found.items()}
            if masked != found:  # a new dict: the one given may be shared (a step's logger)
                setattr(record, FIELDS, masked)
        return True


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value if isinstance(value, (int, float, bool)) or value is None else redact(str(value))


class _DefaultVerbosity(logging.Filter):
    """Without ``-v``: warnings and errors, and the lines a playbook asked for (``core.log``);
    not what actions say about their work at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or getattr(record, PLAYBOOK_LINE, False)


def setup_logging(verbose: int, log_format: str = "text") -> None:
    """One stderr handler on the root logger: ``-v`` INFO, ``-vv`` DEBUG (API calls on
    ``soar.http``), ``-vvv`` the libraries' debug too; ``log_format`` ``text`` or ``json``
    (``runner.logfmt``). Called again, it replaces its handler."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    if verbose == 0:
        handler.addFilter(_DefaultVerbosity())
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_soar", False):
            root.removeHandler(h)
    handler._soar = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # core.log lines are what the user asked to see (the handler's filter keeps only those at INFO)
    logging.getLogger("soar.step").setLevel(logging.INFO if verbose < 2 else logging.DEBUG)
    for noisy in ("httpx", "httpcore", "msal", "urllib3", "apscheduler", "asyncio"):  # soar says it itself
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if verbose < 3 else logging.DEBUG)


@contextlib.contextmanager
def startup_gc():
    """Start-up (importing plugins, httpx, SQLAlchemy; opening the store) allocates ~10^5
    long-lived objects and garbage almost none: the collections it would trigger cost ~40 ms.
    In the console process, collect nothing meanwhile, then freeze what start-up built (it lives
    until exit, so later collections need not scan it) and collect as usual from there."""
    from runner import cli

    # only in the console process (`run_main`): tests and embedders keep their collector as it was
    if not cli.own_process or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@dataclass
class CliState:
    config_path: str | None = None
    store_url: str | None = None
    verbose: int = 0
    sim_url: str | None = None  # root --sim-url / SOAR_SIM_URL: every command's default
    _cleanup: list = field(default_factory=list)


def state() -> CliState:
    ctx = click.get_current_context()
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(err: SoarError) -> None:
    """Print a located error (no traceback) and exit with its code."""
    out = console(stderr=True)
    text = str(err)
    head, _, hint = text.partition("\n  hint: ")
    out.print(f"[bold red]error:[/] {_escape(head)}")
    if hint:
        out.print(f"  [yellow]hint:[/] {_escape(hint)}")
    sys.exit(err.exit_code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def handle_errors(func: Callable) -> Callable:
    """Turn our errors into a clean message and exit code; anything else is a bug, shown briefly."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SoarError as err:
            fail(err)
        except KeyboardInterrupt:
            console(stderr=True).print("[yellow]interrupted[/]")
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # an internal bug: say so, without dumping secrets or a traceback
            if state().verbose >= 2:
                log.exception("internal error")
            out = console(stderr=True)
            out.print(f"[bold red]internal error:[/] {_escape(redact(f'{type(exc).__name__}: {exc}'))}")
            out.print("  [yellow]hint:[/] this is a bug in soar-runner; re-run with -vv for details and report it")
            sys.exit(1)

    return wrapper


def print_json(doc: Any) -> None:
    click.echo(json.dumps(mask(doc), indent=2, default=_json_default))


def _json_default(obj: Any) -> Any:
    import datetime as dt

    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    return str(obj)


@dataclass
class Runtime:
    """The services a command runs with, plus what to close afterwards."""

    services: Any
    simulated: Any = None  # the SimulatedCloud, when --simulate (or --replay: it signs the tokens)
    replay: Any = None     # the runner.replay.Replay, when --replay

    @property
    def origin(self) -> dict | None:
        """How runs of this runtime are started (:mod:`runner.cli.origin`), as stored with each."""
        return self.services.origin

    def close(self) -> None:
        from runner.compose import close_services

        close_services(self.services)


def build_runtime(*, simulate: bool = False, auto_approve: bool = False, need_config: bool = False,
                  sim_tenants: int | None = None, sim_url: str | None = None, replay: str | None = None,
                  allow_hosts: Sequence[str] = (), role: str | None = None) -> Runtime:
    """Config + store + network, and the services built on them (:func:`runner.compose.build_services`:
    token provider, API clients). ``simulate`` uses the in-process simulated cloud;
    ``sim_url`` sends every request to a simulated cloud on loopback (``soar sim serve``), with
    the app and tenants of soar.yaml (default: the root ``--sim-url``, unless ``simulate`` or
    ``replay``); ``replay`` answers every API request from the recordings in that directory
    (:mod:`runner.replay`), with the simulated Entra ID's tokens. ``allow_hosts``: under
    simulation, hosts whose requests go out over the real network (``--allow-host``). ``role``:
    ``"front"`` or ``"worker"`` in a scaled-out deployment (:func:`runner.compose.build_services`)."""
    sim_url = resolve_sim_url(sim_url, simulate=simulate, replay=replay)
    if allow_hosts and not (simulate or sim_url or replay is not None):
        from runner.errors import UsageError

        raise UsageError("--allow-host only applies under simulation (--simulate, --sim-url or --replay)",
                         hint="without them every request already goes over the real network")
    with startup_gc():
        return _build_runtime(simulate=simulate, auto_approve=auto_approve, need_config=need_config,
                              sim_tenants=sim_tenants, sim_url=sim_url, replay=replay,
                              allow_hosts=tuple(allow_hosts), role=role)


def resolve_sim_url(sim_url: str | None, *, simulate: bool = False, replay: str | None = None) -> str | None:
    """A command's ``--sim-url``, else the root one (``soar --sim-url URL ...``, SOAR_SIM_URL).
    Given with ``--simulate`` or ``--replay`` (two different clouds), a usage error — except the
    root default, which only applies where neither is given."""
    from runner.errors import UsageError

    if sim_url and (simulate or replay is not None):
        other = "--simulate" if simulate else "--replay"
        raise UsageError(f"--sim-url and {other} are two different simulated clouds; choose one",
                         hint="--sim-url sends requests to `soar sim serve`; --simulate runs one in-process")
    if sim_url or simulate or replay is not None:
        return sim_url or None
    return state().sim_url or None


def allow_hosts_option(func: Callable) -> Callable:
    """``--allow-host HOST`` (repeatable; env SOAR_ALLOW_HOSTS, comma-separated)."""
    return click.option(
        "--allow-host", "allow_hosts", multiple=True, metavar="HOST", envvar="SOAR_ALLOW_HOSTS",
        callback=_split_hosts,
        help="Under simulation, let requests to HOST go out over the real network (e.g. your Teams "
             "webhook); repeatable. Env: SOAR_ALLOW_HOSTS (comma-separated).")(func)


def _split_hosts(_ctx: Any, _param: Any, values: Sequence[str]) -> tuple[str, ...]:
    return tuple(h.strip() for v in values or () for h in str(v).split(",") if h.strip())


def sim_url_option(func: Callable) -> Callable:
    """``--sim-url URL`` on a command that talks to the cloud (default: the root ``--sim-url``)."""
    return click.option(
        "--sim-url", metavar="URL",
        help="Send every token and API request to `soar sim serve` at URL (app and tenants from "
             "soar.yaml). Default: `soar --sim-url` / SOAR_SIM_URL.")(func)


def _build_runtime(*, simulate: bool, auto_approve: bool, need_config: bool, sim_tenants: int | None,
                   sim_url: str | None, replay: str | None = None, allow_hosts: tuple[str, ...] = (),
                   role: str | None = None) -> Runtime:
    from runner.http import Network
    from runner.plugins import load_plugins
    from runner.store import RunStore

    st = state()
    plugins = load_plugins()
    cloud = recorded = None
    if replay is not None:
        from runner.replay import Replay

        recorded = Replay(replay)
        cloud = recorded.cloud()
        config = cloud.demo_config()
        network = cloud.network(allow_hosts=allow_hosts)
    elif simulate:
        from runner.sim import SimulatedCloud

        cloud = SimulatedCloud(tenants=sim_tenants) if sim_tenants else SimulatedCloud()
        config = cloud.demo_config()
        network = cloud.network(allow_hosts=allow_hosts)
    else:
        config = None
        if st.config_path is not None or Path(DEFAULT_CONFIG).is_file():  # else skip the import (start-up)
            from runner.config import load_config

            config = load_config(st.config_path)
        if config is None and need_config:
            from runner.errors import ConfigError

            raise ConfigError("no soar.yaml found",
                              hint="create soar.yaml (see docs/auth.md), pass --config, or use --simulate")
        network = Network.loopback(sim_url, allow_hosts=allow_hosts) if sim_url else Network.internet()
    from runner.cli.origin import origin_of
    from runner.compose import build_services

    url = st.store_url or (getattr(config, "store", None) if config is not None else None)
    extras = {"sim": cloud} if cloud is not None else {}
    if recorded is not None:
        extras["replay"] = recorded
    # the origin is kept with every run this process starts, so `soar approve` / `runs resume`
    # continue it alike
    services = build_services(config, network, RunStore.open(url), plugins, auto_approve=auto_approve,
                              token_cache=":memory:" if cloud is not None else None, extras=extras,
                              origin=origin_of(simulate=simulate, sim_tenants=sim_tenants, sim_url=sim_url,
                                               replay=replay, config=config, allow_hosts=allow_hosts),
                              role=role)
    return Runtime(services, cloud, recorded)


def run_async(runtime: Runtime, coro: Any) -> Any:
    """``asyncio.run(coro)``, then close the API clients' connection pools of that event loop:
    they belong to it, and left open past its end their connections (to ``soar sim serve``, to
    Defender) would only be closed, noisily, by the garbage collector."""
    import asyncio

    async def main() -> Any:
        try:
            return await coro
        finally:
            apis = getattr(runtime.services, "apis", None)
            if apis is not None:
                await apis.aclose()

    return asyncio.run(main())
