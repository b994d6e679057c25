"""The playbook JSON Schema (draft 2020-12), for editors and ``soar schema``.

Derived from the pydantic models (so it cannot drift from what the loader accepts) and then
improved where the models' own schema would mislead an editor: durations are written ``5m``
(not numbers only), ``approval`` takes ``true``/``false``/a message/a mapping, a step has
``action`` or ``parallel``, secrets are references. Given a plugin host, ``action`` completes
from the known action names and ``with:`` from each action's input model (``if``/``then`` on
the action name); every input there also accepts a ``${{ }}`` expression, resolved at run time.

VS Code (YAML extension by Red Hat): ``soar schema -o playbook.schema.json`` and put
``# yaml-language-server: $schema=./playbook.schema.json`` at the top of a playbook.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, BeforeValidator, PlainValidator, WrapValidator
from pydantic_core import PydanticUndefined

from runner import durations
from runner.playbook import model as m

if TYPE_CHECKING:  # pragma: no cover
    from runner.plugins import PluginHost

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:soar-runner:schema:playbook"
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
REFERENCE_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:.+$"
CRON_PATTERN = r"^\s*\S+(\s+\S+){4}\s*$"
EXPRESSION = {"type": "string", "pattern": r"\$\{\{[\s\S]*\}\}",
              "description": "A ${{ }} expression, resolved when the step runs"}

_DESCRIPTIONS = {
    "Playbook": {
        "name": "Playbook name: lowercase letters, digits and '-'",
        "description": "What the playbook does, in one line",
        "tenants": "`all` (the default), `none` (runs without any tenant), or the tenants (names from "
                   "soar.yaml) to run for: one child run per tenant",
        "on": "Triggers; none means the playbook runs only by hand (`soar run`)",
        "inputs": "Inputs given with `--input name=value` or by a trigger; read as ${{ inputs.name }}",
        "secrets": "Secret references (env:NAME, file:PATH, ...); read as ${{ secrets.name }}, always redacted",
        "approvals": "Approval policy for the whole playbook",
        "steps": "The steps, run in order",
        "after_tenants": "Steps run once, after every tenant's run has finished (also after one tenant), "
                         "with every tenant's status and outputs in ${{ tenants }}",
        "outputs": "The run's outputs: values, usually ${{ }} expressions over step outputs",
    },
    "Step": {
        "name": "A human label for logs (may use ${{ }})",
        "with": "The action's inputs; values may be ${{ }} expressions",
        "foreach": "Run once per item of this list (a ${{ }} expression or a literal list); "
                   "${{ item }} and ${{ index }} are set",
        "concurrency": "How many foreach items run at the same time",
        "when": "Run only if this ${{ }} expression is true (per item with foreach); otherwise `skipped`",
        "retry": "Retry a failing attempt: attempts, backoff, max_backoff, jitter",
        "timeout": "Fail an attempt that runs longer than this (e.g. 30s, 5m)",
        "approval": "Wait for a human: true, false, a message, or {required, message, approvers, timeout, "
                    "on_timeout}",
    },
    "RetrySpec": {"attempts": "Tries in all, the first included", "backoff": "Wait before the 2nd try; doubles "
                  "each time", "max_backoff": "Longest wait between tries", "jitter": "Randomise waits"},
    "ApprovalSpec": {"required": "Whether the step waits for an approval", "message": "Shown to approvers",
                     "approvers": "Who may approve (empty: anyone allowed to approve runs)",
                     "timeout": "How long to wait", "on_timeout": "What a timeout means: deny or approve"},
    "InputSpec": {"type": "Value type", "default": "Value when none is given (no default: required)",
                  "enum": "Allowed values", "description": "Shown by `soar run --help-inputs`",
                  "required": "Defaults to true when there is no default"},
    "ScheduleTrigger": {"timezone": "IANA time zone for the cron expression (default UTC)"},
    "PollSpec": {"source": "What to poll", "every": "Poll interval", "filter": "OData filter",
                 "overlap": "Look-back window to catch late updates", "batch": "One run per poll (true) or one "
                 "run per new item (false)"},
    "WebhookSpec": {"dedup_window": "Ignore repeats of the same dedup key for this long"},
}


def playbook_json_schema(host: PluginHost | None = None) -> dict:
    """The playbook JSON Schema. With ``host``, actions and their inputs are enumerated."""
    schema = m.Playbook.model_json_schema(by_alias=True)
    defs = schema["$defs"]
    schema = {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, "title": "soar-runner playbook",
              "description": "A soar-runner playbook (see docs/playbooks.md)",
              **{k: v for k, v in schema.items() if k not in ("title", "description")}}
    _improve(schema, defs)
    defs["Expression"] = dict(EXPRESSION)
    if host is not None:
        _add_actions(schema, host)
    return schema


def _models() -> list[type[BaseModel]]:
    return [m.Playbook, m.Step, m.RetrySpec, m.ApprovalSpec, m.InputSpec, m.ScheduleTrigger, m.EveryTrigger,
            m.WebhookSpec, m.WebhookTrigger, m.PollSpec, m.PollTrigger, m.ApprovalPolicy]


def _improve(schema: dict, defs: dict) -> None:
    for model in _models():
        target = schema if model is m.Playbook else defs.get(model.__name__)
        if not target:
            continue
        props = target.get("properties", {})
        for name, info in model.model_fields.items():
            key = info.alias or name
            prop = props.get(key)
            if prop is None:
                continue
            prop.pop("title", None)
            text = _DESCRIPTIONS.get(model.__name__, {}).get(key)
            if text and "description" not in prop:
                prop["description"] = text
            if _is_duration(info):
                nullable = "anyOf" in prop
                keep = {k: v for k, v in prop.items() if k in ("default", "description")}
                variants = [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_PATTERN}]
                props[key] = {**keep, "anyOf": variants + ([{"type": "null"}] if nullable else [])}
    step = defs["Step"]["properties"]
    step["approval"] = {"description": step["approval"].get("description", _DESCRIPTIONS["Step"]["approval"]),
                        "anyOf": [{"type": "boolean"}, {"type": "string"}, {"$ref": "#/$defs/ApprovalSpec"},
                                  {"type": "null"}]}
    step["foreach"] = {"description": step["foreach"]["description"],
                       "anyOf": [{"type": "array"}, {"$ref": "#/$defs/Expression"}, {"type": "null"}]}
    step["when"] = {"description": step["when"]["description"],
                    "anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/Expression"}, {"type": "null"}]}
    defs["Step"]["allOf"] = [
        {"anyOf": [{"required": ["action"]}, {"required": ["parallel"]}]},
        {"not": {"required": ["action", "parallel"]}},
    ]
    defs["ScheduleTrigger"]["properties"]["schedule"]["pattern"] = CRON_PATTERN
    for key in ("secret", "token"):
        defs["WebhookSpec"]["properties"][key]["anyOf"][0]["pattern"] = REFERENCE_PATTERN
    props = schema["properties"]
    props["inputs"]["propertyNames"] = {"pattern": IDENTIFIER_PATTERN}
    props["secrets"]["propertyNames"] = {"pattern": IDENTIFIER_PATTERN}
    props["secrets"]["additionalProperties"] = {"type": "string", "pattern": REFERENCE_PATTERN,
                                                "description": "env:NAME, file:PATH, keyring:SERVICE/NAME, "
                                                               "keyvault:VAULT/NAME"}


def _is_duration(info: Any) -> bool:
    if any(getattr(x, "func", None) is durations.duration_seconds for x in info.metadata):
        return True
    return "duration_seconds" in repr(info.annotation)


def _add_actions(schema: dict, host: PluginHost) -> None:
    defs = schema["$defs"]
    step = defs["Step"]
    names = host.actions.names()
    step["properties"]["action"] = {"description": "The action to run (`soar actions list`)", "type": "string",
                                    "enum": names}
    for action in host.actions:
        with_schema = _input_schema(action.input_model, action.name, defs)
        step["allOf"].append({
            "if": {"properties": {"action": {"const": action.name}}, "required": ["action"]},
            "then": {"properties": {"with": with_schema}},
        })


def _input_schema(model: type[BaseModel], action: str, defs: dict) -> dict:
    """``model``'s schema with its ``$defs`` moved into ``defs`` and every value also accepting an
    expression. Unknown keys are rejected unless the model takes any key (as the checks do)."""
    try:
        schema = copy.deepcopy(model.model_json_schema(by_alias=True))
    except Exception:  # noqa: BLE001 - a plugin type without a JSON Schema: any mapping
        return {"type": "object", "description": f"Inputs of {action}"}
    prefix = f"{action}."
    own = schema.pop("$defs", {})
    _rewrite_refs(schema, prefix)
    for name, sub in own.items():
        _rewrite_refs(sub, prefix)
        defs[prefix + name] = _relax(sub)
    schema = _relax(schema)
    props = schema.get("properties", {})
    for key in _converted_fields(model):  # their schema shows the converted type, not what one writes
        if key in props:
            props[key] = {k: v for k, v in props[key].items() if k in ("description", "default")}
    schema["description"] = schema.get("description") or f"Inputs of {action}"
    schema.pop("title", None)
    if model.model_config.get("extra") != "allow":
        schema["additionalProperties"] = False
    return schema


def _converted_fields(model: type[BaseModel]) -> set[str]:
    """Keys of fields whose input a "before"/"wrap" validator converts (e.g. ``"10m"`` → 600.0)."""
    names: set[str] = set()
    for dec in model.__pydantic_decorators__.field_validators.values():
        if dec.info.mode in ("before", "wrap", "plain"):
            names.update(model.model_fields if "*" in dec.info.fields else dec.info.fields)
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, (BeforeValidator, WrapValidator, PlainValidator)) and \
                    meta.json_schema_input_type in (PydanticUndefined, Any):
                names.add(name)
    fields = model.model_fields
    return {(fields[n].alias or n) for n in names if n in fields}


def _rewrite_refs(node: Any, prefix: str) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/$defs/" + prefix + ref[len("#/$defs/"):]
        for value in node.values():
            _rewrite_refs(value, prefix)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, prefix)


def _relax(schema: dict) -> dict:
    """Let every property/item value of ``schema`` be a ``${{ }}`` expression too."""
    schema = dict(schema)
    if isinstance(schema.get("properties"), dict):
        schema["properties"] = {k: _or_expression(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _or_expression(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _or_expression(schema["items"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [_relax(s) if isinstance(s, dict) else s for s in schema[key]]
    return schema


def _or_expression(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    keep = {k: schema[k] for k in ("description", "default", "title") if k in schema}
    inner = _relax({k: v for k, v in schema.items() if k not in keep})
    return {**keep, "anyOf": [{"$ref": "#/$defs/Expression"}, inner]}
