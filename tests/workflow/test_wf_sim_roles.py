"""A simulated cloud whose app lacks chosen roles, so `soar tenants check` can be rehearsed:
`soar sim serve --without-role [TENANT:]ROLE`, and the same on `--simulate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from wf_sim_loopback import SECRET_ENV, write_config

from runner.cli import main

ISOLATE = """\
name: isolate
tenants: all
steps:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "0000000000000000000000000000000000000000", comment: x, isolation_type: Full}
"""


@pytest.fixture
def books(tmp_path):
    path = tmp_path / "books"
    path.mkdir()
    (path / "isolate.yaml").write_text(ISOLATE)
    return path


def soar(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_sim_serve_without_a_role_then_tenants_check(tmp_path, books):
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "sim", "serve", "--port", "0",
                             "--without-role", "Machine.Isolate"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        doc = json.loads(line)
        write_config(tmp_path, doc["client_id"], {t["name"]: t["tenant_id"] for t in doc["tenants"]})
        env = {SECRET_ENV: doc["client_secret"]}
        result = soar("tenants", "check", str(books), "--sim-url", doc["base_url"], "--json", env=env)
        assert result.exit_code == 1, result.output
        report = json.loads(result.output)
        for tenant in report["tenants"]:
            assert not tenant["ok"]
            assert "Machine.Isolate" not in tenant["apis"]["mde"]["roles"]
            assert tenant["apis"]["mde"]["missing"][0]["any_of"] == ["Machine.Isolate"]
        table = soar("tenants", "check", str(books), "--sim-url", doc["base_url"], env=env)
        assert "an admin of the tenant should (re)consent" in table.output
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_simulate_without_a_role_in_one_tenant(books):
    result = soar("tenants", "check", str(books), "--simulate", "--without-role", "contoso:machine.isolate", "--json")
    assert result.exit_code == 1, result.output
    by = {t["name"]: t for t in json.loads(result.output)["tenants"]}
    assert not by["contoso"]["ok"] and by["fabrikam"]["ok"]
    token = soar("token", "contoso", "--simulate", "--without-role", "Machine.Isolate", "--json")
    assert token.exit_code == 0, token.output
    assert "Machine.Isolate" not in json.loads(token.output)["roles"]


def test_an_unknown_role_or_tenant_is_a_usage_error(books):
    result = soar("tenants", "check", "--simulate", "--without-role", "Machine.Isolat")
    assert result.exit_code == 2
    assert "holds no role 'Machine.Isolat'" in result.output
    result = soar("tenants", "check", "--simulate", "--without-role", "globex:Machine.Isolate")
    assert result.exit_code == 2 and "no simulated tenant 'globex'" in result.output
    result = soar("tenants", "check", "--without-role", "Machine.Isolate", env={"SOAR_CONFIG": os.devnull})
    assert result.exit_code == 2 and "--simulate" in result.output
