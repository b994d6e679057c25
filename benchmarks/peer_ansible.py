"""Peer: Ansible's ``uri`` module in a loop against ``soar run``, the same N requests, in one run.

    python -m benchmarks.peer_ansible [--sizes 100,300] [--repeat 3] [--ansible-repeat 2] [--quick]

Both tools make the same N sequential GETs of one incident
(``GET /v1.0/security/incidents/{id}`` on the Graph security API) against the simulated cloud
served on loopback by ``soar sim serve``, with the same bearer token (from the simulated Entra
ID, handed to both through the ``BENCH_TOKEN`` environment variable). That route has no
documented call quota, so neither tool is slowed by throttling and both make exactly N calls.
Wall time of the whole process, start-up included: ``ansible-playbook`` (``connection: local``,
no fact gathering, the benchmark venv's own interpreter) against ``soar run --json``. Each side
checks that all N answers were 200. Target: ours ≥ 100× faster.

Needs ``ansible-core`` (``pip install 'soar-runner[bench]'``); without it the rows say so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (Row, Samples, child_env, format_table, run_timed, seconds,  # noqa: E402
                               sim_server, venv_bin)

TARGET = 100.0
GRAPH = "https://graph.microsoft.com"

ANSIBLE_PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: GET the same incident N times
      ansible.builtin.uri:
        url: "{{ url }}"
        headers:
          Authorization: "Bearer {{ lookup('ansible.builtin.env', 'BENCH_TOKEN') }}"
      loop: "{{ range(n | int) | list }}"
      register: answers
    - name: every answer was a 200
      ansible.builtin.assert:
        that:
          - answers.results | length == n | int
          - answers.results | selectattr('status', 'equalto', 200) | list | length == n | int
        quiet: true
"""

OUR_PLAYBOOK = """\
name: bench-http-loop
description: The same GET, N times in a row (benchmarks/peer_ansible.py)
secrets: {token: env:BENCH_TOKEN}
inputs:
  n: {type: integer, default: 100}
  url: {type: string}
steps:
  - id: get
    action: core.http_request
    foreach: "${{ range(inputs.n) | list }}"
    with:
      url: "${{ inputs.url }}"
      headers: {Authorization: "Bearer ${{ secrets.token }}"}
outputs:
  ok: "${{ steps.get.output | selectattr('status', 'eq', 200) | list | length }}"
"""


def _ours(workdir: Path, n: int, url: str, env: dict[str, str]) -> float:
    cmd = [str(venv_bin("soar")), "run", "ours.yaml", "--input", f"n={n}", "--input", f"url={url}", "--json"]
    elapsed, done = run_timed(cmd, env=env, cwd=workdir)
    result = json.loads(done.stdout)
    if result["status"] != "succeeded" or int(result["outputs"]["ok"]) != n:
        raise RuntimeError(f"soar run: {result['status']}, {result['outputs']} (expected ok={n})")
    return elapsed


def _ansible(workdir: Path, n: int, url: str, env: dict[str, str]) -> float:
    cmd = [str(venv_bin("ansible-playbook")), "-i", "localhost,", "bench.yml", "-e", f"n={n}", "-e", f"url={url}",
           "-e", f"ansible_python_interpreter={sys.executable}"]
    elapsed, done = run_timed(cmd, env=env, cwd=workdir)
    if "failed=0" not in done.stdout:
        raise RuntimeError(f"ansible-playbook did not finish cleanly: {done.stdout[-800:]}")
    return elapsed


def ansible_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("ansible-core")
    except Exception:  # noqa: BLE001 - not installed
        return None


