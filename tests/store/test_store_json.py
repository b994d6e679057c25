"""RunStore contract: how values become JSON — one encoding pass, then one redaction of the text
that finds known secret values however JSON escapes them; values the fast encoder refuses are
stored as the standard library would store them."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from store_helpers import make_run, raw_dump

from runner.secrets import Secret

# a secret value with every character JSON escapes differently: quote, backslash, newline, tab
AWKWARD = 'pa"ss\\wo\nrd\t-Q7x'


def _record(store, run_id, step):
    return {r.step_id: r for r in store.step_records(run_id)}[step]


def test_a_known_value_is_masked_however_json_escapes_it(store, backend):
    Secret(AWKWARD, name="awkward")  # registered, as a resolved secret is
    run_id = make_run(store)
    store.step_started(run_id, "call", item=None, attempt=1, action="core.set", effect="read",
                       inputs={"note": f"sent {AWKWARD}", AWKWARD: "as a key"}, durable=False)
    store.step_finished(run_id, "call", item=None, attempt=1, status="succeeded",
                        output={"echo": [f"<{AWKWARD}>"]}, durable=True)
    record = _record(store, run_id, "call")
    assert record.inputs == {"note": "sent ***", "***": "as a key"}
    assert record.output == {"echo": ["<***>"]}
    assert record.output_redacted is True
    store.close()
    dump = raw_dump(backend)
    assert b"***" in dump
    for form in (AWKWARD, json.dumps(AWKWARD)[1:-1], "Q7x"):
        assert form.encode() not in dump


def test_output_redacted_is_false_when_only_the_mask_text_itself_is_stored(store):
    run_id = make_run(store)
    store.step_started(run_id, "s", item=None, attempt=1, action="core.set", effect="read",
                       inputs={}, durable=False)
    store.step_finished(run_id, "s", item=None, attempt=1, status="succeeded",
                        output={"pattern": "***", "nested": [{"x": "a *** b"}]}, durable=False)
    record = _record(store, run_id, "s")
    assert record.output == {"pattern": "***", "nested": [{"x": "a *** b"}]}
    assert record.output_redacted is False


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_values_outside_plain_json_are_stored_like_the_standard_library_would(store):
    deep: list = []
    node = deep
    for _ in range(400):  # deeper than the fast encoder goes
        node.append([])
        node = node[0]
    value = {"big": 2 ** 70, "keys": {2: "two", 1.5: "x", None: "nothing"}, "deep": deep,
             "point": Point(1, 2), "money": Decimal("1.10"), "secret": Secret("tok-JSON-0001"),
             "pair": (1, 2)}
    run_id = make_run(store)
    store.step_started(run_id, "s", item=None, attempt=1, action="core.set", effect="read",
                       inputs=value, durable=True)
    stored = _record(store, run_id, "s").inputs
    assert stored["big"] == 2 ** 70
    assert stored["keys"] == {"2": "two", "1.5": "x", "null": "nothing"}
    depth, node = 0, stored["deep"]
    while node:
        node, depth = node[0], depth + 1
    assert depth == 400
    assert stored["point"] == "Point(x=1, y=2)"
    assert stored["money"] == "1.10"
    assert stored["secret"] == "***"
    assert stored["pair"] == [1, 2]
