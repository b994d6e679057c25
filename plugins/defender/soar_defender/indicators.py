"""MDE custom indicators (``/api/indicators``): add (submit-or-update), list, delete."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, RootModel, model_validator

from runner.plugin import Action, errors, odata

from soar_defender.common import TI_READ, TI_WRITE, Inputs, Loose, is_not_found, mde
from soar_defender.ids import IndicatorId

IndicatorType = Literal["FileSha1", "FileMd5", "FileSha256", "CertificateThumbprint", "IpAddress", "DomainName",
                        "Url"]


class Indicator(Loose):
    id: str | int
    indicatorValue: str | None = None
    indicatorType: str | None = None
    action: str | None = None
    title: str | None = None
    severity: str | None = None
    expirationTime: str | None = None


class IndicatorList(RootModel[list[Indicator]]):
    """A list of indicators."""

    model_config = ConfigDict(defer_build=True)


class AddIndicatorInput(Inputs):
    value: str = Field(description="The indicator: a hash, IP address, domain name or URL (no CIDR ranges)")
    type: IndicatorType = Field(description="FileSha1, FileMd5, FileSha256, CertificateThumbprint, IpAddress, "
                                            "DomainName, Url")
    action: Literal["Alert", "Warn", "Block", "Audit", "BlockAndRemediate", "AlertAndBlock", "Allowed"] = Field(
        "AlertAndBlock", description="What Defender does on a match")
    title: str = Field(description="Title shown in alerts")
    description: str = Field("Added by soar-runner", description="Description")
    severity: Literal["Informational", "Low", "Medium", "High"] | None = Field(None, description="Alert severity")
    expiration_time: str | None = Field(None, description="ISO 8601 time at which it expires")
    rbac_group_names: list[str] | None = Field(None, description="Device groups it applies to")
    generate_alert: bool | None = Field(None, description="Raise an alert on a match (required true for Audit)")

    @model_validator(mode="after")
    def _audit(self):
        if self.action == "Audit" and self.generate_alert is False:
            raise ValueError("action Audit requires generate_alert: true")
        if self.type == "IpAddress" and "/" in self.value:
            raise ValueError("indicators take single IP addresses, not CIDR ranges")
        return self


async def add_indicator(ctx, inputs: AddIndicatorInput) -> Indicator:
    """Submit an indicator. MDE's POST submits-or-updates by value, so repeating it is safe."""
    body = {"indicatorValue": inputs.value, "indicatorType": inputs.type, "action": inputs.action,
            "title": inputs.title, "description": inputs.description, "severity": inputs.severity,
            "expirationTime": inputs.expiration_time, "rbacGroupNames": inputs.rbac_group_names,
            "generateAlert": True if inputs.action == "Audit" else inputs.generate_alert}
    body = {k: v for k, v in body.items() if v is not None}
    return Indicator.model_validate(await mde(ctx, TI_WRITE).post("/api/indicators", body, idempotent=True))


async def _by_value(ctx, value: str, type_: str | None = None) -> list[dict]:
    flt = odata.all_of(odata.eq("indicatorValue", value), odata.eq("indicatorType", type_) if type_ else None)
    return await mde(ctx, TI_READ).list("/api/indicators", {"$filter": flt}, page_size=1000, max_items=1000)


async def reconcile_add(ctx, inputs: AddIndicatorInput) -> Indicator | None:
    """The indicator exists with the same action? Then the add took effect."""
    found = [i for i in await _by_value(ctx, inputs.value, inputs.type) if i.get("action") == inputs.action]
    return Indicator.model_validate(found[0]) if found else None


class ListIndicatorsInput(Inputs):
    value: str | None = Field(None, description="Only this indicator value")
    type: IndicatorType | None = Field(None, description="Only this indicator type")
    action: str | None = Field(None, description="Only this action, e.g. Block")
    max_items: int = Field(15_000, ge=1, le=15_000, description="Stop after this many")


async def list_indicators(ctx, inputs: ListIndicatorsInput) -> IndicatorList:
    """List the tenant's custom indicators."""
    flt = odata.all_of(odata.eq("indicatorValue", inputs.value) if inputs.value else None,
                       odata.eq("indicatorType", inputs.type) if inputs.type else None,
                       odata.eq("action", inputs.action) if inputs.action else None)
    items = await mde(ctx, TI_READ).list("/api/indicators", {"$filter": flt} if flt else {}, page_size=1000,
                                         max_items=inputs.max_items)
    return IndicatorList.model_validate(items)


class DeleteIndicatorInput(Inputs):
    indicator_id: IndicatorId | None = Field(None, description="The indicator id (digits)")
    value: str | None = Field(None, description="Or: delete the indicator(s) with this value")
    type: IndicatorType | None = Field(None, description="With `value`: only this type")

    @model_validator(mode="after")
    def _one(self):
        if (self.indicator_id is None) == (self.value is None):
            raise ValueError("give exactly one of indicator_id and value")
        return self


class Deleted(Loose):
    deleted: list[str] = Field(default_factory=list, description="Ids deleted now")
    absent: list[str] = Field(default_factory=list, description="Ids that were already gone")


async def delete_indicator(ctx, inputs: DeleteIndicatorInput) -> Deleted:
    """Delete an indicator by id or by value; one that is already gone counts as done."""
    ids = [str(inputs.indicator_id)] if inputs.indicator_id is not None else \
        [str(i["id"]) for i in await _by_value(ctx, inputs.value or "", inputs.type)]
    out = Deleted()
    for ident in ids:
        try:
            await mde(ctx, TI_WRITE).delete("/api/indicators/{indicator_id}", segments={"indicator_id": ident})
            out.deleted.append(ident)
        except errors.ApiError as err:
            if not is_not_found(err):
                raise
            out.absent.append(ident)
    return out


ACTIONS = [
    Action(name="defender.add_indicator", summary="Add (or update) a custom indicator: block/alert on a hash, "
           "IP, domain or URL", func=add_indicator, input_model=AddIndicatorInput, output_model=Indicator,
           effect="write", roles={"mde": TI_WRITE}, quota="mde", undo="defender.delete_indicator",
           reconcile=reconcile_add),
    Action(name="defender.list_indicators", summary="List custom indicators", func=list_indicators,
           input_model=ListIndicatorsInput, output_model=IndicatorList, effect="read", roles={"mde": TI_READ},
           quota="mde"),
    Action(name="defender.delete_indicator", summary="Delete a custom indicator (by id or value)",
           func=delete_indicator, input_model=DeleteIndicatorInput, output_model=Deleted, effect="write",
           roles={"mde": TI_WRITE}, quota="mde"),
]
