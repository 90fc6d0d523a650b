"""kpi_objectives and kpi_revenue_drivers against values computed from the extract files.

The session's demo (tests/conftest.py: seed 42, scale 0.1, as of 2026-11-15: team targets, a
revised target, reps who change team mid-month, mid-month joiners), taken through the pipeline
by a Dagster run. The expected values are computed with plain Python from the CSV extracts and
the holiday seed by tests/oracle/objectives.py, following the rules of docs/driver_tree.md: team
history from the User versions, the target version in force, working days, proration, pacing,
and the LMDI driver tree. Every row of the 2026 months and quarters is compared. Pipeline
coverage needs the opportunity history snapshots and is covered by the dbt unit tests only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.conftest import AS_OF
from tests.oracle.files import is_true as _true
from tests.oracle.files import parse_day as _date
from tests.oracle.objectives import (
    ObjectivesDemo,
    expected_drivers,
    expected_margin_drivers,
    expected_objectives,
    expected_ranks,
    read_demo,
)

YEAR = AS_OF.year


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_build(demo_pipeline) -> tuple[ObjectivesDemo, Path]:
    settings, _ = demo_pipeline
    return read_demo(settings.landing_dir, AS_OF), settings.warehouse_path


def _rows(warehouse: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo(demo_build) -> ObjectivesDemo:
    return demo_build[0]


@pytest.fixture(scope="module")
def objectives(demo_build) -> dict[tuple, dict]:
    rows = _rows(
        demo_build[1],
        "select * from marts.kpi_objectives",
    )
    return {
        (r["level"], r["member_id"], r["team_id"], r["metric"], r["period_grain"],
         r["period_start"]): r
        for r in rows
    }  # fmt: skip


@pytest.fixture(scope="module")
def drivers(demo_build) -> dict[tuple, dict]:
    rows = _rows(
        demo_build[1],
        "select * from marts.kpi_revenue_drivers",
    )
    return {
        (r["level"], r["member_id"], r["team_id"], r["period_grain"], r["period_start"]): r
        for r in rows
    }


@pytest.fixture(scope="module")
def margin_drivers(demo_build) -> dict[tuple, dict]:
    rows = _rows(
        demo_build[1],
        "select * from marts.kpi_margin_drivers",
    )
    return {
        (r["level"], r["member_id"], r["team_id"], r["period_grain"], r["period_start"]): r
        for r in rows
    }


@pytest.fixture(scope="module")
def expected(demo) -> dict[tuple, dict]:
    return expected_objectives(demo)


# --------------------------------------------------------------------------- tests


def _close(actual, wanted, money: bool = False) -> bool:
    if actual is None or wanted is None:
        return actual is None and wanted is None
    if money:  # rounded to cents in the mart
        return abs(float(actual) - wanted) <= 0.005 + 1e-6
    # quotients are rounded to 6 decimals (macro round_ratio)
    return math.isclose(float(actual), wanted, rel_tol=1e-9, abs_tol=1e-6)


def test_demo_exercises_the_rules(demo, expected):
    """Guard against a vacuous comparison: revisions, team targets, movers, joiners, several
    statuses, a month with a holiday."""
    assert demo.calendar_start < dt.date(YEAR, 1, 1), "the as-of year must be whole"
    revised = [v for v in demo.targets.values() if len(v) > 1 and not _true(v[-1]["IsDeleted"])]
    assert any(_date(v[0]["Period_Start__c"]).year == YEAR for v in revised), "no revision"
    assert any(v[0]["Target_Level__c"] == "team" for v in demo.targets.values())
    assert any(len(periods) > 1 for periods in demo.periods.values()), "no mover"
    movers_rows = defaultdict(set)
    for level, member, team, _, grain, start in expected:
        if level == "rep":
            movers_rows[(member, grain, start)].add(team)
    assert any(len(teams) > 1 for teams in movers_rows.values()), "no period split by team"
    assert len({row["status"] for row in expected.values()}) >= 4
    assert any(row["target"] and row["working_days"] < 19 for row in expected.values())


def test_rows_are_every_member_team_metric_and_period(objectives, expected):
    missing = sorted(set(expected) - set(objectives))
    extra = sorted(set(objectives) - set(expected))
    assert not missing, f"rows missing from kpi_objectives: {missing[:5]}"
    assert not extra, f"unexpected rows in kpi_objectives: {extra[:5]}"


@pytest.mark.parametrize(
    ("column", "money"),
    [
        ("target", True),
        ("actual", True),
        ("prorated_target_to_date", True),
        ("gap", True),
        ("attainment", False),
        ("pace", False),
        ("run_rate_projection", False),
        ("required_daily_rate", False),
        ("gap_pct", False),
        ("working_days", False),
        ("elapsed_working_days", False),
        ("remaining_working_days", False),
    ],
)
def test_objective_values(objectives, expected, column, money):
    wrong = [
        (key, objectives[key][column], want[column])
        for key, want in expected.items()
        if key in objectives and not _close(objectives[key][column], want[column], money)
    ]
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


def test_status(objectives, expected):
    wrong = [
        (key, objectives[key]["status"], want["status"], want["pace"])
        for key, want in expected.items()
        if key in objectives and objectives[key]["status"] != want["status"]
    ]
    assert not wrong, f"(key, model, expected, pace) {wrong[:5]}"


def test_ranks(objectives, expected):
    """rank_in_team, ranked_in_team, rank_in_company, ranked_in_company of every row, against
    the oracle's ranking of its own attainments; the demo has ties, movers ranked once in the
    company and reps without a target (not ranked)."""
    ranks = expected_ranks(expected)
    columns = ("rank_in_team", "ranked_in_team", "rank_in_company", "ranked_in_company")
    wrong = [
        (key, [objectives[key][c] for c in columns], [want[c] for c in columns])
        for key, want in ranks.items()
        if key in objectives and any(objectives[key][c] != want[c] for c in columns)
    ]
    assert not wrong, f"(key, model, expected) {wrong[:5]}"
    assert any(want["rank_in_team"] is None for want in ranks.values())
    ties = defaultdict(int)
    for (_, _, team, metric, grain, start), want in ranks.items():
        if want["rank_in_team"] is not None:
            ties[(team, metric, grain, start, want["rank_in_team"])] += 1
    assert any(count > 1 for count in ties.values()), "no tie in the demo"
    ranked_rows = defaultdict(int)  # a mover's rows share their company rank
    for (level, member, _, metric, grain, start), want in ranks.items():
        if level == "rep" and want["rank_in_company"] is not None:
            ranked_rows[(member, metric, grain, start)] += 1
    assert any(count > 1 for count in ranked_rows.values()), "no mover ranked in the company"
    assert any(
        want["rank_in_company"] is not None and want["ranked_in_company"] > 1
        for want in ranks.values()
    )


def test_driver_parts(drivers, demo, expected):
    wanted = expected_drivers(demo, expected)
    assert set(drivers) == set(wanted)
    assert any(w["parts"] is not None and w["bookings"] > 0 for w in wanted.values())
    wrong = []
    for key, want in wanted.items():
        row = drivers[key]
        got = [row["volume_effect"], row["conversion_effect"], row["deal_size_effect"]]
        if want["parts"] is None:
            ok = got == [None, None, None]
        else:  # each part within a cent (deal size takes the rounding)
            ok = all(abs(float(g) - w) <= 0.011 for g, w in zip(got, want["parts"], strict=True))
        ok = ok and _close(row["gap_to_date"], want["gap_to_date"], money=True)
        ok = ok and _close(row["invoicing_timing_effect"], want["invoicing_timing_effect"], True)
        ok = ok and row["meetings_held"] == want["meetings_held"]
        ok = ok and row["won_opportunities"] == want["won_opportunities"]
        if not ok:
            wrong.append((key, got, row["gap_to_date"], want))
    assert not wrong, wrong[:3]


def test_driver_parts_add_up_to_the_gap(drivers):
    decomposed = [r for r in drivers.values() if r["norm_source"] is not None]
    assert decomposed
    for row in decomposed:
        parts = (
            row["volume_effect"]
            + row["conversion_effect"]
            + row["deal_size_effect"]
            + row["invoicing_timing_effect"]
        )
        assert parts == row["gap_to_date"] == row["revenue"] - row["target_to_date"], row


def test_margin_driver_parts(margin_drivers, expected):
    wanted = expected_margin_drivers(expected)
    assert wanted, "the demo has no rep or team with both a revenue and a margin target"
    assert set(margin_drivers) == set(wanted)
    wrong = [
        (key, margin_drivers[key], want)
        for key, want in wanted.items()
        if not all(
            abs(float(margin_drivers[key][column]) - value) <= 0.011
            for column, value in want.items()
        )
        or margin_drivers[key]["revenue_effect"] + margin_drivers[key]["margin_rate_effect"]
        != margin_drivers[key]["gap_to_date"]
    ]
    assert not wrong, wrong[:3]
