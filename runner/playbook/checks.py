"""Static checks of a loaded playbook: what the model alone cannot know.

Run by :meth:`runner.playbook.loader.PlaybookLoader.check` (and so by ``soar validate``).
Every problem is reported, each located at its node:

- step ids are unique (inside parallel groups too); ``on_error`` names a later handler step;
- actions exist; ``with:`` keys are inputs of the action; required inputs are given; values
  written without ``${{ }}`` are valid for their input (type, enum, range) — values with
  expressions are checked when the step runs;
- every ``${{ }}`` parses (with the host's filters) and reads only names that exist there:
  ``steps.<id>`` of a step that has finished by then, ``inputs``/``secrets`` that are declared,
  ``item``/``index`` inside a ``foreach`` step (not in its approval message: one gate covers
  every item);
- durations, retries, inputs' defaults, trigger secrets and tenants make sense;
- literal ``core.playbook`` references stay in the playbook directory and make no cycle;
- ``after_tenants`` steps read only earlier after-tenant steps and ``tenants``, use only actions
  that need no tenant, and no tenant step reads them; an output reads one phase, not both
  (:mod:`runner.playbook.phases`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from runner.actions import ActionRegistry
from runner.errors import ExpressionSyntaxError, PlaybookError, PlaybookValidationError
from runner.expressions import EXPR_RE, ROOT_NAMES, ExpressionEngine
from runner.playbook.loader import data_path, did_you_mean, explain_input_error
from runner.playbook.model import Playbook, Step
from runner.playbook.phases import AFTER, MIXED, TENANT, phase_of_chains

STEP_ATTRS = ("output", "status", "error")
_INPUT_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
                "list": (list,), "object": (dict,)}


@dataclass
class _StepInfo:
    step: Step
    order: int  # index of its top-level step: a step may read steps of a lower order
    ancestors: tuple[str, ...]  # ids of the parallel groups that contain it
    phase: str = TENANT  # TENANT (`steps:`, per tenant) or AFTER (`after_tenants:`, once)


def check_playbook(playbook: Playbook, actions: ActionRegistry, engine: ExpressionEngine,
                   host: Any = None) -> list[PlaybookError]:
    """Every static problem of ``playbook``, located (an empty list: the playbook is fine).
    ``host``: the :class:`~runner.plugins.PluginHost` whose poll sources a poll trigger may name
    (``None``: poll sources are not checked)."""
    return _Checker(playbook, actions, engine, host).run()


class _Checker:
    def __init__(self, playbook: Playbook, actions: ActionRegistry, engine: ExpressionEngine, host: Any = None):
        self.pb = playbook
        self.actions = actions
        self.engine = engine
        self.host = host
        self.errors: list[PlaybookError] = []
        self.steps: dict[str, _StepInfo] = {}  # by id (the first, when an id is used twice)
        self.infos: list[_StepInfo] = []  # every step, in document order
        self._refs: dict[str, list[tuple]] = {}
        self._inputs: dict[str, tuple | None] = {}

    def error(self, path: tuple, message: str, hint: str | None = None, step: Step | None = None,
              cls: type[PlaybookError] = PlaybookValidationError) -> None:
        where = self.pb.locate(path, step=step.id if step else None)
        self.errors.append(cls(message, where=where, hint=hint))

    def run(self) -> list[PlaybookError]:
        self.collect_steps()
        self.check_playbook_level()
        for info in self.infos:
            self.check_step(info)
        self.check_outputs()
        self.check_subplaybooks()
        return sorted(self.errors, key=lambda e: (e.where.line or 0, e.where.column or 0))

    # ---- structure ----------------------------------------------------------------------------
    def collect_steps(self) -> None:
        def walk(step: Step, order: int, ancestors: tuple[str, ...], phase: str) -> None:
            info = _StepInfo(step, order, ancestors, phase)
            self.infos.append(info)
            if step.id in self.steps:
                first = self.pb.position(self.steps[step.id].step.path + ("id",))[0]
                self.error(step.path + ("id",), f"step id '{step.id}' is used twice (first on line {first})",
                           "step ids must be unique in a playbook, inside parallel groups too", step)
            else:
                self.steps[step.id] = info
            for child in step.parallel or ():
                walk(child, order, ancestors + (step.id,), phase)

        for order, step in enumerate(self.pb.steps):
            walk(step, order, (), TENANT)
        for order, step in enumerate(self.pb.after_tenants, start=len(self.pb.steps)):
            walk(step, order, (), AFTER)

    def check_playbook_level(self) -> None:
        pb = self.pb
        if isinstance(pb.tenants, list):
            if not pb.tenants:
                self.error(("tenants",), "`tenants` is an empty list",
                           "write `tenants: none` for a playbook that acts on no tenant; name tenants, "
                           "write `all`, or remove the key to run for every configured tenant")
            seen: set[str] = set()
            for i, name in enumerate(pb.tenants):
                if name in seen:
                    self.error(("tenants", i), f"tenant '{name}' is listed twice")
                seen.add(name)
        from runner.secrets import is_reference

        hook_paths: dict[str, int] = {}
        for i, trigger in enumerate(pb.on):
            if getattr(trigger, "poll", None) is not None:
                self.check_poll(i, trigger.poll)
            spec = getattr(trigger, "webhook", None)
            if spec is None:
                continue
            for key in ("secret", "token"):
                ref = getattr(spec, key)
                if ref is not None and not is_reference(ref):
                    self.error(("on", i, "webhook", key), f"webhook {key} must be a secret reference such as "
                               "env:NAME or file:PATH, not a literal value",
                               "put the value in an environment variable and write `env:NAME`")
            if spec.path in hook_paths:
                self.error(("on", i, "webhook", "path"), f"webhook path '{spec.path}' is used by trigger "
                           f"#{hook_paths[spec.path] + 1} too")
            hook_paths.setdefault(spec.path, i)
        for name, spec in pb.inputs.items():
            self.check_input_spec(name, spec)

    def check_poll(self, i: int, spec: Any) -> None:
        """The source is one an installed plugin registered; ``filter:`` only on OData listings."""
        if self.host is None:
            return
        from runner.serve.sources import unknown_source_hint

        source = self.host.poll_sources.get(spec.source)
        if source is None:
            close = did_you_mean(spec.source, self.host.poll_sources)
            self.error(("on", i, "poll", "source"), f"poll source '{spec.source}' is not registered by any "
                       f"installed plugin{f' ({close})' if close else ''}",
                       unknown_source_hint(self.host, spec.source))
            return
        by_time = [lst.api for lst in source.listings if lst.paging != "odata"]
        if spec.filter is not None and by_time:
            self.error(("on", i, "poll", "filter"), f"poll source '{spec.source}' is listed by time from API "
                       f"'{by_time[0]}', which takes no `filter:`",
                       "remove `filter:` and test the items in the playbook instead (a step's `when:` on "
                       "`trigger.payload.item`)")

    def check_input_spec(self, name: str, spec: Any) -> None:
        types = _INPUT_TYPES[spec.type]

        def fits(value: Any) -> bool:
            return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)

        if spec.enum is not None:
            for i, value in enumerate(spec.enum):
                if not fits(value):
                    self.error(("inputs", name, "enum", i), f"input '{name}': enum value {value!r} is not "
                               f"of type {spec.type}")
        if spec.default is not None:
            if not fits(spec.default):
                self.error(("inputs", name, "default"),
                           f"input '{name}': default {spec.default!r} is not of type {spec.type}",
                           f"change the default or `type:` (one of {', '.join(_INPUT_TYPES)})")
            elif spec.enum is not None and spec.default not in spec.enum:
                self.error(("inputs", name, "default"), f"input '{name}': default {spec.default!r} is not one "
                           f"of its enum values ({', '.join(map(repr, spec.enum))})")

    # ---- steps --------------------------------------------------------------------------------
    def check_step(self, info: _StepInfo) -> None:
        step = info.step
        path = step.path
        if step.action is not None:
            self.check_action(step, info)
        self.check_on_error(info)
        if step.timeout is not None and step.timeout <= 0:
            self.error(path + ("timeout",), "'timeout' must be more than 0", "e.g. `timeout: 5m`", step)
        if step.retry is not None and step.retry.backoff > step.retry.max_backoff:
            self.error(path + ("retry", "backoff"), f"retry backoff ({step.retry.backoff:g}s) is longer than "
                       f"max_backoff ({step.retry.max_backoff:g}s)", "lower `backoff` or raise `max_backoff`", step)
        if step.approval is not None and step.approval.timeout is not None and step.approval.timeout <= 0:
            self.error(path + ("approval", "timeout"), "approval 'timeout' must be more than 0", step=step)
        if step.concurrency > 1 and step.foreach is None:
            self.error(path + ("concurrency",), "'concurrency' only applies to a step with `foreach`",
                       "add `foreach:` or remove `concurrency`", step)
        # foreach: an expression or a literal list
        foreach = step.foreach
        if foreach is not None and not isinstance(foreach, list) and not _is_whole_expression(foreach):
            self.error(path + ("foreach",), f"'foreach' must be one ${{{{ }}}} expression or a list, got "
                       f"{_describe(foreach)}", "e.g. `foreach: \"${{ steps.incidents.output }}\"`", step)
        if step.when is not None and not isinstance(step.when, bool) and not _has_expression(step.when):
            self.error(path + ("when",), f"'when' must be a ${{{{ }}}} expression or true/false, got "
                       f"{_describe(step.when)}", "e.g. `when: \"${{ inputs.isolate }}\"`", step)
        per_item = step.foreach is not None
        self.check_value(step.with_, path + ("with",), info, per_item)
        self.check_value(step.foreach, path + ("foreach",), info, False)
        self.check_value(step.when, path + ("when",), info, per_item)
        self.check_value(step.name, path + ("name",), info, per_item)
        if step.approval is not None:
            self.check_value(step.approval.message, path + ("approval", "message"), info, per_item)
            if per_item:
                self.check_gate_message(step)

    def check_gate_message(self, step: Step) -> None:
        """A foreach step's approval message cannot read ``item``/``index``: one gate covers every
        item, asked before any runs, so the message is rendered once, without an item."""
        for spath, text in _strings(step.approval.message, step.path + ("approval", "message")):
            for expr in EXPR_RE.findall(text):
                chains = self._refs.get(expr.strip()) or ()  # parsed by check_value (None: it failed)
                root = next((c[0] for c in chains if c[0] in ("item", "index")), None)
                if root is None:
                    continue
                self.error(spath, f"the approval message reads '{root}' (in {_clip('${{ ' + expr.strip() + ' }}')}), "
                           "but one approval covers every item of a foreach step: it is asked once, with no item",
                           "say what the whole step does, e.g. count its items: " + _count_hint(step.foreach) +
                           "; the approval lists each item's inputs in its plan (`soar approvals list`)", step)

    def check_action(self, step: Step, info: _StepInfo) -> None:
        path = step.path
        action = self.actions.get(step.action)
        if action is None:
            guess = did_you_mean(step.action, self.actions.names())
            hint = (guess + " " if guess else "") + "`soar actions list` shows all actions"
            self.error(path + ("action",), f"unknown action '{step.action}'", hint, step)
            return
        if info.phase == AFTER and action.needs_tenant:
            self.error(path + ("action",), f"action '{action.name}' acts on a tenant, and after_tenants steps "
                       "run on none (after every tenant's run)",
                       "do per-tenant work in `steps:` and read it here as ${{ tenants.<name>.outputs }}; "
                       "or run a sub-playbook on a tenant: core.playbook with `tenant:`", step)
        model: type[BaseModel] = action.input_model
        spec = self.inputs_of(action.name, model)
        if spec is None:
            return  # the model rewrites its input: only a run can tell
        fields, required, extra_ok = spec
        given = step.with_
        if not extra_ok:
            for key in given:
                if key not in fields:
                    guess = did_you_mean(key, fields)
                    listing = f"inputs of {action.name}: {', '.join(fields) or 'none'}"
                    self.error(path + ("with", key), f"unknown input '{key}' for action '{action.name}'",
                               f"{guess} ({listing})" if guess else listing, step)
        present = {fields[k] for k in given if k in fields}
        where = path + ("with",) if "with_" in step.model_fields_set else path + ("action",)
        for name, key in required:
            if name not in present:
                self.error(where, f"missing required input '{key}' for action '{action.name}'",
                           f"add `{key}:` under `with:` (`soar actions show {action.name}` lists the inputs)", step)
        literal = {k: v for k, v in given.items() if k in fields and not _has_expression(v)}
        if literal:
            try:
                model.model_validate(literal)
            except ValidationError as exc:
                reported = set()
                for err in exc.errors(include_url=False):
                    loc = err["loc"]
                    if not loc or loc[0] not in literal or err["type"] == "missing":
                        continue  # about inputs given as expressions, or model-level: checked at run time
                    where = data_path(loc, literal)
                    if where in reported:
                        continue  # the other branches of a union: one message per value
                    reported.add(where)
                    message, hint = explain_input_error(err, where, model, action.name)
                    self.error(path + ("with",) + where, message, hint, step)
            except Exception:  # noqa: BLE001 - a plugin's validator failing on partial input
                pass

    def inputs_of(self, name: str, model: type[BaseModel]) -> tuple[dict, list, bool] | None:
        """``(key → field name, [(field name, key) required], takes any key)`` of an input model,
        or ``None`` when a model validator rewrites the input (then only a run can tell)."""
        if name not in self._inputs:
            validators = model.__pydantic_decorators__.model_validators.values()
            if any(d.info.mode in ("before", "wrap") for d in validators):
                self._inputs[name] = None
            else:
                fields: dict[str, str] = {}
                required = []
                by_name = bool(model.model_config.get("populate_by_name") or model.model_config.get("validate_by_name"))
                for field, info in model.model_fields.items():
                    key = info.validation_alias if isinstance(info.validation_alias, str) else (info.alias or field)
                    fields[key] = field
                    if by_name:
                        fields.setdefault(field, field)
                    if info.is_required():
                        required.append((field, key))
                self._inputs[name] = (fields, required, model.model_config.get("extra") == "allow")
        return self._inputs[name]

    def check_on_error(self, info: _StepInfo) -> None:
        step = info.step
        target = step.on_error
        if target in ("fail", "continue"):
            return
        path = step.path + ("on_error",)
        handler = self.steps.get(target)
        if handler is None:
            guess = did_you_mean(target, list(self.steps) + ["fail", "continue"])
            self.error(path, f"'on_error' must be fail, continue or the id of a handler step; "
                       f"there is no step '{target}'", guess, step)
        elif handler.phase != info.phase:
            where = "after_tenants" if handler.phase == AFTER else "steps"
            self.error(path, f"on_error handler '{target}' is under `{where}:`, and a handler must be in the "
                       "same list as the step it handles", "move the handler into the same list", step)
        elif handler.order <= info.order:
            self.error(path, f"on_error handler '{target}' must come after step '{step.id}' "
                       "(it runs when this step fails)", "move the handler step further down", step)

    def check_subplaybooks(self) -> None:
        """Literal ``core.playbook`` references: inside the playbook directory, no cycle, not
        nested too deep (runner.playbook.subplaybooks; the same limits hold at run time)."""
        from runner.playbook.subplaybooks import static_problems

        for step, message, hint in static_problems(self.pb):
            self.error(step.path + ("with", "playbook"), message, hint, step)

    def check_outputs(self) -> None:
        after = frozenset(i.step.id for i in self.infos if i.phase == AFTER)
        for key, value in self.pb.outputs.items():
            self.check_value(value, ("outputs", key), None, False)
            chains = [c for _p, text in _strings(value, ()) for expr in EXPR_RE.findall(text)
                      for c in self._refs.get(expr.strip(), ())]
            if phase_of_chains(chains, after) == MIXED:
                self.error(("outputs", key), f"output '{key}' reads both a step of `steps:` and an after_tenants "
                           "step (or `tenants`): the first is evaluated in each tenant's run, the second once, "
                           "after all of them",
                           "split it into two outputs: a tenant output reaches after_tenants steps and "
                           "summary outputs as ${{ tenants.<name>.outputs.<key> }}")

    # ---- expressions ----------------------------------------------------------------------------
    def check_value(self, value: Any, path: tuple, info: _StepInfo | None, per_item: bool) -> None:
        for spath, text in _strings(value, path):
            step = info.step if info else None
            if text.count("${{") != len(EXPR_RE.findall(text)) or "${{" in EXPR_RE.sub("", text):
                self.error(spath, f"unclosed expression in {_clip(repr(text))}", "close it with }}: ${{ steps.x.output }}",
                           step, ExpressionSyntaxError)
                continue
            for expr in EXPR_RE.findall(text):
                expr = expr.strip()
                if not expr:
                    self.error(spath, "empty expression ${{ }}", "write a name, e.g. ${{ inputs.x }}", step,
                               ExpressionSyntaxError)
                    continue
                try:
                    chains = self._refs.get(expr)
                    if chains is None:
                        chains = self._refs[expr] = self.engine.references(expr)
                except ExpressionSyntaxError as exc:
                    message = exc.message.replace("'end of print statement'", "end of expression")
                    self.error(spath, message, exc.hint, step, ExpressionSyntaxError)
                    continue
                except RecursionError:  # Jinja's parser is recursive
                    self.error(spath, f"expression nested too deeply: {_clip(expr, 40)}",
                               "split it over several steps (core.set)", step, ExpressionSyntaxError)
                    continue
                for chain in chains:
                    self.check_reference(chain, expr, spath, info, per_item)

    def check_reference(self, chain: tuple, expr: str, path: tuple, info: _StepInfo | None, per_item: bool) -> None:
        step = info.step if info else None
        root = chain[0]
        shown = f"${{{{ {expr} }}}}"
        if root not in ROOT_NAMES:
            if root in self.engine.env.globals:
                return
            guess = did_you_mean(root, ROOT_NAMES)
            self.error(path, f"unknown name '{root}' in {_clip(shown)}",
                       (guess + " " if guess else "") + "names available: " + ", ".join(sorted(ROOT_NAMES)), step)
        elif root == "tenants" and info is not None and info.phase != AFTER:
            self.error(path, "'tenants' is only defined in after_tenants steps and playbook outputs "
                       f"(in {_clip(shown)})",
                       "a step of `steps:` runs in one tenant's run: read ${{ tenant.name }}; to act on every "
                       "tenant's results, add an `after_tenants:` step", step)
        elif root == "tenant" and info is not None and info.phase == AFTER:
            self.error(path, f"'tenant' is null in after_tenants steps, which run on no tenant (in {_clip(shown)})",
                       "read every tenant's results as ${{ tenants }} (name → status, outputs, error, run_id)",
                       step)
        elif root in ("item", "index") and not per_item:
            where = "in `foreach` itself" if path[-1:] == ("foreach",) and info else (
                "in playbook outputs" if info is None else "in a step without `foreach`")
            self.error(path, f"'{root}' is only defined in a step with `foreach` (used {where})",
                       "read the list in `foreach:`, then use ${{ item }} in `with`, `when` or `name`", step)
        elif root == "inputs" and len(chain) > 1 and chain[1] not in self.pb.inputs:
            guess = did_you_mean(chain[1], self.pb.inputs)
            self.error(path, f"input '{chain[1]}' is not declared (in {_clip(shown)})",
                       guess or f"declare it under `inputs:` (`{chain[1]}: {{type: string}}`)", step)
        elif root == "secrets" and len(chain) > 1 and chain[1] not in self.pb.secrets:
            guess = did_you_mean(chain[1], self.pb.secrets)
            self.error(path, f"secret '{chain[1]}' is not declared (in {_clip(shown)})",
                       guess or f"declare it under `secrets:` as a reference (`{chain[1]}: env:NAME`)", step)
        elif root == "steps" and len(chain) > 1:
            self.check_step_reference(chain, shown, path, info)

    def check_step_reference(self, chain: tuple, shown: str, path: tuple, info: _StepInfo | None) -> None:
        step = info.step if info else None
        ref_id = chain[1]
        target = self.steps.get(ref_id) if isinstance(ref_id, str) else None
        if target is None:
            guess = did_you_mean(ref_id, self.steps)
            self.error(path, f"unknown step '{ref_id}' in {_clip(shown)}",
                       guess or "steps.<id> must name a step of this playbook", step)
            return
        if len(chain) > 2 and chain[2] not in STEP_ATTRS:
            guess = did_you_mean(chain[2], STEP_ATTRS)
            self.error(path, f"steps.{ref_id} has no '{chain[2]}' (in {_clip(shown)}); a step has "
                       "output, status and error", guess, step)
        if info is None:
            return  # playbook outputs: every step has finished
        if target.phase != info.phase:
            if info.phase == AFTER:
                self.error(path, f"after_tenants step '{info.step.id}' cannot read steps.{ref_id}, a step that "
                           f"runs in each tenant's run (in {_clip(shown)})",
                           "name the value in the playbook's `outputs:` and read it as "
                           "${{ tenants.<name>.outputs.<key> }}", step)
            else:
                self.error(path, f"step '{ref_id}' is an after_tenants step: it runs after every tenant's run, "
                           f"so this step cannot read it (in {_clip(shown)})",
                           f"read '{ref_id}' from another after_tenants step or from the playbook's outputs", step)
            return
        if target is info:
            self.error(path, f"step '{ref_id}' cannot read its own result (in {_clip(shown)})",
                       "use ${{ item }} in a foreach, or split the step in two", step)
        elif target.order > info.order:
            self.error(path, f"step '{ref_id}' runs later than this step (in {_clip(shown)})",
                       f"move '{ref_id}' above this step, or read it from a later step", step)
        elif target.order == info.order:
            if ref_id in info.ancestors:
                why = f"'{ref_id}' is the parallel group that contains this step and has not finished"
            elif info.step.id in target.ancestors:
                why = f"'{ref_id}' is inside this parallel group and has not run yet"
            else:
                why = f"'{ref_id}' runs at the same time (same parallel group)"
            self.error(path, f"step '{info.step.id}' cannot read steps.{ref_id}: {why}",
                       "steps of a parallel group cannot read each other; read them after the group", step)


def _strings(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    """Every string holding ``${{`` inside ``value``, with its path."""
    if isinstance(value, str):
        if "${{" in value:
            yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, path + (i,))


def _has_expression(value: Any) -> bool:
    return next(_strings(value, ()), None) is not None


def _is_whole_expression(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    found = EXPR_RE.findall(value)
    return len(found) == 1 and value.strip() == "${{" + found[0] + "}}"


def _count_hint(foreach: Any) -> str:
    """A message part counting a foreach step's items: its own list expression, with ``length``."""
    if _is_whole_expression(foreach):
        expr = EXPR_RE.findall(foreach)[0].strip()
        if not re.fullmatch(r"[A-Za-z_][\w.]*", expr):
            expr = f"({expr})"
        return f"${{{{ {expr} | length }}}}"
    if isinstance(foreach, list):
        return f"{len(foreach)} (its list is written out)"
    return "${{ steps.<id>.output | length }}"


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"text {_clip(repr(value))}"
    return repr(value)


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."
