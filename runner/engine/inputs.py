"""Playbook inputs: defaults, types, enums; ``--input k=v`` strings coerced to the declared type."""

from __future__ import annotations

from typing import Any, Mapping

from runner.errors import UsageError
from runner.playbook.model import Playbook

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(name: str, kind: str, value: Any) -> Any:
    def bad() -> UsageError:
        return UsageError(f"input '{name}' must be of type {kind}, got {value!r}",
                          hint=f"pass --input {name}=<{kind}>")

    if kind == "string":
        if isinstance(value, (dict, list)):
            raise bad()
        return value if isinstance(value, str) else str(value)
    if kind == "integer":
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad() from None
    if kind == "number":
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, (int, float)):
            return value
        try:
            return float(str(value).strip())
        except ValueError:
            raise bad() from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad()
    if kind in ("list", "object"):
        if isinstance(value, str):
            import yaml

            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                raise bad() from None
        if kind == "list" and not isinstance(value, list):
            raise bad()
        if kind == "object" and not isinstance(value, dict):
            raise bad()
        return value
    raise bad()  # pragma: no cover - the model restricts kinds


def resolve_inputs(playbook: Playbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """Apply defaults and types; raise UsageError (exit 2) naming the input and the fix."""
    unknown = sorted(set(given) - set(playbook.inputs))
    if unknown:
        declared = ", ".join(sorted(playbook.inputs)) or "none"
        raise UsageError(f"playbook '{playbook.name}' has no input '{unknown[0]}'",
                         hint=f"declared inputs: {declared}")
    out: dict[str, Any] = {}
    for name, spec in playbook.inputs.items():
        if name in given:
            value = _coerce(name, spec.type, given[name])
        elif spec.default is not None:
            value = spec.default
        elif spec.is_required:
            raise UsageError(f"playbook '{playbook.name}' needs input '{name}'",
                             hint=f"pass --input {name}=VALUE" + (f" ({spec.description})" if spec.description else ""))
        else:
            value = None
        if spec.enum is not None and value is not None and value not in spec.enum:
            raise UsageError(f"input '{name}' must be one of {', '.join(map(str, spec.enum))}; got {value!r}",
                             hint=f"pass --input {name}={spec.enum[0]}")
        out[name] = value
    return out
