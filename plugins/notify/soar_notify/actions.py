"""The notification actions: ``notify.teams`` (an Adaptive Card to a Teams webhook),
``notify.slack`` (Block Kit to a Slack incoming webhook) and ``notify.email`` (SMTP).

The webhooks go through the run's network (``ctx.http()``): under ``--simulate`` and in the test
fixtures a webhook's host must be let out with ``--allow-host`` (``allow_hosts=``). Sending is a
``write``: ``--dry-run`` skips it, and a step's ``retry:`` repeats only what was surely not sent.
"""

from __future__ import annotations

import asyncio
from email.utils import parseaddr
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.plugin import Action, ActionContext, Secret

from soar_notify import cards, smtp, webhook
from soar_notify.message import Link, LinkStyle, Message, check_link


class Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkInput(Inputs):
    title: str = Field(description="The button's label", min_length=1)
    url: str = Field(description="An absolute http:// or https:// URL")
    style: LinkStyle = Field("default", description="default | primary | danger (the button's colour)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_link(value)


class CardInput(Inputs):
    webhook: Secret = Field(description="The webhook's URL: a secret (it carries its own credential)")
    title: str = Field(description="The message's title (plain text)", min_length=1)
    text: str = Field("", description="The message's text")
    markdown: bool = Field(False, description="`text` is Markdown (Teams: Adaptive Card Markdown; Slack: "
                                              "mrkdwn). Leave it false for text holding alert data: plain text "
                                              "can add no link")
    facts: dict[str, str] = Field(default_factory=dict, description="Name → value pairs, shown in order")
    links: list[LinkInput] = Field(default_factory=list, description="Buttons: [{title, url, style}]")
    color: Literal["default", "good", "warning", "attention"] = Field(
        "default", description="The title's colour on Teams")
    ca_bundle: str | None = Field(None, description="A PEM file of CA certificates to trust instead of the "
                                                    "system's (a private CA)")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the answer")

    def message(self) -> Message:
        return Message(title=self.title, text=self.text, markdown=self.markdown,
                       facts=tuple((str(k), str(v)) for k, v in self.facts.items()),
                       links=tuple(Link(link.title, link.url, link.style) for link in self.links), color=self.color)


class Posted(BaseModel):
    channel: Literal["teams", "slack"]
    status: int = Field(description="The webhook's HTTP status (Teams Workflows: 202; Slack: 200)")


async def _post(ctx: ActionContext, channel: Literal["teams", "slack"], inputs: CardInput) -> Posted:
    url = inputs.webhook.reveal()
    webhook.check_url(channel, url)
    payload = cards.teams_payload(inputs.message()) if channel == "teams" else cards.slack_payload(inputs.message())
    client = await ctx.http(verify=inputs.ca_bundle or True)
    status = await webhook.post(client, channel, url, payload, inputs.timeout)
    ctx.log.info("posted to the %s webhook (HTTP %s)", channel, status)
    return Posted(channel=channel, status=status)


async def notify_teams(ctx: ActionContext, inputs: CardInput) -> Posted:
    """Post a message to a Microsoft Teams channel or chat as an Adaptive Card, through a
    Workflows webhook ("Post to a channel when a webhook request is received") or an older
    incoming webhook. Any answer but a 2xx fails the step."""
    return await _post(ctx, "teams", inputs)


async def notify_slack(ctx: ActionContext, inputs: CardInput) -> Posted:
    """Post a message to a Slack channel through an incoming webhook, as Block Kit blocks (a
    header, the text, the facts as fields, the links as buttons). Any answer but a 2xx fails the
    step."""
    return await _post(ctx, "slack", inputs)


class EmailInput(Inputs):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: str = Field(description="The SMTP server's host name", min_length=1)
    port: int = Field(587, ge=1, le=65535, description="The SMTP server's port (587: STARTTLS; 465: TLS)")
    security: smtp.Security = Field("starttls", description="starttls | tls | none (no TLS: no password "
                                                            "is sent)")
    username: str | None = Field(None, description="The account to log in as (none: no login)")
    password: Secret | None = Field(None, description="The account's password: a secret")
    sender: str = Field(alias="from", description="The From address: `soc@contoso.example` or "
                                                  "`SOC <soc@contoso.example>`")
    to: list[str] = Field(min_length=1, description="Recipients")
    cc: list[str] = Field(default_factory=list, description="Copy recipients")
    subject: str = Field(min_length=1, description="The subject (one line)")
    body: str = Field(description="The text of the message (plain text)")
    ca_bundle: str | None = Field(None, description="A PEM file of CA certificates to trust instead of the "
                                                    "system's (a private CA)")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server, at each exchange")

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return smtp.check_address(value)

    @field_validator("to", "cc")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [smtp.check_address(v) for v in value]

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("the subject must be one line")
        return value


class Emailed(BaseModel):
    recipients: list[str] = Field(description="The recipients the server took the message for")
    refused: dict[str, str] = Field(default_factory=dict, description="Recipients the server refused: the reason")


async def notify_email(ctx: ActionContext, inputs: EmailInput) -> Emailed:
    """Send a plain-text email over SMTP (STARTTLS by default, or TLS on port 465), logging in
    with `username` and the `password` secret when given. Fails the step when the server does
    not take the message; a recipient refused while the others were taken is a step warning."""
    ctx.check_connect(inputs.host, inputs.port, "SMTP")  # under simulation: an allowed host only
    server = smtp.SmtpServer(inputs.host, inputs.port, inputs.security, inputs.username, inputs.password,
                             inputs.ca_bundle, inputs.timeout)
    if inputs.security == "none":
        ctx.warn(f"the email to {inputs.host} went without TLS (`security: none`): anyone on the network path "
                 "can read it")
    message = smtp.build(inputs.sender, inputs.to, inputs.subject, inputs.body, inputs.cc)
    refused = await asyncio.to_thread(smtp.send, server, message)
    for address, (code, text) in refused.items():
        ctx.warn(f"{server.where} refused the recipient {address} ({code} {text})")
    taken = [a for a in [*inputs.to, *inputs.cc] if parseaddr(a)[1] not in refused]
    ctx.log.info("email sent through %s to %d recipient(s)", server.where, len(taken))
    return Emailed(recipients=taken,
                   refused={a: f"{code} {text}" for a, (code, text) in refused.items()})


ACTIONS = [
    Action(name="notify.teams", summary="Post an Adaptive Card to a Microsoft Teams webhook",
           func=notify_teams, input_model=CardInput, output_model=Posted, effect="write", needs_tenant=False),
    Action(name="notify.slack", summary="Post a Block Kit message to a Slack incoming webhook",
           func=notify_slack, input_model=CardInput, output_model=Posted, effect="write", needs_tenant=False),
    Action(name="notify.email", summary="Send an email over SMTP (STARTTLS)",
           func=notify_email, input_model=EmailInput, output_model=Emailed, effect="write", needs_tenant=False),
]
