"""runner.http.api_url: API URLs put together from a base parsed once must be exactly the URL
httpx's own parser gives for the same base, path and parameters — whatever the characters
(the fast path takes plain ones only; everything else must fall back, not be mangled)."""

from __future__ import annotations

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.http import _ParseResult, api_url, base_url

BASES = ["https://api.securitycenter.microsoft.com", "https://graph.microsoft.com/v1.0",
         "https://api-us.securitycenter.microsoft.com/", "http://127.0.0.1:8765/_host/api.security.microsoft.com"]


def _reference(base: str, path: str, params) -> httpx.URL:
    """What the API client built before: the joined string, with params given to httpx.Request."""
    return httpx.Request("GET", base + "/" + path.lstrip("/"), params=params).url


def _same(a: httpx.URL, b: httpx.URL) -> None:
    assert str(a) == str(b)
    assert (a.raw_scheme, a.raw_host, a.port, a.raw_path, a.query) == (b.raw_scheme, b.raw_host, b.port,
                                                                       b.raw_path, b.query)
    assert a == b and a.params == b.params


def test_the_fast_path_is_taken_on_this_httpx():
    # if httpx stops keeping a URL's parts in one ParseResult, every URL takes the parser:
    # still correct, but the fan-out benchmark loses ~45 µs per call — this says so
    assert _ParseResult is not None
    url = api_url(base_url(BASES[0]), "/api/machineactions", {"$filter": "machineId eq 'ab12'", "$top": 1000})
    assert url._uri_reference.query == "%24filter=machineId+eq+%27ab12%27&%24top=1000"


def test_defender_calls_as_the_actions_make_them():
    base = BASES[0]
    cases = [
        ("/api/machineactions", {"$filter": "machineId eq 'abcdef0123' and type eq 'Isolate'", "$top": 1000, "$skip": 0}),
        ("api/machines/abcdef0123/isolate", None),
        ("/api/machines", {"$filter": "computerDnsName eq 'ws-001.contoso.com'", "$top": 100, "$skip": 0}),
        ("/api/indicators", {}),
        ("/api/alerts", {"$filter": "status eq 'New'", "$expand": "evidence", "flag": True, "none": None}),
        ("/api/machines/ünïcode/isolate", None),  # falls back: the parser percent-encodes it
        ("/api/machines?$top=1", {"$skip": 2}),    # a query in the path: merged by the parser
        ("/api/files/a b#frag", None),
        ("/api/./machines/../indicators", None),   # dot segments: the parser drops them
        (".", None), ("..", {"$top": 1}),
    ]
    for b in BASES:
        for path, params in cases:
            _same(api_url(base_url(b), path, params), _reference(b, path, params))
    assert base


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)
_plain = st.text(st.sampled_from("abcXYZ019-._~/%?#+ "), max_size=30)  # near the fast path's edges
_params = st.none() | st.dictionaries(_text, _text | st.integers() | st.booleans() | st.none(), max_size=4)


@settings(max_examples=1500, deadline=None)
@given(base=st.sampled_from(BASES), path=_text | _plain, params=_params)
def test_any_path_and_params_give_httpx_s_own_url(base, path, params):
    try:
        expected = _reference(base, path, params)
    except httpx.InvalidURL:
        try:
            api_url(base_url(base), path, params)
        except httpx.InvalidURL:
            return
        raise AssertionError("api_url accepted a URL httpx refuses")
    _same(api_url(base_url(base), path, params), expected)


@settings(max_examples=500, deadline=None)
@given(path=_text | _plain, params=_params, host=st.sampled_from(["api.securitycenter.microsoft.com", "graph.microsoft.com",
                                                                  "EXAMPLE.com", "[::1]", "127.0.0.1:8443"]))
def test_relayed_urls_are_what_the_parser_makes_of_the_relay_string(path, params, host):
    from runner.http import _relay_url

    try:
        url = httpx.Request("GET", f"https://{host}/" + path.lstrip("/"), params=params).url
    except httpx.InvalidURL:
        return
    for relay in ("http://127.0.0.1:8765", "http://localhost:9000/sim"):
        expected = httpx.URL(f"{relay}/_host/{url.host}{url.raw_path.decode('ascii')}")
        _same(_relay_url(httpx.URL(relay), url), expected)
