"""The ACME example plugin as installed: its entry point registers the whole integration, the
CLI runs it (offline with --simulate), and its code uses the plugin author's surface only."""

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner import PluginHost
from runner.plugin import SecretAuth, SecretError

PACKAGE = Path(__file__).resolve().parents[1] / "soar_example"
PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"


def soar(tmp_path, *args):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", *args])


def test_entry_point_registers_the_whole_integration():
    host = PluginHost()  # loads installed entry points, like `soar` does
    names = ["acme.block_indicator", "acme.classify_ip", "acme.fetch_feed", "acme.lookup_indicator",
             "acme.unblock_indicator"]
    assert sorted(a.name for a in host.actions if a.plugin == "acme") == names, \
        "is soar-example installed? (pip install -e plugins/example)"
    block = host.actions.get("acme.block_indicator")
    assert (block.effect, block.undo, block.quota, block.reconcile is not None) == \
        ("write", "acme.unblock_indicator", "acme", True)
    assert host.actions.get("acme.lookup_indicator").effect == "read"
    api = host.apis["acme"]
    assert isinstance(api.auth, SecretAuth) and api.auth.default_ref == "env:ACME_API_KEY"
    assert api.url_for("commercial") == "https://api.acme.example" and "acme" in api.quotas
    assert host.poll_sources["acme.alerts"].listings[0].paging == "since"
    assert {"is_internal_ip", "acme_risk"} <= set(host.filters)
    assert "acmevault" in host.secret_schemes
    assert host.sim_services["acme"].hosts == ("api.acme.example", "feeds.acme.example")
    for kind, name in [("api", "acme"), ("poll source", "acme.alerts"), ("filter", "acme_risk"),
                       ("secret scheme", "acmevault"), ("sim service", "acme")]:
        assert host.owner(kind, name) == "acme", (kind, name)


def test_a_secret_input_reads_as_secret_in_the_catalogue(tmp_path):
    shown = soar(tmp_path, "actions", "show", "acme.fetch_feed")
    assert shown.exit_code == 0, shown.output
    assert "token: secret | null" in shown.output


def test_the_plugin_imports_only_the_author_surface():
    """Of soar-runner, the plugin imports runner.plugin and nothing else (no runner.apis,
    runner.http, runner.sim...): what it uses is what soar-runner promises to keep."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.append((path.name, node.module))
    runner_imports = {module for _, module in found if module == "runner" or module.startswith("runner.")}
    assert runner_imports == {"runner.plugin"}, found
    assert not [f for f in found if f[1].startswith("soar_defender")]


def test_playbook_uses_actions_and_filters_without_any_api(tmp_path):
    pb = tmp_path / "ip.yaml"
    pb.write_text(
        "name: classify\n"
        "steps:\n"
        "  - id: classify\n"
        "    action: acme.classify_ip\n"
        "    foreach: ['10.1.2.3', '8.8.8.8']\n"
        "    with: {address: '${{ item }}'}\n"
        "outputs:\n"
        "  verdicts: \"${{ steps.classify.output | map(attribute='verdict') | list }}\"\n"
        "  internal: \"${{ '192.168.0.1' | is_internal_ip }}\"\n"
        "  risks: \"${{ [92, 55, 3] | map('acme_risk') | list }}\"\n"
    )
    result = soar(tmp_path, "run", str(pb), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["outputs"] == {"verdicts": ["internal", "external"], "internal": True,
                              "risks": ["high", "medium", "low"]}


def test_bad_address_is_a_located_step_error(tmp_path):
    pb = tmp_path / "bad.yaml"
    pb.write_text("name: bad\nsteps:\n  - id: c\n    action: acme.classify_ip\n    with: {address: nope}\n")
    result = soar(tmp_path, "run", str(pb), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    assert "'nope' is not an IP address" in doc["error"]["message"]
    assert doc["error"]["where"]["step"] == "c"


def test_simulated_run_through_the_cli(tmp_path):
    """`soar validate` and `soar run --simulate` on the shipped playbooks: the simulated ACME
    answers, offline."""
    validated = soar(tmp_path, "validate", str(PLAYBOOKS / "acme-triage.yaml"), str(PLAYBOOKS / "acme-alerts.yaml"))
    assert validated.exit_code == 0, validated.output
    result = soar(tmp_path, "run", str(PLAYBOOKS / "acme-triage.yaml"), "--simulate", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    outputs = doc["outputs"]["contoso"]["outputs"] if "contoso" in doc["outputs"] else doc["outputs"]
    assert outputs == {"risks": ["high", "medium", "low"], "verdicts": ["malicious", "suspicious", "unknown"],
                       "blocked": ["198.51.100.7"]}


def test_a_simulated_run_needs_no_key_from_the_user(tmp_path, monkeypatch):
    """Under --simulate the simulated cloud's config names the credential the simulated ACME
    accepts (SimService.credentials), so nothing needs setting; the real key is never asked for."""
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    result = soar(tmp_path, "run", str(PLAYBOOKS / "acme-triage.yaml"), "--simulate", "--json")
    assert result.exit_code == 0, result.output


def test_without_simulation_a_missing_key_says_where_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    (tmp_path / "soar.yaml").write_text(
        "app: {client_id: 00000000-0000-0000-0000-000000000001, client_secret: env:NO_SUCH_SECRET}\n"
        "tenants: {contoso: {id: 11111111-1111-1111-1111-111111111111}}\n")
    from runner.cli import main

    result = CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", "--config", str(tmp_path / "soar.yaml"),
                                       "run", str(PLAYBOOKS / "acme-triage.yaml"), "--tenant", "contoso", "--json"])
    assert result.exit_code != 0
    assert "ACME_API_KEY" in result.output and "credentials.acme" in result.output


def test_the_alert_playbook_as_a_poll_would_start_it(soar_runner):
    """What `soar serve` hands the playbook for one acme.alerts item (trigger.payload.item is the
    poll source's normalized alert)."""
    from soar_example.alerts import normalize

    alert = {"id": "al-0001", "title": "Beaconing", "severity": "high", "indicator": "198.51.100.7",
             "updated_at": "2026-01-01T00:00:00Z"}
    out = soar_runner.run(PLAYBOOKS / "acme-alerts.yaml", trigger={
        "type": "poll", "tenant": "contoso", "payload": {"source": "acme.alerts", "item": normalize(alert)}})
    assert out.status == "succeeded", out.error
    assert (out.tenant, out.output("lookup")["score"]) == ("contoso", 92)  # a poll's run is its tenant's
    assert out.outputs == {"alert": "al-0001", "risk": "high"}


def test_the_acmevault_resolver(tmp_path, monkeypatch):
    from soar_example import vault

    store = tmp_path / "vault.json"
    store.write_text(json.dumps({"soc": "k-3f9a7c"}))
    monkeypatch.setenv("ACME_VAULT", str(store))
    assert vault.resolve("soc") == "k-3f9a7c"
    with pytest.raises(SecretError, match="holds no 'ops'") as err:
        vault.resolve("ops")
    assert "k-3f9a7c" not in str(err.value)
    monkeypatch.setenv("ACME_VAULT", str(tmp_path / "none.json"))
    with pytest.raises(SecretError, match="does not exist"):
        vault.resolve("soc")
