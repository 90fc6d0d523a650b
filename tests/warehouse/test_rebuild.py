"""Two builds from the same extracts give identical marts, to the last bit of every double:
money is decimal, sums of targets and challenge points are exact decimals, and every quotient
is rounded by one rule before any threshold reads it (docs/data_quality.md, "One rule for every
number"). Before that rule, a rep exactly on target read "on track" on one build and "at risk"
(pace 0.9999999999999998) on the next."""

from __future__ import annotations

import shutil

import duckdb

from tests.conftest import AS_OF
from tests.pipeline_helpers import mart_differences, run_dbt


def test_a_rebuild_from_the_same_extracts_gives_identical_marts(demo_pipeline, tmp_path):
    settings, _ = demo_pipeline
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    shutil.copy(settings.warehouse_path, first)
    shutil.copy(settings.warehouse_path, second)
    run_dbt(["run"], second, AS_OF, tmp_path / "target")  # every model again, same raw tables
    differences = mart_differences(first, second)
    with duckdb.connect(str(first), read_only=True) as con:
        rows = con.execute("select count(*) from marts.kpi_objectives").fetchone()[0]
    assert rows > 100, "a vacuous comparison: the demo's objectives are empty"
    assert not differences, f"(rows only in the first build, only in the second): {differences}"
