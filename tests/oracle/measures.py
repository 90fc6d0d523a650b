"""What kpi_performance must show for any company's data, computed from the landing files alone.

Its month and quarter measures, the facts' totals and the data requirements, for the demo and
for other companies' shapes of data. An independent oracle: it reads the canonical extract files
(``ingestion.extracts``: objects, primary keys, cursors) with the csv module and Decimal, never
the warehouse nor the dbt SQL, and applies the business rules below, which are the specification
the marts are checked against.

Current state
    Each record's current state is its latest version: per primary key, the row with the latest
    cursor column (a later drop wins a tie). Rows whose current version is IsDeleted true are
    excluded. Exact duplicate rows (inside a file or across files) are one row.

Activities, by date (all of them feed ``fct_activities``)
    calls = Task with TaskSubtype Call, emails = Task with TaskSubtype Email (date ActivityDate);
    meetings = Event with Type Meeting, whatever its Meeting_Status__c (date ActivityDate), and
    meetings_held those with Meeting_Status__c Held; proposals = Proposal__c with a Sent_Date__c
    (that date); quotes = Quote (the UTC day of CreatedDate); contracts = Contract with a
    CustomerSignedDate (that date). Any other Task or Event (TaskSubtype or Type empty or another
    value) is an unclassified activity: it counts in ``activities`` but in no type.
    activities = calls + emails + meetings + proposals + quotes + contracts + unclassified.
    (A row without its date is a bad row the loader quarantines: it counts nowhere.)

Opportunities (not deleted)
    new_opportunities on the UTC day of CreatedDate; won_opportunities and won_amount (Amount) on
    CloseDate when IsClosed and IsWon; lost_opportunities and lost_amount when IsClosed and not
    IsWon.

Revenue (ERP)
    Lines of invoices whose current state is posted; move_type out_refund (a credit note) counts
    negative. Date = invoice_date; quantity = sign x quantity; revenue = sign x net_amount;
    cost = sign x round_half_away_from_zero(quantity x unit_cost, 2 decimals);
    gross_margin = revenue - cost.

Attribution to a rep (the member at level rep)
    Activities and opportunities go to their OwnerId, whoever that is (any title, even an id no
    User row has). Invoices go to the CRM User whose lower(trim(Email)) equals
    lower(trim(salesperson_email)), else to the member ``erp:`` + lower(trim(salesperson_email)).
    An empty OwnerId or salesperson_email goes to the member ``(unassigned)``.

Team and region on the event date
    Every delivered version of a User is in force from the UTC day of its LastModifiedDate (the
    last version of a day wins). Its team is its UserRoleId when that UserRole's
    RollupDescription is Team, otherwise none. The first version's team starts earlier: at the
    HireDate__c when there is one and it is earlier; without a hire date, at the earliest of the
    user's CreatedDate (UTC day), its first version's day and the date of the earliest fact
    attributed to the user. The region is the team role's ParentRoleId. A fact with no team on
    its date (an ``erp:`` or ``(unassigned)`` member, an owner without User rows, a day before the
    team history starts) goes to team ``(unassigned)`` and region ``(unassigned)``; a team without
    a parent goes to region ``(unassigned)``. The company member is ``company``.

As of
    kpi_performance counts the facts dated on or before the as-of day (later ones are planned,
    not done), however early they are (deals older than every activity included). The facts'
    totals (``fct_*``) hold every date.

Data not delivered
    A measure whose data the company did not deliver at all is NULL on every row, never 0: each
    measure needs data requirements (named as in dbt/kpis.yml ``data_requirements``), e.g. no
    posted invoice line at all makes quantity, revenue, cost and gross_margin null; no
    Task/Event/Proposal__c/Quote/Contract at all makes the activity counts null; no Opportunity
    at all makes the opportunity measures null. A member without calls in a company that has
    calls is 0. A requirement of a source system the company does not have (PILOTAGE_SOURCES) is
    missing whatever the files.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tests.oracle.calendar import period_start
from tests.oracle.files import (
    Row,
    current_rows,
    delivered_rows,
    is_true,
    parse_day,
    parse_instant,
    utc_day,
)

CENT = Decimal("0.01")
UNASSIGNED = "(unassigned)"
COMPANY = "company"
ERP_MEMBER_PREFIX = "erp:"
LEVELS = ("rep", "team", "region", "company")
GRAINS = ("month", "quarter")
ACTIVITY_TYPES = ("call", "email", "meeting", "proposal", "quote", "contract")
UNCLASSIFIED = "unclassified"
ACTIVITY_MEASURES = (
    "calls",
    "emails",
    "meetings",
    "meetings_held",
    "proposals",
    "quotes",
    "contracts",
    "activities",
)
OPPORTUNITY_MEASURES = (
    "new_opportunities",
    "won_opportunities",
    "lost_opportunities",
    "won_amount",
    "lost_amount",
)
REVENUE_MEASURES = ("quantity", "revenue", "cost", "gross_margin")
MEASURES = ACTIVITY_MEASURES + OPPORTUNITY_MEASURES + REVENUE_MEASURES
# The data requirements (dbt/kpis.yml) each measure is computed from.
MEASURE_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "calls": ("calls",),
    "emails": ("emails",),
    "meetings": ("meetings",),
    "meetings_held": ("meeting_outcomes",),
    "proposals": ("proposals",),
    "quotes": ("quotes",),
    "contracts": ("contracts",),
    "activities": ("activities",),
    **{measure: ("opportunities",) for measure in OPPORTUNITY_MEASURES},
    "quantity": ("invoices",),
    "revenue": ("invoices",),
    "cost": ("invoices", "costs"),
    "gross_margin": ("invoices", "costs"),
}
ERP_REQUIREMENTS = ("invoices", "costs")

Value = int | Decimal | None
Key = tuple[str, str, str, dt.date]  # level, member_id, period_grain, period_start


# ------------------------------------------------------------------------------ facts


@dataclass(frozen=True)
class Fact:
    """One dated contribution to the measures, attributed to a rep-level member."""

    day: dt.date
    member: str  # the member at level rep: a user id, ``erp:<email>`` or ``(unassigned)``
    measures: tuple[tuple[str, Value], ...]
    kind: str  # activity type, ``unclassified``, ``opportunity`` or ``revenue``

    @property
    def user_id(self) -> str | None:
        """The CRM user whose team the fact takes (None for erp: and unassigned members)."""
        if self.member == UNASSIGNED or self.member.startswith(ERP_MEMBER_PREFIX):
            return None
        return self.member


def _owner(row: Row) -> str:
    return row.get("OwnerId", "").strip() or UNASSIGNED


def _activity(day: dt.date | None, row: Row, kind: str, held: bool = False) -> list[Fact]:
    if day is None:
        return []
    measures: list[tuple[str, Value]] = [("activities", 1)]
    if kind != UNCLASSIFIED:
        measures.append((f"{kind}s", 1))
    if held:
        measures.append(("meetings_held", 1))
    return [Fact(day, _owner(row), tuple(measures), kind)]


def activity_facts(landing: Path) -> list[Fact]:
    facts: list[Fact] = []
    for task in current_rows(landing, "Task"):
        kind = {"Call": "call", "Email": "email"}.get(task["TaskSubtype"], UNCLASSIFIED)
        facts += _activity(parse_day(task["ActivityDate"]), task, kind)
    for event in current_rows(landing, "Event"):
        kind = "meeting" if event["Type"] == "Meeting" else UNCLASSIFIED
        held = kind == "meeting" and event["Meeting_Status__c"] == "Held"
        facts += _activity(parse_day(event["ActivityDate"]), event, kind, held)
    for proposal in current_rows(landing, "Proposal__c"):
        facts += _activity(parse_day(proposal["Sent_Date__c"]), proposal, "proposal")
    for quote in current_rows(landing, "Quote"):
        facts += _activity(utc_day(quote["CreatedDate"]), quote, "quote")
    for contract in current_rows(landing, "Contract"):
        facts += _activity(parse_day(contract["CustomerSignedDate"]), contract, "contract")
    return facts


def opportunity_facts(landing: Path) -> list[Fact]:
    facts: list[Fact] = []
    for opp in current_rows(landing, "Opportunity"):
        owner = _owner(opp)
        created = utc_day(opp["CreatedDate"])
        if created is not None:
            facts.append(Fact(created, owner, (("new_opportunities", 1),), "opportunity"))
        closed = parse_day(opp["CloseDate"])
        if is_true(opp["IsClosed"]) and closed is not None:
            outcome = "won" if is_true(opp["IsWon"]) else "lost"
            amount = Decimal(opp["Amount"] or 0)
            measures = ((f"{outcome}_opportunities", 1), (f"{outcome}_amount", amount))
            facts.append(Fact(closed, owner, measures, "opportunity"))
    return facts


def users_by_email(landing: Path) -> dict[str, str]:
    """lower(trim(Email)) -> user id, from the users' current versions."""
    return {
        user["Email"].strip().lower(): user["Id"]
        for user in current_rows(landing, "User")
        if user["Email"].strip()
    }


