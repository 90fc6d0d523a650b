"""How a CRM export's files are written, and reading them as declared: the ``format`` section of a
mapping file (``docs/crm_mappings.md``, "The export's format").

Nothing is guessed: the encoding, delimiter, decimal mark, thousands separators, date formats,
null tokens and footer lines are declared (UTF-8, ``,``, ``.``, none, ISO, none by default), a
file whose bytes do not decode is an error naming the file, the line and what to set, and a
number that does not fit the declared marks (``1.234,5`` under ``decimal: "."``) is a bad value,
never read another way.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingestion.formats import (
    DECIMAL_MARKS,
    codec_name,
    csv_records,
    describe_delimiter,
    number_pattern,
    sniff_delimiter,
)


class MappingError(ValueError):
    """A mapping file that is not valid (unknown object, column, key or file reference)."""


class ExportError(ValueError):
    """An export file that does not match its mapping (missing column, unmapped value, ...)."""


SPECIAL_FORMATS = ("epoch_ms", "epoch_s", "iso", "hh_mm")
DELIMITERS = {",": ",", ";": ";", "|": "|", "\t": "\t", "\\t": "\t", "tab": "\t"}
# Thousands separators by name: the spaces are invisible in YAML, so they have names too.
THOUSANDS = {
    "none": "",
    ",": ",",
    ".": ".",
    "'": "'",
    " ": " ",
    "space": " ",
    "\u00a0": "\u00a0",
    "nbsp": "\u00a0",  # no-break space: Excel, French locale
    "\u202f": "\u202f",
    "narrow_nbsp": "\u202f",  # narrow no-break space: recent French locales
}
FORMAT_KEYS = (
    "encoding",
    "delimiter",
    "decimal",
    "thousands",
    "date_format",
    "timestamp_format",
    "timezone",
    "null_values",
    "skip_rows_where",
    "footer_lines",
)
FOOTER = "footer"  # the count key of rows left out by footer_lines


@dataclass(frozen=True)
class RowRule:
    """``skip_rows_where``: rows whose ``column`` matches ``pattern`` are not data (total lines)."""

    column: str
    pattern: re.Pattern
    label: str  # the count key: skipped:<file>:<label>

    def skips(self, header: list[str], fields: list[str]) -> bool:
        index = header.index(self.column)
        return index < len(fields) and bool(self.pattern.search(fields[index].strip()))


@dataclass(frozen=True)
class ExportFormat:
    """How the files of an export are written. The defaults are a plain UTF-8 CSV."""

    encoding: str = "utf-8"  # normalised codec name; utf-8 also reads a byte-order mark
    delimiter: str = ","
    decimal: str = "."
    thousands: tuple[str, ...] = ()
    date_format: str = "iso"  # of date columns without their own `format`
    timestamp_format: str = "iso"  # of timestamp columns without their own `format`
    timezone: str | None = None  # of zone-less times without their own `timezone`
    null_values: tuple[str, ...] = ()  # values that mean empty ("N/A", "-", "(vide)")
    skip_rows_where: tuple[RowRule, ...] = ()
    footer_lines: int = 0  # lines at the end of each file that are not data
    _number: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = number_pattern(self.decimal, self.thousands)
        object.__setattr__(self, "_number", re.compile(pattern))

    def number(self, text: str) -> Decimal:
        """The exact number ``text`` writes with this format's marks (raises ValueError)."""
        if not self._number.fullmatch(text):
            raise ValueError(f"not a number written {self.describe_marks()}")
        for separator in self.thousands:
            text = text.replace(separator, "")
        return Decimal(text.replace(self.decimal, "."))

    def describe_marks(self) -> str:
        names = {v: k for k, v in THOUSANDS.items() if len(k) > 1 or k in ",.'"}
        thousands = ", ".join(repr(names.get(s, s)) for s in self.thousands) or "none"
        return f"with decimal mark {self.decimal!r} and thousands separator {thousands}"


CANONICAL = ExportFormat()  # how values written in the mapping itself (const, map, ...) read


# ---------------------------------------------------------------------------------------------
# The `format` section.


def _fail(where: str, message: str) -> MappingError:
    return MappingError(f"{where}: {message}")


def _encoding(value: Any, where: str) -> str:
    try:
        return codec_name(value)
    except LookupError:
        raise _fail(where, f"unknown encoding {value!r} (utf-8, cp1252, latin-1, ...)") from None


