"""kpi_objectives and kpi_revenue_drivers against values computed from the extract files.

The session's demo (tests/conftest.py: seed 42, scale 0.1, as of 2026-11-15: team targets, a
revised target, reps who change team mid-month, mid-month joiners), taken through the pipeline
by a Dagster run. The expected values are computed here with plain Python from the CSV extracts
and the holiday seed, following the rules of docs/driver_tree.md: team history from the User
versions, the target version in force, working days, proration, pacing, and the LMDI driver
tree. Every row of the 2026 months and quarters is compared. Pipeline coverage needs the
opportunity history snapshots and is covered by the dbt unit tests only.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.extracts import ALL_EXTRACTS
from pilotage.settings import DBT_PROJECT_DIR
from tests.conftest import AS_OF
from tests.oracle import is_true as _true
from tests.oracle import parse_day as _date
from tests.oracle import parse_instant as _timestamp
from tests.warehouse.test_kpi_mart import _latest_rows

YEAR = AS_OF.year
CENT = Decimal("0.01")
METRICS = ("revenue", "gross_margin", "calls", "meetings", "new_opportunities")
# the fact each target metric is measured on
FACT_OF_METRIC = {
    "revenue": "revenue",
    "gross_margin": "gross_margin",
    "calls": "calls",
    "meetings": "meetings_held",
    "new_opportunities": "new_opportunities",
}
END_OF_TIME = dt.date(9999, 12, 31)


# --------------------------------------------------------------------------- calendar


def _holidays() -> set[dt.date]:
    with open(DBT_PROJECT_DIR / "seeds" / "holidays.csv", newline="", encoding="utf-8") as f:
        return {
            dt.date.fromisoformat(row["holiday_date"])
            for row in csv.DictReader(f)
            if row["calendar_code"] == "FR"
        }


HOLIDAYS = _holidays()


def is_working(day: dt.date) -> bool:
    return day.isoweekday() < 6 and day not in HOLIDAYS


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def period_start(grain: str, day: dt.date) -> dt.date:
    return month_start(day) if grain == "month" else quarter_start(day)


def period_end(grain: str, start: dt.date) -> dt.date:
    months = 1 if grain == "month" else 3
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1) - dt.timedelta(days=1)


def months_back(start: dt.date, n: int) -> dt.date:
    index = start.year * 12 + start.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


# --------------------------------------------------------------------------- extracts


def _all_versions(table: str, landing: Path) -> list[dict[str, str]]:
    """Every row of an object over its drops (one per Id and LastModifiedDate), oldest first."""
    extract = next(e for e in ALL_EXTRACTS if e.table == table)
    rows = {}
    for path in extract.files(landing):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows[(row["Id"], _timestamp(row["LastModifiedDate"]))] = row
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1]))]


def _utc_day(value: str) -> dt.date:
    return _timestamp(value).astimezone(dt.UTC).date()


@dataclass
class Demo:
    """What the expected values are computed from."""

    reps: dict[str, str] = field(default_factory=dict)  # account executive id -> name
    teams: dict[str, str] = field(default_factory=dict)  # team role id -> name
    # rep -> [(team, first day, day after the last)]
    periods: dict[str, list[tuple[str, dt.date, dt.date]]] = field(default_factory=dict)
    # (rep, day) -> {fact: value}
    facts: dict[tuple[str, dt.date], dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    # target id -> versions, oldest first
    targets: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    # dim_date starts at the month of the first dated record: no fact before it
    calendar_start: dt.date = dt.date.max


def read_demo(landing: Path) -> Demo:
    tables = {e.table: _latest_rows(e, landing) for e in ALL_EXTRACTS}
    demo = Demo()
    roles = {r["Id"]: r for r in tables["user_roles"]}
    demo.teams = {i: r["Name"] for i, r in roles.items() if r["RollupDescription"] == "Team"}
    users = {u["Id"]: u for u in tables["users"]}
    demo.reps = {
        i: f"{u['FirstName']} {u['LastName']}".strip()
        for i, u in users.items()
        if u["Title"] == "Account Executive"
    }

    # Team history: a version counts from the UTC day of its LastModifiedDate (the day's last
    # version wins); the first period starts at the hire date when earlier.
    team_by_day: dict[str, dict[dt.date, str | None]] = defaultdict(dict)
    for version in _all_versions("users", landing):  # oldest first
        role = version["UserRoleId"]
        team = role if role in demo.teams else None
        team_by_day[version["Id"]][_utc_day(version["LastModifiedDate"])] = team
    for rep_id in demo.reps:
        changes = sorted(team_by_day[rep_id].items())
        hired = _date(users[rep_id]["HireDate__c"])
        starts = []
        for day, team in changes:
            if not starts or starts[-1][1] != team:
                starts.append((day, team))
        if hired and hired < starts[0][0]:
            starts[0] = (hired, starts[0][1])
        demo.periods[rep_id] = [
            (team, start, starts[i + 1][0] if i + 1 < len(starts) else END_OF_TIME)
            for i, (start, team) in enumerate(starts)
            if team is not None
        ]

    def add(rep_id: str | None, day: dt.date | None, fact: str, value) -> None:
        if rep_id in demo.reps and day is not None:
            demo.facts[(rep_id, day)][fact] += Decimal(value)

    def seen(day: dt.date | None, deleted: str = "false") -> None:
        if day is not None and not _true(deleted):
            demo.calendar_start = min(demo.calendar_start, month_start(day))

    for task in tables["tasks"]:
        if task["TaskSubtype"] in ("Call", "Email"):
            seen(_date(task["ActivityDate"]), task["IsDeleted"])
    for event in tables["events"]:
        if event["Type"] == "Meeting":
            seen(_date(event["ActivityDate"]), event["IsDeleted"])
    for proposal in tables["proposals"]:
        seen(_date(proposal["Sent_Date__c"]), proposal["IsDeleted"])
    for quote in tables["quotes"]:
        seen(_utc_day(quote["CreatedDate"]), quote["IsDeleted"])
    for contract in tables["contracts"]:
        seen(_date(contract["CustomerSignedDate"]), contract["IsDeleted"])

    for task in tables["tasks"]:
        if task["TaskSubtype"] == "Call" and not _true(task["IsDeleted"]):
            add(task["OwnerId"], _date(task["ActivityDate"]), "calls", 1)
    for event in tables["events"]:
        held = event["Type"] == "Meeting" and event["Meeting_Status__c"] == "Held"
        if held and not _true(event["IsDeleted"]):
            add(event["OwnerId"], _date(event["ActivityDate"]), "meetings_held", 1)
    for opp in tables["opportunities"]:
        if _true(opp["IsDeleted"]):
            continue
        seen(_utc_day(opp["CreatedDate"]))
        seen(_date(opp["CloseDate"]))
        add(opp["OwnerId"], _utc_day(opp["CreatedDate"]), "new_opportunities", 1)
        if _true(opp["IsWon"]):
            add(opp["OwnerId"], _date(opp["CloseDate"]), "won_opportunities", 1)
            add(opp["OwnerId"], _date(opp["CloseDate"]), "won_amount", opp["Amount"] or 0)

    user_by_email = {u["Email"].strip().lower(): i for i, u in users.items()}
    invoices = {i["invoice_id"]: i for i in tables["invoices"]}
    for line in tables["invoice_lines"]:
        invoice = invoices.get(line["invoice_id"])
        if invoice is None or invoice["state"] != "posted":
            continue
        day = _date(invoice["invoice_date"])
        seen(day)
        sign = -1 if invoice["move_type"] == "out_refund" else 1
        rep_id = user_by_email.get(invoice["salesperson_email"].strip().lower())
        revenue = sign * Decimal(line["net_amount"])
        cost = sign * (Decimal(line["quantity"]) * Decimal(line["unit_cost"])).quantize(
            CENT, ROUND_HALF_UP
        )
        add(rep_id, day, "revenue", revenue)
        add(rep_id, day, "gross_margin", revenue - cost)

    for version in _all_versions("sales_targets", landing):
        demo.targets[version["Id"]].append(version)
    return demo


# --------------------------------------------------------------------------- expected marts


def team_of(demo: Demo, rep_id: str, day: dt.date) -> str | None:
    for team, start, end in demo.periods[rep_id]:
        if start <= day < end:
            return team
    return None


def target_in_force(versions: list[dict[str, str]], as_of: dt.date) -> dict[str, str] | None:
    """The version valid on the earlier of the period's last day and the as-of date: the first
    version from the beginning, each later one from the UTC day of its LastModifiedDate."""
    first = versions[0]
    grain = first["Period_Type__c"]
    reference = min(period_end(grain, _date(first["Period_Start__c"])), as_of)
    in_force = None
    for number, version in enumerate(versions):
        if number == 0 or _utc_day(version["LastModifiedDate"]) <= reference:
            in_force = version
    return None if _true(in_force["IsDeleted"]) else in_force


def daily_targets(demo: Demo, as_of: dt.date):
    """(level, member, team, metric, source grain, day) -> the day's share of the target:
    value / working days of the target's period, on the member's working days."""
    shares: dict[tuple, float] = defaultdict(float)
    for versions in demo.targets.values():
        target = target_in_force(versions, as_of)
        if target is None:
            continue
        grain = target["Period_Type__c"]
        start = _date(target["Period_Start__c"])
        days = days_between(start, period_end(grain, start))
        daily = float(Decimal(target["Target_Value__c"])) / sum(map(is_working, days))
        metric = target["Metric__c"]
        for day in filter(is_working, days):
            if target["Target_Level__c"] == "team":
                team = target["Team__c"]
                shares[("team", team, team, metric, grain, day)] += daily
            elif target["OwnerId"] in demo.reps:
                team = team_of(demo, target["OwnerId"], day)
                if team is not None:
                    shares[("rep", target["OwnerId"], team, metric, grain, day)] += daily
    return shares


def member_days(demo: Demo, level: str, member: str, days: list[dt.date]):
    """(team, day) of the member on the given days: a rep's days in a team, a team's every day."""
    if level == "team":
        return [(member, day) for day in days]
    return [(team, day) for day in days if (team := team_of(demo, member, day)) is not None]


def actual_on(demo: Demo, level: str, member: str, team: str, day: dt.date, fact: str):
    if day > AS_OF or day < demo.calendar_start:
        return Decimal(0)
    if level == "rep":
        return demo.facts.get((member, day), {}).get(fact, Decimal(0))
    return sum(
        (
            demo.facts.get((rep_id, day), {}).get(fact, Decimal(0))
            for rep_id in demo.reps
            if team_of(demo, rep_id, day) == member
        ),
        Decimal(0),
    )


def status_of(target, pace) -> str:
    if target is None or target == 0:
        return "no target"
    if pace is None:
        return "not started"
    pace = round(pace, 6)  # the one rounding rule of quotients, before any threshold
    if pace >= 1:
        return "on track"
    return "off track" if pace <= 0.9 else "at risk"


def target_periods(demo: Demo) -> list[tuple[str, dt.date]]:
    """Every month and quarter objectives can concern: from the calendar's first month (the first
    dated record) to the end of the as-of quarter, or of the last target's period if later."""
    last_target = max(
        period_end(v["Period_Type__c"], _date(v["Period_Start__c"]))
        for versions in demo.targets.values()
        for v in versions
    )
    as_of_quarter = period_start("quarter", AS_OF)
    last_day = max(period_end("quarter", as_of_quarter), last_target)
    months = []
    month = demo.calendar_start
    while month <= last_day:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    quarters = sorted({period_start("quarter", m) for m in months})
    return [("month", m) for m in months] + [("quarter", q) for q in quarters]


