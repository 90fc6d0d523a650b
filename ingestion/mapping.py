"""Bring your own CRM: a YAML mapping turns another CRM's export files into canonical extracts.

A mapping file (``ingestion/mappings/*.yaml``, documented in ``docs/crm_mappings.md``) declares
how the export is written (``format``), which export files feed which canonical CRM object of
``ingestion.extracts.CRM_EXTRACTS`` (one spec, or several concatenated), how export columns and
values become canonical columns and values, and which rows are skipped and why. ``convert``
applies it and writes the canonical CSV files in the landing layout the file source reads
(``<landing>/crm/<Object>/<Object>_<drop>.csv``), so the dlt CRM source loads them unchanged.

Nothing is guessed. A value that is not in a declared value map, a lookup key that is not in the
looked-up file, a date that does not match its declared format, a number that does not fit the
declared marks, an empty required column are bad values: under ``on_bad_value: quarantine`` (the
default) the row is left out and filed, with its export file, line, column, value and reason, in
``<landing>/crm/_quarantine/mapping_<drop>.csv``, which the CRM source loads into
``raw_crm.quarantine``; under ``fail`` the first raises ``ExportError``. A file that cannot be read
as declared raises ``ExportError``; a mapping that names an unknown object, column or key, or does
not map a column every row of its object needs, raises ``MappingError`` before anything is read.

``coverage_report`` says which data requirements and KPIs of ``dbt/kpis.yml`` a mapping (and,
after a conversion, the export) supports, and why not.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import yaml

from ingestion.export_format import (
    CANONICAL,
    ExportError,
    ExportFile,
    ExportFormat,
    ExportRow,
    MappingError,
    check_time_format,
    parse_format,
    read_export,
)
from ingestion.extracts import CRM_EXTRACTS, Extract
from ingestion.quarantine import QUARANTINE_FILE_COLUMNS, ROW_FIELD, BadRow, quarantine_folder

if TYPE_CHECKING:
    from pilotage.kpi_catalogue import Catalogue, DataRequirement

__all__ = [
    "Conversion",
    "CoverageReport",
    "ExportError",
    "MappingError",
    "convert",
    "convert_export",
    "coverage_report",
    "load_mapping",
    "resolve_mapping",
]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
EXTRACTS: dict[str, Extract] = {e.object_name: e for e in CRM_EXTRACTS}
UTC = dt.UTC
KEY_SEPARATOR = " | "  # joins the values of a multi-column table map key: "won | *"
WILDCARD = "*"
BAD_VALUE_POLICIES = ("quarantine", "fail")


# ---------------------------------------------------------------------------------------------
# The mapping file: parsed and validated once, before any export is read.

TOP_KEYS = ("name", "description", "format", "on_bad_value", "files", "objects")
FILE_KEYS = ("glob", "route_by", "routes", "format")
SPEC_KEYS = ("from", "where", "distinct", "columns", "tables", "on_bad_value")
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
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclass
class FileSpec:
    key: str
    glob: str
    fmt: ExportFormat
    route_by: str | None = None
    routes: dict[str, str] = field(default_factory=dict)  # value -> object name
    skips: dict[str, str] = field(default_factory=dict)  # value -> reason


@dataclass(frozen=True)
class LookupSpec:
    """``lookup``: the ``value`` column of the row of ``file`` whose ``key`` matches."""

    file: str
    key: str  # a template of the looked-up file's columns: "{email}", "{firstName} {lastName}"
    value: str

    def columns(self) -> list[str]:
        return [*_TEMPLATE_FIELD.findall(self.key), self.value]

    def describe(self) -> str:
        fields = _TEMPLATE_FIELD.findall(self.key)
        if self.key == " ".join(f"{{{f}}}" for f in fields):
            if len(fields) == 1:
                return f"column {fields[0]!r}"
            return f"columns {' + '.join(repr(f) for f in fields)} (joined by a space)"
        return f"key {self.key!r}"


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

    @property
    def label(self) -> str:
        """The export column(s) a bad value is reported in (the target for a const)."""
        return " + ".join(dict.fromkeys(self.columns_read())) or self.target


@dataclass
class TableMap:
    where: str
    sources: list[str]
    targets: list[str]
    values: dict[tuple[str, ...], list[str]]  # canonical values, already typed


@dataclass
class ObjectPart:
    """One spec of an object: the rows of one export file (an object may have several)."""

    where: str  # "objects.User" or "objects.User[1]"
    file: str
    columns: list[ColumnSpec]
    tables: list[TableMap]
    filters: list[tuple[str, str, Any]]  # (column, "in" | "not_empty", argument)
    distinct: bool
    on_bad_value: str

    @property
    def mapped(self) -> list[str]:
        return [c.target for c in self.columns] + [t for tb in self.tables for t in tb.targets]

    def labels(self) -> dict[str, str]:
        """Canonical column -> the export column(s) it comes from, for messages."""
        labels = {c.target: c.label for c in self.columns}
        labels.update({t: " + ".join(tb.sources) for tb in self.tables for t in tb.targets})
        return labels

    def columns_read(self) -> list[str]:
        read = [c for spec in self.columns for c in spec.columns_read()]
        read += [c for table in self.tables for c in table.sources]
        read += [column for column, _, _ in self.filters]
        return list(dict.fromkeys(read))


@dataclass
class ObjectSpec:
    extract: Extract
    parts: list[ObjectPart]

    @property
    def mapped(self) -> set[str]:
        return {name for part in self.parts for name in part.mapped}


@dataclass
class Mapping:
    path: Path
    name: str
    on_bad_value: str
    files: dict[str, FileSpec]
    objects: dict[str, ObjectSpec]

    def parts(self) -> Iterator[tuple[str, ObjectPart]]:
        for name, obj in self.objects.items():
            for part in obj.parts:
                yield name, part

    def column_specs(self) -> Iterator[ColumnSpec]:
        for _, part in self.parts():
            yield from _walk(part.columns)


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


def _zone(path: Path, where: str, name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(path, where, f"unknown timezone {name!r}") from exc


def _policy(path: Path, where: str, value: Any) -> str:
    if value not in BAD_VALUE_POLICIES:
        raise _fail(path, where, f"on_bad_value is one of {', '.join(BAD_VALUE_POLICIES)}")
    return str(value)


def _parse_lookup(path: Path, where: str, node: Any) -> LookupSpec:
    node = _keys(path, where, node, ("file", "key", "value"), ("file", "key", "value"))
    key = node["key"]
    if isinstance(key, list) and key and all(isinstance(k, str) for k in key):
        template = " ".join(f"{{{k}}}" for k in key)  # [firstName, lastName]: "Jane Doe"
    elif isinstance(key, str) and key:
        template = key if _TEMPLATE_FIELD.search(key) else f"{{{key}}}"
    else:
        raise _fail(path, where, "key is a column, a list of columns or a template '{a} {b}'")
    return LookupSpec(str(node["file"]), template, str(node["value"]))


def _check_canonical(path: Path, spec: ColumnSpec, extract: Extract, value: str, what: str) -> str:
    """A value written in the mapping (const, map, default, table) as the column writes it."""
    if value == "":
        return ""
    zone = _zone(path, spec.where, spec.options["timezone"]) if "timezone" in spec.options else None
    try:
        typed = _output(value, spec, zone, CANONICAL)
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise _fail(path, spec.where, f"{what} {value!r}: {str(exc) or 'invalid'}") from exc
    allowed = extract.enums.get(spec.target)
    if allowed and typed not in allowed:
        raise _fail(
            path,
            spec.where,
            f"{what} {value!r} is not a value of {extract.object_name}.{spec.target} "
            f"({', '.join(allowed)})",
        )
    return typed


def _parse_column(
    path: Path, obj: str, name: str, node: Any, extract: Extract, where: str
) -> ColumnSpec:
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
        options["lookup"] = _parse_lookup(path, f"{where}.lookup", options["lookup"])
    for key in ("divide", "multiply"):
        if key in options and (
            isinstance(options[key], bool) or not isinstance(options[key], int | float)
        ):
            raise _fail(path, where, f"{key} takes a number")
    fmt = options.get("format")
    if fmt is not None:
        try:
            check_time_format(fmt, where)
        except MappingError as exc:
            raise MappingError(f"{path}: {exc}") from exc
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
        _zone(path, where, options["timezone"])
    spec = ColumnSpec(name, data_type, where, source, argument, options)
    if "default" in options:
        plain = ColumnSpec(name, data_type, where, "const", "", {})
        options["default"] = _check_canonical(
            path, plain, extract, _text(options["default"]), "default"
        )
    _check_written_values(path, spec, extract)
    return spec


def _check_written_values(path: Path, spec: ColumnSpec, extract: Extract) -> None:
    """Check the canonical values the mapping writes itself (a const, a map's values)."""
    options = spec.options
    reshaped = {"split", "case", "lookup", "divide", "multiply", "add_minutes"} & set(options)
    prefix = options.get("prefix", "")
    if spec.source == "const" and not reshaped and "map" not in options:
        _check_canonical(path, spec, extract, f"{prefix}{_text(spec.argument)}", "const")
    if "map" in options and "lookup" not in options:
        for value in options["map"].values():
            if value:
                _check_canonical(path, spec, extract, f"{prefix}{value}", "map value")


def _parse_table(path: Path, where: str, node: Any, extract: Extract) -> TableMap:
    obj = extract.object_name
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
    values: dict[tuple[str, ...], list[str]] = {}
    for key, row in node["values"].items():
        at = f"{where}.values.{key}"
        parts = tuple(p.strip() for p in _text(key).split(KEY_SEPARATOR.strip()))
        if len(parts) != len(sources):
            raise _fail(
                path,
                at,
                f"key has {len(parts)} part(s) for {len(sources)} column(s) "
                f"(join them with {KEY_SEPARATOR!r})",
            )
        if not isinstance(row, list) or len(row) != len(targets):
            raise _fail(path, at, f"expected {len(targets)} values")
        values[parts] = [
            _check_canonical(
                path, ColumnSpec(t, extract.columns[t], at, "const", "", {}), extract, _text(v), t
            )
            for t, v in zip(targets, row, strict=True)
        ]
    return TableMap(where, [str(s) for s in sources], [str(t) for t in targets], values)


def _walk(specs: list[ColumnSpec]) -> list[ColumnSpec]:
    """The column specs and, depth first, the specs inside their coalesce lists."""
    out = []
    for spec in specs:
        out.append(spec)
        if spec.source == "coalesce":
            out.extend(_walk(spec.argument))
    return out


def _parse_files(path: Path, node: Any, base: ExportFormat) -> dict[str, FileSpec]:
    files: dict[str, FileSpec] = {}
    for key, file_node in (node or {}).items():
        where = f"files.{key}"
        if isinstance(file_node, str):
            file_node = {"glob": file_node}
        file_node = _keys(path, where, file_node, FILE_KEYS, ("glob",))
        fmt = _parse_format(path, file_node.get("format"), f"{where}.format", base)
        spec = FileSpec(str(key), str(file_node["glob"]), fmt, file_node.get("route_by"))
        if (spec.route_by is None) != ("routes" not in file_node):
            raise _fail(path, where, "route_by and routes go together")
        for value, target in (file_node.get("routes") or {}).items():
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
    return files


def _parse_format(path: Path, node: Any, where: str, base: ExportFormat) -> ExportFormat:
    try:
        fmt = parse_format(node, where, base)
    except MappingError as exc:
        raise MappingError(f"{path}: {exc}") from exc
    if fmt.timezone is not None:
        _zone(path, f"{where}.timezone", fmt.timezone)
    return fmt


def _parse_part(
    path: Path, obj: str, where: str, node: Any, files: dict[str, FileSpec], policy: str
) -> ObjectPart:
    extract = EXTRACTS[obj]
    node = _keys(path, where, node, SPEC_KEYS, ("from",))
    if node["from"] not in files:
        raise _fail(path, f"{where}.from", f"no file {node['from']!r} under files")
    file_spec = files[node["from"]]
    if file_spec.route_by and obj not in file_spec.routes.values():
        raise _fail(path, f"{where}.from", f"files.{file_spec.key}.routes never routes to {obj}")
    columns = [
        _parse_column(path, obj, name, spec, extract, f"{where}.columns.{name}")
        for name, spec in (node.get("columns") or {}).items()
    ]
    tables = [
        _parse_table(path, f"{where}.tables[{i}]", spec, extract)
        for i, spec in enumerate(node.get("tables") or [])
    ]
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
        if lookup and lookup.file not in files:
            raise _fail(path, f"{spec.where}.lookup", f"no file {lookup.file!r} under files")
    part = ObjectPart(
        where,
        file_spec.key,
        columns,
        tables,
        filters,
        bool(node.get("distinct", False)),
        _policy(path, f"{where}.on_bad_value", node.get("on_bad_value", policy)),
    )
    _check_mapped_once_and_required(path, part, extract)
    return part


def _check_mapped_once_and_required(path: Path, part: ObjectPart, extract: Extract) -> None:
    mapped = part.mapped
    twice = sorted({c for c in mapped if mapped.count(c) > 1})
    if twice:
        raise _fail(path, part.where, f"column(s) {', '.join(twice)} mapped more than once")
    missing = [name for name in extract.required_columns if name not in mapped]
    if missing:
        obj = extract.object_name
        columns = ", ".join(f"{obj}.{name}" for name in missing)
        raise _fail(
            path,
            part.where,
            f"{columns} not mapped, but every {obj} row needs it (ingestion/extracts.py "
            f"required columns of {obj}: {', '.join(extract.required_columns)}); without it "
            "every row would be quarantined at load",
        )


def load_mapping(mapping_path: Path | str) -> Mapping:
    """Read and validate a mapping file (raises ``MappingError`` naming the file and the key)."""
    path = Path(mapping_path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    doc = _keys(path, "top level", doc, TOP_KEYS, ("files", "objects"))
    policy = _policy(path, "on_bad_value", doc.get("on_bad_value", "quarantine"))
    base = _parse_format(path, doc.get("format"), "format", CANONICAL)
    files = _parse_files(path, doc["files"], base)
    objects: dict[str, ObjectSpec] = {}
    for obj, node in (doc["objects"] or {}).items():
        where = f"objects.{obj}"
        if obj not in EXTRACTS:
            raise _fail(path, where, f"unknown CRM object (expected one of {', '.join(EXTRACTS)})")
        if isinstance(node, list):  # several specs, concatenated
            if not node:
                raise _fail(path, where, "an empty list of specs")
            parts = [
                _parse_part(path, obj, f"{where}[{i}]", item, files, policy)
                for i, item in enumerate(node)
            ]
        else:
            parts = [_parse_part(path, obj, where, node, files, policy)]
        objects[obj] = ObjectSpec(EXTRACTS[obj], parts)
    return Mapping(path, str(doc.get("name") or path.stem), policy, files, objects)


# ---------------------------------------------------------------------------------------------
# Values.


class _ValueError(Exception):
    """A value that cannot be converted; turned into a bad row with its file and line."""

    def __init__(self, column: str, value: str, message: str):
        super().__init__(message)
        self.column, self.value, self.message = column, value, message


@dataclass
class _Context:
    """What a row's values are converted with."""

    fmt: ExportFormat  # of the row's file
    drop_time: str
    lookups: dict[LookupSpec, tuple[dict[str, str | None], ExportFormat]]


def _format_ts(value: dt.datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse_time(
    value: str, time_format: str, zone: ZoneInfo | None, fmt: ExportFormat
) -> dt.datetime | dt.date:
    if time_format in ("epoch_ms", "epoch_s"):
        micros = int(fmt.number(value) * (1000 if time_format == "epoch_ms" else 1_000_000))
        return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=micros)
    if time_format == "iso":
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.date.fromisoformat(value)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        parsed = dt.datetime.strptime(value, time_format)
        if not re.search(r"%[HIMSfzZp]", time_format):
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


def _time_format(spec: ColumnSpec, fmt: ExportFormat) -> str:
    """The column's own format, else the export's default for its type."""
    if "format" in spec.options:
        return str(spec.options["format"])
    return fmt.date_format if pa.types.is_date(spec.data_type) else fmt.timestamp_format


def _output(
    value: str, spec: ColumnSpec, zone: ZoneInfo | None, fmt: ExportFormat, plus_minutes: int = 0
) -> str:
    """A transformed value as the canonical column's type writes it (raises ValueError).

    ``fmt``: how the value is written, the export file's format, or ``CANONICAL`` for a value
    written in the mapping."""
    data_type = spec.data_type
    explicit = spec.options.get("format")
    if explicit == "hh_mm":
        value = str(_minutes(value))
        explicit = None
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        parsed = _parse_time(value, _time_format(spec, fmt), zone, fmt)
        if pa.types.is_date(data_type):
            if isinstance(parsed, dt.datetime):
                parsed = parsed.astimezone(zone or UTC).date()
            return parsed.isoformat()
        if not isinstance(parsed, dt.datetime):  # a day: its start, in the declared zone
            if zone is None:
                raise ValueError("a date where a timestamp is expected: give it a timezone")
            parsed = dt.datetime.combine(parsed, dt.time(), zone)
        return _format_ts(parsed + dt.timedelta(minutes=plus_minutes))
    if explicit is not None:
        raise ValueError(f"format {explicit!r} applies to dates and timestamps only")
    if pa.types.is_boolean(data_type):
        if value.lower() not in ("true", "false"):
            raise ValueError("not a boolean (true/false): map the export's values to true/false")
        return value.lower()
    if pa.types.is_decimal(data_type) or pa.types.is_integer(data_type):
        return _fixed_point(fmt.number(value), spec)
    if pa.types.is_floating(data_type):
        number = fmt.number(value)
        return str(float(number)) if number.as_tuple().exponent < 0 else str(int(number))
    return value


def _fixed_point(number: Decimal, spec: ColumnSpec) -> str:
    """A number at the column's scale: arithmetic rounds half up, an export value must fit."""
    arithmetic = "divide" in spec.options or "multiply" in spec.options
    if "divide" in spec.options:
        number = number / Decimal(str(spec.options["divide"]))
    if "multiply" in spec.options:
        number = number * Decimal(str(spec.options["multiply"]))
    scale = spec.data_type.scale if pa.types.is_decimal(spec.data_type) else 0
    quantum = Decimal(1).scaleb(-scale)
    if arithmetic:
        number = number.quantize(quantum, rounding=ROUND_HALF_UP)
    elif number != number.quantize(quantum):
        raise ValueError(f"more than {scale} decimal(s)")
    return str(number.quantize(quantum))


def _normal(text: str) -> str:
    """A lookup key as it is compared: case-insensitive, whitespace runs as one space."""
    return " ".join(text.split()).casefold()


def _fill(template: str, row: dict[str, str]) -> str:
    return _TEMPLATE_FIELD.sub(lambda m: row[m.group(1)], template).strip()


def _source_value(spec: ColumnSpec, row: dict[str, str], ctx: _Context) -> tuple[str, ExportFormat]:
    """The value a spec starts from, and how it is written."""
    if spec.source == "from":
        return row[spec.argument], ctx.fmt
    if spec.source == "template":
        if all(not row[p] for p in _TEMPLATE_FIELD.findall(spec.argument)):
            return "", ctx.fmt
        return _fill(spec.argument, row), ctx.fmt
    if spec.source == "const":
        return _text(spec.argument), CANONICAL
    return ctx.drop_time, CANONICAL


def _when_empty(spec: ColumnSpec, raw: str) -> str:
    if "default" in spec.options:
        return spec.options["default"]
    if spec.options.get("required"):
        raise _ValueError(spec.label, raw, f"empty, but {spec.where} is required")
    return ""


def _split(value: str, split: dict[str, str]) -> str:
    pieces = value.split(split["sep"])
    take = split["take"]
    chosen = {"first": pieces[0], "last": pieces[-1], "rest": split["sep"].join(pieces[1:])}
    return chosen[take].strip()


def _looked_up(spec: ColumnSpec, value: str, raw: str, ctx: _Context) -> tuple[str, ExportFormat]:
    lookup: LookupSpec = spec.options["lookup"]
    table, fmt = ctx.lookups[lookup]
    key = _normal(value)
    if key in table and table[key] is None:
        raise _ValueError(
            spec.label,
            raw,
            f"value {raw!r} matches several rows of files.{lookup.file} with different "
            f"{lookup.value!r} ({spec.where})",
        )
    if key not in table:
        raise _ValueError(
            spec.label,
            raw,
            f"value {raw!r} is not found in {lookup.describe()} of files.{lookup.file} "
            f"({spec.where})",
        )
    return str(table[key]), fmt


def _apply_column(spec: ColumnSpec, row: dict[str, str], ctx: _Context) -> str:
    opts = spec.options
    if spec.source == "coalesce":
        for item in spec.argument:
            value = _apply_column(item, row, ctx)
            if value != "":
                return value
        return _when_empty(spec, "")
    value, fmt = _source_value(spec, row, ctx)
    raw = value
    if value == "":
        return _when_empty(spec, raw)
    if "split" in opts:
        value = _split(value, opts["split"])
    if opts.get("case") == "lower":
        value = value.lower()
    elif opts.get("case") == "upper":
        value = value.upper()
    if "map" in opts:
        if value not in opts["map"]:
            known = ", ".join(repr(k) for k in opts["map"])
            raise _ValueError(
                spec.label, raw, f"value {raw!r} is not in the map of {spec.where} (known: {known})"
            )
        value, fmt = opts["map"][value], CANONICAL
    if "lookup" in opts and value != "":
        value, fmt = _looked_up(spec, value, raw, ctx)
    if value == "":
        return ""
    if "prefix" in opts:
        value = f"{opts['prefix']}{value}"
    return _typed(spec, value, raw, row, fmt)


def _typed(spec: ColumnSpec, value: str, raw: str, row: dict[str, str], fmt: ExportFormat) -> str:
    zone_name = spec.options.get("timezone") or fmt.timezone
    zone = ZoneInfo(str(zone_name)) if zone_name else None
    try:
        plus = 0
        if "add_minutes" in spec.options:
            duration = row[spec.options["add_minutes"]]
            plus = _minutes(duration) if duration else 0
        return _output(value, spec, zone, fmt, plus)
    except (ValueError, InvalidOperation, OverflowError) as exc:
        detail = str(exc) if str(exc) and not isinstance(exc, InvalidOperation) else "invalid"
        raise _ValueError(
            spec.label,
            raw,
            f"value {raw!r} cannot be written as {spec.where} ({_type_name(spec, fmt)}): {detail}",
        ) from exc


def _type_name(spec: ColumnSpec, fmt: ExportFormat) -> str:
    data_type = spec.data_type
    if pa.types.is_timestamp(data_type):
        return f"timestamp, format {_time_format(spec, fmt)}"
    if pa.types.is_date(data_type):
        return f"date, format {_time_format(spec, fmt)}"
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


# ---------------------------------------------------------------------------------------------
# Conversion.


@dataclass
class Conversion:
    """What a conversion wrote and left out."""

    counts: dict[str, int]  # rows per object; collapsed:, quarantined:, skipped:, filtered:
    bad_rows: list[BadRow]  # the bad values of the rows left out (quarantine policy)
    quarantine_file: Path | None  # where they are filed for the CRM source, if any
    filled: dict[str, set[str]]  # per object, the columns with a value on at least one row


@dataclass
class _Candidate:
    """One converted row, before versions are checked."""

    row: ExportRow
    part: ObjectPart
    out: list[str]
    version: tuple[str, str]  # (Id, cursor)


def _row_filter(part: ObjectPart, row: dict[str, str]) -> bool:
    for column, op, arg in part.filters:
        if op == "in" and row[column] not in arg:
            return False
        if op == "not_empty" and bool(arg) == (row[column] == ""):
            return False
    return True


def _write_csv(path: Path, header: list[str] | tuple[str, ...], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    os.replace(tmp, path)


class _Converter:
    """One conversion: reads the export, converts every row, keeps counts and bad rows."""

    def __init__(self, mapping: Mapping, export_dir: Path, drop: str, drop_time: str):
        self.mapping, self.export_dir = mapping, export_dir
        self.drop, self.drop_time = drop, drop_time
        self.counts: dict[str, int] = {}
        self.bad_rows: list[BadRow] = []
        self.exports = self._read_exports()
        self.lookups = {
            spec.options["lookup"]: self._lookup_table(spec.options["lookup"], spec.where)
            for spec in mapping.column_specs()
            if "lookup" in spec.options
        }

    # -- reading

    def _read_exports(self) -> dict[str, ExportFile]:
        mapping = self.mapping
        used = {part.file for _, part in mapping.parts()}
        used |= {
            spec.options["lookup"].file
            for spec in mapping.column_specs()
            if "lookup" in spec.options
        }
        exports = {}
        for key in sorted(used):
            spec = mapping.files[key]
            exports[key] = read_export(self.export_dir, key, spec.glob, spec.fmt)
            if spec.route_by:
                exports[key].require([spec.route_by], f"files.{key}.route_by")
        for _, part in mapping.parts():
            exports[part.file].require(part.columns_read(), part.where)
        return exports

    def _lookup_table(self, lookup: LookupSpec, where: str):
        export = self.exports[lookup.file]
        export.require(lookup.columns(), f"{where}.lookup")
        table: dict[str, str | None] = {}
        for row in export.rows:
            key = _normal(_fill(lookup.key, row.values))
            value = row.values[lookup.value]
            if key and table.setdefault(key, value) != value:
                table[key] = None  # ambiguous: a bad value if a row uses it
        return table, export.fmt

    # -- bad rows

    def _source_file(self, path: Path) -> str:
        """How an export file is named in the quarantine table: ``<drop>/<file>``."""
        return f"{self.drop}/{path.relative_to(self.export_dir).as_posix()}"

    def reject(
        self, policy: str, row: ExportRow, obj: str, column: str | None, value: Any, reason: str
    ) -> None:
        """A bad value: ExportError under ``fail``, else the row is filed in the quarantine."""
        where = f"{row.path} line {row.line}" + (f", column {column}" if column else "")
        message = f"{where}: {reason}"
        if policy == "fail":
            raise ExportError(message)
        field_name = column or ROW_FIELD
        shown = str(value) if value not in (None, "") else None
        source = self._source_file(row.path)
        self.bad_rows.append(BadRow(source, row.line, obj, field_name, shown, reason, message))

    def _count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    # -- rows of each object

    def file_level_rows(self) -> None:
        """Count the footer and total lines left out; file the lines that are not rows."""
        for key, export in self.exports.items():
            for label, n in export.skipped.items():
                self._count(f"skipped:{key}:{label}", n)
            readers = sorted({name for name, part in self.mapping.parts() if part.file == key})
            for broken in export.broken:
                row = ExportRow(broken.path, broken.line, {})
                obj = ", ".join(readers) or key
                self.reject(self.mapping.on_bad_value, row, obj, None, None, broken.message)

    def routed_rows(self) -> dict[str, dict[str, list[ExportRow]]]:
        """Rows of the files split by a column (engagements -> Task / Event / skip)."""
        routed: dict[str, dict[str, list[ExportRow]]] = {}
        for key, export in self.exports.items():
            spec = self.mapping.files[key]
            if not spec.route_by:
                continue
            per_object: dict[str, list[ExportRow]] = {}
            for row in export.rows:
                value = row.values[spec.route_by]
                if value in spec.routes:
                    per_object.setdefault(spec.routes[value], []).append(row)
                elif value in spec.skips:
                    self._count(f"skipped:{key}:{value}")
                else:
                    known = ", ".join(repr(v) for v in [*spec.routes, *spec.skips])
                    reason = f"value {value!r} is not routed by files.{key}.routes (known: {known})"
                    self.reject(self.mapping.on_bad_value, row, key, spec.route_by, value, reason)
            routed[key] = per_object
        return routed

    def convert_row(self, obj: ObjectSpec, part: ObjectPart, row: ExportRow) -> list[str] | None:
        """The canonical row, or None when a value is bad (every bad value is filed)."""
        extract = obj.extract
        name = extract.object_name
        ctx = _Context(self.exports[part.file].fmt, self.drop_time, self.lookups)
        values: dict[str, str] = {}
        bad: set[str] = set()

        def reject(exc: _ValueError, targets: list[str]) -> None:
            self.reject(part.on_bad_value, row, name, exc.column, exc.value, exc.message)
            bad.update(targets)

        for spec in part.columns:
            try:
                values[spec.target] = _apply_column(spec, row.values, ctx)
            except _ValueError as exc:
                reject(exc, [spec.target])
        for table in part.tables:
            try:
                values.update(_apply_table(table, row.values))
            except _ValueError as exc:
                reject(exc, table.targets)
        labels = part.labels()
        for column in extract.required_columns:
            if column not in bad and not values.get(column):
                reason = (
                    f"empty, but {name}.{column} is required on every row (ingestion/extracts.py)"
                )
                reject(_ValueError(labels[column], "", reason), [column])
        for column, allowed in extract.enums.items():
            value = values.get(column, "")
            if value and value not in allowed:
                reason = f"value {value!r} is not one of {name}.{column}'s ({', '.join(allowed)})"
                reject(_ValueError(labels[column], value, reason), [column])
        if bad:
            return None
        return [values.get(column, "") for column in extract.columns]

    def convert_object(
        self, name: str, obj: ObjectSpec, routed: dict[str, dict[str, list[ExportRow]]]
    ) -> list[list[str]]:
        extract = obj.extract
        id_at = list(extract.columns).index(extract.primary_key)
        cursor_at = list(extract.columns).index(extract.cursor)
        candidates = []
        for part in obj.parts:
            export = self.exports[part.file]
            rows = routed[part.file].get(name, []) if part.file in routed else export.rows
            for row in rows:
                if not _row_filter(part, row.values):  # the spec's `where`: another object's row
                    self._count(f"filtered:{name}:{part.file}")
                    continue
                out = self.convert_row(obj, part, row)
                if out is not None:
                    candidates.append(_Candidate(row, part, out, (out[id_at], out[cursor_at])))
        return [c.out for c in self._one_per_version(extract, candidates)]

    def _one_per_version(self, extract: Extract, candidates: list[_Candidate]) -> list[_Candidate]:
        """One row per (Id, cursor): identical repeats collapse (counted), others conflict."""
        kept: dict[tuple[str, str], _Candidate] = {}
        conflicts: dict[tuple[str, str], list[_Candidate]] = {}
        name = extract.object_name
        for cand in candidates:
            if cand.version in conflicts:
                group = conflicts[cand.version]
                if any(_collapses(member, cand) for member in group):
                    self._count(f"collapsed:{name}")
                else:
                    group.append(cand)
                continue
            first = kept.get(cand.version)
            if first is None:
                kept[cand.version] = cand
            elif _collapses(first, cand):
                self._count(f"collapsed:{name}")
            elif cand.part.on_bad_value == "fail":
                reason = _conflict_reason(extract, cand, first, "again (first at")
                raise ExportError(f"{cand.row.path} line {cand.row.line}: {reason}")
            else:
                conflicts[cand.version] = [kept.pop(cand.version), cand]
        for group in conflicts.values():
            for cand in group:
                other = group[1] if cand is group[0] else group[0]
                reason = _conflict_reason(extract, cand, other, "also at")
                self.reject(cand.part.on_bad_value, cand.row, name, None, None, reason)
        return list(kept.values())

    def finish_counts(self) -> None:
        rows_by_object: dict[str, set[tuple[str, int]]] = {}
        for bad in self.bad_rows:
            rows_by_object.setdefault(bad.object, set()).add((bad.source_file, bad.line))
        for obj, rows in rows_by_object.items():
            self._count(f"quarantined:{obj}", len(rows))


def _collapses(first: _Candidate, again: _Candidate) -> bool:
    """Whether a second row of the same version is a repeat to collapse (counted)."""
    if first.out != again.out:
        return False
    if first.part is not again.part:
        return True  # two specs built the same record (a manager listed on every agent's row)
    return first.part.distinct or first.row.values == again.row.values


def _conflict_reason(extract: Extract, row: _Candidate, other: _Candidate, where: str) -> str:
    """Two rows of one version of a record: no version can be told, neither is kept."""
    pk, cursor = row.version
    close = ")" if where.endswith("(first at") else ""
    differs = " with other values" if row.out != other.out else ""
    hint = "" if differs else " (declare distinct: true if repeats are expected)"
    return (
        f"{extract.object_name}.{extract.primary_key} {pk!r} with {extract.cursor} {cursor!r} "
        f"{where} {other.row.path} line {other.row.line}{close}{differs}{hint}"
    )


def _unique_bad_rows(bad_rows: list[BadRow]) -> list[BadRow]:
    """One bad row per (source_file, line, field), the quarantine table's key."""
    unique: dict[tuple[str, int, str], BadRow] = {}
    for bad in bad_rows:
        key = (bad.source_file, bad.line, bad.field)
        first = unique.get(key)
        if first is None:
            unique[key] = bad
        elif bad.object not in first.object.split(", "):
            unique[key] = BadRow(
                first.source_file,
                first.line,
                f"{first.object}, {bad.object}",
                first.field,
                first.value,
                first.reason,
                first.message,
            )
    return sorted(unique.values(), key=lambda b: (b.source_file, b.line, b.field))


def _drop_time(drop: str, mapping: Mapping) -> str:
    """The drop's timestamp for ``drop_time`` (midnight UTC of a YYYYMMDD drop), or ""."""
    if not re.fullmatch(r"[0-9A-Za-z_-]+", drop):
        raise ValueError(f"drop {drop!r}: use letters, digits, '-' or '_' (e.g. 20261127)")
    digits = re.sub(r"\D", "", drop)[:8]
    try:
        day = dt.datetime.strptime(digits, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        if any(spec.source == "drop_time" for spec in mapping.column_specs()):
            raise ValueError(
                f"drop {drop!r}: the mapping uses drop_time, give a YYYYMMDD drop"
            ) from None
        return ""
    return _format_ts(day)


def _count_order(item: tuple[str, int]) -> tuple[int, str]:
    prefixes = ("collapsed:", "quarantined:", "skipped:", "filtered:")
    rank = next((i + 1 for i, p in enumerate(prefixes) if item[0].startswith(p)), 0)
    return rank, item[0]


def convert(
    mapping: Mapping | Path | str, export_dir: Path, landing_dir: Path, drop: str
) -> Conversion:
    """Convert one CRM export with its mapping into canonical landing files.

    Writes ``<landing>/crm/<Object>/<Object>_<drop>.csv`` for every CRM object of
    ``ingestion.extracts`` (a header-only file for the objects the mapping does not fill) and,
    when rows were left out under ``on_bad_value: quarantine``, their bad values in
    ``<landing>/crm/_quarantine/mapping_<drop>.csv`` for the CRM source's quarantine table.
    Counts: rows written per object, ``collapsed:<Object>`` (repeats merged),
    ``quarantined:<Object>`` (rows left out), ``skipped:<file>:<value>`` (explicit skips),
    ``filtered:<Object>:<file>`` (rows of the file the object's ``where`` does not take).
    Every row is checked before any file is written: an error leaves the landing folder
    untouched. The same export, mapping and drop give byte-identical files.
    """
    mapping = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    drop_time = _drop_time(drop, mapping)
    export_dir, landing_dir = Path(export_dir), Path(landing_dir)
    run = _Converter(mapping, export_dir, drop, drop_time)
    run.file_level_rows()
    routed = run.routed_rows()
    outputs = {name: run.convert_object(name, obj, routed) for name, obj in mapping.objects.items()}
    run.finish_counts()
    bad_rows = _unique_bad_rows(run.bad_rows)

    filled: dict[str, set[str]] = {}
    for extract in CRM_EXTRACTS:
        rows = outputs.get(extract.object_name, [])
        target = extract.folder(landing_dir) / f"{extract.object_name}_{drop}.csv"
        _write_csv(target, list(extract.columns), rows)
        run.counts[extract.object_name] = len(rows)
        filled[extract.object_name] = {
            column for i, column in enumerate(extract.columns) if any(r[i] for r in rows)
        }
    quarantine_file = quarantine_folder(landing_dir, "crm") / f"mapping_{drop}.csv"
    if bad_rows:
        _write_csv(quarantine_file, QUARANTINE_FILE_COLUMNS, [b.file_row() for b in bad_rows])
    else:
        quarantine_file.unlink(missing_ok=True)  # a re-run of the drop that is now clean
    counts = dict(sorted(run.counts.items(), key=_count_order))
    return Conversion(counts, bad_rows, quarantine_file if bad_rows else None, filled)


def convert_export(
    mapping_path: Path | str, export_dir: Path, landing_dir: Path, drop: str
) -> dict[str, int]:
    """``convert``'s counts: rows written per object, collapsed, quarantined and skipped rows."""
    return convert(mapping_path, export_dir, landing_dir, drop).counts


def resolve_mapping(name_or_path: str | Path) -> Path:
    """A mapping file: a path, or the name of a shipped one (``hubspot``, ``maven_crm``, ...)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = MAPPINGS_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
    raise MappingError(f"{name_or_path}: no such mapping file, nor a shipped mapping ({names})")


# ---------------------------------------------------------------------------------------------
# Coverage: what the KPIs need (dbt/kpis.yml data requirements) and what the mapping fills.


@dataclass(frozen=True)
class RequirementCoverage:
    name: str
    system: str  # crm | erp
    reasons: tuple[str, ...]  # why a CRM requirement is not met; () when met
    missing: str  # what the catalogue says is lost without it

    @property
    def met(self) -> bool:
        return self.system == "crm" and not self.reasons


@dataclass(frozen=True)
class KpiCoverage:
    name: str
    missing: tuple[str, ...]  # CRM requirements not met
    erp: tuple[str, ...]  # ERP requirements: delivered by the ERP extracts

    @property
    def supported(self) -> bool:
        return not self.missing


@dataclass
class CoverageReport:
    mapping: str
    requirements: dict[str, RequirementCoverage]
    kpis: dict[str, KpiCoverage]

    def unsupported(self) -> dict[tuple[str, ...], list[str]]:
        """Unsupported KPIs grouped by the CRM requirements they miss."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for kpi in self.kpis.values():
            if not kpi.supported:
                groups.setdefault(kpi.missing, []).append(kpi.name)
        return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def lines(self) -> list[str]:
        """The report as printed by ``pilotage map-crm``: a summary, then what is missing."""
        crm = [r for r in self.requirements.values() if r.system == "crm"]
        erp = [r.name for r in self.requirements.values() if r.system == "erp"]
        met = [r.name for r in crm if r.met]
        supported = [k for k in self.kpis.values() if k.supported]
        with_erp = [k for k in supported if k.erp]
        lines = _wrapped(
            f"CRM data: {len(met)} of {len(crm)} requirements met"
            + (f" ({', '.join(met)})" if met else ""),
            "",
        )
        reasons: dict[tuple[str, ...], list[str]] = {}
        for requirement in crm:
            if not requirement.met:
                reasons.setdefault(requirement.reasons, []).append(requirement.name)
        needed = {name for kpi in self.kpis.values() for name in kpi.missing}
        for why, names in reasons.items():
            text = f"{', '.join(names)}: {'; '.join(why)}"
            unused = [self.requirements[n].missing for n in names if n not in needed]
            if unused:  # no KPI names it: say what is lost instead
                text += f" ({'; '.join(unused)})"
            lines += _wrapped(text, "  - ")
        if erp:
            lines.append(
                f"ERP data ({', '.join(erp)}): delivered by the ERP extracts, not by this CRM "
                "mapping"
            )
        unsupported = len(self.kpis) - len(supported)
        lines.append(
            f"KPIs: {len(supported)} of {len(self.kpis)} supported"
            + (f" ({len(with_erp)} of them with the ERP extracts)" if with_erp else "")
            + (f"; {unsupported} unsupported, by missing data:" if unsupported else "")
        )
        for missing, names in self.unsupported().items():
            lines += _wrapped(f"{' + '.join(missing)}: {', '.join(sorted(names))}", "  - ")
        return lines


def _wrapped(text: str, bullet: str) -> list[str]:
    indent = " " * (len(bullet) or 2)
    return textwrap.wrap(text, width=96, initial_indent=bullet, subsequent_indent=indent)


def _requirement_reasons(
    mapping: Mapping, requirement: DataRequirement, filled: dict[str, set[str]] | None
) -> tuple[str, ...]:
    reasons = []
    for obj, columns in requirement.needs.items():
        if obj not in mapping.objects:
            reasons.append(f"{obj} is not mapped")
            continue
        unmapped = [c for c in columns or [] if c not in mapping.objects[obj].mapped]
        if unmapped:
            verb = "is" if len(unmapped) == 1 else "are"
            reasons.append(f"{', '.join(f'{obj}.{c}' for c in unmapped)} {verb} not mapped")
        elif filled is not None and not filled.get(obj):
            reasons.append(f"{obj} is mapped, but this export has no {obj} row")
        elif filled is not None:
            empty = [c for c in columns or [] if c not in filled[obj]]
            if empty:
                verb = "is" if len(empty) == 1 else "are"
                shown = ", ".join(f"{obj}.{c}" for c in empty)
                reasons.append(f"{shown} {verb} mapped, but empty in this export")
    return tuple(reasons)


def coverage_report(
    mapping: Mapping | Path | str,
    filled: dict[str, set[str]] | None = None,
    catalogue: Catalogue | None = None,
) -> CoverageReport:
    """Which data requirements and KPIs of the catalogue (``dbt/kpis.yml``) the mapping fills.

    A CRM requirement is met when every object and column it ``needs`` is mapped and, given
    ``filled`` (``Conversion.filled``, after a conversion), has a value on some row of this
    export; ERP requirements are the ERP extracts' business. A KPI is supported when every CRM
    requirement it ``requires`` is met."""
    from pilotage.kpi_catalogue import load_catalogue

    catalogue = catalogue if catalogue is not None else load_catalogue()
    mapping = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    requirements = {}
    for name, requirement in catalogue.data_requirements.items():
        reasons = ()
        if requirement.system == "crm":
            reasons = _requirement_reasons(mapping, requirement, filled)
        missing = " ".join(requirement.missing.split())
        requirements[name] = RequirementCoverage(name, requirement.system, reasons, missing)
    kpis = {}
    for kpi in catalogue.kpis:
        missing = tuple(
            n for n in kpi.requires if requirements[n].system == "crm" and not requirements[n].met
        )
        erp = tuple(n for n in kpi.requires if requirements[n].system == "erp")
        kpis[kpi.name] = KpiCoverage(kpi.name, missing, erp)
    return CoverageReport(mapping.name, requirements, kpis)
