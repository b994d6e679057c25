"""The action contract: one declaration (data) plus one async function.

An action is what a playbook step runs. Plugins hand :class:`Action` objects to the
``register`` callback of the :func:`~runner.hookspecs.register_actions` hook::

    from pydantic import BaseModel
    from runner import Action, ActionContext, hookimpl

    class Greet(BaseModel):
        who: str

    async def greet(ctx: ActionContext, inputs: Greet) -> dict:
        return {"greeting": f"hello {inputs.who}"}

    @hookimpl
    def register_actions(register):
        register(Action(name="example.greet", summary="Say hello", func=greet,
                        input_model=Greet, effect="read"))

The engine uses the metadata for validation (``input_model``), dry-run plans and approval
gates (``effect``), pre-flight permission checks (``roles``), quotas (``quota``) and crash
recovery (``reconcile``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Literal, Mapping

from pydantic import BaseModel

from runner.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.context import ActionContext

Effect = Literal["read", "write", "destructive"]
EFFECTS: tuple[str, ...] = ("read", "write", "destructive")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

ActionFunc = Callable[["ActionContext", Any], Awaitable[Any]]
ReconcileFunc = Callable[["ActionContext", Any], Awaitable[Any]]


class AnyInputs(BaseModel):
    """Input model for actions that take any mapping (``core.set``)."""

    model_config = {"extra": "allow"}


@dataclass(frozen=True)
class Action:
    """Declaration of one action.

    - ``name``: ``plugin.verb_noun`` (lowercase, one dot).
    - ``summary``: one line for ``soar actions list``; ``description`` for ``actions show``.
    - ``func``: ``async def func(ctx, inputs) -> output``; ``inputs`` is an ``input_model`` instance.
    - ``input_model`` / ``output_model``: pydantic models (``output_model`` may be ``None``
      when the output is free-form; a model's output is validated and dumped to plain data).
    - ``effect``: ``read`` (safe to repeat), ``write`` or ``destructive`` (never blindly repeated;
      destructive steps are approval-gated by default and skipped by ``--dry-run``).
    - ``roles``: API flavour → Entra application roles, any one of which suffices,
      e.g. ``{"mde": ("Machine.Isolate",)}``. The pre-flight check uses them.
    - ``quota``: the quota bucket the action's API calls draw from (``mde``, ``xdr``...).
    - ``undo``: for destructive actions, the action that reverses it.
    - ``needs_tenant``: ``False`` for actions that act on no tenant (``core.*``).
    - ``reconcile``: ``async def reconcile(ctx, inputs) -> output | None`` — after a crash, find
      out whether a write that was started but never recorded took effect. Return its output if
      it did, ``None`` if it did not (the engine then sends it). Without it, such a step fails
      with a :class:`~runner.errors.ReconcileError` instead of being repeated.
    - ``effect_of``: optional ``(inputs) -> effect`` for actions whose effect depends on the call.
    - ``api_choice``: for an action that can use several of ``roles``' APIs, the key of a
      tenant's ``apis:`` in soar.yaml that picks one (``incidents``, ``hunting``) when the step
      leaves its ``api`` input to ``auto``. Without it the pre-flight check tries the APIs in
      the order of ``roles``.
    """

    name: str
    summary: str
    func: ActionFunc
    input_model: type[BaseModel] = AnyInputs
    output_model: type[BaseModel] | None = None
    effect: Effect = "read"
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    quota: str | None = None
    undo: str | None = None
    needs_tenant: bool = True
    reconcile: ReconcileFunc | None = None
    effect_of: Callable[[Any], Effect] | None = None
    api_choice: str | None = None
    description: str = ""
    plugin: str = ""  # filled in by the registry

    def effect_for(self, inputs: Any) -> str:
        """The effect of one call: ``effect_of(inputs)`` when declared (``core.http_request``:
        a GET reads, a POST writes), else ``effect``."""
        if self.effect_of is not None:
            return self.effect_of(inputs)
        return self.effect

    def validate_declaration(self) -> None:
        """Raise :class:`PluginError` for a declaration the engine could not use."""
        problems = []
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            problems.append(f"name {self.name!r} must look like 'plugin.verb_noun' (lowercase)")
        if not self.summary or not isinstance(self.summary, str):
            problems.append("summary is empty")
        if not inspect.iscoroutinefunction(self.func):
            problems.append("func must be an `async def` function")
        if not (isinstance(self.input_model, type) and issubclass(self.input_model, BaseModel)):
            problems.append("input_model must be a pydantic BaseModel subclass")
        if self.output_model is not None and not (
            isinstance(self.output_model, type) and issubclass(self.output_model, BaseModel)
        ):
            problems.append("output_model must be a pydantic BaseModel subclass or None")
        if self.effect not in EFFECTS:
            problems.append(f"effect {self.effect!r} must be one of {', '.join(EFFECTS)}")
        if not isinstance(self.roles, Mapping) or not all(
            isinstance(v, (tuple, list)) and all(isinstance(r, str) for r in v) for v in self.roles.values()
        ):
            problems.append("roles must map an API name to a tuple of role names")
        if self.reconcile is not None and not inspect.iscoroutinefunction(self.reconcile):
            problems.append("reconcile must be an `async def` function")
        if self.undo is not None and not (isinstance(self.undo, str) and NAME_RE.match(self.undo)):
            problems.append(f"undo {self.undo!r} must name an action")
        if problems:
            who = f"plugin '{self.plugin}'" if self.plugin else "a plugin"
            raise PluginError(
                f"{who} declares an invalid action {self.name!r}: " + "; ".join(problems),
                hint="fix the Action(...) declaration in the plugin (see docs/plugins.md)",
            )

    def metadata(self) -> dict:
        """The declaration as plain data (``soar actions show --json``, docs generation)."""
        return {
            "name": self.name,
            "plugin": self.plugin,
            "summary": self.summary,
            "description": self.description or (inspect.getdoc(self.func) or ""),
            "effect": self.effect,
            "roles": {k: list(v) for k, v in self.roles.items()},
            "quota": self.quota,
            "undo": self.undo,
            "needs_tenant": self.needs_tenant,
            "reconciles": self.reconcile is not None,
            "inputs": self.input_model.model_json_schema(),
            "output": self.output_model.model_json_schema() if self.output_model else None,
        }


def type_label(schema: dict, sep: str = " | ") -> str:
    """How an input's JSON schema reads in the catalogue: ``string``, ``integer | null``, an
    enum's values, a model's name, or ``secret`` for a :class:`runner.Secret` (which accepts a
    secret reference or a plain value, so ``Secret | str`` is just ``secret``)."""
    if schema.get("format") == "secret":
        return "secret"
    if "enum" in schema:
        return sep.join(map(str, schema["enum"]))
    if "type" in schema:
        kind = schema["type"]
        return sep.join(kind) if isinstance(kind, list) else kind
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    labels: list[str] = []
    for member in schema.get("anyOf", []):
        label = type_label(member, sep)
        if label not in labels:
            labels.append(label)
    if "secret" in labels and "string" in labels:
        labels.remove("string")
    return sep.join(labels) or "any"


class ActionRegistry:
    """All actions known to this process, by name."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def add(self, action: Action, plugin: str) -> None:
        if not isinstance(action, Action):
            raise PluginError(
                f"plugin '{plugin}' registered {type(action).__name__!r}, not an Action",
                hint="pass runner.Action(...) to register()",
            )
        object.__setattr__(action, "plugin", plugin)
        action.validate_declaration()
        if action.name in self._actions:
            other = self._actions[action.name].plugin
            raise PluginError(
                f"action '{action.name}' is registered twice: by plugin '{other}' and by plugin '{plugin}'",
                hint="uninstall one of the two plugins, or rename the action",
            )
        self._actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._actions

    def __iter__(self):
        return iter(sorted(self._actions.values(), key=lambda a: a.name))

    def __len__(self) -> int:
        return len(self._actions)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def check_undo(self) -> None:
        for action in self._actions.values():
            if action.undo and action.undo not in self._actions:
                raise PluginError(
                    f"plugin '{action.plugin}': action '{action.name}' names undo action "
                    f"'{action.undo}', which no plugin registers",
                    hint="register the undo action too, or drop `undo`",
                )
