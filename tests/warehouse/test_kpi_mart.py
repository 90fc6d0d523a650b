"""kpi_rep_month against KPIs computed by hand from the extract files.

The session's demo (tests/conftest.py: seed 42, scale 0.1, as of 2026-11-15), taken through the
pipeline by a Dagster run. The expected values are computed independently from the CSV extracts
with plain Python (csv + Decimal), following the KPI definitions of the brief and
docs/data_quality.md: one row per person, team of the day and month (the days' facts summed,
every fact attributed), and the rep's revenue objective of kpi_objectives for those days in that
team (the objectives' own oracle on working days), by tests/oracle/rep_month.py. Every row of
kpi_rep_month is compared with them. Nothing there reads the dbt models' SQL or output to derive
an expected value.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import duckdb
import pytest

from tests.conftest import AS_OF
from tests.oracle.measures import ACTIVITY_TYPES
from tests.oracle.rep_month import expected_kpis

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def kpi_rows(demo_pipeline) -> dict[tuple[dt.date, str, str], dict]:
    settings, _ = demo_pipeline
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        cursor = con.execute("select * from marts.kpi_rep_month")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()
    return {(row["month_start"], row["rep_id"], row["team_id"]): row for row in rows}


@pytest.fixture(scope="module")
def expected(demo_pipeline) -> dict[tuple[dt.date, str, str], dict]:
    settings, _ = demo_pipeline
    return expected_kpis(settings.landing_dir, AS_OF)


# --------------------------------------------------------------------------- tests


def _ratio_equal(actual, wanted) -> bool:
    if wanted is None or actual is None:
        return actual is None and wanted is None
    # quotients are rounded to 6 decimals (macro round_ratio)
    return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=1e-6)


def _wrong(kpi_rows, expected, column, same=lambda a, b: a == b) -> list:
    return [
        (key, kpi_rows[key][column], want[column])
        for key, want in expected.items()
        if key in kpi_rows and not same(kpi_rows[key][column], want[column])
    ]


def test_grid_is_every_person_team_and_month_up_to_as_of(kpi_rows, expected):
    assert expected, "the demo data produced no account executive"
    missing = sorted(set(expected) - set(kpi_rows))
    extra = sorted(set(kpi_rows) - set(expected))
    assert not missing, f"rows missing from kpi_rep_month: {missing[:10]}"
    assert not extra, f"unexpected rows in kpi_rep_month: {extra[:10]}"


def test_demo_exercises_the_kpis(expected):
    """Guard against a vacuous comparison: the demo must have revenue, targets, every activity
    type, more than one status, and a rep whose month is split between two teams."""
    assert any(row["revenue"] > 0 for row in expected.values())
    assert any(row.get("revenue_target") is not None for row in expected.values())
    assert len({row.get("status") for row in expected.values()}) >= 3
    for kind in ACTIVITY_TYPES:
        assert any(row[f"{kind}s"] > 0 for row in expected.values()), f"no {kind} in the demo"
    teams_of = defaultdict(set)
    for month, person, team in expected:
        teams_of[(month, person)].add(team)
    assert any(len(teams) > 1 for teams in teams_of.values()), "no month split by a team move"


@pytest.mark.parametrize(
    "column", ["rep_name", "rep_email", "team_name", "region_name", "manager_email"]
)
def test_rep_attributes(kpi_rows, expected, column):
    wrong = _wrong(kpi_rows, expected, column)
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


@pytest.mark.parametrize("column", [f"{kind}s" for kind in ACTIVITY_TYPES] + ["activities"])
def test_activity_counts(kpi_rows, expected, column):
    wrong = _wrong(kpi_rows, expected, column)
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


@pytest.mark.parametrize("column", ["quantity", "revenue", "cost", "gross_margin"])
def test_money_is_exact(kpi_rows, expected, column):
    wrong = _wrong(kpi_rows, expected, column)
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


@pytest.mark.parametrize("column", ["margin_pct", "attainment", "pace"])
def test_ratios(kpi_rows, expected, column):
    wrong = _wrong(kpi_rows, expected, column, _ratio_equal)
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


def _cents(actual, wanted) -> bool:
    if actual is None or wanted is None:
        return actual is None and wanted is None
    return abs(float(actual) - float(wanted)) <= 0.005 + 1e-9  # rounded to cents in the mart


@pytest.mark.parametrize(
    ("column", "same"),
    [
        ("revenue_target", _cents),
        ("prorated_target_to_date", _cents),
        ("working_days", lambda a, b: a == b),
        ("elapsed_working_days", lambda a, b: a == b),
        ("status", lambda a, b: a == b),
    ],
)
def test_the_revenue_objective_is_the_objectives_one(kpi_rows, expected, column, same):
    wrong = _wrong(kpi_rows, expected, column, same)
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


def test_as_of_date(kpi_rows):
    assert {row["as_of_date"] for row in kpi_rows.values()} == {AS_OF}
