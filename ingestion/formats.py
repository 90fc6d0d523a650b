"""How the landing files of each source system are written: file format, delimiter, decimal mark,
text encoding.

Declared per system, and optionally per object, in ``ingestion/landing.yaml`` (or the YAML file
that ``PILOTAGE_LANDING_CONFIG`` points at); nothing is guessed. The defaults are UTF-8,
comma-delimited CSV with ``.`` decimals. What a file looks like is checked against its declaration
(a ``;``-delimited header under a ``,`` declaration, UTF-8 bytes under ``cp1252``, Windows-1252
bytes under ``utf-8``) and a mismatch is an error that says what to set, never a silent switch.

```yaml
crm:
  format: csv          # csv | jsonl | parquet | auto (auto: the file extension decides)
  delimiter: ";"       # , ; | or "\\t" (CSV only)
  decimal: ","         # . or , (CSV only: JSON numbers and Parquet are typed)
  encoding: cp1252     # utf-8 (a BOM is skipped) or any Python codec name, e.g. cp1252
  on_bad_row: fail     # quarantine (default: bad rows to raw_<system>.quarantine) | fail
  objects:             # optional overrides of the system's settings, by object name
    Task: {delimiter: ","}
```
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from ingestion.extracts import ALL_EXTRACTS

CONFIG_ENV = "PILOTAGE_LANDING_CONFIG"
DEFAULT_CONFIG_PATH = Path(__file__).with_name("landing.yaml")

FORMATS = ("auto", "csv", "jsonl", "parquet")
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
DELIMITERS = (",", ";", "\t", "|")
DECIMAL_MARKS = (".", ",")
# The thousands separators of a decimal-comma locale: space, no-break space (Excel, French) and
# narrow no-break space (recent French locales).
SPACE_SEPARATORS = (" ", "\u00a0", "\u202f")
BAD_ROW_POLICIES = ("quarantine", "fail")
_SETTINGS = ("format", "delimiter", "decimal", "encoding", "on_bad_row")


class ExtractFileError(ValueError):
    """An extract file that does not match its declaration (``ingestion.extracts`` for columns and
    types, the landing configuration for format, delimiter, decimal mark and encoding)."""


class LandingConfigError(ExtractFileError):
    """A landing configuration that cannot be used as written: no file can be read."""


@dataclass(frozen=True)
class LandingFormat:
    """How one object's landing files are written. The defaults are today's demo files."""

    format: str = "auto"
    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"  # normalised Python codec name ("utf-8", "cp1252", ...)
    # A row with a bad value: "quarantine" (not loaded, a row in raw_<system>.quarantine, the
    # load goes on) or "fail" (ExtractFileError naming file, line and column: nothing loaded).
    on_bad_row: str = "quarantine"

    @property
    def is_utf8(self) -> bool:
        return self.encoding == "utf-8"

    @property
    def python_encoding(self) -> str:
        """The codec to open text with: ``utf-8-sig`` skips a UTF-8 byte-order mark."""
        return "utf-8-sig" if self.is_utf8 else self.encoding


DEFAULT_FORMAT = LandingFormat()


def codec_name(encoding: str) -> str:
    """The normalised Python codec name of a declared encoding (``UTF_8`` -> ``utf-8``, ``cp1252``;
    ``utf-8-sig`` is ``utf-8``: a BOM is always skipped). Raises LookupError when unknown."""
    name = codecs.lookup(str(encoding).replace("_", "-")).name
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


def number_pattern(decimal: str, thousands: Iterable[str] = ()) -> str:
    """The grammar of a number written with ``decimal`` as decimal mark and ``thousands`` as
    thousands separators (``1 234,56``; groups of three digits only), as a regular expression
    that Python's ``re`` and pyarrow's RE2 both read. The one definition used by the landing
    readers (``decimal: ","``) and the CRM exports (``ingestion.export_format``)."""
    separators = "".join(re.escape(s) for s in thousands)
    whole = rf"(?:\d{{1,3}}(?:[{separators}]\d{{3}})+|\d+)" if separators else r"\d+"
    return rf"[+-]?{whole}(?:{re.escape(decimal)}\d+)?"


def _where(source: str, system: str, obj: str | None) -> str:
    return f"{source}, {system}" + (f".objects.{obj}" if obj else "")


def _settings(raw: object, source: str, system: str, obj: str | None) -> dict[str, str]:
    where = _where(source, system, obj)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise LandingConfigError(f"{where}: expected a mapping of settings, got {raw!r}")
    allowed = _SETTINGS if obj else (*_SETTINGS, "objects")
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise LandingConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)} (expected {', '.join(allowed)})"
        )
    settings: dict[str, str] = {}
    for key in _SETTINGS:
        if key not in raw:
            continue
        value = raw[key]
        if not isinstance(value, str):
            raise LandingConfigError(f"{where}: {key} must be a string, got {value!r}")
        if key == "format" and value not in FORMATS:
            raise LandingConfigError(
                f"{where}: format {value!r} is not one of {', '.join(FORMATS)}"
            )
        if key == "delimiter":
            value = "\t" if value == "\\t" else value
            if value not in DELIMITERS:
                raise LandingConfigError(
                    f"{where}: delimiter {value!r} is not one of , ; | \\t (quote it in YAML)"
                )
        if key == "on_bad_row" and value not in BAD_ROW_POLICIES:
            raise LandingConfigError(
                f"{where}: on_bad_row {value!r} is not one of {', '.join(BAD_ROW_POLICIES)}"
            )
        if key == "decimal" and value not in DECIMAL_MARKS:
            raise LandingConfigError(f"{where}: decimal {value!r} is not '.' or ','")
        if key == "encoding":
            try:
                value = codec_name(value)
            except LookupError:
                raise LandingConfigError(f"{where}: unknown encoding {value!r}") from None
        settings[key] = value
    return settings


@dataclass(frozen=True)
class LandingConfig:
    """The declared format of every system's (and object's) landing files."""

    systems: Mapping[str, LandingFormat]
    objects: Mapping[tuple[str, str], LandingFormat]
    source: str = "defaults"

    def format_of(self, system: str, object_name: str) -> LandingFormat:
        return self.objects.get((system, object_name), self.systems.get(system, DEFAULT_FORMAT))

    @classmethod
    def parse(cls, raw: object, source: str = "landing configuration") -> LandingConfig:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise LandingConfigError(f"{source}: expected a mapping of systems, got {raw!r}")
        known: dict[str, set[str]] = {}
        for extract in ALL_EXTRACTS:
            known.setdefault(extract.system, set()).add(extract.object_name)
        systems: dict[str, LandingFormat] = {}
        objects: dict[tuple[str, str], LandingFormat] = {}
        for system, body in raw.items():
            if system not in known:
                raise LandingConfigError(
                    f"{source}: unknown system {system!r} (expected {', '.join(sorted(known))})"
                )
            system_format = replace(DEFAULT_FORMAT, **_settings(body, source, system, None))
            _check_consistent(system_format, _where(source, system, None))
            systems[system] = system_format
            per_object = (body or {}).get("objects") or {}
            if not isinstance(per_object, Mapping):
                raise LandingConfigError(f"{source}, {system}.objects: expected a mapping")
            for obj, obj_body in per_object.items():
                if obj not in known[system]:
                    raise LandingConfigError(
                        f"{source}: {system} has no object {obj!r} (see ingestion/extracts.py)"
                    )
                obj_format = replace(system_format, **_settings(obj_body, source, system, obj))
                _check_consistent(obj_format, _where(source, system, obj))
                objects[(system, obj)] = obj_format
        return cls(systems=systems, objects=objects, source=source)


def _check_consistent(fmt: LandingFormat, where: str) -> None:
    if fmt.delimiter == fmt.decimal:
        raise LandingConfigError(
            f"{where}: delimiter and decimal mark are both {fmt.delimiter!r}; "
            "files with a decimal comma are ';'-delimited"
        )


def load_landing_config(path: str | Path | None = None) -> LandingConfig:
    """The landing configuration: ``path``, else ``$PILOTAGE_LANDING_CONFIG``, else the committed
    ``ingestion/landing.yaml`` (all defaults when that file is absent)."""
    from pilotage.settings import load_settings  # the one reader of PILOTAGE_* variables

    explicit = path or load_settings().landing_config
    config_path = Path(explicit) if explicit else DEFAULT_CONFIG_PATH
    if not config_path.is_file():
        if explicit:
            raise LandingConfigError(f"landing configuration {config_path} does not exist")
        return LandingConfig(systems={}, objects={})
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LandingConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    return LandingConfig.parse(raw, str(config_path))


# ---------------------------------------------------------------------------------------------
# Checks of a file against its declaration.

_CHUNK = 1 << 20


def _line_at(path: Path, offset: int) -> int:
    """The 1-based physical line holding byte ``offset``."""
    lines, seen = 1, 0
    with path.open("rb") as handle:
        while seen < offset:
            chunk = handle.read(min(_CHUNK, offset - seen))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            seen += len(chunk)
    return lines


def _first_utf8_error(path: Path) -> tuple[int, bytes] | None:
    """Byte offset and bytes of the first invalid UTF-8 sequence, streaming; None when valid."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # exc.start is relative to the decoder's pending bytes plus this chunk
                pending = len(exc.object) - len(chunk)
                return offset - pending + exc.start, exc.object[exc.start : exc.end]
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return offset - len(exc.object) + exc.start, exc.object[exc.start :]
    return None


