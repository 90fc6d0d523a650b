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


def _latest(rows: list[dict[str, str]], cursor: str = "LastModifiedDate") -> list[dict[str, str]]:
    """The current state: per Id, the version with the latest cursor (ISO UTC strings sort)."""
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["Id"] not in latest or row[cursor] > latest[row["Id"]][cursor]:
            latest[row["Id"]] = row
    return list(latest.values())


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
    versions = _rows(landing, "crm", "User")
    users = _latest(versions)
    by_id = {u["Id"]: u for u in users}
    regions = [r for r in roles.values() if r["RollupDescription"] == "Region"]
    teams = [r for r in roles.values() if r["RollupDescription"] == "Team"]
    assert len(regions) == 2 and all(r["ParentRoleId"] == "" for r in regions)
    assert all(roles[t["ParentRoleId"]]["RollupDescription"] == "Region" for t in teams)
    reps = [u for u in users if u["Title"] == "Account Executive"]
    assert len(reps) >= 3
    assert len({u["UserRoleId"] for u in reps}) >= 2
    # every version of a rep: the manager is the manager of the rep's team at the time
    for rep in (v for v in versions if v["Title"] == "Account Executive"):
        manager = by_id[rep["ManagerId"]]
        assert manager["Title"] == "Sales Manager"
        assert manager["UserRoleId"] == rep["UserRoleId"]
        assert roles[rep["UserRoleId"]]["RollupDescription"] == "Team"
    directors = [u for u in users if u["Title"] == "Sales Director"]
    assert sorted(d["UserRoleId"] for d in directors) == sorted(r["Id"] for r in regions)
    assert len({u["Email"] for u in users}) == len(users)


def test_reps_change_team_and_join_in_the_middle_of_a_month(demo):
    landing, _ = demo
    versions = _rows(landing, "crm", "User")
    by_user: dict[str, list[dict[str, str]]] = {}
    for version in sorted(versions, key=lambda v: v["LastModifiedDate"]):
        by_user.setdefault(version["Id"], []).append(version)
    movers = {user: vs for user, vs in by_user.items() if len(vs) > 1}
    assert 2 <= len(movers) <= 3
    for history in movers.values():
        before, after = history
        assert before["UserRoleId"] != after["UserRoleId"]
        assert before["HireDate__c"] < "2025-12-01" < after["LastModifiedDate"] < "2026-11-15"
        assert after["LastModifiedDate"][8:10] == "15"  # in the middle of the month
    hired_in_year = [
        u for u in _latest(versions) if u["HireDate__c"] >= "2025-12-01"
    ]  # a new hire's first version is written on the hire day
    assert hired_in_year and all(u["HireDate__c"][8:10] != "01" for u in hired_in_year)
    assert all(u["CreatedDate"][:10] == u["HireDate__c"] for u in hired_in_year)


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
    users = _latest(_rows(landing, "crm", "User"))
    versions = _rows(landing, "crm", "Sales_Target__c")
    targets = [t for t in _latest(versions) if t["IsDeleted"] == "false"]
    rep_targets = [t for t in targets if t["Target_Level__c"] == "rep"]
    assert {t["Period_Type__c"] for t in rep_targets} == {"month"}
    assert all(t["Team__c"] == "" for t in rep_targets)
    keys = Counter((t["OwnerId"], t["Metric__c"], t["Period_Start__c"]) for t in rep_targets)
    assert max(keys.values()) == 1
    months = sorted({t["Period_Start__c"] for t in rep_targets})
    assert months[0] == "2025-12-01" and months[-1] == "2026-11-01" and len(months) == 12
    veterans = [
        u["Id"]
        for u in users
        if u["Title"] == "Account Executive" and u["HireDate__c"] < "2025-12-01"
    ]
    assert veterans
    for rep in veterans:
        for metric in ("revenue", "gross_margin", "calls", "meetings", "new_opportunities"):
            assert all((rep, metric, m) in keys for m in months), (rep, metric)


def test_team_targets_are_quarterly_and_owned_by_the_manager(demo):
    landing, _ = demo
    users = _latest(_rows(landing, "crm", "User"))
    managers = {u["UserRoleId"]: u["Id"] for u in users if u["Title"] == "Sales Manager"}
    targets = _latest(_rows(landing, "crm", "Sales_Target__c"))
    team_targets = [t for t in targets if t["Target_Level__c"] == "team"]
    quarters = ["2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"]
    expected = {
        (team, metric, quarter)
        for team in managers
        for metric in ("revenue", "gross_margin")
        for quarter in quarters
    }
    assert {(t["Team__c"], t["Metric__c"], t["Period_Start__c"]) for t in team_targets} == expected
    assert all(t["Period_Type__c"] == "quarter" for t in team_targets)
    assert all(t["OwnerId"] == managers[t["Team__c"]] for t in team_targets)
    # the team's own number, not the sum of its reps' monthly targets
    rep_revenue = sum(
        Decimal(t["Target_Value__c"])
        for t in targets
        if t["Target_Level__c"] == "rep"
        and t["Metric__c"] == "revenue"
        and t["Period_Start__c"] >= "2026-01-01"
        and t["IsDeleted"] == "false"
    )
    team_revenue = sum(
        Decimal(t["Target_Value__c"]) for t in team_targets if t["Metric__c"] == "revenue"
    )
    assert team_revenue != rep_revenue
    assert abs(team_revenue / rep_revenue - 1) < Decimal("0.1")


def test_a_few_targets_are_revised_mid_month(demo):
    landing, _ = demo
    versions = _rows(landing, "crm", "Sales_Target__c")
    by_id: dict[str, list[dict[str, str]]] = {}
    for version in sorted(versions, key=lambda v: v["LastModifiedDate"]):
        by_id.setdefault(version["Id"], []).append(version)
    revised = [vs for vs in by_id.values() if len(vs) > 1]
    assert 1 <= len(revised) <= 3
    for first, second in revised:
        assert Decimal(second["Target_Value__c"]) < Decimal(first["Target_Value__c"])
        assert second["LastModifiedDate"][:7] == second["Period_Start__c"][:7]  # during the month
        assert second["LastModifiedDate"][8:10] == "15"


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
