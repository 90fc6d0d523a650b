"""A deterministic demo of a sales organisation's CRM and ERP extracts.

``generate(landing_dir, seed=42, scale=1.0, as_of=date)`` writes one CSV per object declared in
``ingestion.extracts`` (``<landing>/<system>/<Object>/<Object>_<drop>.csv``) covering the twelve
calendar months that end with the as-of month. Same seed, scale and as-of date give byte-identical
files: every random draw comes from one ``random.Random(seed)`` in a fixed order.

The story it tells: two regions, a few teams, about thirty account executives of uneven skill.
Reps call and email their accounts; some calls turn into meetings, held meetings into
opportunities, which move through the stages (with proposals at "Proposal", quotes at
"Negotiation" and contracts when won) until won or lost. Won deals become ERP sales orders, then
invoices (a few cancelled, a few partly credited). Activity dips in August and over the holidays,
closes bunch up before the end of June and December. Monthly targets per rep are set from the
rep's commit for the month and the team's norm (``_Demo._monthly_target``), so that attainment
spreads like a real sales force's: most rep-months between 60 and 130 %, weak reps far below and
strong ones far above, the company near its target; teams get their own quarterly revenue and
margin targets. A few reps move to another team in the middle of a month and a few targets are
revised mid-month: the files then hold both versions of the record (same Id, a later
LastModifiedDate), as a CRM's history does.
"""

from __future__ import annotations

import calendar
import contextlib
import csv
import datetime as dt
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from ingestion.extracts import ALL_EXTRACTS, TARGET_METRICS, Extract

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
UTC = dt.UTC

# Activity level by calendar month: summer and holiday dips.
ACTIVITY_SEASON = {
    1: 0.95,
    2: 1.0,
    3: 1.05,
    4: 1.0,
    5: 0.95,
    6: 1.1,
    7: 0.85,
    8: 0.55,
    9: 1.05,
    10: 1.05,
    11: 1.05,
    12: 0.8,
}
MEAN_ACTIVITY_SEASON = sum(ACTIVITY_SEASON.values()) / len(ACTIVITY_SEASON)
# Invoiced revenue by calendar month relative to the year's mean, as the demo's deals close
# (measured over seeds and as-of dates): half-year ends are pushed (deals pulled into June and
# December), January and August are light. Money targets follow this curve, as a sales manager
# sets them from last year's.
REVENUE_SEASON = {
    1: 0.75,
    2: 0.85,
    3: 1.0,
    4: 1.1,
    5: 1.05,
    6: 1.3,
    7: 0.9,
    8: 0.5,
    9: 1.2,
    10: 0.9,
    11: 1.05,
    12: 1.35,
}
# How a rep's monthly target is set (``_Demo._monthly_target``): the rep's commit for the month
# (the deals that will close then; the activity the month sees), scaled from the rep's own level
# to a norm that is TEAM_WEIGHT the team's. Deals are lumpy (two or three a rep-month), so a
# target blind to them puts nearly a third of rep-months below 50 % and a tenth above 170 %;
# with the commit, attainment spreads like a real sales force's: median near 95 %, most
# rep-months 60-130 %, weak and strong reps below 50 % and above 150 %, the company within
# 90-110 % of its year-to-date target (tests/unit/test_generator.py measures it).
TEAM_WEIGHT = 0.45
COMMIT_FLOOR = 0.25  # a month with (almost) nothing committed keeps a quarter of the target
TARGET_NOISE = 0.1  # lognormal sigma: targets are negotiated, not computed
# Money targets a little under the commit: credit notes and cancelled invoices come off it.
TARGET_STRETCH = 0.91

STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
STAGE_PROBABILITY = {
    "Prospecting": 10,
    "Qualification": 20,
    "Proposal": 50,
    "Negotiation": 75,
    "Closed Won": 100,
    "Closed Lost": 0,
}
FORECAST_CATEGORY = {
    "Prospecting": "Pipeline",
    "Qualification": "Pipeline",
    "Proposal": "Best Case",
    "Negotiation": "Commit",
    "Closed Won": "Closed",
    "Closed Lost": "Omitted",
}
# Chance to move on from each open stage (the rest is lost there) and mean days spent in it.
STAGE_PASS = (0.72, 0.68, 0.72, 0.78)
STAGE_DAYS = (7, 12, 14, 10)

