"""``entra.get_token``: an access token for the step's tenant, as a Secret."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from runner.plugin import Action, Secret

from soar_defender.common import Inputs, Loose, tenant_of


class GetTokenInput(Inputs):
    api: Literal["mde", "xdr", "graph"] = Field("mde", description="Which API the token is for")
    roles: list[str] = Field(default_factory=list, description="Fail unless the token holds one of these roles")


class TokenOutput(Loose):
    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    tenant: str
    tenant_id: str | None = None
    api: str
    resource: str
    expires_on: int = Field(description="Unix seconds")
    roles: list[str] = Field(default_factory=list)
    token: Secret = Field(description="The access token (a Secret: shown as *** everywhere)")


async def get_token(ctx, inputs: GetTokenInput) -> TokenOutput:
    """Get (or reuse from the shared cache) a token for the step's tenant; checks ``roles`` first."""
    tenant_of(ctx)
    tok = await ctx.token(inputs.api, tuple(inputs.roles))
    return TokenOutput(tenant=tok.tenant, tenant_id=tok.tenant_id, api=tok.api, resource=tok.resource,
                       expires_on=int(tok.expires_on), roles=list(tok.roles), token=tok.value)


ACTIONS = [
    Action(name="entra.get_token", summary="Get an Entra ID access token for an API (output token is a Secret)",
           func=get_token, input_model=GetTokenInput, output_model=TokenOutput, effect="read"),
]
