"""Readers of the landing-file source: one extract file (CSV, JSON Lines, Parquet) as an arrow
table typed as declared in ``ingestion.extracts``, read in the format, delimiter, decimal mark and
encoding its landing configuration declares (``ingestion.formats``).

Every reader gives the same typed table (declared columns and types, extra columns as text) and a
``locate(row, column)`` giving the physical line (Parquet: the row) of a value, so that a bad value
is reported with its file, line and column; ``read_extract_file`` then applies the row checks
(``ingestion.landing_files.validation``) and names the columns as they land in the warehouse.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingestion.contracts import SOURCE_FILE_COLUMN, column_name
from ingestion.extracts import Extract
from ingestion.formats import (
    EXTENSIONS,
    SPACE_SEPARATORS,
    ExtractFileError,
    LandingFormat,
    check_encoding,
    csv_records,
    describe_delimiter,
    load_landing_config,
    number_pattern,
    sniff_delimiter,
)
from ingestion.landing_files.helpers import where
from ingestion.landing_files.settings import CONFIG_HINT, FALSE_VALUES, MAX_SHOWN, TRUE_VALUES
from ingestion.landing_files.validation import row_checks
from ingestion.quarantine import ROW_FIELD, BadRow

# ---------------------------------------------------------------------------------------------
# Values: what a field must look like, to locate and explain a bad one.

# Numbers under ``decimal: ","`` (``1 234,56``; ``double`` columns also ``1,5E-03``): the number
# grammar of ``ingestion.formats``, with the space thousands separators of a decimal-comma locale.
_COMMA_NUMBER = number_pattern(",", SPACE_SEPARATORS)
_COMMA_FLOAT = _COMMA_NUMBER + r"(?:[eE][+-]?\d+)?"
_COMMA_NUMBER_RE = re.compile(_COMMA_NUMBER)
_COMMA_FLOAT_RE = re.compile(_COMMA_FLOAT)
_SPACE_SEPARATOR_RE = "[" + "".join(re.escape(s) for s in SPACE_SEPARATORS) + "]"


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
    for separator in SPACE_SEPARATORS:
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
    name_of = where(extract)
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
            shown = fmt.delimiter.join(row)[:MAX_SHOWN]
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
                reason += _hint(value, data_type, fmt, name_of)
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
        text = pc.replace_substring_regex(column, _SPACE_SEPARATOR_RE, "")
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
                    f"{where(extract)} is declared delimiter: "
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
    check_encoding(path, fmt, where(extract))
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
    check_encoding(path, fmt, where(extract))
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
            shown = text.strip()[:MAX_SHOWN]
            bad.append(BadRow(path.name, number, obj, ROW_FIELD, shown, reason, message))
            continue
        if not isinstance(record, dict):
            reason = "expected one JSON object per line"
            shown = text.strip()[:MAX_SHOWN]
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
    checked, left_out = row_checks(
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
