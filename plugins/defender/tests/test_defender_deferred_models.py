"""The Defender models are built on first use (``defer_build``), not when the plugin loads:
``soar validate`` of a playbook without Defender steps must not pay for them (start-up, see
docs/benchmarks.md). Checked in a fresh interpreter, since other tests build them in this one."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json
from runner.playbook.loader import PlaybookLoader
from runner.plugins import load_plugins

host = load_plugins()
PlaybookLoader(host).load_text("name: p\\nsteps:\\n  - id: a\\n    action: core.set\\n    with: {x: 1}\\n")
models = {m for a in host.actions if a.plugin == "defender"
          for m in (a.input_model, a.output_model) if m is not None}
built_after_load = sorted(m.__name__ for m in models if m.__pydantic_complete__)
iso = host.actions.get("defender.isolate_machine").input_model
try:
    iso.model_validate({"machine_id": "m1", "comment": "c", "bogus": 1})
    rejected = False
except Exception as exc:
    rejected = "bogus" in str(exc)
print(json.dumps({"models": len(models), "built": built_after_load, "rejected": rejected,
                  "iso_built": iso.__pydantic_complete__}))
"""


def test_defender_models_are_built_on_first_use_not_at_load():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["models"] >= 25
    assert doc["built"] == []  # loading plugins and a core-only playbook built none of them
    assert doc["rejected"] is True and doc["iso_built"] is True  # first use builds it; extra="forbid" holds
