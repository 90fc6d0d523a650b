"""The demo generator: deterministic, complete, and telling a consistent story.

Expected values are read back from the CSV files with the csv module.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from ingestion.demo.generator import generate
from ingestion.extracts import ALL_EXTRACTS

AS_OF = dt.date(2026, 11, 15)
DROP = "20261115"
SCALE = 0.1


def _rows(landing: Path, system: str, obj: str) -> list[dict[str, str]]:
    path = landing / system / obj / f"{obj}_{DROP}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _all_bytes(landing: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(landing)): p.read_bytes()
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    landing = tmp_path_factory.mktemp("gen_a")
    counts = generate(landing, seed=42, scale=SCALE, as_of=AS_OF)
    return landing, counts


def test_same_seed_gives_identical_bytes(demo, tmp_path):
    landing, counts = demo
    again = generate(tmp_path, seed=42, scale=SCALE, as_of=AS_OF)
    assert again == counts
    first, second = _all_bytes(landing), _all_bytes(tmp_path)
    assert sorted(first) == sorted(second)
    different = [name for name in first if first[name] != second[name]]
    assert different == []


def test_different_seed_gives_different_files(demo, tmp_path):
    landing, _ = demo
    generate(tmp_path, seed=7, scale=SCALE, as_of=AS_OF)
    first, other = _all_bytes(landing), _all_bytes(tmp_path)
    assert sorted(first) == sorted(other)
    different = [name for name in first if first[name] != other[name]]
    assert len(different) >= len(first) // 2, different


def test_every_extract_has_one_file_with_the_declared_header(demo):
    landing, counts = demo
    assert sorted(counts) == sorted(e.table for e in ALL_EXTRACTS)
    for extract in ALL_EXTRACTS:
        folder = landing / extract.system / extract.object_name
        assert sorted(p.name for p in folder.iterdir()) == [f"{extract.object_name}_{DROP}.csv"]
        with (folder / f"{extract.object_name}_{DROP}.csv").open(encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            data_rows = list(reader)
        assert header == list(extract.columns), extract.object_name
        assert data_rows, f"{extract.object_name} has no rows"
        assert all(len(row) == len(header) for row in data_rows), extract.object_name
        assert counts[extract.table] == len(data_rows), extract.object_name


def test_drop_names_the_files(tmp_path):
    generate(tmp_path, seed=1, scale=SCALE, as_of=AS_OF, drop="20261116T1200")
    names = sorted(p.name for p in tmp_path.rglob("*.csv"))
    assert len(names) == len(ALL_EXTRACTS)
    assert all(name.endswith("_20261116T1200.csv") for name in names), names
    assert not list(tmp_path.rglob("*.part"))


def test_organisation(demo):
    landing, _ = demo
    roles = {r["Id"]: r for r in _rows(landing, "crm", "UserRole")}
    users = _rows(landing, "crm", "User")
    by_id = {u["Id"]: u for u in users}
    regions = [r for r in roles.values() if r["RollupDescription"] == "Region"]
    teams = [r for r in roles.values() if r["RollupDescription"] == "Team"]
    assert len(regions) == 2 and all(r["ParentRoleId"] == "" for r in regions)
    assert all(roles[t["ParentRoleId"]]["RollupDescription"] == "Region" for t in teams)
    reps = [u for u in users if u["Title"] == "Account Executive"]
    assert len(reps) >= 3
    assert len({u["UserRoleId"] for u in reps}) >= 2
    for rep in reps:
        manager = by_id[rep["ManagerId"]]
        assert manager["Title"] == "Sales Manager"
        assert manager["UserRoleId"] == rep["UserRoleId"]
        assert roles[rep["UserRoleId"]]["RollupDescription"] == "Team"
    directors = [u for u in users if u["Title"] == "Sales Director"]
    assert sorted(d["UserRoleId"] for d in directors) == sorted(r["Id"] for r in regions)
    assert len({u["Email"] for u in users}) == len(users)


def test_references_point_at_existing_rows(demo):
    landing, _ = demo
    users = _rows(landing, "crm", "User")
    user_ids = {u["Id"] for u in users}
    emails = {u["Email"] for u in users}
    accounts = _rows(landing, "crm", "Account")
    opportunities = _rows(landing, "crm", "Opportunity")
    assert {o["OwnerId"] for o in opportunities} <= user_ids
    assert {o["AccountId"] for o in opportunities} <= {a["Id"] for a in accounts}
    opportunity_ids = {o["Id"] for o in opportunities}
    history = _rows(landing, "crm", "OpportunityHistory")
    assert {h["OpportunityId"] for h in history} == opportunity_ids
    invoices = _rows(landing, "erp", "invoices")
    assert {i["salesperson_email"] for i in invoices} <= emails
    orders = _rows(landing, "erp", "sales_orders")
    assert {o["salesperson_email"] for o in orders} <= emails
    won = {o["Id"] for o in opportunities if o["StageName"] == "Closed Won"}
    assert {o["crm_opportunity_id"] for o in orders} == won
    customers = _rows(landing, "erp", "customers")
    assert sorted(c["crm_account_number"] for c in customers) == sorted(
        a["AccountNumber"] for a in accounts
    )
    posted = {i["invoice_id"] for i in invoices if i["move_type"] == "out_invoice"}
    refunds = [i for i in invoices if i["move_type"] == "out_refund"]
    assert all(r["reversed_invoice_id"] in posted for r in refunds)


def test_amounts_and_costs(demo):
    landing, _ = demo
    products = {p["product_id"]: p for p in _rows(landing, "erp", "products")}
    assert all(Decimal(p["unit_cost"]) < Decimal(p["list_price"]) for p in products.values())
    lines = _rows(landing, "erp", "invoice_lines")
    for line in lines:
        expected = (
            Decimal(line["quantity"])
            * Decimal(line["unit_price"])
            * (1 - Decimal(line["discount_pct"]))
        ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert Decimal(line["net_amount"]) == expected, line
        assert line["unit_cost"] == products[line["product_id"]]["unit_cost"]
        assert Decimal(line["quantity"]) > 0 and Decimal(line["net_amount"]) > 0


def test_nothing_happens_after_as_of(demo):
    landing, _ = demo
    end = dt.datetime(2026, 11, 15, 23, 59, 59, tzinfo=dt.UTC)
    start = dt.date(2025, 12, 1)

    def ts(value: str) -> dt.datetime:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))

    for kind in ("Task", "Event"):
        rows = _rows(landing, "crm", kind)
        days = [dt.date.fromisoformat(r["ActivityDate"]) for r in rows]
        assert max(days) <= AS_OF and min(days) >= start, kind
        assert {d.month for d in days} == set(range(1, 13)), kind
        assert all(ts(r["LastModifiedDate"]) <= end for r in rows), kind
    assert all(ts(e["StartDateTime"]) <= end for e in _rows(landing, "crm", "Event"))
    for row in _rows(landing, "erp", "invoices"):
        assert start <= dt.date.fromisoformat(row["invoice_date"]) <= AS_OF
        assert ts(row["updated_at"]) <= end
    for extract in ALL_EXTRACTS:
        rows = _rows(landing, extract.system, extract.object_name)
        assert all(ts(r[extract.cursor]) <= end for r in rows), extract.object_name


def test_targets_cover_every_rep_metric_and_month(demo):
    landing, _ = demo
    users = _rows(landing, "crm", "User")
    targets = [t for t in _rows(landing, "crm", "Sales_Target__c") if t["IsDeleted"] == "false"]
    keys = Counter((t["OwnerId"], t["Metric__c"], t["Period_Start__c"]) for t in targets)
    assert max(keys.values()) == 1
    months = sorted({t["Period_Start__c"] for t in targets})
    assert months[0] == "2025-12-01" and months[-1] == "2026-11-01" and len(months) == 12
    veterans = [
        u["Id"]
        for u in users
        if u["Title"] == "Account Executive" and u["HireDate__c"] < "2025-12-01"
    ]
    assert veterans
    for rep in veterans:
        for metric in ("revenue", "gross_margin", "meetings", "calls"):
            assert all((rep, metric, m) in keys for m in months), (rep, metric)


def test_funnel_and_deletions_look_real(demo):
    landing, _ = demo
    opportunities = _rows(landing, "crm", "Opportunity")
    won = sum(o["StageName"] == "Closed Won" for o in opportunities)
    lost = sum(o["StageName"] == "Closed Lost" for o in opportunities)
    assert 0.15 <= won / (won + lost) <= 0.4
    assert any(o["IsClosed"] == "false" for o in opportunities)
    tasks = _rows(landing, "crm", "Task")
    calls = sum(t["TaskSubtype"] == "Call" for t in tasks)
    events = _rows(landing, "crm", "Event")
    held = sum(e["Meeting_Status__c"] == "Held" for e in events)
    assert 0.05 <= held / calls <= 0.4
    assert {e["Meeting_Status__c"] for e in events} == {"Held", "No-show", "Planned"}
    deleted = sum(
        row.get("IsDeleted") == "true"
        for obj in ("Task", "Event", "Opportunity", "Sales_Target__c")
        for row in _rows(landing, "crm", obj)
    )
    assert 1 <= deleted <= 200
    invoices = _rows(landing, "erp", "invoices")
    assert {i["move_type"] for i in invoices} == {"out_invoice", "out_refund"}
