"""Helpers of the landing-file source: which files an object has, how a file is known once
loaded, and the empty typed table of an object never delivered."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from ingestion.contracts import SOURCE_FILE_COLUMN, column_name
from ingestion.extracts import Extract
from ingestion.formats import EXTENSIONS, ExtractFileError, LandingFormat
from ingestion.landing_files.settings import CONFIG_HINT


def where(extract: Extract) -> str:
    """``system.Object``: how messages name an extract."""
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
                    f"{path}: a {path.suffix} file, but {where(extract)} is declared "
                    f"format: {fmt.format} in {CONFIG_HINT}"
                )
    return files


def file_key(path: Path) -> tuple:
    """A file as this run sees it (path, size, modification time): the key under which the bad
    rows found in it are shared by the resources of one source."""
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
