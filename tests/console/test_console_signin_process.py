"""`soar serve --sim-url` and `soar sim serve` as real processes over real HTTP on loopback: a
person signs in through the simulated Entra ID (soar.yaml names the MSSP tenant by its domain),
a Viewer is refused, a Responder decides with the CSRF token, a script decides with a bearer
token; the client secret appears in no output. Without sign-in, serve says the console is
loopback only."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import httpx
import pytest
from test_console_signin_kit import GATED, HOOK_SECRET, action_of, fields_of, set_cookies

from runner.serve.webhooks import sign
from runner.sim.signin import client_id, client_secret

CLI = [sys.executable, "-c", "from runner.cli import main; main()"]


def _first_line(proc: subprocess.Popen, what: str) -> dict:
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, f"{what} printed nothing: {proc.stderr.read() if proc.poll() is not None else ''}"
    line = proc.stdout.readline()
    assert line, f"{what} stopped: {proc.stderr.read()}"
    return json.loads(line)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        _out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return err


def _wait(cond, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def _sign_in(http: httpx.Client, user: str) -> httpx.Response:
    start = http.get("/signin?next=/approvals/")
    assert start.status_code == 303, start.text
    login = start.headers["location"]
    assert login.startswith(str(http.base_url).rstrip("/") + "/_sim/login/")
    assert user in http.get(login).text
    answer = http.post(login, data={"user": user})
    done = http.post(action_of(answer.text), data=fields_of(answer.text))
    assert done.status_code == 303 and done.headers["location"] == "/approvals/", done.text
    return done


@pytest.fixture
def clouds(tmp_path):
    sim = subprocess.Popen([*CLI, "sim", "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    info = _first_line(sim, "soar sim serve")
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "gated.yaml").write_text(GATED)
    tenants = {t["name"]: {"id": t["tenant_id"], "cloud": t["cloud"]} for t in info["tenants"]}
    (tmp_path / "soar.yaml").write_text(json.dumps({
        "app": {"client_id": info["client_id"], "client_secret": "env:SOAR_TEST_SIM_SECRET"},
        "tenants": tenants, "token_cache": {"path": ":memory:"},
        "console": {"tenant": "mssp.onmicrosoft.com", "client_id": info["client_id"],
                    "client_secret": "env:SOAR_TEST_SIM_SECRET"}}))
    env = {**os.environ, "SOAR_TEST_SIM_SECRET": info["client_secret"], "SOAR_TEST_CONSOLE_HOOK": HOOK_SECRET}
    serve = subprocess.Popen([*CLI, "--config", str(tmp_path / "soar.yaml"), "--store", f"sqlite:///{tmp_path}/s.db",
                              "serve", str(pb), "--port", "0", "--sim-url", info["base_url"], "--grace", "2s"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        served = _first_line(serve, "soar serve")
        yield info, served, serve
    finally:
        _stop(serve)
        _stop(sim)


def test_sign_in_decide_and_script_over_real_http(clouds):
    info, served, serve = clouds
    url = served["url"]
    with httpx.Client(base_url=url, timeout=30) as alice, httpx.Client(base_url=url, timeout=30) as victor, \
            httpx.Client(base_url=url, timeout=30) as script:
        assert alice.get("/runs", headers={"Accept": "text/html"}).headers["location"] == "/signin?next=/runs"
        assert alice.get("/runs").status_code == 401  # a script is told, not redirected
        body = b"{}"
        hook = script.post("/hooks/gated", content=body, headers={"X-Hub-Signature-256": sign(HOOK_SECRET, body),
                                                                   "Content-Type": "application/json"})
        assert hook.status_code == 202, hook.text
        run_id = hook.json()["run_id"]

        done = _sign_in(alice, "alice")
        flags = {p.strip() for p in set_cookies(done)["soar_session"].split(";")[1:]}
        assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= flags and "Secure" not in flags
        _wait(lambda: alice.get(f"/api/v1/approvals/{run_id}/ask").status_code == 200, what="the gate")
        _sign_in(victor, "victor")
        v_token = victor.get("/api/v1/me").json()["csrf_token"]
        assert victor.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "approve"},
                           headers={"X-CSRF-Token": v_token}).status_code == 403
        assert victor.post(f"/approvals/{run_id}/ask/decision",
                           data={"decision": "approve", "csrf_token": v_token}).status_code == 403

        token = alice.get("/api/v1/me").json()["csrf_token"]
        assert alice.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "approve"}).status_code == 403
        ok = alice.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "approve", "reason": "seen"},
                        headers={"X-CSRF-Token": token})
        assert ok.status_code == 200, ok.text
        _wait(lambda: alice.get(f"/api/v1/runs/{run_id}").json()["run"]["status"] == "succeeded", what="the run")

        # a script: client credentials at the simulated Entra ID, then the bearer token
        mssp = "mssp.onmicrosoft.com"
        answer = httpx.post(f"{info['base_url']}/{mssp}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": client_id("reporting"),
            "client_secret": client_secret(info["client_secret"], "reporting"),
            "scope": f"api://{info['client_id']}/.default"})
        assert answer.status_code == 200, answer.text
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        assert script.get(f"/api/v1/runs/{run_id}", headers=bearer).status_code == 200
        refused = script.post(f"/api/v1/runs/{run_id}/rerun", headers=bearer)
        assert refused.status_code == 403 and "Responder" in refused.json()["error"]
        assert script.get("/api/v1/runs", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    assert info["client_secret"] not in _stop(serve)


def test_serve_without_sign_in_says_the_console_is_loopback_only(tmp_path):
    proc = subprocess.Popen([*CLI, "--store", f"sqlite:///{tmp_path}/s.db", "serve", str(tmp_path), "--simulate",
                             "--host", "0.0.0.0", "--port", "0", "--grace", "1s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        served = _first_line(proc, "soar serve")
        port = served["url"].rsplit(":", 1)[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            me = http.get("/api/v1/me")
            assert me.status_code == 200 and me.json()["roles"] == ["Admin"]
            elsewhere = http.get("/api/v1/me", headers={"Host": f"soar.example.com:{port}"})
            assert elsewhere.status_code == 403 and "loopback only" in elsewhere.json()["error"]
            assert http.get("/healthz", headers={"Host": f"soar.example.com:{port}"}).status_code == 200
    finally:
        err = _stop(proc)
    assert "sign-in is not configured" in err and "0.0.0.0" in err
