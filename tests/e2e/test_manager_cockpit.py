"""The manager cockpit (dashboard manager-cockpit) as a sales manager and a sales rep see it,
against the serving file read with DuckDB.

A real Sales Manager of the session's demo (the manager of the most reps, as in
tests/e2e/test_browser.py) and a real Sales Rep log in; each chart's saved query runs with the
dashboard's default Period (month to date) where the chart is in its scope. The manager sees every
team, region and the company in the benchmark (public aggregates), and only their team's reps,
deals and funnel; the rep only their own reps' rows and deals. The expected rows are selected from
the marts with DuckDB by the user's e-mail, not through Superset."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from pilotage.settings import SUPERSET_DIR
from tests.e2e.conftest import Superset
from tests.e2e.test_superset import _charts_of_asset_folder, _query

pytestmark = pytest.mark.superset

SLUG = "manager-cockpit"
DASHBOARD = SUPERSET_DIR / "assets" / "dashboards" / "manager_cockpit.yaml"


def _period_filter() -> tuple[dict, set[str]]:
    """The Period filter's default as the dashboard sends it, and the charts out of its scope."""
    dashboard = yaml.safe_load(DASHBOARD.read_text())
    names = {
        node["meta"]["chartId"]: node["meta"]["sliceName"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    period = next(
        f for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "Period"
    )
    [default] = period["defaultDataMask"]["extraFormData"]["filters"]
    return default, {names[i] for i in period["scope"]["excluded"]}


def _rows(superset: Superset, session, chart_id: int, name: str) -> list[dict]:
    """The chart's saved query, with the default Period when the chart is in its scope."""
    context = json.loads(superset.get(f"/api/v1/chart/{chart_id}")["result"]["query_context"])
    default, excluded = _period_filter()
    if name not in excluded:
        context["queries"][0]["filters"].append(default)
    response = session.post(f"{superset.url}/api/v1/chart/data", json=context, timeout=60)
    assert response.status_code == 200, (name, response.text)
    result = response.json()["result"][0]
    assert not result.get("error") and not result.get("rejected_filters"), (name, result)
    return result["data"]


def _deal_names(rows: list[dict]) -> list[tuple]:
    return sorted((r["opportunity_name"], r["rep_name"]) for r in rows)


def _num(value) -> float | None:
    return None if value is None else float(value)


@pytest.fixture(scope="module")
def people(superset: Superset, serving_db: Path) -> dict[str, tuple[str, object]]:
    """role -> (e-mail, logged-in session)."""
    manager = _query(
        serving_db,
        "select manager_email from marts.kpi_rep_month where manager_email is not null "
        "group by 1 order by count(distinct rep_id) desc, 1 limit 1",
    )[0]["manager_email"]
    rep = _query(
        serving_db,
        "select rep_email from marts.fct_deals where rep_email is not null and is_open "
        "group by 1 order by count(*) desc, 1 limit 1",
    )[0]["rep_email"]
    return {
        "manager": (
            manager,
            superset.login(*superset.create_user("pytest_cockpit_mgr", manager, "Sales Manager")),
        ),
        "rep": (rep, superset.login(*superset.create_user("pytest_cockpit_rep", rep, "Sales Rep"))),
    }


@pytest.mark.parametrize("role", ["manager", "rep"])
def test_deal_tables_show_the_users_deals(
    superset: Superset, serving_db: Path, people, role: str
) -> None:
    email, session = people[role]
    column = "manager_email" if role == "manager" else "rep_email"
    charts = _charts_of_asset_folder(superset, SLUG)
    for name, flag in (
        ("Stalled deals", "is_stalled"),
        ("Deals closing this month", "closes_this_month"),
        ("Open deals", "is_open"),
    ):
        want = _query(
            serving_db,
            f"select opportunity_name, rep_name from marts.fct_deals where {flag} and {column} = ?",
            [email],
        )
        got = _rows(superset, session, charts[name], name)
        assert _deal_names(got) == _deal_names(want), (role, name)
    opened = _query(
        serving_db,
        f"select count(*) as n from marts.fct_deals where is_open and {column} = ?",
        [email],
    )[0]["n"]
    assert opened >= 1  # not vacuous

    # pipeline by stage: the open amount of the user's deals per stage
    want = {
        r["stage_name"]: float(r["amount"])
        for r in _query(
            serving_db,
            f"select stage_name, sum(amount) as amount from marts.fct_deals where is_open "
            f"and {column} = ? group by 1",
            [email],
        )
    }
    got = _rows(superset, session, charts["Open pipeline by stage"], "Open pipeline by stage")
    assert {r["stage_step"].split(". ", 1)[-1]: r["open_pipeline"] for r in got} == pytest.approx(
        want
    )


@pytest.mark.parametrize("role", ["manager", "rep"])
def test_rep_activity_is_the_users_reps_this_month(
    superset: Superset, serving_db: Path, people, role: str
) -> None:
    email, session = people[role]
    column = "manager_email" if role == "manager" else "rep_email"
    charts = _charts_of_asset_folder(superset, SLUG)
    want = {
        r["rep_name"]: r
        for r in _query(
            serving_db,
            "select rep_name, calls, calls_target, meetings_held, meetings_target, proposals "
            "from marts.kpi_rep_activity_targets where period_grain = 'month' "
            f"and is_current_period and {column} = ?",
            [email],
        )
    }
    assert want
    got = {
        r["rep_name"]: r
        for r in _rows(superset, session, charts["Rep activity against target"], "Rep activity")
    }
    assert set(got) == set(want)
    for rep, row in want.items():
        assert got[rep]["period_label"] == "Month to date"
        assert got[rep]["Calls"] == row["calls"]
        assert _num(got[rep]["Calls target"]) == _num(row["calls_target"])
        assert got[rep]["Meetings held"] == row["meetings_held"]
        assert _num(got[rep]["Meetings target"]) == _num(row["meetings_target"])
        assert got[rep]["Proposals"] == row["proposals"]


def test_manager_compares_the_team_with_every_team_and_the_company(
    superset: Superset, serving_db: Path, people
) -> None:
    """The benchmark is public: the manager sees every team, region and the company, though
    kpi_performance shows them only their team's rows; the funnel is their team's."""
    email, session = people["manager"]
    charts = _charts_of_asset_folder(superset, SLUG)
    want = _query(
        serving_db,
        "select member_name, revenue, attainment from marts.kpi_team_benchmark "
        "where period_grain = 'month' and is_current_period",
    )
    name = "My team against the company and the other teams"
    got = _rows(superset, session, charts[name], name)
    assert sorted(r["member_name"] for r in got) == sorted(r["member_name"] for r in want)
    assert {r["member_name"]: r["revenue"] for r in got} == pytest.approx(
        {r["member_name"]: float(r["revenue"]) for r in want}
    )
    team = _query(
        serving_db, "select team_name from marts.dim_team where manager_email = ?", [email]
    )[0]["team_name"]
    assert team in {r["member_name"] for r in got}
    assert "Company" in {r["member_name"] for r in got}
    # kpi_performance hides the other teams from the manager: the reason for the benchmark
    mine = _query(
        serving_db,
        "select count(distinct member_id) as n from marts.kpi_performance where level = 'team' "
        "and manager_email = ?",
        [email],
    )[0]["n"]
    assert mine == 1 < sum(1 for r in want if r["member_name"] != "Company")

    as_of = _query(serving_db, "select max(as_of_date) as d from marts.kpi_funnel")[0]["d"]
    quarter = dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    want_funnel = {
        r["stage_name"]: r["entered"]
        for r in _query(
            serving_db,
            "select f.stage_name, sum(f.entered) as entered from marts.kpi_funnel as f "
            "join marts.dim_team as t on f.member_id = t.team_id where f.level = 'team' "
            "and f.period_grain = 'quarter' and f.period_start = ? and t.manager_email = ? "
            "group by 1",
            [quarter, email],
        )
    }
    name = "Funnel this quarter"
    got_funnel = _rows(superset, session, charts[name], name)
    assert {r["stage_name"]: r["Deals entering the stage"] for r in got_funnel} == want_funnel
    assert want_funnel and sum(Decimal(v) for v in want_funnel.values()) > 0
