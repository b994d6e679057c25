"""The payloads each channel takes, checked against what Microsoft and Slack document: a Teams
`message` activity with one Adaptive Card attachment, and Block Kit within its limits — for
any text, however long or hostile."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from soar_notify.cards import email_parts, slack_payload, teams_payload
from soar_notify.message import Link, Message

HOSTILE = Message(
    title="<!channel> Approve [here](https://evil.example) *now*",
    text="Alert: <https://evil.example|Approve> & [Approve](https://evil.example)\nsecond line",
    facts=(("Device", "<@U123> [x](https://evil.example)"),),
    links=(Link("Approve", "https://soar.contoso.example/approvals/r-1/isolate?decision=approve", "primary"),),
)


def check_teams(payload: dict) -> None:
    """What Teams' webhook documentation requires of the body, and Adaptive Card 1.4's shape."""
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    for block in card["body"]:
        assert block["type"] in ("TextBlock", "RichTextBlock")
        if block["type"] == "RichTextBlock":
            assert block["inlines"] and all(i["type"] == "TextRun" and isinstance(i["text"], str) and i["text"]
                                            for i in block["inlines"])
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["title"] and action["url"].startswith("https://")
        assert action.get("style", "default") in ("default", "positive", "destructive")
    assert len(json.dumps(payload).encode()) < 28_000  # Teams' limit on a message


def check_slack(payload: dict) -> None:
    """Block Kit's documented limits for the blocks used."""
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    ids = set()
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] == "mrkdwn" and 1 <= len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button" and button["text"]["type"] == "plain_text"
                assert 1 <= len(button["text"]["text"]) <= 75 and len(button["url"]) <= 3000
                assert button.get("style", "primary") in ("primary", "danger")
                assert button["action_id"] not in ids and len(button["action_id"]) <= 255
                ids.add(button["action_id"])
        else:
            raise AssertionError(f"unexpected block {kind}")


def test_hostile_text_adds_no_link_or_mention_in_teams():
    payload = teams_payload(HOSTILE)
    check_teams(payload)
    card = payload["attachments"][0]["content"]
    assert all(b["type"] == "RichTextBlock" for b in card["body"])  # TextRun: never read as Markdown
    runs = [i["text"] for b in card["body"] for i in b["inlines"]]
    assert HOSTILE.title in runs and "second line" in runs
    assert [a["url"] for a in card["actions"]] == [HOSTILE.links[0].url]  # the only link


def test_hostile_text_adds_no_link_or_mention_in_slack():
    payload = slack_payload(HOSTILE)
    check_slack(payload)
    shown = json.dumps(payload["blocks"][1:3]) + payload["text"]
    assert "<!channel>" not in shown and "<https://evil.example|" not in shown and "<@U123>" not in shown
    assert "&lt;!channel&gt;" in payload["text"] and "&lt;https://evil.example|Approve&gt; &amp;" in shown
    assert payload["blocks"][0]["text"]["text"] == HOSTILE.title  # plain_text: shown as written


def test_markdown_is_kept_when_the_author_asks():
    msg = Message(title="t", text="**bold** <https://x.example|x>", markdown=True)
    assert teams_payload(msg)["attachments"][0]["content"]["body"][1] == \
        {"type": "TextBlock", "text": "**bold** <https://x.example|x>", "wrap": True}
    assert slack_payload(msg)["blocks"][1]["text"]["text"] == "**bold** <https://x.example|x>"


def test_email_subject_is_one_line_and_the_body_has_every_link():
    links = (Link("Approve", "https://a.example/1"), Link("Deny", "https://a.example/2"))
    subject, body = email_parts(Message(title="a\r\nBcc: x@y.example", text="t", links=links))
    assert subject == "a Bcc: x@y.example"
    assert body == "t\n\nApprove: https://a.example/1\nDeny: https://a.example/2\n"


_text = st.text(min_size=0, max_size=6000)


@settings(max_examples=40, deadline=None)
@given(title=st.text(min_size=1, max_size=400), text=_text,
       facts=st.lists(st.tuples(st.text(min_size=1, max_size=300), st.text(max_size=3000)), max_size=45),
       links=st.lists(st.tuples(st.text(min_size=1, max_size=120), st.sampled_from(["default", "primary", "danger"])),
                      max_size=9),
       markdown=st.booleans())
def test_any_message_stays_within_both_channels_limits(title, text, facts, links, markdown):
    msg = Message(title=title, text=text, facts=tuple(facts), markdown=markdown,
                  links=tuple(Link(t, f"https://soar.example/{n}", s) for n, (t, s) in enumerate(links)))
    check_teams(teams_payload(msg))
    check_slack(slack_payload(msg))
