"""The example plugin, tested the way a third party tests theirs: through the public API."""

import asyncio
import json

from click.testing import CliRunner

from runner import Engine, PlaybookLoader, PluginHost


def test_entry_point_registers_the_action():
    host = PluginHost()  # loads installed entry points, like `soar` does
    action = host.actions.get("example.classify_ip")
    assert action is not None, "is soar-example installed? (pip install -e plugins/example)"
    assert action.plugin == "example"
    assert action.effect == "read"
    assert "is_internal_ip" in host.filters


def test_playbook_uses_action_and_filter(tmp_path):
    pb = tmp_path / "ip.yaml"
    pb.write_text(
        "name: classify\n"
        "steps:\n"
        "  - id: classify\n"
        "    action: example.classify_ip\n"
        "    foreach: ['10.1.2.3', '8.8.8.8']\n"
        "    with: {address: '${{ item }}'}\n"
        "outputs:\n"
        "  verdicts: \"${{ steps.classify.output | map(attribute='verdict') | list }}\"\n"
        "  internal: \"${{ '192.168.0.1' | is_internal_ip }}\"\n"
    )
    from runner.cli import main

    result = CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", "run", str(pb), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["outputs"] == {"verdicts": ["internal", "external"], "internal": True}


def test_bad_address_is_a_located_step_error(tmp_path):
    pb = tmp_path / "bad.yaml"
    pb.write_text("name: bad\nsteps:\n  - id: c\n    action: example.classify_ip\n    with: {address: nope}\n")
    from runner.cli import main

    result = CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", "run", str(pb), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    assert "'nope' is not an IP address" in doc["error"]["message"]
    assert doc["error"]["where"]["step"] == "c"