def invoice_member(email: str, by_email: dict[str, str]) -> str:
    normalised = email.strip().lower()
    if not normalised:
        return UNASSIGNED
    return by_email.get(normalised, ERP_MEMBER_PREFIX + normalised)


def revenue_facts(landing: Path) -> list[Fact]:
    by_email = users_by_email(landing)
    posted = {
        invoice["invoice_id"]: invoice
        for invoice in current_rows(landing, "invoices")
        if invoice["state"] == "posted"
    }
    facts = []
    for line in current_rows(landing, "invoice_lines"):
        invoice = posted.get(line["invoice_id"])
        day = parse_day(invoice["invoice_date"]) if invoice else None
        if invoice is None or day is None:
            continue
        sign = -1 if invoice["move_type"] == "out_refund" else 1
        quantity = Decimal(line["quantity"] or 0)
        unit_cost = Decimal(line["unit_cost"] or 0)
        revenue = sign * Decimal(line["net_amount"])
        cost = sign * (quantity * unit_cost).quantize(CENT, rounding=ROUND_HALF_UP)
        measures = (
            ("quantity", sign * quantity),
            ("revenue", revenue),
            ("cost", cost),
            ("gross_margin", revenue - cost),
        )
        facts.append(
            Fact(day, invoice_member(invoice["salesperson_email"], by_email), measures, "revenue")
        )
    return facts


