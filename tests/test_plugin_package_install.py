"""A third party's plugin, built and installed as a package, adds a whole integration.

The test writes a NEW plugin package in a temporary directory — a pyproject with a
``soar.plugins`` entry point and code importing only ``runner.plugin`` — for a made-up REST API
(Initech Reputation, ``rep.initech.example``) with API-key authentication and its own quota,
plus a poll source, a filter, a secret scheme and a simulated service. It builds a wheel from
the pyproject, installs it with pip into a directory of its own, and then checks, each in a
fresh process that has that directory on its path (as an installed package is):

- ``soar actions list`` shows the action; ``soar validate`` accepts playbooks using the action,
  the filter and the poll source;
- ``soar run --simulate`` runs the action against the simulated service, with the key from the
  plugin's secret scheme, drawing on the API's own quota;
- a pytest run of a small test file sees it through the testing fixtures;
- ``soar serve --simulate`` polls the plugin's source and runs the playbook it triggers.

The package is installed with ``pip install --target`` into the test's own directory rather
than into the shared virtualenv, so no other process sees it and teardown is deleting the
directory. The wheel is put together from the pyproject here (its metadata and entry points),
because the environment's setuptools may lack ``bdist_wheel`` and the test must reach no index.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "soar-initech"
version = "1.2.0"
description = "Initech Reputation for soar-runner"
requires-python = ">=3.11"
dependencies = ["soar-runner"]

[project.entry-points."soar.plugins"]
initech = "soar_initech"
"""

PLUGIN = '''
"""Initech Reputation for soar-runner: made-up REST API, API-key auth, own quota, poll source,
filter, secret scheme and simulated service. Imports only runner.plugin of soar-runner."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from runner.plugin import (Action, ActionContext, ApiSpec, ErrorBody, PollListing, PollSource, SecretAuth,
                           SecretError, SimService, hookimpl)

HOST = "rep.initech.example"
VAULT = {"api-key": "ik-3141592653"}   # what the initechvault: scheme knows (a stand-in vault)


def resolve(name: str) -> str:
    if name not in VAULT:
        raise SecretError(f"initechvault:{name} is not in the Initech vault", hint="names: api-key")
    return VAULT[name]


API = ApiSpec(name="initech", title="Initech Reputation API", base_url=f"https://{HOST}",
              auth=SecretAuth(scheme="api_key", header="X-Initech-Key", default_ref="initechvault:api-key"),
              quotas={"initech": {"per_second": 2}},
              error_body=lambda body: ErrorBody(body.get("code"), body.get("reason")) if isinstance(body, dict)
              else ErrorBody())


class RepInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(description="A host name")


class Reputation(BaseModel):
    host: str
    reputation: int


async def check_reputation(ctx: ActionContext, inputs: RepInput) -> Reputation:
    """The host's reputation (0-100) at Initech."""
    found = await ctx.api("initech").get("/v1/reputation/{host}", segments={"host": inputs.host})
    return Reputation.model_validate(found)


def grade(value) -> str:
    return "A" if value >= 80 else "B" if value >= 50 else "F"


class InitechSim:
    def __init__(self, cloud, options):
        self.key = options.get("key", VAULT["api-key"])
        self.log = []
        self.lock = threading.Lock()
        then = datetime.now(timezone.utc) - timedelta(minutes=2)
        self.tickets = [{"ticket_id": "T-1", "host": "bad.example", "modified": then.strftime("%Y-%m-%dT%H:%M:%SZ")}]

    def requests(self):
        with self.lock:
            return list(self.log)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.log.append({"path": request.url.path, "key": request.headers.get("x-initech-key"),
                             "query": dict(request.url.params)})
        if request.headers.get("x-initech-key") != self.key:
            return httpx.Response(401, json={"code": "denied", "reason": "bad X-Initech-Key"})
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].strip("/").split("/")]
        if parts[:2] == ["v1", "reputation"] and len(parts) == 3:
            return httpx.Response(200, json={"host": parts[2], "reputation": 10 if "bad" in parts[2] else 90})
        if parts == ["v1", "tickets"]:
            since = datetime.fromisoformat(request.url.params["since"].replace("Z", "+00:00"))
            found = [t for t in self.tickets
                     if datetime.fromisoformat(t["modified"].replace("Z", "+00:00")) >= since]
            return httpx.Response(200, json={"tickets": found})
        return httpx.Response(404, json={"code": "nope", "reason": "no such route"})


@hookimpl
def register_apis(register):
    register(API)


@hookimpl
def register_actions(register):
    register(Action(name="initech.check_reputation", summary="Check a host's reputation at Initech",
                    func=check_reputation, input_model=RepInput, output_model=Reputation, quota="initech"))


@hookimpl
def register_filters(register):
    register("initech_grade", grade)


@hookimpl
def register_poll_sources(register):
    register(PollSource(name="initech.tickets", description="Initech tickets",
                        listings=(PollListing(api="initech", path="/v1/tickets", time_field="modified",
                                              id_field="ticket_id", paging="since", items_key="tickets"),)))


@hookimpl
def register_secret_schemes(register):
    register("initechvault", resolve)


@hookimpl
def register_sim_services(register):
    register(SimService(name="initech", hosts=(HOST,), build=InitechSim))
'''

