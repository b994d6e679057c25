"""A KQL subset evaluator for the simulated advanced-hunting endpoints.

    from soar_defender.kql import run_query, KqlError, Table, Column
    result = run_query('DeviceInfo | where OSPlatform == "Windows11" | count', tables, now=now)

Pure Python: a tokenizer and recursive-descent parser build a syntax tree, expressions are
compiled once into closures, operators loop over lists of dicts. Nothing in a query is ever
passed to ``eval``/``exec``. The supported subset and the error format are in docs/kql.md.

Modules:
- text to tree: lexer → expression_parser (scalars) / parser_ops (``| operator`` steps) /
  parser_reshape (``find``, ``partition``) / graph_parser (``make-graph`` and the graph operator
  after it) / parser (statements, sources) → syntax (the tree);
- compiling: compiler (expressions → closures), operators (comparisons, string operators,
  arithmetic), naming (Kusto's inferred column names), catalog (every real KQL name);
- functions: signatures (arity and type rules), functions (core and the registry), strings,
  regex, timefuncs, dynamic, network, convert (casts);
- running: evaluator (lets, sources, functions), tabular (row operators), joins (join, lookup,
  union, search), find, expand (mv-expand, mv-apply, parse, evaluate, invoke), reshape
  (evaluate pivot, partition), graph (make-graph, graph-to-table) + graph_match (graph-match's
  search) + graph_expr (its node and edge properties), defender (FileProfile
  and the other Defender functions), aggregates + aggfuncs (summarize);
- model holds Table/Column/QueryResult and value conversions; schemas and tables hold the
  Defender table schemas and the seed-data generator; api renders the Graph / XDR / MDE
  hunting answers; errors holds KqlError.
"""

from __future__ import annotations

from .errors import KqlError
from .evaluator import run_query
from .model import API_TYPE_NAMES, Column, QueryResult, Table

__all__ = ["API_TYPE_NAMES", "Column", "KqlError", "QueryResult", "Table", "run_query"]
