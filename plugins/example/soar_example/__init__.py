"""A minimal soar-runner plugin.

It uses only the public API (``from runner import ...``), exactly as a third party would:
one action declared with pydantic models, registered through the ``register_actions`` hook,
and one expression filter through ``register_filters``.
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field

from runner import Action, ActionContext, hookimpl


class ClassifyIpInput(BaseModel):
    address: str = Field(description="An IPv4 or IPv6 address")


class ClassifyIpOutput(BaseModel):
    address: str
    version: int
    private: bool
    reserved: bool
    verdict: str = Field(description="'internal' or 'external'")


async def classify_ip(ctx: ActionContext, inputs: ClassifyIpInput) -> ClassifyIpOutput:
    """Tell whether an address is internal (private, loopback, link-local) or external."""
    from runner.errors import ActionInputError

    try:
        ip = ipaddress.ip_address(inputs.address.strip())
    except ValueError:
        raise ActionInputError(f"{inputs.address!r} is not an IP address",
                               hint="pass an IPv4 or IPv6 address, e.g. 10.0.0.1") from None
    internal = ip.is_private or ip.is_loopback or ip.is_link_local
    ctx.log.info("classified %s as %s", ip, "internal" if internal else "external")
    return ClassifyIpOutput(address=str(ip), version=ip.version, private=ip.is_private,
                            reserved=ip.is_reserved, verdict="internal" if internal else "external")


@hookimpl
def register_actions(register):
    register(Action(
        name="example.classify_ip",
        summary="Classify an IP address as internal or external",
        func=classify_ip,
        input_model=ClassifyIpInput,
        output_model=ClassifyIpOutput,
        effect="read",
        needs_tenant=False,
    ))


@hookimpl
def register_filters(register):
    register("is_internal_ip", lambda value: ipaddress.ip_address(str(value)).is_private)
