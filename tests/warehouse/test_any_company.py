"""Right numbers on any company's data, on any day: the marts against an independent oracle.

``tests/oracle/measures.py`` computes, from the landing files alone, what
``marts.kpi_performance`` must show (its module docstring states the rules) and the totals of the
facts; ``tests/companies.py`` builds the companies and compares their marts with it. Three groups
of tests:

- the oracle itself, on a tiny landing folder written here with values computed by hand, so that
  it is trustworthy independently of the generator;
- an as-of sweep: the demo at tiny scale for dates that trip calendars (holidays, quarter, year
  and month ends, a weekend, a leap day, today), each loaded and built with ``dbt build`` (its
  data tests are blocking gates) and compared with the oracle at every level (rep, team, region,
  company), month and quarter, and measure;
- other companies' shapes (``ingestion.demo.shapes``) as properties, with hypothesis: a seed, an
  as-of date and a combination of shapes; the same comparison, plus ``marts.kpi_availability``
  saying unavailable exactly for the KPIs whose data the shape removed.

Every failure message names the shapes (or the sweep date), the level and member, the period and
the measure. The builds run in the background, ``PILOTAGE_TEST_BUILD_WORKERS`` (default 2) at a
time: each build's dbt runs in its own process, the in-process steps (generation, shapes, dlt
load) one at a time.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, example, given, note, settings
from hypothesis import strategies as st

from ingestion.demo.generator import generate
from ingestion.demo.shapes import SHAPE_ORDER, apply_shapes, sources_for
from ingestion.extracts import ALL_EXTRACTS
from tests.companies import SCALE, Builds, Case, assert_no_problems, company_problems
from tests.conftest import AS_OF
from tests.oracle.measures import (
    COMPANY,
    LEVELS,
    MEASURE_REQUIREMENTS,
    UNASSIGNED,
    UNCLASSIFIED,
    expect,
    zero_measures,
)

TODAY = dt.date.today()

# The as-of dates of the sweep, and why each is there.
SWEEP = {
    # a public holiday, the first day of a quarter and of a year: periods one day old, nothing
    # of the year yet
    dt.date(2026, 1, 1): 100,
    # the last day of a quarter: the quarter is complete, the next one not started
    dt.date(2026, 3, 31): 101,
    # a public holiday (Labour Day) on a Friday, first day of a month
    dt.date(2026, 5, 1): 102,
    # a Saturday: no activity that day, the week still open
    dt.date(2026, 10, 10): 104,
    # the last day of a year
    dt.date(2026, 12, 31): 106,
    # a leap day, beyond the years of the holiday calendar
    dt.date(2028, 2, 29): 107,
    # the real today: whatever day the suite runs
    TODAY: 108,
}
OTHER_SHAPES = [name for name in SHAPE_ORDER if name not in ("crm_only", "erp_only")]
# Every shape runs at least once, in three builds: the explicit examples of test_other_companies
# (a system removed alone, on a half-year's last day; every other shape together, on a month's
# last day that is a Sunday, so the month ends on a non-working day).
SHAPE_EXAMPLES = [
    (11, dt.date(2026, 3, 31), ("crm_only",)),
    (12, dt.date(2026, 6, 30), ("erp_only",)),
    (13, dt.date(2027, 1, 31), tuple(OTHER_SHAPES)),
]


@pytest.fixture(scope="module")
def builds(request, tmp_path_factory) -> Iterator[Builds]:
    """Starts the builds of the selected sweep dates and shape examples at once."""
    pool = Builds(tmp_path_factory.mktemp("companies"))
    for item in request.session.items:
        if item.module is not request.module:
            continue
        if item.originalname == "test_as_of_sweep":
            as_of = item.callspec.params["as_of"]
            pool.submit(Case(SWEEP[as_of], as_of))
        elif item.originalname == "test_other_companies":
            for seed, as_of, shapes in SHAPE_EXAMPLES:
                pool.submit(Case(seed, as_of, shapes))
    yield pool
    pool.pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- the sweep


@pytest.mark.parametrize("as_of", list(SWEEP), ids=lambda d: d.isoformat())
def test_as_of_sweep(builds, as_of):
    if as_of == TODAY:
        print(f"the real today: {TODAY}")
    company = builds.get(Case(SWEEP[as_of], as_of))
    assert_no_problems(company_problems(company), company)


# --------------------------------------------------------------------------- other companies

# Combinations first: hypothesis's first draw is the simplest of the first strategy.
shape_sets = st.one_of(
    st.lists(st.sampled_from(OTHER_SHAPES), min_size=1, max_size=4, unique=True).map(tuple),
    st.lists(st.sampled_from(OTHER_SHAPES), min_size=1, max_size=3, unique=True).map(
        lambda shapes: (*shapes, "crm_only")
    ),
    st.just(("crm_only",)),
    st.just(("erp_only",)),
)


def _with_examples(test):
    for seed, as_of, shapes in reversed(SHAPE_EXAMPLES):
        test = example(seed=seed, as_of=as_of, shapes=shapes)(test)
    return test


@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
    report_multiple_bugs=True,
    print_blob=False,
    verbosity=Verbosity.verbose,  # every failing explicit example in full, not only the first
)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    as_of=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2028, 12, 31)),
    shapes=shape_sets,
)
@_with_examples
def test_other_companies(builds, seed, as_of, shapes):
    case = Case(seed, as_of, tuple(shapes))
    print(f"building {case.label}")
    company = builds.get(case)
    for record in company.records:
        note(str(record))
    assert_no_problems(company_problems(company), company)


# --------------------------------------------------------------------------- the oracle itself

# The tiny company's day: its expected values below are computed by hand for this date.
TINY_AS_OF = dt.date(2026, 3, 15)


def _write(landing: Path, object_name: str, rows: list[dict[str, str]], drop="20260315"):
    """An extract file of hand-written rows (columns not given are empty)."""
    extract = next(e for e in ALL_EXTRACTS if e.object_name == object_name)
    folder = extract.folder(landing)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{object_name}_{drop}.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, list(extract.columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows({name: row.get(name, "") for name in extract.columns} for row in rows)


def _task(task_id, owner, subtype, day, modified=None, deleted="false"):
    return {
        "Id": task_id,
        "OwnerId": owner,
        "TaskSubtype": subtype,
        "ActivityDate": day,
        "IsDeleted": deleted,
        "LastModifiedDate": modified or f"{day}T12:00:00.000Z",
    }


def _invoice(invoice_id, move_type, state, day, email, modified=None):
    return {
        "invoice_id": invoice_id,
        "move_type": move_type,
        "state": state,
        "invoice_date": day,
        "salesperson_email": email,
        "updated_at": modified or f"{day}T18:00:00.000Z",
    }


def _line(line_id, invoice_id, quantity, net, unit_cost, modified="2026-01-01T00:00:00.000Z"):
    return {
        "invoice_line_id": line_id,
        "invoice_id": invoice_id,
        "quantity": quantity,
        "net_amount": net,
        "unit_cost": unit_cost,
        "updated_at": modified,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A company of two users, three roles and a handful of records (see the expectations in
    the tests below for what each one is there for)."""
    landing = tmp_path_factory.mktemp("tiny")
    _write(
        landing,
        "UserRole",
        [
            {"Id": "R1", "Name": "North", "RollupDescription": "Region"},
            {"Id": "T1", "Name": "North - SMB", "ParentRoleId": "R1", "RollupDescription": "Team"},
            {"Id": "T2", "Name": "Orphans", "RollupDescription": "Team"},
        ],
    )
    u1 = {"Id": "U1", "Email": " Alice@X.com", "Title": "Account Executive"}
    _write(
        landing,
        "User",
        [
            # hired before its first version: T1 from the hire date
            {**u1, "UserRoleId": "T1", "HireDate__c": "2025-06-01",
             "LastModifiedDate": "2026-01-10T09:00:00.000Z"},
            # two versions on 15 February: the last of the day (T1) wins
            {**u1, "UserRoleId": "T2", "HireDate__c": "2025-06-01",
             "LastModifiedDate": "2026-02-15T10:00:00.000Z"},
            {**u1, "UserRoleId": "T1", "HireDate__c": "2025-06-01",
             "LastModifiedDate": "2026-02-15T18:00:00.000Z"},
            # moved to a region role: no team from 1 March
            {**u1, "UserRoleId": "R1", "HireDate__c": "2025-06-01",
             "LastModifiedDate": "2026-03-01T08:00:00.000Z"},
            # no hire date: its team starts at its earliest fact (5 January)
            {"Id": "U2", "Email": "bob@x.com", "Title": "Sales Manager", "UserRoleId": "T2",
             "CreatedDate": "2026-02-01T00:30:00+01:00",
             "LastModifiedDate": "2026-03-10T09:00:00.000Z"},
        ],
    )  # fmt: skip
    k1 = _task("K1", "U1", "Call", "2026-01-20")
    _write(
        landing,
        "Task",
        [
            k1,
            dict(k1),  # an exact duplicate: one row
            _task("K2", "U1", "Email", "2026-02-15"),
            _task("K3", "U1", "Call", "2026-03-05"),
            _task("K4", "U2", "", "2026-01-05"),  # unclassified
            _task("K5", "", "Call", "2026-02-01"),  # no owner
            _task("K6", "U1", "Call", "2026-03-20"),  # after the as-of day
            _task("K7", "U1", "Call", "2026-01-21"),
            _task("K7", "U1", "Call", "2026-01-21", "2026-01-22T08:00:00.000Z", "true"),
        ],
    )
    _write(
        landing,
        "Event",
        [
            {"Id": "E1", "OwnerId": "U1", "Type": "Meeting", "Meeting_Status__c": "Held",
             "ActivityDate": "2026-01-20", "IsDeleted": "false",
             "LastModifiedDate": "2026-01-20T15:00:00.000Z"},
            {"Id": "E2", "OwnerId": "U1", "Type": "Meeting", "Meeting_Status__c": "Planned",
             "ActivityDate": "2026-03-14", "IsDeleted": "false",
             "LastModifiedDate": "2026-03-01T15:00:00.000Z"},
            {"Id": "E3", "OwnerId": "U2", "Type": "Webinar", "ActivityDate": "2026-02-10",
             "IsDeleted": "false", "LastModifiedDate": "2026-02-10T15:00:00.000Z"},
        ],
    )  # fmt: skip
    _write(
        landing,
        "Proposal__c",
        [
            {"Id": "P1", "OwnerId": "U1", "Sent_Date__c": "2026-02-03", "IsDeleted": "false",
             "LastModifiedDate": "2026-02-03T10:00:00.000Z"},
            {"Id": "P2", "OwnerId": "U1", "IsDeleted": "false",
             "LastModifiedDate": "2026-02-04T10:00:00.000Z"},  # not sent: no activity
        ],
    )  # fmt: skip
    _write(
        landing,
        "Quote",
        [  # 31 January at 23:30 in UTC-2 is 1 February in UTC
            {"Id": "Q1", "OwnerId": "U2", "IsDeleted": "false",
             "CreatedDate": "2026-01-31T23:30:00-02:00",
             "LastModifiedDate": "2026-02-01T10:00:00.000Z"},
        ],
    )  # fmt: skip
    _write(
        landing,
        "Contract",
        [
            {"Id": "C1", "OwnerId": "U1", "CustomerSignedDate": "2026-02-20",
             "IsDeleted": "false", "LastModifiedDate": "2026-02-20T10:00:00.000Z"},
            {"Id": "C2", "OwnerId": "U1", "IsDeleted": "false",
             "LastModifiedDate": "2026-02-21T10:00:00.000Z"},  # unsigned: no activity
        ],
    )  # fmt: skip
    _write(
        landing,
        "Opportunity",
        [
            {"Id": "O1", "OwnerId": "U1", "StageName": "Closed Won", "Amount": "1000.00",
             "CloseDate": "2026-01-10", "IsClosed": "true", "IsWon": "true",
             "IsDeleted": "false", "CreatedDate": "2025-11-30T23:30:00.000Z",
             "LastModifiedDate": "2026-01-10T10:00:00.000Z"},
            {"Id": "O2", "OwnerId": "U2", "StageName": "Closed Lost", "Amount": "500.00",
             "CloseDate": "2026-02-28", "IsClosed": "true", "IsWon": "false",
             "IsDeleted": "false", "CreatedDate": "2026-02-02T10:00:00.000Z",
             "LastModifiedDate": "2026-02-28T10:00:00.000Z"},
            {"Id": "O3", "OwnerId": "U1", "StageName": "Prospecting", "Amount": "700.00",
             "CloseDate": "2026-04-30", "IsClosed": "false", "IsWon": "false",
             "IsDeleted": "true", "CreatedDate": "2026-01-03T10:00:00.000Z",
             "LastModifiedDate": "2026-01-04T10:00:00.000Z"},
            {"Id": "O4", "OwnerId": "X9", "StageName": "Prospecting", "Amount": "900.00",
             "CloseDate": "2026-05-31", "IsClosed": "false", "IsWon": "false",
             "IsDeleted": "false", "CreatedDate": "2026-01-15T10:00:00.000Z",
             "LastModifiedDate": "2026-01-15T10:00:00.000Z"},
        ],
    )  # fmt: skip
    _write(
        landing,
        "invoices",
        [
            _invoice("I1", "out_invoice", "posted", "2026-01-25", "alice@x.com "),
            _invoice("I2", "out_refund", "posted", "2026-02-10", "ALICE@x.com"),
            _invoice("I3", "out_invoice", "posted", "2026-01-26", "alice@x.com"),
            _invoice("I3", "out_invoice", "cancel", "2026-01-26", "alice@x.com",
                     "2026-02-01T09:00:00.000Z"),
            _invoice("I4", "out_invoice", "posted", "2026-02-11", "Bob@Partner.example"),
            _invoice("I5", "out_invoice", "posted", "2026-03-02", ""),
            _invoice("I6", "out_invoice", "posted", "2026-04-01", "alice@x.com"),
        ],
    )  # fmt: skip
    _write(
        landing,
        "invoice_lines",
        [
            _line("L1", "I1", "1.500", "100.00", "10.01"),  # cost 15.015 -> 15.02
            _line("L2", "I2", "1.000", "40.00", "12.00"),
            _line("L3", "I3", "1.000", "999.00", "1.00"),
            _line("L4", "I4", "3.000", "300.00", "50.00"),
            _line("L5", "I5", "1.000", "10.00", "1.00"),
            _line("L6", "I6", "1.000", "50.00", "5.00"),
        ],
    )
    return landing