def _has_utf8_multibyte(path: Path) -> bool:
    """Whether the file is valid UTF-8 and holds non-ASCII characters (or a UTF-8 BOM)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    non_ascii = False
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
            non_ascii = non_ascii or not chunk.isascii()
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return non_ascii


def check_encoding(path: Path, fmt: LandingFormat, where: str) -> None:
    """Raise ``ExtractFileError`` when the file's bytes do not fit its declared encoding.

    UTF-8 declared: every byte sequence must be valid UTF-8 (a BOM is allowed); otherwise the
    error names the byte offset and line and suggests ``cp1252``. Another encoding declared:
    every byte must decode, and a file that is valid UTF-8 with non-ASCII characters is refused
    (decoding it as Windows-1252 would silently turn ``é`` into ``Ã©``).
    """
    path = Path(path)
    if fmt.is_utf8:
        bad = _first_utf8_error(path)
        if bad is not None:
            offset, data = bad
            raise ExtractFileError(
                f"{path} line {_line_at(path, offset)}: byte {offset} ({data.hex(' ')}) is not "
                f"valid UTF-8; {where} is declared encoding: utf-8. A Windows/Excel export is "
                "usually Windows-1252: set encoding: cp1252 in the landing configuration "
                "(ingestion/landing.yaml)"
            )
        return
    if _has_utf8_multibyte(path):
        raise ExtractFileError(
            f"{path}: the file is UTF-8 with non-ASCII characters but {where} is declared "
            f"encoding: {fmt.encoding}; reading it so would garble accented letters. Set "
            "encoding: utf-8 in the landing configuration (ingestion/landing.yaml)"
        )
    decoder = codecs.getincrementaldecoder(fmt.encoding)()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                raise ExtractFileError(
                    f"{path} line {_line_at(path, at)}: byte {at} "
                    f"({chunk[exc.start : exc.end].hex(' ')}) is not valid {fmt.encoding} "
                    f"({where} is declared encoding: {fmt.encoding})"
                ) from None
            offset += len(chunk)


def sniff_delimiter(header_line: str, declared: str, columns: list[str]) -> str | None:
    """Another delimiter that splits ``header_line`` into more declared column names than the
    declared one does, or None. Used only to explain an error, never to switch silently."""

    def hits(delimiter: str) -> int:
        fields = next(csv.reader([header_line], delimiter=delimiter), [])
        return sum(1 for f in fields if f in columns)

    declared_hits = hits(declared)
    best = max(DELIMITERS, key=hits)
    return best if best != declared and hits(best) > max(declared_hits, 1) else None


def describe_delimiter(delimiter: str) -> str:
    return "\\t" if delimiter == "\t" else delimiter


def csv_records(lines: Iterable[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of every CSV record of ``lines`` (a text file opened with
    ``newline=""``), header first; blank lines skipped. A quoted field may span lines: its
    record starts on the line given, not on the line ``csv.reader`` ends it on."""
    reader = csv.reader(lines, delimiter=delimiter)
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if row:
                yield start, row
    except csv.Error as exc:
        raise csv.Error(f"line {previous + 1}: {exc}") from None