def expected_objectives(demo: Demo) -> dict[tuple, dict]:
    shares = daily_targets(demo, AS_OF)
    by_member_day = defaultdict(dict)  # (level, member, team, metric, day) -> {grain: share}
    for (level, member, team, metric, grain, day), share in shares.items():
        by_member_day[(level, member, team, metric, day)][grain] = share
    members = [("rep", r) for r in demo.reps] + [("team", t) for t in demo.teams]
    expected = {}
    for grain, start in target_periods(demo):
        # a period that began before the calendar's first month counts its days from there
        days = days_between(max(start, demo.calendar_start), period_end(grain, start))
        for level, member in members:
            by_team = defaultdict(list)
            for team, day in member_days(demo, level, member, days):
                by_team[team].append(day)
            for metric in METRICS:
                # the period's own grain wins when the member has one (in any team)
                grains_present = {
                    g
                    for team, team_days in by_team.items()
                    for day in team_days
                    for g in by_member_day.get((level, member, team, metric, day), {})
                }
                source = grain if grain in grains_present else next(iter(grains_present), None)
                for team, team_days in by_team.items():
                    row = _expected_row(
                        demo, level, member, team, metric, grain, team_days, source, by_member_day
                    )
                    if row["target"] is not None or start <= AS_OF:
                        expected[(level, member, team, metric, grain, start)] = row
    return expected