def _measures(**values) -> dict[str, object]:
    """Every measure at zero but ``values`` (amounts given as strings)."""
    given = {m: (Decimal(v) if isinstance(v, str) else v) for m, v in values.items()}
    return {**zero_measures(), **given}


TINY_EXPECTED = {
    # U1 in January: a call, a held meeting, the deal won, an invoice (K7 was deleted)
    ("rep", "U1", "month", dt.date(2026, 1, 1)): _measures(
        calls=1, meetings=1, meetings_held=1, activities=2, won_opportunities=1,
        won_amount="1000.00", quantity="1.500", revenue="100.00", cost="15.02",
        gross_margin="84.98",
    ),
    # the deal was created on 30 November 2025, before the first version, after the hire
    ("team", "T1", "month", dt.date(2025, 11, 1)): _measures(new_opportunities=1),
    ("region", "R1", "quarter", dt.date(2025, 10, 1)): _measures(new_opportunities=1),
    # Q1 of U1 while in T1: K1, K2 (15 February: the day's last version is T1), E1, P1, C1,
    # the won deal, I1 and the credit note I2; not K3 nor E2 (no team from 1 March)
    ("region", "R1", "quarter", dt.date(2026, 1, 1)): _measures(
        calls=1, emails=1, meetings=1, meetings_held=1, proposals=1, contracts=1,
        activities=5, won_opportunities=1, won_amount="1000.00", quantity="0.500",
        revenue="60.00", cost="3.02", gross_margin="56.98",
    ),
    # no team: U1 after its move to a region role (K3, E2), the invoice without salesperson
    ("team", UNASSIGNED, "month", dt.date(2026, 3, 1)): _measures(
        calls=1, meetings=1, activities=2, quantity="1.000", revenue="10.00", cost="1.00",
        gross_margin="9.00",
    ),
    # the task without owner, the invoice of an e-mail no user has
    ("team", UNASSIGNED, "month", dt.date(2026, 2, 1)): _measures(
        calls=1, activities=1, quantity="3.000", revenue="300.00", cost="150.00",
        gross_margin="150.00",
    ),
    # the opportunity of an owner without User rows
    ("rep", "X9", "month", dt.date(2026, 1, 1)): _measures(new_opportunities=1),
    ("team", UNASSIGNED, "month", dt.date(2026, 1, 1)): _measures(new_opportunities=1),
    # U2 (no hire date: T2 from its earliest fact, 5 January): the unclassified task
    ("team", "T2", "month", dt.date(2026, 1, 1)): _measures(activities=1),
    # the unclassified event, the quote (UTC day), the lost deal
    ("team", "T2", "month", dt.date(2026, 2, 1)): _measures(
        quotes=1, activities=2, new_opportunities=1, lost_opportunities=1,
        lost_amount="500.00",
    ),
    # T2 has no parent: its region is unassigned, with the facts of no team
    ("region", UNASSIGNED, "month", dt.date(2026, 2, 1)): _measures(
        calls=1, quotes=1, activities=3, new_opportunities=1, lost_opportunities=1,
        lost_amount="500.00", quantity="3.000", revenue="300.00", cost="150.00",
        gross_margin="150.00",
    ),
    ("rep", UNASSIGNED, "month", dt.date(2026, 2, 1)): _measures(calls=1, activities=1),
    ("rep", "erp:bob@partner.example", "month", dt.date(2026, 2, 1)): _measures(
        quantity="3.000", revenue="300.00", cost="150.00", gross_margin="150.00"
    ),
    ("rep", UNASSIGNED, "month", dt.date(2026, 3, 1)): _measures(
        quantity="1.000", revenue="10.00", cost="1.00", gross_margin="9.00"
    ),
}  # fmt: skip