# ------------------------------------------------------------------------------ team history


@dataclass
class TeamHistory:
    """Per user, the team in force from each day on (None: no team)."""

    periods: dict[str, list[tuple[dt.date, str | None]]]
    parents: dict[str, str]  # team role id -> ParentRoleId ('' when none)

    def team_on(self, user_id: str | None, day: dt.date) -> str | None:
        team = None
        for start, team_id in self.periods.get(user_id or "", []):
            if start > day:
                break
            team = team_id
        return team

    def members_on(self, rep_member: str, user_id: str | None, day: dt.date) -> dict[str, str]:
        """The member of every level a fact of ``rep_member`` on ``day`` counts for."""
        team = self.team_on(user_id, day)
        region = self.parents.get(team, "") if team else ""
        return {
            "rep": rep_member,
            "team": team or UNASSIGNED,
            "region": region or UNASSIGNED,
            "company": COMPANY,
        }


def team_history(landing: Path, facts: Iterable[Fact]) -> TeamHistory:
    roles = {role["Id"]: role for role in current_rows(landing, "UserRole")}
    teams = {role_id for role_id, role in roles.items() if role["RollupDescription"] == "Team"}
    current = {user["Id"]: user for user in current_rows(landing, "User", deleted=True)}
    first_fact: dict[str, dt.date] = {}
    for fact in facts:
        if fact.user_id is not None and (
            fact.user_id not in first_fact or fact.day < first_fact[fact.user_id]
        ):
            first_fact[fact.user_id] = fact.day
    by_day: dict[str, dict[dt.date, tuple[dt.datetime, int, Row]]] = defaultdict(dict)
    for order, version in enumerate(delivered_rows(landing, "User")):
        instant = parse_instant(version["LastModifiedDate"])
        if instant is None:
            continue
        day = instant.astimezone(dt.UTC).date()
        days = by_day[version["Id"]]
        if day not in days or (instant, order) >= days[day][:2]:
            days[day] = (instant, order, version)
    periods: dict[str, list[tuple[dt.date, str | None]]] = {}
    for user_id, days in by_day.items():
        history = [
            (day, version["UserRoleId"] if version["UserRoleId"] in teams else None)
            for day, (_, _, version) in sorted(days.items())
        ]
        start = _history_start(current[user_id], history[0][0], first_fact.get(user_id))
        history[0] = (min(start, history[0][0]), history[0][1])
        periods[user_id] = history
    parents = {role_id: roles[role_id]["ParentRoleId"] for role_id in teams}
    return TeamHistory(periods, parents)


def _history_start(user: Row, first_version: dt.date, first_fact: dt.date | None) -> dt.date:
    """When the first version's team starts: the hire date when earlier; without one, the
    earliest of CreatedDate, the first version's day and the user's earliest fact."""
    hired = parse_day(user["HireDate__c"])
    if hired is not None:
        return min(hired, first_version)
    candidates = [first_version, utc_day(user["CreatedDate"]), first_fact]
    return min(day for day in candidates if day is not None)


# ------------------------------------------------------------------------------ availability


