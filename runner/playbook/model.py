"""The playbook, as typed data. The YAML contract is in docs/playbooks.md.

These models check *shape* only. Cross-references (actions exist, inputs match, steps
referenced by expressions exist and come earlier) are checked by ``runner.playbook.checks``,
which needs the plugin registry. Every model forbids unknown keys, so a typo is an error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
                      field_validator, model_validator)

from runner.durations import Duration

ID_PATTERN = r"^[a-z][a-z0-9_-]*$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


# ---- triggers ------------------------------------------------------------------------------

class ScheduleTrigger(_Strict):
    kind: ClassVar[str] = "schedule"
    schedule: str = Field(description="Cron expression (5 fields), UTC unless `timezone` is set")
    timezone: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5:
            raise ValueError(f"cron expression {v!r} must have 5 fields (minute hour day month weekday)")
        from runner.playbook.cron import check_cron

        check_cron(v)
        return v


class EveryTrigger(_Strict):
    kind: ClassVar[str] = "every"
    every: Duration = Field(description="Interval, e.g. 10m")

    @field_validator("every")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v < 1:
            raise ValueError("an interval must be at least 1s")
        return v


class WebhookSpec(_Strict):
    path: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$", description="URL path under /hooks")
    secret: str | None = Field(None, description="Secret reference for the HMAC-SHA256 signature")
    token: str | None = Field(None, description="Secret reference for a bearer token")
    dedup_key: str | None = Field(None, description="header:NAME or a payload field path")
    dedup_window: Duration = 3600.0


class WebhookTrigger(_Strict):
    kind: ClassVar[str] = "webhook"
    webhook: WebhookSpec


SOURCE_PATTERN = r"^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)+$"


class PollSpec(_Strict):
    source: str = Field(pattern=SOURCE_PATTERN,
                        description="A poll source an installed plugin registers, `vendor.things` "
                                    "(`soar validate` lists them)")
    every: Duration = 120.0
    filter: str | None = None
    overlap: Duration = 3600.0
    batch: bool = False


class PollTrigger(_Strict):
    kind: ClassVar[str] = "poll"
    poll: PollSpec


def _trigger_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        for key in ("schedule", "every", "webhook", "poll"):
            if key in v:
                return key
        return None
    return getattr(v, "kind", None)


Trigger = Annotated[
    Union[Annotated[ScheduleTrigger, Tag("schedule")], Annotated[EveryTrigger, Tag("every")],
          Annotated[WebhookTrigger, Tag("webhook")], Annotated[PollTrigger, Tag("poll")]],
    Discriminator(_trigger_kind, custom_error_type="trigger_kind",
                  custom_error_message="a trigger is one of schedule:, every:, webhook:, poll:"),
]


# ---- inputs --------------------------------------------------------------------------------

InputType = Literal["string", "integer", "number", "boolean", "list", "object"]


class InputSpec(_Strict):
    type: InputType = "string"
    default: Any = None
    enum: list[Any] | None = None
    description: str = ""
    required: bool | None = None  # default: required when there is no default

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None


# ---- steps ---------------------------------------------------------------------------------

class RetrySpec(_Strict):
    attempts: int = Field(3, ge=1, le=100)
    backoff: Duration = 1.0
    max_backoff: Duration = 60.0
    jitter: bool = True


class ApprovalSpec(_Strict):
    required: bool = True
    message: str = ""
    approvers: list[str] = Field(default_factory=list)
    timeout: Duration | None = None
    on_timeout: Literal["deny", "approve"] = "deny"


def _approval(v: Any) -> Any:
    if isinstance(v, bool):
        return {"required": v}
    if isinstance(v, str):
        return {"message": v}
    return v


class Step(_Strict):
    id: str = Field(pattern=ID_PATTERN, description="Unique step id; outputs are `steps.<id>.output`")
    name: str | None = None
    action: str | None = Field(None, description="Action name, `plugin.verb_noun`")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    foreach: Any = None
    concurrency: int = Field(1, ge=1, le=1000)
    when: Any = None
    retry: RetrySpec | None = None
    timeout: Duration | None = None
    on_error: str = Field("fail", description="fail | continue | <id of a handler step>")
    approval: Annotated[ApprovalSpec | None, BeforeValidator(_approval)] = None
    parallel: list["Step"] | None = Field(None, description="Steps run concurrently (a group)")

    _path: tuple = PrivateAttr(default=())

    @model_validator(mode="after")
    def _kind(self) -> "Step":
        if self.parallel is not None:
            if self.action is not None:
                raise ValueError("a step has either `action` or `parallel`, not both")
            if not self.parallel:
                raise ValueError("`parallel` needs at least one step")
            for key in ("foreach", "retry", "timeout", "approval"):
                if getattr(self, key) is not None:
                    raise ValueError(f"`{key}` does not apply to a parallel group; put it on the steps inside")
            if self.with_:
                raise ValueError("`with` does not apply to a parallel group")
        elif self.action is None:
            raise ValueError("a step needs `action` (or `parallel` for a group)")
        return self

    @property
    def path(self) -> tuple:
        return self._path

    def walk(self):
        yield self
        for child in self.parallel or ():
            yield from child.walk()


class ApprovalPolicy(_Strict):
    destructive: bool = Field(True, description="Gate every destructive step behind an approval")


class Playbook(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    tenants: Literal["all", "none"] | list[str] | None = None
    on: list[Trigger] = Field(default_factory=list)
    max_runs: int | None = Field(None, ge=1, le=1000, description=(
        "`soar serve`: at most this many runs of this playbook at once (default: --max-runs, 1); "
        "events beyond it wait, a schedule that finds no free slot is skipped (and recorded)"))
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    steps: list[Step] = Field(min_length=1)
    after_tenants: list[Step] = Field(default_factory=list)  # run once, after every tenant's run
    outputs: dict[str, Any] = Field(default_factory=dict)

    # Filled by the loader: where this playbook came from and where each node is.
    _source_path: str | None = PrivateAttr(default=None)
    _source_text: str = PrivateAttr(default="")
    _positions: dict = PrivateAttr(default_factory=dict)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, v: dict) -> dict:
        for key in v:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"input name {key!r} must be an identifier (letters, digits, _)")
        return v

    @field_validator("secrets")
    @classmethod
    def _secret_refs(cls, v: dict) -> dict:
        from runner.secrets import is_reference

        for key, ref in v.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"secret name {key!r} must be an identifier (letters, digits, _)")
            if not isinstance(ref, str) or not is_reference(ref):
                raise ValueError(
                    f"secret '{key}' must be a reference such as env:NAME or file:PATH "
                    "(literal secret values are not accepted)")
        return v

    # ---- helpers used by the engine and the checks --------------------------------------

    @property
    def source_path(self) -> str | None:
        return self._source_path

    @property
    def source_text(self) -> str:
        return self._source_text

    def all_steps(self):
        """Every step, groups and their children, in document order: ``steps``, then
        ``after_tenants``."""
        for step in self.steps:
            yield from step.walk()
        for step in self.after_tenants:
            yield from step.walk()

    def position(self, path: tuple) -> tuple[int | None, int | None]:
        """(line, column), 1-based, of the node at ``path`` or of its nearest located parent."""
        path = tuple(path)
        while path:
            if path in self._positions:
                return self._positions[path]
            path = path[:-1]
        return self._positions.get((), (None, None))

    def locate(self, path: tuple = (), step: str | None = None, tenant: str | None = None):
        from runner.errors import Location

        line, col = self.position(path)
        return Location(file=self._source_path, line=line, column=col, step=step, tenant=tenant)


Step.model_rebuild()