RUN_PLAYBOOK = """
name: initech-check
tenants: [contoso]
steps:
  - id: rep
    action: initech.check_reputation
    foreach: ["a.example", "bad.example", "c.example", "d.example", "e.example"]
    concurrency: 5
    with: {host: "${{ item }}"}
outputs:
  grades: "${{ steps.rep.output | map(attribute='reputation') | map('initech_grade') | list }}"
"""

POLL_PLAYBOOK = """
name: initech-poll
tenants: [contoso]
on:
  - poll: {source: initech.tickets, every: 1s}
steps:
  - id: rep
    action: initech.check_reputation
    with: {host: "${{ trigger.payload.item.host }}"}
outputs:
  ticket: "${{ trigger.payload.item.ticket_id }}"
  grade: "${{ steps.rep.output.reputation | initech_grade }}"
"""

KIT_TEST = '''
import pytest

from runner.plugin import AuthError


def test_the_action_on_the_simulated_service(soar_action, soar_cloud):
    assert soar_action("initech.check_reputation", tenant="contoso", host="bad.example") == \\
        {"host": "bad.example", "reputation": 10}
    assert soar_cloud.services["initech"].requests()[-1]["key"] == "ik-3141592653"


def test_its_quota(make_soar_runner):
    runner = make_soar_runner()
    out = runner.run("""
name: many
tenants: [contoso]
steps:
  - id: rep
    action: initech.check_reputation
    foreach: [a.example, b.example, c.example, d.example]
    concurrency: 4
    with: {host: "${{ item }}"}
""")
    assert out.status == "succeeded", out.error
    stats = runner.api_stats()
    assert stats["calls"]["contoso"]["initech"] == 4
    assert stats["quota_waits"]["contoso/initech"] > 0


@pytest.mark.soar_cloud(initech={"key": "another"})
def test_a_refused_key(soar_action):
    with pytest.raises(AuthError, match="bad X-Initech-Key"):
        soar_action("initech.check_reputation", tenant="contoso", host="a.example")
'''


# ---- building and installing the package -----------------------------------------------------------

def _runner_imports(source: str) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        found |= {n for n in names if n == "runner" or n.startswith("runner.")}
    return found


def _record_line(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def build_wheel(project: Path, out: Path) -> Path:
    """A wheel of ``project`` (a pure-Python package) from its pyproject: metadata, entry points
    and the files of the package directory named like the project."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    dist = meta["name"].replace("-", "_")
    info = f"{dist}-{meta['version']}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((project / dist).rglob("*.py")):
        files[path.relative_to(project).as_posix()] = path.read_bytes()
    metadata = [f"Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}",
                f"Summary: {meta.get('description', '')}", f"Requires-Python: {meta.get('requires-python', '')}"]
    metadata += [f"Requires-Dist: {d}" for d in meta.get("dependencies", [])]
    files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: soar-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    groups = meta.get("entry-points", {})
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) + "\n"
        for group, entries in groups.items()).encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files.items():
        writer.writerow(_record_line(name, data))
    writer.writerow([f"{info}/RECORD", "", ""])
    files[f"{info}/RECORD"] = record.getvalue().encode()
    wheel = out / f"{dist}-{meta['version']}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The plugin package, built and installed (pip --target) into a directory of this test;
    returns (environment for subprocesses, working directory)."""
    root = tmp_path_factory.mktemp("initech")
    project = root / "project"
    (project / "soar_initech").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "soar_initech" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    assert _runner_imports(PLUGIN) == {"runner.plugin"}  # the author surface, nothing else of soar-runner
    wheel = build_wheel(project, root)
    site = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
                           "--disable-pip-version-check", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "soar_initech-1.2.0.dist-info" / "entry_points.txt").is_file()
    work = root / "work"
    (work / "playbooks").mkdir(parents=True)
    (work / "check.yaml").write_text(RUN_PLAYBOOK)
    (work / "playbooks" / "poll.yaml").write_text(POLL_PLAYBOOK)
    (work / "test_initech_kit.py").write_text(KIT_TEST)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    env.pop("SOAR_PLUGINS", None)
    env["COLUMNS"] = "200"
    yield env, work
    # teardown: the package lives in `root` only, which pytest removes; nothing else saw it


