"""Examples from Microsoft's Kusto reference, as data for test_kql_reference_examples.py.

Each example is one ``## Examples`` query of a page of the Kusto reference (repository
MicrosoftDocs/dataexplorer-docs, folder data-explorer/kusto/query/, at the commit named), copied
verbatim, with the answer the page documents under it: the columns and the cells of its
**Output** table, as the page writes them. Only examples on inline data (print, datatable, range)
are here. Keys beyond the page's own: ``ordered=False`` where the query fixes no row order,
``columns_fixed=(names, reason)`` where the page's header misnames a column of the query (names
None: the header names a column the query does not name, and only the cells are compared),
``rows_fixed=(rows, reason)`` where a cell's text cannot be read as written (with the reason),
``skip``/``xfail`` with a checked reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

REPO = "MicrosoftDocs/dataexplorer-docs"
EXAMPLES: list[dict] = []


def ex(name: str, page: str, commit: str, query: str, columns: list[str], rows: list[list[str]],
       **extra) -> None:
    EXAMPLES.append({"id": name, "page": "data-explorer/kusto/query/" + page, "commit": commit,
                     "query": query.strip("\n"), "columns": columns, "rows": rows, **extra})
