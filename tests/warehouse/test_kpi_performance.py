"""kpi_performance and kpi_funnel against KPIs computed by hand from the extract files.

The session's demo (tests/conftest.py: seed 42, scale 0.1, as of 2026-11-15; two reps move
team during the year), taken through the whole pipeline by a Dagster run. The expected rows are
computed independently from the CSV extracts with plain Python (csv, Decimal, datetime),
following the KPI definitions of the brief, docs/kpis.md and docs/data_quality.md: the team of a
person on a day from the versions of the User extract, every fact attributed (to its owner or
salesperson, else "(unassigned)"), sums per level (rep, team, region, company) and period (day,
week, month, quarter), ratios of sums, the previous period up to the same elapsed point, the
open pipeline from the stage history, the funnel from the first entry into each stage. Every row
and every compared column of the marts must match. Nothing here reads the models' SQL or output
to derive an expected value.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.extracts import ALL_EXTRACTS
from pilotage.settings import DBT_PROJECT_DIR
from tests.conftest import AS_OF
from tests.oracle import is_true as _true
from tests.oracle import parse_day as _date
from tests.oracle import parse_instant as _timestamp
from tests.warehouse.test_kpi_mart import _latest_rows

CENT = Decimal("0.01")
UNASSIGNED = "(unassigned)"
GRAINS = ("day", "week", "month", "quarter")
FUNNEL_ORDER = {
    "Prospecting": 1,
    "Qualification": 2,
    "Proposal": 3,
    "Negotiation": 4,
    "Closed Won": 5,
    "Closed Lost": 5,
}
CLOSED = ("Closed Won", "Closed Lost")
COUNTS = (
    "calls",
    "calls_completed",
    "emails",
    "meetings",
    "meetings_held",
    "proposals",
    "quotes",
    "contracts",
    "activities",
    "new_opportunities",
    "won_opportunities",
    "lost_opportunities",
    "won_cycle_days",
)
MONEY = ("won_amount", "lost_amount", "quantity", "revenue", "cost", "gross_margin")
MEASURES = COUNTS + MONEY
PIPELINE = (
    "open_opportunities",
    "open_qualified_opportunities",
    "open_pipeline",
    "weighted_pipeline",
    "open_in_period_pipeline",
)


# ------------------------------------------------------------------------------ calendar


def period_start(grain: str, day: dt.date) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def shift(grain: str, start: dt.date, steps: int) -> dt.date:
    if grain in ("day", "week"):
        return start + dt.timedelta(days=steps * (1 if grain == "day" else 7))
    months = start.year * 12 + start.month - 1 + steps * (1 if grain == "month" else 3)
    return dt.date(months // 12, months % 12 + 1, 1)


def period_end(grain: str, start: dt.date) -> dt.date:
    return shift(grain, start, 1) - dt.timedelta(days=1)


def holidays() -> set[dt.date]:
    """The public holidays of the configured calendar (dbt var holiday_calendar, seed CSV)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    code = project["vars"]["holiday_calendar"]
    with open(DBT_PROJECT_DIR / "seeds" / "holidays.csv", newline="", encoding="utf-8") as fh:
        return {
            dt.date.fromisoformat(row["holiday_date"])
            for row in csv.DictReader(fh)
            if row["calendar_code"] == code
        }


# ------------------------------------------------------------------------------ extracts


def _all_versions(landing: Path, table: str) -> list[dict[str, str]]:
    """Every row of every drop of an extract (the User extract holds one row per version)."""
    extract = next(e for e in ALL_EXTRACTS if e.table == table)
    rows = []
    for path in extract.files(landing):
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def _utc_day(value: str) -> dt.date:
    return _timestamp(value).astimezone(dt.UTC).date()


