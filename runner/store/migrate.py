"""Bringing a store made by an older soar-runner up to :data:`~runner.store.tables.SCHEMA_VERSION`.

A version adds nullable columns (:data:`~runner.store.tables.ADDED`), tables
(:data:`~runner.store.tables.CREATED`) or indexes (:data:`~runner.store.tables.INDEXED`), so an
upgrade is ``ALTER TABLE ... ADD COLUMN`` for the columns the store lacks, ``CREATE TABLE`` for
the tables and ``CREATE INDEX`` for the indexes it lacks, then the new version number — in the transaction that holds the schema lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL
advisory lock: :meth:`runner.store.database.Database._create_schema`), so two processes opening an
old store at once upgrade it once, and a failed upgrade leaves it as it was (both databases roll
back DDL with the transaction).
"""

from __future__ import annotations

from sqlalchemy import inspect, update
from sqlalchemy.schema import CreateColumn

from . import tables as t


def upgrade(conn, found: int) -> int:
    """Upgrade the store ``conn`` is in, at schema version ``found``, to the current version;
    returns the version it is at now. Columns already there are left alone."""
    if found >= t.SCHEMA_VERSION:
        return found
    catalogue = inspect(conn)
    for version in range(found + 1, t.SCHEMA_VERSION + 1):
        for table_name in t.CREATED.get(version, ()):
            t.metadata.tables[table_name].create(conn, checkfirst=True)
        for index_name in t.INDEXED.get(version, ()):
            index = next(i for table in t.metadata.tables.values() for i in table.indexes if i.name == index_name)
            index.create(conn, checkfirst=True)
        for table_name, names in t.ADDED.get(version, {}).items():
            table = t.metadata.tables[table_name]
            present = {c["name"] for c in catalogue.get_columns(table_name)}
            for name in names:
                if name in present:
                    continue
                column = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table_name} ADD COLUMN {column}")
    conn.execute(update(t.schema_version).where(t.schema_version.c.id == 1)
                 .values(version=t.SCHEMA_VERSION))
    return t.SCHEMA_VERSION