def _expected_row(demo, level, member, team, metric, grain, team_days, source, by_member_day):
    shares = [
        (day, by_member_day.get((level, member, team, metric, day), {}).get(source))
        for day in team_days
    ]
    has_target = source is not None and any(share is not None for _, share in shares)
    target = sum(share or 0 for _, share in shares) if has_target else None
    prorated = sum(share or 0 for day, share in shares if day <= AS_OF) if has_target else None
    working = [day for day in team_days if is_working(day)]
    elapsed = [day for day in working if day <= AS_OF]
    actual = float(
        sum(actual_on(demo, level, member, team, d, FACT_OF_METRIC[metric]) for d in team_days)
    )
    pace = actual / prorated if target and prorated else None
    remaining = len(working) - len(elapsed)
    return {
        "target": target,
        "actual": actual,
        "attainment": actual / target if target else None,
        "working_days": len(working),
        "elapsed_working_days": len(elapsed),
        "remaining_working_days": remaining,
        "prorated_target_to_date": prorated,
        "pace": pace,
        "status": status_of(target, pace),
        "run_rate_projection": actual / len(elapsed) * len(working) if elapsed else None,
        "required_daily_rate": (
            max(target - actual, 0) / remaining if target is not None and remaining else None
        ),
        "gap": actual - target if target is not None else None,
        "gap_pct": (actual - target) / target if target else None,
        "days": team_days,
    }


