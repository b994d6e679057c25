"""parse-kv: every example of Microsoft's reference page (MicrosoftDocs/dataexplorer-docs,
data-explorer/kusto/query/parse-kv-operator.md at commit 0c115d2e54221cd118957cadc6754148e7881859),
queries copied verbatim with the outputs the page documents, plus the mistakes a user can make."""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query

from kql_dataset import NOW

EXAMPLES = [
    ("well-defined-delimiters", '''print str="ThreadId:458745723, Machine:Node001, Text: The service is up, Level: Info"
| parse-kv str as (Text: string, ThreadId:long, Machine: string) with (pair_delimiter=',', kv_delimiter=':')
| project-away str''', {"Text": "The service is up", "ThreadId": 458745723, "Machine": "Node001"}),
    ("value-quoting", '''print str='src=10.1.1.123 dst=10.1.1.124 bytes=125 failure="connection aborted" "event time"=2021-01-01T10:00:54'
| parse-kv str as (['event time']:datetime, src:string, dst:string, bytes:long, failure:string) with (pair_delimiter=' ', kv_delimiter='=', quote='"')
| project-away str''', {"event time": "2021-01-01T10:00:54Z", "src": "10.1.1.123", "dst": "10.1.1.124", "bytes": 125,
                        "failure": "connection aborted"}),
    ("different-quotes", '''print str='src=10.1.1.123 dst=10.1.1.124 bytes=125 failure=(connection aborted) (event time)=(2021-01-01 10:00:54)'
| parse-kv str as (['event time']:datetime, src:string, dst:string, bytes:long, failure:string) with (pair_delimiter=' ', kv_delimiter='=', quote='()')
| project-away str''', {"event time": "2021-01-01T10:00:54Z", "src": "10.1.1.123", "dst": "10.1.1.124", "bytes": 125,
                        "failure": "connection aborted"}),
    ("escaped-quotes", '''print str='src=10.1.1.123 dst=10.1.1.124 bytes=125 failure="the remote host sent \\\\"bye!\\\\"" time=2021-01-01T10:00:54'
| parse-kv str as (['time']:datetime, src:string, dst:string, bytes:long, failure:string) with (pair_delimiter=' ', kv_delimiter='=', quote='"', escape='\\\\')
| project-away str''', {"time": "2021-01-01T10:00:54Z", "src": "10.1.1.123", "dst": "10.1.1.124", "bytes": 125,
                        "failure": 'the remote host sent "bye!"'}),
    ("not-greedy", '''print str='name=John Doe phone=555 5555 city=New York'
| parse-kv str as (name:string, phone:string, city:string) with (pair_delimiter=' ', kv_delimiter='=')
| project-away str''', {"name": "John", "phone": "555", "city": "New"}),
    ("greedy", '''print str='name=John Doe phone=555 5555 city=New York'
| parse-kv str as (name:string, phone:string, city:string) with (pair_delimiter=' ', kv_delimiter='=', greedy=true)
| project-away str''', {"name": "John Doe", "phone": "555 5555", "city": "New York"}),
    ("no-delimiters", '''print str="2021-01-01T10:00:34 [INFO] ThreadId:458745723, Machine:Node001, Text: Started"
| parse-kv str as (Text: string, ThreadId:long, Machine: string)
| project-away str''', {"Text": "Started", "ThreadId": 458745723, "Machine": "Node001"}),
    ("no-delimiters-quoted", '''print str="2021-01-01T10:00:34 [INFO] ThreadId:458745723, Machine:Node001, Text: 'The service \\\\' is up'"
| parse-kv str as (Text: string, ThreadId:long, Machine: string) with (quote="'", escape='\\\\')
| project-away str''', {"Text": "The service ' is up", "ThreadId": 458745723, "Machine": "Node001"}),
    ("regex", '''print str=@'["referer url: https://hostname.com/redirect?dest=/?h=1234", "request url: https://hostname.com/?h=1234", "advertiser id: 24fefbca-cf27-4d62-a623-249c2ad30c73"]'
| parse-kv str as (['referer url']:string, ['request url']:string, ['advertiser id']: guid) with (regex=@'"([\\w ]+)\\s*:\\s*([^"]*)"')
| project-away str''', {"referer url": "https://hostname.com/redirect?dest=/?h=1234",
                        "request url": "https://hostname.com/?h=1234",
                        "advertiser id": "24fefbca-cf27-4d62-a623-249c2ad30c73"}),
]


@pytest.mark.parametrize("query,row", [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES])
def test_reference_examples(tables, query, row):
    assert run_query(query, tables, now=NOW).to_json_rows() == [row]


def test_a_missing_key_is_null_or_empty_and_the_first_appearance_counts(tables):
    rows = run_query("print s = 'a=1;a=2;c=x' | parse-kv s as (a:long, b:long, c:string, d:string) "
                     "with (pair_delimiter=';', kv_delimiter='=') | project a, b, c, d", tables, now=NOW).to_json_rows()
    assert rows == [{"a": 1, "b": None, "c": "x", "d": ""}]


@pytest.mark.parametrize("query,message", [
    ("parse-kv s as (a:long) with (pair_delimiter=';')", "give both pair_delimiter and kv_delimiter"),
    ("parse-kv s as (a:long) with (regex=@'(a)=')", "exactly two groups"),
    ("parse-kv s as (a:long) with (delimiter=';')", "unknown parse-kv option"),
    ("parse-kv s with (a:long)", "expected 'as'"),
])
def test_mistakes_are_named(tables, query, message):
    with pytest.raises(KqlError, match=message):
        run_query(f"print s = 'a=1' | {query}", tables, now=NOW)
