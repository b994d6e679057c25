"""YAML file → :class:`~runner.playbook.model.Playbook`, with every problem located.

The path of a playbook through here is: text → :func:`~runner.playbook.yamlpos.parse_mapping`
(values + the line/column of every node) → the pydantic model (shape) → the static checks of
:mod:`runner.playbook.checks` (actions, inputs, expressions, references). Every problem becomes
a :class:`~runner.errors.PlaybookError` whose ``str()`` reads::

    playbooks/triage.yaml:12:9: step 'isolate': unknown action 'acme.isolat_host'
      hint: did you mean 'acme.isolate_host'? `soar actions list` shows all actions

pydantic's own wording never reaches the user: :func:`explain_error` turns each entry of a
``ValidationError`` into plain words, with the position of the offending node.

A playbook file is at most :data:`MAX_PLAYBOOK_BYTES` (1 MiB; ``$SOAR_MAX_PLAYBOOK_BYTES`` or
``PlaybookLoader(max_bytes=...)`` changes it), checked before anything is parsed: parsing and
checking cost memory and time in proportion to the text, and ``soar serve`` loads every file
dropped in its directory. The YAML layer caps nesting depth and alias expansion on its own.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runner import durations
from runner.errors import Location, PlaybookError, PlaybookErrors, PlaybookSyntaxError, PlaybookValidationError
from runner.playbook import model as m
from runner.playbook.yamlpos import parse_mapping

if TYPE_CHECKING:  # pragma: no cover
    from runner.expressions import ExpressionEngine
    from runner.plugins import PluginHost

MAX_PLAYBOOK_BYTES = 1024 * 1024  # far above any real playbook (the largest shipped is a few KiB)


def max_playbook_bytes() -> int:
    """The size cap in force: ``$SOAR_MAX_PLAYBOOK_BYTES`` when it is a positive integer."""
    value = os.environ.get("SOAR_MAX_PLAYBOOK_BYTES", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else MAX_PLAYBOOK_BYTES


_TRIGGERS = {"schedule": m.ScheduleTrigger, "every": m.EveryTrigger, "webhook": m.WebhookTrigger,
             "poll": m.PollTrigger}


class PlaybookLoader:
    """Loads playbooks and checks them against the actions and filters of ``host``.

    Without a ``host`` the process-wide one (:func:`runner.plugins.load_plugins`: built-ins plus
    installed plugins) is used, on first need."""

    def __init__(self, host: PluginHost | None = None, *, max_bytes: int | None = None):
        self._host = host
        self._engine: ExpressionEngine | None = None
        self.max_bytes = max_bytes

    @property
    def host(self) -> PluginHost:
        if self._host is None:
            from runner.plugins import load_plugins

            self._host = load_plugins()
        return self._host

    @property
    def engine(self) -> ExpressionEngine:
        """The expression engine (built-in filters plus the host's) used to check expressions."""
        if self._engine is None:
            self._engine = self.host.expressions  # shared: what is compiled here, runs reuse
        return self._engine

    def load(self, path: str | Path, *, check: bool = True) -> m.Playbook:
        """Read and load the playbook at ``path``. Raises :class:`PlaybookError` (one problem)
        or :class:`PlaybookErrors` (several)."""
        name = str(path)
        limit = self.max_bytes or max_playbook_bytes()
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                raw = f.read(limit + 1) if size <= limit else b""  # +1: a file that grew meanwhile
        except OSError as exc:
            raise PlaybookError(f"cannot read playbook: {exc.strerror or exc}", where=Location(file=name),
                                hint="check the path; `soar validate PATH` takes a playbook file") from None
        if size > limit or len(raw) > limit:
            raise PlaybookError(f"the file is {max(size, len(raw)):,} bytes; a playbook may be at most {limit:,}",
                                where=Location(file=name, line=1, column=1),
                                hint="split it into sub-playbooks (core.playbook), or raise the cap "
                                     "with SOAR_MAX_PLAYBOOK_BYTES if this size is intended")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise PlaybookSyntaxError("the file is not UTF-8 text", where=Location(file=name, line=line, column=col),
                                      hint="save the playbook as UTF-8") from None
        return self.load_text(text, name, check=check)

    def load_text(self, text: str, path: str = "<string>", *, check: bool = True) -> m.Playbook:
        """Load a playbook from ``text``; ``path`` is only used in error locations."""
        data, positions, _ = parse_mapping(text, path)
        positions.setdefault((), (1, 1))
        try:
            playbook = m.Playbook.model_validate(data)
        except ValidationError as exc:
            raise _combine(validation_errors(exc, data, positions, path)) from None
        playbook._source_path = path
        playbook._source_text = text
        playbook._positions = positions
        for key in ("steps", "after_tenants"):
            for i, step in enumerate(getattr(playbook, key)):
                _set_paths(step, (key, i))
        if check:
            problems = self.check(playbook)
            if problems:
                raise _combine(problems)
            self._compile(playbook)
        return playbook

    def _compile(self, playbook: m.Playbook) -> None:
        """Compile every step once, at load time, into a table kept with the playbook (the
        checks have parsed each Jinja expression already; its code is generated on first use)."""
        from runner.engine.compiled import compile_steps

        compile_steps(self.engine, playbook)
        self.engine.compile_value(playbook.outputs)

    def check(self, playbook: m.Playbook) -> list[PlaybookError]:
        """Static checks (actions, inputs, expressions, references): every problem, located."""
        from runner.playbook.checks import check_playbook

        return check_playbook(playbook, self.host.actions, self.engine, self.host)


def load_playbook(path: str | Path, host: PluginHost | None = None) -> m.Playbook:
    """Load and check the playbook at ``path`` (see :class:`PlaybookLoader`)."""
    return PlaybookLoader(host).load(path)


def _combine(errors: list[PlaybookError]) -> PlaybookError:
    errors = sorted(errors, key=lambda e: (e.where.line or 0, e.where.column or 0))
    return errors[0] if len(errors) == 1 else PlaybookErrors(errors)


def _set_paths(step: m.Step, path: tuple) -> None:
    step._path = path
    for j, child in enumerate(step.parallel or ()):
        _set_paths(child, path + ("parallel", j))


# ---- pydantic errors → located, plain-words errors ----------------------------------------------

def position(positions: dict, path: tuple) -> tuple[int | None, int | None]:
    """(line, column) of ``path`` or of its nearest located ancestor."""
    path = tuple(path)
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return positions.get((), (None, None))


def step_of(data: Any, path: tuple) -> tuple[tuple, str | None]:
    """The path of the innermost step containing ``path`` in the raw data, and its id."""
    if len(path) < 2 or path[0] not in ("steps", "after_tenants") or not isinstance(path[1], int):
        return (), None
    steps = data.get(path[0]) if isinstance(data, dict) else None
    node = steps[path[1]] if isinstance(steps, list) and 0 <= path[1] < len(steps) else None
    step_path, i = path[:2], 2
    while len(path) >= i + 2 and path[i] == "parallel" and isinstance(path[i + 1], int) and isinstance(node, dict):
        group = node.get("parallel")
        if not (isinstance(group, list) and 0 <= path[i + 1] < len(group)):
            break
        node, step_path, i = group[path[i + 1]], path[:i + 2], i + 2
    sid = node.get("id") if isinstance(node, dict) else None
    return step_path, sid if isinstance(sid, str) else None


def validation_errors(exc: ValidationError, data: Any, positions: dict, source: str | None) -> list[PlaybookError]:
    """One located :class:`PlaybookValidationError` per problem pydantic found."""
    out: list[PlaybookError] = []
    raw = exc.errors(include_url=False)
    tenant_items = any(e["loc"][:1] == ("tenants",) and any(isinstance(x, int) for x in e["loc"]) for e in raw)
    seen: set = set()
    for err in raw:
        loc = tuple(err["loc"])
        if loc[:1] == ("tenants",) and tenant_items and not any(isinstance(x, int) for x in loc):
            continue  # `tenants` is `all` | [names]: report the bad list entry, not the other branch
        missing = err["type"] == "missing"
        path = data_path(loc[:-1] if missing else loc, data)
        field = str(loc[-1]) if missing else (path[-1] if path else None)
        container = path if missing else path[:-1]
        message, hint, path = _explain_model_error(err, path, container, field, data)
        key = (path, message)
        if key in seen:
            continue
        seen.add(key)
        step_path, sid = step_of(data, path)
        if step_path and sid is None:
            where = "after_tenants step" if step_path[0] == "after_tenants" else "step"
            message = f"{message} (in {where} #{_step_number(step_path)})"
        line, col = position(positions, path)
        out.append(PlaybookValidationError(message, where=Location(file=source, line=line, column=col, step=sid),
                                           hint=hint))
    return out


def _step_number(step_path: tuple) -> str:
    return ".".join(str(x + 1) for x in step_path if isinstance(x, int))


def data_path(loc: tuple, data: Any) -> tuple:
    """``loc`` without pydantic's union tags: only the keys and indexes that exist in ``data``."""
    path: list = []
    node = data
    for el in loc:
        if isinstance(node, dict) and el in node:
            node = node[el]
            path.append(el)
        elif isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
            node = node[el]
            path.append(el)
    return tuple(path)


def _model_at(path: tuple, data: Any) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (``None`` if not a model)."""
    if path == ():
        return m.Playbook
    if path == ("approvals",):
        return m.ApprovalPolicy
    if len(path) == 2 and path[0] == "inputs":
        return m.InputSpec
    if path[0] == "on" and len(path) >= 2:
        kind = m._trigger_kind(_get(data, path[:2]))
        if len(path) == 2:
            return _TRIGGERS.get(kind)
        if len(path) == 3 and path[2] == kind and kind in ("webhook", "poll"):
            return m.WebhookSpec if kind == "webhook" else m.PollSpec
        return None
    step_path, _ = step_of(data, path)
    if step_path:
        rest = path[len(step_path):]
        return {(): m.Step, ("retry",): m.RetrySpec, ("approval",): m.ApprovalSpec}.get(rest)
    return None


def _get(data: Any, path: tuple) -> Any:
    for el in path:
        try:
            data = data[el]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _where(container: tuple, model: type[BaseModel] | None, data: Any) -> str:
    """Words for the place of a key: '' inside a step (the location names the step)."""
    if model is m.Playbook:
        return " at the top level of the playbook"
    if model is m.Step:
        return ""
    if model is m.InputSpec:
        return f" in input '{container[-1]}'"
    if model in _TRIGGERS.values():
        return f" in the {model.kind} trigger (#{container[1] + 1} under `on:`)"
    if container:
        return f" in `{container[-1]}`"
    return ""


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, as written in YAML (aliases)."""
    return [f.alias or name for name, f in model.model_fields.items()]


def did_you_mean(word: Any, choices: typing.Iterable[str]) -> str | None:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _explain_model_error(err: dict, path: tuple, container: tuple, field: Any,
                         data: Any) -> tuple[str, str | None, tuple]:
    kind = err["type"]
    model = _model_at(container, data)
    if kind == "extra_forbidden":
        allowed = field_names(model) if model else []
        hint = did_you_mean(field, allowed)
        if allowed:
            listing = f"allowed keys: {', '.join(allowed)}"
            hint = f"{hint} ({listing})" if hint else listing
        return f"unknown key '{field}'{_where(container, model, data)}", hint, path
    if kind == "missing":
        hints = {(m.Step, "id"): "give every step an `id:` (lowercase letters, digits, '_', '-')",
                 (m.Playbook, "name"): "add `name: my-playbook` at the top (lowercase letters, digits, '-')",
                 (m.Playbook, "steps"): "add `steps:` with at least one step",
                 (m.WebhookSpec, "path"): "e.g. `webhook: {path: /phish}`"}
        return f"missing required key '{field}'{_where(container, model, data)}", hints.get((model, field)), path
    if kind == "trigger_kind":
        value = err["input"]
        if isinstance(value, dict):
            keys = ", ".join(f"'{k}'" for k in value) or "none"
            guess = next((did_you_mean(k, _TRIGGERS) for k in value if did_you_mean(k, _TRIGGERS)), None)
            hint = (guess + " " if guess else "") + "e.g. `- every: 10m` or `- schedule: \"*/15 * * * *\"`"
            return f"unknown trigger (keys: {keys}): a trigger is one of schedule:, every:, webhook:, poll:", hint, path
        return (f"a trigger must be a mapping such as `every: 10m`, got {_show(value)}",
                "write `on:` as a list: `- schedule: \"0 * * * *\"`", path)
    if path[:1] == ("tenants",):
        if len(path) > 1:
            return (f"tenant entry #{path[1] + 1} must be a tenant name (text), got {_show(err['input'])}",
                    "tenants are named in soar.yaml; `soar tenants list` shows them", path)
        return (f"'tenants' must be `all`, `none` or a list of tenant names, got {_show(err['input'])}",
                "e.g. `tenants: all`, `tenants: [contoso, fabrikam]`, or `tenants: none` for a playbook "
                "that acts on no tenant", path)
    if kind in ("value_error", "assertion_error"):
        text = str(err.get("ctx", {}).get("error", err["msg"]))
        path, text = _refine(path, text, data)
        message, _, hint = text.partition("; ")
        if field is not None and path == container + (field,) and isinstance(field, str):
            message = f"'{field}': {message}"
        hint = hint or next((h for start, h in _VALUE_HINTS if message.startswith(start)), None)
        return message, hint, path
    if kind == "string_pattern_mismatch" and model in (m.Playbook, m.Step, m.WebhookSpec, m.PollSpec):
        return _pattern_message(field, err["input"], model) + (path,)
    if kind == "too_short" and field == "steps":
        return "a playbook needs at least one step under `steps:`", "add `- id: ...` entries under `steps:`", path
    if kind == "invalid_key" or err["loc"][-1:] == ("[key]",):
        return f"key {_show(err['input'])} must be text", "quote the key", path
    label = f"'{field}'" if field is not None else "this value"
    message, hint = _plain(err, label, _expected(model, field))
    return message, hint, path


def explain_input_error(err: dict, path: tuple, model: type[BaseModel], action: str) -> tuple[str, str | None]:
    """Plain words for a pydantic error about a literal ``with:`` value of ``action``;
    ``path`` is where the value is inside ``with:`` (see :func:`data_path`)."""
    label = f"input '{path[0]}'" + "".join(f"[{x!r}]" for x in path[1:])
    if err["loc"][-1:] == ("[key]",):
        return f"key {path[-1]!r} of {label[:-len(repr(path[-1])) - 2] or label} must be text", "quote the key"
    message, hint = _plain(err, label, _expected(model, path[0]) if len(path) == 1 else None)
    more = f"`soar actions show {action}` describes the inputs"
    return message, f"{hint}; {more}" if hint else more


def _plain(err: dict, label: str, expected: str | None) -> tuple[str, str | None]:
    kind = err["type"]
    value = err.get("input")
    if kind in ("value_error", "assertion_error"):
        text = str(err.get("ctx", {}).get("error", err["msg"]))
        message, _, hint = text.partition("; ")
        return f"{label}: {message}", hint or None
    if kind in ("literal_error", "enum"):
        choices = err.get("ctx", {}).get("expected", "")
        hint = did_you_mean(value, re.findall(r"'([^']*)'", choices)) if isinstance(value, str) else None
        return f"{label} must be one of {choices}, got {_show(value)}", hint
    if kind == "string_pattern_mismatch":
        return f"{label} {_show(value)} does not match the pattern {err.get('ctx', {}).get('pattern')}", None
    expected = expected or _EXPECTED_BY_TYPE.get(kind)
    if expected:
        return f"{label} must be {expected}, got {_show(value)}", None
    return f"{label}: {err['msg'][:1].lower()}{err['msg'][1:]}", None


_VALUE_HINTS = (
    ("a step needs `action`", "add `action: plugin.verb_noun` (`soar actions list` shows them), "
                              "or `parallel:` with a list of steps"),
    ("a step has either `action` or `parallel`", "move the action into a step of its own inside `parallel:`"),
    ("`parallel` needs at least one step", "list the steps to run concurrently under `parallel:`"),
    ("secret '", "keep the value out of the file: e.g. `NAME: env:ENV_VAR` and set ENV_VAR where soar runs"),
    ("input name '", "use letters, digits and '_' (e.g. max_devices): inputs are read as ${{ inputs.name }}"),
    ("'schedule': cron expression", "5 fields: minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\""),
    ("'schedule': invalid cron", "5 fields: minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\""),
    ("'every': an interval", "e.g. `every: 10m`"),
)

_EXPECTED_BY_TYPE = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "text", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "none_required": "empty (null)",
}