def measure(sizes: tuple[int, ...], repeat: int, ansible_repeat: int) -> dict[int, dict[str, Samples]]:
    """{N: {"ours": Samples, "ansible": Samples}} — wall seconds per whole run."""
    out: dict[int, dict[str, list[float]]] = {n: {"ours": [], "ansible": []} for n in sizes}
    with sim_server() as sim, tempfile.TemporaryDirectory(prefix="soar-bench-ansible-") as tmp:
        work = Path(tmp)
        (work / "bench.yml").write_text(ANSIBLE_PLAYBOOK)
        (work / "ours.yaml").write_text(OUR_PLAYBOOK)
        token = sim.token(GRAPH)
        import httpx

        listing = httpx.get(sim.url("graph.microsoft.com", "/v1.0/security/incidents"), params={"$top": 1},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        listing.raise_for_status()
        url = sim.url("graph.microsoft.com", f"/v1.0/security/incidents/{listing.json()['value'][0]['id']}")
        env = child_env(BENCH_TOKEN=token, LC_ALL="C.UTF-8", ANSIBLE_NOCOLOR="1",
                        ANSIBLE_HOME=str(work / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
                        ANSIBLE_RETRY_FILES_ENABLED="0")
        env.pop("SOAR_OFFLINE", None)  # our side only talks to the loopback server above
        _ours(work, 2, url, env)  # warm the OS file cache for both, untimed
        _ansible(work, 1, url, env)
        for n in sizes:  # interleaved, so load from elsewhere on the machine hits both alike
            for i in range(max(repeat, ansible_repeat)):
                if i < ansible_repeat:
                    out[n]["ansible"].append(_ansible(work, n, url, env))
                if i < repeat:
                    out[n]["ours"].append(_ours(work, n, url, env))
    return {n: {k: Samples(tuple(v)) for k, v in d.items()} for n, d in out.items()}


def report(results: dict[int, dict[str, Samples]], version: str) -> list[Row]:
    rows = []
    for n, d in results.items():
        ours, ans = d["ours"], d["ansible"]
        ratio = ans.median / ours.median
        rows.append(Row(measure=f"peer: {n} GETs, soar run vs Ansible uri loop (wall, start-up incl.)",
                        ours=seconds(ours.median), reference=f"ansible-core {version}: {seconds(ans.median)}",
                        ratio=ratio, target=f"≥ {TARGET:g}× faster", met=ratio >= TARGET,
                        noise=f"ours {ours.spread(seconds)}; Ansible {ans.spread(seconds)}"))
    if len(results) >= 2:
        (n1, a), (n2, b) = sorted(results.items())[:2]
        ours = (b["ours"].median - a["ours"].median) / (n2 - n1)
        ans = (b["ansible"].median - a["ansible"].median) / (n2 - n1)
        rows.append(Row(measure=f"peer: cost per extra GET ({n1}→{n2}), start-up excluded",
                        ours=seconds(ours), reference=f"Ansible {seconds(ans)}",
                        ratio=ans / ours if ours > 0 else None, target="-", met=None,
                        noise="from the medians above"))
    return rows


def rows(quick: bool, sizes: tuple[int, ...] | None = None, repeat: int | None = None,
         ansible_repeat: int | None = None) -> list[Row]:
    sizes = sizes or ((3, 6) if quick else (100, 300))
    version = ansible_version()
    if version is None or not venv_bin("ansible-playbook").exists():
        return [Row.unavailable(f"peer: {n} GETs, soar run vs Ansible uri loop", "ansible-core not installed "
                                "(pip install 'soar-runner[bench]')", reference="Ansible: not installed",
                                target=f"≥ {TARGET:g}× faster") for n in sizes]
    results = measure(sizes, repeat or (1 if quick else 3), ansible_repeat or (1 if quick else 2))
    return report(results, version)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=None, help="comma-separated N (default 100,300; quick 3,6)")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions of soar run (default 3)")
    ap.add_argument("--ansible-repeat", type=int, default=None, help="repetitions of ansible-playbook (default 2)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else None
    result = rows(args.quick, sizes, args.repeat, args.ansible_repeat)
    print(json.dumps([r.to_dict() for r in result]) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
