"""Issue 3's must-show at playbook level: 50 token-needing steps over 3 tenants with foreach
concurrency 20 make exactly 3 token requests on an empty cache, and a second *process* with the
persisted cache makes none.

The simulated cloud keeps its app secret and signing keys in ``state_dir``, so the second
process's simulator accepts (and its token validation verifies) the tokens the first one cached.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap

PLAYBOOK = """
name: many-tokens
tenants: all
steps:
  - id: tokens
    action: entra.get_token
    foreach: "${{ range(50) | list }}"
    concurrency: 20
    with: {api: mde, roles: [Machine.Read.All]}
outputs:
  got: "${{ steps.tokens.output | length }}"
  expires: "${{ steps.tokens.output | map(attribute='expires_on') | unique | list | length }}"
"""


def test_50_steps_on_3_tenants_make_3_token_requests_and_a_second_process_none(tmp_path, make_soar_cloud,
                                                                                make_soar_runner):
    state, cache = tmp_path / "sim-state", tmp_path / "cache" / "tokens.json"
    playbook = tmp_path / "many-tokens.yaml"
    playbook.write_text(PLAYBOOK)

    cloud = make_soar_cloud(3, state_dir=state)
    runner = make_soar_runner(cloud, token_cache=cache)
    out = runner.run(playbook)
    assert out.status == "succeeded", out.error
    assert {t: r["outputs"] for t, r in out.outputs.items()} == {
        f"tenant-0{i}": {"got": 50, "expires": 1} for i in (1, 2, 3)}  # one token per tenant, shared
    assert len(out.records("tokens")) == 150
    assert cloud.total_token_requests() == 3
    assert dict(cloud.token_requests) == {"tenant-01": 1, "tenant-02": 1, "tenant-03": 1}
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert "eyJ" not in json.dumps(out.json())  # the token output is a Secret: masked

    second = textwrap.dedent(f"""
        import json
        from runner.testing import SoarRunner, make_cloud
        cloud = make_cloud(3, state_dir={str(state)!r})
        with SoarRunner(cloud, workdir={str(tmp_path / "second")!r}, token_cache={str(cache)!r}) as runner:
            out = runner.run({str(playbook)!r})
            print(json.dumps({{"status": out.status, "requests": cloud.total_token_requests(),
                              "steps": len(out.records("tokens")), "pid": __import__("os").getpid()}}))
    """)
    (tmp_path / "second").mkdir()
    done = subprocess.run([sys.executable, "-c", second], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["pid"] != os.getpid()
    assert result == {"status": "succeeded", "requests": 0, "steps": 150, "pid": result["pid"]}
