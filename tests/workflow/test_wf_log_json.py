"""`--log-format json` (and SOAR_LOG_FORMAT): one JSON object per stderr line with ts, level,
logger, message and the line's fields, for `soar serve` and `soar run`; a secret never shows,
whether it reaches a message, a traceback or a field."""

from __future__ import annotations

import json
import logging
import re

from wf_log_helpers import Served, post, wait

CANARY = "canary-wf-json-3c9d71e0"

LEAKY = """
name: leaky
secrets: {tok: env:WF_CANARY}
on:
  - webhook: {path: /hunt, token: env:WF_HOOK_TOKEN}
tenants: [contoso]
steps:
  - id: say
    action: core.log
    with: {message: "token is ${{ secrets.tok }}"}
  - id: boom
    action: core.fail
    with: {message: "failed with ${{ secrets.tok }}"}
"""

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _objects(err: str) -> list[dict]:
    lines = [line for line in err.splitlines() if line != "stopped"]  # the CLI's own last word
    assert lines, err
    docs = [json.loads(line) for line in lines]  # every log line is one JSON object
    for doc in docs:
        assert TS.match(doc["ts"]) and doc["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert doc["logger"].startswith(("soar", "uvicorn")) and isinstance(doc["message"], str)
    return docs


def test_serve_json_lines_carry_the_fields_and_no_secret(tmp_path):
    served = Served(tmp_path, {"leaky.yaml": LEAKY}, "--log-format", "json", "-v", env={"WF_CANARY": CANARY})
    try:
        first = post(served.url, {"n": 1})
        wait(lambda: [r for r in served.runs("leaky", "failed") if r.id == first["run_id"]], what="the failed run")
        err = served.stop()
    finally:
        served.kill()
    assert CANARY not in err
    docs = _objects(err)
    [accepted] = [d for d in docs if d.get("trigger") == "webhook" and d.get("event") == first["event_id"]
                  and "duplicate" in d]
    assert accepted["duplicate"] is False and accepted["run"] == first["run_id"] and accepted["playbook"] == "leaky"
    [end] = [d for d in docs if d.get("status") == "failed" and d.get("run") == first["run_id"]]
    assert end["level"] == "WARNING" and end["logger"] == "soar.serve" and end["playbook"] == "leaky"
    assert end["trigger"] == "webhook" and end["tenant"] == "contoso" and end["duration_ms"] >= 0
    assert "failed with ***" in end["error"] and "failed with ***" in end["message"]
    [said] = [d for d in docs if d["logger"] == "soar.step"]
    assert said == {**said, "run": first["run_id"], "tenant": "contoso", "step": "say", "message": "token is ***"}


def test_soar_log_format_env_gives_json_step_lines(soar, sim):
    pb = soar.write("h.yaml", """
name: hunt-each
tenants: [contoso, fabrikam]
steps:
  - id: hunt
    action: defender.run_hunting_query
    with: {query: "DeviceProcessEvents | take 2"}
""")
    result = soar("-v", "run", str(pb), "--simulate", "--json", env={"SOAR_LOG_FORMAT": "json"})
    assert result.exit_code == 0, result.output
    runs = {name: child["run_id"] for name, child in json.loads(result.stdout)["tenants"].items()}
    steps = [d for d in _objects(result.stderr) if d["logger"] == "soar.step"]
    assert sorted((d["tenant"], d["run"], d["step"]) for d in steps) == [
        ("contoso", runs["contoso"], "hunt"), ("fabrikam", runs["fabrikam"], "hunt")]
    assert all(re.fullmatch(r"hunting query on \w+: \d+ row\(s\)", d["message"]) for d in steps)


def test_a_secret_in_a_field_or_traceback_is_masked_in_json(capsys):
    """The redacting filter reaches the fields and the traceback, not only the message."""
    from runner.cli.common import setup_logging
    from runner.logfmt import fields
    from runner.secrets import Secret

    secret = Secret("canary-json-field-77aa19")  # registered: the filter now knows the value
    root = logging.getLogger()
    try:
        setup_logging(0, "json")  # what `soar --log-format json` installs, on pytest's stderr
        log = logging.getLogger("soar.test")
        try:
            raise ValueError(f"bad {secret.reveal()}")
        except ValueError:
            log.error("failed: %s", secret.reveal(), exc_info=True,
                      extra=fields(run="r-1", error=f"x {secret.reveal()} y", tenants=[secret.reveal()]))
        err = capsys.readouterr().err
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_soar", False)]:
            root.removeHandler(handler)
    [doc] = [json.loads(line) for line in err.splitlines()]
    assert doc["message"] == "failed: ***" and doc["error"] == "x *** y" and doc["tenants"] == ["***"]
    assert "ValueError: bad ***" in doc["exc"] and secret.reveal() not in err


def test_vv_never_shows_a_url_kept_as_a_secret(soar, sim, monkeypatch):
    """A webhook URL is often a credential (its path holds the key): -vv shows its host only."""
    monkeypatch.setenv("WF_HOOK_URL", f"https://graph.microsoft.com/v1.0/hooks/{CANARY}?sig={CANARY}x")
    pb = soar.write("u.yaml", """
name: notify
secrets: {hook: env:WF_HOOK_URL}
steps:
  - id: post
    action: core.http_request
    on_error: continue
    with: {method: POST, url: "${{ secrets.hook }}", json: {text: hi}}
""")
    result = soar("-vv", "--log-format", "json", "run", str(pb), "--simulate")
    assert CANARY not in result.output
    calls = [d for d in _objects(result.stderr) if d["logger"] == "soar.http"]
    assert calls and {(d["method"], d["host"], d["path"]) for d in calls} == {("POST", "graph.microsoft.com", "/***")}


def test_the_http_servers_own_warnings_are_json_lines_too(tmp_path):
    import socket

    served = Served(tmp_path, {"leaky.yaml": LEAKY}, "--log-format", "json", env={"WF_CANARY": CANARY})
    try:
        host, port = served.url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            sock.recv(1024)
        err = served.stop()
    finally:
        served.kill()
    assert [d for d in _objects(err) if d["logger"].startswith("uvicorn") and d["level"] == "WARNING"], err