class Demo:
    """The demo's extracts, read into the facts the KPIs are defined on."""

    def __init__(self, landing: Path, as_of: dt.date):
        self.as_of = as_of
        tables = {e.table: _latest_rows(e, landing) for e in ALL_EXTRACTS}
        self.roles = {r["Id"]: r for r in tables["user_roles"]}
        users = {u["Id"]: u for u in tables["users"]}
        self.reps = {uid: u for uid, u in users.items() if u["Title"] == "Account Executive"}
        self.names = {uid: f"{u['FirstName']} {u['LastName']}".strip() for uid, u in users.items()}
        self.names[UNASSIGNED] = "Unassigned"
        self.emails = {uid: u["Email"].strip().lower() for uid, u in users.items()}
        self.managers = {uid: u["ManagerId"] for uid, u in users.items()}
        self._team_versions(landing, users)
        self.days: dict[tuple[str, dt.date], dict[str, Decimal | int]] = defaultdict(
            lambda: dict.fromkeys(MEASURES, 0)
        )
        record_dates = self._activities(tables) + self._revenue(tables)
        record_dates += self._opportunities(tables) + self._objective_days(tables)
        # the calendar starts with the first month of any dated record
        self.first_day = min([*record_dates, as_of]).replace(day=1)
        self.holidays = holidays()

    # -- team history: the versions of the User extract
    def _team_versions(self, landing: Path, users: dict) -> None:
        by_day: dict[str, dict[dt.date, tuple[dt.datetime, str | None]]] = defaultdict(dict)
        for row in _all_versions(landing, "users"):
            role = self.roles.get(row["UserRoleId"], {})
            team = row["UserRoleId"] if role.get("RollupDescription") == "Team" else None
            changed = _timestamp(row["LastModifiedDate"])
            day = changed.astimezone(dt.UTC).date()
            kept = by_day[row["Id"]].get(day)
            if kept is None or changed >= kept[0]:  # the last version of a day wins
                by_day[row["Id"]][day] = (changed, team)
        self.versions = {
            uid: sorted((day, team) for day, (_, team) in days.items())
            for uid, days in by_day.items()
        }
        self.hired = {uid: _date(u["HireDate__c"]) for uid, u in users.items()}

    def owner(self, rep_id: str) -> str:
        """The person a fact goes to: its owner, "(unassigned)" without one; an owner id no
        User row carries is a person too ("Unknown user <id>")."""
        if not rep_id:
            return UNASSIGNED
        self.names.setdefault(rep_id, f"Unknown user {rep_id}")
        return rep_id

    def team_on(self, rep_id: str, day: dt.date) -> str | None:
        """The rep's team that day: the last version dated on or before it; before the first
        version, the first version's team from the hire date on."""
        versions = self.versions.get(rep_id, [])
        current = [team for start, team in versions if start <= day]
        if current:
            return current[-1]
        hired = self.hired.get(rep_id)
        if versions and hired is not None and hired <= day:
            return versions[0][1]
        return None

    def region_of(self, team_id: str | None) -> str | None:
        return self.roles[team_id]["ParentRoleId"] or None if team_id else None

    @staticmethod
    def _objective_days(tables: dict) -> list[dt.date]:
        """The first and last day of every objective's period (they are dated records too)."""
        days = []
        for target in tables["sales_targets"]:
            start = _date(target["Period_Start__c"])
            months = 3 if target["Period_Type__c"] == "quarter" else 1
            days += [start, shift("month", start, months) - dt.timedelta(days=1)]
        return days

    # -- facts
    def _activities(self, tables: dict) -> list[dt.date]:
        dates = []

        def count(rep_id: str, day: dt.date | None, kinds: Iterable[str], deleted: str) -> None:
            if day is None or _true(deleted):
                return
            dates.append(day)
            for kind in kinds:
                self.days[(self.owner(rep_id), day)][kind] += 1
            self.days[(self.owner(rep_id), day)]["activities"] += 1

        for task in tables["tasks"]:
            # a Task of an empty or unknown subtype is an activity of no type
            kind = {"Call": ["calls"], "Email": ["emails"]}.get(task["TaskSubtype"], [])
            if kind == ["calls"] and task["Status"] == "Completed":
                kind = ["calls", "calls_completed"]
            count(task["OwnerId"], _date(task["ActivityDate"]), kind, task["IsDeleted"])
        for event in tables["events"]:
            kinds = []
            if event["Type"] == "Meeting":
                held = ["meetings_held"] if event["Meeting_Status__c"] == "Held" else []
                kinds = ["meetings", *held]
            count(event["OwnerId"], _date(event["ActivityDate"]), kinds, event["IsDeleted"])
        for proposal in tables["proposals"]:
            day = _date(proposal["Sent_Date__c"])
            count(proposal["OwnerId"], day, ["proposals"], proposal["IsDeleted"])
        for quote in tables["quotes"]:
            day = _utc_day(quote["CreatedDate"]) if quote["CreatedDate"] else None
            count(quote["OwnerId"], day, ["quotes"], quote["IsDeleted"])
        for contract in tables["contracts"]:
            day = _date(contract["CustomerSignedDate"])
            count(contract["OwnerId"], day, ["contracts"], contract["IsDeleted"])
        return dates

    def _revenue(self, tables: dict) -> list[dt.date]:
        invoices = {i["invoice_id"]: i for i in tables["invoices"]}
        by_email = {email: uid for uid, email in self.emails.items()}
        dates = []
        for line in tables["invoice_lines"]:
            invoice = invoices.get(line["invoice_id"])
            if invoice is None or invoice["state"] != "posted":
                continue
            day = _date(invoice["invoice_date"])
            dates.append(day)
            email = invoice["salesperson_email"].strip().lower()
            rep_id = by_email.get(email) or (f"erp:{email}" if email else UNASSIGNED)
            if rep_id.startswith("erp:"):
                self.names[rep_id] = email
            sign = -1 if invoice["move_type"] == "out_refund" else 1
            quantity = Decimal(line["quantity"])
            cost = (quantity * Decimal(line["unit_cost"])).quantize(CENT, ROUND_HALF_UP)
            bucket = self.days[(rep_id, day)]
            bucket["quantity"] += sign * quantity
            bucket["revenue"] += sign * Decimal(line["net_amount"])
            bucket["cost"] += sign * cost
            bucket["gross_margin"] += sign * (Decimal(line["net_amount"]) - cost)
        return dates

    def _opportunities(self, tables: dict) -> list[dt.date]:
        self.opportunities = {
            o["Id"]: o for o in tables["opportunities"] if not _true(o["IsDeleted"])
        }
        dates = []
        for opp in self.opportunities.values():
            created = _utc_day(opp["CreatedDate"])
            dates += [created, _date(opp["CloseDate"])]
            self.days[(self.owner(opp["OwnerId"]), created)]["new_opportunities"] += 1
            if not _true(opp["IsClosed"]):
                continue
            closed = _date(opp["CloseDate"])
            bucket = self.days[(self.owner(opp["OwnerId"]), closed)]
            amount = Decimal(opp["Amount"] or 0)
            if _true(opp["IsWon"]):
                bucket["won_opportunities"] += 1
                bucket["won_amount"] += amount
                bucket["won_cycle_days"] += (closed - created).days
            else:
                bucket["lost_opportunities"] += 1
                bucket["lost_amount"] += amount
        # the stage history of every (not deleted) opportunity, in change order
        self.history: dict[str, list[dict]] = defaultdict(list)
        for row in tables["opportunity_history"]:
            dates.append(_utc_day(row["CreatedDate"]))
            if row["OpportunityId"] not in self.opportunities:
                continue
            self.history[row["OpportunityId"]].append(
                {**row, "at": _timestamp(row["CreatedDate"]), "day": _utc_day(row["CreatedDate"])}
            )
        for rows in self.history.values():
            rows.sort(key=lambda r: (r["at"], r["Id"]))
        return [d for d in dates if d is not None]

    # -- the grid
    def calendar(self) -> list[dt.date]:
        return [
            self.first_day + dt.timedelta(days=n)
            for n in range((self.as_of - self.first_day).days + 1)
        ]

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def rep_days(self) -> Iterable[tuple[str, dt.date]]:
        """(person, day) of every account executive on every day in a team, and of anyone on
        the days of their facts, up to the as-of date."""
        days = set()
        for rep_id in self.reps:
            for day in self.calendar():
                if self.team_on(rep_id, day) is not None:
                    days.add((rep_id, day))
        days |= {(rep_id, day) for rep_id, day in self.days if day <= self.as_of}
        return sorted(days)

    def members(self, rep_id: str, team_id: str | None) -> list[tuple[str, str]]:
        """The members a fact counts for at each level: without a team, or a team without a
        region, the level's "(unassigned)" member."""
        region = self.region_of(team_id) if team_id else None
        return [
            ("rep", rep_id),
            ("team", team_id or UNASSIGNED),
            ("region", region or UNASSIGNED),
            ("company", "company"),
        ]

    def open_at(self, day: dt.date) -> Iterable[tuple[str, dict]]:
        """(owner, history row) of the opportunities open at the end of the day."""
        for opp_id, rows in self.history.items():
            state = [r for r in rows if r["day"] <= day]
            if state and state[-1]["StageName"] not in CLOSED:
                yield self.owner(self.opportunities[opp_id]["OwnerId"]), state[-1]


