"""The raw tables' contract with the warehouse: how a declared column is named and typed in
``raw_<system>``, the lineage columns every extract table carries, and the schema-contract checks
(ingestion/README.md, "Schema contracts").

The declared type of a column is the type of its raw column, checked against the warehouse before
anything is loaded (``check_raw_table``, by the landing-file source and the ERP database source);
dlt's variant columns (``amount__v_text``) never reach the raw tables (``variant_columns``,
``check_no_variant_columns``, run after every load by ``ingestion.pipeline.load``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingestion.extracts import Extract
from ingestion.formats import ExtractFileError

if TYPE_CHECKING:
    from pilotage.warehouse import Warehouse

SOURCE_FILE_COLUMN = "_source_file"  # the extract file (or ``db:<table>``) a row was read from
LOAD_ID_COLUMN = "_dlt_load_id"
VARIANT_MARK = "__v_"  # dlt names a variant column <column>__v_<type>

_NAMING = NamingConvention()


def column_name(name: str) -> str:
    """The column name as it lands in the warehouse (dlt's snake_case naming convention)."""
    return _NAMING.normalize_identifier(name)


def version_key(extract: Extract) -> list[str]:
    """The raw table's primary key: record id and cursor, one row per version of a record."""
    return [column_name(extract.primary_key), column_name(extract.cursor)]


class SchemaContractError(ExtractFileError):
    """A raw table that does not match the declaration in ``ingestion.extracts`` (a column of
    another type, a dlt variant column): the load stops before anything is written."""


def warehouse_type(data_type: pa.DataType) -> str:
    """The DuckDB type (as ``information_schema.columns`` spells it) of a declared arrow type."""
    if pa.types.is_decimal(data_type):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if pa.types.is_timestamp(data_type):
        return "TIMESTAMP WITH TIME ZONE" if data_type.tz else "TIMESTAMP"
    for check, name in (
        (pa.types.is_string, "VARCHAR"),
        (pa.types.is_large_string, "VARCHAR"),
        (pa.types.is_boolean, "BOOLEAN"),
        (pa.types.is_date, "DATE"),
        (pa.types.is_floating, "DOUBLE"),
        (pa.types.is_integer, "BIGINT"),
    ):
        if check(data_type):
            return name
    return str(data_type).upper()


def raw_column_types(pipeline, table: str) -> dict[str, str]:
    """Column -> DuckDB type of ``<dataset>.<table>`` in the pipeline's warehouse (empty when the
    table does not exist yet, or the destination is not DuckDB)."""
    if pipeline is None or pipeline.destination.destination_name != "duckdb":
        return {}
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            pipeline.dataset_name,
            table,
        )
    return {name: data_type for name, data_type in rows or []}


def current_pipeline():
    """The dlt pipeline running this extraction, or None (a resource iterated by hand)."""
    try:
        return dlt.current.pipeline()
    except Exception:  # noqa: BLE001 - no active pipeline (a resource iterated by hand)
        return None


def _sample(table: pa.Table | None, column: str, source: str) -> str:
    """``; values read from <source>: 'a', 'b'`` (at most 5 distinct), or nothing."""
    if table is None or column not in table.column_names:
        return f"; reading {source}" if source else ""
    values = pc.unique(table.column(column).drop_null()).to_pylist()[:5]
    shown = ", ".join(repr(str(v)) for v in values) if values else "(all empty)"
    return f"; values read from {source or 'the source'}: {shown}"


def check_raw_table(
    extract: Extract,
    existing: dict[str, str],
    table: pa.Table | None = None,
    source: str = "",
) -> None:
    """Raise ``SchemaContractError`` if the raw table's columns (``existing``: column -> DuckDB
    type) do not take the declared types, or hold a dlt variant column. ``table``: rows about to
    be loaded (their values are shown), read from ``source``."""
    raw = f"raw_{extract.system}.{extract.table}"
    variants = sorted(name for name in existing if VARIANT_MARK in name)
    if variants:
        raise SchemaContractError(
            f"{raw} holds dlt variant column(s) {', '.join(variants)}: values of another type "
            "than declared were loaded by an earlier run and must not reach dbt. Move them into "
            f"the declared column or drop them (alter table {raw} drop column {variants[0]}), "
            "then load again"
        )
    for name, data_type in extract.columns.items():
        column = column_name(name)
        have, want = existing.get(column), warehouse_type(data_type)
        if have is None or have == want:
            continue
        kind = extract.column_class(name)
        if kind == "descriptive" and have.startswith("DECIMAL"):
            kind = "money"  # a decimal in raw was a money or quantity column before the change
        frozen = (
            f"a {kind} column is frozen in raw"
            if kind != "descriptive"
            else "declared column types are frozen in raw (descriptive columns evolve by new "
            "columns, not new types)"
        )
        raise SchemaContractError(
            f"{raw}.{column} is {have} in the warehouse, but {extract.system}."
            f"{extract.object_name}.{name} is now declared {want} (ingestion/extracts.py)"
            f"{_sample(table, column, source)}: {frozen}. "
            f"Revert the declaration, or migrate the raw table (alter table {raw} alter column "
            f"{column} type {want}), or drop it (drop table {raw}) and the pipeline state "
            f"(pilotage_{extract.system} in the dlt pipelines folder) to reload every file"
        )


def variant_columns(warehouse: Warehouse) -> list[str]:
    """Every dlt variant column (``<column>__v_<type>``) of the ``raw_*`` schemas of the
    warehouse (a DuckDB file or the PostgreSQL database), as ``schema.table.column``: values that
    did not fit their declared column. There must be none (``ingestion.pipeline.load`` raises
    ``SchemaContractError`` otherwise)."""
    from pilotage import warehouse as wh

    if not wh.exists(warehouse):
        return []
    with wh.connect(warehouse) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where substr(table_schema, 1, 4) = 'raw_' and position(? in column_name) > 0 "
            "order by 1, 2, 3",
            [VARIANT_MARK],
        ).fetchall()
    return [".".join(row) for row in rows]


def check_no_variant_columns(warehouse: Warehouse) -> None:
    """Raise ``SchemaContractError`` naming every variant column of the raw schemas."""
    from pilotage.warehouse import describe

    found = variant_columns(warehouse)
    if found:
        raise SchemaContractError(
            f"dlt variant column(s) in the raw tables of {describe(warehouse)}: "
            f"{', '.join(found)}: "
            "values of another type than declared must not reach dbt. Fix the declaration or "
            "the source, move the values into the declared column or drop the variant columns"
        )
