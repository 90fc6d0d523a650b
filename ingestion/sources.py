"""dlt sources for the CRM and ERP extract files declared in ``ingestion.extracts``.

One resource per extract, named after its raw table, merged on its primary key (delete-insert,
newest row by the cursor column wins), with an incremental cursor on that column so that rows
already loaded are not merged again. Files are read with pyarrow using the declared column types
and yielded as arrow tables whose column names are already dlt's snake_case (``OwnerId`` ->
``owner_id``, ``Meeting_Status__c`` -> ``meeting_status_c``), plus ``_source_file`` (the file
name) for lineage. A file that cannot be read as declared raises ``ExtractFileError`` naming the
file, the line and the column: no row is dropped silently.

Importing this module and calling ``crm_source`` / ``erp_source`` reads nothing: files are read
when the pipeline extracts.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.csv as pacsv
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingestion.extracts import Extract, extracts_of

SOURCE_FILE_COLUMN = "_source_file"
LOAD_ID_COLUMN = "_dlt_load_id"
TRUE_VALUES = ["true", "True", "TRUE"]
FALSE_VALUES = ["false", "False", "FALSE"]

_NAMING = NamingConvention()


class ExtractFileError(ValueError):
    """An extract file that does not match its declaration in ``ingestion.extracts``."""


def column_name(name: str) -> str:
    """The column name as it lands in the warehouse (dlt's snake_case naming convention)."""
    return _NAMING.normalize_identifier(name)


def table_columns(extract: Extract) -> dict[str, str]:
    """Declared extract column -> raw table column."""
    return {name: column_name(name) for name in extract.columns}


# ---------------------------------------------------------------------------------------------
# Reading one file.


def _describe(data_type: pa.DataType) -> str:
    if pa.types.is_decimal(data_type):
        return f"a decimal (at most {data_type.scale} decimals)"
    if pa.types.is_timestamp(data_type):
        zone = " with its zone" if data_type.tz else ""
        return f"a timestamp{zone} (ISO 8601, e.g. 2026-01-15T09:30:00.000Z)"
    if pa.types.is_date(data_type):
        return "a date (YYYY-MM-DD)"
    if pa.types.is_boolean(data_type):
        return "a boolean (true/false)"
    if pa.types.is_integer(data_type):
        return "an integer"
    if pa.types.is_floating(data_type):
        return "a number"
    return str(data_type)


_DECIMAL = re.compile(r"[+-]?(\d*)(?:\.(\d*))?")
_INTEGER = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _valid(value: str, data_type: pa.DataType) -> bool:
    """Whether one non-empty CSV field parses as ``data_type`` (used to locate a bad value)."""
    try:
        if pa.types.is_decimal(data_type):
            match = _DECIMAL.fullmatch(value)
            if not match or not (match.group(1) or match.group(2)):
                return False
            whole, frac = match.group(1).lstrip("0"), (match.group(2) or "").rstrip("0")
            return len(frac) <= data_type.scale and len(whole) <= (
                data_type.precision - data_type.scale
            )
        if pa.types.is_integer(data_type):
            return bool(_INTEGER.fullmatch(value))
        if pa.types.is_floating(data_type):
            float(value)
            return True
        if pa.types.is_boolean(data_type):
            return value in TRUE_VALUES or value in FALSE_VALUES
        if pa.types.is_date(data_type):
            return bool(_DATE.fullmatch(value)) and bool(dt.date.fromisoformat(value))
        if pa.types.is_timestamp(data_type):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return data_type.tz is None or parsed.tzinfo is not None
    except ValueError:
        return False
    return True


def _locate_bad_value(path: Path, types: dict[str, pa.DataType]) -> str | None:
    """Scan the file with the csv module: the first field that does not parse, as a message."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        positions = [(i, name, types[name]) for i, name in enumerate(header) if name in types]
        for row in reader:
            if len(row) != len(header):
                return (
                    f"{path} line {reader.line_num}: {len(row)} fields where the header has "
                    f"{len(header)}"
                )
            for i, name, data_type in positions:
                value = row[i]
                if value != "" and not _valid(value, data_type):
                    return (
                        f"{path} line {reader.line_num}, column {name}: {value!r} is not "
                        f"{_describe(data_type)}"
                    )
    return None


def _line_of_row(path: Path, row_index: int) -> int:
    """The line on which data row ``row_index`` (0-based) ends, quoted newlines included."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for i, _ in enumerate(reader):
            if i == row_index:
                return reader.line_num
    return row_index + 2


def read_extract_file(extract: Extract, path: Path) -> pa.Table:
    """One extract file as an arrow table typed as declared, with warehouse column names."""
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ExtractFileError(f"{path}: the file is empty, expected a header row")
    missing = [name for name in extract.columns if name not in header]
    if missing:
        raise ExtractFileError(
            f"{path} line 1: header lacks declared column(s) {', '.join(missing)} "
            f"(see ingestion/extracts.py, {extract.object_name})"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ExtractFileError(f"{path} line 1: column(s) {', '.join(duplicated)} appear twice")
    # Columns the declaration does not know are kept, as text: nothing is dropped silently.
    types = {name: extract.columns.get(name, pa.string()) for name in header}
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                true_values=TRUE_VALUES,
                false_values=FALSE_VALUES,
                timestamp_parsers=[pacsv.ISO8601],
            ),
        )
    except pa.ArrowInvalid as exc:
        located = _locate_bad_value(path, types)
        raise ExtractFileError(located or f"{path}: {exc}") from exc
    for name in (extract.primary_key, extract.cursor):
        column = table.column(name)
        if column.null_count:
            first = column.is_null().to_pylist().index(True)
            raise ExtractFileError(
                f"{path} line {_line_of_row(path, first)}, column {name}: empty, but it is the "
                f"{'primary key' if name == extract.primary_key else 'cursor'} of "
                f"{extract.object_name}"
            )
    required = {extract.primary_key, extract.cursor}
    schema = pa.schema(
        pa.field(column_name(f.name), f.type, nullable=f.name not in required) for f in table.schema
    )
    table = table.rename_columns(schema.names).cast(schema)
    return table.append_column(
        SOURCE_FILE_COLUMN, pa.array([path.name] * table.num_rows, pa.string())
    )