# ------------------------------------------------------------------------- kpi_performance


def _ratio(numerator, denominator) -> float | None:
    return None if denominator == 0 else float(numerator) / float(denominator)


def _kpis(row: dict) -> dict:
    won, lost = row["won_opportunities"], row["lost_opportunities"]
    cycle = row["won_cycle_days"]
    velocity = None
    if won and cycle:
        velocity = (
            row["open_qualified_opportunities"]
            * (won / (won + lost))
            * float(row["won_amount"] / won)
            / (cycle / won)
        )
    return {
        "activities_per_working_day": _ratio(row["activities"], row["working_days"]),
        "meetings_per_working_day": _ratio(row["meetings"], row["working_days"]),
        "calls_to_meetings": _ratio(row["meetings"], row["calls"]),
        "meetings_to_opportunities": _ratio(row["new_opportunities"], row["meetings"]),
        "proposals_to_won": _ratio(won, row["proposals"]),
        "quotes_to_won": _ratio(won, row["quotes"]),
        "win_rate": _ratio(won, won + lost),
        "win_rate_by_value": _ratio(row["won_amount"], row["won_amount"] + row["lost_amount"]),
        "average_deal_size": _ratio(row["won_amount"], won),
        "sales_cycle_days": _ratio(cycle, won),
        "sales_velocity": velocity,
        "margin_pct": _ratio(row["gross_margin"], row["revenue"]),
        "revenue_growth_same_point": _ratio(
            row["revenue"] - row["revenue_prev_same_point"], row["revenue_prev_same_point"]
        ),
        "activities_growth_same_point": _ratio(
            row["activities"] - row["activities_prev_same_point"],
            row["activities_prev_same_point"],
        ),
        "won_amount_growth_same_point": _ratio(
            row["won_amount"] - row["won_amount_prev_same_point"],
            row["won_amount_prev_same_point"],
        ),
    }