@pytest.mark.parametrize("key", list(TINY_EXPECTED), ids=str)
def test_oracle_on_a_tiny_company(tiny, key):
    got = expect(tiny, TINY_AS_OF).performance.get(key)
    assert got == TINY_EXPECTED[key], f"{key}: {got}"


def test_the_catalogue_requires_what_the_oracle_reads():
    """The KPIs' data requirements in dbt/kpis.yml are the ones the oracle's measures are
    computed from (tests/oracle/measures.py, written from the KPI definitions): dropping a
    requirement from the catalogue would make a KPI show a figure its data cannot give."""
    from pilotage.kpi_catalogue import load_catalogue

    requirements = {kpi.name: kpi.requires for kpi in load_catalogue().kpis}
    expected = {**MEASURE_REQUIREMENTS, "calls_completed": ("call_outcomes",)}
    assert {m: set(requirements[m]) for m in expected} == {
        m: set(names) for m, names in expected.items()
    }


def test_oracle_company_total_and_facts(tiny):
    expected = expect(tiny, TINY_AS_OF)
    assert expected.company_total == _measures(
        calls=3, emails=1, meetings=2, meetings_held=1, proposals=1, quotes=1, contracts=1,
        activities=11, new_opportunities=3, won_opportunities=1, won_amount="1000.00",
        lost_opportunities=1, lost_amount="500.00", quantity="4.500", revenue="370.00",
        cost="154.02", gross_margin="215.98",
    )  # fmt: skip
    # every date in the facts: K6 (after the as-of day) and I6 (April) included
    assert expected.facts.activities == {
        "call": 4, "email": 1, "meeting": 2, "proposal": 1, "quote": 1, "contract": 1,
        UNCLASSIFIED: 2,
    }  # fmt: skip
    assert expected.facts.revenue == Decimal("420.00")
    assert expected.facts.opportunities == 3
    members = {key[1] for key in expected.performance if key[0] == "company"}
    assert members == {COMPANY}


