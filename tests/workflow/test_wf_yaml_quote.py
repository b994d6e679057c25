"""A `"` inside a double-quoted value ends the value early: `soar validate` says so, at the quote,
with a hint — not "bad indentation", which is what the parser's own words suggested."""

from __future__ import annotations

from click.testing import CliRunner

from runner.cli import main

PLAYBOOK = """\
name: quote-test
inputs:
  x: {default: a}
steps:
  - id: log
    action: core.log
    with:
      message: "Isolate ${{ inputs["x"] }} now"
"""


def _validate(tmp_path, text: str):
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    return CliRunner().invoke(main, ["validate", str(path)])


def test_inner_double_quote_is_reported_as_ending_the_value(tmp_path):
    result = _validate(tmp_path, PLAYBOOK)
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "indentation" not in out
    # at the quote that closed the value (line 8, column 36), naming where the value opened
    assert "pb.yaml:8:36:" in out
    assert 'a `"` ends the quoted value opened at line 8, column 16 early' in out
    assert "x\"] }} now\"" in out  # what was left over
    assert "single quotes" in out and "block scalar" in out


def test_inner_single_quote_in_single_quoted_value(tmp_path):
    result = _validate(tmp_path, PLAYBOOK.replace('"Isolate ${{ inputs["x"] }} now"', "'it's ${{ inputs.x }}'"))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "pb.yaml:8:19:" in out
    assert "a `'` ends the quoted value" in out
    assert "twice ('')" in out


def test_a_misaligned_line_is_still_bad_indentation(tmp_path):
    text = PLAYBOOK.replace('      message: "Isolate ${{ inputs["x"] }} now"', "      message: hi\n     level: info")
    result = _validate(tmp_path, text)
    assert result.exit_code == 2
    assert "does not line up" in result.output
    assert "ends the quoted value" not in result.output


def test_the_fixed_value_validates(tmp_path):
    result = _validate(tmp_path, PLAYBOOK.replace('inputs["x"]', "inputs['x']"))
    assert result.exit_code == 0, result.output
