"""Finding 11 (the rest of it): an unexpected error inside the engine ends the run `failed` with
an "internal error" message — the run is never left `running` in the store."""

from __future__ import annotations

from runner.engine.steps import RunExecution

PLAYBOOK = """
name: internal-error
steps:
  - id: a
    action: core.set
    with: {x: 1}
outputs:
  x: "${{ steps.a.output.x }}"
"""


def test_an_internal_error_fails_the_run_instead_of_leaving_it_running(soar_runner, monkeypatch, caplog):
    async def broken(self):
        raise RuntimeError("boom in the engine")

    monkeypatch.setattr(RunExecution, "run_steps", broken)
    outcome = soar_runner.run(PLAYBOOK, tenant="contoso")
    assert outcome.status == "failed"
    assert "internal error: RuntimeError: boom in the engine" in outcome.error.message
    assert "bug in soar-runner" in (outcome.error.hint or "")
    stored = soar_runner.services.store.get_run(outcome.run_id)
    assert stored.status == "failed"
    assert any("internal error in run" in r.getMessage() for r in caplog.records)


def test_the_failure_is_audited(soar_runner, monkeypatch):
    async def broken(self):
        raise KeyError("oops")

    monkeypatch.setattr(RunExecution, "run_steps", broken)
    outcome = soar_runner.run(PLAYBOOK, tenant="contoso")
    assert "run_failed" in [e.kind for e in soar_runner.services.store.events(outcome.run_id)]
