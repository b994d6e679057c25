"""Text redaction finds every known value, however many are known, at a cost that does not
depend on their number; an Authorization header adds no value of its own to the known set."""

from __future__ import annotations

import json

import pytest

from runner import secrets
from runner.auth.token import AccessToken
from runner.secrets import MASK, Secret, redact, redact_json, register_value


@pytest.fixture(autouse=True)
def _isolated_known(monkeypatch):
    monkeypatch.setattr(secrets, "_known", {})
    monkeypatch.setattr(secrets, "_plain", None)
    monkeypatch.setattr(secrets, "_json", None)


JWT_HEAD = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."  # tokens of one issuer share their first characters


def test_every_value_sharing_a_prefix_is_found_among_thousands():
    values = [f"{JWT_HEAD}payload{i:05d}.sig{i * 7919 % 100003:06d}" for i in range(3000)]
    for v in values:
        register_value(v)
    text = f"a {values[0]} b {values[1500]} c {values[-1]} d {JWT_HEAD}payload99999.nope"
    out = redact(text)
    assert out == f"a {MASK} b {MASK} c {MASK} d {JWT_HEAD}payload99999.nope"
    assert redact("nothing secret here") == "nothing secret here"


def test_short_and_long_values_at_the_same_place_mask_the_longest():
    register_value("abcd")
    register_value("abcdefghijklmnop-long")
    assert redact("x abcdefghijklmnop-long y abcd z") == f"x {MASK} y {MASK} z"
    assert redact("abcdabcd") == MASK + MASK


def test_overlapping_occurrences_are_masked_as_one():
    register_value("1234567890-left")
    register_value("left-and-right-9876")
    assert redact("<1234567890-left-and-right-9876>") == f"<{MASK}>"


def test_json_escaped_form_is_found_and_text_itself_returned_when_clean():
    register_value('pa"ss\\word')
    text = json.dumps({"k": 'pa"ss\\word', 'pa"ss\\word': 1})
    assert redact_json(text) == '{"k": "***", "***": 1}'
    clean = '{"k": "v"}'
    assert redact_json(clean) is clean


def test_a_value_registered_after_use_is_masked_next_time():
    assert redact("late-secret-value") == "late-secret-value"
    register_value("late-secret-value")
    assert redact("late-secret-value") == MASK


def test_authorization_header_registers_no_value_of_its_own_and_is_still_masked():
    raw = f"{JWT_HEAD}claims.signature"
    token = AccessToken(value=Secret(raw, name="access_token"), tenant="t", tenant_id="id", api="mde",
                        resource="https://api.securitycenter.microsoft.com", expires_on=0)
    before = dict(secrets._known)
    header = token.authorization_header()
    assert secrets._known == before == {raw: None}
    assert str(header) == MASK and header.reveal() == f"Bearer {raw}"
    assert redact(f"sent Authorization: {header.reveal()}") == f"sent Authorization: Bearer {MASK}"
