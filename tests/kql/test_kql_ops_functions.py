"""Scalar functions and string operators with known answers (Kusto's documented results where the
reference gives an example). Each case is one ``print`` expression: (id, expression, type, value
in JSON form)."""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query

from kql_dataset import NOW

CASES = [
    # --- strings and regular expressions
    ("extract", r'extract(@"(\d+)\.(\d+)", 2, "ver 10.22")', "string", "22"),
    ("extract-no-match", r'extract(@"(\d+)", 1, "none")', "string", ""),
    ("extract-typed", r'extract(@"port=(\d+)", 1, "port=8443", typeof(long))', "long", 8443),
    ("extract-all", r'extract_all(@"(\d)", "a1b2c3")', "dynamic", ["1", "2", "3"]),
    ("extract-all-groups", r'extract_all(@"(\w)=(\d)", "a=1 b=2")', "dynamic", [["a", "1"], ["b", "2"]]),
    ("extract-named-group", r'extract(@"(?<user>\w+)@", 1, "bob@contoso.com")', "string", "bob"),
    ("matches-regex", r'"abc123" matches regex @"\d+$"', "bool", True),
    ("matches-regex-case", '"ABC" matches regex "abc"', "bool", False),
    ("replace-regex", r'replace_regex("a1b22", @"(\d+)", @"<\1>")', "string", "a<1>b<22>"),
    ("replace-string", 'replace_string("aXbX", "X", "-")', "string", "a-b-"),
    ("trim", r'trim(@"[\s_]+", "__ x __")', "string", "x"),
    ("trim-start-end", 'strcat(trim_start("a", "aab"), "|", trim_end("b", "abb"))', "string", "b|a"),
    ("substring", 'substring("abcdef", 2, 3)', "string", "cde"),
    ("indexof", 'indexof("abcabc", "c", 3)', "long", 5),
    ("indexof-missing", 'indexof("abc", "z")', "long", -1),
    ("strlen", 'strlen("héllo")', "long", 5),
    ("countof-overlapping", 'countof("aaaa", "aa")', "long", 3),
    ("countof-regex", r'countof("a1b22", @"\d", "regex")', "long", 3),
    ("split-index", 'split("a,b,c", ",")[1]', "dynamic", "b"),
    ("split-requested", 'split("a,b,c", ",", 2)', "dynamic", ["c"]),
    ("strcat-array", 'strcat_array(dynamic(["a", 1, true]), "-")', "string", "a-1-true"),
    ("strcat-delim", 'strcat_delim("|", "a", 2)', "string", "a|2"),
    ("tolower-any-type", "tolower(42)", "string", "42"),
    ("reverse", 'reverse("abc")', "string", "cba"),
    ("base64-decode", 'base64_decode_tostring("aGVsbG8=")', "string", "hello"),
    ("base64-encode", 'base64_encode_tostring("hello")', "string", "aGVsbG8="),
    ("url-decode", 'url_decode("a%20b%2Fc")', "string", "a b/c"),
    ("hash-sha256", 'hash_sha256("abc")', "string",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("parse-csv", 'parse_csv(\'a,"b ""q"", c",d\')', "dynamic", ["a", 'b "q", c', "d"]),
    ("format-bytes", "strcat(format_bytes(1536), ' / ', format_bytes(1536, 2, 'KB'))", "string", "2 KB / 1.50 KB"),
    ("indexof-regex", r'indexof_regex("abc123", @"\d")', "long", 3),
    ("has-any-index", "has_any_index('this is an example', dynamic(['what', 'example']))", "long", 1),
    ("unicode-codepoints", 'unicode_codepoints_from_string("Ab")', "dynamic", [65, 98]),
    ("has-all", '"cmd.exe /c whoami" has_all ("cmd", "whoami")', "bool", True),
    ("has-all-missing", '"cmd.exe /c whoami" has_all ("cmd", "net")', "bool", False),
    ("has-any", '"cmd.exe /c whoami" has_any ("net", "WHOAMI")', "bool", True),
    ("hasprefix", '"Invoke-WebRequest" hasprefix "invo"', "bool", True),
    ("hassuffix-cs", '"Invoke-WebRequest" hassuffix_cs "request"', "bool", False),
    ("startswith-cs", '"PowerShell" startswith_cs "power"', "bool", False),
    ("not-contains", '"PowerShell" !contains "SHELL"', "bool", False),
    ("not-has", '"a b c" !has "b"', "bool", False),
    ("in-tilde", '"ABC" in~ ("abc", "x")', "bool", True),
    ("not-in", '"abc" !in ("abc")', "bool", False),
    ("in-dynamic-let", '"b" in (dynamic(["a", "b"]))', "bool", True),
    # --- dynamic values
    ("parse-json-path", 'parse_json(\'{"a": {"b": [1, 2]}}\').a.b[1]', "dynamic", 2),
    ("dotted-key-brackets", 'parse_json(\'{"TO.GROUP": 5}\').["TO.GROUP"]', "dynamic", 5),
    ("todynamic", 'todynamic("[1,2]")[0]', "dynamic", 1),
    ("array-length", 'array_length(dynamic([1, 2, 3]))', "long", 3),
    ("array-index-of", 'array_index_of(dynamic(["a", "b"]), "b")', "long", 1),
    ("set-difference", "set_difference(dynamic([1, 2, 3]), dynamic([2]))", "dynamic", [1, 3]),
    ("set-union", "set_union(dynamic([1, 2]), dynamic([2, 3]))", "dynamic", [1, 2, 3]),
    ("set-intersect", "set_intersect(dynamic([1, 2]), dynamic([2, 3]))", "dynamic", [2]),
    ("pack", 'pack("a", 1, "b", "x")', "dynamic", {"a": 1, "b": "x"}),
    ("bag-pack", 'bag_pack("k", dynamic([1]))', "dynamic", {"k": [1]}),
    ("pack-array", 'pack_array(1, "a")', "dynamic", [1, "a"]),
    ("bag-keys", 'bag_keys(dynamic({"x": 1, "y": 2}))', "dynamic", ["x", "y"]),
    ("bag-merge", 'bag_merge(dynamic({"a": 1}), dynamic({"a": 2, "b": 3}))', "dynamic", {"a": 1, "b": 3}),
    ("array-concat-slice", "array_slice(array_concat(dynamic([1, 2]), dynamic([3, 4])), 1, 2)", "dynamic", [2, 3]),
    ("array-sort", "array_sort_desc(dynamic([2, 3, 1]))", "dynamic", [3, 2, 1]),
    ("range-function", "range(1, 7, 3)", "dynamic", [1, 4, 7]),
    ("array-shift-rotate", "pack_array(array_shift_left(dynamic([1, 2, 3]), 1), array_shift_right(dynamic([1, 2, 3]), 1, -1), "
                           "array_rotate_left(dynamic([1, 2, 3, 4]), 1))", "dynamic", [[2, 3, None], [-1, 1, 2], [2, 3, 4, 1]]),
    ("array-split", "array_split(dynamic([1, 2, 3, 4, 5]), dynamic([1, 3]))", "dynamic", [[1], [2, 3], [4, 5]]),
    ("zip", 'zip(dynamic([1, 2]), dynamic(["a", "b"]))', "dynamic", [[1, "a"], [2, "b"]]),
    ("jaccard", "jaccard_index(dynamic([1, 2, 3]), dynamic([2, 3, 4]))", "real", 0.5),
    ("geo-info-empty", 'geo_info_from_ip_address("8.8.8.8")', "dynamic", {}),
    ("parse-url", 'parse_url("https://u:p@host.example:8443/a/b?x=1&y=2#f")', "dynamic",
     {"Scheme": "https", "Host": "host.example", "Port": "8443", "Path": "a/b", "Username": "u",
      "Password": "p", "Query Parameters": {"x": "1", "y": "2"}, "Fragment": "f"}),
    ("parse-path", r'parse_path(@"C:\Windows\System32\cmd.exe")', "dynamic",
     {"Scheme": "", "RootPath": "C:", "DirectoryPath": "C:\\Windows\\System32", "DirectoryName": "System32",
      "Filename": "cmd.exe", "Extension": "exe", "AlternateDataStreamName": ""}),
    ("parse-command-line", r'parse_command_line(@"""C:\a b\x.exe"" -f ""q r"" z", "windows")', "dynamic",
     ["C:\\a b\\x.exe", "-f", "q r", "z"]),
    # --- IP addresses
    ("ipv4-is-private", 'ipv4_is_private("10.1.2.3")', "bool", True),
    ("ipv4-is-public", 'ipv4_is_private("203.0.113.66")', "bool", False),
    ("ipv4-is-match", 'ipv4_is_match("10.1.2.3", "10.1.0.0", 16)', "bool", True),
    ("ipv4-compare", 'ipv4_compare("10.1.2.3", "10.1.2.4")', "long", -1),
    ("ipv4-in-range", 'ipv4_is_in_range("192.168.1.7", "192.168.1.0/24")', "bool", True),
    ("ipv4-in-any-range", 'ipv4_is_in_any_range("8.8.8.8", "10.0.0.0/8", "8.8.0.0/16")', "bool", True),
    ("parse-ipv4", 'parse_ipv4("1.2.3.4")', "long", 16909060),
    ("format-ipv4-mask", 'format_ipv4_mask("10.1.2.3", 24)', "string", "10.1.2.0/24"),
    ("has-ipv4", 'has_ipv4("from 10.0.0.1:445", "10.0.0.1")', "bool", True),
    # --- conversions and logic
    ("toint", 'toint("12")', "int", 12),
    ("toint-bad", 'toint("x")', "int", None),
    ("tolong-truncates", "tolong(3.9)", "long", 3),
    ("todouble", 'todouble("1.5")', "real", 1.5),
    ("toreal", "toreal(2)", "real", 2.0),
    ("tobool", 'tobool("TRUE")', "bool", True),
    ("todatetime", 'todatetime("2026-01-02 03:04:05")', "datetime", "2026-01-02T03:04:05Z"),
    ("todatetime-us", 'todatetime("01/16/2022 5:00 PM")', "datetime", "2022-01-16T17:00:00Z"),
    ("totimespan", 'totimespan("1.02:00:00")', "timespan", "1.02:00:00"),
    ("toguid", 'toguid("6F1C2F8E-1B7A-4C1E-9C1D-0A9B8C7D6E5F")', "guid", "6f1c2f8e-1b7a-4c1e-9c1d-0a9b8c7d6e5f"),
    ("tostring-dynamic", 'tostring(dynamic({"a": [1]}))', "string", '{"a":[1]}'),
    ("iff", 'iff(1 > 2, "x", "y")', "string", "y"),
    ("iif", "iif(true, 1, 2)", "long", 1),
    ("case", "case(false, 1, true, 2, 3)", "long", 2),
    ("coalesce", 'coalesce("", "b", "c")', "string", "b"),
    ("isempty", 'isempty("")', "bool", True),
    ("isnotnull", "isnotnull(int(null))", "bool", False),
    ("bool-equals-number", "true == 1", "bool", True),
    ("gettype", 'gettype(dynamic([1]))', "string", "array"),
    # --- numbers
    ("round", "round(2.567, 2)", "real", 2.57),
    ("round-long", "round(7)", "long", 7),
    ("log", "round(log(10), 4)", "real", 2.3026),
    ("pow", "pow(2, 10)", "real", 1024.0),
    ("abs", "abs(-3)", "long", 3),
    ("floor", "floor(17, 5)", "long", 15),
    ("bin-real", "bin(7.5, 2)", "real", 6.0),
    ("max-of", "max_of(3, 9, 4)", "long", 9),
    ("binary-and", "binary_and(12, 10)", "long", 8),
    # --- hash(): Microsoft's documented xxhash64 values
    ("hash-string", 'hash("World")', "long", 1846988464401551951),
    ("hash-mod", 'hash("World", 100)', "long", 51),
    ("hash-datetime", "hash_xxhash64(datetime(2015-01-01))", "long", 1380966698541616202),
    ("hash-null", "hash(long(null))", "long", None),
    ("sin", "sin(pi() / 2)", "real", 1.0),
    ("cos", "cos(0)", "real", 1.0),
    ("atan2", "round(atan2(1, 1) * 4, 6)", "real", 3.141593),
    ("degrees", "degrees(pi())", "real", 180.0),
    ("asin-out-of-range", "isnan(asin(2))", "bool", True),
    ("toscalar-of-a-scalar", "toscalar(array_length(dynamic([1, 2, 3])))", "long", 3),
    # --- time
    ("datetime-diff-day", "datetime_diff('day', datetime(2017-10-29 00:00), datetime(2017-09-30 23:59))", "long", 29),
    ("datetime-diff-month", "datetime_diff('month', datetime(2017-01-01), datetime(2000-12-31))", "long", 193),
    ("datetime-diff-week", "datetime_diff('week', datetime(2017-10-29 00:00), datetime(2017-09-30 23:59))",
     "long", 5),
    ("datetime-diff-hour", "datetime_diff('hour', datetime(2017-10-31 01:00), datetime(2017-10-30 23:59))",
     "long", 2),
    ("datetime-add", "datetime_add('month', 1, datetime(2017-01-31))", "datetime", "2017-02-28T00:00:00Z"),
    ("datetime-part", "datetime_part('hour', datetime(2026-11-23 10:37))", "int", 10),
    ("startofweek", "startofweek(datetime(2026-11-25 10:00))", "datetime", "2026-11-22T00:00:00Z"),
    ("startofmonth", "startofmonth(datetime(2026-11-25))", "datetime", "2026-11-01T00:00:00Z"),
    ("startofyear-offset", "startofyear(datetime(2026-11-25), -1)", "datetime", "2025-01-01T00:00:00Z"),
    ("endofday", "endofday(datetime(2026-11-23))", "datetime", "2026-11-23T23:59:59.999999Z"),
    ("dayofweek", "dayofweek(datetime(2026-11-25))", "timespan", "3.00:00:00"),
    ("hourofday", "hourofday(datetime(2026-11-23 10:37))", "int", 10),
    ("format-datetime", 'format_datetime(datetime(2026-01-02 03:04:05.123), "yyyy-MM-dd HH:mm:ss.fff")', "string",
     "2026-01-02 03:04:05.123"),
    ("format-timespan", 'format_timespan(1d + 2h + 3m, "d.hh:mm")', "string", "1.02:03"),
    ("bin-datetime", "bin(datetime(2026-11-23 10:37), 15m)", "datetime", "2026-11-23T10:30:00Z"),
    ("make-datetime", "make_datetime(2026, 2, 3, 4, 5, 6)", "datetime", "2026-02-03T04:05:06Z"),
    ("unixtime", "unixtime_seconds_todatetime(0)", "datetime", "1970-01-01T00:00:00Z"),
    ("ago-now", "now() - ago(2d)", "timespan", "2.00:00:00"),
    ("timespan-forms", "1d + 2h + 30m + 10s + 100ms + 1tick + 1microsecond", "timespan", "1.02:30:10.1000010"),
    ("datetime-time-of-day-is-today", 'datetime("5:00:00 PM") - startofday(now())', "timespan", "17:00:00"),
]


@pytest.mark.parametrize("expression,kql,value", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_function_answers(tables, expression, kql, value):
    result = run_query(f"print v = {expression}", tables, now=NOW)
    assert [c.type for c in result.columns] == [kql]
    assert result.to_json_rows() == [{"v": value}]


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


def test_ingestion_time_is_the_rows_timestamp(tables):
    """Documented choice: the simulator ingests each event when it happens."""
    rows = run_query("DeviceProcessEvents | where ingestion_time() > ago(90m) "
                     "| project FileName, t = ingestion_time() == Timestamp", tables, now=NOW).rows
    assert rows == [{"FileName": "powershell.exe", "t": True}, {"FileName": "powershell.exe", "t": True}]
    after = run_query("DeviceProcessEvents | summarize n = count() | extend t = ingestion_time()", tables, now=NOW)
    assert after.rows == [{"n": 8, "t": None}]


def test_column_ifexists_and_pack_all(tables):
    result = run_query('DeviceInfo | where DeviceId == "d4" | project a = column_ifexists("OSPlatform", "?"), '
                       'b = column_ifexists("Nope", "?"), DeviceId | extend all = pack_all(true)', tables, now=NOW)
    assert result.to_json_rows() == [{"a": "macOS", "b": "?", "DeviceId": "d4",
                                      "all": {"a": "macOS", "b": "?", "DeviceId": "d4"}}]


def test_column_ifexists_takes_a_constant_string_let(tables):
    query = ('let K = "OSPlatform"; let Missing = "Nope"; DeviceInfo | where DeviceId == "d4" '
             '| project a = column_ifexists(K, "?"), b = column_ifexists(Missing, "?")')
    assert run_query(query, tables, now=NOW).to_json_rows() == [{"a": "macOS", "b": "?"}]
    with pytest.raises(KqlError, match="expects a column name"):  # a column's values are no name
        run_query('DeviceInfo | project a = column_ifexists(DeviceName, "?")', tables, now=NOW)


def test_toscalar_of_a_scalar_let_is_its_value(tables):
    assert run_query("let n = 5; print x = toscalar(n) * 2", tables, now=NOW).to_json_rows() == [{"x": 10}]


def test_string_operators_on_columns(tables):
    def count(predicate: str) -> int:
        return run_query(f"DeviceProcessEvents | where {predicate} | count", tables, now=NOW).rows[0]["Count"]
    assert count('FileName has_cs "PowerShell"') == 1
    assert count('FileName =~ "POWERSHELL.EXE"') == 3
    assert count('FileName == "powershell.exe"') == 2
    assert count('ProcessCommandLine matches regex @"\\s/c\\s"') == 1
    assert count('ProcessCommandLine has_all ("powershell", "Command")') == 1
    assert count('FileName !startswith "power"') == 5