def data_presence(landing: Path, sources: Iterable[str] = ("crm", "erp")) -> dict[str, bool]:
    """Per data requirement (dbt/kpis.yml), whether the delivered data holds it. A requirement
    of a system the company does not have is missing."""
    tasks = current_rows(landing, "Task", deleted=True)
    events = current_rows(landing, "Event", deleted=True)
    meetings = [e for e in events if e["Type"] == "Meeting"]
    lines = current_rows(landing, "invoice_lines")
    posted = {i["invoice_id"] for i in current_rows(landing, "invoices") if i["state"] == "posted"}
    posted_lines = [line for line in lines if line["invoice_id"] in posted]
    presence = {
        "calls": any(t["TaskSubtype"] == "Call" for t in tasks),
        "call_outcomes": any(t["TaskSubtype"] == "Call" and t["Status"] for t in tasks),
        "emails": any(t["TaskSubtype"] == "Email" for t in tasks),
        "meetings": bool(meetings),
        "meeting_outcomes": any(e["Meeting_Status__c"] for e in meetings),
        "proposals": any(
            p["Sent_Date__c"] for p in current_rows(landing, "Proposal__c", deleted=True)
        ),
        "quotes": bool(current_rows(landing, "Quote", deleted=True)),
        "contracts": any(
            c["CustomerSignedDate"] for c in current_rows(landing, "Contract", deleted=True)
        ),
        "opportunities": bool(current_rows(landing, "Opportunity", deleted=True)),
        "stage_history": bool(current_rows(landing, "OpportunityHistory", deleted=True)),
        "targets": bool(current_rows(landing, "Sales_Target__c")),
        "teams": any(r["RollupDescription"] == "Team" for r in current_rows(landing, "UserRole")),
        "user_emails": any(u["Email"].strip() for u in current_rows(landing, "User")),
        "invoices": bool(posted_lines),
        "costs": any(line["unit_cost"] for line in posted_lines),
    }
    presence["activities"] = bool(tasks or events) or any(
        presence[name] for name in ("proposals", "quotes", "contracts")
    )
    for name in presence:
        system = "erp" if name in ERP_REQUIREMENTS else "crm"
        presence[name] = presence[name] and system in tuple(sources)
    return presence


def available_measures(presence: dict[str, bool]) -> dict[str, bool]:
    return {
        measure: all(presence[name] for name in names)
        for measure, names in MEASURE_REQUIREMENTS.items()
    }


# ------------------------------------------------------------------------------ expectations


@dataclass
class FactTotals:
    """The facts' rows over every date: fct_activities rows by type (``unclassified`` for the
    other Tasks and Events), fct_revenue's revenue, fct_opportunities rows."""

    activities: dict[str, int]
    revenue: Decimal
    opportunities: int


@dataclass
class Expected:
    as_of: dt.date
    performance: dict[Key, dict[str, Value]]  # kpi_performance, month and quarter grains
    company_total: dict[str, Value]  # the company over every date up to the as-of day
    facts: FactTotals
    presence: dict[str, bool]  # data requirement -> delivered
    available: dict[str, bool]  # measure -> computed (else NULL on every row)


def zero_measures() -> dict[str, Value]:
    """Every measure at zero: an integer count, a Decimal amount."""
    return {
        m: Decimal(0) if m in REVENUE_MEASURES or m.endswith("_amount") else 0 for m in MEASURES
    }


def _empty(available: dict[str, bool]) -> dict[str, Value]:
    return {m: (v if available[m] else None) for m, v in zero_measures().items()}


def _add(bucket: dict[str, Value], measures: Iterable[tuple[str, Value]]) -> None:
    for measure, value in measures:
        if bucket[measure] is not None:
            bucket[measure] += value  # type: ignore[operator]


def expect(landing: Path, as_of: dt.date, sources: Iterable[str] = ("crm", "erp")) -> Expected:
    """Everything the marts must show for the landing folder at ``as_of``."""
    landing = Path(landing)
    activities = activity_facts(landing)
    opportunities = opportunity_facts(landing)
    revenue = revenue_facts(landing)
    facts = activities + opportunities + revenue
    history = team_history(landing, facts)
    presence = data_presence(landing, sources)
    available = available_measures(presence)
    performance: dict[Key, dict[str, Value]] = {}
    company_total = _empty(available)
    for fact in facts:
        if fact.day > as_of:
            continue  # planned, not done
        _add(company_total, fact.measures)
        members = history.members_on(fact.member, fact.user_id, fact.day)
        for level in LEVELS:
            for grain in GRAINS:
                key = (level, members[level], grain, period_start(grain, fact.day))
                _add(performance.setdefault(key, _empty(available)), fact.measures)
    by_type: dict[str, int] = dict.fromkeys((*ACTIVITY_TYPES, UNCLASSIFIED), 0)
    for fact in activities:
        by_type[fact.kind] += 1
    totals = FactTotals(
        by_type,
        sum((dict(f.measures)["revenue"] for f in revenue), Decimal(0)),
        len(current_rows(landing, "Opportunity")),
    )
    return Expected(as_of, performance, company_total, totals, presence, available)


def expected_performance(
    landing: Path, as_of: dt.date, sources: Iterable[str] = ("crm", "erp")
) -> dict[Key, dict[str, Value]]:
    """kpi_performance's month and quarter rows that hold facts, keyed by (level, member_id,
    period_grain, period_start); any other row of the mart must be 0 (NULL when unavailable)."""
    return expect(landing, as_of, sources).performance
