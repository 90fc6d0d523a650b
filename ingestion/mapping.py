"""Bring your own CRM: a YAML mapping turns another CRM's export files into canonical extracts.

A mapping file (``ingestion/mappings/*.yaml``, documented in ``docs/crm_mappings.md``) declares
which export files feed which canonical CRM object of ``ingestion.extracts.CRM_EXTRACTS``, how
export columns and values become canonical columns and values, and which rows are skipped and
why. ``convert_export`` applies it and writes the canonical CSV files in the landing layout the
file source reads (``<landing>/crm/<Object>/<Object>_<drop>.csv``), so the dlt CRM source loads
them unchanged.

Nothing is guessed: a value that is not in a declared value map, a lookup key that is not in the
looked-up file, a date that does not match its declared format, an amount with more decimals than
the canonical column holds all raise ``ExportError`` naming the export file, the line, the column
and the value. A mapping that names an unknown object, column or key raises ``MappingError``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import yaml

from ingestion.extracts import CRM_EXTRACTS, Extract

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
EXTRACTS: dict[str, Extract] = {e.object_name: e for e in CRM_EXTRACTS}
UTC = dt.UTC
KEY_SEPARATOR = " | "  # joins the values of a multi-column table map key: "won | *"
WILDCARD = "*"


class MappingError(ValueError):
    """A mapping file that is not valid (unknown object, column, key or file reference)."""


class ExportError(ValueError):
    """An export file that does not match its mapping (missing column, unmapped value, ...)."""


# ---------------------------------------------------------------------------------------------
# The mapping file: parsed and validated once, before any export is read.

SOURCE_KEYS = ("from", "const", "template", "drop_time", "coalesce")
TRANSFORM_KEYS = (
    "split",
    "case",
    "map",
    "lookup",
    "prefix",
    "divide",
    "multiply",
    "add_minutes",
    "format",
    "timezone",
    "default",
    "required",
)
SPLIT_TAKES = ("first", "last", "rest")
SPECIAL_FORMATS = ("epoch_ms", "epoch_s", "iso", "hh_mm")
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclass
class FileSpec:
    key: str
    glob: str
    route_by: str | None = None
    routes: dict[str, str] = field(default_factory=dict)  # value -> object name
    skips: dict[str, str] = field(default_factory=dict)  # value -> reason


@dataclass
class ColumnSpec:
    target: str
    data_type: pa.DataType
    where: str  # "objects.Opportunity.columns.Amount", for messages
    source: str  # one of SOURCE_KEYS
    argument: Any
    options: dict[str, Any]

    def columns_read(self) -> list[str]:
        extra = [self.options["add_minutes"]] if "add_minutes" in self.options else []
        if self.source == "from":
            return [self.argument, *extra]
        if self.source == "template":
            return _TEMPLATE_FIELD.findall(self.argument) + extra
        if self.source == "coalesce":
            return [c for spec in self.argument for c in spec.columns_read()] + extra
        return extra


@dataclass
class TableMap:
    where: str
    sources: list[str]
    targets: list[str]
    values: dict[tuple[str, ...], list[Any]]


@dataclass
class ObjectSpec:
    extract: Extract
    file: str
    columns: list[ColumnSpec]
    tables: list[TableMap]
    filters: list[tuple[str, str, Any]]  # (column, "in" | "not_empty", argument)
    distinct: bool


@dataclass
class Mapping:
    path: Path
    name: str
    files: dict[str, FileSpec]
    objects: dict[str, ObjectSpec]


def _fail(path: Path, where: str, message: str) -> MappingError:
    return MappingError(f"{path}: {where}: {message}")


def _keys(path: Path, where: str, node: Any, allowed: tuple[str, ...], required=()) -> dict:
    if not isinstance(node, dict):
        raise _fail(path, where, f"expected a mapping with keys {', '.join(allowed)}")
    unknown = [k for k in node if k not in allowed]
    if unknown:
        raise _fail(
            path, where, f"unknown key {unknown[0]!r} (expected one of {', '.join(allowed)})"
        )
    for key in required:
        if key not in node:
            raise _fail(path, where, f"missing key {key!r}")
    return node


def _text(value: Any) -> str:
    """A YAML scalar as export/canonical text (true -> 'true', 10 -> '10')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_column(
    path: Path, obj: str, name: str, node: Any, extract: Extract, where: str = ""
) -> ColumnSpec:
    where = where or f"objects.{obj}.columns.{name}"
    if name not in extract.columns:
        raise _fail(
            path,
            where,
            f"{obj} has no column {name!r} (columns: {', '.join(extract.columns)})",
        )
    if isinstance(node, str):  # shorthand: `Name: Deal Name`
        node = {"from": node}
    node = _keys(path, where, node, SOURCE_KEYS + TRANSFORM_KEYS)
    sources = [k for k in SOURCE_KEYS if k in node]
    if len(sources) != 1:
        raise _fail(path, where, f"give exactly one of {', '.join(SOURCE_KEYS)}")
    source = sources[0]
    argument = node[source]
    options = {k: node[k] for k in TRANSFORM_KEYS if k in node}
    if source == "coalesce":
        if not isinstance(argument, list) or len(argument) < 2:
            raise _fail(path, where, "coalesce takes a list of at least two value specs")
        argument = [
            _parse_column(path, obj, name, item, extract, f"{where}.coalesce[{i}]")
            for i, item in enumerate(argument)
        ]
    if source == "drop_time" and node["drop_time"] is not True:
        raise _fail(path, where, "drop_time takes `true`")
    if source in ("from", "template") and not isinstance(node[source], str):
        raise _fail(path, where, f"{source} takes a column name / text")
    if "split" in options:
        split = _keys(path, f"{where}.split", options["split"], ("sep", "take"), ("sep", "take"))
        if split["take"] not in SPLIT_TAKES:
            raise _fail(path, f"{where}.split", f"take is one of {', '.join(SPLIT_TAKES)}")
    if "case" in options and options["case"] not in ("lower", "upper"):
        raise _fail(path, where, "case is lower or upper")
    if "map" in options:
        if not isinstance(options["map"], dict) or not options["map"]:
            raise _fail(path, f"{where}.map", "expected export value: canonical value pairs")
        options["map"] = {_text(k): _text(v) for k, v in options["map"].items()}
    if "lookup" in options:
        _keys(
            path,
            f"{where}.lookup",
            options["lookup"],
            ("file", "key", "value"),
            ("file", "key", "value"),
        )
    for key in ("divide", "multiply"):
        if key in options and (
            isinstance(options[key], bool) or not isinstance(options[key], int | float)
        ):
            raise _fail(path, where, f"{key} takes a number")
    fmt = options.get("format")
    if fmt is not None and fmt not in SPECIAL_FORMATS and "%" not in str(fmt):
        raise _fail(
            path,
            where,
            f"format {fmt!r} is one of {', '.join(SPECIAL_FORMATS)} or a strptime pattern "
            "such as '%Y-%m-%d %H:%M'",
        )
    data_type = extract.columns[name]
    temporal = pa.types.is_timestamp(data_type) or pa.types.is_date(data_type)
    numeric = pa.types.is_decimal(data_type) or pa.types.is_integer(data_type)
    if fmt is not None and not (temporal or (fmt == "hh_mm" and numeric)):
        raise _fail(path, where, f"format {fmt!r} does not apply to a {data_type} column")
    if ("divide" in options or "multiply" in options) and not numeric:
        raise _fail(path, where, f"divide/multiply do not apply to a {data_type} column")
    if "add_minutes" in options and not pa.types.is_timestamp(data_type):
        raise _fail(path, where, "add_minutes applies to timestamp columns only")
    if "timezone" in options:
        try:
            ZoneInfo(str(options["timezone"]))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _fail(path, where, f"unknown timezone {options['timezone']!r}") from exc
    if "default" in options:
        default = _text(options["default"])
        try:
            plain = ColumnSpec(name, extract.columns[name], where, "const", default, {})
            options["default"] = _output(default, plain, None) if default else ""
        except (ValueError, InvalidOperation) as exc:
            raise _fail(path, where, f"default {default!r}: {exc}") from exc
    return ColumnSpec(name, extract.columns[name], where, source, argument, options)