def test_oracle_levels_add_up(tiny):
    expected = expect(tiny, TINY_AS_OF)
    for level in LEVELS:
        total = _measures()
        for (lvl, _, grain, _), measures in expected.performance.items():
            if lvl == level and grain == "quarter":
                for measure, value in measures.items():
                    total[measure] += value
        assert total == expected.company_total, level


def test_oracle_data_not_delivered_is_null(tiny, tmp_path):
    expected = expect(tiny, TINY_AS_OF)
    assert expected.presence["stage_history"] is False
    assert expected.presence["targets"] is False
    assert all(expected.available.values())
    # a company without an ERP: the revenue measures are null on every row, the rest counted
    crm = expect(tiny, TINY_AS_OF, sources=("crm",))
    assert not crm.presence["invoices"] and not crm.available["revenue"]
    assert all(
        row["revenue"] is None and row["calls"] is not None for row in crm.performance.values()
    )
    # no opportunity delivered at all
    for path in tiny.rglob("*.csv"):
        if "Opportunity" not in path.parts:
            target = tmp_path / path.relative_to(tiny)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    without = expect(tmp_path, TINY_AS_OF)
    assert not without.available["won_amount"] and without.available["calls"]
    row = without.performance[("rep", "U1", "month", dt.date(2026, 1, 1))]
    assert row["won_opportunities"] is None and row["calls"] == 1


