"""Two builds from the same extracts give identical marts, to the last bit of every double:
money is decimal, sums of targets and challenge points are exact decimals, and every quotient
is rounded by one rule before any threshold reads it (docs/data_quality.md, "One rule for every
number"). Before that rule, a rep exactly on target read "on track" on one build and "at risk"
(pace 0.9999999999999998) on the next."""

from __future__ import annotations

import shutil

import duckdb

from tests.conftest import AS_OF
from tests.pipeline_helpers import run_dbt


def test_a_rebuild_from_the_same_extracts_gives_identical_marts(demo_pipeline, tmp_path):
    settings, _ = demo_pipeline
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    shutil.copy(settings.warehouse_path, first)
    shutil.copy(settings.warehouse_path, second)
    run_dbt(["run"], second, AS_OF, tmp_path / "target")  # every model again, same raw tables
    with duckdb.connect() as con:
        con.execute(f"attach '{first}' as first (read_only)")
        con.execute(f"attach '{second}' as second (read_only)")
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'first' and table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        assert len(tables) >= 20, tables
        differences = {}
        for table in tables:
            a, b = f"first.marts.{table}", f"second.marts.{table}"
            only_first = con.execute(
                f"select count(*) from (select * from {a} except all select * from {b})"
            ).fetchone()[0]
            only_second = con.execute(
                f"select count(*) from (select * from {b} except all select * from {a})"
            ).fetchone()[0]
            if only_first or only_second:
                differences[table] = (only_first, only_second)
        rows = con.execute("select count(*) from first.marts.kpi_objectives").fetchone()[0]
    assert rows > 100, "a vacuous comparison: the demo's objectives are empty"
    assert not differences, f"(rows only in the first build, only in the second): {differences}"
