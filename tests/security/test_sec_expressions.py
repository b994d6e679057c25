"""Issue #13, findings 7 and 11: expressions run within limits and fail as located expression
errors, through `soar run` as a user runs a playbook.

7. An expression that would compute or allocate without bound (``10**(10**8)``, a catastrophic
   regex, ``'a'*10**9``, ``'%0999999999d'%1``, ``center``/``indent``/format widths of 10**9)
   fails with an "expression limit" error, within the step's ``timeout``, and the run ends
   ``failed``. Each runs in a subprocess with a time and a memory limit, so on a build without
   the limits the test fails instead of hanging or exhausting the machine.
11. A sandbox refusal or an unknown attribute inside ``map(attribute=…)``/``groupby`` is a
    located expression error, never "internal error … bug in soar-runner", and the run ends
    ``failed`` (never left ``running``).
"""

from __future__ import annotations

import time

import pytest
from sec_expr_cli import run_bounded, run_inprocess, stored_runs


def _playbook(expr: str, timeout: str | None = "2s") -> str:
    return ("name: limits\nsteps:\n"
            "  - id: calc\n    action: core.set\n"
            + (f"    timeout: {timeout}\n" if timeout else "")
            + f"    with: {{v: \"${{{{ {expr} }}}}\"}}\n")


def _assert_failed_by_limit(tmp_path, ran, what: str) -> None:
    assert ran.code != -1, f"`soar run` still running after its time bound ({what})"
    assert ran.code == 1, f"exit code {ran.code} (negative: killed by a signal)\n{ran.stderr[-2000:]}"
    assert ran.status == "failed", ran.stdout[-2000:]
    assert "expression limit" in ran.error, ran.error
    assert "internal error" not in ran.stdout + ran.stderr
    where = (ran.doc or {}).get("error", {}).get("where", {})
    assert where.get("step") == "calc" and where.get("line") == 6, where
    assert "expression limit" in ran.step("calc")["error"]
    assert [status for _, status in stored_runs(tmp_path)] == ["failed"]


ALLOCATIONS = [
    pytest.param("10**(10**8)", "integer of", id="huge-power"),
    pytest.param("'a'*10**9", "string of 1,000,000,000", id="string-repeat"),
    pytest.param("[0]*10**9", "list of 1,000,000,000", id="list-repeat"),
    pytest.param("'%0999999999d'%1", "format width", id="printf-width"),
    pytest.param("'%.999999999f'%1.5", "format width", id="printf-precision"),
    pytest.param("'x' | center(10**9)", "width of 1,000,000,000", id="center-filter"),
    pytest.param("'x'.center(10**9)", "width of 1,000,000,000", id="center-method"),
    pytest.param("'a\\nb' | indent(10**9)", "string of", id="indent-filter"),
    pytest.param("'{:>999999999}'.format(1)", "format width", id="format-width"),
    pytest.param("('{0:{1}' ~ '}').format(1, '>999999999')", "format width", id="format-nested-width"),
    pytest.param("range(100000) | join('x' * 3000000)", "string of", id="join-separator"),
    pytest.param("('a' * 3000000) ~ ('a' * 3000000)", "string of 6,000,000", id="tilde-concat"),
    pytest.param("'ab' | replace('', 'x' * 3000000)", "string of", id="replace-empty"),
    pytest.param("[1] | batch(10**9, 0) | list", "batch size", id="batch-fill"),
    pytest.param("('a' * 2000000) | wordwrap(2) | length", "expression limit", id="wordwrap-long-word"),
    pytest.param("([('a' * 4000000)] * 1000000) | to_json | length", "copies", id="list-of-references"),
    pytest.param("dict.fromkeys(range(100000), 'a' * 4000000) | string | length", "copies",
                 id="fromkeys-references"),
]


@pytest.mark.parametrize("expr, detail", ALLOCATIONS)
def test_an_unbounded_value_is_an_expression_limit_error(tmp_path, expr, detail):
    t0 = time.monotonic()
    ran = run_bounded(tmp_path, _playbook(expr))
    _assert_failed_by_limit(tmp_path, ran, expr)
    assert detail in ran.error, ran.error
    assert time.monotonic() - t0 < 20


def test_catastrophic_regex_stops_at_the_steps_timeout(tmp_path):
    """`(a|aa)+$` backtracks exponentially (in `re` and in `regex`): it stops at the step's
    timeout, shorter here than the expression time limit, with an "expression limit" error."""
    t0 = time.monotonic()
    ran = run_bounded(tmp_path, _playbook("('a' * 60 ~ '!') | regex_search('(a|aa)+$')", timeout="0.3s"))
    _assert_failed_by_limit(tmp_path, ran, "regex")
    assert "ran past 0.3s (the step's timeout)" in ran.error, ran.error
    assert time.monotonic() - t0 < 15


def test_the_issues_regex_payload_finishes(tmp_path):
    """The issue's own payload (`(a+)+$` on 40 a's and a '!') ran past 30 s; it now either
    matches quickly or stops at the limit — the run finishes either way."""
    ran = run_bounded(tmp_path, _playbook("('a'*40 ~ '!') | regex_search('(a+)+$')"))
    assert ran.code in (0, 1), f"`soar run` did not finish (code {ran.code})"
    assert ran.status == "succeeded" or "expression limit" in ran.error, ran.stdout[-2000:]
    assert [status for _, status in stored_runs(tmp_path)] == [ran.status]


