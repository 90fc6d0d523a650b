"""kpi_performance, kpi_funnel and the demo's facts, computed by hand from the extract files.

The oracle of tests/warehouse/test_kpi_performance.py (and of the day facts under
tests/oracle/rep_month.py): plain Python (csv, Decimal, datetime) on the demo's CSV extracts,
following the KPI definitions of the brief, docs/kpis.md and docs/data_quality.md: the team of a
person on a day from the versions of the User extract, every fact attributed (to its owner or
salesperson, else "(unassigned)"), sums per level (rep, team, region, company) and period (day,
week, month, quarter), ratios of sums, the previous period up to the same elapsed point, the open
pipeline from the stage history, the funnel from the first entry into each stage. Nothing here
reads the models' SQL or output.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tests.oracle.calendar import days_between, is_working_day, period_end, period_start, shift
from tests.oracle.files import demo_tables, team_versions
from tests.oracle.files import is_true as _true
from tests.oracle.files import parse_day as _date
from tests.oracle.files import parse_instant as _timestamp
from tests.oracle.files import utc_day as _utc_day
from tests.oracle.measures import ACTIVITY_MEASURES, CENT, UNASSIGNED

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
# the day counts of kpi_performance: the activities' (tests/oracle/measures.py), completed calls,
# the opportunities' and the won deals' cycle days
COUNTS = (
    *ACTIVITY_MEASURES,
    "calls_completed",
    "new_opportunities",
    "won_opportunities",
    "lost_opportunities",
    "won_cycle_days",
)
MONEY = ("won_amount", "lost_amount", "quantity", "revenue", "cost", "gross_margin")
MEASURES = COUNTS + MONEY
# the same period a year earlier (52 weeks, 364 days back: the same weekday), for these measures
LAST_YEAR = ("activities", "won_opportunities", "won_amount", "revenue", "gross_margin")
PERIODS_PER_YEAR = {"day": 364, "week": 52, "month": 12, "quarter": 4}
PIPELINE = (
    "open_opportunities",
    "open_qualified_opportunities",
    "open_pipeline",
    "weighted_pipeline",
    "open_in_period_pipeline",
)


class PerformanceDemo:
    """The demo's extracts, read into the facts the performance KPIs are defined on: per
    (person, day), every measure of kpi_performance; the team history; the opportunities and
    their stage history."""

    def __init__(self, landing: Path, as_of: dt.date):
        self.as_of = as_of
        tables = demo_tables(landing)
        self.roles = {r["Id"]: r for r in tables["user_roles"]}
        users = {u["Id"]: u for u in tables["users"]}
        self.reps = {uid: u for uid, u in users.items() if u["Title"] == "Account Executive"}
        self.names = {uid: f"{u['FirstName']} {u['LastName']}".strip() for uid, u in users.items()}
        self.names[UNASSIGNED] = "Unassigned"
        self.emails = {uid: u["Email"].strip().lower() for uid, u in users.items()}
        self.managers = {uid: u["ManagerId"] for uid, u in users.items()}
        # team history: the versions of the User extract
        self.versions = team_versions(landing, self.roles)
        self.hired = {uid: _date(u["HireDate__c"]) for uid, u in users.items()}
        self.days: dict[tuple[str, dt.date], dict[str, Decimal | int]] = defaultdict(
            lambda: dict.fromkeys(MEASURES, 0)
        )
        record_dates = self._activities(tables) + self._revenue(tables)
        record_dates += self._opportunities(tables) + self._objective_days(tables)
        # the calendar starts with the first month of any dated record
        self.first_day = min([*record_dates, as_of]).replace(day=1)

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
        return days_between(self.first_day, self.as_of)

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


def row_kpis(row: dict) -> dict:
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
        **{
            f"{m}_growth_last_year": _ratio(
                row[m] - row[f"{m}_last_year_same_point"], row[f"{m}_last_year_same_point"]
            )
            for m in ("revenue", "gross_margin", "activities", "won_amount")
        },
    }


def expected_performance(demo: PerformanceDemo) -> dict[tuple, dict]:
    """kpi_performance from the extracts, keyed by (level, member_id, grain, period_start)."""
    as_of = demo.as_of
    empty = {
        **dict.fromkeys(MEASURES, 0),
        **{f"{m}_prev_same_point": 0 for m in MEASURES},
        **{f"{m}_last_year_same_point": 0 for m in LAST_YEAR},
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
            for steps, suffix, names in (
                (1, "_prev_same_point", MEASURES),
                (PERIODS_PER_YEAR[grain], "_last_year_same_point", LAST_YEAR),
            ):
                later = shift(grain, start, steps)
                if (grain, later) in periods and (day - start).days <= (
                    snapshot[(grain, later)] - later
                ).days:
                    add(members, grain, later, {m: values[m] for m in names}, suffix)
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
            if is_working_day(start + dt.timedelta(days=n))
            and start + dt.timedelta(days=n) >= demo.first_day
        )
        row["elapsed_days"] = (snapshot[(grain, start)] - start).days + 1
        row["is_current_period"] = period_end(grain, start) >= as_of
        row.update(row_kpis(row))
    return dict(rows)


def expected_names(demo: PerformanceDemo) -> dict[tuple[str, str], str]:
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


def expected_funnel(demo: PerformanceDemo) -> dict[tuple, dict]:
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
