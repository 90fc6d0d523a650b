"""The ERP read from a live SQL database, as an alternative to the ERP extract files.

``erp_database_source(credentials, schema)`` is dlt's ``sql_database`` source over the six ERP
tables of ``ingestion.extracts.ERP_EXTRACTS`` (customers, products, sales_orders,
sales_order_lines, invoices, invoice_lines), shaped exactly like the file source ``erp_source``:
the same dlt source name (``erp``), resource and table names, columns, types, primary keys,
merge on (primary key, ``updated_at``: every version once), frozen data types, and the same
lineage columns (``_source_file`` = ``db:<table>``, ``_dlt_load_id``). The raw_erp tables and the
dbt models downstream do not know which of the two loaded them.

- Incremental on ``updated_at``: the query asks only for rows at or after the newest cursor value
  already loaded (dlt drops the boundary rows it has already seen), so a rerun on an unchanged
  database loads nothing and an updated row (its ``updated_at`` moved forward) lands as a new
  version (dbt staging reads the latest).
- Chunked: rows are streamed from the database ``chunk_size`` at a time and each chunk becomes one
  arrow table (``backend="pyarrow"``).
- Types come from the declaration, not from what the database reflects: decimals stay decimals
  (money ``decimal(18,2)``, quantities ``decimal(18,3)``), timestamps are UTC (a zone-less
  timestamp column, as SQLite has, is read as UTC).
- Tables are reflected when the pipeline extracts (``defer_table_reflect``): building the source
  (e.g. when Dagster loads its definitions) does not connect to the database.

``ingestion.pipeline.source_for`` picks the database when the settings have an ERP database
URL (``PILOTAGE_ERP_DATABASE_URL``, a SQLAlchemy URL; ``PILOTAGE_ERP_DATABASE_SCHEMA`` optionally
naming its schema), the files otherwise.
"""

from __future__ import annotations

import dlt
import pyarrow as pa
import sqlalchemy as sa
from dlt.common.libs.pyarrow import py_arrow_to_table_schema_columns
from dlt.sources.sql_database import sql_database

from ingestion.contracts import (
    LOAD_ID_COLUMN,
    SOURCE_FILE_COLUMN,
    check_raw_table,
    column_name,
    current_pipeline,
    raw_column_types,
    version_key,
)
from ingestion.extracts import ERP_EXTRACTS, Extract
from ingestion.landing_files import empty_quarantine_resource

CHUNK_SIZE = 10_000
SOURCE_FILE_PREFIX = "db:"


class ErpDatabaseError(ValueError):
    """An ERP database table that does not match its declaration in ``ingestion.extracts``."""


def declared_columns(extract: Extract) -> dict:
    """dlt column hints of the declared columns: the types the raw table gets from either source."""
    required = {extract.primary_key, extract.cursor}
    schema = pa.schema(
        pa.field(column_name(name), data_type, nullable=name not in required)
        for name, data_type in extract.columns.items()
    )
    columns = py_arrow_to_table_schema_columns(schema)
    for field in schema:
        if pa.types.is_timestamp(field.type):
            # explicit: a zone-less timestamp reflected from the database must not win
            columns[field.name]["timezone"] = field.type.tz is not None
    return columns


def _adapt_type(sql_type: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """Type adapter: floats as doubles (SQLAlchemy 2.1's ``Float`` is no ``Numeric``, which dlt's
    reflection expects) and zone-less timestamps as UTC."""
    if isinstance(sql_type, sa.Float) and not isinstance(sql_type, sa.Numeric):
        return sa.Numeric(asdecimal=False)
    if isinstance(sql_type, sa.DateTime) and not sql_type.timezone:
        return sa.DateTime(timezone=True)
    return sql_type


def _check_table(table):
    """Table adapter: a table missing a declared column is an error naming table and columns."""
    extract = _EXTRACTS[table.name]
    present = {column.name for column in table.columns}
    missing = [column_name(n) for n in extract.columns if column_name(n) not in present]
    if missing:
        raise ErpDatabaseError(
            f"ERP database table {table.fullname} lacks declared column(s) {', '.join(missing)} "
            f"(see ingestion/extracts.py, {extract.object_name})"
        )
    # every version once, as for files: the primary key dlt reads from the reflected table
    # (when the pipeline runs) is the record id and updated_at, not the database's own key
    key = version_key(extract)
    for name in key:
        table.c[name].primary_key = True
    table.append_constraint(sa.PrimaryKeyConstraint(*key))
    # the raw table in the warehouse takes the declared types (schema contract)
    check_raw_table(
        extract, raw_column_types(current_pipeline(), extract.table), source=f"db:{table.name}"
    )
    return table


def _add_lineage(table_name: str):
    """Map step: the ``_source_file`` (``db:<table>``) and ``_dlt_load_id`` of each chunk."""
    source_file = f"{SOURCE_FILE_PREFIX}{table_name}"

    def add(item):
        if not isinstance(item, pa.Table) or SOURCE_FILE_COLUMN in item.column_names:
            return item
        # arrow tables get no _dlt_load_id from dlt by default: add it, as the file source does
        load_id = dlt.current.load_package_state()["load_id"]
        rows = item.num_rows
        item = item.append_column(SOURCE_FILE_COLUMN, pa.array([source_file] * rows, pa.string()))
        return item.append_column(LOAD_ID_COLUMN, pa.array([load_id] * rows, pa.string()))

    return add


_EXTRACTS: dict[str, Extract] = {extract.table: extract for extract in ERP_EXTRACTS}


@dlt.source(name="erp")
def erp_database_source(
    credentials: str, schema: str | None = None, chunk_size: int = CHUNK_SIZE
) -> list:
    """ERP tables (customers, products, orders, invoices) from the SQL database at
    ``credentials`` (a SQLAlchemy URL), in ``schema`` if given (else the default schema)."""
    database = sql_database(
        credentials=credentials,
        schema=schema,
        table_names=list(_EXTRACTS),
        backend="pyarrow",
        chunk_size=chunk_size,
        reflection_level="full",
        detect_precision_hints=None,  # deprecated; its default False only warns
        defer_table_reflect=True,
        table_adapter_callback=_check_table,
        type_adapter_callback=_adapt_type,
    )
    resources = []
    for extract in ERP_EXTRACTS:
        resource = database.resources[extract.table]
        resource.apply_hints(
            # every version once, as for files: a row whose updated_at moved is a new version
            primary_key=version_key(extract),
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            columns=declared_columns(extract),
            incremental=dlt.sources.incremental(column_name(extract.cursor)),
            schema_contract={"data_type": "freeze"},
        )
        resources.append(resource.add_map(_add_lineage(extract.table)))
    # the same raw_erp tables as the files: an (empty) quarantine, values are typed by the database
    return [*resources, empty_quarantine_resource()]
