"""Issue #13, finding 4: inside an expression a secret has no methods or attributes.

``${{ secrets.e.reveal()[1:] }}`` or ``| reverse`` on the revealed text put the value, altered
past what text redaction recognises, into the output, the log and the store. Every way to reach
``reveal`` (or any attribute of a secret) is now a sandbox error; the secret stays usable as a
whole value, and interpolated into text it stays a secret.
"""

from __future__ import annotations

import logging

import pytest
from sec_expr_cli import raw_store, run_inprocess, stored_runs

from runner.errors import ExpressionError
from runner.expressions import ExpressionEngine
from runner.secrets import Secret

CANARY = "canary-e1f2a3b4c5d6"
# the value, and the forms of it the attacks produce (redaction only knows the value itself)
LEAKS = [CANARY, CANARY[1:], CANARY[::-1], CANARY.upper(), ",".join(CANARY), CANARY[:8]]

ATTACKS = [
    pytest.param("secrets.e.reveal()[1:]", id="reveal-slice"),
    pytest.param("secrets.e.reveal() | reverse", id="reveal-reverse"),
    pytest.param("secrets.e.reveal() | upper", id="reveal-upper"),
    pytest.param("secrets.e.reveal() | list | join(',')", id="reveal-join"),
    pytest.param("secrets.e.reveal()[:8]", id="reveal-prefix"),
    pytest.param("secrets.e['reveal']()[1:]", id="reveal-subscript"),
    pytest.param("(secrets.e | attr('reveal'))()[1:]", id="reveal-attr-filter"),
    pytest.param("'{0.reveal}'.format(secrets.e)", id="reveal-format-field"),
    pytest.param("[secrets.e] | map('attr', 'reveal') | list", id="reveal-map-attr"),
    pytest.param("secrets.e._value[1:]", id="private-value"),
    pytest.param("secrets.e.name", id="name-attribute"),
    pytest.param("secrets.e.__reduce__", id="dunder"),
    pytest.param("('x' ~ secrets.e).reveal()", id="concat-then-reveal"),
]


def _playbook(expr: str) -> str:
    return ("name: leak\nsecrets: {e: env:SEC_CANARY}\nsteps:\n"
            "  - id: grab\n    action: core.set\n"
            f"    with: {{v: \"${{{{ {expr} }}}}\"}}\n"
            "  - id: tell\n    action: core.log\n"
            "    with: {message: \"${{ steps.grab.output.v }}\"}\n"
            "outputs: {v: \"${{ steps.grab.output.v }}\"}\n")


@pytest.mark.parametrize("expr", ATTACKS)
def test_no_method_or_attribute_of_a_secret_is_reachable(tmp_path, monkeypatch, caplog, expr):
    monkeypatch.setenv("SEC_CANARY", CANARY)
    caplog.set_level(logging.DEBUG)
    ran = run_inprocess(tmp_path, _playbook(expr))
    everything = ran.stdout + ran.stderr + caplog.text + raw_store(tmp_path).decode("latin-1")
    for leak in LEAKS:
        assert leak not in everything, f"{leak!r} leaked through {expr}"
    assert ran.status == "failed", ran.stdout
    assert ran.step("grab")["status"] == "failed"
    assert ran.doc["error"]["type"] == "ExpressionError", ran.doc["error"]
    assert ran.doc["error"]["where"]["step"] == "grab"
    assert [status for _, status in stored_runs(tmp_path)] == ["failed"]


def test_reveal_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEC_CANARY", CANARY)
    ran = run_inprocess(tmp_path, _playbook("secrets.e.reveal()[1:]"))
    assert "'reveal' is not available" in ran.error and "a secret has no attributes or methods" in ran.error


def test_a_secret_is_still_a_whole_value(tmp_path, monkeypatch, caplog):
    """Passed whole, interpolated, compared for presence: works, and shows as ***."""
    monkeypatch.setenv("SEC_CANARY", CANARY)
    caplog.set_level(logging.DEBUG)
    pb = ("name: ok\nsecrets: {e: env:SEC_CANARY}\nsteps:\n"
          "  - id: use\n    action: core.set\n"
          "    with: {whole: \"${{ secrets.e }}\", header: \"Bearer ${{ secrets.e }}\","
          " shown: \"${{ 'x' ~ secrets.e }}\", set: \"${{ secrets.e | string }}\","
          " present: \"${{ secrets.e is defined and secrets.e != '' }}\"}\n"
          "outputs: {use: \"${{ steps.use.output }}\"}\n")
    ran = run_inprocess(tmp_path, pb)
    assert ran.status == "succeeded", ran.stdout
    out = ran.doc["outputs"]["use"]
    assert out["whole"] == "***" and out["header"] == "Bearer ***"
    assert out["shown"] == "x***" and out["set"] == "***" and out["present"] is True
    everything = ran.stdout + ran.stderr + caplog.text + raw_store(tmp_path).decode("latin-1")
    assert CANARY not in everything


def test_interpolated_secret_keeps_its_value_for_the_action():
    engine = ExpressionEngine()
    secret = Secret(CANARY, name="e")
    ctx = {"secrets": {"e": secret}}
    whole = engine.compile_value("${{ secrets.e }}").render(ctx)
    assert whole is secret
    header = engine.compile_value("Bearer ${{ secrets.e }}").render(ctx)
    assert isinstance(header, Secret) and header.reveal() == f"Bearer {CANARY}" and str(header) == "Bearer ***"
    with pytest.raises(ExpressionError) as err:
        engine.compile_value("${{ secrets.e.reveal() }}").render(ctx)
    assert CANARY not in str(err.value)