def expected_performance(demo: Demo) -> dict[tuple, dict]:
    """kpi_performance from the extracts, keyed by (level, member_id, grain, period_start)."""
    as_of = demo.as_of
    empty = {
        **dict.fromkeys(MEASURES, 0),
        **{f"{m}_prev_same_point": 0 for m in MEASURES},
        **dict.fromkeys(PIPELINE, 0),
    }
    rows: dict[tuple, dict] = defaultdict(lambda: dict(empty))
    periods = {(grain, period_start(grain, day)) for grain in GRAINS for day in demo.calendar()}
    snapshot = {(grain, start): min(period_end(grain, start), as_of) for grain, start in periods}

    def add(members: list, grain: str, start: dt.date, values: dict, suffix: str = "") -> None:
        for level, member in members:
            row = rows[(level, member, grain, start)]
            for name, value in values.items():
                row[name + suffix] += value

    for rep_id, day in demo.rep_days():
        members = demo.members(rep_id, demo.team_on(rep_id, day))
        values = demo.days.get((rep_id, day), dict.fromkeys(MEASURES, 0))
        for grain in GRAINS:
            start = period_start(grain, day)
            add(members, grain, start, values)
            following = shift(grain, start, 1)
            if (grain, following) in periods and (day - start).days <= (
                snapshot[(grain, following)] - following
            ).days:
                add(members, grain, following, values, "_prev_same_point")
    for grain, start in periods:
        day = snapshot[(grain, start)]
        for owner, state in demo.open_at(day):
            amount = Decimal(state["Amount"] or 0)
            close = _date(state["CloseDate"])
            in_period = close is not None and start <= close <= period_end(grain, start)
            order = FUNNEL_ORDER.get(state["StageName"])
            add(
                demo.members(owner, demo.team_on(owner, day)),
                grain,
                start,
                {
                    "open_opportunities": 1,
                    "open_qualified_opportunities": 1 if order and order >= 2 else 0,
                    "open_pipeline": amount,
                    "weighted_pipeline": amount * Decimal(state["Probability"]) / 100,
                    "open_in_period_pipeline": amount if in_period else 0,
                },
            )
    for (_, _, grain, start), row in rows.items():
        # working days of the calendar (it starts on the first month with data) to date
        row["working_days"] = sum(
            1
            for n in range((snapshot[(grain, start)] - start).days + 1)
            if demo.is_working_day(start + dt.timedelta(days=n))
            and start + dt.timedelta(days=n) >= demo.first_day
        )
        row["elapsed_days"] = (snapshot[(grain, start)] - start).days + 1
        row["is_current_period"] = period_end(grain, start) >= as_of
        row.update(_kpis(row))
    return dict(rows)


