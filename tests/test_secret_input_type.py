"""A ``runner.Secret`` action input reads as ``secret`` in ``soar actions show`` (text and JSON
schema) and ``soar actions docs`` — not ``string | string``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
    from pydantic import BaseModel, Field
    from runner import Action, Secret, hookimpl

    class In(BaseModel):
        api_key: Secret | str = Field(description="The service's API key")
        token: Secret | None = None
        password: Secret
        note: str = ""

    async def call(ctx, inputs):
        return None

    @hookimpl
    def register_actions(register):
        register(Action(name="secretin.call", summary="Call with a key", func=call, input_model=In,
                        needs_tenant=False))
'''


@pytest.fixture()
def soar(tmp_path: Path):
    (tmp_path / "secretin.py").write_text(textwrap.dedent(PLUGIN))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp_path), env.get("PYTHONPATH", "")) if p)
    env["SOAR_PLUGINS"] = "secretin"
    env["COLUMNS"] = "200"

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", "from runner.cli import run_main; run_main()", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def test_actions_show_renders_secret(soar):
    text = soar("actions", "show", "secretin.call")
    assert "api_key: secret (required)" in text
    assert "token: secret | null = null" in text
    assert "password: secret (required)" in text
    assert "note: string" in text
    assert "string | string" not in text


def test_json_schema_marks_secret(soar):
    props = json.loads(soar("actions", "show", "secretin.call", "--json"))["inputs"]["properties"]
    assert props["password"]["format"] == "secret" and props["password"]["writeOnly"] is True
    assert {"type": "string", "format": "secret", "writeOnly": True} in props["api_key"]["anyOf"]
    assert props["note"].get("format") is None


def test_actions_docs_renders_secret(soar):
    rows = [line for line in soar("actions", "docs").splitlines() if line.startswith("| `")]
    assert "| `api_key` | secret | required | The service's API key |" in rows
    assert "| `token` | secret \\| null | null |  |" in rows
    assert "| `password` | secret | required |  |" in rows


def test_defender_docs_generator_renders_secret():
    import runner

    sys.path.insert(0, str(Path(runner.__file__).resolve().parents[1] / "plugins" / "defender"))
    try:
        from gen_docs import _type
    finally:
        sys.path.pop(0)
        sys.modules.pop("gen_docs", None)
    secret = {"type": "string", "format": "secret", "writeOnly": True}
    assert _type(secret, {}) == "secret"
    assert _type({"anyOf": [secret, {"type": "string"}]}, {}) == "secret"
    assert _type({"anyOf": [secret, {"type": "null"}]}, {}) == "secret"
