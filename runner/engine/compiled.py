"""A step's expressions, compiled once and kept with the playbook that holds the step.

The loader compiles every step of a checked playbook (:func:`compile_steps`) right after the
static checks, so a run starts with nothing left to compile; a playbook loaded without checks
compiles each step the first time it runs (:func:`compiled_step`). The table lives on the
playbook object (keyed by step id, holding the step itself), so it is freed with the playbook
and can never be confused with the steps of another one. Jinja expressions inside are compiled
lazily (see :mod:`runner.expressions`): compiling a step is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from runner.expressions import ExpressionEngine
    from runner.playbook.model import Playbook, Step

_ATTR = "_soar_compiled_steps"  # not a pydantic field: ignored by dumps, copies and equality


class CompiledStep:
    """``with_``, ``when`` and ``foreach`` of one step as :class:`~runner.expressions.Compiled`
    values (``None`` when the step has no ``when`` / ``foreach``)."""

    __slots__ = ("step", "with_", "when", "foreach")

    def __init__(self, step: "Step", with_: Any, when: Any, foreach: Any):
        self.step, self.with_, self.when, self.foreach = step, with_, when, foreach


class StepTable(dict):
    """step id → :class:`CompiledStep`, for one playbook and one expression engine."""

    def __init__(self, expressions: "ExpressionEngine"):
        super().__init__()
        self.expressions = expressions


def compile_step(expressions: "ExpressionEngine", step: "Step") -> CompiledStep:
    """Raises :class:`~runner.errors.ExpressionSyntaxError` for a malformed expression."""
    compile_value = expressions.compile_value
    return CompiledStep(
        step,
        compile_value(step.with_),
        None if step.when is None else compile_value(step.when),
        None if step.foreach is None else compile_value(step.foreach),
    )


def step_table(expressions: "ExpressionEngine", playbook: "Playbook") -> StepTable:
    """The playbook's table for ``expressions`` (a fresh, empty one if it has none yet)."""
    table = playbook.__dict__.get(_ATTR)
    if table is None or table.expressions is not expressions:
        table = StepTable(expressions)
        playbook.__dict__[_ATTR] = table
    return table


def compile_steps(expressions: "ExpressionEngine", playbook: "Playbook") -> None:
    """Compile every step of ``playbook`` now (the loader does, after the static checks)."""
    table = step_table(expressions, playbook)
    for step in playbook.all_steps():
        table[step.id] = compile_step(expressions, step)


def compiled_step(table: StepTable, step: "Step") -> CompiledStep:
    """The compiled form of ``step`` from ``table``, compiling it on first need."""
    c = table.get(step.id)
    if c is None or c.step is not step:
        c = table[step.id] = compile_step(table.expressions, step)
    return c
