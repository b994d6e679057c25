"""Advanced-hunting table schemas: every table of Microsoft's Defender XDR advanced hunting
schema, with its column names, order and types as the schema reference gives them (the
column lists and where they come from are in :mod:`.schema_columns`).

The simulated tenants serve all of these tables; the ones :mod:`.tables` has nothing to seed
for are present and empty, so a query on them evaluates and returns no rows. A name that is
not in :data:`SCHEMAS` is still refused with a "Did you mean" hint; a real table that an API
does not serve (the MDE API serves the Device* tables only) is refused with
:func:`unserved_table_hint`, never with a typo hint.
"""

from __future__ import annotations

from .model import Column
from .schema_columns import COLUMN_SPECS


def _columns(spec: str) -> list[Column]:
    return [Column(*item.split(":")) for item in spec.split()]


#: table name → its columns, in the reference's order.
SCHEMAS: dict[str, list[Column]] = {table: _columns(spec) for table, spec in COLUMN_SPECS.items()}

#: The MDE advanced-queries API (/api/advancedqueries/run) covers only the Device* tables.
MDE_TABLES = frozenset(t for t in SCHEMAS if t.startswith("Device"))


def unserved_table_hint(name: str) -> str | None:
    """What to say when ``name`` is a real advanced-hunting table that the tables given to the
    evaluator do not include (``None`` if it is no such table: then it is a typo)."""
    if name not in SCHEMAS:
        return None
    if name not in MDE_TABLES:
        return (f"'{name}' is an advanced hunting table, but not one this endpoint serves: the MDE API "
                "(/api/advancedqueries/run) serves the Device* tables only; query it through Graph "
                "runHuntingQuery or /api/advancedhunting/run")
    return f"'{name}' is an advanced hunting table, but this tenant's hunting data does not include it"
