"""MDE machine actions: isolate, restrict, scan, collect, quarantine — never sent twice.

Defender answers a repeated isolate/scan/restrict inconsistently: sometimes the pending action,
sometimes HTTP 400 "already in progress" / ``ActiveRequestAlreadyExists``, and a duplicate can
stay Pending and fire later (Microsoft's "MachineAction resource type"). So every action here:

1. looks up the action an earlier attempt of this step created (its answer was lost; it may
   have finished since), else an open (Pending/InProgress) action of the same type on the
   machine, and returns it (``reused: true``) instead of sending;
2. on a 400 "already in progress", looks it up and returns it;
3. on a timeout or 5xx after sending (outcome unknown), is *not* re-sent blindly: it looks up
   the action this step created and returns it; only if there is none may the step retry;
4. tags its ``Comment`` with ``[soar <run>/<step>#<item>]``, so :func:`reconcile` (after a crash)
   finds exactly the action this step created, or knows it never reached Defender.
"""

from __future__ import annotations

import re
import time
from typing import Any, Awaitable, Callable, Literal

from pydantic import ConfigDict, Field, RootModel, field_validator

from runner.plugin import Action, errors, odata

from soar_defender.common import MACHINE_READ, Inputs, Loose, mde
from soar_defender.ids import MachineActionId, MachineId

ACTION_PATH = "/api/machineactions/{action_id}"
OPEN = ("Pending", "InProgress")
FINAL = ("Succeeded", "Failed", "TimeOut", "Cancelled")
ALL_ACTION_ROLES = ("Machine.Isolate", "Machine.Scan", "Machine.CollectForensics", "Machine.RestrictExecution",
                    "Machine.StopAndQuarantine", "Machine.Offboard", "Machine.LiveResponse")


class MachineAction(Loose):
    """A machineAction (Microsoft's "MachineAction resource type"), plus ``reused``: true when an action that
    was already open (or sent by an earlier attempt) was returned instead of sending a new one."""

    id: str
    type: str | None = None
    scope: str | None = None
    status: str | None = Field(None, description="Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled")
    machineId: str | None = None
    computerDnsName: str | None = None
    requestor: str | None = None
    requestorComment: str | None = None
    creationDateTimeUtc: str | None = None
    lastUpdateDateTimeUtc: str | None = None
    cancellationComment: str | None = None
    relatedFileInfo: dict | None = None
    reused: bool = False


class MachineActionList(RootModel[list[MachineAction]]):
    """A list of machine actions."""

    model_config = ConfigDict(defer_build=True)


# ---- lookups -------------------------------------------------------------------------------------

def marker(ctx: Any) -> str:
    item = f"#{ctx.item}" if ctx.item is not None else ""
    return f"[soar {ctx.run_id}/{ctx.step_id}{item}]"


async def actions_of(ctx: Any, machine_id: str, type_: str | None = None, status: str | None = None,
                     max_items: int = 1000) -> list[dict]:
    """The machine's actions (of ``type_``), newest first."""
    flt = odata.all_of(odata.eq("machineId", machine_id), odata.eq("type", type_) if type_ else None,
                       odata.eq("status", status) if status else None)
    items = await mde(ctx, MACHINE_READ).list("/api/machineactions", {"$filter": flt},
                                              page_size=1000, max_items=max_items)
    return sorted(items, key=lambda a: a.get("creationDateTimeUtc") or "", reverse=True)


async def _find(ctx: Any, machine_id: str, type_: str, want: Callable[[dict], bool]) -> dict | None:
    try:
        items = await actions_of(ctx, machine_id, type_)
    except errors.PermissionMissing as err:
        ctx.log.warning("cannot look for an open %s action on %s (%s); sending without the duplicate check",
                        type_, machine_id, err.message)
        return None
    return next((a for a in items if want(a)), None)


async def find_mine(ctx: Any, machine_id: str, type_: str):
    tag = marker(ctx)
    return await _find(ctx, machine_id, type_, lambda a: tag in (a.get("requestorComment") or ""))


async def find_existing(ctx: Any, machine_id: str, type_: str, match: Callable[[dict], bool] | None = None,
                        tag: str | None = None):
    """One lookup: the action this step already created (an earlier attempt whose answer was
    lost; it may have finished since, so any status but a failed one), else an open one.
    ``tag``: this step's :func:`marker`, when the caller has it already."""
    tag = tag or marker(ctx)

    def mine(a: dict) -> bool:
        return tag in (a.get("requestorComment") or "") and a.get("status") not in ("Failed", "TimeOut", "Cancelled")

    def open_(a: dict) -> bool:
        return a.get("status") in OPEN and (match is None or match(a))

    try:
        items = await actions_of(ctx, machine_id, type_)
    except errors.PermissionMissing as err:
        ctx.log.warning("cannot look for an open %s action on %s (%s); sending without the duplicate check",
                        type_, machine_id, err.message)
        return None
    return next((a for a in items if mine(a)), None) or next((a for a in items if open_(a)), None)


