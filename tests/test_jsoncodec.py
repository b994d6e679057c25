"""runner.jsoncodec: request bodies and answers read and written by orjson must be what httpx's
own ``json=`` / ``response.json()`` (the stdlib) would give, refusals included."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.jsoncodec import body_bytes, dumps_text, loads

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


def _httpx_body(value) -> bytes:
    return httpx.Request("POST", "https://x.test/", json=value).content


@settings(max_examples=300, deadline=None)
@given(_json.filter(lambda v: v is not None))  # json=None is no body at all, in httpx and in Sender
def test_bodies_decode_to_what_httpx_would_send(value):
    ours = body_bytes(value)
    assert json.loads(ours) == json.loads(_httpx_body(value))
    assert loads(ours) == json.loads(ours)


def test_bodies_keep_non_ascii_and_are_compact():
    value = {"Comment": "isolé — ws-001", "n": [1, 2]}
    assert body_bytes(value) == _httpx_body(value) == '{"Comment":"isolé — ws-001","n":[1,2]}'.encode()


@pytest.mark.parametrize("bad", [math.nan, {"a": [1.0, math.inf]}, (-math.inf,)])
def test_non_finite_numbers_are_refused_as_httpx_refuses_them(bad):
    with pytest.raises(ValueError):
        _httpx_body(bad)
    with pytest.raises(ValueError):
        body_bytes(bad)


def test_integers_beyond_64_bits_stay_integers():
    assert loads(b'{"n": -9223372036854775809, "m": [18446744073709551616]}') == \
        {"n": -9223372036854775809, "m": [18446744073709551616]}
    assert loads(b'{"id": "1234567890123456789012", "n": 12}') == {"id": "1234567890123456789012", "n": 12}


def test_answers_orjson_refuses_are_read_by_the_stdlib():
    assert loads(b'{"v": NaN}')["v"] != loads(b'{"v": NaN}')["v"]  # NaN, as response.json() reads it
    assert loads('{"a": 1}'.encode("utf-16")) == {"a": 1}  # a BOM: the stdlib detects the encoding
    with pytest.raises(ValueError):
        loads(b"<html>502 Bad Gateway</html>")


def test_store_text_leaves_unknown_values_to_the_caller():
    assert dumps_text({"a": [1, "é"]}, str) == '{"a":[1,"é"]}'
    assert dumps_text({"big": 2 ** 70}, str) is None  # the stdlib encoder decides
