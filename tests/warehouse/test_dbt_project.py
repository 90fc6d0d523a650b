"""The dbt project on its own: parse, conventions, build on empty raw tables (runs every unit
test and data test), the as-of var, and the SQL lint.

The raw tables are created empty from ingestion/extracts.py with dlt's column naming, so these
tests need neither the demo generator nor the loader.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from ingestion.contracts import warehouse_type
from ingestion.extracts import ALL_EXTRACTS
from tests.conftest import AS_OF
from tests.pipeline_helpers import run_dbt

MART_MODELS = {
    "dim_date",
    "dim_team",
    "dim_region",
    "dim_rep",
    "dim_customer",
    "dim_product",
    "fct_activities",
    "fct_revenue",
    "kpi_rep_month",
    "fct_opportunities",
    "fct_opportunity_history",
    "kpi_rep_day",
    "kpi_performance",
    "kpi_funnel",
    "fct_targets",
    "kpi_objectives",
    "kpi_revenue_drivers",
    "kpi_margin_drivers",
    "fct_challenge_scores",
    "fct_challenge_standings",
    "fct_challenge_badges",
    "kpi_availability",
    "fct_deals",
    "kpi_rep_activity_targets",
    "kpi_team_benchmark",
}


def create_empty_raw_tables(warehouse: Path) -> None:
    """raw_crm / raw_erp tables as dlt creates them (snake_case names, typed), with no rows."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention()
    con = duckdb.connect(str(warehouse))
    try:
        for extract in ALL_EXTRACTS:
            schema = f"raw_{extract.system}"
            con.execute(f"create schema if not exists {schema}")
            columns = [
                f"{naming.normalize_identifier(name)} {warehouse_type(arrow_type)}"
                for name, arrow_type in extract.columns.items()
            ]
            columns.append("_source_file varchar")
            con.execute(f"create table {schema}.{extract.table} ({', '.join(columns)})")
    finally:
        con.close()


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="module")
def manifest(target_dir) -> dict:
    run_dbt(["parse"], target_dir / "parse.duckdb", None, target_dir)
    return json.loads((target_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def empty_build(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dbt_empty")
    warehouse = tmp / "warehouse.duckdb"
    create_empty_raw_tables(warehouse)
    run_dbt(["build"], warehouse, AS_OF, tmp / "target")
    return warehouse


def _models(manifest: dict) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "pilotage"
    }


def test_every_raw_table_has_a_source_and_a_staging_model(manifest):
    sources = {
        (s["source_name"], s["name"])
        for s in manifest["sources"].values()
        if s["package_name"] == "pilotage"
    }
    assert sources == {(e.system, e.table) for e in ALL_EXTRACTS}
    models = _models(manifest)
    for extract in ALL_EXTRACTS:
        name = f"stg_{extract.system}__{extract.table}"
        assert name in models, f"no staging model {name}"
        assert models[name]["config"]["materialized"] == "view"
        assert models[name]["schema"] == "staging"


def test_marts_are_tables_with_enforced_documented_contracts(manifest):
    models = _models(manifest)
    assert set(models) >= MART_MODELS
    for name in MART_MODELS:
        node = models[name]
        assert node["schema"] == "marts"
        assert node["config"]["materialized"] == "table"
        assert node["config"]["contract"]["enforced"], name
        assert node["description"], name
        assert node["columns"], name
        for column, spec in node["columns"].items():
            assert spec.get("data_type"), f"{name}.{column} has no data_type"
            assert spec.get("description"), f"{name}.{column} has no description"


def test_every_model_is_described(manifest):
    undocumented = [name for name, node in _models(manifest).items() if not node["description"]]
    assert not undocumented


def test_kpi_formulas_have_unit_tests(manifest):
    unit_tests = {node["name"]: node for node in manifest.get("unit_tests", {}).values()}
    on_kpi = [u for u in unit_tests.values() if u["model"] == "kpi_rep_month"]
    assert len(on_kpi) >= 2
    tested_columns = set()
    for unit_test in on_kpi:
        for row in unit_test["expect"]["rows"]:
            tested_columns |= set(row)
    for column in (
        "calls",
        "meetings",
        "activities",
        "margin_pct",
        "attainment",
        "prorated_target_to_date",
        "pace",
        "status",
    ):
        assert column in tested_columns, f"no unit test expects {column}"
    assert {u["model"] for u in unit_tests.values()} >= {
        "fct_revenue",
        "fct_activities",
        "int_activities__unioned",
        "int_invoice_lines__signed",
    }


def test_exposures_declare_the_dashboards(manifest):
    exposures = {
        e["name"]: e for e in manifest["exposures"].values() if e["package_name"] == "pilotage"
    }
    assert set(exposures) == {
        "sales_performance",
        "challenges",
        "objectives",
        "my_month",
        "manager_cockpit",
        "executive_360",
        "wallboard",
    }
    for name, slug in (
        ("sales_performance", "sales-performance"),
        ("challenges", "challenges"),
        ("objectives", "objectives"),
        ("my_month", "my-month"),
        ("manager_cockpit", "manager-cockpit"),
        ("executive_360", "executive-360"),
    ):
        assert exposures[name]["type"] == "dashboard"
        assert exposures[name]["url"] == f"http://127.0.0.1:8088/superset/dashboard/{slug}/"
    assert exposures["wallboard"]["url"] == "http://127.0.0.1:8088/wallboard/wallboard/"
    depends = {
        node.split(".")[-1] for node in exposures["sales_performance"]["depends_on"]["nodes"]
    }
    assert {
        "kpi_rep_month",
        "fct_activities",
        "fct_revenue",
        "dim_rep",
        "dim_team",
        "kpi_availability",
    } <= depends
    challenge_nodes = exposures["challenges"]["depends_on"]["nodes"]
    # the standings, and the reps' e-mails the dashboard marks the logged-in user with
    assert {node.split(".")[-1] for node in challenge_nodes} == {
        "fct_challenge_standings",
        "dim_rep",
    }
    objectives_nodes = exposures["objectives"]["depends_on"]["nodes"]
    assert {node.split(".")[-1] for node in objectives_nodes} == {
        "kpi_objectives",
        "kpi_revenue_drivers",
        "dim_rep",
        "dim_team",
    }
    cockpit_nodes = exposures["manager_cockpit"]["depends_on"]["nodes"]
    assert {node.split(".")[-1] for node in cockpit_nodes} == {
        "kpi_team_benchmark",
        "kpi_rep_activity_targets",
        "fct_deals",
        "kpi_funnel",
        "dim_rep",
        "dim_team",
    }
    my_month_nodes = exposures["my_month"]["depends_on"]["nodes"]
    assert {node.split(".")[-1] for node in my_month_nodes} == {
        "kpi_objectives",
        "fct_challenge_standings",
        "fct_deals",
        "dim_rep",
        "dim_team",
    }


def test_build_on_empty_raw_tables_uses_plain_schema_names(empty_build):
    con = duckdb.connect(str(empty_build), read_only=True)
    try:
        schemas = {
            row[0]
            for row in con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        assert {"staging", "intermediate", "marts"} <= schemas
        assert not any(s.startswith("main_") for s in schemas)
        marts = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE'"
            ).fetchall()
        }
        assert marts == MART_MODELS
        # no data: the calendar is the as-of year, the KPI grid is empty
        first, last, days = con.execute(
            "select min(date_day), max(date_day), count(*) from marts.dim_date"
        ).fetchone()
        year_end = dt.date(AS_OF.year, 12, 31)
        expected_days = (year_end - AS_OF.replace(day=1)).days + 1
        assert (first, last, days) == (AS_OF.replace(day=1), year_end, expected_days)
        assert con.execute("select count(*) from marts.kpi_rep_month").fetchone() == (0,)
        # and no KPI can be computed, each with its reason
        unavailable = con.execute(
            "select count(*), count(reason) from marts.kpi_availability where not is_available"
        ).fetchone()
        total = con.execute("select count(*) from marts.kpi_availability").fetchone()[0]
        assert unavailable == (total, total) and total > 50
    finally:
        con.close()


def test_bad_as_of_date_fails_with_a_clear_message(empty_build, tmp_path):
    with pytest.raises(AssertionError, match="as_of_date must be an ISO date"):
        run_dbt(
            ["compile", "--select", "kpi_rep_month", "--vars", '{"as_of_date": "15/11/2026"}'],
            empty_build,
            None,
            tmp_path / "target",
        )


# sqlfluff over models, macros and tests is `make lint` (run by `make test` before pytest): not
# repeated here.