def _duplicate(err: errors.ApiError) -> bool:
    text = f"{err.code or ''} {err.message}".lower()
    return err.status == 400 and ("activerequestalreadyexists" in text or "already in progress" in text
                                  or "already exists" in text or "pending" in text and "already" in text)


def _unknown(err: BaseException) -> bool:
    """Sent, but the answer was lost (timeout) or a 5xx: it may have taken effect."""
    return isinstance(err, errors.TransientApiError) and not err.retryable


async def send(ctx: Any, *, machine_id: str, type_: str, verb: str, body: dict, role: str,
               match: Callable[[dict], bool] | None = None) -> MachineAction:
    """Send a machine action at most once (see the module docstring)."""
    tag = marker(ctx)
    existing = await find_existing(ctx, machine_id, type_, match, tag)
    if existing is not None:
        ctx.log.info("%s on %s: reusing open action %s (%s)", type_, machine_id, existing.get("id"),
                     existing.get("status"))
        return MachineAction.model_validate({**existing, "reused": True})
    body = {**body, "Comment": f"{body.get('Comment') or 'soar-runner'} {tag}"}
    try:
        created = await mde(ctx, (role,)).post("/api/machines/{machine_id}/{verb}", body,
                                               segments={"machine_id": machine_id, "verb": verb})
    except errors.ApiError as err:
        duplicate = _duplicate(err)
        if not (duplicate or _unknown(err)):
            raise
        found = await find_existing(ctx, machine_id, type_, match, tag)
        if found is not None:
            ctx.log.info("%s on %s: %s; found action %s", type_, machine_id,
                         "already in progress" if duplicate else "no answer", found.get("id"))
            return MachineAction.model_validate({**found, "reused": True})
        if not duplicate:  # looked it up: it did not take effect, so a retry (which looks first) is safe
            err.retryable = True
        raise
    return MachineAction.model_validate(created)


def reconciler(type_: str) -> Callable[[Any, Any], Awaitable[MachineAction | None]]:
    async def reconcile(ctx: Any, inputs: Any) -> MachineAction | None:
        found = await find_mine(ctx, inputs.machine_id, type_)
        return None if found is None else MachineAction.model_validate({**found, "reused": True})

    reconcile.__doc__ = f"Find the {type_} action this step created before a crash (by its comment tag)."
    return reconcile


# ---- the destructive / write actions ---------------------------------------------------------------

class _MachineInput(Inputs):
    machine_id: MachineId = Field(description="The machine id (40 hex characters)")
    comment: str = Field("Action by soar-runner", description="Comment shown in the Defender portal "
                                                             "(a [soar run/step] tag is appended)")


class IsolateInput(_MachineInput):
    isolation_type: Literal["Full", "Selective", "UnManagedDevice"] = Field(
        "Full", description="Full, Selective (keeps Outlook/Teams), or UnManagedDevice")


class ScanInput(_MachineInput):
    scan_type: Literal["Quick", "Full"] = Field("Quick", description="Quick or Full")


