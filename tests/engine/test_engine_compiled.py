"""Expressions compiled once: checked at load, Jinja code generated on first use, each step's
compiled form kept with its playbook (runner.engine.compiled, runner.expressions)."""

from __future__ import annotations

import asyncio
import collections
import types

import pytest

from runner.engine.context import Services
from runner.engine.run import Engine, RunResult
from runner.errors import ExpressionSyntaxError, PlaybookError, PlaybookErrors
from runner.hookspecs import hookimpl
from runner.http import Network
from runner.playbook.loader import PlaybookLoader
from runner.plugins import PluginHost
from runner.store import RunStore

WHENS = """\
name: whens
inputs: {n: {type: integer, default: 3}}
steps:
  - id: a
    action: core.set
    with: {n: "${{ inputs.n * 2 }}"}
  - id: b
    action: core.set
    when: "${{ steps.a.output.n > 5 }}"
    with: {n: "${{ steps.a.output.n + 1 }}"}
  - id: c
    action: core.set
    when: "${{ steps.a.output.n > 5 }}"
    with: {n: "${{ steps.b.output.n }}"}
  - id: d
    action: core.set
    when: "${{ steps.a.output.n > 100 }}"
    with: {never: "${{ steps.a.output.n | length }}"}
outputs:
  b: "${{ steps.b.output.n }}"
  d: "${{ steps.d.status }}"
"""


@pytest.fixture
def host():
    return PluginHost(entry_points=False)


@pytest.fixture
def run(host, tmp_path):
    stores = []

    def go(playbook, engine_host=None) -> RunResult:
        store = RunStore.open(f"sqlite:///{tmp_path}/soar-{len(stores)}.db")
        stores.append(store)
        engine = Engine(Services(plugins=engine_host or host, store=store, network=Network()))
        return asyncio.run(engine.start(playbook))

    yield go
    for s in stores:
        s.close()


@pytest.fixture
def jinja_builds(host, monkeypatch):
    """Every Jinja code generation of the host's expression engine, by expression text."""
    engine = host.expressions
    built: list[str] = []
    real = engine._jinja

    def counting(self, text, node):
        built.append(text)
        return real(text, node)

    monkeypatch.setattr(engine, "_jinja", types.MethodType(counting, engine))
    return built


def test_load_checks_every_expression_but_generates_no_code(host, jinja_builds, run):
    playbook = PlaybookLoader(host).load_text(WHENS, "whens.yaml")
    assert jinja_builds == []
    result = run(playbook)
    assert result.status == "succeeded", result.error
    assert result.outputs == {"b": 7, "d": "skipped"}
    # each distinct Jinja expression that ran was generated once; `when` of b and c is shared,
    # d's `with` never ran, and plain references (steps.b.output.n) never need Jinja
    assert sorted(jinja_builds) == ["inputs.n * 2", "steps.a.output.n + 1",
                                    "steps.a.output.n > 100", "steps.a.output.n > 5"]
    again = run(PlaybookLoader(host).load_text(WHENS, "whens.yaml"))
    assert again.outputs == result.outputs
    assert len(jinja_builds) == 4  # a second load and run reuse the code


@pytest.mark.parametrize("expr, message", [
    ("a, b", "expected token end of expression, got ','"),
    ("steps.a.output | nope", "unknown filter 'nope'"),
    ("steps.a.output +", "unexpected end of expression"),
])
def test_syntax_errors_are_still_found_and_located_at_load(host, jinja_builds, expr, message):
    text = ("name: bad\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n"
            f"  - id: b\n    action: core.set\n    when: \"${{{{ {expr} }}}}\"\n")
    with pytest.raises(PlaybookError) as info:
        PlaybookLoader(host).load_text(text, "bad.yaml")
    assert not isinstance(info.value, PlaybookErrors)
    assert info.value.where.line == 8 and info.value.where.step == "b"
    assert message in info.value.message
    assert jinja_builds == []


