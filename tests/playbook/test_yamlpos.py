"""The YAML layer: values, positions, and the documents it must refuse."""

from __future__ import annotations

import math

import pytest
import yaml

from runner.errors import PlaybookSyntaxError
from runner.playbook import yamlpos
from runner.playbook.yamlpos import parse_mapping, parse_yaml


@pytest.mark.parametrize("text, value", [
    ("1", 1), ("-7", -7), ("0o17", 15), ("0x1f", 31), ("0755", 755), ("1.5", 1.5), ("1e3", 1000.0),
    ("true", True), ("False", False), ("yes", "yes"), ("on", "on"), ("off", "off"), ("no", "no"),
    ("~", None), ("null", None), ("", None), ("2024-01-01", "2024-01-01"), ("12:30", "12:30"),
    ("'1'", "1"), ('"true"', "true"), ("!!str 5", "5"), ("!!int '7'", 7), ("1_000", "1_000"),
    ("hello world", "hello world"), ("5m", "5m"), ("'<<'", "<<"), (".5", 0.5),
])
def test_scalars_follow_yaml_12_core(text, value):
    assert parse_yaml(f"v: {text}")[0] == {"v": value}


def test_special_floats():
    data = parse_yaml("a: .inf\nb: -.Inf\nc: .nan\n")[0]
    assert data["a"] == math.inf and data["b"] == -math.inf and math.isnan(data["c"])


def test_on_is_a_key_not_true():
    assert list(parse_yaml("on: [1]\nyes: 2\n")[0]) == ["on", "yes"]


def test_positions_of_keys_values_and_items():
    text = "a:\n  b: [x, {c: 1}]\n  d:\n    - e\n"
    value, pos, vpos = parse_yaml(text)
    assert value == {"a": {"b": ["x", {"c": 1}], "d": ["e"]}}
    assert pos[("a",)] == (1, 1) and vpos[("a",)] == (2, 3)
    assert pos[("a", "b")] == (2, 3) and vpos[("a", "b")] == (2, 6)
    assert pos[("a", "b", 1)] == (2, 10)
    assert pos[("a", "b", 1, "c")] == (2, 11)
    assert pos[("a", "d", 0)] == (4, 7)


def test_merge_keys_and_aliases():
    text = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: [*b, *b]\n"
    value, pos, _ = parse_yaml(text)
    assert value["m"] == {"x": 1, "y": 3}
    assert value["l"] == [{"x": 1, "y": 2}] * 2
    assert value["l"][0] is not value["l"][1], "aliases expand to independent copies"
    assert pos[("m", "x")] == (1, 11)  # where the merged key is written
    assert pos[("m", "y")] == (4, 3)


def test_several_merge_sources_first_wins():
    text = "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n"
    assert parse_yaml(text)[0]["c"] == {"x": 1, "y": 2}


@pytest.mark.parametrize("text, line, col, words", [
    ("a: 1\nb: {c: 1, c: 2}\n", 2, 11, "duplicate key 'c' (first defined on line 2)"),
    ("a: &x [1, *x]\n", 1, 11, "alias *x refers to no anchor"),
    ("a: *nope\n", 1, 4, "alias *nope refers to no anchor"),
    ("a: 1\n---\nb: 2\n", 2, 1, "more than one YAML document"),
    ("a: !!python/object:os.system x\n", 1, 4, "unsupported YAML tag !!python/object:os.system"),
    ("a: !!set {x}\n", 1, 4, "unsupported YAML tag !!set"),
    ("a: !!float abc\n", 1, 4, "'abc' is not a valid !!float value"),
    ("? [a, b]\n: c\n", 1, 3, "a mapping key must be a plain value"),
    ("a:\n  <<: [1]\n", 2, 8, "`<<` merges mappings only"),
    ("a: <<\n", 1, 4, "`<<` (merge) is only allowed as a mapping key"),
    ("a: 'x\n", 2, 1, "found unexpected end of stream"),
    ("a: b\x07c\n", 1, 5, "character #x0007 is not allowed"),
])
def test_refused_documents_are_located(text, line, col, words):
    with pytest.raises(PlaybookSyntaxError) as info:
        parse_yaml(text, "f.yaml")
    err = info.value
    assert (err.where.file, err.where.line, err.where.column) == ("f.yaml", line, col), str(err)
    assert words in err.message
    assert err.hint


def test_deep_nesting_is_refused_without_crashing():
    # libyaml's own composer segfaults at this depth; ours counts levels from the events
    with pytest.raises(PlaybookSyntaxError, match="nesting deeper than"):
        parse_yaml("a: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(PlaybookSyntaxError, match="nesting deeper than"):
        parse_yaml("a: " + "{b: " * 100 + "1" + "}" * 100)


def test_aliases_nested_past_the_depth_limit_are_refused():
    text = "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 10 + "*a" + "]" * 10 + "\n"
    with pytest.raises(PlaybookSyntaxError, match="nesting deeper than"):
        parse_yaml(text)


def test_billion_laughs_is_refused_quickly():
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(PlaybookSyntaxError, match="billion laughs") as info:
        parse_yaml("\n".join(lines))
    assert info.value.where.line == 5  # the first alias to cross 100,000 values


def test_moderate_alias_use_is_fine():
    text = "d: &d {machine_id: m1, comment: hi}\nsteps: [" + ", ".join(["*d"] * 1000) + "]\n"
    assert len(parse_yaml(text)[0]["steps"]) == 1000


def test_empty_and_non_mapping_documents():
    assert parse_yaml("# only a comment\n") == (None, {}, {})
    with pytest.raises(PlaybookSyntaxError, match="the file is empty"):
        parse_mapping("\n\n# nothing\n", "f.yaml")
    with pytest.raises(PlaybookSyntaxError, match="found a single value"):
        parse_mapping("just text\n", "f.yaml")
    assert parse_mapping("---\na: 1\n...\n")[0] == {"a": 1}


def test_pure_python_parser_gives_the_same_result(monkeypatch):
    """Without libyaml, the pure-Python parser is used: same values, same positions."""
    text = (
        "name: x\non:\n  - every: 10m\nsteps:\n  - id: a\n    action: core.log\n"
        "    with: {message: \"hi ${{ run.id }}\", n: [1, 2.5, true, ~, 'q']}\n"
        "  - &b {id: b, action: core.log}\n  - <<: *b\n    id: c\n"
    )
    fast = parse_yaml(text)
    monkeypatch.setattr(yamlpos, "_FastLoader", yaml.SafeLoader)
    assert parse_yaml(text) == fast