class QuarantineInput(_MachineInput):
    sha1: str = Field(description="SHA-1 of the file to stop and quarantine")

    @field_validator("sha1")
    @classmethod
    def _sha1(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{40}", v):
            raise ValueError("must be a SHA-1 (40 hex characters)")
        return v.lower()


def _plain(type_: str, verb: str, role: str):
    async def func(ctx, inputs: _MachineInput) -> MachineAction:
        return await send(ctx, machine_id=inputs.machine_id, type_=type_, verb=verb,
                          body={"Comment": inputs.comment}, role=role)

    func.__doc__ = f"POST /api/machines/{{id}}/{verb}; reuses an open {type_} action instead of a duplicate."
    func.__name__ = verb
    return func


async def isolate_machine(ctx, inputs: IsolateInput) -> MachineAction:
    """Isolate a machine from the network (Full or Selective); an open isolation is reused."""
    return await send(ctx, machine_id=inputs.machine_id, type_="Isolate", verb="isolate", role="Machine.Isolate",
                      body={"Comment": inputs.comment, "IsolationType": inputs.isolation_type})


async def run_antivirus_scan(ctx, inputs: ScanInput) -> MachineAction:
    """Start a Microsoft Defender Antivirus scan; an open scan is reused."""
    return await send(ctx, machine_id=inputs.machine_id, type_="RunAntiVirusScan", verb="runAntiVirusScan",
                      role="Machine.Scan", body={"Comment": inputs.comment, "ScanType": inputs.scan_type})


async def stop_and_quarantine_file(ctx, inputs: QuarantineInput) -> MachineAction:
    """Stop the file's processes and quarantine it on the machine; an open one for the same file is reused."""
    def same_file(a: dict) -> bool:
        info = a.get("relatedFileInfo") or {}
        return not info or str(info.get("fileIdentifier", "")).lower() == inputs.sha1

    return await send(ctx, machine_id=inputs.machine_id, type_="StopAndQuarantineFile",
                      verb="StopAndQuarantineFile", role="Machine.StopAndQuarantine", match=same_file,
                      body={"Comment": inputs.comment, "Sha1": inputs.sha1})


# ---- read, cancel, wait ----------------------------------------------------------------------------

class ListActionsInput(Inputs):
    machine_id: MachineId | None = Field(None, description="Only this machine's actions (40 hex characters)")
    type: str | None = Field(None, description="Only this type, e.g. Isolate")
    status: Literal["Pending", "InProgress", "Succeeded", "Failed", "TimeOut", "Cancelled"] | None = Field(
        None, description="Only this status")
    max_items: int = Field(1000, ge=1, le=100_000, description="Stop after this many actions")


async def list_machine_actions(ctx, inputs: ListActionsInput) -> MachineActionList:
    """List machine actions, newest first."""
    flt = odata.all_of(odata.eq("machineId", inputs.machine_id) if inputs.machine_id else None,
                       odata.eq("type", inputs.type) if inputs.type else None,
                       odata.eq("status", inputs.status) if inputs.status else None)
    items = await mde(ctx, MACHINE_READ).list("/api/machineactions", {"$filter": flt} if flt else {},
                                              page_size=1000, max_items=inputs.max_items)
    items.sort(key=lambda a: a.get("creationDateTimeUtc") or "", reverse=True)
    return MachineActionList.model_validate(items)


class ActionIdInput(Inputs):
    action_id: MachineActionId = Field(description="The machine action id (a GUID)")


def _id(inputs: ActionIdInput) -> dict:
    return {"action_id": inputs.action_id}


async def get_machine_action(ctx, inputs: ActionIdInput) -> MachineAction:
    """Get one machine action (poll it for its status)."""
    return MachineAction.model_validate(await mde(ctx, MACHINE_READ).get(ACTION_PATH, segments=_id(inputs)))


class CancelInput(ActionIdInput):
    comment: str = Field("Cancelled by soar-runner", description="Why it is cancelled")


async def cancel_machine_action(ctx, inputs: CancelInput) -> MachineAction:
    """Cancel a Pending/InProgress machine action; an already cancelled one is returned as is."""
    current = await mde(ctx, MACHINE_READ).get(ACTION_PATH, segments=_id(inputs))
    if current.get("status") == "Cancelled":
        return MachineAction.model_validate({**current, "reused": True})
    if current.get("status") in FINAL:
        raise errors.ApiError(f"machine action {inputs.action_id} already ended ({current.get('status')}); "
                              "it cannot be cancelled", status=400, code="ActionAlreadyFinished",
                              hint="undo its effect with the matching action instead (e.g. unisolate)")
    try:
        await mde(ctx, ALL_ACTION_ROLES).post(ACTION_PATH + "/cancel", {"Comment": inputs.comment}, idempotent=True,
                                              segments=_id(inputs))
    except errors.ApiError as err:
        if err.status != 400:
            raise
    return MachineAction.model_validate(await mde(ctx, MACHINE_READ).get(ACTION_PATH, segments=_id(inputs)))


async def reconcile_cancel(ctx, inputs: CancelInput) -> MachineAction | None:
    """Cancelled already? Then that is the outcome; else send the cancel."""
    current = await mde(ctx, MACHINE_READ).get(ACTION_PATH, segments=_id(inputs))
    return MachineAction.model_validate(current) if current.get("status") == "Cancelled" else None


def seconds(value: Any) -> float:
    """``90``, ``"500ms"``, ``"2s"``, ``"5m"``, ``"1h"`` → seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration (use 500ms, 30s, 10m, 1h)")
    n, unit = float(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


class WaitInput(ActionIdInput):
    timeout: float = Field(600.0, description="Give up after this long (10m, 90s); the last state is returned")
    interval: float = Field(5.0, description="First poll interval (grows 1.5x per poll, up to 60s)")
    fail_on_timeout: bool = Field(False, description="Fail the step instead of returning a still-open action")

    @field_validator("timeout", "interval", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return seconds(v)


async def wait_machine_action(ctx, inputs: WaitInput) -> MachineAction:
    """Poll a machine action until Succeeded/Failed/TimeOut/Cancelled or ``timeout``; return its last state."""
    deadline = time.monotonic() + inputs.timeout
    delay = max(0.01, inputs.interval)
    while True:
        action = await mde(ctx, MACHINE_READ).get(ACTION_PATH, segments=_id(inputs))
        left = deadline - time.monotonic()
        if action.get("status") in FINAL or left <= 0:
            break
        await _sleep(min(delay, left))
        delay = min(delay * 1.5, 60.0)
    if action.get("status") not in FINAL and inputs.fail_on_timeout:
        raise errors.StepTimeout(f"machine action {inputs.action_id} is still {action.get('status')} after "
                                 f"{inputs.timeout:g}s", hint="raise `timeout`, or check the device is online")
    return MachineAction.model_validate(action)


def _act(name: str, summary: str, func, model, type_: str, role: str, effect: str, undo: str | None = None):
    return Action(name=f"defender.{name}", summary=summary, func=func, input_model=model,
                  output_model=MachineAction, effect=effect, roles={"mde": (role,)}, quota="mde", undo=undo,
                  reconcile=reconciler(type_),
                  description=(func.__doc__ or summary) + " Also needs Machine.Read.All (or ReadWrite) for "
                  "the duplicate lookup; without it the action is sent unchecked.")


ACTIONS = [
    _act("isolate_machine", "Isolate a machine from the network (Full/Selective)", isolate_machine, IsolateInput,
         "Isolate", "Machine.Isolate", "destructive", undo="defender.unisolate_machine"),
    _act("unisolate_machine", "Release a machine from isolation", _plain("Unisolate", "unisolate",
         "Machine.Isolate"), _MachineInput, "Unisolate", "Machine.Isolate", "write", undo="defender.isolate_machine"),
    _act("run_antivirus_scan", "Run a Defender Antivirus scan (Quick/Full)", run_antivirus_scan, ScanInput,
         "RunAntiVirusScan", "Machine.Scan", "write"),
    _act("collect_investigation_package", "Collect an investigation package from a machine",
         _plain("CollectInvestigationPackage", "collectInvestigationPackage", "Machine.CollectForensics"),
         _MachineInput, "CollectInvestigationPackage", "Machine.CollectForensics", "write"),
    _act("restrict_code_execution", "Restrict app execution to Microsoft-signed code",
         _plain("RestrictCodeExecution", "restrictCodeExecution", "Machine.RestrictExecution"), _MachineInput,
         "RestrictCodeExecution", "Machine.RestrictExecution", "destructive",
         undo="defender.unrestrict_code_execution"),
    _act("unrestrict_code_execution", "Lift the code execution restriction",
         _plain("UnrestrictCodeExecution", "unrestrictCodeExecution", "Machine.RestrictExecution"), _MachineInput,
         "UnrestrictCodeExecution", "Machine.RestrictExecution", "write", undo="defender.restrict_code_execution"),
    _act("stop_and_quarantine_file", "Stop a file's processes and quarantine it", stop_and_quarantine_file,
         QuarantineInput, "StopAndQuarantineFile", "Machine.StopAndQuarantine", "destructive"),
    Action(name="defender.list_machine_actions", summary="List machine actions (by machine, type, status)",
           func=list_machine_actions, input_model=ListActionsInput, output_model=MachineActionList, effect="read",
           roles={"mde": MACHINE_READ}, quota="mde"),
    Action(name="defender.get_machine_action", summary="Get one machine action", func=get_machine_action,
           input_model=ActionIdInput, output_model=MachineAction, effect="read", roles={"mde": MACHINE_READ},
           quota="mde"),
    Action(name="defender.cancel_machine_action", summary="Cancel a pending machine action",
           func=cancel_machine_action, input_model=CancelInput, output_model=MachineAction, effect="write",
           roles={"mde": ALL_ACTION_ROLES}, quota="mde", reconcile=reconcile_cancel),
    Action(name="defender.wait_machine_action", summary="Wait until a machine action finishes",
           func=wait_machine_action, input_model=WaitInput, output_model=MachineAction, effect="read",
           roles={"mde": MACHINE_READ}, quota="mde"),
]


async def _sleep(seconds: float) -> None:
    import asyncio  # here, not at import: `soar validate` never needs it (start-up)

    await asyncio.sleep(seconds)
