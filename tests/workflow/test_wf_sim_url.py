"""Rehearse soar.yaml against `soar sim serve`: every command that talks to the cloud takes
`--sim-url` (per command, as the root option `soar --sim-url URL ...`, or SOAR_SIM_URL), and
`--allow-host` lets one chosen host out of a simulation."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from click.testing import CliRunner
from wf_sim_loopback import SECRET_ENV, served, write_config

from runner.cli import main

ISOLATE = """\
name: isolate-one
tenants: [contoso]
inputs:
  machine: {type: string}
steps:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ inputs.machine }}", comment: rehearsal, isolation_type: Full}
outputs:
  action: "${{ steps.isolate.output.id }}"
"""


@pytest.fixture
def rehearsal(tmp_path, monkeypatch):
    """A simulated cloud on loopback and a soar.yaml naming its app and tenants."""
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(defender={"time_scale": 600})
    write_config(tmp_path, cloud.app.client_id, {t.name: t.id for t in cloud.tenants.values()})
    monkeypatch.setenv(SECRET_ENV, cloud.app.secret.reveal())
    with served(cloud) as url:
        yield cloud, url


def _isolations(cloud) -> list[str]:
    """The machines the loopback cloud was asked to isolate in contoso."""
    return [r.data["machineId"] for r in cloud.defender.tenant("contoso").actions if r.data["type"] == "Isolate"]


def soar(tmp_path, *args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/soar.db", *args], env=env)


def test_token_through_the_root_option_and_the_command_option(tmp_path, rehearsal):
    cloud, url = rehearsal
    root = soar(tmp_path, "--sim-url", url, "token", "contoso", "--json")
    assert root.exit_code == 0, root.output
    assert json.loads(root.output)["tenant"] == "contoso"
    per_command = soar(tmp_path, "token", "fabrikam", "--api", "graph", "--sim-url", url)
    assert per_command.exit_code == 0, per_command.output
    assert cloud.token_requests["contoso"] >= 1 and cloud.token_requests["fabrikam"] >= 1


def test_tenants_check_and_list_with_the_environment_variable(tmp_path, rehearsal):
    cloud, url = rehearsal
    check = soar(tmp_path, "tenants", "check", "--json", env={"SOAR_SIM_URL": url})
    assert check.exit_code == 0, check.output
    doc = json.loads(check.output)
    assert doc["ok"] and {t["name"] for t in doc["tenants"]} == {"contoso", "fabrikam"}
    assert cloud.token_requests["contoso"] >= 1  # it was the loopback cloud that answered
    listed = soar(tmp_path, "tenants", "list", "--sim-url", url)
    assert listed.exit_code == 0 and "fabrikam" in listed.output


def test_run_then_approve_continue_against_the_same_loopback_cloud(tmp_path, rehearsal):
    cloud, url = rehearsal
    machine = cloud.defender.tenant("contoso").devices[0]["id"]
    pb = tmp_path / "isolate.yaml"
    pb.write_text(ISOLATE)
    first = soar(tmp_path, "run", str(pb), "--sim-url", url, "--input", f"machine={machine}", "--json")
    assert first.exit_code == 3, first.output  # the destructive step waits for approval
    run_id = json.loads(first.output)["run_id"]
    assert _isolations(cloud) == []
    decided = soar(tmp_path, "--sim-url", url, "approve", run_id, "isolate", "--reason", "rehearsal")
    assert decided.exit_code == 0, decided.output
    assert _isolations(cloud) == [machine]  # sent to the loopback cloud


def test_runs_resume_takes_the_root_option(tmp_path, rehearsal):
    cloud, url = rehearsal
    machine = cloud.defender.tenant("contoso").devices[1]["id"]
    pb = tmp_path / "isolate.yaml"
    pb.write_text(ISOLATE)
    first = soar(tmp_path, "run", str(pb), "--input", f"machine={machine}", "--json", env={"SOAR_SIM_URL": url})
    assert first.exit_code == 3, first.output
    run_id = json.loads(first.output)["run_id"]
    assert soar(tmp_path, "approve", run_id, "isolate", "--no-resume").exit_code == 0
    resumed = soar(tmp_path, "--sim-url", url, "runs", "resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert _isolations(cloud) == [machine]


def test_sim_url_and_simulate_exclude_each_other(tmp_path):
    pb = tmp_path / "pb.yaml"
    pb.write_text("name: p\nsteps:\n  - id: a\n    action: core.log\n    with: {message: hi}\n")
    result = soar(tmp_path, "run", str(pb), "--simulate", "--sim-url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert "choose one" in result.output
    tenants = soar(tmp_path, "tenants", "check", "--simulate", "--sim-url", "http://127.0.0.1:9")
    assert tenants.exit_code == 2 and "choose one" in tenants.output


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        self.bodies.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Receiver.bodies
    server.shutdown()
    server.server_close()


NOTIFY = """\
name: notify
tenants: [contoso]
steps:
  - id: post
    action: core.http_request
    with: {method: POST, url: "http://127.0.0.1:PORT/teams", json: {text: isolated}}
outputs:
  status: "${{ steps.post.output.status }}"
"""


def test_allow_host_lets_one_host_out_of_the_simulation(tmp_path, receiver):
    port, bodies = receiver
    pb = tmp_path / "notify.yaml"
    pb.write_text(NOTIFY.replace("PORT", str(port)))
    refused = soar(tmp_path, "run", str(pb), "--simulate", "--json")
    assert refused.exit_code == 1 and bodies == []  # the simulated cloud does not serve 127.0.0.1
    allowed = soar(tmp_path, "run", str(pb), "--simulate", "--allow-host", f"127.0.0.1:{port}", "--json")
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.output)["outputs"] == {"status": 200}
    assert [json.loads(b) for b in bodies] == [{"text": "isolated"}]
    from_env = soar(tmp_path, "run", str(pb), "--simulate", "--json",
                    env={"SOAR_ALLOW_HOSTS": f"hooks.example.org, 127.0.0.1:{port}"})
    assert from_env.exit_code == 0, from_env.output
    assert len(bodies) == 2


def test_allow_host_without_a_simulation_is_a_usage_error(tmp_path):
    pb = tmp_path / "pb.yaml"
    pb.write_text("name: p\nsteps:\n  - id: a\n    action: core.log\n    with: {message: hi}\n")
    result = soar(tmp_path, "run", str(pb), "--allow-host", "hooks.example.org")
    assert result.exit_code == 2
    assert "--allow-host only applies under simulation" in result.output


@pytest.mark.parametrize("command", [["demo"], ["serve", "books", "--simulate", "--port", "0"]], ids=["demo", "serve"])
def test_demo_and_serve_take_allow_host(tmp_path, command):
    """The option reaches the simulated network: a host the simulated cloud serves cannot be let out."""
    (tmp_path / "books").mkdir()
    result = soar(tmp_path, *command, "--allow-host", "login.microsoftonline.com")
    assert result.exit_code == 2, result.output
    assert "login.microsoftonline.com" in result.output and "Traceback" not in result.output
