"""The JSON Schema accepts every good playbook and rejects the obviously wrong ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from runner.playbook import playbook_json_schema
from runner.playbook.yamlpos import parse_yaml

GOOD = sorted((Path(__file__).parent / "good").glob("*.yaml"))


@pytest.fixture(scope="module")
def plain():
    return jsonschema.Draft202012Validator(playbook_json_schema())


@pytest.fixture(scope="module")
def with_actions(host):
    return jsonschema.Draft202012Validator(playbook_json_schema(host))


def data(path: Path) -> dict:
    return parse_yaml(path.read_text())[0]


def messages(validator, doc) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12(host):
    for schema in (playbook_json_schema(), playbook_json_schema(host)):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] and schema["title"]
        json.dumps(schema)  # plain JSON


def test_actions_are_enumerated_with_their_inputs(host):
    schema = playbook_json_schema(host)
    step = schema["$defs"]["Step"]
    assert step["properties"]["action"]["enum"] == host.actions.names()
    conditions = {c["if"]["properties"]["action"]["const"]: c["then"]["properties"]["with"]
                  for c in step["allOf"] if "if" in c}
    assert set(conditions) == set(host.actions.names())
    isolate = conditions["defender.isolate_machine"]
    assert isolate["required"] == ["machine_id", "comment"]
    assert isolate["additionalProperties"] is False
    assert conditions["core.set"].get("additionalProperties") is not False  # takes any key


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_playbooks_validate(path, plain, with_actions):
    doc = data(path)
    assert messages(plain, doc) == []
    assert messages(with_actions, doc) == []


def mutate(doc: dict, change) -> dict:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


BASE = data(Path(__file__).parent / "good" / "design-example.yaml")
WRONG = {
    "unknown top-level key": lambda d: d.update(stpes=[]),
    "missing steps": lambda d: d.pop("steps"),
    "bad name": lambda d: d.update(name="Bad Name"),
    "empty steps": lambda d: d.update(steps=[]),
    "unknown step key": lambda d: d["steps"][0].update(wth={}),
    "action and parallel": lambda d: d["steps"][0].update(parallel=[{"id": "x", "action": "core.log"}]),
    "neither action nor parallel": lambda d: d["steps"][0].pop("action"),
    "bad duration": lambda d: d["steps"][1].update(timeout="5 minutes"),
    "concurrency text": lambda d: d["steps"][1].update(concurrency="ten"),
    "concurrency zero": lambda d: d["steps"][1].update(concurrency=0),
    "bad trigger": lambda d: d["on"].append({"cron": "* * * * *"}),
    "cron with 3 fields": lambda d: d["on"].append({"schedule": "* * *"}),
    "bad webhook path": lambda d: d["on"][2]["webhook"].update(path="hooks"),
    "literal secret": lambda d: d.update(secrets={"tok": "hunter2"}),
    "bad input name": lambda d: d["inputs"].update({"max-risk": {}}),
    "approval number": lambda d: d["steps"][1].update(approval=5),
    "tenants number": lambda d: d.update(tenants=[1]),
}
WITH_ACTIONS_ONLY = {
    "unknown action": lambda d: d["steps"][0].update(action="defender.nope"),
    "bad enum input": lambda d: d["steps"][1]["with"].update(isolation_type="Partial"),
    "unknown input": lambda d: d["steps"][1]["with"].update(coment="x"),
    "missing input": lambda d: d["steps"][1]["with"].pop("machine_id"),
    "wrong input type": lambda d: d["steps"][0]["with"].update(top="lots"),
}


@pytest.mark.parametrize("name", WRONG)
def test_wrong_playbooks_are_rejected(name, plain, with_actions):
    doc = mutate(BASE, WRONG[name])
    assert messages(plain, doc), name
    assert messages(with_actions, doc), name


@pytest.mark.parametrize("name", WITH_ACTIONS_ONLY)
def test_wrong_inputs_are_rejected_when_actions_are_known(name, plain, with_actions):
    doc = mutate(BASE, WITH_ACTIONS_ONLY[name])
    assert messages(plain, doc) == []
    assert messages(with_actions, doc), name


def test_inputs_accept_expressions_anywhere(with_actions):
    doc = mutate(BASE, lambda d: d["steps"][0]["with"].update(top="${{ inputs.n }}", status="${{ inputs.s }}"))
    assert messages(with_actions, doc) == []
