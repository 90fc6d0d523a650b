"""A live ERP database for the demo: the ERP extract files written by the generator, as tables.

``populate_erp_database(landing_dir, url)`` creates one typed table per ERP extract (the names,
columns and primary keys of ``ingestion.extracts.ERP_EXTRACTS``) in the SQL database at ``url``
and fills it with the rows of the extract files under ``landing_dir`` (read and checked exactly as
the file source reads them; several drops of an object give the newest version of each row by its
``updated_at``). Idempotent: the ERP tables are dropped and recreated with the same rows, in one
transaction where the database allows it (PostgreSQL does).

Types: strings ``TEXT``, money ``NUMERIC(18,2)``, quantities ``NUMERIC(18,3)``, dates ``DATE``,
timestamps ``TIMESTAMP WITH TIME ZONE`` (PostgreSQL; SQLite keeps a zone-less ``TIMESTAMP`` holding
UTC), ``discount_pct`` ``DOUBLE PRECISION`` (``REAL`` in SQLite). SQLite has no decimal storage: it
keeps NUMERIC as a double, exact for money up to 15 significant digits, and the source reads it
back as a decimal.

URLs are SQLAlchemy's: ``sqlite:///data/erp.db`` (the embedded default) or
``postgresql+psycopg2://postgres@127.0.0.1:5432/erp``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from ingestion.contracts import column_name
from ingestion.extracts import ERP_EXTRACTS, Extract
from ingestion.landing_files.readers import read_extract_file


def sql_type(data_type: pa.DataType) -> sa.types.TypeEngine:
    """The SQL column type of a declared extract column type."""
    if pa.types.is_decimal(data_type):
        return sa.Numeric(data_type.precision, data_type.scale, asdecimal=True)
    if pa.types.is_timestamp(data_type):
        # SQLite has no zone: a TIMESTAMP holding UTC there
        return sa.DateTime(timezone=data_type.tz is not None).with_variant(sa.TIMESTAMP(), "sqlite")
    if pa.types.is_date(data_type):
        return sa.Date()
    if pa.types.is_boolean(data_type):
        return sa.Boolean()
    if pa.types.is_integer(data_type):
        return sa.BigInteger()
    if pa.types.is_floating(data_type):
        return sa.Double().with_variant(sa.REAL(), "sqlite")
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return sa.Text()
    raise TypeError(f"no SQL type for {data_type}")


def erp_metadata(schema: str | None = None) -> sa.MetaData:
    """The ERP tables, typed as declared in ``ERP_EXTRACTS``, in ``schema`` (default: none)."""
    metadata = sa.MetaData(schema=schema)
    for extract in ERP_EXTRACTS:
        required = {extract.primary_key, extract.cursor}
        sa.Table(
            extract.table,
            metadata,
            *(
                sa.Column(
                    column_name(name),
                    sql_type(data_type),
                    primary_key=name == extract.primary_key,
                    nullable=name not in required,
                )
                for name, data_type in extract.columns.items()
            ),
            sa.Index(
                f"ix_{extract.table}_{column_name(extract.cursor)}", column_name(extract.cursor)
            ),
        )
    return metadata


def latest_rows(extract: Extract, landing_dir: Path) -> list[dict]:
    """Every row of the extract's files, newest version of each primary key (by its cursor)."""
    key, cursor = column_name(extract.primary_key), column_name(extract.cursor)
    columns = [column_name(name) for name in extract.columns]
    newest: dict[object, dict] = {}
    for path in extract.files(landing_dir):  # oldest drop first: a tie goes to the later drop
        for row in read_extract_file(extract, path).select(columns).to_pylist():
            seen = newest.get(row[key])
            if seen is None or row[cursor] >= seen[cursor]:
                newest[row[key]] = row
    return list(newest.values())


def populate_erp_database(
    landing_dir: Path, url: str, *, schema: str | None = None
) -> dict[str, int]:
    """(Re)create the ERP tables at ``url`` from the ERP extract files; rows written per table."""
    landing_dir = Path(landing_dir)
    metadata = erp_metadata(schema)
    rows = {extract.table: latest_rows(extract, landing_dir) for extract in ERP_EXTRACTS}
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if schema is not None:
                conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            metadata.drop_all(conn, checkfirst=True)
            metadata.create_all(conn)
            for extract in ERP_EXTRACTS:
                if rows[extract.table]:
                    conn.execute(
                        metadata.tables[_key(extract, schema)].insert(), rows[extract.table]
                    )
    finally:
        engine.dispose()
    return {table: len(table_rows) for table, table_rows in rows.items()}


def _key(extract: Extract, schema: str | None) -> str:
    return f"{schema}.{extract.table}" if schema else extract.table