def _expected(model: type[BaseModel] | None, field: Any) -> str | None:
    """What a field accepts, in words, from its annotation and constraints."""
    if model is None or not isinstance(field, str):
        return None
    info = next((f for name, f in model.model_fields.items() if (f.alias or name) == field), None)
    if info is None:
        return None
    if model is m.Step and field == "approval":
        return "true, false, a message, or a mapping (required, message, approvers, timeout, on_timeout)"
    ann = info.annotation
    metadata = list(info.metadata)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
        ann = args[0]
    if typing.get_origin(ann) is typing.Annotated:
        metadata += list(ann.__metadata__)
        ann = typing.get_args(ann)[0]
    if any(getattr(x, "func", None) is durations.duration_seconds for x in metadata):
        return "a duration such as 500ms, 30s, 5m or 1h"
    if ann is int:
        ge = next((x.ge for x in metadata if hasattr(x, "ge")), None)
        le = next((x.le for x in metadata if hasattr(x, "le")), None)
        if ge is not None and le is not None:
            return f"an integer from {ge} to {le}"
        return f"an integer ≥ {ge}" if ge is not None else "an integer"
    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(ann))
    simple = {bool: "true or false", str: "text", float: "a number", list: "a list", dict: "a mapping"}
    if ann in simple:
        return simple[ann]
    origin = typing.get_origin(ann)
    if origin in simple:
        return simple[origin]
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "a mapping (" + ", ".join(field_names(ann)) + ")"
    return None


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pattern_message(field: Any, value: Any, model: type[BaseModel] | None) -> tuple[str, str | None]:
    if model is m.Playbook:
        return (f"playbook name {_show(value)} may only contain lowercase letters, digits and '-'",
                "e.g. `name: isolate-risky-devices`")
    if model is m.Step:
        return (f"step id {_show(value)} must start with a lowercase letter and contain only lowercase "
                "letters, digits, '_' and '-'", "e.g. `id: isolate_devices`")
    if model is m.PollSpec:
        return (f"poll source {_show(value)} must be a plugin's source name, `vendor.things`: lowercase "
                "letters, digits, '_' and '-', with a '.'", "e.g. `poll: {source: acme.events}`")
    return (f"webhook path {_show(value)} must start with '/' and contain only letters, digits, "
            "'/', '_', '.' and '-'", "e.g. `webhook: {path: /phish}`")


def _refine(path: tuple, text: str, data: Any) -> tuple[tuple, str]:
    """Point a whole-mapping validator error (``inputs``, ``secrets``) at the offending entry."""
    if path in (("inputs",), ("secrets",)) and isinstance(_get(data, path), dict):
        for key in _get(data, path):
            if f"'{key}'" in text:
                return path + (key,), text
    return path, text
