"""Warehouse helpers for tests: load extract files with dlt, run dbt on a warehouse.

Plain functions (no pytest fixtures) so any test module can reuse them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import decimal
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from pilotage import dbt


def load_landing(tmp_dir: Path, landing: Path) -> Path:
    """Load the extract files under ``landing`` with the dlt pipelines (state in
    ``tmp_dir/dlt``) into ``tmp_dir/warehouse.duckdb``, through ``ingestion.pipeline.load``
    (the load Dagster's dlt assets run); returns the warehouse path."""
    from ingestion.pipeline import SYSTEMS, load
    from pilotage.settings import Settings

    settings = Settings(
        data_dir=Path(tmp_dir),
        landing_dir=Path(landing),
        warehouse_path=Path(tmp_dir) / "warehouse.duckdb",
        serving_path=Path(tmp_dir) / "serving.duckdb",
        as_of=dt.date.today(),  # not read by the load
    )
    for system in SYSTEMS:
        load(system, settings, progress=None)
    return settings.warehouse_path


def run_dbt(
    command: list[str],
    warehouse: Path,
    as_of: dt.date | None,
    target_path: Path,
    log_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt <command>`` on the project against ``warehouse`` with its own target folder
    (the repository's dbt/target is left alone); ``extra_env`` e.g. selects the postgres target.
    Raises with dbt's output when it fails."""
    env = dict(os.environ)
    env["PILOTAGE_WAREHOUSE_PATH"] = str(Path(warehouse).resolve())
    if as_of is not None:
        env["PILOTAGE_AS_OF"] = as_of.isoformat()
    else:
        env.pop("PILOTAGE_AS_OF", None)
    env.pop("PILOTAGE_DBT_TARGET", None)
    env.update(extra_env or {})
    env["DBT_LOG_PATH"] = str(log_path or Path(target_path) / "logs")
    program = dbt.DBT_PROGRAM
    if command[0] in ON_PARSED_MANIFEST and env.get("PILOTAGE_DBT_TARGET", "dev") == "dev":
        manifest = parsed_manifest(Path(warehouse).stem)
        program = (sys.executable, "-m", "tests.dbt_on_parsed_manifest", str(manifest))
    try:
        return dbt.run_dbt([*command, "--target-path", str(target_path)], env=env, program=program)
    except dbt.DbtError as exc:
        raise AssertionError(str(exc)) from exc


# dbt commands run on the session's parsed manifest (tests/dbt_on_parsed_manifest.py); `parse`
# and `docs generate` parse for real, and so does every run on PostgreSQL (another adapter).
ON_PARSED_MANIFEST = ("build", "run", "test", "seed", "compile")
_parsed: dict[str, Path] = {}
_parsing = threading.Lock()


def parsed_manifest(database: str) -> Path:
    """The project parsed once per session for a DuckDB file named ``<database>.duckdb`` (the
    nodes carry the database name): the path of its partial_parse.msgpack."""
    with _parsing:
        if database not in _parsed:
            folder = Path(tempfile.mkdtemp(prefix=f"pilotage-manifest-{database}-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            env = {**os.environ, "PILOTAGE_WAREHOUSE_PATH": str(folder / f"{database}.duckdb")}
            env.pop("PILOTAGE_DBT_TARGET", None)
            env["DBT_LOG_PATH"] = str(folder / "logs")
            try:
                dbt.run_dbt(["parse", "--target-path", str(folder)], env=env)
            except dbt.DbtError as exc:
                raise AssertionError(str(exc)) from exc
            _parsed[database] = folder / "partial_parse.msgpack"
        return _parsed[database]


def mart_differences(first: Path, second: Path, schema: str = "marts") -> dict[str, tuple]:
    """Tables of ``schema`` whose rows differ between two DuckDB files: ``{table: (rows only
    in the first, rows only in the second)}``, compared as multisets to the last bit (also a
    table found in one file only). Raises when the first has fewer than 20 tables: a vacuous
    comparison."""
    import duckdb

    differences = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{first}' as first (read_only)")
        con.execute(f"attach '{second}' as second (read_only)")
        tables = {
            catalog: {
                name
                for (name,) in con.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = ? and table_schema = ?",
                    [catalog, schema],
                ).fetchall()
            }
            for catalog in ("first", "second")
        }
        assert len(tables["first"]) >= 20, f"a vacuous comparison: {sorted(tables['first'])}"
        for table in sorted(tables["first"] ^ tables["second"]):
            differences[table] = ("only in the first" if table in tables["first"] else None,)
        for table in sorted(tables["first"] & tables["second"]):
            a, b = f"first.{schema}.{table}", f"second.{schema}.{table}"
            only_first = con.execute(
                f"select count(*) from (select * from {a} except all select * from {b})"
            ).fetchone()[0]
            only_second = con.execute(
                f"select count(*) from (select * from {b} except all select * from {a})"
            ).fetchone()[0]
            if only_first or only_second:
                differences[table] = (only_first, only_second)
    return differences


def engine_sort_key(row: tuple) -> tuple:
    """Rows of two engines in one order: text, dates and integers as they are, numbers rounded
    (so that two engines' last digits do not reorder rows), NULL first."""
    key = []
    for value in row:
        if value is None:
            key.append((0, ""))
        elif isinstance(value, bool):
            key.append((1, int(value)))
        elif isinstance(value, int | float | decimal.Decimal):
            key.append((1, round(float(value), 4)))
        elif isinstance(value, dt.datetime):
            key.append((2, value.astimezone(dt.UTC).isoformat()))
        elif isinstance(value, dt.date):
            key.append((2, value.isoformat()))
        else:
            key.append((3, str(value)))
    return tuple(key)


def same_value(
    a, b, abs_tol: float = 1e-12, money_tol: decimal.Decimal = decimal.Decimal(0)
) -> bool:
    """One value of a mart on two engines: floats within 1e-9 relative (or ``abs_tol``
    absolute: 1e-6 for ratios rounded to 6 decimals), decimals within ``money_tol`` (a cent
    where an engine rounds money), everything else (dates, text, null) equal."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=abs_tol)
    if isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        return abs(decimal.Decimal(a) - decimal.Decimal(b)) <= money_tol
    return a == b


def rows_differences(rows: list[tuple], others: list[tuple], abs_tol: float = 1e-12) -> list:
    """The pairs of rows (both lists in the same order) that differ in a value (same_value)."""
    return [
        (row, other)
        for row, other in zip(rows, others, strict=True)
        if not all(same_value(x, y, abs_tol) for x, y in zip(row, other, strict=True))
    ]