FIRST_NAMES = (
    "Alice", "Bruno", "Chloe", "David", "Emma", "Farid", "Giulia", "Hugo", "Ines", "Jonas",
    "Karim", "Laura", "Marco", "Nadia", "Olivier", "Paula", "Quentin", "Rosa", "Samuel", "Tara",
    "Ugo", "Vera", "William", "Xenia", "Yann", "Zoe", "Amir", "Beatriz", "Claire", "Diego",
    "Elena", "Felix", "Hanna", "Igor", "Julie", "Lucas", "Mila", "Noah", "Sofia", "Theo",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Rossi", "Schmidt", "Garcia", "Jansen", "Peeters", "Smith",
    "Moreau", "Laurent", "Fischer", "Ferrari", "Lopez", "Visser", "Janssens", "Brown", "Lefebvre",
    "Weber", "Romano", "Martinez", "De Vries", "Maes", "Taylor", "Fontaine", "Wagner", "Costa",
    "Sanchez", "Bakker", "Claes", "Wilson", "Chevalier", "Becker", "Greco", "Perez", "Mertens",
)  # fmt: skip
COMPANY_WORDS = (
    "Alder", "Birch", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Maple", "Nimbus", "Orion", "Pioneer", "Quartz", "Raven", "Summit",
    "Tidal", "Umber", "Vertex", "Willow", "Zenith", "Atlas", "Beacon", "Cobalt", "Dune", "Echo",
    "Falcon", "Golden", "Helix", "Indigo", "Jasper", "Keystone", "Lotus", "Meridian", "Nova",
)  # fmt: skip
COMPANY_KINDS = (
    "Industries", "Logistics", "Systems", "Foods", "Retail", "Pharma", "Energy", "Consulting",
    "Manufacturing", "Telecom", "Finance", "Health",
)  # fmt: skip
INDUSTRIES = (
    "Manufacturing", "Retail", "Healthcare", "Financial Services", "Energy", "Technology",
    "Transportation", "Food & Beverage", "Public Sector", "Telecommunications",
)  # fmt: skip
REGIONS = (
    (
        "North",
        (
            ("United Kingdom", ("London", "Manchester", "Leeds")),
            ("Netherlands", ("Amsterdam", "Rotterdam", "Utrecht")),
            ("Belgium", ("Brussels", "Antwerp", "Ghent")),
            ("Germany", ("Berlin", "Hamburg", "Munich")),
        ),
    ),
    (
        "South",
        (
            ("France", ("Paris", "Lyon", "Marseille", "Toulouse")),
            ("Spain", ("Madrid", "Barcelona", "Valencia")),
            ("Italy", ("Milan", "Rome", "Turin")),
        ),
    ),
)
SEGMENTS = ("Enterprise", "Mid-Market", "SMB", "Public Sector", "Partners", "Key Accounts")
# category, name stems, list price range, margin range (on price), quantity step
PRODUCT_FAMILIES = (
    ("Software", ("Analytics Suite", "CRM Connector", "Planning Cloud", "Data Hub"), (200, 3000),
     (0.75, 0.9), Decimal(1)),
    ("Hardware", ("Edge Server", "Rugged Tablet", "Smart Sensor", "Gateway"), (300, 5000),
     (0.2, 0.35), Decimal(1)),
    ("Services", ("Consulting Day", "Integration Day", "Project Management Day"), (800, 1500),
     (0.3, 0.5), Decimal("0.5")),
    ("Support", ("Support Plan", "Extended Warranty", "Managed Service"), (100, 1000),
     (0.6, 0.8), Decimal(1)),
    ("Training", ("Onsite Training", "Online Academy Seat"), (300, 1500), (0.4, 0.6), Decimal(1)),
)  # fmt: skip
TIERS = ("Basic", "Standard", "Plus", "Pro", "Enterprise")
DEAL_KINDS = ("New licences", "Expansion", "Renewal", "Services", "Hardware refresh", "Pilot")
CALL_SUBJECTS = ("Call", "Discovery call", "Follow-up call", "Cold call")
EMAIL_SUBJECTS = ("Email: follow-up", "Email: introduction", "Email: documentation", "Email")
MEETING_SUBJECTS = ("Discovery meeting", "Product demo", "Business review", "Workshop")
DOMAIN = "pilotage-demo.com"


@dataclass(frozen=True)
class Profile:
    """The volumes of one kind of company: a rep's daily calls and emails (meetings and deals
    follow from them) and the lines of a sales order."""

    calls_per_day: float = 5.5
    emails_per_day: float = 3.0
    order_lines: tuple[int, ...] = (1, 1, 1, 2, 2, 2, 3, 3, 4)


# "demo": the small company of the demo. "large": busier reps (inside sales) and long orders
# (about 14 lines), so that scale 67 gives a company of the size in docs/scale.md.
PROFILES = {
    "demo": Profile(),
    "large": Profile(calls_per_day=13.0, emails_per_day=7.0, order_lines=tuple(range(8, 22))),
}


# ---------------------------------------------------------------------------------------------
# Formatting: how the CRM and ERP export each type.


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _money(value: Decimal | float | int) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def net_amount(quantity: Decimal, unit_price: Decimal, discount_pct: Decimal) -> Decimal:
    """quantity x unit_price x (1 - discount_pct), rounded half-up to cents (exact decimals)."""
    return (quantity * unit_price * (1 - discount_pct)).quantize(CENT, rounding=ROUND_HALF_UP)


class _Writers:
    """One streaming CSV writer per extract, written to a temporary name and renamed at the end
    so that a sensor never sees half a file."""

    def __init__(self, landing_dir: Path, drop: str, stack: contextlib.ExitStack):
        self.counts: dict[str, int] = {}
        self._writers: dict[str, tuple[Extract, csv.writer]] = {}
        self._moves: list[tuple[Path, Path]] = []
        for extract in ALL_EXTRACTS:
            folder = extract.folder(landing_dir)
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{extract.object_name}_{drop}.csv"
            part = folder / f".{final.name}.part"
            handle = stack.enter_context(part.open("w", encoding="utf-8", newline=""))
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(list(extract.columns))
            self._writers[extract.object_name] = (extract, writer)
            self.counts[extract.table] = 0
            self._moves.append((part, final))

    def write(self, object_name: str, row: dict[str, object]) -> None:
        extract, writer = self._writers[object_name]
        if row.keys() != extract.columns.keys():
            missing = sorted(set(extract.columns) - set(row))
            extra = sorted(set(row) - set(extract.columns))
            raise AssertionError(f"{object_name} row: missing {missing}, unexpected {extra}")
        writer.writerow([_fmt(row[name]) for name in extract.columns])
        self.counts[extract.table] += 1

    def publish(self) -> None:
        for part, final in self._moves:
            part.replace(final)


# ---------------------------------------------------------------------------------------------
# The organisation.


@dataclass
class Role:
    id: str
    name: str
    parent_id: str | None
    kind: str  # "Region" or "Team"
    region: int


@dataclass
class User:
    id: str
    first: str
    last: str
    title: str
    role: Role
    manager_id: str | None
    hire_date: dt.date
    # account executives only
    skill: float = 1.0
    activity: float = 1.0
    deal_size: float = 1.0
    accounts: list[Account] = field(default_factory=list)
    # team changes after hiring: (LastModifiedDate of the new version, new team, new manager)
    moves: list[tuple[dt.datetime, Role, str]] = field(default_factory=list)

    @property
    def email(self) -> str:
        local = f"{self.first}.{self.last}".lower().replace(" ", "")
        return f"{local}@{DOMAIN}"


