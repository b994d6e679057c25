"""docs/defender-actions.md is generated from the action metadata and must stay in step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_defender_actions_doc_is_current():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "plugins/defender/gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    committed = (ROOT / "docs/defender-actions.md").read_text()
    assert committed == mod.render(), "run: python plugins/defender/gen_docs.py > docs/defender-actions.md"


def test_every_action_declares_its_metadata():
    from soar_defender import all_actions

    names = {a.name for a in all_actions()}
    for a in all_actions():
        if a.name != "entra.get_token":
            assert a.roles and a.quota, a.name
        if a.effect != "read":
            assert a.reconcile is not None or a.name == "defender.delete_indicator", a.name
        if a.undo:
            assert a.undo in names
        for field in a.input_model.model_fields.values():
            assert field.description, (a.name, field)
    destructive = {a.name for a in all_actions() if a.effect == "destructive"}
    assert destructive == {"defender.isolate_machine", "defender.restrict_code_execution",
                           "defender.stop_and_quarantine_file"}
