"""The warehouse a step reads: a DuckDB file (the default engine) or a PostgreSQL database
(PILOTAGE_WAREHOUSE_ENGINE=postgres), behind one small interface so that the load's checks and
the quarantine reports are written once: ``connect(warehouse)`` gives a connection whose
``execute(sql, params)`` takes ``?`` placeholders and returns a cursor (``fetchone``,
``fetchall``). The SQL given to it must be portable (information_schema, no DuckDB-only
functions)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pilotage.settings import PostgresSettings

if TYPE_CHECKING:
    from pilotage.settings import Settings

# A DuckDB file, or the PostgreSQL server of the postgres engine (its warehouse database).
Warehouse = Path | PostgresSettings


def warehouse_of(settings: Settings) -> Warehouse:
    """Where these settings' pipeline loads and builds: the PostgreSQL warehouse database on the
    postgres engine, the DuckDB file otherwise."""
    return settings.postgres if settings.on_postgres else settings.warehouse_path


def describe(warehouse: Warehouse) -> str:
    """The warehouse as error messages name it."""
    if isinstance(warehouse, PostgresSettings):
        return f"the PostgreSQL database {warehouse.database} on {warehouse.host}:{warehouse.port}"
    return str(warehouse)


def exists(warehouse: Warehouse) -> bool:
    """False for a DuckDB file never written; a server database is taken to exist."""
    return isinstance(warehouse, PostgresSettings) or Path(warehouse).exists()


class _PostgresConnection:
    """A psycopg2 connection speaking the DuckDB connection's ``execute(sql, params)``."""

    dialect = "postgres"  # DuckDB's connection has none: SQL that differs asks for it

    def __init__(self, connection) -> None:  # noqa: ANN001 - a psycopg2 connection
        self.connection = connection

    def execute(self, sql: str, params: Sequence = ()):  # noqa: ANN201 - a psycopg2 cursor
        cursor = self.connection.cursor()
        cursor.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return cursor


@contextlib.contextmanager
def connect(warehouse: Warehouse, *, read_only: bool = True) -> Iterator:
    """A connection to the warehouse, closed on exit (read-only by default)."""
    if isinstance(warehouse, PostgresSettings):
        import psycopg2

        connection = psycopg2.connect(**warehouse.connect_args())
        connection.set_session(readonly=read_only, autocommit=read_only)
        try:
            yield _PostgresConnection(connection)
            if not read_only:
                connection.commit()
        finally:
            connection.close()
        return
    import duckdb

    connection = duckdb.connect(str(warehouse), read_only=read_only)
    try:
        yield connection
    finally:
        connection.close()