def expected_names(demo: Demo) -> dict[tuple[str, str], str]:
    names = {("company", "company"): "Company"}
    for rep_id, name in demo.names.items():
        names[("rep", rep_id)] = name
    for level in ("team", "region"):
        names[(level, UNASSIGNED)] = "Unassigned"
    for role_id, role in demo.roles.items():
        if role["RollupDescription"] == "Team":
            names[("team", role_id)] = role["Name"]
            parent = demo.roles.get(role["ParentRoleId"])
            if parent:
                names[("region", parent["Id"])] = parent["Name"]
    return names


# ------------------------------------------------------------------------------ kpi_funnel


def expected_funnel(demo: Demo) -> dict[tuple, dict]:
    """kpi_funnel from the extracts, keyed by (level, member, grain, period_start, stage)."""
    fields = (
        "entered",
        "advanced",
        "exited",
        "days_in_stage",
        "cohort_opportunities",
        "reached_from_cohort",
    )
    rows: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(fields, 0))
    stays_of: dict[tuple, list[int]] = defaultdict(list)
    visits, cohorts = [], []
    for opp_id, history in demo.history.items():
        owner = demo.owner(demo.opportunities[opp_id]["OwnerId"])
        history = [h for h in history if h["day"] <= demo.as_of]
        if not history:
            continue
        first = {}
        for number, change in enumerate(history):
            stage = change["StageName"]
            if stage in FUNNEL_ORDER and stage != "Closed Lost" and stage not in first:
                first[stage] = number
        furthest = max(FUNNEL_ORDER[stage] for stage in first) if first else None
        for stage, number in first.items():
            day = history[number]["day"]
            left = history[number + 1]["day"] if number + 1 < len(history) else None
            stays = None if stage in CLOSED or left is None else (left - day).days
            visits.append((owner, day, stage, furthest > FUNNEL_ORDER[stage], stays))
        cohorts.append((owner, history[0]["day"], list(first)))
    stages = {stage for _, _, stage, _, _ in visits}
    for grain in GRAINS:
        for owner, day, stage, advanced, stays in visits:
            for level, member in demo.members(owner, demo.team_on(owner, day)):
                row = rows[(level, member, grain, period_start(grain, day), stage)]
                row["entered"] += 1
                row["advanced"] += int(advanced)
                row["exited"] += int(stays is not None)
                row["days_in_stage"] += stays or 0
                if stays is not None:
                    stays_of[(level, member, grain, period_start(grain, day), stage)].append(stays)
        for owner, day, reached in cohorts:
            for level, member in demo.members(owner, demo.team_on(owner, day)):
                for stage in stages:
                    row = rows[(level, member, grain, period_start(grain, day), stage)]
                    row["cohort_opportunities"] += 1
                    row["reached_from_cohort"] += int(stage in reached)
    for key, row in rows.items():
        stays = stays_of.get(key)
        row["median_days_in_stage"] = float(statistics.median(stays)) if stays else None
        row["next_step_conversion"] = _ratio(row["advanced"], row["entered"])
        row["cumulative_conversion"] = _ratio(
            row["reached_from_cohort"], row["cohort_opportunities"]
        )
        row["avg_days_in_stage"] = _ratio(row["days_in_stage"], row["exited"])
    return dict(rows)


# --------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def built(demo_pipeline) -> tuple[Path, Path]:
    """(landing folder, warehouse) of the session's demo, built by the Dagster refresh."""
    settings, _ = demo_pipeline
    return settings.landing_dir, settings.warehouse_path


@pytest.fixture(scope="module")
def demo(built) -> Demo:
    return Demo(built[0], AS_OF)


