"""Finding 16: a playbook file is capped (1 MiB by default, SOAR_MAX_PLAYBOOK_BYTES to change it)
before it is parsed — for `soar validate`, `soar run` and `soar serve`'s catalog — with a located
error; and YAML alias bombs ("billion laughs") are refused by the parser's expansion cap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import PlaybookError
from runner.playbook.loader import PlaybookLoader

SMALL = """name: big
steps:
  - id: one
    action: core.set
    with: {ok: true}
"""


def _big(path: Path, size: int = 2 * 1024 * 1024) -> Path:
    filler = ("# " + "x" * 98 + "\n") * (size // 101 + 1)  # valid YAML: comments
    path.write_text(SMALL + filler)
    return path


def _soar(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_validate_and_run_refuse_a_playbook_over_the_cap(tmp_path):
    big = _big(tmp_path / "big.yaml")
    done = _soar("validate", str(big))
    assert done.returncode == 2, (done.returncode, done.stdout[-300:], done.stderr[-300:])
    said = done.stdout + done.stderr
    assert f"{big}:1:1" in said and "at most 1,048,576" in said and "Traceback" not in said
    done = _soar("run", str(big))
    assert done.returncode == 2 and "at most 1,048,576" in done.stdout + done.stderr
    # the cap can be raised when a big playbook is intended
    assert _soar("validate", str(big), env={"SOAR_MAX_PLAYBOOK_BYTES": str(4 * 1024 * 1024)}).returncode == 0


def test_the_loader_checks_the_size_before_parsing(tmp_path):
    big = _big(tmp_path / "big.yaml", 5000)
    with pytest.raises(PlaybookError, match="at most 4,096") as caught:
        PlaybookLoader(max_bytes=4096).load(big)
    assert caught.value.where.file == str(big) and caught.value.where.line == 1
    small = tmp_path / "small.yaml"
    small.write_text(SMALL)
    assert PlaybookLoader(max_bytes=4096).load(small).name == "big"


def test_serve_rejects_a_playbook_over_the_cap(tmp_path):
    import asyncio

    from serve_helpers import Harness

    async def main():
        harness = Harness(tmp_path)
        _big(harness.dir / "big.yaml")
        harness.write("small.yaml", SMALL.replace("name: big", "name: small"))
        service = await harness.start()
        assert sorted(service.catalog.entries) == ["small"]
        assert "at most" in str(service.catalog.errors[str(harness.dir / "big.yaml")])
        await harness.stop()

    asyncio.run(main())


def test_a_billion_laughs_document_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: bomb\nsteps: []\nx:\n" + "\n".join("  " + line for line in lines) + "\n")
    assert bomb.stat().st_size < 2000
    with pytest.raises(PlaybookError, match="aliases expand to more than"):
        PlaybookLoader().load(bomb)