@dataclass
class Account:
    id: str
    number: str
    name: str
    industry: str
    city: str
    country: str
    owner: User
    size: float
    created: dt.datetime


@dataclass
class Opportunity:
    rep: User
    account: Account
    created: dt.datetime
    id: str = ""


@dataclass
class Product:
    id: str
    sku: str
    name: str
    category: str
    unit_cost: Decimal
    list_price: Decimal
    step: Decimal


class _Ids:
    """Salesforce-looking 18-character ids: a key prefix and a zero-padded counter."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        n = self._next.get(prefix, 0) + 1
        self._next[prefix] = n
        return f"{prefix}{n:0{18 - len(prefix)}d}"


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


def _at(day: dt.date, rng: random.Random, start_hour: int = 8, end_hour: int = 18) -> dt.datetime:
    minute = rng.randrange(start_hour * 60, end_hour * 60)
    return dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=UTC)


def _month_start(day: dt.date, months_back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _workdays(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _unique_names(rng: random.Random, n: int, firsts: tuple, lasts: tuple) -> list[tuple]:
    pairs = [(a, b) for a in firsts for b in lasts]
    rng.shuffle(pairs)
    names = []
    for i in range(n):
        first, last = pairs[i % len(pairs)]
        if i >= len(pairs):
            last = f"{last} {i // len(pairs) + 1}"
        names.append((first, last))
    return names


# ---------------------------------------------------------------------------------------------
# The generator.


class _Demo:
    def __init__(self, w: _Writers, seed: int, scale: float, as_of: dt.date, profile: Profile):
        self.w = w
        self.profile = profile
        self.rng = random.Random(seed)
        self.scale = scale
        self.as_of = as_of
        self.start = _month_start(as_of, 11)
        self.months = [_month_start(as_of, 11 - i) for i in range(12)]
        self.ids = _Ids()
        self.n_reps = max(6, round(30 * scale))
        self.n_teams = max(2, round(self.n_reps / 6))
        self.n_accounts = max(3 * self.n_reps, round(300 * scale))

    # -- helpers ------------------------------------------------------------------------------
    def _ts_before_as_of(self, value: dt.datetime) -> dt.datetime:
        limit = dt.datetime(self.as_of.year, self.as_of.month, self.as_of.day, 19, tzinfo=UTC)
        return min(value, limit)

    def _day(self, value: dt.date) -> dt.date:
        return min(value, self.as_of)

    # -- CRM: organisation ----------------------------------------------------------------------
    def organisation(self) -> None:
        rng = self.rng
        self.roles: list[Role] = []
        regions = []
        for r, (region_name, _) in enumerate(REGIONS):
            role = Role(self.ids("00E"), region_name, None, "Region", r)
            regions.append(role)
        teams = []
        per_region = [0, 0]
        for t in range(self.n_teams):
            region = regions[0] if t < math.ceil(self.n_teams / 2) else regions[1]
            segment = SEGMENTS[per_region[region.region] % len(SEGMENTS)]
            per_region[region.region] += 1
            teams.append(
                Role(
                    self.ids("00E"), f"{region.name} - {segment}", region.id, "Team", region.region
                )
            )
        self.roles = regions + teams
        names = _unique_names(rng, len(regions) + len(teams) + self.n_reps, FIRST_NAMES, LAST_NAMES)
        self.users: list[User] = []
        directors = []
        for role in regions:
            first, last = names.pop()
            hired = self.start - dt.timedelta(days=rng.randrange(1500, 4000))
            directors.append(
                User(self.ids("005"), first, last, "Sales Director", role, None, hired)
            )
        managers = []
        for role in teams:
            first, last = names.pop()
            hired = self.start - dt.timedelta(days=rng.randrange(700, 3000))
            managers.append(
                User(
                    self.ids("005"),
                    first,
                    last,
                    "Sales Manager",
                    role,
                    directors[role.region].id,
                    hired,
                )
            )
        self.reps: list[User] = []
        new_hires = {self.n_reps - 1, self.n_reps // 2} if self.n_reps >= 6 else set()
        for i in range(self.n_reps):
            team = teams[i % len(teams)]
            first, last = names.pop()
            if i in new_hires:  # joined during the year (mid-month), still ramping up
                hired = self.start + dt.timedelta(days=rng.randrange(90, 200))
                hired += dt.timedelta(days=int(hired.day == 1))
            else:
                hired = self.start - dt.timedelta(days=rng.randrange(120, 2500))
            rep = User(
                self.ids("005"),
                first,
                last,
                "Account Executive",
                team,
                managers[i % len(teams)].id,
                hired,
            )
            rep.skill = min(2.0, max(0.45, rng.lognormvariate(0, 0.4)))
            rep.activity = min(1.7, max(0.55, rng.lognormvariate(0, 0.25)))
            rep.deal_size = min(1.8, max(0.6, rng.lognormvariate(0, 0.2)))
            self.reps.append(rep)
        self.users = directors + managers + self.reps
        self._team_moves(teams, managers)

        for role in self.roles:
            self.w.write(
                "UserRole",
                {
                    "Id": role.id,
                    "Name": role.name,
                    "ParentRoleId": role.parent_id,
                    "RollupDescription": role.kind,
                    "LastModifiedDate": dt.datetime(2020, 1, 6, 9, 0, tzinfo=UTC),
                },
            )
        for user in self.users:
            created = dt.datetime.combine(user.hire_date, dt.time(9, 0), tzinfo=UTC)
            versions = [(created + dt.timedelta(hours=2), user.role, user.manager_id)]
            versions += user.moves
            # every version of the user, oldest first: the CRM's history of team changes
            for modified, role, manager_id in versions:
                self.w.write(
                    "User",
                    {
                        "Id": user.id,
                        "FirstName": user.first,
                        "LastName": user.last,
                        "Email": user.email,
                        "Title": user.title,
                        "UserRoleId": role.id,
                        "ManagerId": manager_id,
                        "IsActive": True,
                        "HireDate__c": user.hire_date,
                        "CreatedDate": created,
                        "LastModifiedDate": modified,
                    },
                )

    def _team_moves(self, teams: list[Role], managers: list[User]) -> None:
        """Two or three established reps move to the next team in the middle of a month (the
        CRM keeps both versions of the user); ``team_on`` tells a rep's team on a given day."""
        movers = [r for r in self.reps if r.hire_date < self.start][1 : 3 + (self.n_reps >= 12)]
        for n, rep in enumerate(movers):
            month = self.months[-9 + 3 * n]
            when = dt.datetime.combine(month + dt.timedelta(days=14), dt.time(10, 30), tzinfo=UTC)
            index = (teams.index(rep.role) + 1) % len(teams)
            rep.moves.append((when, teams[index], managers[index].id))

    def team_on(self, rep: User, day: dt.date) -> Role:
        """The rep's team on ``day`` (``rep.role`` is the team the rep was hired into)."""
        role = rep.role
        for when, moved_to, _ in rep.moves:
            if when.date() <= day:
                role = moved_to
        return role

    def accounts(self) -> None:
        rng = self.rng
        combos = [(a, b) for a in COMPANY_WORDS for b in COMPANY_KINDS]
        rng.shuffle(combos)
        self.all_accounts: list[Account] = []
        for i in range(self.n_accounts):
            # every rep gets accounts; the strong ones a few more
            rep = self.reps[i] if i < len(self.reps) else self._weighted_rep()
            word, kind = combos[i % len(combos)]
            name = f"{word} {kind}" + (f" {i // len(combos) + 1}" if i >= len(combos) else "")
            country, cities = rng.choice(REGIONS[rep.role.region][1])
            created = _at(self.start - dt.timedelta(days=rng.randrange(30, 2500)), rng)
            account = Account(
                self.ids("001"),
                f"ACC-{i + 1:05d}",
                name,
                rng.choice(INDUSTRIES),
                rng.choice(cities),
                country,
                rep,
                min(3.0, rng.lognormvariate(0, 0.5)),
                created,
            )
            rep.accounts.append(account)
            self.all_accounts.append(account)
            self.w.write(
                "Account",
                {
                    "Id": account.id,
                    "Name": account.name,
                    "AccountNumber": account.number,
                    "Industry": account.industry,
                    "BillingCity": account.city,
                    "BillingCountry": account.country,
                    "OwnerId": rep.id,
                    "IsDeleted": False,
                    "CreatedDate": created,
                    "LastModifiedDate": created + dt.timedelta(days=rng.randrange(0, 20)),
                },
            )

    def _weighted_rep(self) -> User:
        total = sum(r.skill for r in self.reps)
        x = self.rng.random() * total
        for rep in self.reps:
            x -= rep.skill
            if x <= 0:
                return rep
        return self.reps[-1]

    # -- CRM: activities ------------------------------------------------------------------------
    def _ramp(self, rep: User, day: dt.date) -> float:
        months = (day - rep.hire_date).days / 30.4
        return 1.0 if months >= 3 else max(0.3, months / 3)

    def activities(self) -> None:
        rng = self.rng
        self.opps: list[Opportunity] = []
        self.meetings_held: dict[tuple[str, dt.date], int] = {}
        self.calls_made: dict[tuple[str, dt.date], int] = {}
        days = _workdays(self.start, self.as_of)
        for rep in self.reps:
            p_meeting = 0.22 * rep.skill**0.5
            p_opportunity = min(0.75, 0.5 * rep.skill**0.3)
            # pipeline the rep already had going into the year (its activities predate the extract)
            if rep.hire_date < self.start:
                per_day = (
                    self.profile.calls_per_day * rep.activity * p_meeting * 0.86 * p_opportunity
                )
                for day in _workdays(self.start - dt.timedelta(days=100), self.start):
                    if day < self.start:
                        for _ in range(_poisson(rng, per_day * ACTIVITY_SEASON[day.month])):
                            self.opps.append(
                                Opportunity(rep, rng.choice(rep.accounts), _at(day, rng))
                            )
            for day in days:
                if day < rep.hire_date:
                    continue
                level = rep.activity * ACTIVITY_SEASON[day.month] * self._ramp(rep, day)
                month = _month_start(day)
                calls = _poisson(rng, self.profile.calls_per_day * level)
                emails = _poisson(rng, self.profile.emails_per_day * level)
                for _ in range(calls):
                    self._task(rep, day, "Call")
                for _ in range(emails):
                    self._task(rep, day, "Email")
                key = (rep.id, month)
                self.calls_made[key] = self.calls_made.get(key, 0) + calls
                meetings = _binomial(rng, calls, p_meeting) + _binomial(rng, emails, 0.02)
                for _ in range(meetings):
                    account = rng.choice(rep.accounts)
                    status = self._event(rep, day, account)
                    if status == "Held":
                        self.meetings_held[key] = self.meetings_held.get(key, 0) + 1
                        if rng.random() < p_opportunity:
                            created = self._day(day + dt.timedelta(days=rng.randrange(0, 3)))
                            self.opps.append(Opportunity(rep, account, _at(created, rng)))

    def _task(self, rep: User, day: dt.date, subtype: str) -> None:
        rng = self.rng
        created = _at(day, rng)
        is_call = subtype == "Call"
        status = "Open" if day == self.as_of and rng.random() < 0.2 else "Completed"
        modified = (
            created if status == "Open" else created + dt.timedelta(minutes=rng.randrange(1, 30))
        )
        self.w.write(
            "Task",
            {
                "Id": self.ids("00T"),
                "OwnerId": rep.id,
                "WhatId": rng.choice(rep.accounts).id,
                "Subject": rng.choice(CALL_SUBJECTS if is_call else EMAIL_SUBJECTS),
                "TaskSubtype": subtype,
                "Status": status,
                "ActivityDate": day,
                "CallDurationInSeconds": rng.randrange(20, 1500) if is_call else None,
                "IsDeleted": rng.random() < 0.002,
                "CreatedDate": created,
                "LastModifiedDate": self._ts_before_as_of(modified),
            },
        )

    def _event(self, rep: User, day: dt.date, account: Account) -> str:
        rng = self.rng
        start = _at(day, rng, 9, 17).replace(minute=rng.choice((0, 15, 30, 45)))
        minutes = rng.choice((30, 45, 60, 60, 90))
        end = start + dt.timedelta(minutes=minutes)
        booked = _at(day - dt.timedelta(days=rng.randrange(1, 12)), rng)
        recent = (self.as_of - day).days
        if day == self.as_of or (recent <= 5 and rng.random() < 0.1):
            status, modified = "Planned", booked
        else:
            status = "Held" if rng.random() < 0.86 else "No-show"
            modified = self._ts_before_as_of(end + dt.timedelta(minutes=rng.randrange(5, 240)))
        self.w.write(
            "Event",
            {
                "Id": self.ids("00U"),
                "OwnerId": rep.id,
                "WhatId": account.id,
                "Subject": rng.choice(MEETING_SUBJECTS),
                "Type": "Meeting",
                "StartDateTime": start,
                "EndDateTime": end,
                "ActivityDate": day,
                "DurationInMinutes": minutes,
                "Meeting_Status__c": status,
                "IsDeleted": rng.random() < 0.002,
                "CreatedDate": booked,
                "LastModifiedDate": modified,
            },
        )
        return status

    # -- CRM: opportunities and their documents ------------------------------------------------
    def _close_date(self, day: dt.date) -> dt.date:
        """Deals bunch up before the half-year ends and slip out of August."""
        rng = self.rng
        if day.month in (7, 1) and day.day <= 25 and rng.random() < 0.65:
            previous = _month_end(_month_start(day, 1))
            return previous - dt.timedelta(days=rng.randrange(0, 8))
        if day.month == 8 and rng.random() < 0.45:
            return dt.date(day.year, 9, 1) + dt.timedelta(days=rng.randrange(0, 15))
        return day

    def opportunities(self) -> None:
        rng = self.rng
        self.won: list[tuple[Opportunity, dt.date, Decimal]] = []
        # won amount per (rep, close month), closes after the as-of date included
        self.commits: dict[tuple[str, dt.date], Decimal] = {}
        lost = 0
        self.opps.sort(key=lambda o: o.created)  # stable: ties keep generation order
        for opp in self.opps:
            win_factor = opp.rep.skill**0.5
            passes = [min(0.95, p * win_factor**0.25) for p in STAGE_PASS]
            amount = _money(max(1000, round(7000 * opp.rep.deal_size * opp.account.size, -2)))
            path: list[tuple[str, dt.datetime, Decimal]] = [("Prospecting", opp.created, amount)]
            when = opp.created
            for i, stage in enumerate(STAGES):
                when = when + dt.timedelta(
                    days=1 + int(rng.expovariate(1 / STAGE_DAYS[i])),
                    minutes=rng.randrange(-120, 120),
                )
                advance = rng.random() < passes[i]
                if stage == "Proposal" and advance:
                    amount = _money(amount * Decimal(str(rng.choice((1, 1, 0.95, 0.9)))))
                if i == len(STAGES) - 1 or not advance:
                    closed = self._close_date(when.date())
                    closed = max(closed, path[-1][1].date() + dt.timedelta(days=1))
                    when = dt.datetime.combine(closed, when.timetz())
                    path.append(("Closed Won" if advance else "Closed Lost", when, amount))
                    break
                path.append((STAGES[i + 1], when, amount))
            final_day = path[-1][1].date()
            if final_day < self.start:
                continue  # closed before the year covered by the extract
            opp.id = self.ids("006")
            if path[-1][0] == "Closed Won":  # the rep's month as it will turn out
                key = (opp.rep.id, _month_start(final_day))
                self.commits[key] = self.commits.get(key, Decimal(0)) + path[-1][2]
            as_of_end = dt.datetime.combine(self.as_of, dt.time(23, 59), tzinfo=UTC)
            seen = [step for step in path if step[1] <= as_of_end]
            stage, changed, current_amount = seen[-1]
            is_closed = stage.startswith("Closed")
            deleted = False
            if stage == "Closed Lost":  # a few lost deals were deleted in the CRM
                lost += 1
                deleted = lost % 300 == 7
            close_date = final_day
            name = f"{opp.account.name} - {rng.choice(DEAL_KINDS)}"
            for h_stage, h_when, h_amount in seen:
                self.w.write(
                    "OpportunityHistory",
                    {
                        "Id": self.ids("008"),
                        "OpportunityId": opp.id,
                        "StageName": h_stage,
                        "Amount": h_amount,
                        "Probability": STAGE_PROBABILITY[h_stage],
                        "CloseDate": close_date,
                        "CreatedDate": h_when,
                    },
                )
            self.w.write(
                "Opportunity",
                {
                    "Id": opp.id,
                    "Name": name,
                    "AccountId": opp.account.id,
                    "OwnerId": opp.rep.id,
                    "StageName": stage,
                    "Amount": current_amount,
                    "Probability": STAGE_PROBABILITY[stage],
                    "CloseDate": close_date,
                    "IsClosed": is_closed,
                    "IsWon": stage == "Closed Won",
                    "ForecastCategoryName": FORECAST_CATEGORY[stage],
                    "IsDeleted": deleted,
                    "CreatedDate": opp.created,
                    "LastModifiedDate": changed,
                },
            )
            self._documents(opp, seen, stage, changed)
            if stage == "Closed Won":
                self.won.append((opp, close_date, current_amount))

    def _documents(self, opp: Opportunity, seen: list, stage: str, changed: dt.datetime) -> None:
        rng = self.rng
        outcome = {"Closed Won": "won", "Closed Lost": "lost"}.get(stage)
        for h_stage, h_when, h_amount in seen:
            if h_stage == "Proposal":
                status = {"won": "Accepted", "lost": "Rejected"}.get(outcome, "Sent")
                self.w.write(
                    "Proposal__c",
                    {
                        "Id": self.ids("a01"),
                        "Name": f"PROP-{self.w.counts['proposals'] + 1:05d}",
                        "Opportunity__c": opp.id,
                        "OwnerId": opp.rep.id,
                        "Status__c": status,
                        "Sent_Date__c": h_when.date(),
                        "Amount__c": h_amount,
                        "IsDeleted": rng.random() < 0.004,
                        "CreatedDate": h_when,
                        "LastModifiedDate": changed if outcome else h_when,
                    },
                )
            elif h_stage == "Negotiation":
                status = {"won": "Accepted", "lost": "Denied"}.get(outcome, "Presented")
                self.w.write(
                    "Quote",
                    {
                        "Id": self.ids("0Q0"),
                        "Name": f"Q-{self.w.counts['quotes'] + 1:05d}",
                        "OpportunityId": opp.id,
                        "OwnerId": opp.rep.id,
                        "Status": status,
                        "TotalPrice": h_amount,
                        "ExpirationDate": h_when.date() + dt.timedelta(days=30),
                        "IsDeleted": False,
                        "CreatedDate": h_when,
                        "LastModifiedDate": changed if outcome else h_when,
                    },
                )
            elif h_stage == "Closed Won":
                signed = (self.as_of - h_when.date()).days >= 3 or rng.random() < 0.5
                self.w.write(
                    "Contract",
                    {
                        "Id": self.ids("800"),
                        "ContractNumber": f"{self.w.counts['contracts'] + 1:08d}",
                        "AccountId": opp.account.id,
                        "Opportunity__c": opp.id,
                        "OwnerId": opp.rep.id,
                        "Status": "Activated" if signed else "Draft",
                        "StartDate": h_when.date(),
                        "ContractTerm": rng.choice((12, 12, 24, 36)),
                        "CustomerSignedDate": h_when.date() if signed else None,
                        "IsDeleted": False,
                        "CreatedDate": h_when,
                        "LastModifiedDate": h_when + dt.timedelta(hours=1) if signed else h_when,
                    },
                )

    # -- ERP ----------------------------------------------------------------------------------
    def erp(self) -> None:
        rng = self.rng
        self.customers: dict[str, str] = {}
        for i, account in enumerate(self.all_accounts):
            customer_id = f"{10001 + i}"
            self.customers[account.id] = customer_id
            created = account.created + dt.timedelta(days=rng.randrange(0, 30))
            self.w.write(
                "customers",
                {
                    "customer_id": customer_id,
                    "customer_name": account.name,
                    "crm_account_number": account.number,
                    "country": account.country,
                    "city": account.city,
                    "created_at": created,
                    "updated_at": created,
                },
            )
        self.products: list[Product] = []
        catalogue_date = dt.datetime(self.start.year - 1, 12, 1, 8, 0, tzinfo=UTC)
        n = 0
        while len(self.products) < 50:
            family = PRODUCT_FAMILIES[n % len(PRODUCT_FAMILIES)]
            category, stems, (low, high), (m_low, m_high), step = family
            stem = stems[(n // len(PRODUCT_FAMILIES)) % len(stems)]
            tier = TIERS[(n // (len(PRODUCT_FAMILIES) * len(stems))) % len(TIERS)]
            n += 1
            price = _money(round(rng.uniform(low, high), -1)) - CENT * rng.choice((0, 1))
            cost = _money(price * Decimal(str(round(1 - rng.uniform(m_low, m_high), 3))))
            product = Product(
                f"{101 + len(self.products)}",
                f"{category[:3].upper()}-{n:04d}",
                f"{stem} {tier}",
                category,
                cost,
                price,
                step,
            )
            self.products.append(product)
            self.w.write(
                "products",
                {
                    "product_id": product.id,
                    "sku": product.sku,
                    "product_name": product.name,
                    "category": category,
                    "unit_cost": cost,
                    "list_price": price,
                    "currency": "EUR",
                    "updated_at": catalogue_date,
                },
            )
        # posted revenue and margin per (rep, month), credit notes negative: the targets' norm
        self.invoiced: dict[str, dict[tuple[str, dt.date], Decimal]] = {
            "revenue": {},
            "gross_margin": {},
        }
        self.won.sort(key=lambda item: (item[1], item[0].id))
        for opp, close_date, amount in self.won:
            self._order(opp, close_date, amount)

    def _order(self, opp: Opportunity, close_date: dt.date, amount: Decimal) -> None:
        rng = self.rng
        order_id = f"{self.w.counts['sales_orders'] + 1}"
        # booked and invoiced within the month of the close: period ends are pushed
        order_date = min(
            close_date + dt.timedelta(days=rng.randrange(0, 4)), _month_end(close_date)
        )
        order_date = self._day(order_date)
        cancelled = rng.random() < 0.01
        invoice_date = order_date + dt.timedelta(days=rng.randrange(0, 11))
        invoice_date = min(invoice_date, _month_end(order_date))
        invoiced = not cancelled and invoice_date <= self.as_of
        lines = []
        n_lines = rng.choice(self.profile.order_lines)
        products = sorted(rng.sample(self.products, n_lines), key=lambda p: int(p.id))
        weights = [rng.uniform(0.5, 1.5) for _ in products]
        for product, weight in zip(products, weights, strict=True):
            discount = Decimal(rng.choice(("0", "0", "0", "0.05", "0.05", "0.10", "0.15")))
            share = amount * Decimal(str(weight / sum(weights)))
            qty = share / (product.list_price * (1 - discount)) / product.step
            qty = max(Decimal(1), qty.quantize(Decimal(1), rounding=ROUND_HALF_UP)) * product.step
            lines.append((product, qty.quantize(MILLI), product.list_price, discount))
        updated = _at(order_date, rng)
        self.w.write(
            "sales_orders",
            {
                "order_id": order_id,
                "order_number": f"SO{order_date.year}{int(order_id):05d}",
                "customer_id": self.customers[opp.account.id],
                "crm_opportunity_id": opp.id,
                "salesperson_email": opp.rep.email,
                "order_date": order_date,
                "status": "cancel" if cancelled else ("done" if invoiced else "confirmed"),
                "currency": "EUR",
                "updated_at": self._ts_before_as_of(updated),
            },
        )
        for product, qty, price, discount in lines:
            self.w.write(
                "sales_order_lines",
                {
                    "order_line_id": f"{self.w.counts['sales_order_lines'] + 1}",
                    "order_id": order_id,
                    "product_id": product.id,
                    "quantity": qty,
                    "unit_price": price,
                    "discount_pct": discount,
                    "updated_at": self._ts_before_as_of(updated),
                },
            )
        if not invoiced:
            return
        if rng.random() < 0.02:  # issued with a mistake, cancelled, then issued again
            self._invoice(opp, order_id, invoice_date, lines, "out_invoice", None, "cancel")
        invoice_id = self._invoice(
            opp, order_id, invoice_date, lines, "out_invoice", None, "posted"
        )
        refund_date = invoice_date + dt.timedelta(days=rng.randrange(5, 40))
        if rng.random() < 0.05 and refund_date <= self.as_of:
            product, qty, price, discount = rng.choice(lines)
            back = qty if rng.random() < 0.4 else max(product.step, (qty / 2).quantize(Decimal(1)))
            refund = [(product, back.quantize(MILLI), price, discount)]
            self._invoice(opp, order_id, refund_date, refund, "out_refund", invoice_id, "posted")

    def _invoice(self, opp, order_id, day, lines, move_type, reversed_id, state) -> str:
        rng = self.rng
        invoice_id = f"{self.w.counts['invoices'] + 1}"
        prefix = "RINV" if move_type == "out_refund" else "INV"
        updated = self._ts_before_as_of(_at(day, rng, 12, 19))
        self.w.write(
            "invoices",
            {
                "invoice_id": invoice_id,
                "invoice_number": f"{prefix}/{day.year}/{int(invoice_id):05d}",
                "move_type": move_type,
                "customer_id": self.customers[opp.account.id],
                "order_id": order_id,
                "reversed_invoice_id": reversed_id,
                "salesperson_email": opp.rep.email,
                "invoice_date": day,
                "state": state,
                "currency": "EUR",
                "updated_at": updated,
            },
        )
        for product, qty, price, discount in lines:
            amount = net_amount(qty, price, discount)
            if state == "posted":
                sign = -1 if move_type == "out_refund" else 1
                key = (opp.rep.id, _month_start(day))
                for metric, value in (
                    ("revenue", amount),
                    ("gross_margin", amount - qty * product.unit_cost),
                ):
                    sums = self.invoiced[metric]
                    sums[key] = sums.get(key, Decimal(0)) + sign * value
            self.w.write(
                "invoice_lines",
                {
                    "invoice_line_id": f"{self.w.counts['invoice_lines'] + 1}",
                    "invoice_id": invoice_id,
                    "product_id": product.id,
                    "quantity": qty,
                    "unit_price": price,
                    "discount_pct": discount,
                    "net_amount": amount,
                    "unit_cost": product.unit_cost,
                    "updated_at": updated,
                },
            )
        return invoice_id

    # -- Targets --------------------------------------------------------------------------------
    def targets(self) -> None:
        """Monthly targets per rep for every metric (``_monthly_target``); quarterly revenue and
        margin targets per team (the team's own numbers, owned by its manager); a few rep
        targets revised mid-month (a newer version of the same target)."""
        rng = self.rng
        self.target_rows: dict[str, dict[str, object]] = {}  # Id -> row, for the revisions
        full_months = self.months[:-1]
        new_opportunities: dict[tuple[str, dt.date], int] = {}
        for opp in self.opps:
            if opp.id and opp.created.date() >= self.start:
                key = (opp.rep.id, _month_start(opp.created.date()))
                new_opportunities[key] = new_opportunities.get(key, 0) + 1
        counted = {
            "calls": self.calls_made,
            "meetings": self.meetings_held,
            "new_opportunities": new_opportunities,
        }

        team_norms: dict[int, float] = {}  # computed once per metric: linear in the reps

        def norm(values: dict, rep: User) -> tuple[float, float]:
            """(team norm, the rep's own level) per month, over full months after ramp-up."""
            own = [
                float(values.get((rep.id, m), 0)) for m in full_months if self._ramp(rep, m) >= 1
            ]
            if id(values) not in team_norms:
                everyone = [
                    float(values.get((r.id, m), 0))
                    for r in self.reps
                    for m in full_months
                    if self._ramp(r, m) >= 1
                ]
                team_norms[id(values)] = sum(everyone) / max(1, len(everyone))
            team = team_norms[id(values)]
            return team, (sum(own) / len(own) if own else team)

        # the norms hold the season of the months they average: targets put it back per month
        money_season = sum(REVENUE_SEASON[m.month] for m in full_months) / len(full_months)
        # commits are won amounts; revenue is what invoicing made of them
        closed = [k for k in self.commits if _month_end(k[1]) <= self.as_of]
        invoiced = sum(self.invoiced["revenue"].get(k, Decimal(0)) for k in closed)
        committed = sum(self.commits[k] for k in closed)
        to_invoiced = float(invoiced / committed) if committed > 0 else 1.0
        first = True
        team_sums: dict[tuple[str, str, dt.date], Decimal] = {}
        rep_targets: list[tuple[str, str, dt.date]] = []
        for rep in self.reps:
            levels = {
                "revenue": norm(self.invoiced["revenue"], rep),
                "gross_margin": norm(self.invoiced["gross_margin"], rep),
                **{metric: norm(values, rep) for metric, values in counted.items()},
            }
            revenue_level, margin_level = levels["revenue"][1], levels["gross_margin"][1]
            margin_rate = margin_level / revenue_level if revenue_level > 0 else 0.4
            for month in self.months:
                if _month_end(month) < rep.hire_date:
                    continue
                ramp = self._ramp(rep, _month_end(month))
                for metric in TARGET_METRICS:
                    if metric in ("revenue", "gross_margin"):
                        season = REVENUE_SEASON[month.month] / money_season
                        commit = float(self.commits.get((rep.id, month), 0)) * to_invoiced
                        commit *= margin_rate if metric == "gross_margin" else 1.0
                    else:
                        season = ACTIVITY_SEASON[month.month] / MEAN_ACTIVITY_SEASON
                        done = _month_end(month) <= self.as_of
                        commit = float(counted[metric].get((rep.id, month), 0)) if done else None
                    team, own = levels[metric]
                    base = self._monthly_target(team * ramp * season, own * ramp * season, commit)
                    if metric in ("revenue", "gross_margin"):
                        value = _money(max(1000, round(base * TARGET_STRETCH, -3)))
                        key = (self.team_on(rep, month).id, metric, _quarter_start(month))
                        team_sums[key] = team_sums.get(key, Decimal(0)) + value
                    else:
                        value = _money(max(1, round(base)))
                    target_id = self._target(rep.id, None, "month", metric, month, value)
                    rep_targets.append((target_id, metric, month))
                    if first:  # a superseded duplicate, deleted in the CRM: dbt must drop it
                        self._target(rep.id, None, "month", metric, month, value * 2, True)
                        first = False
        self._revisions(rep_targets)
        managers = {u.role.id: u for u in self.users if u.title == "Sales Manager"}
        for (team_id, metric, quarter), total in sorted(team_sums.items()):
            if quarter < self.start:
                continue  # the quarter began before the year covered by the extract
            value = _money(round(float(total) * rng.uniform(0.9, 1.05), -3))
            self._target(managers[team_id].id, team_id, "quarter", metric, quarter, value)

    def _monthly_target(self, team: float, own: float, commit: float | None) -> float:
        """A rep's target for one month and metric: the rep's commit for the month (what the
        rep's deals will bring in, or the activity the month will see) scaled from the rep's
        own level to the norm (TEAM_WEIGHT of the team's, the rest the rep's own), with noise.

        ``team`` and ``own`` are the month's expected levels (seasoned, ramped up); ``commit``
        None (an activity of the month still under way) is the rep's own level. Strong reps thus
        get targets below what they bring in and weak reps above; a month with hardly any deal
        committed keeps COMMIT_FLOOR of the rep's usual target (and reads near 0 %)."""
        expected = TEAM_WEIGHT * team + (1 - TEAM_WEIGHT) * own
        swing = 1.0 if commit is None or own <= 0 else max(commit / own, COMMIT_FLOOR)
        return expected * swing * self.rng.lognormvariate(0, TARGET_NOISE)

    def _revisions(self, rep_targets: list[tuple[str, str, dt.date]]) -> None:
        """A few revenue targets of recent months lowered on the 15th: a newer version of the
        same Id (the first one stays in the CRM's history)."""
        recent = [
            (target_id, month)
            for target_id, metric, month in rep_targets
            if metric == "revenue" and month in self.months[-4:-1]
        ]
        for target_id, month in recent[:: max(1, len(recent) // 3)][:3]:
            row = dict(self.target_rows[target_id])
            row["Target_Value__c"] = _money(row["Target_Value__c"] * Decimal("0.85"))
            row["LastModifiedDate"] = dt.datetime.combine(
                month + dt.timedelta(days=14), dt.time(16, 0), tzinfo=UTC
            )
            self.w.write("Sales_Target__c", row)

    def _target(
        self,
        owner_id: str,
        team_id: str | None,
        period_type: str,
        metric: str,
        period_start: dt.date,
        value: Decimal,
        deleted: bool = False,
    ) -> str:
        created = _at(period_start - dt.timedelta(days=10), self.rng)
        target_id = self.ids("a02")
        row = {
            "Id": target_id,
            "OwnerId": owner_id,
            "Target_Level__c": "team" if team_id else "rep",
            "Team__c": team_id,
            "Period_Type__c": period_type,
            "Metric__c": metric,
            "Period_Start__c": period_start,
            "Target_Value__c": value,
            "IsDeleted": deleted,
            "CreatedDate": created,
            "LastModifiedDate": created + dt.timedelta(hours=1),
        }
        self.target_rows[target_id] = row
        self.w.write("Sales_Target__c", row)
        return target_id


def generate(
    landing_dir: Path,
    *,
    seed: int = 42,
    scale: float = 1.0,
    as_of: dt.date,
    drop: str | None = None,
    clean: bool = False,
    profile: str = "demo",
) -> dict[str, int]:
    """Write one demo extract file per object; return the rows written per table.

    ``scale`` multiplies reps, accounts and activities (0.1 still gives six reps in two teams).
    ``drop`` names the files (``<Object>_<drop>.csv``, default the as-of date as YYYYMMDD).
    ``clean`` first removes the objects' existing extract files (a fresh demo rather than a new
    drop on top of older ones).
    ``profile`` sets the volumes per rep and per order (``PROFILES``): ``"large"`` at scale 67
    is a company of 2,000 reps, 10 million activities and 2 million invoice lines.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    landing_dir = Path(landing_dir)
    drop = drop or as_of.strftime("%Y%m%d")
    if clean:
        for extract in ALL_EXTRACTS:
            for path in extract.files(landing_dir):
                path.unlink()
    with contextlib.ExitStack() as stack:
        writers = _Writers(landing_dir, drop, stack)
        demo = _Demo(writers, seed, scale, as_of, PROFILES[profile])
        demo.organisation()
        demo.accounts()
        demo.activities()
        demo.opportunities()
        demo.erp()
        demo.targets()
    writers.publish()
    return writers.counts