def test_oracle_credits_and_planned_work_stay_out_before_as_of(tiny):
    """A credit note is negative; a fact after the as-of day is not in the performance."""
    expected = expect(tiny, TINY_AS_OF)
    february = expected.performance[("rep", "U1", "month", dt.date(2026, 2, 1))]
    assert february["revenue"] == Decimal("-40.00") and february["cost"] == Decimal("-12.00")
    assert ("rep", "U1", "month", dt.date(2026, 4, 1)) not in expected.performance
    march = expected.performance[("rep", "U1", "month", dt.date(2026, 3, 1))]
    assert march["calls"] == 1  # K3 only: K6 is on 20 March


# --------------------------------------------------------------------------- the shapes themselves


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    """The demo at the suite's day with every shape but the removal of a system, and its oracle."""
    landing = tmp_path_factory.mktemp("shaped")
    as_of = AS_OF
    generate(landing, seed=5, scale=SCALE, as_of=as_of)
    records = apply_shapes(landing, OTHER_SHAPES, seed=5, scale=SCALE, as_of=as_of)
    return landing, as_of, {record.shape: record for record in records}, expect(landing, as_of)


def test_shapes_are_deterministic(shaped, tmp_path):
    landing, as_of, records, _ = shaped
    generate(tmp_path, seed=5, scale=SCALE, as_of=as_of)
    again = apply_shapes(tmp_path, OTHER_SHAPES, seed=5, scale=SCALE, as_of=as_of)
    assert [str(r) for r in again] == [str(r) for r in records.values()]
    files = {p.relative_to(landing): p.read_bytes() for p in landing.rglob("*") if p.is_file()}
    other = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert files.keys() == other.keys()
    assert [name for name in files if files[name] != other[name]] == []


