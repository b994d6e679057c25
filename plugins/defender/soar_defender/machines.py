"""MDE machines: list (404 "no recent machines" = empty), get, find by DNS name or IP."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import ConfigDict, Field, RootModel, field_validator, model_validator

from runner.plugin import Action, errors, odata

from soar_defender.common import MACHINE_READ, RAW_FILTER, Inputs, Loose, is_not_found, mde
from soar_defender.ids import ComputerName, MachineId, check


class Machine(Loose):
    """An MDE machine as the API returns it."""

    id: str
    computerDnsName: str | None = None
    osPlatform: str | None = None
    healthStatus: str | None = None
    riskScore: str | None = None
    exposureLevel: str | None = None
    lastIpAddress: str | None = None
    lastExternalIpAddress: str | None = None
    lastSeen: str | None = None
    machineTags: list[str] = Field(default_factory=list)


class MachineList(RootModel[list[Machine]]):
    """A list of MDE machines."""

    model_config = ConfigDict(defer_build=True)


RISK = Literal["None", "Informational", "Low", "Medium", "High"]


class ListMachinesInput(Inputs):
    risk_score: RISK | None = Field(None, description="Only machines with this risk score")
    health_status: str | None = Field(None, description="Only this health status, e.g. Active, Inactive")
    os_platform: str | None = Field(None, description="Only this OS platform, e.g. Windows10")
    tag: str | None = Field(None, description="Only machines carrying this tag")
    filter: str | None = Field(None, description=RAW_FILTER)
    max_items: int = Field(10_000, ge=1, le=100_000, description="Stop after this many machines")


async def _list(ctx, flt: str | None, max_items: int) -> list[dict]:
    try:
        return await mde(ctx, MACHINE_READ).list("/api/machines", {"$filter": flt} if flt else {},
                                                 page_size=10_000, max_items=max_items)
    except errors.ApiError as err:
        if is_not_found(err):  # MDE answers 404 when no machine reported recently
            return []
        raise


async def list_machines(ctx, inputs: ListMachinesInput) -> MachineList:
    """List machines; the API's 404 for "no recent machines" is an empty list."""
    flt = odata.all_of(odata.eq("riskScore", inputs.risk_score) if inputs.risk_score else None,
                       odata.eq("healthStatus", inputs.health_status) if inputs.health_status else None,
                       odata.eq("osPlatform", inputs.os_platform) if inputs.os_platform else None,
                       odata.any_eq("machineTags", inputs.tag) if inputs.tag else None, odata.raw(inputs.filter))
    return MachineList.model_validate(await _list(ctx, flt, inputs.max_items))


class GetMachineInput(Inputs):
    machine_id: str = Field(description="The machine id (40 hex characters) or its computer DNS name")

    @field_validator("machine_id")
    @classmethod
    def _machine(cls, v: str) -> str:
        for kind in (MachineId, ComputerName):
            try:
                return check(kind, v)
            except errors.InvalidValue:
                continue
        raise errors.InvalidValue("must be a machine id (40 hex characters) or a computer DNS name "
                                  "(e.g. ws-001.contoso.com)")


async def get_machine(ctx, inputs: GetMachineInput) -> Machine:
    """Get one machine."""
    return Machine.model_validate(await mde(ctx, MACHINE_READ).get("/api/machines/{machine_id}",
                                                                   segments={"machine_id": inputs.machine_id}))


class FindMachineInput(Inputs):
    dns_name: str | None = Field(None, description="Computer DNS name (full, or the host name alone)")
    ip: str | None = Field(None, description="Last internal IP address")

    @model_validator(mode="after")
    def _one(self):
        if bool(self.dns_name) == bool(self.ip):
            raise ValueError("give exactly one of dns_name and ip")
        if self.ip:
            ipaddress.ip_address(self.ip)
        return self


async def find_machine(ctx, inputs: FindMachineInput) -> MachineList:
    """Find machines by DNS name (exact, then host-name prefix) or by last IP address."""
    if inputs.ip:
        return MachineList.model_validate(await _list(ctx, odata.eq("lastIpAddress", inputs.ip), 100))
    name = inputs.dns_name.strip().lower()
    found = await _list(ctx, odata.eq("computerDnsName", name), 100)
    if not found and "." not in name:
        found = await _list(ctx, odata.startswith("computerDnsName", name + "."), 100)
    return MachineList.model_validate(found)


ACTIONS = [
    Action(name="defender.list_machines", summary="List Defender for Endpoint machines", func=list_machines,
           input_model=ListMachinesInput, output_model=MachineList, effect="read", roles={"mde": MACHINE_READ},
           quota="mde"),
    Action(name="defender.get_machine", summary="Get one machine", func=get_machine, input_model=GetMachineInput,
           output_model=Machine, effect="read", roles={"mde": MACHINE_READ}, quota="mde"),
    Action(name="defender.find_machine", summary="Find machines by DNS name or IP address", func=find_machine,
           input_model=FindMachineInput, output_model=MachineList, effect="read", roles={"mde": MACHINE_READ},
           quota="mde"),
]
