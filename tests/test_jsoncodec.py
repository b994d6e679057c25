"""runner.jsoncodec: an answer read by orjson must be exactly what the stdlib (httpx's
``response.json()``) reads — same values, same types, refusals included — and orjson must
actually be the one reading an ordinary answer."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner import jsoncodec
from runner.jsoncodec import dumps_text, loads

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


def _same(a, b) -> None:
    """Equal, with the same type at every level (``1 == 1.0`` is not enough)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


@settings(max_examples=300, deadline=None)
@given(_json, st.sampled_from([None, 1]))
def test_answers_read_as_the_stdlib_reads_them(value, indent):
    data = json.dumps(value, indent=indent, ensure_ascii=False).encode()
    _same(loads(data), json.loads(data))


_digits = st.text("0123456789", min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(sign=st.sampled_from(["", "-"]), whole=_digits, fraction=st.none() | _digits,
       where=st.sampled_from(["{}", '{{"n": {}}}', "[1, {}]", "[{}]", ' {} ', '{{"a":[0,\n {}]}}']))
def test_long_numbers_anywhere_keep_their_type_and_value(sign, whole, fraction, where):
    number = sign + (whole.lstrip("0") or "0") + (f".{fraction}" if fraction is not None else "")
    data = where.format(number).encode()
    _same(loads(data), json.loads(data))


def test_integers_beyond_64_bits_stay_integers():
    _same(loads(b'{"n": -9223372036854775809, "m": [18446744073709551616]}'),
          {"n": -9223372036854775809, "m": [18446744073709551616]})
    _same(loads(b"123456789012345678901234567890"), 123456789012345678901234567890)
    _same(loads(b'{"id": "1234567890123456789012", "n": 12}'), {"id": "1234567890123456789012", "n": 12})


def test_answers_orjson_refuses_are_read_by_the_stdlib():
    assert math.isnan(loads(b'{"v": NaN}')["v"])  # NaN, as response.json() reads it
    assert loads('{"a": 1}'.encode("utf-16")) == {"a": 1}  # a BOM: the stdlib detects the encoding
    assert loads('{"a": "é"}') == {"a": "é"}  # text, not bytes
    with pytest.raises(ValueError):
        loads(b"<html>502 Bad Gateway</html>")


def test_an_ordinary_answer_is_read_by_orjson(monkeypatch):
    refused = SimpleNamespace(loads=lambda data: pytest.fail(f"the stdlib read {data!r}"))
    monkeypatch.setattr(jsoncodec, "json", refused)
    page = {"value": [{"id": "9f548e4f1fecb08831127477412385426355228f", "osBuild": 22514, "n": 922337203685477580}]}
    assert loads(json.dumps(page).encode()) == page  # an id with a 19-digit run, an 18-digit number
    with pytest.raises(pytest.fail.Exception):
        loads(b'{"n": 9223372036854775808}')  # 19 digits: the stdlib's


def test_store_text_leaves_unknown_values_to_the_caller():
    assert dumps_text({"a": [1, "é"]}, str) == '{"a":[1,"é"]}'
    assert dumps_text({"big": 2 ** 70}, str) is None  # the stdlib encoder decides
