"""kpi_objectives, kpi_revenue_drivers and kpi_margin_drivers, computed from the extract files.

The oracle of tests/warehouse/test_objectives.py (and of the revenue objective of
tests/oracle/rep_month.py): plain Python on the demo's CSV extracts and the holiday seed,
following the rules of docs/driver_tree.md: team history from the User versions, the target
version in force, working days, proration, pacing, and the LMDI driver tree. Nothing here reads
the models' SQL or output.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tests.oracle.calendar import days_between, months_back, period_end, period_start
from tests.oracle.calendar import is_working_day as is_working
from tests.oracle.files import all_versions, demo_tables, team_versions
from tests.oracle.files import is_true as _true
from tests.oracle.files import parse_day as _date
from tests.oracle.files import utc_day as _utc_day
from tests.oracle.measures import CENT

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


@dataclass
class ObjectivesDemo:
    """The demo's extracts, read into what the objectives are computed from: the account
    executives' team periods, their facts per day (the target metrics' facts only), the versions
    of every target."""

    as_of: dt.date
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


def read_demo(landing: Path, as_of: dt.date) -> ObjectivesDemo:
    tables = demo_tables(landing)
    demo = ObjectivesDemo(as_of)
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
    versions = team_versions(landing, roles)
    for rep_id in demo.reps:
        changes = versions.get(rep_id, [])
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
            demo.calendar_start = min(demo.calendar_start, period_start("month", day))

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

    for version in all_versions(landing, "sales_targets"):
        demo.targets[version["Id"]].append(version)
    return demo


# --------------------------------------------------------------------------- expected marts


def team_of(demo: ObjectivesDemo, rep_id: str, day: dt.date) -> str | None:
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


def daily_targets(demo: ObjectivesDemo, as_of: dt.date):
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


def member_days(demo: ObjectivesDemo, level: str, member: str, days: list[dt.date]):
    """(team, day) of the member on the given days: a rep's days in a team, a team's every day."""
    if level == "team":
        return [(member, day) for day in days]
    return [(team, day) for day in days if (team := team_of(demo, member, day)) is not None]


def actual_on(demo: ObjectivesDemo, level: str, member: str, team: str, day: dt.date, fact: str):
    if day > demo.as_of or day < demo.calendar_start:
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


def target_periods(demo: ObjectivesDemo) -> list[tuple[str, dt.date]]:
    """Every month and quarter objectives can concern: from the calendar's first month (the first
    dated record) to the end of the as-of quarter, or of the last target's period if later."""
    last_target = max(
        period_end(v["Period_Type__c"], _date(v["Period_Start__c"]))
        for versions in demo.targets.values()
        for v in versions
    )
    as_of_quarter = period_start("quarter", demo.as_of)
    last_day = max(period_end("quarter", as_of_quarter), last_target)
    months = []
    month = demo.calendar_start
    while month <= last_day:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    quarters = sorted({period_start("quarter", m) for m in months})
    return [("month", m) for m in months] + [("quarter", q) for q in quarters]


def expected_objectives(demo: ObjectivesDemo) -> dict[tuple, dict]:
    shares = daily_targets(demo, demo.as_of)
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
                    if row["target"] is not None or start <= demo.as_of:
                        expected[(level, member, team, metric, grain, start)] = row
    return expected


def _expected_row(demo, level, member, team, metric, grain, team_days, source, by_member_day):
    shares = [
        (day, by_member_day.get((level, member, team, metric, day), {}).get(source))
        for day in team_days
    ]
    has_target = source is not None and any(share is not None for _, share in shares)
    target = sum(share or 0 for _, share in shares) if has_target else None
    prorated = sum(share or 0 for day, share in shares if day <= demo.as_of) if has_target else None
    working = [day for day in team_days if is_working(day)]
    elapsed = [day for day in working if day <= demo.as_of]
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


def expected_drivers(demo: ObjectivesDemo, objectives: dict[tuple, dict]) -> dict[tuple, dict]:
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


def _ratio(value: float) -> Decimal:
    """A quotient as the marts store it: rounded half away from zero to 6 decimals."""
    return Decimal(repr(value)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _competition_ranks(scores: dict) -> dict:
    """1 + how many score strictly better: ties share the better rank, the next is skipped."""
    values = list(scores.values())
    return {key: 1 + sum(other > score for other in values) for key, score in scores.items()}


def expected_ranks(objectives: dict[tuple, dict]) -> dict[tuple, dict]:
    """The rank columns of kpi_objectives for every row of expected_objectives: by attainment,
    best first, among the rows with a non-zero target. In the team: a rep's row among the rep
    rows of the same team, metric and period. In the company: a member's whole period (a
    mover's rows together: sum of actuals / sum of targets) among the members of its level."""
    ranked = {
        key: row
        for key, row in objectives.items()
        if row["target"] and row["attainment"] is not None
    }
    in_team = defaultdict(dict)  # (team, metric, grain, start) -> {key: attainment}
    totals = defaultdict(lambda: [0.0, 0.0])  # (level, member, metric, grain, start) -> sums
    for key, row in ranked.items():
        level, member, team, metric, grain, start = key
        if level == "rep":
            in_team[(team, metric, grain, start)][key] = _ratio(row["attainment"])
        totals[(level, member, metric, grain, start)][0] += row["actual"]
        totals[(level, member, metric, grain, start)][1] += row["target"]
    in_company = defaultdict(dict)  # (level, metric, grain, start) -> {member: attainment}
    for (level, member, metric, grain, start), (actual, target) in totals.items():
        in_company[(level, metric, grain, start)][member] = _ratio(actual / target)
    team_ranks = {}
    for group in in_team.values():
        for key, rank in _competition_ranks(group).items():
            team_ranks[key] = (rank, len(group))
    company_ranks = {}
    for (level, metric, grain, start), group in in_company.items():
        for member, rank in _competition_ranks(group).items():
            company_ranks[(level, member, metric, grain, start)] = (rank, len(group))
    expected = {}
    for key in objectives:
        level, member, _, metric, grain, start = key
        team = team_ranks.get(key, (None, None))
        company = (
            company_ranks[(level, member, metric, grain, start)] if key in ranked else (None, None)
        )
        expected[key] = {
            "rank_in_team": team[0],
            "ranked_in_team": team[1],
            "rank_in_company": company[0],
            "ranked_in_company": company[1],
        }
    return expected