def _thousands(value: Any, where: str) -> tuple[str, ...]:
    names = value if isinstance(value, list) else [value]
    unknown = [n for n in names if str(n) not in THOUSANDS]
    if unknown:
        raise _fail(
            where,
            f"unknown thousands separator {unknown[0]!r} (none, ',', '.', \"'\", space, nbsp, "
            "narrow_nbsp, or a list of them)",
        )
    return tuple(dict.fromkeys(THOUSANDS[str(n)] for n in names if THOUSANDS[str(n)]))


def check_time_format(value: Any, where: str, allowed: tuple[str, ...] = SPECIAL_FORMATS) -> str:
    if value not in allowed and "%" not in str(value):
        raise _fail(
            where,
            f"format {value!r} is one of {', '.join(allowed)} or a strptime pattern such as "
            "'%Y-%m-%d %H:%M'",
        )
    return str(value)


def _row_rules(value: Any, where: str) -> tuple[RowRule, ...]:
    rules = []
    for i, node in enumerate(value if isinstance(value, list) else [value]):
        at = f"{where}[{i}]"
        if not isinstance(node, dict) or not {"column", "matches"} <= set(node):
            raise _fail(at, "expected {column: <export column>, matches: <regex>, label: ...}")
        unknown = sorted(set(node) - {"column", "matches", "label"})
        if unknown:
            raise _fail(at, f"unknown key {unknown[0]!r} (column, matches, label)")
        try:
            pattern = re.compile(str(node["matches"]))
        except re.error as exc:
            message = f"matches {node['matches']!r} is not a regular expression: {exc}"
            raise _fail(at, message) from None
        label = str(node.get("label") or f"{node['column']} matches {node['matches']}")
        rules.append(RowRule(str(node["column"]), pattern, label))
    return tuple(rules)


def parse_format(node: Any, where: str, base: ExportFormat = CANONICAL) -> ExportFormat:
    """A ``format`` section over ``base`` (the mapping's for a file's own section)."""
    if node is None:
        return base
    if not isinstance(node, dict):
        raise _fail(where, f"expected a mapping with keys {', '.join(FORMAT_KEYS)}")
    unknown = [k for k in node if k not in FORMAT_KEYS]
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r} (expected one of {', '.join(FORMAT_KEYS)})")
    settings: dict[str, Any] = {}
    if "encoding" in node:
        settings["encoding"] = _encoding(node["encoding"], f"{where}.encoding")
    if "delimiter" in node:
        if str(node["delimiter"]) not in DELIMITERS:
            raise _fail(f"{where}.delimiter", "one of ',' ';' '|' tab (quote it in YAML)")
        settings["delimiter"] = DELIMITERS[str(node["delimiter"])]
    if "decimal" in node:
        if str(node["decimal"]) not in DECIMAL_MARKS:
            raise _fail(f"{where}.decimal", "'.' or ',' (quote it in YAML)")
        settings["decimal"] = str(node["decimal"])
    if "thousands" in node:
        settings["thousands"] = _thousands(node["thousands"], f"{where}.thousands")
    for key in ("date_format", "timestamp_format"):
        if key in node:
            settings[key] = check_time_format(
                node[key], f"{where}.{key}", ("iso", "epoch_ms", "epoch_s")
            )
    if "timezone" in node:
        settings["timezone"] = str(node["timezone"])  # checked with the columns' timezones
    if "null_values" in node:
        values = (
            node["null_values"] if isinstance(node["null_values"], list) else [node["null_values"]]
        )
        settings["null_values"] = tuple(str(v).strip() for v in values)
    if "skip_rows_where" in node:
        settings["skip_rows_where"] = _row_rules(
            node["skip_rows_where"], f"{where}.skip_rows_where"
        )
    if "footer_lines" in node:
        lines = node["footer_lines"]
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 0:
            raise _fail(f"{where}.footer_lines", "a whole number of lines (0 or more)")
        settings["footer_lines"] = lines
    fmt = replace(base, **settings)
    if fmt.decimal in fmt.thousands:
        raise _fail(where, f"{fmt.decimal!r} is both the decimal mark and a thousands separator")
    return fmt


# ---------------------------------------------------------------------------------------------
# Reading an export file as declared.


@dataclass
class ExportRow:
    path: Path
    line: int
    values: dict[str, str]


@dataclass
class BrokenRow:
    """A line that is not a row of the file: the wrong number of fields."""

    path: Path
    line: int
    message: str