def _parse_table(path: Path, obj: str, i: int, node: Any, extract: Extract) -> TableMap:
    where = f"objects.{obj}.tables[{i}]"
    node = _keys(path, where, node, ("from", "columns", "values"), ("from", "columns", "values"))
    sources = node["from"] if isinstance(node["from"], list) else [node["from"]]
    targets = node["columns"]
    if not isinstance(targets, list) or not targets:
        raise _fail(path, where, "columns is a list of canonical columns")
    for name in targets:
        if name not in extract.columns:
            raise _fail(path, where, f"{obj} has no column {name!r}")
    if not isinstance(node["values"], dict) or not node["values"]:
        raise _fail(path, where, "values maps export values to a list of canonical values")
    values: dict[tuple[str, ...], list[Any]] = {}
    for key, row in node["values"].items():
        parts = tuple(p.strip() for p in _text(key).split(KEY_SEPARATOR.strip()))
        if len(parts) != len(sources):
            raise _fail(
                path,
                f"{where}.values.{key}",
                f"key has {len(parts)} part(s) for {len(sources)} column(s) "
                f"(join them with {KEY_SEPARATOR!r})",
            )
        if not isinstance(row, list) or len(row) != len(targets):
            raise _fail(path, f"{where}.values.{key}", f"expected {len(targets)} values")
        values[parts] = [_text(v) for v in row]
    return TableMap(where, [str(s) for s in sources], [str(t) for t in targets], values)


