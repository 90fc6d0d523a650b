"""Reconciliations (pilotage/reconciliation.py): on the demo warehouse both pass and their numbers
are the sums computed by hand from the extract CSV files; a corrupted copy makes the right one
fail and name the month; Dagster registers them with the intended blocking and severity."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from pilotage.reconciliation import (
    CRM_VS_ERP_MONTH_TOLERANCE,
    CRM_VS_ERP_PERIOD_TOLERANCE,
    crm_vs_erp,
    mart_vs_facts,
)
from tests.conftest import AS_OF, SCALE, SEED, parse_dbt_project, pilotage_env
from tests.pipeline_helpers import build_demo_warehouse

AS_OF_MONTH = AS_OF.replace(day=1)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(warehouse, landing folder) of the demo, built once for this module."""
    tmp = tmp_path_factory.mktemp("reconciliation")
    warehouse = build_demo_warehouse(tmp, seed=SEED, scale=SCALE, as_of=AS_OF)
    return warehouse, tmp / "landing"


@pytest.fixture
def warehouse_copy(built, tmp_path) -> Path:
    """A private copy of the built warehouse, for tests that corrupt it."""
    target = tmp_path / "warehouse.duckdb"
    shutil.copy(built[0], target)
    return target


# --- sums by hand from the extracts (csv + Decimal, nothing from the warehouse) -----------------
def _latest(landing: Path, system: str, obj: str, key: str) -> list[dict]:
    """Every record of an extract, its latest drop winning (as the dlt merge does)."""
    records: dict[str, dict] = {}
    for path in sorted((landing / system / obj).glob(f"{obj}_*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                records[row[key]] = row
    return list(records.values())


def _month(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10]).replace(day=1)


def _add(totals: dict, month: dt.date, amount: Decimal) -> None:
    totals[month] = totals.get(month, Decimal(0)) + amount


def _csv_won_by_month(landing: Path) -> dict[dt.date, Decimal]:
    won: dict[dt.date, Decimal] = {}
    for opp in _latest(landing, "crm", "Opportunity", "Id"):
        if opp["IsWon"] == "true" and opp["IsDeleted"] != "true":
            _add(won, _month(opp["CloseDate"]), Decimal(opp["Amount"]))
    return won


def _csv_revenue_by_month(landing: Path) -> tuple[dict, dict]:
    """Net revenue and cost of goods per invoice month: posted invoices minus credit notes."""
    invoices = {i["invoice_id"]: i for i in _latest(landing, "erp", "invoices", "invoice_id")}
    revenue: dict[dt.date, Decimal] = {}
    cost: dict[dt.date, Decimal] = {}
    for line in _latest(landing, "erp", "invoice_lines", "invoice_line_id"):
        invoice = invoices[line["invoice_id"]]
        if invoice["state"] != "posted":
            continue
        sign = -1 if invoice["move_type"] == "out_refund" else 1
        month = _month(invoice["invoice_date"])
        _add(revenue, month, sign * Decimal(line["net_amount"]))
        line_cost = Decimal(line["quantity"]) * Decimal(line["unit_cost"])
        _add(cost, month, sign * line_cost.quantize(CENT, rounding=ROUND_HALF_UP))
    return revenue, cost


# --- the demo warehouse reconciles, with the numbers of the extracts -----------------------------
def test_kpi_mart_reconciles_with_the_facts_and_the_extracts(built):
    warehouse, landing = built
    result = mart_vs_facts(warehouse)
    assert result.passed, result.summary
    assert not result.offending
    # Every demo invoice and activity belongs to an account executive's month: nothing is outside.
    assert result.metrics["fact_revenue_rows_outside_mart"] == 0
    assert result.metrics["fact_activity_rows_outside_mart"] == 0
    revenue, cost = _csv_revenue_by_month(landing)
    by_month = {row.month: row.values for row in result.rows}
    for month, amount in revenue.items():
        assert by_month[month]["mart revenue"] == amount, month
        assert by_month[month]["fact revenue"] == amount, month
        assert by_month[month]["mart cost"] == cost[month], month
        assert by_month[month]["mart gross_margin"] == amount - cost[month], month
    total = sum(revenue.values())
    assert Decimal(str(result.metrics["mart_revenue"])) == total
    assert result.metrics["mart_activities"] == result.metrics["fact_activities"] > 1000


def test_crm_won_reconciles_with_erp_invoiced_revenue_and_the_extracts(built):
    warehouse, landing = built
    result = crm_vs_erp(warehouse, AS_OF)
    assert result.passed, result.summary
    won = _csv_won_by_month(landing)
    revenue, _ = _csv_revenue_by_month(landing)
    months = sorted(m for m in set(won) | set(revenue) if m <= AS_OF_MONTH)
    assert [row.month for row in result.rows] == months
    for row in result.rows:
        assert row.values["CRM won"] == won.get(row.month, 0), row.month
        assert row.values["ERP net invoiced"] == revenue.get(row.month, 0), row.month
    closed = [m for m in months if m < AS_OF_MONTH]
    crm_total = sum(won.get(m, Decimal(0)) for m in closed)
    erp_total = sum(revenue.get(m, Decimal(0)) for m in closed)
    assert Decimal(str(result.metrics["crm_won_total"])) == crm_total
    assert Decimal(str(result.metrics["erp_net_invoiced_total"])) == erp_total
    assert abs(erp_total - crm_total) / crm_total <= CRM_VS_ERP_PERIOD_TOLERANCE
    assert result.metrics["worst_month_pct"] <= float(CRM_VS_ERP_MONTH_TOLERANCE * 100)
    # The as-of month is shown but not judged: its last won deals are not invoiced yet.
    assert result.rows[-1].month == AS_OF_MONTH and not result.rows[-1].offending
    assert "| 2026-03 |" in result.markdown()


# --- corrupted copies fail, and say which month --------------------------------------------------
def test_a_kpi_mart_row_off_by_one_euro_fails_and_names_its_month(warehouse_copy):
    con = duckdb.connect(str(warehouse_copy))
    try:
        rep_id = con.execute(
            "select min(rep_id) from marts.kpi_rep_month where month_start = '2026-03-01'"
        ).fetchone()[0]
        con.execute(
            "update marts.kpi_rep_month set revenue = revenue + 1, calls = calls + 2 "
            "where month_start = '2026-03-01' and rep_id = ?",
            [rep_id],
        )
    finally:
        con.close()
    result = mart_vs_facts(warehouse_copy)
    assert not result.passed
    assert result.offending_months == [dt.date(2026, 3, 1)]
    [row] = result.offending
    assert "revenue 1.00" in row.reason and "calls 2" in row.reason
    assert "2026-03" in result.summary
    assert "| 2026-03 |" in result.markdown(only_offending=True)
    assert "**OFF**" in result.markdown()


def test_a_rep_month_dropped_from_the_kpi_mart_fails(warehouse_copy):
    """The rep-months are rebuilt from the dimensions: a missing mart row is a difference."""
    con = duckdb.connect(str(warehouse_copy))
    try:
        con.execute(
            "delete from marts.kpi_rep_month where month_start = '2026-06-01' and rep_id = "
            "(select rep_id from marts.kpi_rep_month where month_start = '2026-06-01' "
            "order by revenue desc limit 1)"
        )
    finally:
        con.close()
    result = mart_vs_facts(warehouse_copy)
    assert not result.passed
    assert result.offending_months == [dt.date(2026, 6, 1)]
    assert "revenue" in result.offending[0].reason


def _shift_won_amount(warehouse: Path, month: str, share: Decimal) -> None:
    """Raise one won opportunity of ``month`` by ``share`` of that month's won amount (in raw)."""
    con = duckdb.connect(str(warehouse))
    try:
        month_total, opp_id = con.execute(
            "select sum(amount), min(id) from raw_crm.opportunities "
            "where is_won and not is_deleted and date_trunc('month', close_date) = ?",
            [month],
        ).fetchone()
        bump = (month_total * share).quantize(CENT)
        con.execute(
            "update raw_crm.opportunities set amount = amount + ? where id = ?", [bump, opp_id]
        )
    finally:
        con.close()


def test_a_won_amount_edited_in_the_crm_only_fails_and_names_its_month(warehouse_copy):
    _shift_won_amount(warehouse_copy, "2026-09-01", Decimal("0.5"))
    result = crm_vs_erp(warehouse_copy, AS_OF)
    assert not result.passed
    assert result.offending_months == [dt.date(2026, 9, 1)]
    assert "2026-09" in result.summary and "> 25 %" in result.summary
    assert result.metrics["offending_months"] == 1


def test_the_tolerances_decide(warehouse_copy):
    """A drift within the month tolerance passes; the period tolerance is judged on its own."""
    _shift_won_amount(warehouse_copy, "2026-09-01", Decimal("0.10"))
    assert crm_vs_erp(warehouse_copy, AS_OF).passed
    # September is now about 8 % apart: a 5 % month tolerance flags it.
    strict = crm_vs_erp(warehouse_copy, AS_OF, tolerance=Decimal("0.05"))
    assert not strict.passed and dt.date(2026, 9, 1) in strict.offending_months
    whole = crm_vs_erp(
        warehouse_copy, AS_OF, tolerance=Decimal(1), period_tolerance=Decimal("0.001")
    )
    assert not whole.passed and not whole.offending
    assert "whole period" in whole.summary


# --- Dagster registers them: the mart one blocking (ERROR), the CRM-vs-ERP one a warning ----------
def test_definitions_register_the_reconciliation_checks(built, warehouse_copy, tmp_path):
    from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, build_asset_check_context

    from dagster_project.definitions import build_definitions

    parse_dbt_project()
    with pilotage_env(tmp_path / "data") as settings:
        defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    mart_check = AssetCheckKey(AssetKey(["marts", "kpi_rep_month"]), "reconciles_with_facts")
    crm_check = AssetCheckKey(AssetKey(["marts", "fct_revenue"]), "crm_won_vs_erp_invoiced")
    assert mart_check in graph.asset_check_keys and crm_check in graph.asset_check_keys
    assert graph.get_check_spec(mart_check).blocking
    assert not graph.get_check_spec(crm_check).blocking

    # Their results: severity ERROR for the mart, WARN for the CRM-vs-ERP drift.
    from dagster_project.quality import build_reconciliation_checks

    _shift_won_amount(warehouse_copy, "2026-09-01", Decimal("0.5"))
    broken = dataclasses.replace(settings, warehouse_path=warehouse_copy)
    healthy = dataclasses.replace(settings, warehouse_path=built[0])
    for current, crm_passes in ((healthy, True), (broken, False)):
        mart_def, crm_def = build_reconciliation_checks(current)
        mart_result = mart_def(build_asset_check_context())
        crm_result = crm_def(build_asset_check_context())
        assert mart_result.passed and mart_result.severity == AssetCheckSeverity.ERROR
        assert crm_result.passed is crm_passes
        assert crm_result.severity == AssetCheckSeverity.WARN
        assert "| 2026-09 |" in crm_result.metadata["months"].value
    assert crm_result.metadata["offending"].value == "2026-09"
