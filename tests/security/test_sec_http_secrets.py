"""Issue #13, finding 12: secrets given to `core.http_request`.

- a secret in `params:` was sent as `***` (the receiver got `k=%2A%2A%2A`);
- a secret in `json:` raised TypeError, reported as a plugin bug;
- a server's percent-encoded echo of a secret was stored unredacted.

The receiver is an in-process endpoint behind the run's network (the real network is replaced
for the test): it records what arrived and echoes the request back the way servers do — the
query as sent (percent-encoded), decoded, the JSON body, with non-ASCII escaped. The canary must
reach the receiver whole and appear nowhere else: CLI output, logs, the run store's files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus

import httpx
import pytest
from click.testing import CliRunner

CANARY = "Canary/7Qx+Z=9&k v"  # characters that every encoding changes
CANARY2 = "Zweit\u00e9s/Geheim+1"  # non-ASCII: escaped in JSON (not valid in a header)


def _forms(value: str) -> list[str]:
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {f.replace("%2F", "%2f").replace("%2B", "%2b") for f in forms}
    return sorted(forms)


PLAYBOOK = """
name: http-secrets
secrets:
  tok: env:SOAR_SEC_CANARY
  tok2: env:SOAR_SEC_CANARY2
steps:
  - id: send
    action: core.http_request
    with:
      method: POST
      url: https://echo.example/anything
      params: {k: "${{ secrets.tok }}", k2: "${{ secrets.tok2 }}", plain: visible}
      headers: {X-Token: "${{ secrets.tok }}"}
      json:
        outer: {list: ["${{ secrets.tok }}", 1], note: "token ${{ secrets.tok2 }} inside"}
  - id: show
    action: core.log
    with: {message: "echo: ${{ steps.send.output.text }}"}
outputs:
  status: "${{ steps.send.output.status }}"
  echoed: "${{ steps.send.output.json }}"
"""


@pytest.fixture
def receiver(monkeypatch):
    """What reached the endpoint: one entry per request."""
    from runner.http import Network

    got: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        body = json.loads(request.content) if request.content else None
        got.append({"query": parse_qs(query), "headers": dict(request.headers), "json": body})
        token = request.headers.get("x-token", "")
        echo = {"args_raw": query, "url": str(request.url), "args": parse_qs(query), "json": body,
                "data": request.content.decode(), "headers": {"X-Token": token},
                "token_form": quote_plus(token), "token_path": quote(token)}
        return httpx.Response(200, text=json.dumps(echo), headers={"Content-Type": "application/json",
                                                                      "X-Echo": quote(token, safe="")})

    monkeypatch.setattr(Network, "internet", classmethod(lambda cls: cls.simulated(handler)))
    monkeypatch.setenv("SOAR_SEC_CANARY", CANARY)
    monkeypatch.setenv("SOAR_SEC_CANARY2", CANARY2)
    return got


def _soar(tmp: Path, *args: str):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp}/soar.db", "-vvv", *args], catch_exceptions=False)


def test_secrets_are_sent_whole_and_never_shown_or_stored(tmp_path, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    pb = tmp_path / "http.yaml"
    pb.write_text(PLAYBOOK)
    r = _soar(tmp_path, "run", str(pb), "--json")
    assert r.exit_code == 0, r.output
    # the receiver got the real value, in the query, the header and the nested JSON
    [req] = receiver
    assert req["query"]["k"] == [CANARY] and req["query"]["k2"] == [CANARY2], req["query"]
    assert req["headers"]["x-token"] == CANARY
    assert req["json"]["outer"]["list"][0] == CANARY
    assert req["json"]["outer"]["note"] == f"token {CANARY2} inside"
    doc = json.loads(r.stdout)
    assert doc["outputs"]["status"] == 200
    run_id = doc["run_id"]
    show = _soar(tmp_path, "runs", "show", run_id, "--json")
    table = _soar(tmp_path, "runs", "show", run_id)
    seen = {
        "run output": r.output,
        "runs show --json": show.output,
        "runs show": table.output,
        "logs": "\n".join(rec.getMessage() for rec in caplog.records),
        "store files": b"".join(p.read_bytes() for p in tmp_path.glob("soar.db*")).decode("utf-8", "replace"),
    }
    assert "HTTP Request: POST https://echo.example/anything?k=" in r.output  # httpx's line (with -vvv) was checked
    for where, text in seen.items():
        for form in _forms(CANARY) + _forms(CANARY2):
            assert form not in text, f"the secret ({form!r}) shows in {where}"
    # what was recorded of the echo is the masked text, not an error
    stored = json.loads(show.stdout)["steps"][0]
    assert stored["status"] == "succeeded" and "***" in json.dumps(stored["output"])
    assert "visible" in json.dumps(stored["output"])  # the rest of the echo is kept


def test_a_secret_in_json_is_not_reported_as_a_plugin_bug(tmp_path, receiver):
    pb = tmp_path / "json.yaml"
    pb.write_text("""
name: json-secret
secrets:
  tok: env:SOAR_SEC_CANARY
steps:
  - id: send
    action: core.http_request
    with: {method: POST, url: "https://echo.example/x", json: {token: "${{ secrets.tok }}"}}
""")
    r = _soar(tmp_path, "run", str(pb), "--json")
    assert r.exit_code == 0, r.output
    assert "TypeError" not in r.output and "bug in plugin" not in r.output
    assert receiver[0]["json"] == {"token": CANARY}


def test_a_secret_in_params_is_sent_as_its_value(tmp_path, receiver):
    pb = tmp_path / "params.yaml"
    pb.write_text("""
name: params-secret
secrets:
  tok: env:SOAR_SEC_CANARY
steps:
  - id: send
    action: core.http_request
    with: {url: "https://echo.example/x", params: {k: "${{ secrets.tok }}"}}
""")
    r = _soar(tmp_path, "run", str(pb), "--json")
    assert r.exit_code == 0, r.output
    assert receiver[0]["query"]["k"] == [CANARY], f"the receiver got {receiver[0]['query']}"


def test_a_percent_encoded_echo_of_a_secret_is_not_stored(tmp_path, receiver):
    # the secret goes in a header (sent whole before the fix too); the server echoes it back
    # percent-encoded (X-Echo, args_raw) and JSON-escaped
    pb = tmp_path / "echo.yaml"
    pb.write_text("""
name: echo-secret
secrets:
  tok: env:SOAR_SEC_CANARY
steps:
  - id: send
    action: core.http_request
    with: {url: "https://echo.example/x", headers: {X-Token: "${{ secrets.tok }}"}}
""")
    r = _soar(tmp_path, "run", str(pb), "--json")
    assert r.exit_code == 0, r.output
    assert receiver[0]["headers"]["x-token"] == CANARY
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("soar.db*")).decode("utf-8", "replace")
    for form in _forms(CANARY):
        assert form not in stored, f"the store holds the secret as {form!r}"


def test_a_non_ascii_secret_in_a_header_is_an_input_error_that_does_not_show_it(tmp_path, receiver):
    pb = tmp_path / "header.yaml"
    pb.write_text("""
name: header-secret
secrets:
  tok: env:SOAR_SEC_CANARY2
steps:
  - id: send
    action: core.http_request
    with: {url: "https://echo.example/x", headers: {X-Token: "${{ secrets.tok }}"}}
""")
    r = _soar(tmp_path, "run", str(pb), "--json")
    assert r.exit_code == 1
    error = json.loads(r.stdout)["error"]
    assert error["type"] == "ActionInputError" and "X-Token" in error["message"], error
    assert not receiver
    for form in _forms(CANARY2):
        assert form not in r.output
