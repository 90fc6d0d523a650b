"""kpi_rep_month against KPIs computed by hand from the extract files.

A small demo (seed 42, scale 0.1, as of 2026-11-15) is generated, loaded by the dlt pipelines
and built by ``dbt build``. The expected values are then computed independently from the CSV
extracts with plain Python (csv + Decimal), following the KPI definitions of the brief, and every
row of kpi_rep_month is compared with them. Nothing here reads the dbt models' SQL or output to
derive an expected value.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import math
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.extracts import ALL_EXTRACTS, Extract

from .pipeline_helpers import build_demo_warehouse

SEED = 42
SCALE = 0.1
AS_OF = dt.date(2026, 11, 15)
CENT = Decimal("0.01")
ACTIVITY_TYPES = ("call", "email", "meeting", "proposal", "quote", "contract")
pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- reading extracts


def _latest_rows(extract: Extract, landing: Path) -> list[dict[str, str]]:
    """Rows of an object after merging its drops: per primary key, the version with the latest
    cursor wins (a later drop wins a tie)."""
    latest: dict[str, tuple[str, int, dict[str, str]]] = {}
    order = 0
    for path in extract.files(landing):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                order += 1
                key = row[extract.primary_key]
                cursor = _timestamp(row.get(extract.cursor, ""))
                rank = (cursor or dt.datetime.min.replace(tzinfo=dt.UTC), order)
                if key not in latest or rank >= latest[key][:2]:
                    latest[key] = (*rank, row)
    return [row for *_, row in latest.values()]


def _timestamp(value: str) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def _true(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "t", "yes")


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def expected_kpis(landing: Path, as_of: dt.date) -> dict[tuple[dt.date, str], dict]:
    """kpi_rep_month computed from the extracts, keyed by (month_start, rep_id)."""
    tables = {e.table: _latest_rows(e, landing) for e in ALL_EXTRACTS}

    # Users, roles, teams, managers
    roles = {r["Id"]: r for r in tables["user_roles"]}
    users = {u["Id"]: u for u in tables["users"]}
    reps = {uid: u for uid, u in users.items() if u["Title"] == "Account Executive"}
    user_by_email = {u["Email"].strip().lower(): uid for uid, u in users.items()}

    # Activities per (rep, month, type), deleted rows excluded
    activities: dict[tuple[str, dt.date], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(ACTIVITY_TYPES, 0)
    )
    first_dates: list[dt.date] = []

    def count(rep_id: str, day: dt.date | None, kind: str, deleted: str) -> None:
        if day is None or _true(deleted):
            return
        activities[(rep_id, _month(day))][kind] += 1
        first_dates.append(day)

    for task in tables["tasks"]:
        kind = {"Call": "call", "Email": "email"}.get(task["TaskSubtype"])
        if kind:
            count(task["OwnerId"], _date(task["ActivityDate"]), kind, task["IsDeleted"])
    for event in tables["events"]:
        if event["Type"] == "Meeting":  # every Meeting_Status__c counts in the skeleton
            count(event["OwnerId"], _date(event["ActivityDate"]), "meeting", event["IsDeleted"])
    for proposal in tables["proposals"]:
        count(
            proposal["OwnerId"], _date(proposal["Sent_Date__c"]), "proposal", proposal["IsDeleted"]
        )
    for quote in tables["quotes"]:
        created = _timestamp(quote["CreatedDate"])
        day = created.astimezone(dt.UTC).date() if created else None
        count(quote["OwnerId"], day, "quote", quote["IsDeleted"])
    for contract in tables["contracts"]:
        signed = _date(contract["CustomerSignedDate"])  # unsigned contracts are no activity
        count(contract["OwnerId"], signed, "contract", contract["IsDeleted"])

    # Revenue per (rep, month): posted documents, credit notes negative
    invoices = {i["invoice_id"]: i for i in tables["invoices"]}
    money: dict[tuple[str, dt.date], dict[str, Decimal]] = defaultdict(
        lambda: {"quantity": Decimal(0), "revenue": Decimal(0), "cost": Decimal(0)}
    )
    for line in tables["invoice_lines"]:
        invoice = invoices.get(line["invoice_id"])
        if invoice is None or invoice["state"] != "posted":
            continue
        day = _date(invoice["invoice_date"])
        first_dates.append(day)
        rep_id = user_by_email.get(invoice["salesperson_email"].strip().lower())
        if rep_id is None:
            continue
        sign = -1 if invoice["move_type"] == "out_refund" else 1
        quantity = Decimal(line["quantity"])
        bucket = money[(rep_id, _month(day))]
        bucket["quantity"] += sign * quantity
        bucket["revenue"] += sign * Decimal(line["net_amount"])
        cost = (quantity * Decimal(line["unit_cost"])).quantize(CENT, ROUND_HALF_UP)
        bucket["cost"] += sign * cost

    # The reps' monthly revenue targets per (rep, month). The latest version is the one in force:
    # the demo revises targets during their month only (tests/test_objectives.py applies the
    # full history rule).
    targets: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    for target in tables["sales_targets"]:
        is_rep_month = (target["Target_Level__c"], target["Period_Type__c"]) == ("rep", "month")
        if is_rep_month and target["Metric__c"] == "revenue" and not _true(target["IsDeleted"]):
            month = _month(_date(target["Period_Start__c"]))
            targets[(target["OwnerId"], month)] += Decimal(target["Target_Value__c"])

    # The grid: every rep x month from the first month with data to the as-of month,
    # for the months the rep was hired by the end of.
    first_month = _month(min([*first_dates, as_of]))
    months = []
    month = first_month
    while month <= _month(as_of):
        months.append(month)
        month = _next_month(month)

    expected = {}
    for rep_id, rep in reps.items():
        hired = _date(rep["HireDate__c"])
        role = roles.get(rep["UserRoleId"], {})
        team_id = rep["UserRoleId"] if role.get("RollupDescription") == "Team" else None
        region = roles.get(role.get("ParentRoleId", ""), {}) if team_id else {}
        manager = users.get(rep["ManagerId"], {})
        for month in months:
            if hired is not None and hired >= _next_month(month):
                continue
            counts = activities.get((rep_id, month), dict.fromkeys(ACTIVITY_TYPES, 0))
            sums = money.get(
                (rep_id, month),
                {"quantity": Decimal(0), "revenue": Decimal(0), "cost": Decimal(0)},
            )
            revenue, cost = sums["revenue"], sums["cost"]
            margin = revenue - cost
            target = targets.get((rep_id, month))
            days = calendar.monthrange(month.year, month.month)[1]
            elapsed = min(max((as_of - month).days + 1, 0), days)
            has_target = target is not None and target != 0
            prorated = target * elapsed / days if target is not None else None
            pace = revenue / prorated if has_target and prorated else None
            if not has_target:
                status = "no target"
            elif pace is None:
                status = "not started"
            elif pace >= 1:
                status = "on track"
            elif pace <= Decimal("0.9"):
                status = "off track"
            else:
                status = "at risk"
            expected[(month, rep_id)] = {
                "rep_name": f"{rep['FirstName']} {rep['LastName']}".strip(),
                "rep_email": rep["Email"].strip().lower(),
                "team_id": team_id,
                "team_name": role.get("Name") if team_id else None,
                "region_name": region.get("Name"),
                "manager_email": manager["Email"].strip().lower() if manager else None,
                **{f"{kind}s": counts[kind] for kind in ACTIVITY_TYPES},
                "activities": sum(counts.values()),
                "quantity": sums["quantity"],
                "revenue": revenue,
                "cost": cost,
                "gross_margin": margin,
                "margin_pct": margin / revenue if revenue != 0 else None,
                "revenue_target": target,
                "attainment": revenue / target if has_target else None,
                "days_in_month": days,
                "elapsed_days": elapsed,
                "prorated_target_to_date": prorated,
                "pace": pace,
                "status": status,
            }
    return expected


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    tmp_dir = tmp_path_factory.mktemp("kpi_mart")
    warehouse = build_demo_warehouse(tmp_dir, SEED, SCALE, AS_OF)
    return tmp_dir / "landing", warehouse


@pytest.fixture(scope="module")
def kpi_rows(demo) -> dict[tuple[dt.date, str], dict]:
    _, warehouse = demo
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute("select * from marts.kpi_rep_month")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()
    return {(row["month_start"], row["rep_id"]): row for row in rows}


@pytest.fixture(scope="module")
def expected(demo) -> dict[tuple[dt.date, str], dict]:
    landing, _ = demo
    return expected_kpis(landing, AS_OF)


# --------------------------------------------------------------------------- tests


def _ratio_equal(actual, wanted) -> bool:
    if wanted is None or actual is None:
        return actual is None and wanted is None
    return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=1e-9)


def test_grid_is_every_rep_month_up_to_as_of(kpi_rows, expected):
    assert expected, "the demo data produced no account executive"
    missing = sorted(set(expected) - set(kpi_rows))
    extra = sorted(set(kpi_rows) - set(expected))
    assert not missing, f"rep-months missing from kpi_rep_month: {missing[:10]}"
    assert not extra, f"unexpected rep-months in kpi_rep_month: {extra[:10]}"


def test_demo_exercises_the_kpis(expected):
    """Guard against a vacuous comparison: the demo must have revenue, targets, credit notes,
    every activity type and more than one status."""
    assert any(row["revenue"] > 0 for row in expected.values())
    assert any(row["revenue_target"] is not None for row in expected.values())
    assert len({row["status"] for row in expected.values()}) >= 2
    for kind in ACTIVITY_TYPES:
        assert any(row[f"{kind}s"] > 0 for row in expected.values()), f"no {kind} in the demo"


@pytest.mark.parametrize(
    "column",
    ["rep_name", "rep_email", "team_id", "team_name", "region_name", "manager_email"],
)
def test_rep_attributes(kpi_rows, expected, column):
    wrong = [
        (key, kpi_rows[key][column], want[column])
        for key, want in expected.items()
        if key in kpi_rows and kpi_rows[key][column] != want[column]
    ]
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


@pytest.mark.parametrize("column", [f"{kind}s" for kind in ACTIVITY_TYPES] + ["activities"])
def test_activity_counts(kpi_rows, expected, column):
    wrong = [
        (key, kpi_rows[key][column], want[column])
        for key, want in expected.items()
        if key in kpi_rows and kpi_rows[key][column] != want[column]
    ]
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


@pytest.mark.parametrize(
    "column", ["quantity", "revenue", "cost", "gross_margin", "revenue_target"]
)
def test_money_is_exact(kpi_rows, expected, column):
    wrong = [
        (key, kpi_rows[key][column], want[column])
        for key, want in expected.items()
        if key in kpi_rows and kpi_rows[key][column] != want[column]
    ]
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


@pytest.mark.parametrize("column", ["margin_pct", "attainment", "pace"])
def test_ratios(kpi_rows, expected, column):
    wrong = [
        (key, kpi_rows[key][column], want[column])
        for key, want in expected.items()
        if key in kpi_rows and not _ratio_equal(kpi_rows[key][column], want[column])
    ]
    assert not wrong, f"{column}: (key, model, expected) {wrong[:5]}"


def test_prorated_target_and_days(kpi_rows, expected):
    wrong = []
    for key, want in expected.items():
        row = kpi_rows.get(key)
        if row is None:
            continue
        if (row["days_in_month"], row["elapsed_days"]) != (
            want["days_in_month"],
            want["elapsed_days"],
        ):
            wrong.append((key, "days", row["days_in_month"], row["elapsed_days"], want))
        prorated = want["prorated_target_to_date"]
        if prorated is None:
            if row["prorated_target_to_date"] is not None:
                wrong.append((key, "prorated", row["prorated_target_to_date"], None))
        elif row["prorated_target_to_date"] is None or abs(
            row["prorated_target_to_date"] - prorated
        ) > CENT / 2 + Decimal("1e-9"):
            # rounded to cents in the mart (through a double division): within half a cent
            wrong.append((key, "prorated", row["prorated_target_to_date"], prorated))
    assert not wrong, wrong[:5]


def test_status(kpi_rows, expected):
    wrong = [
        (key, kpi_rows[key]["status"], want["status"], want["pace"])
        for key, want in expected.items()
        if key in kpi_rows and kpi_rows[key]["status"] != want["status"]
    ]
    assert not wrong, f"(key, model, expected, pace) {wrong[:5]}"


def test_as_of_date(kpi_rows):
    assert {row["as_of_date"] for row in kpi_rows.values()} == {AS_OF}