def test_shapes_do_what_they_say(shaped):
    """Each shape leaves its mark in what the oracle sees (the property tests are not vacuous)."""
    landing, as_of, records, expected = shaped
    members = {key[1] for key in expected.performance if key[0] == "rep"}
    teams = {key[1] for key in expected.performance if key[0] == "team"}
    assert expected.facts.activities[UNCLASSIFIED] >= 5, records["empty_activity_types"]
    assert {"(unassigned)", "erp:departed.rep@pilotage-demo.com"} <= members
    assert records["unattributed"].details["manager"] in members
    assert UNASSIGNED in teams, records["no_team"]
    assert not expected.presence["stage_history"], records["no_stage_history"]
    credit = records["credit_heavy_month"].details
    month = dt.date.fromisoformat(f"{credit['month']}-01")
    rep_revenue = [
        row["revenue"]
        for (level, _, grain, start), row in expected.performance.items()
        if level == "rep" and grain == "month" and start == month
    ]
    assert min(rep_revenue) < 0, credit
    old = records["old_deals"].details
    assert len(old["won"]) == len(old["lost"]) == len(old["open"]) == 3
    first = min(key[3] for key in expected.performance if key[2] == "month")
    assert first < old["first_activity"].replace(day=1), old
    assert (
        max(dt.date.fromisoformat(d) for d in records["future_events"].details["invoices"]) > as_of
    )
    assert len(list((landing / "crm" / "Task").glob("*.csv"))) >= 4, records["drops"]
    assert any(p.stem.endswith("_redelivered") for p in landing.rglob("*.csv"))
    users = 0  # some User files are header-only (a conversion's objects it does not fill)
    for path in (landing / "crm" / "User").glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        users += len(rows)
        assert all(row["HireDate__c"] == row["CreatedDate"] == "" for row in rows), path
        assert len({row["Id"] for row in rows}) == len(rows), path
    assert users, "no User rows: the check above is vacuous"


def test_system_shapes_remove_a_system(tmp_path):
    as_of = AS_OF
    for shape, gone, sources in (("crm_only", "erp", "crm"), ("erp_only", "crm", "erp")):
        landing = tmp_path / shape
        generate(landing, seed=1, scale=SCALE, as_of=as_of)
        apply_shapes(landing, [shape], seed=1, scale=SCALE, as_of=as_of)
        assert not (landing / gone).exists() and sources_for([shape]) == sources
    with pytest.raises(ValueError, match="no data at all"):
        sources_for(["crm_only", "erp_only"])
