"""Rows of the extract files that were not loaded, and why: the ``raw_<system>.quarantine`` tables.

Under ``on_bad_row: quarantine`` (the default, ``ingestion/landing.yaml``), a row whose value does
not parse as its declared type, holds an unknown value of an enum column, has an empty primary key
or cursor, has the wrong number of fields, or shares its key and cursor with another row of
different content is not loaded into its raw table: it gets one row per bad field in the
``quarantine`` table of its system, written by the ``quarantine`` resource of the same dlt source,
and the load goes on. Files that cannot be read at all (encoding, header, truncation) stop the load
instead (``ExtractFileError``). See ingestion/README.md, "Bad input".

``pilotage map-crm`` (``ingestion.mapping``) sets aside the export rows it cannot convert the same
way: it writes them to ``<landing>/<system>/_quarantine/*.csv`` (``QUARANTINE_FILE_COLUMNS``), and
the ``quarantine`` resource loads those files too (``read_quarantine_files``).

``list_quarantine`` and ``quarantine_counts`` read the warehouse read-only (``pilotage
quarantine``, Dagster run metadata).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ingestion.formats import ExtractFileError

if TYPE_CHECKING:
    from pilotage.warehouse import Warehouse

QUARANTINE_TABLE = "quarantine"
QUARANTINE_KEY = ("source_file", "line", "field")
ROW_FIELD = "(row)"  # the field of a problem with the whole row (wrong number of fields, bad JSON)
SYSTEMS = ("crm", "erp")

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),  # file name, as _source_file
        pa.field("line", pa.int64(), nullable=False),  # physical line (Parquet: 1-based row)
        pa.field("object", pa.string(), nullable=False),  # e.g. Opportunity, invoices
        pa.field("field", pa.string(), nullable=False),  # declared column name, or "(row)"
        pa.field("value", pa.string()),  # the value as written in the file; null when empty
        pa.field("reason", pa.string(), nullable=False),
        pa.field("quarantined_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("load_id", pa.string(), nullable=False),  # the latest dlt load that found it
    ]
)
# Files of bad rows found before the landing files were written (pilotage map-crm)
QUARANTINE_FOLDER = "_quarantine"
QUARANTINE_FILE_COLUMNS = ("source_file", "line", "object", "field", "value", "reason")
# dlt column hints of the quarantine resource (the names are already snake_case)
QUARANTINE_COLUMNS = {
    "line": {"data_type": "bigint", "nullable": False},
    "value": {"data_type": "text", "nullable": True},
}


@dataclass(frozen=True)
class BadRow:
    """One bad field of one row of an extract file."""

    source_file: str
    line: int
    object: str
    field: str
    value: str | None
    reason: str
    message: str  # the located error raised under ``on_bad_row: fail``

    def record(self, quarantined_at: dt.datetime, load_id: str) -> dict:
        return {
            "source_file": self.source_file,
            "line": self.line,
            "object": self.object,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "quarantined_at": quarantined_at,
            "load_id": load_id,
        }

    def file_row(self) -> list[str]:
        """The row of a quarantine file (``QUARANTINE_FILE_COLUMNS``); an empty value is ``""``."""
        return [
            self.source_file,
            str(self.line),
            self.object,
            self.field,
            self.value or "",
            self.reason,
        ]


def quarantine_folder(landing_dir: str | Path, system: str) -> Path:
    """Where bad rows found before landing are filed: ``<landing>/<system>/_quarantine``."""
    return Path(landing_dir) / system / QUARANTINE_FOLDER


def read_quarantine_files(landing_dir: str | Path, system: str) -> list[BadRow]:
    """The bad rows of every quarantine file of a system (``pilotage map-crm``), in file order."""
    bad_rows: list[BadRow] = []
    for path in sorted(quarantine_folder(landing_dir, system).glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != QUARANTINE_FILE_COLUMNS:
                expected = ",".join(QUARANTINE_FILE_COLUMNS)
                raise ExtractFileError(f"{path} line 1: a quarantine file's header is {expected}")
            for record in reader:
                if None in record or None in record.values() or not record["line"].isdigit():
                    raise ExtractFileError(
                        f"{path} line {reader.line_num}: expected {len(QUARANTINE_FILE_COLUMNS)} "
                        "fields with a line number in column line (the file is written by "
                        "`pilotage map-crm`: run it again for this drop)"
                    )
                message = f"{record['source_file']} line {record['line']}, column {record['field']}"
                bad_rows.append(
                    BadRow(
                        record["source_file"],
                        int(record["line"]),
                        record["object"],
                        record["field"],
                        record["value"] or None,
                        record["reason"],
                        f"{message}: {record['reason']}",
                    )
                )
    return bad_rows


def quarantine_table(bad_rows: list[BadRow], load_id: str, now: dt.datetime | None = None):
    """The arrow table of quarantine rows written by the ``quarantine`` resource."""
    now = now or dt.datetime.now(dt.UTC)
    records = [bad.record(now, load_id) for bad in bad_rows]
    return pa.Table.from_pylist(records, schema=QUARANTINE_SCHEMA)


def _connect(warehouse: Warehouse | str):  # noqa: ANN202 - a connection of either engine
    from pilotage import warehouse as wh

    if isinstance(warehouse, str):
        warehouse = Path(warehouse)
    return wh.connect(warehouse)


def _exists(warehouse: Warehouse | str) -> bool:
    from pilotage import warehouse as wh

    return wh.exists(Path(warehouse) if isinstance(warehouse, str) else warehouse)


def _systems_with_quarantine(con, system: str | None) -> list[str]:
    systems = SYSTEMS if system is None else (system,)
    if system is not None and system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}: expected one of {', '.join(SYSTEMS)}")
    found = {
        row[0]
        for row in con.execute(
            "select table_schema from information_schema.tables where table_name = ?",
            [QUARANTINE_TABLE],
        ).fetchall()
    }
    return [s for s in systems if f"raw_{s}" in found]


def list_quarantine(
    warehouse_path: Warehouse | str, system: str | None = None, limit: int | None = 100
) -> list[dict]:
    """Quarantined rows, newest load first, then by file and line: dicts with ``system``,
    ``source_file``, ``line``, ``object``, ``field``, ``value``, ``reason``, ``quarantined_at``,
    ``load_id``. ``system``: ``crm`` or ``erp`` (default both); ``limit``: None for all.

    ``warehouse_path``: a DuckDB file, or the PostgreSQL warehouse (``warehouse_of(settings)``).
    Reads the warehouse read-only; a warehouse or system never loaded gives ``[]``."""
    if not _exists(warehouse_path):
        return []
    with _connect(warehouse_path) as con:
        systems = _systems_with_quarantine(con, system)
        if not systems:
            return []
        columns = ", ".join(QUARANTINE_SCHEMA.names)
        union = " union all ".join(
            f"select '{s}' as system, {columns} from raw_{s}.{QUARANTINE_TABLE}" for s in systems
        )
        sql = (
            f"select * from ({union}) as bad_rows "
            "order by load_id desc, system, source_file, line, field"
        )
        if limit is not None:
            sql += f" limit {int(limit)}"
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quarantine_counts(
    warehouse_path: Warehouse | str, system: str, load_id: str | None = None
) -> dict[str, int]:
    """Quarantined fields per object of one system: ``{"Opportunity": 2, ...}``.

    ``load_id``: only the rows that load found (every bad row still in the landing folder is found
    again by each load); by default the latest completed load of ``raw_<system>``."""
    if not _exists(warehouse_path):
        return {}
    with _connect(warehouse_path) as con:
        if not _systems_with_quarantine(con, system):
            return {}
        if load_id is None:
            load_id = con.execute(
                f"select max(load_id) from raw_{system}._dlt_loads where status = 0"
            ).fetchone()[0]
        rows = con.execute(
            f"select object, count(*) from raw_{system}.{QUARANTINE_TABLE} where load_id = ? "
            "group by object order by object",
            [load_id],
        ).fetchall()
    return dict(rows)
