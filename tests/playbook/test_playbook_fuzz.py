"""Property tests: whatever YAML comes in, the loader returns a Playbook or raises one of
our PlaybookErrors — never another exception — and never runs an action."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import PlaybookError
from runner.playbook import Playbook
from runner.playbook.yamlpos import parse_yaml

GOOD = Path(__file__).parent / "good"
BASES = [parse_yaml((GOOD / name).read_text())[0]
         for name in ("design-example.yaml", "parallel-groups.yaml", "approvals-secrets.yaml")]
KEYS = ["name", "steps", "id", "action", "with", "foreach", "when", "parallel", "on", "inputs", "secrets",
        "retry", "timeout", "on_error", "approval", "concurrency", "outputs", "tenants", "every", "schedule",
        "webhook", "path", "type", "default", "enum", "message", "attempts", "backoff"]
EXPRESSIONS = ["${{", "}}", "${{ }}", "${{ steps.x.output }}", "${{ item }}", "${{ a | nofilter }}",
               "${{ inputs.min_risk }}", "${{ 1 + }}", "${{ steps.isolate.output[0].id }}", "${{ secrets.x }}",
               "${{ ''.__class__ }}", "${{ range(10**9) | list }}", "${{ lipsum() }}"]
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(KEYS + EXPRESSIONS + ["all", "core.log", "5m", "0s"]))
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)),
                                               children, max_size=4)),
    max_leaves=20,
)


def check(loader, text: str, call_log) -> None:
    before = len(call_log)
    try:
        result = loader.load_text(text, "fuzz.yaml")
    except PlaybookError as exc:
        assert str(exc)  # renders, located or not
    else:
        assert isinstance(result, Playbook)
    assert len(call_log) == before, "loading ran an action"


def dump(value) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


@SETTINGS
@given(value=st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values, max_size=6)))
def test_random_documents(loader, call_log, value):
    check(loader, dump(value), call_log)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


@st.composite
def mutated_playbooks(draw):
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for el in path[:-1]:
            parent = parent[el]
        key = path[-1]
        op = draw(st.sampled_from(["delete", "rename", "replace", "expression", "unicode", "retype"]))
        if op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = parent.pop(key)
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "expression":
            parent[key] = f"{parent[key]}{draw(st.sampled_from(EXPRESSIONS))}"
        elif op == "unicode":
            parent[key] = draw(st.text(min_size=1, max_size=12))
        else:
            parent[key] = [parent[key]] if not isinstance(parent[key], list) else {"x": parent[key]}
    return doc


@SETTINGS
@given(doc=mutated_playbooks())
def test_mutated_playbooks(loader, call_log, doc):
    check(loader, dump(doc), call_log)


@SETTINGS
@given(base=st.sampled_from(sorted(GOOD.glob("*.yaml"))), data=st.data())
def test_mutated_text(loader, call_log, base, data):
    text = base.read_text()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 5))
        insert = data.draw(st.one_of(st.text(max_size=5), st.sampled_from(
            ["\t", ":", "- ", "{", "[", "'", '"', "&a ", "*a", "\n  ", "${{", "<<: ", "!!str ", "---\n"])))
        text = text[:at] + insert + text[at + cut:]
    check(loader, text, call_log)
