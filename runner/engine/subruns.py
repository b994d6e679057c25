"""Sub-playbooks at run time (``core.playbook``): the sub-run of a step — created once, or
found again on resume — on the caller's tenant or a chosen one, confined to the playbook
directory and bounded in depth and count (:mod:`runner.playbook.subplaybooks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.engine.inputs import resolve_inputs
from runner.engine.outcomes import RunPaused
from runner.errors import ActionInputError, StepError, SubPlaybookError
from runner.playbook import subplaybooks
from runner.playbook.loader import PlaybookLoader

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.context import TenantInfo
    from runner.engine.run import Engine
    from runner.engine.steps import RunExecution
    from runner.playbook.model import Playbook


async def run_child_playbook(engine: "Engine", parent: "RunExecution", actx, ref: str, inputs: dict,
                             tenant: str | None = None) -> Any:
    """Run the sub-playbook ``ref`` of a ``core.playbook`` step (confined to the playbook
    directory, bounded in depth and count: runner.playbook.subplaybooks) and return its outputs.
    It runs on ``tenant`` when given (a configured tenant), else on the caller's tenant."""
    chain = subplaybooks.Chain.of_run(parent.ctx["trigger"], parent.playbook, parent.run_id)
    path = subplaybooks.resolve(ref, parent.source_path, chain.root)
    chain = chain.enter(path)  # refuses a cycle, or nesting past the limit
    playbook = subplaybooks.load(PlaybookLoader(engine.services.plugins), path, ref)
    store = engine.services.store
    key = {"type": "playbook", "parent_run": parent.run_id, "parent_step": actx.step_id, "item": actx.item,
           **chain.as_trigger()}
    existing = [c for c in store.children(parent.run_id) if (c.trigger or {}).get("parent_step") == actx.step_id
                and (c.trigger or {}).get("item") == actx.item]
    values = resolve_inputs(playbook, inputs)
    target = _subplaybook_tenant(engine, parent, playbook, tenant)
    if existing:
        child = existing[0]
        if child.status == "succeeded":
            return child.outputs
        result = await engine._execute(playbook, child.id, engine.tenant_info(child.tenant), child.inputs, key,
                                       parent.dry_run, engine._secrets(playbook), parent.run_id,
                                       engine._recorded(child.id, (), ()), after=True, resumed=True)
    else:
        _count_subrun(engine, chain)
        run_id = store.create_run(playbook_name=playbook.name, playbook_path=playbook.source_path,
                                  playbook_text=playbook.source_text, inputs=values, trigger=key,
                                  tenant=target.name if target else None,
                                  parent_id=parent.run_id, dry_run=parent.dry_run, status="running",
                                  origin=engine.services.origin)
        result = await engine._execute(playbook, run_id, target, values, key, parent.dry_run,
                                       engine._secrets(playbook), parent.run_id, {}, after=True)
    parent.plan.extend(result.plan)
    if result.status == "waiting_approval":
        raise RunPaused(actx.step_id)
    if result.status != "succeeded":
        err = result.error or StepError("sub-playbook failed")
        raise StepError(f"sub-playbook '{playbook.name}' (run {result.run_id}) failed: {err.message}",
                        hint=err.hint)
    return result.outputs


def _subplaybook_tenant(engine: "Engine", parent: "RunExecution", playbook: "Playbook",
                        name: str | None) -> "TenantInfo | None":
    """The tenant a sub-playbook runs on: ``name`` (core.playbook's ``tenant:``), checked
    against the configured tenants and the sub-playbook's ``tenants:``; else the caller's
    (none for a sub-playbook with ``tenants: none``)."""
    if name is None:
        return None if playbook.tenants == "none" else parent.tenant
    config = engine.services.config
    configured = config.tenant_names() if config is not None else []
    if name not in configured:
        raise ActionInputError(f"core.playbook: tenant '{name}' is not configured",
                               hint="configured tenants: " + (", ".join(configured) or
                                                              "none (add them to soar.yaml, or use --simulate)"))
    if playbook.tenants == "none":
        raise ActionInputError(f"sub-playbook '{playbook.name}' runs on no tenant (`tenants: none`), so it "
                               f"cannot run on tenant '{name}'",
                               hint="remove `tenant:` from the step, or change the sub-playbook's `tenants:`")
    if isinstance(playbook.tenants, list) and name not in playbook.tenants:
        raise ActionInputError(f"sub-playbook '{playbook.name}' does not run on tenant '{name}'",
                               hint="its tenants: " + ", ".join(playbook.tenants))
    return engine.tenant_info(name)


def _count_subrun(engine: "Engine", chain) -> None:
    """Bound fan-out: sub-runs started under one top-level run (a sub-playbook in a foreach
    that calls more grows as the product of the lists; depth alone does not bound it)."""
    n = engine._subruns.get(chain.top_run, 0) + 1
    if n > subplaybooks.MAX_SUBRUNS:
        raise SubPlaybookError(f"run {chain.top_run} has started {subplaybooks.MAX_SUBRUNS} sub-playbook runs; "
                               f"no more are started ({chain.text()})",
                               hint="call the sub-playbook for fewer items, or do the work in one playbook")
    engine._subruns[chain.top_run] = n
