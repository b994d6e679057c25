"""A :class:`~soar_notify.message.Message` as each channel takes it: an Adaptive Card in a Teams
``message`` activity, a Slack Block Kit message, and an email's subject and text.

Teams (Workflows or incoming webhook): ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <AdaptiveCard 1.4>}]}``;
links are ``Action.OpenUrl`` buttons. Plain text goes in ``RichTextBlock``/``TextRun``
elements, which Teams never reads as Markdown (a ``TextBlock`` or a ``FactSet`` would).

Slack (incoming webhook): ``{"text": <fallback>, "blocks": [header, section, section with fields,
actions]}`` within Block Kit's limits (a header's text 150 characters, a section's 3000, a
field's 2000, ten fields a section, a button's text 75, a URL 3000, fifty blocks); plain text
is escaped (``&``, ``<``, ``>``) so it cannot mention a channel or hide a link.
"""

from __future__ import annotations

from typing import Any

from soar_notify.message import Message, clip

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
TEXT_LIMIT = 10_000      # characters of a message's text in a card (Teams takes ~28 KB a message)
LINES_LIMIT = 60         # lines of plain text in a card (one RichTextBlock each)
FACT_LIMIT = 1_000       # characters of a fact's value
FACTS_LIMIT = 30         # facts shown
LINKS_LIMIT = 6          # buttons

_TEAMS_STYLE = {"primary": "positive", "danger": "destructive"}


def _run(text: str, **style: Any) -> dict:
    return {"type": "TextRun", "text": text, **style}


def teams_payload(msg: Message) -> dict:
    """The Teams ``message`` activity carrying ``msg`` as an Adaptive Card."""
    title_style: dict[str, Any] = {"weight": "Bolder", "size": "Medium"}
    if msg.color != "default":
        title_style["color"] = msg.color
    body: list[dict] = [{"type": "RichTextBlock", "inlines": [_run(clip(msg.title, 500) or "-", **title_style)]}]
    text = clip(msg.text, TEXT_LIMIT) if msg.text.strip() else ""
    if text and msg.markdown:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    elif text:
        lines = text.splitlines()
        if len(lines) > LINES_LIMIT:
            lines = lines[: LINES_LIMIT - 1] + [f"… ({len(lines) - LINES_LIMIT + 1} more lines)"]
        for n, line in enumerate(lines):
            block: dict[str, Any] = {"type": "RichTextBlock", "inlines": [_run(line or " ")]}
            if n:
                block["spacing"] = "None"
            body.append(block)
    if msg.facts:
        for n, (name, value) in enumerate(msg.facts[:FACTS_LIMIT]):
            block = {"type": "RichTextBlock",
                     "inlines": [_run(f"{clip(name, 100)}: ", weight="Bolder"), _run(clip(value, FACT_LIMIT) or "-")]}
            block["spacing"] = "Medium" if n == 0 else "None"
            body.append(block)
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION,
                            "body": body, "msteams": {"width": "Full"}}
    if msg.links:
        actions = []
        for link in msg.links[:LINKS_LIMIT]:
            action = {"type": "Action.OpenUrl", "title": clip(link.title, 100), "url": link.url}
            if link.style in _TEAMS_STYLE:
                action["style"] = _TEAMS_STYLE[link.style]
            actions.append(action)
        card["actions"] = actions
    return {"type": "message",
            "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}]}


def slack_escape(text: str) -> str:
    """Text for a Slack ``mrkdwn`` field, shown as written: ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(msg: Message) -> dict:
    """The Slack incoming-webhook body for ``msg``: Block Kit blocks and a fallback text."""
    text = "" if not msg.text.strip() else msg.text if msg.markdown else slack_escape(msg.text)
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": clip(msg.title.strip(), 150) or "-",
                                                      "emoji": False}}]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}})
    facts = msg.facts[:FACTS_LIMIT]
    for start in range(0, len(facts), 10):
        fields = [{"type": "mrkdwn", "text": clip(f"*{slack_escape(clip(name, 100))}*\n{slack_escape(value)}", 2000)}
                  for name, value in facts[start:start + 10]]
        blocks.append({"type": "section", "fields": fields})
    if msg.links:
        buttons = []
        for n, link in enumerate(msg.links[:LINKS_LIMIT]):
            button: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": clip(link.title, 75)},
                                      "url": link.url, "action_id": f"soar-link-{n}"}
            if link.style != "default":
                button["style"] = link.style
            buttons.append(button)
        blocks.append({"type": "actions", "elements": buttons})
    fallback = slack_escape(msg.title) + (f"\n{text}" if text else "")
    return {"text": clip(fallback, 3000), "blocks": blocks[:50]}


def email_parts(msg: Message) -> tuple[str, str]:
    """The subject (one line) and the plain-text body of ``msg`` as an email."""
    subject = " ".join(msg.title.split())
    parts = []
    if msg.text:
        parts.append(msg.text.strip())
    if msg.facts:
        parts.append("\n".join(f"{name}: {value}" for name, value in msg.facts))
    if msg.links:
        parts.append("\n".join(f"{link.title}: {link.url}" for link in msg.links))
    return clip(subject, 250), "\n\n".join(parts) + "\n"