def _walk(specs: list[ColumnSpec]) -> list[ColumnSpec]:
    """The column specs and, depth first, the specs inside their coalesce lists."""
    out = []
    for spec in specs:
        out.append(spec)
        if spec.source == "coalesce":
            out.extend(_walk(spec.argument))
    return out


def load_mapping(mapping_path: Path) -> Mapping:
    """Read and validate a mapping file (raises ``MappingError`` naming the file and the key)."""
    path = Path(mapping_path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    doc = _keys(
        path, "top level", doc, ("name", "description", "files", "objects"), ("files", "objects")
    )
    files: dict[str, FileSpec] = {}
    for key, node in (doc["files"] or {}).items():
        where = f"files.{key}"
        if isinstance(node, str):
            node = {"glob": node}
        node = _keys(path, where, node, ("glob", "route_by", "routes"), ("glob",))
        spec = FileSpec(str(key), str(node["glob"]), node.get("route_by"))
        if (spec.route_by is None) != ("routes" not in node):
            raise _fail(path, where, "route_by and routes go together")
        for value, target in (node.get("routes") or {}).items():
            if isinstance(target, dict):
                _keys(path, f"{where}.routes.{value}", target, ("skip",), ("skip",))
                spec.skips[_text(value)] = str(target["skip"])
            elif target in EXTRACTS:
                spec.routes[_text(value)] = target
            else:
                raise _fail(
                    path,
                    f"{where}.routes.{value}",
                    f"{target!r} is neither a CRM object ({', '.join(EXTRACTS)}) nor "
                    "{skip: <reason>}",
                )
        files[spec.key] = spec
    objects: dict[str, ObjectSpec] = {}
    for obj, node in (doc["objects"] or {}).items():
        where = f"objects.{obj}"
        if obj not in EXTRACTS:
            raise _fail(path, where, f"unknown CRM object (expected one of {', '.join(EXTRACTS)})")
        extract = EXTRACTS[obj]
        node = _keys(
            path, where, node, ("from", "where", "distinct", "columns", "tables"), ("from",)
        )
        if node["from"] not in files:
            raise _fail(path, f"{where}.from", f"no file {node['from']!r} under files")
        file_spec = files[node["from"]]
        if file_spec.route_by and obj not in file_spec.routes.values():
            raise _fail(
                path, f"{where}.from", f"files.{file_spec.key}.routes never routes to {obj}"
            )
        columns = [
            _parse_column(path, obj, name, spec, extract)
            for name, spec in (node.get("columns") or {}).items()
        ]
        tables = [
            _parse_table(path, obj, i, spec, extract)
            for i, spec in enumerate(node.get("tables") or [])
        ]
        mapped = [c.target for c in columns] + [t for table in tables for t in table.targets]
        twice = sorted({c for c in mapped if mapped.count(c) > 1})
        if twice:
            raise _fail(path, where, f"column(s) {', '.join(twice)} mapped more than once")
        for name in (extract.primary_key, extract.cursor):
            if name not in mapped:
                raise _fail(path, where, f"{name} is not mapped, but {obj} needs it on every row")
        filters = []
        for i, cond in enumerate(node.get("where") or []):
            cond = _keys(path, f"{where}.where[{i}]", cond, ("column", "in", "not_empty"))
            if "column" not in cond or len(cond) != 2:
                raise _fail(path, f"{where}.where[{i}]", "give column and one of in, not_empty")
            op = "in" if "in" in cond else "not_empty"
            arg = [_text(v) for v in cond["in"]] if op == "in" else cond["not_empty"]
            filters.append((str(cond["column"]), op, arg))
        for spec in _walk(columns):
            lookup = spec.options.get("lookup")
            if lookup and lookup["file"] not in files:
                raise _fail(path, f"{spec.where}.lookup", f"no file {lookup['file']!r} under files")
        objects[obj] = ObjectSpec(
            extract, file_spec.key, columns, tables, filters, bool(node.get("distinct", False))
        )
    return Mapping(path, str(doc.get("name") or path.stem), files, objects)


# ---------------------------------------------------------------------------------------------
# Reading the export files.


@dataclass
class ExportFile:
    paths: list[Path]
    header: list[str]
    rows: list[tuple[Path, int, dict[str, str]]]  # (file, line, row)


def _read_export(export_dir: Path, spec: FileSpec) -> ExportFile:
    paths = sorted(p for p in Path(export_dir).glob(spec.glob) if p.is_file())
    if not paths:
        raise ExportError(f"{export_dir}: no export file matches {spec.glob!r} (files.{spec.key})")
    header: list[str] = []
    rows: list[tuple[Path, int, dict[str, str]]] = []
    for p in paths:
        with p.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            file_header = [h.strip() for h in next(reader, [])]
            if not file_header:
                raise ExportError(f"{p}: the file is empty, expected a header row")
            if header and file_header != header:
                raise ExportError(f"{p} line 1: header differs from {paths[0].name}")
            header = file_header
            for record in reader:
                if not any(field.strip() for field in record):
                    continue  # blank line
                if len(record) != len(header):
                    raise ExportError(
                        f"{p} line {reader.line_num}: {len(record)} fields where the header "
                        f"has {len(header)}"
                    )
                row = {h: v.strip() for h, v in zip(header, record, strict=True)}
                rows.append((p, reader.line_num, row))
    return ExportFile(paths, header, rows)


def _require_columns(export: ExportFile, columns: list[str], why: str) -> None:
    for name in columns:
        if name not in export.header:
            raise ExportError(
                f"{export.paths[0]} line 1: the header lacks column {name!r}, which {why} "
                f"reads (header: {', '.join(export.header)})"
            )


# ---------------------------------------------------------------------------------------------
# Values.


class _ValueError(Exception):
    """A value that cannot be converted; turned into an ExportError with its file and line."""

    def __init__(self, column: str, value: str, message: str):
        super().__init__(message)
        self.column, self.value, self.message = column, value, message


def _format_ts(value: dt.datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse_time(value: str, fmt: str, zone: ZoneInfo | None) -> dt.datetime | dt.date:
    if fmt in ("epoch_ms", "epoch_s"):
        micros = int(Decimal(value) * (1000 if fmt == "epoch_ms" else 1_000_000))
        return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=micros)
    if fmt == "iso":
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.date.fromisoformat(value)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        parsed = dt.datetime.strptime(value, fmt)
        if not re.search(r"%[HIMSfzZp]", fmt) and "%z" not in fmt:
            return parsed.date()
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError("a timestamp without zone: give the mapping a timezone")
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _minutes(value: str) -> int:
    """Minutes from "HH:MM" or a whole number of minutes."""
    if ":" in value:
        hours, _, minutes = value.partition(":")
        return int(hours) * 60 + int(minutes)
    return int(value)


def _output(value: str, spec: ColumnSpec, zone: ZoneInfo | None, plus_minutes: int = 0) -> str:
    """A transformed value as the canonical column's type writes it (raises ValueError)."""
    data_type = spec.data_type
    fmt = spec.options.get("format")
    if fmt == "hh_mm":
        value = str(_minutes(value))
        fmt = None
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        parsed = _parse_time(value, fmt or "iso", zone)
        if pa.types.is_date(data_type):
            if isinstance(parsed, dt.datetime):
                parsed = parsed.astimezone(zone or UTC).date()
            return parsed.isoformat()
        if not isinstance(parsed, dt.datetime):
            raise ValueError("a date where a timestamp is expected")
        return _format_ts(parsed + dt.timedelta(minutes=plus_minutes))
    if fmt is not None:
        raise ValueError(f"format {fmt!r} applies to dates and timestamps only")
    if pa.types.is_boolean(data_type):
        if value.lower() not in ("true", "false"):
            raise ValueError("not a boolean (true/false): map the export's values to true/false")
        return value.lower()
    if pa.types.is_decimal(data_type) or pa.types.is_integer(data_type):
        number = Decimal(value)  # no thousands separators, "." decimals: nothing is guessed
        if not number.is_finite():
            raise ValueError("not a number")
        arithmetic = "divide" in spec.options or "multiply" in spec.options
        if "divide" in spec.options:
            number = number / Decimal(str(spec.options["divide"]))
        if "multiply" in spec.options:
            number = number * Decimal(str(spec.options["multiply"]))
        scale = data_type.scale if pa.types.is_decimal(data_type) else 0
        quantum = Decimal(1).scaleb(-scale)
        if arithmetic:
            number = number.quantize(quantum, rounding=ROUND_HALF_UP)
        elif number != number.quantize(quantum):
            raise ValueError(f"more than {scale} decimal(s)")
        return str(number.quantize(quantum))
    if pa.types.is_floating(data_type):
        return str(float(value)) if "." in value or "e" in value.lower() else str(int(value))
    return value


def _apply_column(
    spec: ColumnSpec,
    row: dict[str, str],
    drop_time: str,
    lookups: dict[tuple[str, str, str], dict[str, str | None]],
) -> str:
    opts = spec.options
    column = spec.argument if spec.source == "from" else spec.target
    if spec.source == "from":
        value = row[spec.argument]
    elif spec.source == "const":
        value = _text(spec.argument)
    elif spec.source == "template":
        parts = spec.columns_read()
        if all(not row[p] for p in parts):
            value = ""
        else:
            value = _TEMPLATE_FIELD.sub(lambda m: row[m.group(1)], spec.argument).strip()
    elif spec.source == "coalesce":
        for item in spec.argument:
            value = _apply_column(item, row, drop_time, lookups)
            if value != "":
                return value
        value = ""
    else:
        value = drop_time
    raw = value
    if value == "":
        if "default" in opts:
            return opts["default"]
        if opts.get("required"):
            raise _ValueError(column, raw, f"empty, but {spec.where} is required")
        else:
            return ""
    if "split" in opts:
        pieces = value.split(opts["split"]["sep"])
        take = opts["split"]["take"]
        sep = opts["split"]["sep"]
        value = {
            "first": pieces[0],
            "last": pieces[-1],
            "rest": sep.join(pieces[1:]),
        }[take].strip()
    if opts.get("case") == "lower":
        value = value.lower()
    elif opts.get("case") == "upper":
        value = value.upper()
    if "map" in opts:
        if value not in opts["map"]:
            known = ", ".join(repr(k) for k in opts["map"])
            raise _ValueError(
                column, raw, f"value {raw!r} is not in the map of {spec.where} (known: {known})"
            )
        value = opts["map"][value]
    if "lookup" in opts and value != "":
        lookup = opts["lookup"]
        table = lookups[(lookup["file"], lookup["key"], lookup["value"])]
        if table.get(value.casefold(), "") is None:
            raise _ValueError(
                column,
                raw,
                f"value {raw!r} matches several rows of files.{lookup['file']} with different "
                f"{lookup['value']!r} ({spec.where})",
            )
        found = table.get(value.casefold())
        if found is None:
            raise _ValueError(
                column,
                raw,
                f"value {raw!r} is not found in column {lookup['key']!r} of files.{lookup['file']}"
                f" ({spec.where})",
            )
        value = found
    if value == "":
        return ""
    if "prefix" in opts:
        value = f"{opts['prefix']}{value}"
    zone = ZoneInfo(str(opts["timezone"])) if "timezone" in opts else None
    try:
        plus = 0
        if "add_minutes" in opts:
            duration = row[opts["add_minutes"]]
            plus = _minutes(duration) if duration else 0
        return _output(value, spec, zone, plus)
    except (ValueError, InvalidOperation, OverflowError) as exc:
        detail = str(exc) if str(exc) and not isinstance(exc, InvalidOperation) else "invalid"
        raise _ValueError(
            column,
            raw,
            f"value {raw!r} cannot be written as {spec.where} ({data_type_name(spec)}): {detail}",
        ) from exc


def data_type_name(spec: ColumnSpec) -> str:
    data_type = spec.data_type
    if pa.types.is_timestamp(data_type):
        return f"timestamp, format {spec.options.get('format', 'iso')}"
    if pa.types.is_date(data_type):
        return f"date, format {spec.options.get('format', 'iso')}"
    return str(data_type)


def _apply_table(table: TableMap, row: dict[str, str]) -> dict[str, str]:
    key = tuple(row[s] for s in table.sources)
    for candidate in (key, *_wildcards(key)):
        if candidate in table.values:
            return dict(zip(table.targets, table.values[candidate], strict=True))
    known = ", ".join(repr(KEY_SEPARATOR.join(k)) for k in table.values)
    shown = KEY_SEPARATOR.join(key)
    raise _ValueError(
        " + ".join(table.sources),
        shown,
        f"value {shown!r} is not in the map of {table.where} (known: {known})",
    )


def _wildcards(key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The key with one, then more, of its parts replaced by the wildcard (right to left)."""
    out = []
    for n in range(1, len(key) + 1):
        out.append(key[: len(key) - n] + (WILDCARD,) * n)
    return out


def _typed_table_value(value: str, name: str, extract: Extract, where: str) -> str:
    spec = ColumnSpec(name, extract.columns[name], where, "const", value, {})
    if value == "":
        return ""
    return _output(value, spec, None)


# ---------------------------------------------------------------------------------------------
# Conversion.


def _row_filter(obj: ObjectSpec) -> Callable[[dict[str, str]], bool]:
    def keep(row: dict[str, str]) -> bool:
        for column, op, arg in obj.filters:
            if op == "in" and row[column] not in arg:
                return False
            if op == "not_empty" and bool(arg) == (row[column] == ""):
                return False
        return True

    return keep


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    os.replace(tmp, path)


def convert_export(
    mapping_path: Path, export_dir: Path, landing_dir: Path, drop: str
) -> dict[str, int]:
    """Convert one CRM export with its mapping into canonical landing files.

    Writes ``<landing>/crm/<Object>/<Object>_<drop>.csv`` for every CRM object of
    ``ingestion.extracts`` (a header-only file for the objects the mapping does not fill) and
    returns the rows written per object, plus ``skipped:<file>:<value>`` for the rows an explicit
    ``skip`` route left out. Every file is checked before any is written: an error leaves the
    landing folder untouched. The same export, mapping and drop give byte-identical files.
    """
    if not re.fullmatch(r"[0-9A-Za-z_-]+", drop):
        raise ValueError(f"drop {drop!r}: use letters, digits, '-' or '_' (e.g. 20261127)")
    mapping = load_mapping(mapping_path)
    export_dir, landing_dir = Path(export_dir), Path(landing_dir)
    drop_time = _drop_time(drop)
    if not drop_time and any(
        c.source == "drop_time" for o in mapping.objects.values() for c in _walk(o.columns)
    ):
        raise ValueError(f"drop {drop!r}: the mapping uses drop_time, give a YYYYMMDD drop")

    used_files = {o.file for o in mapping.objects.values()}
    used_files |= {
        c.options["lookup"]["file"]
        for o in mapping.objects.values()
        for c in _walk(o.columns)
        if "lookup" in c.options
    }
    exports = {key: _read_export(export_dir, mapping.files[key]) for key in sorted(used_files)}

    lookups: dict[tuple[str, str, str], dict[str, str | None]] = {}
    for obj in mapping.objects.values():
        for spec in _walk(obj.columns):
            if "lookup" not in spec.options:
                continue
            lk = spec.options["lookup"]
            export = exports[lk["file"]]
            _require_columns(export, [lk["key"], lk["value"]], f"{spec.where}.lookup")
            table: dict[str, str | None] = {}
            for _, _, row in export.rows:
                key = row[lk["key"]].casefold()
                if key and table.setdefault(key, row[lk["value"]]) != row[lk["value"]]:
                    table[key] = None  # ambiguous: an error if a row uses it
            lookups[(lk["file"], lk["key"], lk["value"])] = table

    # Route rows of the files that are split by a column (engagements -> Task / Event / skip).
    result: dict[str, int] = {}
    routed: dict[str, dict[str, list[int]]] = {}
    for key, export in exports.items():
        spec = mapping.files[key]
        if not spec.route_by:
            continue
        _require_columns(export, [spec.route_by], f"files.{key}.route_by")
        per_object: dict[str, list[int]] = {}
        for i, (path, line, row) in enumerate(export.rows):
            value = row[spec.route_by]
            if value in spec.routes:
                per_object.setdefault(spec.routes[value], []).append(i)
            elif value in spec.skips:
                count_key = f"skipped:{key}:{value}"
                result[count_key] = result.get(count_key, 0) + 1
            else:
                known = ", ".join(repr(v) for v in [*spec.routes, *spec.skips])
                raise ExportError(
                    f"{path} line {line}, column {spec.route_by}: value {value!r} is not routed "
                    f"by files.{key}.routes (known: {known})"
                )
        routed[key] = per_object

    outputs: dict[str, list[list[str]]] = {}
    for obj_name, obj in mapping.objects.items():
        extract = obj.extract
        export = exports[obj.file]
        needed = [c for spec in obj.columns for c in spec.columns_read()]
        needed += [c for table in obj.tables for c in table.sources]
        needed += [column for column, _, _ in obj.filters]
        _require_columns(export, list(dict.fromkeys(needed)), f"objects.{obj_name}")
        indexes = (
            routed[obj.file].get(obj_name, []) if obj.file in routed else range(len(export.rows))
        )
        keep = _row_filter(obj)
        rows: list[list[str]] = []
        seen: dict[str, tuple[Path, int, list[str]]] = {}
        for i in indexes:
            path, line, row = export.rows[i]
            if not keep(row):
                continue
            values: dict[str, str] = {}
            try:
                for spec in obj.columns:
                    values[spec.target] = _apply_column(spec, row, drop_time, lookups)
                for table in obj.tables:
                    for target, value in _apply_table(table, row).items():
                        try:
                            values[target] = _typed_table_value(value, target, extract, table.where)
                        except (ValueError, InvalidOperation) as exc:
                            raise MappingError(
                                f"{mapping.path}: {table.where}: {value!r} is not valid for "
                                f"{obj_name}.{target}: {exc}"
                            ) from exc
            except _ValueError as exc:
                raise ExportError(
                    f"{path} line {line}, column {exc.column}: {exc.message}"
                ) from exc
            for name in (extract.primary_key, extract.cursor):
                if not values.get(name):
                    raise ExportError(
                        f"{path} line {line}: {obj_name}.{name} comes out empty, but it is "
                        f"required on every row"
                    )
            out = [values.get(name, "") for name in extract.columns]
            # one row per version of a record: the same id with another cursor is a new version
            pk = values[extract.primary_key]
            version = (pk, values[extract.cursor])
            if version in seen:
                first_path, first_line, first_out = seen[version]
                if obj.distinct and first_out == out:
                    continue
                raise ExportError(
                    f"{path} line {line}: {obj_name}.{extract.primary_key} {pk!r} with "
                    f"{extract.cursor} {version[1]!r} again (first at {first_path} line "
                    f"{first_line})" + ("" if not obj.distinct else " with different values")
                )
            seen[version] = (path, line, out)
            rows.append(out)
        outputs[obj_name] = rows

    for extract in CRM_EXTRACTS:
        rows = outputs.get(extract.object_name, [])
        target = extract.folder(landing_dir) / f"{extract.object_name}_{drop}.csv"
        _write_csv(target, list(extract.columns), rows)
        result[extract.object_name] = len(rows)
    return dict(sorted(result.items(), key=lambda kv: (kv[0].startswith("skipped:"), kv[0])))


def _drop_time(drop: str) -> str:
    """The drop as a timestamp (midnight UTC of a YYYYMMDD drop), for `drop_time: true`."""
    digits = re.sub(r"\D", "", drop)[:8]
    try:
        day = dt.datetime.strptime(digits, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return ""
    return _format_ts(day)


def resolve_mapping(name_or_path: str | Path) -> Path:
    """A mapping file: a path, or the name of a shipped one (``hubspot``, ``pipedrive``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = MAPPINGS_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
    raise MappingError(f"{name_or_path}: no such mapping file, nor a shipped mapping ({names})")
