"""Write, audit, publish: copy the checked marts into a fresh serving copy, swap it in atomically.

One step, two engines (``publish_warehouse(settings)`` picks the settings' engine):

- **DuckDB** (``publish``). DuckDB allows one writer or many readers per file, never both across
  processes. The pipeline owns ``warehouse.duckdb``; Superset only ever opens the serving file,
  read-only. Publishing builds the new serving file next to the old one, verifies it, then
  ``os.replace``s it over the served path.
- **PostgreSQL** (``publish_postgres``). The served schemas are copied from the warehouse database
  into the serving database's idle colour (``marts_blue`` or ``marts_green``, with
  ``meta_<colour>.publication``), verified, then one transaction re-points the views that Superset
  reads (``marts.*``, ``meta.publication``) at that colour. The read-only user may only read
  those views; the previous colour stays in place until the next publish rebuilds it.

Either way readers see the old data or the new, never a half-written state, and a failed or
skipped publish leaves the previous data serving.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pilotage.settings import SERVED_SCHEMAS, Settings, make_private

log = logging.getLogger(__name__)
# A serving file being built: .<serving file>.<host>.<pid>.building (+ DuckDB's .wal).
STAGING_SUFFIX = ".building"


class PublishError(RuntimeError):
    """The serving file could not be built; the previous one is still in place."""


@dataclass(frozen=True)
class PublishResult:
    serving_path: Path | None  # the serving file (DuckDB); None on PostgreSQL
    row_counts: dict[str, int]  # "schema.table" -> rows
    published_at: dt.datetime
    # Where the data is served, as the messages say it: the file, or database and colour.
    served_at: str = ""
    color: str | None = None  # PostgreSQL: the colour now served (blue or green)


def publish_warehouse(settings: Settings) -> PublishResult:
    """Publish the served schemas (SERVED_SCHEMAS) of the settings' warehouse engine."""
    if settings.on_postgres:
        from pilotage.publish_postgres import publish_postgres

        return publish_postgres(settings.postgres, SERVED_SCHEMAS, settings.as_of)
    return publish(settings.warehouse_path, settings.serving_path, SERVED_SCHEMAS, settings.as_of)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _served_tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> list[tuple]:
    placeholders = ", ".join("?" for _ in schemas)
    return con.execute(
        f"""
        select table_schema, table_name
        from information_schema.tables
        where table_catalog = 'wh' and table_schema in ({placeholders})
          and table_type = 'BASE TABLE'
        order by 1, 2
        """,
        list(schemas),
    ).fetchall()


def publish(
    warehouse_path: Path,
    serving_path: Path,
    schemas: tuple[str, ...],
    as_of: dt.date,
) -> PublishResult:
    """Copy ``schemas`` of the warehouse into a new serving file and swap it in atomically."""
    warehouse_path, serving_path = Path(warehouse_path), Path(serving_path)
    if not warehouse_path.exists():
        raise PublishError(
            f"No warehouse at {warehouse_path}: run `pilotage refresh` before publishing."
        )
    # Private whatever the caller's umask: only the pipeline's (and Superset's) user reads it.
    serving_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_crashed_staging_files(serving_path)
    # Same directory as the served file, so os.replace is an atomic rename on one filesystem.
    # Named after this host and process: publishers sharing the folder (containers) never meet.
    staging_path = serving_path.with_name(
        f".{serving_path.name}.{socket.gethostname()}.{os.getpid()}{STAGING_SUFFIX}"
    )
    for leftover in (staging_path, staging_path.with_name(staging_path.name + ".wal")):
        leftover.unlink(missing_ok=True)

    published_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    row_counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(staging_path))
        try:
            con.execute(f"attach {_literal(warehouse_path)} as wh (read_only)")
            tables = _served_tables(con, schemas)
            if not tables:
                raise PublishError(
                    f"The warehouse {warehouse_path} has no tables in schemas {schemas}: "
                    "the dbt build has not run or failed."
                )
            for schema in sorted({s for s, _ in tables}):
                con.execute(f"create schema {_quote(schema)}")
            for schema, table in tables:
                target = f"{_quote(schema)}.{_quote(table)}"
                con.execute(f"create table {target} as select * from wh.{target}")
                row_counts[f"{schema}.{table}"] = con.execute(
                    f"select count(*) from {target}"
                ).fetchone()[0]
            # Freshness for the dashboards: when this data was published and for which as-of day.
            con.execute("create schema if not exists meta")
            con.execute(
                "create table meta.publication as select ?::timestamptz as published_at, "
                "?::date as as_of_date",
                [published_at, as_of],
            )
            con.execute("detach wh")
            con.execute("checkpoint")
        finally:
            con.close()
        _verify(staging_path, row_counts)
        make_private(staging_path)
        with open(staging_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staging_path, serving_path)
        _fsync_dir(serving_path.parent)
    except PublishError:
        staging_path.unlink(missing_ok=True)
        raise
    except Exception as exc:
        staging_path.unlink(missing_ok=True)
        raise PublishError(
            f"Publishing {warehouse_path} -> {serving_path} failed ({exc}); "
            "the previous serving file is unchanged."
        ) from exc
    log.info("published %d tables to %s", len(row_counts), serving_path)
    return PublishResult(serving_path, row_counts, published_at, served_at=str(serving_path))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_crashed_staging_files(serving_path: Path) -> list[Path]:
    """Remove the staging files (and their .wal) of publishers on this host that died before
    their os.replace: a crash (kill -9, power cut) leaves them forever otherwise. A live
    publisher's are kept; so are another host's, whose processes this one cannot see (a name
    without a host is the single-host format of earlier versions)."""
    prefix, host = f".{serving_path.name}.", socket.gethostname()
    removed = []
    for path in sorted(serving_path.parent.glob(f"{glob.escape(prefix)}*{STAGING_SUFFIX}*")):
        name = path.name.removesuffix(".wal")
        if not name.endswith(STAGING_SUFFIX):
            continue
        owner, _, pid = name[len(prefix) : -len(STAGING_SUFFIX)].rpartition(".")
        if not pid.isdigit() or owner not in ("", host) or process_alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
        log.warning("removed %s, left by publisher %s that is no longer running", path, pid)
    return removed


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _verify(staging_path: Path, expected: dict[str, int]) -> None:
    """Re-open the new file read-only, as Superset will, and check every table's row count."""
    con = duckdb.connect(str(staging_path), read_only=True)
    try:
        for name, rows in expected.items():
            schema, table = name.split(".", 1)
            found = con.execute(f"select count(*) from {_quote(schema)}.{_quote(table)}").fetchone()
            if found[0] != rows:
                raise PublishError(
                    f"{name}: {found[0]} rows in the new serving file, {rows} expected"
                )
    finally:
        con.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
