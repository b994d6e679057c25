"""RunStore.create_run_family: a multi-tenant run's parent and tenant runs are written together."""

from __future__ import annotations

import pytest

from runner.errors import StoreError
from runner.store import runstore

FAMILY = dict(playbook_name="sweep", playbook_path="sweep.yaml", playbook_text="name: sweep\n",
              inputs={"n": 1}, trigger={"type": "manual"})


def test_family_creates_a_running_parent_and_a_pending_run_per_tenant(store):
    parent, children = store.create_run_family(**FAMILY, tenants=["contoso", "fabrikam"])

    assert store.get_run(parent).status == "running" and store.get_run(parent).tenant is None
    kids = store.children(parent)
    assert {k.tenant: k.id for k in kids} == children
    assert all(k.status == "pending" and k.parent_id == parent and k.inputs == {"n": 1}
               and k.trigger == {"type": "manual"} for k in kids)
    store.step_started(children["contoso"], "s", item=None, attempt=1, action="a", effect="read",
                       inputs={}, durable=True)  # the new runs are known to the store


def test_a_failing_tenant_run_leaves_no_parent_behind(store, monkeypatch):
    taken = store.create_run(**FAMILY, run_id="r-taken")
    monkeypatch.setattr(runstore, "new_run_id", lambda: taken)  # every child collides

    with pytest.raises(StoreError, match="already exists"):
        store.create_run_family(**FAMILY, tenants=["contoso"], run_id="r-parent")

    assert [r.id for r in store.list_runs()] == [taken]