def test_a_regex_pattern_that_does_not_compile_is_an_expression_error(tmp_path):
    ran = run_inprocess(tmp_path, _playbook("'abc' | regex_search('(')"))
    assert ran.status == "failed" and "invalid regex" in ran.error, ran.stdout


def test_values_within_the_limits_still_work(tmp_path):
    pb = ("name: ok\nsteps:\n  - id: a\n    action: core.set\n    timeout: 5s\n    with:\n"
          "      big: \"${{ ('x' * 100000) | length }}\"\n"
          "      power: \"${{ 2 ** 4000 > 0 }}\"\n"
          "      padded: \"${{ '%05d' % 42 }}\"\n"
          "      fmt: \"${{ '{:>6}'.format('ab') }}\"\n"
          "      joined: \"${{ range(5) | join('-') }}\"\n"
          "      concat: \"${{ 'a' ~ 1 ~ none }}\"\n"
          "      upn: \"${{ 'alice@contoso.com' | regex_search('@.*$') }}\"\n"
          "      lazy: \"${{ [1, 2, 3] | select('odd') }}\"\n"
          "      summed: \"${{ [[1], [2, 3]] | sum(start=[]) }}\"\n"
          "      many: \"${{ range(20000) | map('string') | list | length }}\"\n"
          "outputs: {a: \"${{ steps.a.output }}\"}\n")
    ran = run_inprocess(tmp_path, pb)
    assert ran.status == "succeeded", ran.stdout
    assert ran.doc["outputs"]["a"] == {
        "big": 100000, "power": True, "padded": "00042", "fmt": "    ab", "joined": "0-1-2-3-4",
        "concat": "a1None", "upn": "@contoso.com", "lazy": [1, 3], "summed": [1, 2, 3], "many": 20000}


# ---- finding 11 --------------------------------------------------------------------------------

DEVICES = "[{'deviceId': 'd1', 'name': 'ws-1'}, {'deviceId': 'd2', 'name': 'ws-2'}]"
ONE = "[{'deviceId': 'd1', 'name': 'ws-1'}]"

REFUSALS = [
    pytest.param(f"{DEVICES} | map(attribute='__class__') | list", "not allowed in the sandbox",
                 id="map-dunder"),
    pytest.param(f"{ONE} | groupby('__class__')", "not allowed in the sandbox", id="groupby-dunder"),
    pytest.param(f"{DEVICES} | map(attribute='deviceid') | list", "has no attribute 'deviceid'",
                 id="map-typo"),
    pytest.param(f"{DEVICES} | map(attribute='deviceid')", "has no attribute 'deviceid'",
                 id="map-typo-lazy"),
    pytest.param(f"{ONE} | groupby('nme')", "has no attribute 'nme'", id="groupby-typo"),
    pytest.param(f"{DEVICES} | groupby('__class__')", "not allowed in the sandbox", id="groupby-dunder-2"),
    pytest.param(f"{DEVICES} | map(attribute='__class__') | first", "not allowed in the sandbox",
                 id="map-dunder-first"),
]


@pytest.mark.parametrize("expr, message", REFUSALS)
def test_sandbox_refusals_and_typos_are_located_expression_errors(tmp_path, expr, message):
    ran = run_inprocess(tmp_path, _playbook(expr, timeout=None))
    assert ran.code == 1, ran.stdout + ran.stderr
    assert "internal error" not in ran.stdout + ran.stderr and "bug in soar-runner" not in ran.stdout
    assert ran.status == "failed", ran.stdout
    assert message in ran.error, ran.error
    assert ran.doc["error"]["type"] == "ExpressionError"
    assert ran.doc["error"]["where"]["step"] == "calc" and ran.doc["error"]["where"]["line"] == 5
    assert [status for _, status in stored_runs(tmp_path)] == ["failed"]  # never left `running`


# ---- the mechanism: every filter guarded, expensive evaluations off the event loop --------------

def test_every_filter_is_guarded_plugin_filters_too():
    from runner.expressions import ExpressionEngine

    engine = ExpressionEngine(filters={"plugin_echo": lambda v, n=1: v * n})
    unguarded = [name for name, f in engine.env.filters.items() if getattr(f, "__wrapped__", None) is None]
    assert unguarded == []
    with pytest.raises(Exception) as err:
        engine.compile_value("${{ ('a' * 1000000) | plugin_echo(5) }}").render({})  # its result is checked
    assert "expression limit" in str(err.value)


def test_cheap_evaluations_stay_on_the_loop_expensive_ones_move_to_a_worker():
    import asyncio
    import threading

    from runner.expressions import ExpressionEngine, render_async

    engine = ExpressionEngine(filters={"thread_name": lambda v: threading.current_thread().name})

    async def main():
        loop_thread = threading.current_thread().name
        cheap = await render_async(engine.compile_value("${{ 'abc' | thread_name }}"), {})
        big = await render_async(engine.compile_value("${{ ('a' * 50000) | thread_name }}"), {})
        ref = await render_async(engine.compile_value("${{ inputs.x }}"), {"inputs": {"x": 1}})
        return loop_thread, cheap, big, ref

    loop_thread, cheap, big, ref = asyncio.run(main())
    assert cheap == loop_thread and ref == 1
    assert big != loop_thread and big.startswith("soar-expr")

