"""The Defender-shaped filters (alerts, devices, entities) come from the Defender plugin through
register_filters; the core's built-in filters are generic."""

from __future__ import annotations

from runner.filters import BUILTIN_FILTERS
from runner.plugins import load_plugins

INCIDENTS = [{"alerts": [{"devices": [{"deviceId": "a" * 40}, {"mdatpDeviceId": "b" * 40}],
                          "entities": [{"entityType": "Ip", "ipAddress": "10.0.0.1"}, {"entityType": "File"}]}]},
             {"alerts": [{"devices": [{"deviceId": "a" * 40}], "entities": []}]}]


def test_the_defender_plugin_registers_its_filters_and_the_core_has_none_of_them():
    host = load_plugins()
    for name in ("alerts", "devices", "entities"):
        assert name not in BUILTIN_FILTERS
        assert host.owner("filter", name) == host.owner("api", "mde") is not None


def test_they_render_through_the_hosts_expression_engine():
    engine = load_plugins().expressions
    ctx = {"steps": {"inc": {"output": INCIDENTS}}}
    assert engine.evaluate("${{ steps.inc.output | alerts | length }}", ctx) == 2
    assert [d.get("deviceId") or d.get("mdatpDeviceId") for d in engine.evaluate(
        "${{ steps.inc.output | devices }}", ctx)] == ["a" * 40, "b" * 40]
    assert engine.evaluate("${{ steps.inc.output | entities('ip') }}", ctx) == [
        {"entityType": "Ip", "ipAddress": "10.0.0.1"}]