def test_compiling_an_expression_reports_what_jinja_code_generation_would(host):
    engine = host.expressions
    with pytest.raises(ExpressionSyntaxError, match="No filter named 'nope'"):
        engine.compile_value("${{ [1] | nope }}")
    with pytest.raises(ExpressionSyntaxError, match="No test named 'nope'"):
        engine.compile_value("${{ 1 is nope }}")
    # inside a conditional expression Jinja reports an unknown filter only if that arm runs
    lazy = engine.compile_value("${{ 1 if true else (2 | nope) }}")
    assert lazy.render({}) == 1


def test_a_playbook_loaded_without_checks_compiles_each_step_when_it_runs(host, run):
    text = ("name: late\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n"
            "  - id: b\n    action: core.set\n    with: {y: \"${{ steps.a.output.x + }}\"}\n")
    result = run(PlaybookLoader(host).load_text(text, "late.yaml", check=False))
    assert result.status == "failed"
    assert [(s["id"], s["status"]) for s in result.steps] == [("a", "succeeded"), ("b", "failed")]
    assert result.error.where.step == "b" and "unexpected" in result.error.message


def test_each_playbook_keeps_its_own_compiled_steps(host, run):
    def playbook(value: str):
        return PlaybookLoader(host).load_text(
            f"name: p\nsteps:\n  - id: s\n    action: core.set\n    with: {{v: \"${{{{ '{value}' ~ '!' }}}}\"}}\n"
            "outputs: {v: \"${{ steps.s.output.v }}\"}\n", "p.yaml")

    first, second = playbook("one"), playbook("two")
    assert run(first).outputs == {"v": "one!"}
    assert run(second).outputs == {"v": "two!"}
    assert run(first).outputs == {"v": "one!"}


class _Shout:
    def __init__(self, how):
        self.how = how

    @hookimpl
    def register_filters(self, register):
        register("shout", self.how)


def test_a_run_on_another_plugin_host_compiles_with_that_hosts_filters(run):
    loud = PluginHost(entry_points=False, extra=[_Shout(str.upper)])
    quiet = PluginHost(entry_points=False, extra=[_Shout(str.lower)])
    playbook = PlaybookLoader(loud).load_text(
        "name: p\nsteps:\n  - id: s\n    action: core.set\n    with: {v: \"${{ 'Hi' | shout }}\"}\n"
        "outputs: {v: \"${{ steps.s.output.v }}\"}\n", "p.yaml")
    assert run(playbook, engine_host=loud).outputs == {"v": "HI"}
    assert run(playbook, engine_host=quiet).outputs == {"v": "hi"}


def test_plain_references_read_dicts_lists_and_report_what_is_missing(host):
    engine = host.expressions
    ctx = {"steps": {"a": {"output": {"rows": [{"id": "x"}, {"id": "y"}], "n": 0}}},
           "inputs": collections.OrderedDict(k="v")}  # a dict subclass: the careful walk
    assert engine.compile_value("${{ steps.a.output.rows[-1].id }}").render(ctx) == "y"
    assert engine.compile_value("${{ steps.a.output['n'] }}").render(ctx) == 0
    assert engine.compile_value("${{ inputs.k }}").render(ctx) == "v"
    with pytest.raises(Exception, match="'steps.a.output' has no key 'm'"):
        engine.compile_value("${{ steps.a.output.m }}").render(ctx)
    with pytest.raises(Exception, match=r"has no item 5 \(length 2\)"):
        engine.compile_value("${{ steps.a.output.rows[5] }}").render(ctx)
    with pytest.raises(Exception, match="'item' is undefined here"):
        engine.compile_value("${{ item.id }}").render(ctx)


def test_a_run_result_prints_short_however_many_steps_it_has():
    result = RunResult("r-1", "succeeded", steps=[{"id": f"s{i}", "status": "succeeded"} for i in range(10_000)])
    assert repr(result) == "RunResult(run_id='r-1', status='succeeded', steps=10000, tenants=0)"
