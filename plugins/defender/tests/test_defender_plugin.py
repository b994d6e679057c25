"""The Defender plugin, tested the way a third party tests theirs: through the public API."""

from runner import PluginHost


def test_entry_point_registers_every_action():
    host = PluginHost()
    names = {a.name for a in host.actions if a.plugin == "defender"}
    assert "defender.isolate_machine" in names, "pip install -e plugins/defender"
    assert len(names) == 25 and "defender.run_hunting_query" in names
    iso = host.actions.get("defender.isolate_machine")
    assert iso.effect == "destructive" and iso.undo == "defender.unisolate_machine"
    assert iso.roles == {"mde": ("Machine.Isolate",)} and iso.reconcile is not None