@dataclass
class ExportFile:
    key: str
    fmt: ExportFormat
    paths: list[Path]
    header: list[str]
    rows: list[ExportRow] = field(default_factory=list)
    broken: list[BrokenRow] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # label -> rows left out

    def require(self, columns: list[str], why: str) -> None:
        """An ExportError naming the first of ``columns`` the header lacks."""
        for name in columns:
            if name not in self.header:
                hint = ""
                declared = self.fmt.delimiter
                better = sniff_delimiter(declared.join(self.header), declared, columns)
                if better:
                    hint = (
                        f"; the header reads better split on {describe_delimiter(better)!r}: set "
                        f"format: {{delimiter: {describe_delimiter(better)!r}}}"
                    )
                raise ExportError(
                    f"{self.paths[0]} line 1: the header lacks column {name!r}, which {why} "
                    f"reads (header: {', '.join(self.header)}){hint}"
                )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(path: Path, data: bytes, fmt: ExportFormat, where: str) -> str:
    """The file's text in its declared encoding, or an ExportError saying what to set."""
    encoding = "utf-8-sig" if fmt.encoding == "utf-8" else fmt.encoding
    if fmt.encoding != "utf-8" and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:  # reading UTF-8 as Windows-1252 would silently turn "é" into "Ã©"
            raise ExportError(
                f"{path}: the file is UTF-8 with non-ASCII characters, but {where} declares "
                f"encoding {fmt.encoding}: set format: {{encoding: utf-8}}"
            )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        hint = (
            "an Excel export is usually Windows-1252: set format: {encoding: cp1252}"
            if fmt.encoding == "utf-8"
            else "set format: {encoding: ...} to the export's encoding"
        )
        raise ExportError(
            f"{path} line {_line_of(data, exc.start)}: byte {exc.start} "
            f"({data[exc.start : exc.end].hex(' ')}) is not valid {fmt.encoding}; {where} "
            f"declares encoding {fmt.encoding}: {hint}"
        ) from None


def _records(path: Path, text: str, fmt: ExportFormat) -> list[tuple[int, list[str]]]:
    """(line, fields) of every non-blank record, the header first."""
    records: list[tuple[int, list[str]]] = []
    try:
        for line, fields in csv_records(io.StringIO(text, newline=""), fmt.delimiter):
            if any(f.strip() for f in fields):
                records.append((line, fields))
    except csv.Error as exc:  # "line N: ..."
        raise ExportError(f"{path} {exc} (not readable as CSV)") from None
    return records


def read_export(export_dir: Path, key: str, glob: str, fmt: ExportFormat) -> ExportFile:
    """Every file matching ``glob`` (same header), read as ``fmt`` declares."""
    paths = sorted(p for p in Path(export_dir).glob(glob) if p.is_file())
    if not paths:
        raise ExportError(f"{export_dir}: no export file matches {glob!r} (files.{key})")
    export = ExportFile(key, fmt, paths, [])
    nulls = set(fmt.null_values)
    for path in paths:
        records = _records(path, decode(path, path.read_bytes(), fmt, f"files.{key}"), fmt)
        if not records:
            raise ExportError(f"{path}: the file is empty, expected a header row")
        header = [h.strip() for h in records[0][1]]
        _check_header(path, header, export, paths[0])
        export.header = header
        for rule in fmt.skip_rows_where:
            export.require([rule.column], f"files.{key}.format.skip_rows_where")
        body = records[1:]
        if fmt.footer_lines:
            footer, body = body[-fmt.footer_lines :], body[: -fmt.footer_lines]
            export.skipped[FOOTER] = export.skipped.get(FOOTER, 0) + len(footer)
        for line, fields in body:
            rule = next((r for r in fmt.skip_rows_where if r.skips(header, fields)), None)
            if rule is not None:
                export.skipped[rule.label] = export.skipped.get(rule.label, 0) + 1
            elif len(fields) != len(header):
                message = f"{len(fields)} fields where the header has {len(header)}"
                export.broken.append(BrokenRow(path, line, message))
            else:
                values = (v.strip() for v in fields)
                row = {h: "" if v in nulls else v for h, v in zip(header, values, strict=True)}
                export.rows.append(ExportRow(path, line, row))
    return export


def _check_header(path: Path, header: list[str], export: ExportFile, first: Path) -> None:
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise ExportError(f"{path} line 1: the header names column {twice[0]!r} twice")
    if export.header and header != export.header:
        raise ExportError(f"{path} line 1: header differs from {first.name}")
