"""``externaldata(...)[urls] with (format=...)`` over local copies of its URLs.

The simulator fetches no URL. Whoever runs it may give it a local copy of a URL a query reads
(``DefenderConfig.hunting_external_data``: URL → file); :func:`evaluate_external` reads the copies
of every URL of the query, parses them as ``format`` says, and types each value as the declared
column. A URL with no copy is refused, in the "not supported" form, saying how to give one.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Callable

from . import syntax as s
from .convert import convert_to
from .errors import not_supported, semantic_error
from .model import Column, Relation, to_kql_string

#: fn(url) -> the text of the local copy, or None when the simulator has none
Resolver = Callable[[str], "str | None"]

_DELIMITERS = {"csv": ",", "tsv": "\t", "tsve": "\t", "scsv": ";", "psv": "|", "sohsv": "\x01"}
_JSON = {"json", "multijson"}
MAX_ROWS = 1_000_000


def evaluate_external(node: s.ExternalData, resolve: Resolver | None, constant: Callable[[Any], Any]) -> Relation:
    """The rows of ``node`` from the local copies ``resolve`` gives; ``constant`` evaluates a
    constant expression (a URL, an option's value)."""
    options = {}
    for arg in node.options:
        name = getattr(arg, "name", None)
        if name is None:
            raise semantic_error(node.text, node.pos, "the options of 'with (...)' are name = value")
        # a bare word is the value as text (with (format=multijson)), as Kusto reads it
        options[name.lower()] = arg.expr.name if type(arg.expr) is s.Name else constant(arg.expr)
    fmt = to_kql_string(options.get("format", "csv")).lower()
    if fmt not in _DELIMITERS and fmt not in _JSON and fmt not in ("txt", "raw"):
        raise not_supported(f"{node.text} format '{fmt}'", node.pos, operator=node.text)
    skip_first = options.get("ignorefirstrecord") is True
    rows: list[dict] = []
    for url_node in node.urls:
        url = to_kql_string(constant(url_node))
        text = resolve(url) if resolve is not None else None
        if text is None:
            raise not_supported(node.text, node.pos, operator=node.text,
                                detail=f"the simulator fetches no URLs, and it was given no local copy of {url}: "
                                       "give it one (hunting_external_data: {URL: file}, e.g. soar sim serve "
                                       "--set 'defender.hunting_external_data={\"URL\": \"/path/copy.csv\"}'), "
                                       "or put the values in a datatable(...)")
        rows += _records(text, fmt, node.columns, skip_first)
        if len(rows) > MAX_ROWS:
            raise semantic_error(node.text, node.pos, f"externaldata reads more than {MAX_ROWS:,} rows",
                                 code="LimitsExceeded")
    return Relation([Column(n, k) for n, k in node.columns], rows)


def _records(text: str, fmt: str, columns: tuple, skip_first: bool) -> list[dict]:
    if fmt in _JSON:
        return [_typed_by_name(item, columns) for item in _json_items(text)]
    if fmt in ("txt", "raw"):
        lines = [text] if fmt == "raw" else text.splitlines()
        values = [[line] for line in lines if fmt == "raw" or line.strip()]
    else:
        values = [row for row in csv.reader(io.StringIO(text), delimiter=_DELIMITERS[fmt]) if row]
    if skip_first:
        values = values[1:]
    return [_typed_by_position(v, columns) for v in values]


def _json_items(text: str) -> list:
    stripped = text.strip()
    if stripped.startswith("["):
        items = json.loads(stripped)
        return items if isinstance(items, list) else [items]
    decoder, items, i = json.JSONDecoder(), [], 0
    while i < len(stripped):  # multijson: objects one after another, whatever the line breaks
        item, end = decoder.raw_decode(stripped, i)
        items.append(item)
        i = end
        while i < len(stripped) and stripped[i] in " \t\r\n,":
            i += 1
    return items


def _value(text: Any, kql: str) -> Any:
    if kql == "string":
        return to_kql_string(text)
    if kql == "dynamic":
        if isinstance(text, str):
            try:
                return json.loads(text)
            except ValueError:
                return text
        return text
    if text is None or text == "":
        return None
    return convert_to(text, kql)


def _typed_by_position(values: list, columns: tuple) -> dict:
    return {name: _value(values[i] if i < len(values) else None, kql) for i, (name, kql) in enumerate(columns)}


def _typed_by_name(item: Any, columns: tuple) -> dict:
    bag = item if isinstance(item, dict) else {}
    return {name: _value(bag.get(name), kql) for name, kql in columns}