def expected_drivers(demo: Demo, objectives: dict[tuple, dict]) -> dict[tuple, dict]:
    """The LMDI split of revenue - target to date (docs/driver_tree.md), on the revenue rows
    with a target due to date."""
    facts = ("meetings_held", "won_opportunities", "won_amount")

    def sums(level, member, team, days):
        return [
            float(sum(actual_on(demo, level, member, team, d, fact) for d in days))
            for fact in facts
        ]

    cache = {}

    def team_month(team, month):
        if (team, month) not in cache:
            days = days_between(month, period_end("month", month))
            cache[(team, month)] = sums("team", team, team, days)
        return cache[(team, month)]

    drivers = {}
    for key, row in objectives.items():
        level, member, team, metric, grain, start = key
        if metric != "revenue" or not row["prorated_target_to_date"]:
            continue
        window = [months_back(start, n) for n in range(1, 7)]
        team_norm = [sum(v) for v in zip(*(team_month(team, m) for m in window), strict=True)]
        company = [
            sum(v)
            for v in zip(*(team_month(t, m) for t in demo.teams for m in window), strict=True)
        ]
        norm = next((n for n in (team_norm, company) if all(v > 0 for v in n)), None)
        meetings, won, bookings = sums(level, member, team, row["days"])
        # the target to date in cents, as the mart rounds it
        target = float(Decimal(row["prorated_target_to_date"]).quantize(CENT, ROUND_HALF_UP))
        revenue = row["actual"]
        parts = None
        if norm is not None:
            conversion_norm, deal_norm = norm[1] / norm[0], norm[2] / norm[1]
            target_meetings = target / (conversion_norm * deal_norm)
            parts = [0.0, 0.0, 0.0]
            if bookings > 0:
                weight = (
                    (bookings - target) / (math.log(bookings) - math.log(target))
                    if bookings != target
                    else bookings
                )
                parts = [
                    weight * math.log(meetings / target_meetings) if meetings else 0.0,
                    weight * math.log(won / (target_meetings * conversion_norm))
                    if not meetings
                    else weight * math.log(won / meetings / conversion_norm),
                    weight * math.log(bookings / won / deal_norm),
                ]
            else:  # the first zero factor takes the whole gap
                first_zero = 0 if not meetings else 1 if not won else 2
                parts[first_zero] = bookings - target
        drivers[(level, member, team, grain, start)] = {
            "gap_to_date": revenue - target,
            "bookings": bookings,
            "meetings_held": meetings,
            "won_opportunities": won,
            "parts": parts,
            "invoicing_timing_effect": revenue - bookings,
        }
    return drivers


def expected_margin_drivers(objectives: dict[tuple, dict]) -> dict[tuple, dict]:
    """margin - margin target = (revenue - revenue target) x target rate + (margin - revenue x
    target rate), on the rows with a revenue and a margin target due to date."""

    def cents(value: float) -> float:
        return float(Decimal(value).quantize(CENT, ROUND_HALF_UP))

    drivers = {}
    for (level, member, team, metric, grain, start), revenue in objectives.items():
        margin = objectives.get((level, member, team, "gross_margin", grain, start))
        if metric != "revenue" or not margin or not revenue["prorated_target_to_date"]:
            continue
        if not margin["prorated_target_to_date"]:
            continue
        revenue_target = cents(revenue["prorated_target_to_date"])
        margin_target = cents(margin["prorated_target_to_date"])
        rate = margin_target / revenue_target
        drivers[(level, member, team, grain, start)] = {
            "gap_to_date": margin["actual"] - margin_target,
            "revenue_effect": (revenue["actual"] - revenue_target) * rate,
            "margin_rate_effect": margin["actual"] - revenue["actual"] * rate,
        }
    return drivers


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_build(demo_pipeline) -> tuple[Demo, Path]:
    settings, _ = demo_pipeline
    return read_demo(settings.landing_dir), settings.warehouse_path


def _rows(warehouse: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo(demo_build) -> Demo:
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
