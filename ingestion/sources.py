"""dlt sources for the CRM and ERP extract files declared in ``ingestion.extracts``.

One resource per extract, named after its raw table, merged on its primary key and cursor column
(delete-insert): the raw table keeps every version of a record once, whatever the re-deliveries,
late or out-of-order files; dbt staging picks the latest version. Files already loaded (known by
their content in the resource state) are not read again. Files are read with pyarrow using the
declared column types and yielded as arrow tables whose column names are already dlt's snake_case
(``OwnerId`` -> ``owner_id``, ``Meeting_Status__c`` -> ``meeting_status_c``), plus ``_source_file``
(the file name) for lineage. A file that cannot be read as declared raises ``ExtractFileError``
naming the file, the line (or Parquet row) and the column. A row with a bad value (type, enum, empty
key or cursor, wrong number of fields, conflicting duplicate) is left out and listed by the source's
``quarantine`` resource in ``raw_<system>.quarantine`` (``ingestion.quarantine``), or, under
``on_bad_row: fail``, raises like a bad file: no row is dropped silently.

Schema contracts (ingestion/README.md, "Schema contracts"): before loading, each resource checks
the raw table in the warehouse against the declared types (``SchemaContractError`` naming table,
column, both types and the way out); ``variant_columns`` lists dlt variant columns in ``raw_*``.

Files are CSV, JSON Lines or Parquet (``<Object>_<drop>.csv|.jsonl|.parquet``); delimiter, decimal
mark and encoding of each system's files are declared in the landing configuration
(``ingestion.formats``, ``ingestion/landing.yaml``), by default UTF-8 comma CSV with ``.``
decimals.

Importing this module and calling ``crm_source`` / ``erp_source`` reads nothing: files (and the
landing configuration) are read when the pipeline extracts.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingestion.extracts import Extract, extracts_of
from ingestion.formats import (
    EXTENSIONS,
    ExtractFileError,
    LandingFormat,
    check_encoding,
    csv_records,
    describe_delimiter,
    load_landing_config,
    sniff_delimiter,
)
from ingestion.quarantine import (
    QUARANTINE_COLUMNS,
    QUARANTINE_KEY,
    QUARANTINE_TABLE,
    ROW_FIELD,
    BadRow,
    quarantine_table,
    read_quarantine_files,
)

__all__ = [
    "BadRow",
    "ExtractFileError",
    "SchemaContractError",
    "column_name",
    "crm_source",
    "erp_source",
    "read_extract_file",
    "variant_columns",
]

SOURCE_FILE_COLUMN = "_source_file"
LOAD_ID_COLUMN = "_dlt_load_id"
TRUE_VALUES = ["true", "True", "TRUE"]
FALSE_VALUES = ["false", "False", "FALSE"]
CONFIG_HINT = "the landing configuration (ingestion/landing.yaml)"

_NAMING = NamingConvention()
logger = logging.getLogger(__name__)


def column_name(name: str) -> str:
    """The column name as it lands in the warehouse (dlt's snake_case naming convention)."""
    return _NAMING.normalize_identifier(name)


def _where(extract: Extract) -> str:
    return f"{extract.system}.{extract.object_name}"


def extract_files(extract: Extract, landing_dir: Path, fmt: LandingFormat) -> list[Path]:
    """The object's extract files (``.csv``, ``.jsonl``, ``.parquet``), oldest drop first.

    A file whose extension does not match a declared ``format`` is an error, not skipped.
    """
    files = extract.files(landing_dir)
    if fmt.format != "auto":
        for path in files:
            if EXTENSIONS[path.suffix.lower()] != fmt.format:
                raise ExtractFileError(
                    f"{path}: a {path.suffix} file, but {_where(extract)} is declared "
                    f"format: {fmt.format} in {CONFIG_HINT}"
                )
    return files


# ---------------------------------------------------------------------------------------------
# Values: what a field must look like, to locate and explain a bad one.

_GROUP_SEPARATORS = " \u00a0\u202f"  # space, no-break space, narrow no-break space (Excel, fr)
_COMMA_NUMBER = rf"[+-]?(?:\d{{1,3}}(?:[{_GROUP_SEPARATORS}]\d{{3}})+|\d+)(?:,\d+)?"
_COMMA_FLOAT = _COMMA_NUMBER + r"(?:[eE][+-]?\d+)?"
_COMMA_NUMBER_RE = re.compile(_COMMA_NUMBER)
_COMMA_FLOAT_RE = re.compile(_COMMA_FLOAT)
_POINT_NUMBER_RE = re.compile(r"[+-]?\d+\.\d+")


def _is_number(data_type: pa.DataType) -> bool:
    return pa.types.is_decimal(data_type) or pa.types.is_floating(data_type)


def _describe(data_type: pa.DataType, decimal: str = ".") -> str:
    if pa.types.is_decimal(data_type):
        if decimal == ",":
            return (
                f"a decimal with a decimal comma, e.g. 1 234,56 (at most {data_type.scale} "
                "decimals)"
            )
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
        return "a number with a decimal comma, e.g. 0,25" if decimal == "," else "a number"
    return str(data_type)


def _hint(value: str, data_type: pa.DataType, fmt: LandingFormat, where: str) -> str:
    """Why a number may not parse: the other decimal mark than the declared one."""
    if not _is_number(data_type):
        return ""
    if fmt.decimal == "." and "," in value and _COMMA_FLOAT_RE.fullmatch(value):
        return (
            f"; it looks like a decimal comma: if {where} files use one, set decimal: ',' "
            f"(and delimiter: ';') in {CONFIG_HINT}"
        )
    if fmt.decimal == "," and "." in value:
        return (
            f"; {where} is declared decimal: ',' in {CONFIG_HINT}, so '.' is not a decimal "
            "mark (and a '.' or ',' thousands separator is refused: use none, or a space)"
        )
    return ""


_DECIMAL = re.compile(r"[+-]?(\d*)(?:\.(\d*))?")
_INTEGER = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _from_comma(value: str) -> str:
    for separator in _GROUP_SEPARATORS:
        value = value.replace(separator, "")
    return value.replace(",", ".")


def _decimal_fits(whole: str, frac: str, data_type: pa.DataType) -> bool:
    whole, frac = whole.lstrip("0"), frac.rstrip("0")
    return len(frac) <= data_type.scale and len(whole) <= data_type.precision - data_type.scale


def _valid(value: str, data_type: pa.DataType, decimal: str = ".") -> bool:
    """Whether one non-empty CSV field parses as ``data_type`` (used to locate a bad value)."""
    try:
        if decimal == "," and _is_number(data_type):
            pattern = _COMMA_NUMBER_RE if pa.types.is_decimal(data_type) else _COMMA_FLOAT_RE
            if not pattern.fullmatch(value):
                return False
            value = _from_comma(value)
        if pa.types.is_decimal(data_type):
            match = _DECIMAL.fullmatch(value)
            if not match or not (match.group(1) or match.group(2)):
                return False
            return _decimal_fits(match.group(1), match.group(2) or "", data_type)
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


# ---------------------------------------------------------------------------------------------
# CSV.


def _csv_records(path: Path, fmt: LandingFormat) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of every CSV record, header first; blank lines skipped as
    pyarrow skips them."""
    with path.open(encoding=fmt.python_encoding, newline="") as handle:
        yield from csv_records(handle, fmt.delimiter)


def _field_line(start: int, row: list[str], index: int) -> int:
    """The physical line on which field ``index`` of a record starting on ``start`` begins."""
    return start + sum(field.count("\n") for field in row[:index])


_MAX_SHOWN = 500  # characters of a whole bad row kept in the quarantine table


def _scan_csv(
    extract: Extract,
    path: Path,
    fmt: LandingFormat,
    types: dict[str, pa.DataType],
    records: list[tuple[int, list[str]]],
) -> tuple[list[BadRow], set[int]]:
    """Every field that does not parse (csv module), and the data rows (0-based) holding one.

    A last record with fewer fields than the header (an interrupted write, or a quote never
    closed: the csv module reads the rest of the file into that field) is a truncated file and
    raises ``ExtractFileError``, whatever ``on_bad_row`` says."""
    where = _where(extract)
    header = records[0][1]
    data = records[1:]
    positions = [(i, name, types[name]) for i, name in enumerate(header) if name in types]
    bad: list[BadRow] = []
    bad_rows: set[int] = set()
    for index, (start, row) in enumerate(data):
        if len(row) != len(header):
            counts = f"{len(row)} fields where the header has {len(header)}"
            if index == len(data) - 1 and len(row) < len(header):
                raise ExtractFileError(
                    f"{path} line {start}: {counts}: the file looks truncated (an incomplete "
                    "last line, or a quote that is never closed)"
                )
            shown = fmt.delimiter.join(row)[:_MAX_SHOWN]
            message = f"{path} line {start}: {counts}"
            bad.append(
                BadRow(path.name, start, extract.object_name, ROW_FIELD, shown, counts, message)
            )
            bad_rows.add(index)
            continue
        for i, name, data_type in positions:
            value = row[i]
            if value != "" and not _valid(value, data_type, fmt.decimal):
                line = _field_line(start, row, i)
                reason = f"not {_describe(data_type, fmt.decimal)}"
                reason += _hint(value, data_type, fmt, where)
                message = f"{path} line {line}, column {name}: {value!r} is {reason}"
                bad.append(
                    BadRow(path.name, line, extract.object_name, name, value, reason, message)
                )
                bad_rows.add(index)
    return bad, bad_rows


def _comma_numbers(table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    """Numeric columns read as text with a decimal comma, converted exactly to their type.

    Raises ``pa.ArrowInvalid`` on any value that is not a decimal-comma number (the caller then
    locates it): ``1,234.56`` is an error, never ``1.23456``.
    """
    for name, data_type in types.items():
        if not _is_number(data_type):
            continue
        column = table.column(name)
        pattern = _COMMA_NUMBER if pa.types.is_decimal(data_type) else _COMMA_FLOAT
        matches = pc.match_substring_regex(column, f"^{pattern}$")
        if not pc.all(pc.fill_null(matches, True)).as_py():
            raise pa.ArrowInvalid(f"column {name}: not a decimal-comma number")
        text = pc.replace_substring_regex(column, f"[{_GROUP_SEPARATORS}]", "")
        text = pc.replace_substring(text, ",", ".")
        converted = pc.cast(text, data_type)  # safe: more decimals than the scale raise
        table = table.set_column(table.column_names.index(name), name, converted)
    return table


def _check_header(extract: Extract, path: Path, fmt: LandingFormat, header: list[str]) -> None:
    missing = [name for name in extract.columns if name not in header]
    if missing:
        if path.suffix.lower() == ".csv":
            with path.open(encoding=fmt.python_encoding, newline="") as handle:
                first_line = handle.readline()
            other = sniff_delimiter(first_line, fmt.delimiter, list(extract.columns))
            if other is not None:
                raise ExtractFileError(
                    f"{path} line 1: the file looks '{describe_delimiter(other)}'-delimited but "
                    f"{_where(extract)} is declared delimiter: "
                    f"'{describe_delimiter(fmt.delimiter)}': set delimiter in {CONFIG_HINT}"
                )
        raise ExtractFileError(
            f"{path} line 1: header lacks declared column(s) {', '.join(missing)} "
            f"(see ingestion/extracts.py, {extract.object_name})"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ExtractFileError(f"{path} line 1: column(s) {', '.join(duplicated)} appear twice")


def _pyarrow_csv(source, encoding: str, fmt: LandingFormat, types: dict[str, pa.DataType]):
    read_types = dict(types)
    if fmt.decimal == ",":
        read_types.update({n: pa.string() for n, t in types.items() if _is_number(t)})
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=read_types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            true_values=TRUE_VALUES,
            false_values=FALSE_VALUES,
            timestamp_parsers=[pacsv.ISO8601],
        ),
    )
    if fmt.decimal == ",":
        table = _comma_numbers(table, types)
    return table


def _read_csv(extract: Extract, path: Path, fmt: LandingFormat):
    check_encoding(path, fmt, _where(extract))
    header = next((row for _, row in _csv_records(path, fmt)), None)
    if not header:
        raise ExtractFileError(f"{path}: the file is empty, expected a header row")
    _check_header(extract, path, fmt, header)
    # Columns the declaration does not know are kept, as text: nothing is dropped silently.
    types = {name: extract.columns.get(name, pa.string()) for name in header}
    records: list[tuple[int, list[str]]] = []
    kept: list[int] | None = None  # data rows of the table, when bad ones were left out
    bad: list[BadRow] = []
    try:
        table = _pyarrow_csv(path, "utf8" if fmt.is_utf8 else fmt.encoding, fmt, types)
    except pa.ArrowInvalid as exc:
        records = list(_csv_records(path, fmt))
        bad, bad_rows = _scan_csv(extract, path, fmt, types, records)
        if not bad:
            raise ExtractFileError(f"{path}: {exc}") from exc
        kept = [i for i in range(len(records) - 1) if i not in bad_rows]
        # the good rows, read again by pyarrow with the same options: the same typing
        text = io.StringIO()
        writer = csv.writer(text, delimiter=fmt.delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records[1 + i][1] for i in kept)
        try:
            table = _pyarrow_csv(io.BytesIO(text.getvalue().encode()), "utf8", fmt, types)
        except pa.ArrowInvalid as again:
            raise ExtractFileError(f"{path}: {again}") from again

    def locate(row_index: int, column: str) -> int:
        if not records:
            records.extend(_csv_records(path, fmt))
        data_row = kept[row_index] if kept is not None else row_index
        start, row = records[1 + data_row]
        return _field_line(start, row, header.index(column))

    return table, locate, bad


# ---------------------------------------------------------------------------------------------
# JSON Lines: one object per line, typed JSON values (numbers are numbers, not strings).


class _BadValue(ValueError):
    pass


def _json_value(value: object, data_type: pa.DataType) -> object:
    """A JSON value (floats parsed as ``Decimal``) as the Python value of ``data_type``."""
    if value is None:
        return None
    if pa.types.is_string(data_type):
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # an id exported as a JSON integer: its digits, nothing lost
        raise _BadValue("a JSON string")
    if pa.types.is_boolean(data_type):
        if isinstance(value, bool):
            return value
        raise _BadValue("a boolean (JSON true/false)")
    number = isinstance(value, int | Decimal) and not isinstance(value, bool)
    if pa.types.is_integer(data_type):
        if number and Decimal(value) == Decimal(value).to_integral_value():
            return int(value)
        raise _BadValue("an integer (a JSON number)")
    if pa.types.is_floating(data_type):
        if number:
            return float(value)
        raise _BadValue("a number (a JSON number, not a string)")
    if pa.types.is_decimal(data_type):
        if number:
            exact = Decimal(value)
            decimals = max(0, -int(exact.normalize().as_tuple().exponent))
            whole = len(str(abs(int(exact))).lstrip("0"))
            if decimals <= data_type.scale and whole <= data_type.precision - data_type.scale:
                return exact
        raise _BadValue(
            f"a decimal (a JSON number, not a string, at most {data_type.scale} decimals)"
        )
    if isinstance(value, str) and _valid(value, data_type):
        if pa.types.is_date(data_type):
            return dt.date.fromisoformat(value)
        if pa.types.is_timestamp(data_type):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed
    raise _BadValue(_describe(data_type))


def _extra_value(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _read_jsonl(extract: Extract, path: Path, fmt: LandingFormat):
    check_encoding(path, fmt, _where(extract))
    obj = extract.object_name
    records: list[dict] = []
    lines: list[int] = []
    keys: dict[str, None] = {}
    bad: list[BadRow] = []
    with path.open(encoding=fmt.python_encoding) as handle:
        numbered = [(n, text) for n, text in enumerate(handle, start=1) if text.strip()]
    last = numbered[-1][0] if numbered else 0
    for number, text in numbered:
        try:
            record = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON ({exc.msg}, character {exc.colno})"
            message = f"{path} line {number}: {reason}"
            if number == last:  # an interrupted write: the end of the file is missing
                raise ExtractFileError(
                    f"{message}: the file looks truncated (an incomplete last line)"
                ) from None
            shown = text.strip()[:_MAX_SHOWN]
            bad.append(BadRow(path.name, number, obj, ROW_FIELD, shown, reason, message))
            continue
        if not isinstance(record, dict):
            reason = "expected one JSON object per line"
            shown = text.strip()[:_MAX_SHOWN]
            message = f"{path} line {number}: {reason}"
            bad.append(BadRow(path.name, number, obj, ROW_FIELD, shown, reason, message))
            continue
        records.append(record)
        lines.append(number)
        keys.update(dict.fromkeys(record))
    if records:
        _check_header(extract, path, fmt, list(keys))
    else:
        keys = dict.fromkeys(extract.columns)
    good = [True] * len(records)
    declared = [name for name in keys if name in extract.columns]
    values: dict[str, list] = {name: [] for name in declared}
    for index, (record, line) in enumerate(zip(records, lines, strict=True)):
        for name in declared:
            value = record.get(name)
            try:
                values[name].append(_json_value(value, extract.columns[name]))
            except _BadValue as exc:
                shown = json.dumps(value, default=str, ensure_ascii=False)
                reason = f"not {exc}"
                message = f"{path} line {line}, column {name}: {shown} is {reason}"
                text_value = value if isinstance(value, str) else shown
                bad.append(BadRow(path.name, line, obj, name, text_value, reason, message))
                values[name].append(None)
                good[index] = False
    bad.sort(key=lambda b: b.line)
    kept = [i for i, ok in enumerate(good) if ok]
    arrays = {}
    for name in keys:
        data_type = extract.columns.get(name)
        if data_type is None:  # not declared: kept as text
            arrays[name] = pa.array([_extra_value(records[i].get(name)) for i in kept], pa.string())
        else:
            arrays[name] = pa.array([values[name][i] for i in kept], data_type)
    table = pa.table(arrays)

    def locate(row_index: int, column: str) -> int:
        return lines[kept[row_index]]

    return table, locate, bad


# ---------------------------------------------------------------------------------------------
# Parquet: typed columns, cast to the declared type only when that cannot lose anything.


def _parquet_cast_allowed(source: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_null(source) or source == target:
        return True
    if pa.types.is_string(target):  # integers too: ids exported as numbers keep their digits
        return (
            pa.types.is_string(source)
            or pa.types.is_large_string(source)
            or pa.types.is_integer(source)
        )
    if pa.types.is_decimal(target):
        return pa.types.is_decimal(source) or pa.types.is_integer(source)
    if pa.types.is_floating(target):
        return pa.types.is_floating(source) or pa.types.is_integer(source)
    if pa.types.is_integer(target):
        return pa.types.is_integer(source)
    if pa.types.is_date(target):
        return pa.types.is_date(source)
    if pa.types.is_timestamp(target):
        # a zone-less timestamp is refused, as in CSV: no guess of its zone
        return pa.types.is_timestamp(source) and (source.tz is not None or target.tz is None)
    return False


def _parquet_column(path: Path, name: str, column: pa.ChunkedArray, target: pa.DataType):
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if column.type == target:
        return column
    if _parquet_cast_allowed(column.type, target):
        try:
            return pc.cast(column, target)  # safe cast: overflow or lost digits raise
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    allowed = _parquet_cast_allowed(column.type, target)
    for row, value in enumerate(column):
        if not value.is_valid:
            continue
        try:
            if not allowed:
                raise pa.ArrowInvalid(f"{column.type} is not {target}")
            pc.cast(column.slice(row, 1), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise ExtractFileError(
                f"{path} row {row + 1}, column {name}: {value.as_py()!r} (Parquet type "
                f"{column.type}) is not {_describe(target)}"
            ) from None
    if not allowed:  # every value is null
        return pa.nulls(len(column), target)
    raise ExtractFileError(f"{path}, column {name}: cannot read Parquet {column.type} as {target}")


def _read_parquet(extract: Extract, path: Path, fmt: LandingFormat):
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ExtractFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    _check_header(extract, path, fmt, table.column_names)
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        target = extract.columns.get(name)
        if target is None:  # not declared: kept as text
            try:
                columns[name] = pc.cast(column, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise ExtractFileError(
                    f"{path}, column {name}: undeclared column of Parquet type {column.type} "
                    "cannot be kept as text"
                ) from None
        else:
            columns[name] = _parquet_column(path, name, column, target)
    table = pa.table(columns)

    def locate(row_index: int, column: str) -> int:
        return row_index + 1

    return table, locate, []


# ---------------------------------------------------------------------------------------------
# Reading one file.

_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


# Dates a sales record can carry: anything outside is a typo or a placeholder (0001-01-01,
# 9999-12-31), never a sale. Suspicious dates inside the window (decades ahead) only warn
# (the delivery validation, pilotage/quality.py).
PLAUSIBLE_YEARS = (1900, 2199)


def _plausible_bounds(data_type: pa.DataType) -> tuple[pa.Scalar, pa.Scalar]:
    low = dt.date(PLAUSIBLE_YEARS[0], 1, 1)
    high = dt.date(PLAUSIBLE_YEARS[1] + 1, 1, 1)
    if pa.types.is_date(data_type):
        return pa.scalar(low, data_type), pa.scalar(high, data_type)
    tz = dt.UTC if data_type.tz else None
    return (
        pa.scalar(dt.datetime.combine(low, dt.time(), tz), data_type),
        pa.scalar(dt.datetime.combine(high, dt.time(), tz), data_type),
    )


def _row_checks(
    extract: Extract, path: Path, table: pa.Table, locate: Callable, unit: str
) -> tuple[list[BadRow], list[int]]:
    """Problems of whole typed rows: an empty primary key or cursor, a value outside an enum,
    a primary key and cursor shared by rows of different content. Returns the bad fields and
    the rows to leave out (bad ones, and exact copies of an earlier row)."""
    obj = extract.object_name
    bad: list[BadRow] = []
    left_out: set[int] = set()
    for name in extract.required_columns:
        if name == extract.primary_key:
            what = f"the primary key of {obj}"
        elif name == extract.cursor:
            what = f"the cursor of {obj}"
        else:
            what = f"required on every {obj} row (ingestion/extracts.py)"
        for index in pc.indices_nonzero(table.column(name).is_null()).to_pylist():
            line = locate(index, name)
            reason = f"empty, but it is {what}"
            message = f"{path} {unit} {line}, column {name}: {reason}"
            bad.append(BadRow(path.name, line, obj, name, None, reason, message))
            left_out.add(index)
    for name, data_type in extract.columns.items():
        if name not in table.column_names or not (
            pa.types.is_date(data_type) or pa.types.is_timestamp(data_type)
        ):
            continue
        column = table.column(name)
        low, high = _plausible_bounds(data_type)
        outside = pc.or_(pc.less(column, low), pc.greater_equal(column, high))
        for index in pc.indices_nonzero(pc.fill_null(outside, False)).to_pylist():
            value = column[index].as_py()
            line = locate(index, name)
            reason = f"not a plausible date (outside {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]})"
            message = f"{path} {unit} {line}, column {name}: {value!s} is {reason}"
            bad.append(BadRow(path.name, line, obj, name, str(value), reason, message))
            left_out.add(index)
    for name, allowed in extract.enums.items():
        if name not in table.column_names:
            continue
        column = table.column(name)
        outside = pc.and_(column.is_valid(), pc.invert(pc.is_in(column, pa.array(allowed))))
        for index in pc.indices_nonzero(outside).to_pylist():
            value = column[index].as_py()
            line = locate(index, name)
            reason = f"not one of {', '.join(allowed)}"
            message = f"{path} {unit} {line}, column {name}: {value!r} is {reason}"
            bad.append(BadRow(path.name, line, obj, name, value, reason, message))
            left_out.add(index)
    # Two rows with the same key and cursor: dlt would keep either one. Exact copies are one row;
    # different contents are both quarantined (no winner can be told).
    key, cursor = extract.primary_key, extract.cursor
    if pc.count_distinct(table.column(key), mode="all").as_py() == table.num_rows:
        return bad, sorted(left_out)  # every id once: no (id, cursor) repeat (3x faster, scale.md)
    counts = table.select([key, cursor]).group_by([key, cursor]).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        wanted = {(r[key], r[cursor]) for r in repeated.select([key, cursor]).to_pylist()}
        groups: dict[tuple, list[int]] = {}
        pairs = zip(table.column(key).to_pylist(), table.column(cursor).to_pylist(), strict=True)
        for index, pair in enumerate(pairs):
            if pair in wanted and index not in left_out:
                groups.setdefault(pair, []).append(index)
        for (key_value, cursor_value), indices in groups.items():
            rows = [table.slice(i, 1).to_pylist()[0] for i in indices]
            if all(row == rows[0] for row in rows[1:]):
                left_out.update(indices[1:])  # exact copies of one row
                continue
            lines = [locate(i, key) for i in indices]
            for index, line in zip(indices, lines, strict=True):
                others = ", ".join(str(other) for other in lines if other != line)
                reason = (
                    f"duplicate key with conflicting content: the same {key} and {cursor} "
                    f"({cursor_value}) on {unit} {others}"
                )
                message = f"{path} {unit} {line}, column {key}: {key_value!r}: {reason}"
                bad.append(BadRow(path.name, line, obj, key, key_value, reason, message))
                left_out.add(index)
    return bad, sorted(left_out)


def read_extract_file(
    extract: Extract,
    path: Path,
    fmt: LandingFormat | None = None,
    *,
    bad_rows: list[BadRow] | None = None,
) -> pa.Table:
    """One extract file as an arrow table typed as declared, with warehouse column names.

    ``fmt`` is the declared landing format; by default the landing configuration's for the
    object. The file extension chooses the reader (``.csv``, ``.jsonl``, ``.parquet``).

    Bad rows (a value that is not of its type or enum, an empty primary key or cursor, a wrong
    number of fields, the same key and cursor with different contents): without ``bad_rows``, the
    first raises ``ExtractFileError`` naming file, line and column; with a list, they are left
    out of the table and one ``BadRow`` per bad field is appended to it. A file that cannot be
    read (encoding, header, truncated) raises in both cases.
    """
    path = Path(path)
    if fmt is None:
        fmt = load_landing_config().format_of(extract.system, extract.object_name)
    kind = EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise ExtractFileError(f"{path}: not a .csv, .jsonl or .parquet file")
    if path.stat().st_size == 0:
        raise ExtractFileError(
            f"{path}: the file is empty (0 bytes), expected "
            + ("a header row" if kind == "csv" else "rows" if kind == "jsonl" else "Parquet")
        )
    table, locate, bad = _READERS[kind](extract, path, fmt)
    checked, left_out = _row_checks(
        extract, path, table, locate, "row" if kind == "parquet" else "line"
    )
    bad = bad + checked
    if bad and bad_rows is None:
        raise ExtractFileError(bad[0].message)
    if bad_rows is not None:
        bad_rows.extend(sorted(bad, key=lambda b: b.line))
    if left_out:
        keep = pc.invert(pc.is_in(pa.array(range(table.num_rows)), pa.array(left_out)))
        table = table.filter(keep)
    required = {extract.primary_key, extract.cursor}
    schema = pa.schema(
        pa.field(column_name(f.name), f.type, nullable=f.name not in required) for f in table.schema
    )
    table = table.rename_columns(schema.names).cast(schema)
    return table.append_column(
        SOURCE_FILE_COLUMN, pa.array([path.name] * table.num_rows, pa.string())
    )


# ---------------------------------------------------------------------------------------------
# Schema contracts (ingestion/README.md, "Schema contracts"): the declared type of a column is the
# type of its raw column, checked against the warehouse before anything is loaded; dlt's variant
# columns (``amount__v_text``) never reach the raw tables.

VARIANT_MARK = "__v_"  # dlt names a variant column <column>__v_<type>


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
            f"{raw}.{column} is {have} in the warehouse, but {_where(extract)}.{name} is now "
            f"declared {want} (ingestion/extracts.py){_sample(table, column, source)}: {frozen}. "
            f"Revert the declaration, or migrate the raw table (alter table {raw} alter column "
            f"{column} type {want}), or drop it (drop table {raw}) and the pipeline state "
            f"(pilotage_{extract.system} in the dlt pipelines folder) to reload every file"
        )


def variant_columns(warehouse_path: Path) -> list[str]:
    """Every dlt variant column (``<column>__v_<type>``) of the ``raw_*`` schemas of a DuckDB
    warehouse, as ``schema.table.column``: values that did not fit their declared column. There
    must be none (``ingestion.pipeline.load`` raises ``SchemaContractError`` otherwise)."""
    import duckdb

    if not Path(warehouse_path).exists():
        return []
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where starts_with(table_schema, 'raw_') and contains(column_name, ?) "
            "order by all",
            [VARIANT_MARK],
        ).fetchall()
    return [".".join(row) for row in rows]


def check_no_variant_columns(warehouse_path: Path) -> None:
    """Raise ``SchemaContractError`` naming every variant column of the raw schemas."""
    found = variant_columns(warehouse_path)
    if found:
        raise SchemaContractError(
            f"dlt variant column(s) in the raw tables of {warehouse_path}: {', '.join(found)}: "
            "values of another type than declared must not reach dbt. Fix the declaration or "
            "the source, move the values into the declared column or drop the variant columns"
        )


# ---------------------------------------------------------------------------------------------
# dlt resources and sources.


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes: a file already loaded is known by its content, whatever its
    name (a re-delivered drop, the same file under another name)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_key(extract: Extract) -> list[str]:
    """The raw table's primary key: record id and cursor, one row per version of a record."""
    return [column_name(extract.primary_key), column_name(extract.cursor)]


def empty_extract_table(extract: Extract) -> pa.Table:
    """A table with the extract's declared columns and no row, as ``read_extract_file`` types
    them: loaded, it creates the raw table, so dbt's sources resolve for an object (or a whole
    system) the company does not deliver."""
    required = set(extract.required_columns)
    schema = pa.schema(
        pa.field(column_name(name), data_type, nullable=name not in required)
        for name, data_type in extract.columns.items()
    )
    return schema.empty_table().append_column(SOURCE_FILE_COLUMN, pa.array([], pa.string()))


def extract_resource(
    extract: Extract,
    landing_dir: Path,
    landing_config: str | None = None,
    found: dict | None = None,
    enabled: bool = True,
):
    """The dlt resource that loads every file of one extract, oldest drop first.

    Every version of a record lands once: the raw table is merged on (id, cursor), so a record
    delivered again (a re-delivered drop, the same record in two drops) replaces itself, and a
    late or out-of-order file adds its older versions without overwriting newer ones. Files
    already loaded (same content, recorded in the resource state, which dlt keeps in the
    destination) are not read again.

    ``landing_config``: a landing configuration YAML file; by default ``$PILOTAGE_LANDING_CONFIG``
    or ``ingestion/landing.yaml``, read when the resource runs. Under ``on_bad_row: quarantine``
    bad rows are left out, and kept in ``found`` (file -> bad rows) for the ``quarantine``
    resource; under ``fail`` the first raises ``ExtractFileError``.

    A system the company does not have (``enabled`` false, PILOTAGE_SOURCES) reads no file, and
    an object never delivered gets an empty raw table: the models build and say what is missing.
    """
    landing_dir = Path(landing_dir)

    def with_load_id(table: pa.Table) -> pa.Table:
        # arrow tables get no _dlt_load_id from dlt by default: add it, as for JSON rows
        load_id = dlt.current.load_package_state()["load_id"]
        return table.append_column(
            LOAD_ID_COLUMN, pa.array([load_id] * table.num_rows, pa.string())
        )

    def read_files() -> Iterator[pa.Table]:
        # the raw table as it is in the warehouse: its declared columns keep their types
        existing = raw_column_types(current_pipeline(), extract.table)
        if not enabled:
            if not existing:
                yield with_load_id(empty_extract_table(extract))
            return
        fmt = load_landing_config(landing_config).format_of(extract.system, extract.object_name)
        # content digest -> file name of every file loaded; forgotten when the raw table is gone
        loaded = dlt.current.resource_state().setdefault("loaded_files", {})
        if not existing:
            loaded.clear()
        files = [
            (path, digest)
            for path in extract_files(extract, landing_dir, fmt)
            if (digest := file_digest(path)) not in loaded
        ]
        if not files:
            check_raw_table(extract, existing)
            if not existing:
                yield with_load_id(empty_extract_table(extract))
        for path, digest in files:
            bad = [] if fmt.on_bad_row == "quarantine" else None
            table = read_extract_file(extract, path, fmt, bad_rows=bad)
            check_raw_table(extract, existing, table, path.name)
            if found is not None and bad is not None:
                found[_file_key(path)] = bad
            if bad:
                logger.warning(
                    "%s: rows with %d bad field(s) left out of raw_%s.%s, listed in raw_%s.%s",
                    path,
                    len(bad),
                    extract.system,
                    extract.table,
                    extract.system,
                    QUARANTINE_TABLE,
                )
            loaded[digest] = path.name
            # A header-only file still yields its (empty, typed) table: the raw table exists,
            # so dbt's sources resolve for a CRM that does not export this object.
            yield with_load_id(table)

    return dlt.resource(
        read_files,
        name=extract.table,
        primary_key=version_key(extract),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        schema_contract={"data_type": "freeze"},
    )


def quarantine_resource(
    system: str, landing_dir: Path, landing_config: str | None = None, found: dict | None = None
):
    """The ``quarantine`` resource of a system: one row per bad field of every landing file of
    an object declared ``on_bad_row: quarantine``, merged on (source_file, line, field), so that
    re-running on the same files does not duplicate them. Always yields a table (maybe empty):
    ``raw_<system>.quarantine`` exists after the first load.

    Every file is checked, not only those with rows newer than the incremental cursor: a bad row
    stays listed (with the latest ``load_id`` that found it) while its file is in the landing
    folder. ``found`` holds what the extract resources already found in this run. The rows set
    aside before landing (``pilotage map-crm``: ``<landing>/<system>/_quarantine/*.csv``) are
    listed too."""
    landing_dir = Path(landing_dir)
    found = {} if found is None else found

    def find_bad_rows() -> Iterator[pa.Table]:
        config = load_landing_config(landing_config)
        load_id = dlt.current.load_package_state()["load_id"]
        bad_rows: list[BadRow] = []
        for extract in extracts_of(system):
            fmt = config.format_of(extract.system, extract.object_name)
            if fmt.on_bad_row != "quarantine":
                continue
            for path in extract_files(extract, landing_dir, fmt):
                key = _file_key(path)
                if key not in found:
                    bad: list[BadRow] = []
                    read_extract_file(extract, path, fmt, bad_rows=bad)
                    found[key] = bad
                bad_rows.extend(found[key])
        bad_rows.extend(read_quarantine_files(landing_dir, system))
        yield quarantine_table(bad_rows, load_id)

    return dlt.resource(
        find_bad_rows,
        name=QUARANTINE_TABLE,
        primary_key=list(QUARANTINE_KEY),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=QUARANTINE_COLUMNS,
    )


def empty_quarantine_resource():
    """A ``quarantine`` resource that finds nothing, for sources whose values are typed by the
    source system (the ERP database): ``raw_erp`` gets the same tables whatever the source."""

    def nothing_found() -> Iterator[pa.Table]:
        yield quarantine_table([], dlt.current.load_package_state()["load_id"])

    return dlt.resource(
        nothing_found,
        name=QUARANTINE_TABLE,
        primary_key=list(QUARANTINE_KEY),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=QUARANTINE_COLUMNS,
    )


def _resources(
    system: str, landing_dir: Path, landing_config: str | None, enabled: bool = True
) -> list:
    found: dict = {}  # file -> bad rows, shared by the resources of one source
    resources = [
        extract_resource(e, landing_dir, landing_config, found, enabled)
        for e in extracts_of(system)
    ]
    if not enabled:
        return [*resources, empty_quarantine_resource()]
    return [*resources, quarantine_resource(system, landing_dir, landing_config, found)]


@dlt.source(name="crm")
def crm_source(landing_dir: Path, landing_config: str | None = None, enabled: bool = True):
    """CRM extracts (Salesforce-style objects) from ``<landing>/crm/<Object>/``; with
    ``enabled`` false (a company without a CRM), empty raw tables and no file read."""
    return _resources("crm", landing_dir, landing_config, enabled)


@dlt.source(name="erp")
def erp_source(landing_dir: Path, landing_config: str | None = None, enabled: bool = True):
    """ERP extracts (customers, products, orders, invoices) from ``<landing>/erp/<object>/``;
    with ``enabled`` false (a company without an ERP), empty raw tables and no file read."""
    return _resources("erp", landing_dir, landing_config, enabled)


SOURCES: dict[str, Callable] = {"crm": crm_source, "erp": erp_source}
