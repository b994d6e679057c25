"""Classic Jinja server-side template injection escapes, evaluated at run time: each one fails
cleanly with an expression error (never another exception, never a value from Python's
internals), whether written in a playbook or arriving as data an expression works on."""

from __future__ import annotations

import pytest
from sec_expr_cli import run_inprocess, stored_runs

from runner.errors import ExpressionError
from runner.expressions import ExpressionEngine
from runner.secrets import Secret

CANARY = "canary-payload-9c8b7a"

PAYLOADS = [
    "''.__class__.__mro__",
    "''.__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "[].__class__.__base__.__subclasses__()",
    "{}.__class__.__init__.__globals__",
    "(1).__class__",
    "item.__class__",
    "item.__dict__",
    "cycler.__init__.__globals__.os",
    "joiner.__init__.__globals__",
    "lipsum.__globals__['os'].popen('id').read()",
    "namespace.__init__.__globals__",
    "self._TemplateReference__context",
    "self.__init__.__globals__",
    "range.__self__",
    "range.__globals__",
    "dict.__base__.__subclasses__()",
    "now.__globals__",
    "ago.__code__",
    "x | attr('__class__')",
    "item | attr('__class__')",
    "item | attr('\\x5f\\x5fclass\\x5f\\x5f')",
    "item | attr('__init__') | attr('__globals__')",
    "item['__class__']",
    "{}.update({'a': 1})",
    "item.update({'a': 1})",
    "[].append(1)",
    "item.list.append(1)",
    "item.list.pop()",
    "{}.setdefault('a', 1)",
    "'{0.__class__}'.format(1)",
    "'{0.__class__.__mro__}'.format('')",
    "'{0.__init__.__globals__}'.format(item)",
    "'{0.reveal}'.format(secrets.tok)",
    "''.format_map",
    "'{x.__class__}'.format_map({'x': 1})",
    "'%s' | format(''.__class__)",
    "config.__class__",
    "request.application.__globals__",
    "url_for.__globals__",
    "get_flashed_messages.__globals__",
    "item.__getattribute__('__class__')",
    "'a'.__len__()",
    "secrets.tok.reveal()",
    "secrets.tok.__reduce__()",
    "[item] | map(attribute='__class__') | list",
    "[item] | map(attribute='__init__.__globals__') | list",
    "[item] | selectattr('__class__') | list",
    "[item, item] | sort(attribute='__class__')",
    "[item] | sum(attribute='__class__')",
    "[item] | join(attribute='__class__')",
    "[item] | groupby('__class__')",
    "[item] | unique(attribute='__class__') | list",
    "[item, item] | min(attribute='__class__')",
]


@pytest.fixture(scope="module")
def engine():
    return ExpressionEngine()


def _ctx() -> dict:
    return {"item": {"list": [1, 2], "name": "x"}, "secrets": {"tok": Secret(CANARY, name="tok")},
            "inputs": {}, "steps": {}, "trigger": {"type": "manual", "payload": None}}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_fails_cleanly(engine, payload):
    ctx = _ctx()
    with pytest.raises(ExpressionError) as err:
        engine.compile_value("${{ " + payload + " }}").render(ctx)
    text = str(err.value)
    assert text.startswith("in ${{"), text
    assert CANARY not in text and "<class" not in text and "<function" not in text
    assert ctx["item"] == {"list": [1, 2], "name": "x"}  # nothing was changed


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_fails_cleanly_inside_text(engine, payload):
    with pytest.raises(ExpressionError):
        engine.compile_value("prefix ${{ " + payload + " }} suffix").render(_ctx())


RUNTIME = [  # payloads `soar validate` lets through (they use only declared names)
    "''.__class__.__mro__[1].__subclasses__()",
    "inputs.x | attr('__class__')",
    "'{0.__class__}'.format(inputs.x)",
    "[inputs] | map(attribute='__class__') | list",
    "inputs.x.__init__.__globals__",
    "{}.update({'a': 1})",
]


@pytest.mark.parametrize("payload", RUNTIME)
def test_payload_in_a_playbook_fails_the_step(tmp_path, payload):
    pb = ("name: ssti\ninputs:\n  x: {type: string, default: abc}\nsteps:\n"
          "  - id: inject\n    action: core.set\n"
          f"    with: {{v: \"${{{{ {payload} }}}}\"}}\n")
    ran = run_inprocess(tmp_path, pb)
    assert ran.status == "failed", ran.stdout + ran.stderr
    assert ran.doc["error"]["type"] == "ExpressionError" and ran.doc["error"]["where"]["step"] == "inject"
    assert "internal error" not in ran.stdout + ran.stderr and "<class" not in ran.stdout
    assert [status for _, status in stored_runs(tmp_path)] == ["failed"]


@pytest.mark.parametrize("payload", ["{{ ''.__class__ }}", "${{ ''.__class__ }}", "{0.__class__}"])
def test_payload_as_data_stays_data(tmp_path, payload):
    """Text arriving as data (a webhook field, an API answer) is never evaluated."""
    engine = ExpressionEngine()
    ctx = {**_ctx(), "trigger": {"type": "webhook", "payload": {"subject": payload}}}
    assert engine.compile_value("${{ trigger.payload.subject }}").render(ctx) == payload
    assert engine.compile_value("${{ trigger.payload.subject | upper }}").render(ctx) == payload.upper()
    assert engine.compile_value("s=${{ trigger.payload.subject }}").render(ctx) == "s=" + payload
