"""A CRM-only company from a real public export: the Maven Analytics "CRM Sales Opportunities"
sample (tests/fixtures/crm_exports/maven_crm, Public Domain) is converted with its shipped
mapping, then loaded, built, gated and published by the real refresh (a Dagster run) with
PILOTAGE_SOURCES=crm. The dashboards' serving file is published; what the company's data does
not give (activities, objectives, the funnel, anything from an ERP) is empty with its reason,
never 0; the open pipeline comes from the opportunities' current state (no stage history), at
every quarter end as computed here by hand from the export files."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.mapping import convert, load_mapping, resolve_mapping
from tests.conftest import parse_dbt_project, pilotage_env, run_full_refresh

EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "crm_exports" / "maven_crm"
# the dataset ends in December 2017: it is read as of the last day of that year
DATASET_END = dt.date(2017, 12, 31)
DROP = DATASET_END.strftime("%Y%m%d")


def _rows(name: str) -> list[dict[str, str]]:
    with open(EXPORT / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _deals() -> list[dict]:
    """Each deal as the mapping documents it: created on engage_date (a Prospecting deal, not
    engaged yet, on the drop day), closed on close_date when won or lost, worth its close_value
    when won, else its product's list price (the pipeline writes GTXPro for GTX Pro)."""
    prices = {p["product"]: Decimal(p["sales_price"]) for p in _rows("products.csv")}
    prices["GTXPro"] = prices["GTX Pro"]
    deals = []
    for row in _rows("sales_pipeline.csv"):
        won, lost = row["deal_stage"] == "Won", row["deal_stage"] == "Lost"
        deals.append(
            {
                "created": dt.date.fromisoformat(row["engage_date"])
                if row["engage_date"]
                else DATASET_END,
                "closed": dt.date.fromisoformat(row["close_date"]) if won or lost else None,
                "won": won,
                "amount": Decimal(row["close_value"]) if won else prices[row["product"]],
            }
        )
    return deals


def _open_on(deals: list[dict], day: dt.date) -> tuple[int, Decimal]:
    open_deals = [
        d for d in deals if d["created"] <= day and (d["closed"] is None or d["closed"] > day)
    ]
    return len(open_deals), sum((d["amount"] for d in open_deals), Decimal(0))


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("maven_crm")
    conversion = convert(
        load_mapping(resolve_mapping("maven_crm")), EXPORT, data_dir / "landing", DROP
    )
    assert conversion.counts["Opportunity"] == len(_rows("sales_pipeline.csv"))
    with pilotage_env(data_dir, DATASET_END, sources=("crm",)) as settings:
        parse_dbt_project()
        result = run_full_refresh(settings)
        assert result.success, "a CRM-only company's refresh must publish"
        return settings.serving_path


def _query(serving: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(serving), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_what_the_export_does_not_give_is_said_plainly(published):
    reasons = dict(
        _query(
            published, "select kpi_name, reason from marts.kpi_availability where not is_available"
        )
    )
    assert "no call was delivered" in reasons["calls"]
    assert "no objective was delivered" in reasons["pace"]
    assert "no stage history was delivered" in reasons["next_step_conversion"]
    assert "no ERP among its sources" in reasons["revenue"]
    available = {
        name
        for (name,) in _query(
            published, "select kpi_name from marts.kpi_availability where is_available"
        )
    }
    assert {"open_pipeline", "won_amount", "win_rate", "new_opportunities"} <= available
    # empty, never 0, on every row
    [(rows, calls, revenue, won)] = _query(
        published,
        "select count(*), count(calls), count(revenue), count(won_amount) "
        "from marts.kpi_performance",
    )
    assert (calls, revenue) == (0, 0) and won == rows > 0
    assert _query(published, "select count(*) from marts.kpi_funnel") == [(0,)]


def test_won_deals_and_the_pipeline_from_the_current_state(published):
    deals = _deals()
    won = sum((d["amount"] for d in deals if d["won"]), Decimal(0))
    [(mart_won,)] = _query(
        published,
        "select sum(won_amount) from marts.kpi_performance "
        "where level = 'company' and period_grain = 'quarter'",
    )
    assert mart_won == won
    quarters = _query(
        published,
        "select period_end, open_opportunities, open_pipeline from marts.kpi_performance "
        "where level = 'company' and period_grain = 'quarter' order by period_start",
    )
    assert len(quarters) >= 5
    for period_end, count, amount in quarters:
        assert (count, amount) == _open_on(deals, min(period_end, DATASET_END)), period_end
    assert any(count for _, count, _ in quarters), "a vacuous check: nothing ever open"


def test_every_team_and_region_adds_up_to_the_company(published):
    totals = _query(
        published,
        "select level, sum(won_amount), sum(new_opportunities) from marts.kpi_performance "
        "where period_grain = 'month' group by level order by level",
    )
    assert len(totals) == 4 and len({t[1:] for t in totals}) == 1, totals
    teams = _query(
        published,
        "select count(distinct member_id) from marts.kpi_performance where level = 'team' "
        "and member_id != '(unassigned)'",
    )
    assert teams == [(6,)]  # one team per manager of sales_teams.csv