def _mart(warehouse: Path, table: str, key: Callable[[dict], tuple]) -> dict[tuple, dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute(f"select * from marts.{table}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()
    return {key(row): row for row in rows}


@pytest.fixture(scope="module")
def performance(built) -> dict[tuple, dict]:
    return _mart(
        built[1],
        "kpi_performance",
        lambda r: (r["level"], r["member_id"], r["period_grain"], r["period_start"]),
    )


@pytest.fixture(scope="module")
def funnel(built) -> dict[tuple, dict]:
    return _mart(
        built[1],
        "kpi_funnel",
        lambda r: (
            r["level"],
            r["member_id"],
            r["period_grain"],
            r["period_start"],
            r["stage_name"],
        ),
    )


# ------------------------------------------------------------------------------------ tests


def _same(actual, wanted) -> bool:
    if wanted is None or actual is None:
        return actual is None and wanted is None
    if isinstance(wanted, float):  # quotients are rounded to 6 decimals (macro round_ratio)
        return math.isclose(float(actual), wanted, rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(wanted, Decimal) and wanted != wanted.quantize(CENT):
        return abs(Decimal(actual) - wanted) <= CENT / 2  # weighted pipeline: cents
    return actual == wanted


def _mismatches(marts: dict, expected: dict, columns: Iterable[str]) -> list:
    return [
        (key, column, marts[key][column], want[column])
        for key, want in expected.items()
        for column in columns
        if key in marts and not _same(marts[key][column], want[column])
    ]


def test_demo_exercises_the_performance_kpis(demo, performance):
    """Guard against a vacuous comparison: reps moved team, deals were won and lost, the
    pipeline is not empty, the previous period has data at every grain."""
    moved = [rep for rep in demo.reps if len({t for _, t in demo.versions.get(rep, [])}) > 1]
    assert moved, "no rep changed team in the demo"
    rows = expected_performance(demo).values()
    assert any(row["won_opportunities"] and row["lost_opportunities"] for row in rows)
    assert any(row["open_in_period_pipeline"] for row in rows)
    for grain in GRAINS:
        assert {
            "rep",
            "team",
            "region",
            "company",
        } == {level for (level, _, g, _) in performance if g == grain}
    assert any(row["revenue_prev_same_point"] for row in rows)


def test_every_level_member_and_period_is_there(demo, performance):
    expected = expected_performance(demo)
    missing = sorted(set(expected) - set(performance))
    extra = sorted(set(performance) - set(expected))
    assert not missing, f"rows missing from kpi_performance: {missing[:10]}"
    assert not extra, f"unexpected rows in kpi_performance: {extra[:10]}"


def test_member_names_and_period_attributes(demo, performance):
    names = expected_names(demo)
    wrong = [
        (key, row["member_name"])
        for key, row in performance.items()
        if row["member_name"] != names.get(key[:2])
    ]
    assert not wrong, wrong[:5]
    expected = expected_performance(demo)
    columns = ("working_days", "elapsed_days", "is_current_period")
    assert not _mismatches(performance, expected, columns)[:5]
    for (_, _, grain, start), row in performance.items():
        assert row["period_end"] == period_end(grain, start)


@pytest.mark.parametrize("group", ["counts", "money", "previous", "pipeline"])
def test_sums(demo, performance, group):
    columns = {
        "counts": COUNTS,
        "money": MONEY,
        "previous": [f"{m}_prev_same_point" for m in MEASURES],
        "pipeline": PIPELINE,
    }[group]
    wrong = _mismatches(performance, expected_performance(demo), columns)
    assert not wrong, f"(key, column, mart, expected) {wrong[:5]}"


def test_ratios_are_ratios_of_the_levels_sums(demo, performance):
    expected = expected_performance(demo)
    columns = list(_kpis(next(iter(expected.values()))))
    wrong = _mismatches(performance, expected, columns)
    assert not wrong, f"(key, column, mart, expected) {wrong[:5]}"


def test_month_to_date_is_compared_with_the_same_days_of_the_previous_month(demo, performance):
    """The current month to the as-of day against the same days of the previous month, for the
    company: by hand."""
    month = AS_OF.replace(day=1)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    previous_days = {previous.replace(day=day) for day in range(1, AS_OF.day + 1)}
    revenue = sum(
        demo.days.get((rep_id, day), {}).get("revenue", 0)
        for rep_id, day in demo.rep_days()
        if day in previous_days
    )
    row = performance[("company", "company", "month", month)]
    assert row["revenue_prev_same_point"] == revenue
    assert row["elapsed_days"] == AS_OF.day and row["is_current_period"]


def test_funnel(demo, funnel):
    expected = expected_funnel(demo)
    assert any(row["advanced"] for row in expected.values())
    missing = sorted(set(expected) - set(funnel))
    extra = sorted(set(funnel) - set(expected))
    assert not missing, f"rows missing from kpi_funnel: {missing[:10]}"
    assert not extra, f"unexpected rows in kpi_funnel: {extra[:10]}"
    columns = next(iter(expected.values())).keys()
    wrong = _mismatches(funnel, expected, columns)
    assert not wrong, f"(key, column, mart, expected) {wrong[:5]}"