def soar(installed, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env, work = installed
    return subprocess.run([sys.executable, "-m", "runner.cli", "--store", f"sqlite:///{work}/soar.db", *args],
                          cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def test_actions_list_shows_the_installed_plugins_action(installed):
    done = soar(installed, "actions", "list")
    assert done.returncode == 0, done.stderr
    assert "initech.check_reputation" in done.stdout
    plugins = soar(installed, "plugins", "list")
    assert "soar-initech" in plugins.stdout and "1.2.0" in plugins.stdout


def test_validate_accepts_its_action_filter_and_poll_source(installed):
    for playbook in ("check.yaml", "playbooks/poll.yaml"):
        done = soar(installed, "validate", playbook)
        assert done.returncode == 0, done.stdout + done.stderr
    bad = installed[1] / "bad.yaml"
    bad.write_text(POLL_PLAYBOOK.replace("initech.tickets", "initech.tikets"))
    refused = soar(installed, "validate", str(bad))
    assert refused.returncode != 0 and "initech.tickets" in refused.stdout + refused.stderr


def test_run_simulate_uses_its_simulated_service_key_and_quota(installed):
    done = soar(installed, "run", "check.yaml", "--simulate", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    outputs = doc["outputs"].get("contoso", {}).get("outputs", doc["outputs"])
    # the simulated service answered (it refuses any key but the vault's: the kit test shows it)
    assert outputs == {"grades": ["A", "F", "A", "A", "A"]}
    listed = soar(installed, "runs", "list", "--playbook", "initech-check", "--json")
    run = next(r for r in json.loads(listed.stdout) if r["tenant"] == "contoso")
    took = (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()
    # five calls at once, at the API's own 2 a second: the second pair waits a second, the fifth
    # call two; without the quota the five simulated calls take milliseconds
    assert took >= 1.9, f"the initech quota (2/s) did not hold five calls back: the run took {took:.2f}s"


def test_a_pytest_run_sees_it_through_the_fixtures(installed):
    env, work = installed
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_initech_kit.py"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def test_soar_serve_runs_the_playbook_its_poll_source_triggers(installed):
    env, work = installed
    store = f"sqlite:///{work}/serve.db"
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", store, "serve", "playbooks",
                             "--simulate", "--port", "0", "--grace", "1s"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline() or "{}")
        assert "initech-poll" in json.dumps(first), first
        want = {"ticket": "T-1", "grade": "F"}  # the simulated ticket's host, checked at the simulated API
        found: list = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not found:
            time.sleep(0.5)
            listed = subprocess.run([sys.executable, "-m", "runner.cli", "--store", store, "runs", "list",
                                     "--playbook", "initech-poll", "--json"],
                                    cwd=work, env=env, capture_output=True, text=True, timeout=60)
            runs = json.loads(listed.stdout or "[]") if listed.returncode == 0 else []
            found = [r for r in runs if r["status"] == "succeeded"
                     and want in (r["outputs"], (r["outputs"] or {}).get("contoso", {}).get("outputs"))]
        assert found, f"no succeeded run of initech-poll within 40 s (runs: {runs}); serve said: {_stop(proc)}"
        assert found[0]["trigger"]["type"] == "poll"
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> str:
    """Stop ``soar serve`` (SIGTERM: a graceful stop), close its pipes; what it wrote to stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return (err or "")[-3000:]
