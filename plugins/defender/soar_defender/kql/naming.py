"""Column names for unnamed expressions, inferred the way Kusto infers them.

``project tostring(AdditionalFields.Name)`` makes a column ``AdditionalFields_Name``,
``summarize dcount(DeviceId)`` a column ``dcount_DeviceId``, ``by bin(Timestamp, 1h)`` keeps
``Timestamp``, ``bin(B5m = Timestamp, 5m)`` is ``B5m`` (a named argument names the result), and
an expression with no inferable name gets ``Column1``, ``Column2``, ... Each function has a
*result-name kind*, as in the Kusto language service:

- first argument: the name of the first argument (``tostring``, ``bin``, ``round``, ...);
- prefix and first argument: ``<prefix>_<name of the first argument>`` (aggregates: ``count_``,
  ``dcount_x``, ``set_x`` for make_set, ...);
- only argument: the argument's name when there is exactly one argument;
- prefix only: a fixed name (``ingestion_time()`` → ``$IngestionTime``);
- none: no name (``strcat``, ``iff``, ``extract``, ...).
"""

from __future__ import annotations

from typing import Any

from . import syntax as s

_FIRST_ARGUMENT = frozenset("""
tostring tohex todynamic toobject tolong toint toreal todouble todatetime totimespan totime tobool
toboolean todecimal toguid parse_csv parsejson parse_json parse_xml split format_datetime format_timespan
startofday bin floor bin_at bin_auto binary_and binary_or binary_xor binary_not binary_shift_right
binary_shift_left bitset_count_ones round ceiling pow sqrt log log2 log10 exp exp2 exp10 cos sin tan acos
asin atan atan2 abs rand gamma loggamma format_bytes series_fir series_outliers series_iir
series_fill_backward series_fill_forward series_fill_const series_fill_linear datetime_to_locale_string
take_anyif binary_all_or binary_all_and binary_all_xor passthrough
""".split())
_ONLY_ARGUMENT = frozenset({"make_datetime", "make_timespan"})
_NAME_AND_FIRST = frozenset({"strlen", "string_size", "percentile_tdigest", "dcount_hll"})
_PREFIX_AND_FIRST = {
    "gettype": "type", "treepath": "tree", "repeat": "repeat", "sum": "sum", "sumif": "sumif", "cnt": "cnt",
    "count": "count", "countif": "countif", "dcount": "dcount", "dcountif": "dcountif", "tdigest": "tdigest",
    "hll": "hll", "hll_if": "hll_if", "hll_merge": "hll_merge", "min": "min", "minif": "minif", "max": "max",
    "maxif": "maxif", "avg": "avg",
    "avgif": "avgif", "makelist": "list", "make_list": "list", "make_list_if": "list",
    "make_list_with_nulls": "list", "makeset": "set", "make_set": "set", "make_set_if": "set",
    "make_bag": "bag", "make_bag_if": "bag", "make_dictionary": "dictionary", "buildschema": "schema",
    "stdev": "stdev", "stdevif": "stdevif", "stdevp": "stdevp", "variance": "variance",
    "varianceif": "varianceif", "variancep": "variancep", "any": "any", "anyif": "anyif",
    "count_distinct": "count_distinct", "count_distinctif": "count_distinctif",
}
_PREFIX_ONLY = {"ingestion_time": "$IngestionTime"}


def result_name(node: Any, default: str | None = "") -> str | None:
    """The column name Kusto gives ``node`` in a projection ('' or ``default`` when none)."""
    kind = type(node)
    if kind is s.Name:
        return node.name
    if kind is s.NamedArg:
        return node.name
    if kind is s.Member:
        target = result_name(node.target, None)
        right = node.key if isinstance(node.key, str) else _literal_name(node.key, None)
        if right is None:
            return default
        return f"{target}_{right}" if target and target.strip() else right
    if kind is s.Call:
        return _call_name(node, default)
    return default


def _literal_name(node: Any, default: str | None) -> str | None:
    if type(node) is s.Literal and node.type in ("string", "long", "int") and node.value is not None:
        return str(node.value)
    return default


def _call_name(node: s.Call, default: str | None) -> str | None:
    name, args = node.name, node.args
    if name in _FIRST_ARGUMENT:
        return result_name(args[0], default) if args else None
    if name in _ONLY_ARGUMENT:
        return result_name(args[0], default) if len(args) == 1 else default
    prefix = name if name in _NAME_AND_FIRST else _PREFIX_AND_FIRST.get(name)
    if prefix is not None:
        if args:
            return f"{prefix}_{result_name(args[0], default) or ''}"
        return f"{prefix}_"
    if name in _PREFIX_ONLY:
        return _PREFIX_ONLY[name]
    if name == "column_ifexists" and args and type(args[0]) is s.Literal:
        return str(args[0].value)
    return default


class ColumnNamer:
    """Hands out names for one projection: an inferred name, or the next free ``ColumnN``."""

    def __init__(self, taken, pattern: str = "Column{}", first: int = 1, *, columns=None) -> None:
        self.taken = taken
        self.pattern = pattern
        self.counter = first - 1
        self.columns = columns  # print: a bare name that is no column (a let scalar) is unnamed

    def name(self, assign: s.Assign) -> str:
        if assign.name:
            return assign.name
        bare = type(assign.expr) is s.Name
        inferred = "" if bare and self.columns is not None and assign.expr.name not in self.columns \
            else result_name(assign.expr, "")
        if inferred:
            return inferred
        while True:  # unnamed expressions are Column1, Column2, ... (print_0, print_1, ...) as in KQL
            self.counter += 1
            name = self.pattern.format(self.counter)
            if name not in self.taken:
                return name