# ---------------------------------------------------------------------------------------------
# dlt resources and sources.


def extract_resource(extract: Extract, landing_dir: Path):
    """The dlt resource that loads every file of one extract, oldest drop first."""
    landing_dir = Path(landing_dir)
    cursor = column_name(extract.cursor)

    def read_files(
        last_modified: dlt.sources.incremental = dlt.sources.incremental(cursor),  # noqa: B008
    ) -> Iterator[pa.Table]:
        # arrow tables get no _dlt_load_id from dlt by default: add it, as for JSON rows
        load_id = dlt.current.load_package_state()["load_id"]
        for path in extract.files(landing_dir):
            table = read_extract_file(extract, path)
            if table.num_rows:
                yield table.append_column(
                    LOAD_ID_COLUMN, pa.array([load_id] * table.num_rows, pa.string())
                )

    return dlt.resource(
        read_files,
        name=extract.table,
        primary_key=column_name(extract.primary_key),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        # two versions of a row in one load: the newest by the cursor wins
        columns={cursor: {"dedup_sort": "desc"}},
        schema_contract={"data_type": "freeze"},
    )


def _resources(system: str, landing_dir: Path) -> list:
    return [extract_resource(extract, landing_dir) for extract in extracts_of(system)]


@dlt.source(name="crm")
def crm_source(landing_dir: Path):
    """CRM extracts (Salesforce-style objects) from ``<landing>/crm/<Object>/``."""
    return _resources("crm", landing_dir)


@dlt.source(name="erp")
def erp_source(landing_dir: Path):
    """ERP extracts (customers, products, orders, invoices) from ``<landing>/erp/<object>/``."""
    return _resources("erp", landing_dir)


SOURCES: dict[str, Callable] = {"crm": crm_source, "erp": erp_source}
