"""The two phases of a playbook: its ``steps`` (run once per tenant) and its ``after_tenants``
steps (run once, after every tenant's run has finished), and which phase each of the
playbook's ``outputs`` belongs to.

An output is a *summary output* when it reads ``tenants`` or an after-tenant step: it is
evaluated once, after the after-tenant steps (a playbook may have summary outputs and no
after-tenant step). Every other output is a *tenant output*,
evaluated in each tenant's run as it always was. An output cannot read both (``soar
validate`` says so). The split is computed once per playbook and kept with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from runner.playbook.model import Playbook

TENANT = "steps"
AFTER = "after_tenants"
MIXED = "mixed"
_ATTR = "_soar_output_phases"  # not a pydantic field: ignored by dumps, copies and equality


def after_ids(playbook: "Playbook") -> frozenset[str]:
    """Ids of the after-tenant steps (groups' inner steps included)."""
    return frozenset(s.id for step in playbook.after_tenants for s in step.walk())


def phase_of_chains(chains: Iterable[tuple], after: frozenset[str]) -> str | None:
    """``AFTER``, ``TENANT``, ``MIXED`` or ``None`` (reads no step and no tenant result) for the
    references of one value."""
    found = set()
    for chain in chains:
        if chain[0] == "tenants":
            found.add(AFTER)
        elif chain[0] == "steps" and len(chain) > 1:
            found.add(AFTER if chain[1] in after else TENANT)
    if len(found) > 1:
        return MIXED
    return found.pop() if found else None


def output_phases(playbook: "Playbook", references: Callable[[str], list]) -> dict[str, str]:
    """Output key → ``AFTER`` or ``TENANT`` (``MIXED`` for an output that reads both, which the
    checks refuse). ``references`` gives the chains an expression reads
    (:meth:`runner.expressions.ExpressionEngine.references`)."""
    cached = playbook.__dict__.get(_ATTR)
    if cached is not None:
        return cached
    from runner.errors import ExpressionSyntaxError
    from runner.expressions import find_expressions

    after = after_ids(playbook)
    out = {}
    for key, value in playbook.outputs.items():
        chains: list = []
        for _path, text in find_expressions(value):
            try:
                chains += references(text)
            except ExpressionSyntaxError:
                continue  # reported by the checks, or when the output is evaluated
        out[key] = phase_of_chains(chains, after) or TENANT
    playbook.__dict__[_ATTR] = out
    return out


def summary_keys(playbook: "Playbook", references: Callable[[str], list]) -> list[str]:
    """The keys of the summary outputs."""
    return [k for k, phase in output_phases(playbook, references).items() if phase == AFTER]


def has_after_phase(playbook: "Playbook", references: Callable[[str], list]) -> bool:
    """Whether a run of ``playbook`` has anything to do after its tenants: after-tenant steps,
    or summary outputs (an output may read ``tenants`` without any after-tenant step)."""
    return bool(playbook.after_tenants) or bool(summary_keys(playbook, references))
