"""`soar run PLAYBOOK --payload FILE|-` and `--trigger-type`: a webhook playbook tried from the
command line gets the `trigger` `soar serve` would give it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from click.testing import CliRunner

from runner.cli import main

HOOK = """\
name: phish-hook
tenants: [contoso]
on:
  - webhook: {path: /phish, secret: env:PHISH_SECRET}
steps:
  - id: show
    action: core.log
    with: {message: "triggered by a ${{ trigger.type }}"}
outputs:
  type: "${{ trigger.type }}"
  key: "${{ trigger.get('key') }}"
  payload: "${{ trigger.payload }}"
  since: "${{ trigger.since }}"
  tenant: "${{ trigger.get('tenant') }}"
"""


def soar(tmp_path, *args: str, **kw):
    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/soar.db", *args], **kw)


def run(tmp_path, *args: str, **kw):
    pb = tmp_path / "hook.yaml"
    pb.write_text(HOOK)
    result = soar(tmp_path, "run", str(pb), "--simulate", "--json", *args, **kw)
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def test_json_payload_file_is_trigger_payload_of_a_webhook_run(tmp_path):
    (tmp_path / "p.json").write_text('{"reporter": "eve@contoso.example", "urls": ["http://x.example"]}')
    result, doc = run(tmp_path, "--payload", str(tmp_path / "p.json"))
    assert result.exit_code == 0, result.output
    assert doc["outputs"] == {"type": "webhook", "key": "/hooks/phish", "since": None, "tenant": None,
                              "payload": {"reporter": "eve@contoso.example", "urls": ["http://x.example"]}}
    assert "warning" not in result.stderr


def test_yaml_payload_from_stdin(tmp_path):
    result, doc = run(tmp_path, "--payload", "-", input="reporter: bob\nurls: [a, b]\nseen: 2024-05-01\n")
    assert result.exit_code == 0, result.output
    # a webhook body is JSON: the YAML date arrives as text
    assert doc["outputs"]["payload"] == {"reporter": "bob", "urls": ["a", "b"], "seen": "2024-05-01"}


def test_the_run_records_the_trigger_serve_would_record(tmp_path):
    """Same keys as the trigger of a run `soar serve` starts from a webhook (the inbox's event)."""
    from runner.store import RunStore
    from runner.store.inbox import TriggerInbox

    (tmp_path / "p.json").write_text('{"reporter": "eve"}')
    result, doc = run(tmp_path, "--payload", str(tmp_path / "p.json"))
    assert result.exit_code == 0, result.output
    store = RunStore.open(f"sqlite:///{tmp_path}/soar.db")
    try:
        recorded = store.get_run(doc["run_id"]).trigger
        served = TriggerInbox(store).accept("phish-hook", "webhook", {"reporter": "eve"},
                                            trigger_key="/hooks/phish").event.trigger()
    finally:
        store.close()
    assert set(recorded) == set(served)
    assert {k: recorded[k] for k in ("type", "key", "payload", "since")} == \
           {k: served[k] for k in ("type", "key", "payload", "since")}
    assert datetime.fromisoformat(recorded["received_at"]).tzinfo == timezone.utc


def test_bad_json_is_located_at_file_line_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"reporter": "eve",\n "urls": [1, 2,]\n}')
    result, _ = run(tmp_path, "--payload", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:2:16: --payload is not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_payload_held_to_the_webhook_limits_and_missing_file(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 70 + "]" * 70)
    result, _ = run(tmp_path, "--payload", str(deep))
    assert result.exit_code == 2 and "nests arrays/objects more than" in result.output
    result, _ = run(tmp_path, "--payload", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "no such file" in result.output


def test_trigger_type_the_playbook_has_no_trigger_for_warns(tmp_path):
    (tmp_path / "p.json").write_text('{"reporter": "eve"}')
    result, doc = run(tmp_path, "--payload", str(tmp_path / "p.json"), "--trigger-type", "poll",
                      "--tenant", "contoso")
    assert result.exit_code == 0, result.output
    assert doc["outputs"]["type"] == "poll" and doc["outputs"]["tenant"] == "contoso"
    warning = " ".join(result.stderr.split())
    assert "has no poll trigger (its triggers: webhook)" in warning


def test_schedule_and_manual_trigger_types(tmp_path):
    result, doc = run(tmp_path, "--trigger-type", "schedule")
    assert result.exit_code == 0, result.output
    assert doc["outputs"]["type"] == "schedule" and set(doc["outputs"]["payload"]) == {"scheduled_for", "since"}
    assert "no schedule trigger" in " ".join(result.stderr.split())
    result, doc = run(tmp_path)  # no option: a manual run, as before
    assert result.exit_code == 0 and doc["outputs"]["type"] == "manual" and doc["outputs"]["payload"] is None


def test_the_test_kit_takes_the_trigger_the_docs_show(soar_runner):
    out = soar_runner.run(HOOK, tenant="contoso", trigger={
        "type": "webhook", "key": "/hooks/phish", "payload": {"reporter": "eve@contoso.example"}})
    assert out.status == "succeeded"
    assert out.outputs["payload"] == {"reporter": "eve@contoso.example"} and out.outputs["key"] == "/hooks/phish"


def test_a_scheduled_run_by_hand_gets_since_as_serve_gives_it(tmp_path):
    """`trigger.since` of `--trigger-type schedule` is the start of the playbook's last succeeded
    run in the store (what `soar serve` gives a schedule's run), not always null."""
    result, first = run(tmp_path, "--trigger-type", "schedule")
    assert result.exit_code == 0, result.output
    assert first["outputs"]["since"] is None  # no earlier succeeded run
    result, second = run(tmp_path, "--trigger-type", "schedule")
    assert result.exit_code == 0, result.output
    listed = json.loads(soar(tmp_path, "runs", "list", "--json").stdout)
    started = {r["run_id"]: r for r in listed}[first["run_id"]]
    since = datetime.fromisoformat(second["outputs"]["since"])
    assert since.tzinfo is not None and second["outputs"]["payload"]["since"] == second["outputs"]["since"]
    assert abs((since - datetime.fromisoformat(started["created_at"])).total_seconds()) < 1
