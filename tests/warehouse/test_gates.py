"""The gates (dbt tests, docs/data_quality.md) on the demo warehouse: they pass on good data; a
mart or a fact that loses or changes a number makes the conservation gate fail and keep the
offending month and measure; the CRM-vs-ERP drift warns without blocking, within the declared
tolerances; Dagster shows the gates as checks of the marts they protect."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey

from tests.conftest import AS_OF, pilotage_env
from tests.pipeline_helpers import run_dbt

MARTS_GATE = "assert_marts_add_up_to_the_facts"
FACTS_GATE = "assert_facts_keep_every_staged_record"
DRIFT_WARNING = "warn_crm_won_differs_from_erp_invoiced"


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory) -> Path:
    """One dbt target folder for the module: its partial parse is shared by every run."""
    return tmp_path_factory.mktemp("gates_target")


@pytest.fixture
def warehouse(demo_pipeline, tmp_path) -> Path:
    """A private copy of the demo warehouse (built by the session's Dagster run)."""
    settings, _ = demo_pipeline
    target = tmp_path / "warehouse.duckdb"
    shutil.copy(settings.warehouse_path, target)
    return target


def _test(warehouse: Path, target: Path, select: str, extra_vars: dict | None = None):
    """``dbt test --select <select>`` on the warehouse: (passed, dbt's output)."""
    args = ["test", "--select", select]
    if extra_vars:
        import json

        args += ["--vars", json.dumps({"as_of_date": AS_OF.isoformat(), **extra_vars})]
    try:
        return True, run_dbt(args, warehouse, AS_OF, target).stdout
    except AssertionError as failed:
        return False, str(failed)


def _rows(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _write(warehouse: Path, sql: str, params: list | None = None) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql, params or [])


def test_the_demo_passes_every_gate(warehouse, dbt_target):
    passed, output = _test(warehouse, dbt_target, "path:tests")
    assert passed, output
    assert "ERROR=0" in output


def test_a_mart_row_off_by_one_euro_fails_and_keeps_its_month(warehouse, dbt_target):
    month, rep_id, team_id = _rows(
        warehouse,
        "select month_start, rep_id, team_id from marts.kpi_rep_month where revenue > 0 limit 1",
    )[0]
    _write(
        warehouse,
        "update marts.kpi_rep_month set revenue = revenue + 1 "
        "where month_start = ? and rep_id = ? and team_id = ?",
        [month, rep_id, team_id],
    )
    passed, output = _test(warehouse, dbt_target, MARTS_GATE)
    assert not passed
    assert MARTS_GATE in output and "dbt_test__audit" in output  # where to read the rows
    kept = _rows(
        warehouse,
        "select mart, month_start, measure, mart_value - fact_value "
        f"from dbt_test__audit.{MARTS_GATE}",
    )
    assert kept == [("kpi_rep_month", month, "revenue", 1)]


def test_a_fact_lost_by_a_mart_fails_at_every_level_that_lost_it(warehouse, dbt_target):
    day, rep_id, calls = _rows(
        warehouse, "select date_day, rep_id, calls from marts.kpi_rep_day where calls > 0 limit 1"
    )[0]
    _write(
        warehouse,
        "delete from marts.kpi_rep_day where date_day = ? and rep_id = ?",
        [day, rep_id],
    )
    passed, _ = _test(warehouse, dbt_target, MARTS_GATE)
    assert not passed
    kept = _rows(
        warehouse,
        f"select mart, level, fact_value - mart_value from dbt_test__audit.{MARTS_GATE} "
        "where measure = 'calls'",
    )
    assert ("kpi_rep_day", "all", calls) in kept
    assert all(m == "kpi_rep_day" for m, _, _ in kept)  # the other marts still hold it


def test_a_staged_record_missing_from_its_fact_fails(warehouse, dbt_target):
    [(line_id, revenue)] = _rows(
        warehouse, "select invoice_line_id, revenue from marts.fct_revenue limit 1"
    )
    _write(warehouse, "delete from marts.fct_revenue where invoice_line_id = ?", [line_id])
    passed, _ = _test(warehouse, dbt_target, FACTS_GATE)
    assert not passed
    [(obj, staged, facts, missing)] = _rows(
        warehouse,
        "select source_object, staged_rows, fact_rows, staged_amount - fact_amount "
        f"from dbt_test__audit.{FACTS_GATE}",
    )
    assert (obj, staged - facts, missing) == ("invoice_lines", 1, revenue)


def test_a_system_left_out_of_the_sources_is_kept_but_not_read(warehouse, dbt_target):
    """A company that sets PILOTAGE_SOURCES=crm after its ERP was loaded: the ERP's raw tables
    keep every row (nothing loaded is lost), the models read none of them, and revenue is
    unavailable with its reason, never the old figures; the CRM's figures stay."""
    raw = "select count(*) from raw_erp.invoice_lines"
    [(raw_rows,)] = _rows(warehouse, raw)
    assert raw_rows > 0
    build = ["build", "--exclude-resource-type", "unit_test"]
    run_dbt(build, warehouse, AS_OF, dbt_target, extra_env={"PILOTAGE_SOURCES": "crm"})
    assert _rows(warehouse, raw) == [(raw_rows,)]
    assert _rows(warehouse, "select count(*) from marts.fct_revenue") == [(0,)]
    [(available, reason)] = _rows(
        warehouse,
        "select is_available, reason from marts.kpi_availability where kpi_name = 'revenue'",
    )
    assert not available and "no ERP" in reason
    [(revenue, activities)] = _rows(
        warehouse,
        "select count(revenue), sum(activities) from marts.kpi_performance "
        "where level = 'company' and period_grain = 'month'",
    )
    assert revenue == 0 and activities > 0


def _inflate_a_won_deal(warehouse: Path) -> tuple:
    """A won deal of a closed month whose CRM amount is edited 10x in the CRM only."""
    opportunity_id, close_date = _rows(
        warehouse,
        "select opportunity_id, close_date from marts.fct_opportunities "
        "where is_won and close_date < date_trunc('month', ?::date) order by amount desc limit 1",
        [AS_OF],
    )[0]
    _write(
        warehouse,
        "update marts.fct_opportunities set amount = amount * 10 where opportunity_id = ?",
        [opportunity_id],
    )
    return opportunity_id, close_date.replace(day=1)


def test_a_crm_amount_edited_on_one_side_warns_naming_its_month(warehouse, dbt_target):
    passed, output = _test(warehouse, dbt_target, DRIFT_WARNING)
    assert passed and "WARN=0" in output, "the demo's CRM and ERP agree within the tolerances"
    _, month = _inflate_a_won_deal(warehouse)
    passed, output = _test(warehouse, dbt_target, DRIFT_WARNING)
    assert passed, "a drift between the systems warns, it does not block"
    assert "WARN=1" in output
    months = {
        row[0]
        for row in _rows(warehouse, f"select month_start from dbt_test__audit.{DRIFT_WARNING}")
    }
    assert month in months


def test_the_declared_tolerances_decide(warehouse, dbt_target):
    _inflate_a_won_deal(warehouse)
    loose = {"crm_vs_erp_month_tolerance": 100, "crm_vs_erp_period_tolerance": 100}
    passed, output = _test(warehouse, dbt_target, DRIFT_WARNING, loose)
    assert passed and "WARN=0" in output


def test_dagster_shows_the_gates_as_checks_of_the_marts_they_protect(demo_pipeline):
    from dagster_project.definitions import build_definitions

    settings, result = demo_pipeline
    with pilotage_env(settings.data_dir):
        graph = build_definitions(settings).resolve_asset_graph()
    checks = set(graph.asset_check_keys)
    assert AssetCheckKey(AssetKey(["marts", "kpi_performance"]), MARTS_GATE) in checks
    assert AssetCheckKey(AssetKey(["marts", "fct_activities"]), FACTS_GATE) in checks
    assert AssetCheckKey(AssetKey(["marts", "fct_revenue"]), DRIFT_WARNING) in checks
    # and the session's refresh ran them, green
    evaluations = {
        (e.asset_key, e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    assert evaluations[(AssetKey(["marts", "kpi_performance"]), MARTS_GATE)]
    assert evaluations[(AssetKey(["marts", "fct_activities"]), FACTS_GATE)]
