"""Replaying a sequence of drops delivered out of order lands every record version exactly once.

The drops (``ingestion.demo.drops``) are delivered as ``DropSequence.deliveries`` orders them: day 2
before day 1 (day 1 arrives late), day 1 again under the same names, the last drop again under
another name. After each delivery the loads run; dbt staging (views) then equals the state
expected from the files delivered so far, computed here with plain Python (per record, the version
with the latest cursor), and at the end the truth the generator reports from its own bookkeeping,
row for row.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingestion.demo.drops import Row, generate_drops
from ingestion.extracts import ALL_EXTRACTS, Extract
from tests.conftest import AS_OF, SCALE, SEED, pilotage_env
from tests.pipeline_helpers import load_landing, run_dbt

DAYS = 5
_NAMING = NamingConvention()

# Staging model of each extract and its renamed columns, written out by hand; every other declared
# column keeps dlt's snake_case name (OwnerId -> owner_id).
STAGING: dict[str, tuple[str, dict[str, str]]] = {
    "UserRole": (
        "stg_crm__user_roles",
        {"Id": "user_role_id", "Name": "user_role_name", "RollupDescription": "role_level",
         "LastModifiedDate": "last_modified_at"},
    ),
    "User": (
        "stg_crm__users",
        {"Id": "user_id", "ManagerId": "manager_user_id", "HireDate__c": "hire_date",
         "CreatedDate": "created_at", "LastModifiedDate": "last_modified_at"},
    ),
    "Account": (
        "stg_crm__accounts",
        {"Id": "account_id", "OwnerId": "rep_id", "Name": "account_name",
         "CreatedDate": "created_at", "LastModifiedDate": "last_modified_at"},
    ),
    "Opportunity": (
        "stg_crm__opportunities",
        {"Id": "opportunity_id", "OwnerId": "rep_id", "Name": "opportunity_name",
         "CreatedDate": "created_at", "LastModifiedDate": "last_modified_at"},
    ),
    "OpportunityHistory": (
        "stg_crm__opportunity_history",
        {"Id": "opportunity_history_id", "CreatedDate": "stage_entered_at"},
    ),
    "Task": (
        "stg_crm__tasks",
        {"Id": "task_id", "OwnerId": "rep_id", "WhatId": "related_record_id",
         "Status": "task_status", "CallDurationInSeconds": "call_duration_seconds",
         "CreatedDate": "created_at", "LastModifiedDate": "last_modified_at"},
    ),
    "Event": (
        "stg_crm__events",
        {"Id": "event_id", "OwnerId": "rep_id", "WhatId": "related_record_id",
         "Type": "event_type", "Meeting_Status__c": "meeting_status",
         "DurationInMinutes": "duration_minutes", "StartDateTime": "starts_at",
         "EndDateTime": "ends_at", "CreatedDate": "created_at",
         "LastModifiedDate": "last_modified_at"},
    ),
    "Proposal__c": (
        "stg_crm__proposals",
        {"Id": "proposal_id", "Opportunity__c": "opportunity_id", "OwnerId": "rep_id",
         "Name": "proposal_name", "Status__c": "proposal_status", "Amount__c": "amount",
         "Sent_Date__c": "sent_date", "CreatedDate": "created_at",
         "LastModifiedDate": "last_modified_at"},
    ),
    "Quote": (
        "stg_crm__quotes",
        {"Id": "quote_id", "OwnerId": "rep_id", "Name": "quote_name", "Status": "quote_status",
         "CreatedDate": "created_at", "LastModifiedDate": "last_modified_at"},
    ),
    "Contract": (
        "stg_crm__contracts",
        {"Id": "contract_id", "Opportunity__c": "opportunity_id", "OwnerId": "rep_id",
         "Status": "contract_status", "ContractTerm": "contract_term_months",
         "CreatedDate": "created_at", "LastModifiedDate": "last_modified_at"},
    ),
    "Sales_Target__c": (
        "stg_crm__sales_targets",
        {"Id": "sales_target_id", "OwnerId": "rep_id", "Team__c": "team_id",
         "Target_Level__c": "target_level", "Period_Type__c": "period_type",
         "Metric__c": "metric", "Target_Value__c": "target_value",
         "Period_Start__c": "period_start", "CreatedDate": "created_at",
         "LastModifiedDate": "last_modified_at"},
    ),
    "customers": ("stg_erp__customers", {}),
    "products": ("stg_erp__products", {}),
    "sales_orders": ("stg_erp__sales_orders", {"status": "order_status"}),
    "sales_order_lines": ("stg_erp__sales_order_lines", {}),
    "invoices": ("stg_erp__invoices", {"state": "invoice_state"}),
    "invoice_lines": ("stg_erp__invoice_lines", {}),
}  # fmt: skip
EXTRACTS = {e.object_name: e for e in ALL_EXTRACTS}


def _typed(value: str, data_type: pa.DataType) -> object:
    """A CSV field as the value its declared type holds (empty = null)."""
    if value == "":
        return None
    if pa.types.is_decimal(data_type):
        return Decimal(value)
    if pa.types.is_floating(data_type):
        return float(value)
    if pa.types.is_integer(data_type):
        return int(value)
    if pa.types.is_boolean(data_type):
        return value == "true"
    if pa.types.is_timestamp(data_type):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if pa.types.is_date(data_type):
        return dt.date.fromisoformat(value)
    return value


def _normalised(value: object) -> object:
    """A warehouse value comparable with ``_typed``'s: timestamps in UTC, doubles as floats."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def _expected_rows(extract: Extract, rows: dict[str, Row]) -> list[tuple]:
    return sorted(
        tuple(_typed(row[name], data_type) for name, data_type in extract.columns.items())
        for row in rows.values()
    )


def _staging_rows(con: duckdb.DuckDBPyConnection, extract: Extract) -> list[tuple]:
    model, renamed = STAGING[extract.object_name]
    columns = [renamed.get(name, _NAMING.normalize_identifier(name)) for name in extract.columns]
    live = " where not is_deleted" if "IsDeleted" in extract.columns else ""
    rows = con.sql(f"select {', '.join(columns)} from staging.{model}{live}").fetchall()
    return sorted(tuple(_normalised(v) for v in row) for row in rows)


def _current(deliveries) -> dict[str, dict[str, Row]]:
    """Per object, the latest version (by cursor) of every record not deleted, from the rows of
    the files delivered (plain Python, independent of the loader and dbt)."""
    latest: dict[str, dict[str, Row]] = {}
    for delivery in deliveries:
        for object_name, rows in delivery.files.items():
            extract = EXTRACTS[object_name]
            known = latest.setdefault(object_name, {})
            for row in rows:
                key, cursor = row[extract.primary_key], row[extract.cursor]
                if key not in known or cursor > known[key][extract.cursor]:
                    known[key] = row
    return {
        obj: {k: r for k, r in rows.items() if r.get("IsDeleted") != "true"}
        for obj, rows in latest.items()
    }


def _raw_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        f"{e.system}.{e.table}": con.sql(
            f"select count(*) from raw_{e.system}.{e.table}"
        ).fetchone()[0]
        for e in ALL_EXTRACTS
    }


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """Deliver every drop in order, load after each delivery, and keep what staging held then."""
    tmp = tmp_path_factory.mktemp("drops")
    landing = tmp / "landing"
    sequence = generate_drops(seed=SEED, scale=SCALE, as_of=AS_OF, days=DAYS)
    snapshots = []
    for index, delivery in enumerate(sequence.deliveries):
        delivery.write(landing)
        warehouse = load_landing(tmp, landing)
        if index == 0:  # staging and the team history are views: built once, they follow raw
            run_dbt(
                ["run", "--select", "path:models/staging", "+int_reps__team_history"],
                warehouse,
                AS_OF,
                tmp / "dbt_target",
            )
        with duckdb.connect(str(warehouse), read_only=True) as con:
            snapshots.append(
                {
                    "staging": {obj: _staging_rows(con, e) for obj, e in EXTRACTS.items()},
                    "raw": _raw_counts(con),
                }
            )
    # the final state passes staging's and the team history's data tests
    run_dbt(
        [
            "build",
            "--select",
            "path:models/staging",
            "+int_reps__team_history",
            "--indirect-selection",
            "cautious",
        ],
        warehouse,
        AS_OF + dt.timedelta(days=DAYS),
        tmp / "dbt_target",
    )
    return sequence, snapshots, warehouse


def test_the_deliveries_are_adversarial(replay):
    sequence, _, _ = replay
    kinds = [d.kind for d in sequence.deliveries]
    assert kinds[:4] == ["on time", "out of order", "late", "re-delivered"]
    assert kinds[-1] == "renamed copy"
    drops = [d.drop for d in sequence.deliveries]
    assert drops[1] > drops[2]  # the late drop is older than one already delivered
    late, again = sequence.deliveries[2], sequence.deliveries[3]
    assert (late.name, late.files) == (again.name, again.files)
    last, copy = sequence.deliveries[-2], sequence.deliveries[-1]
    assert copy.files == last.files and copy.name != last.name


def test_staging_equals_the_delivered_state_after_every_delivery(replay):
    sequence, snapshots, _ = replay
    for index, snapshot in enumerate(snapshots):
        expected = _current(sequence.deliveries[: index + 1])
        for object_name, extract in EXTRACTS.items():
            assert snapshot["staging"][object_name] == _expected_rows(
                extract, expected.get(object_name, {})
            ), (index, sequence.deliveries[index].kind, object_name)


def test_the_final_warehouse_equals_the_generator_truth_row_for_row(replay):
    sequence, snapshots, _ = replay
    assert _current(sequence.deliveries) == sequence.truth
    for object_name, extract in EXTRACTS.items():
        expected = _expected_rows(extract, sequence.truth[object_name])
        assert snapshots[-1]["staging"][object_name] == expected, object_name


def test_a_re_delivery_changes_no_row_and_no_count(replay):
    sequence, snapshots, _ = replay
    for index, delivery in enumerate(sequence.deliveries):
        if delivery.kind in ("re-delivered", "renamed copy"):
            assert snapshots[index] == snapshots[index - 1], delivery.kind


def test_a_late_older_version_does_not_overwrite_a_newer_one(replay):
    sequence, snapshots, _ = replay
    newer, late = sequence.deliveries[1], sequence.deliveries[2]
    extract = EXTRACTS["Opportunity"]
    newer_rows = {r["Id"]: r for r in newer.files["Opportunity"]}
    both = [r for r in late.files["Opportunity"] if r["Id"] in newer_rows]
    assert both, "the late drop changes an opportunity the newer drop changed again"
    for row in both:
        assert row["LastModifiedDate"] < newer_rows[row["Id"]]["LastModifiedDate"]
        kept = _expected_rows(extract, {row["Id"]: newer_rows[row["Id"]]})[0]
        assert kept in snapshots[2]["staging"]["Opportunity"]
        stale = _expected_rows(extract, {row["Id"]: row})[0]
        assert stale not in snapshots[2]["staging"]["Opportunity"]


def test_deletions_and_cancellations_land(replay):
    sequence, snapshots, warehouse = replay
    deleted = {
        row["Id"]
        for delivery in sequence.deliveries
        for obj in ("Opportunity", "Task")
        for row in delivery.files.get(obj, [])
        if row["IsDeleted"] == "true" and delivery.drop > sequence.deliveries[0].drop
    }
    assert len(deleted) >= 3
    with duckdb.connect(str(warehouse), read_only=True) as con:
        flagged = con.sql(
            "select opportunity_id from staging.stg_crm__opportunities where is_deleted "
            "union all select task_id from staging.stg_crm__tasks where is_deleted"
        ).fetchall()
        cancelled = con.sql(
            "select invoice_id from staging.stg_erp__invoices where invoice_state = 'cancel'"
        ).fetchall()
    assert deleted <= {r[0] for r in flagged}
    cancelled_in_drops = {
        row["invoice_id"]
        for delivery in sequence.deliveries[1:]
        for row in delivery.files.get("invoices", [])
    }
    assert cancelled_in_drops and cancelled_in_drops <= {r[0] for r in cancelled}


def test_the_team_history_keeps_past_months_teams(replay):
    sequence, _, warehouse = replay
    (moved,) = {  # the rep who changes team in the drops (once)
        row["Id"]: row for d in sequence.deliveries[1:] for row in d.files.get("User", [])
    }.values()
    day = dt.datetime.fromisoformat(moved["LastModifiedDate"].replace("Z", "+00:00")).date()
    before = max(
        (v for v in sequence.deliveries[0].files["User"] if v["Id"] == moved["Id"]),
        key=lambda v: v["LastModifiedDate"],
    )
    assert before["UserRoleId"] != moved["UserRoleId"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        history = con.sql(
            "select team_id, valid_from, valid_to, is_current from "
            f"intermediate.int_reps__team_history where rep_id = '{moved['Id']}' "
            "order by valid_from"
        ).fetchall()
        last_month = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        team_then = con.sql(
            "select team_id from intermediate.int_reps__team_history "
            f"where rep_id = '{moved['Id']}' and valid_from <= date '{last_month}' "
            f"and date '{last_month}' < valid_to"
        ).fetchall()
    assert history[-1] == (moved["UserRoleId"], day, dt.date(9999, 12, 31), True)
    assert history[-2][0] == before["UserRoleId"] and history[-2][2] == day
    assert team_then == [(before["UserRoleId"],)]


def test_drops_are_deterministic():
    first = generate_drops(seed=SEED, scale=SCALE, as_of=AS_OF, days=2)
    again = generate_drops(seed=SEED, scale=SCALE, as_of=AS_OF, days=2)
    other = generate_drops(seed=SEED + 1, scale=SCALE, as_of=AS_OF, days=2)
    assert first.deliveries == again.deliveries and first.latest == again.latest
    assert first.deliveries[1].files != other.deliveries[1].files


def test_the_cli_writes_the_drops_into_the_landing_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pilotage_cli import main

    # the CLI exports its settings to the environment: restored after the test
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    args = ["generate", "--scale", str(SCALE), "--drops", "2", "--as-of", AS_OF.isoformat()]
    with pilotage_env(tmp_path):
        result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "late" in result.output and "renamed copy" in result.output
    names = sorted(p.name for p in (tmp_path / "landing" / "crm" / "Opportunity").iterdir())
    assert names == [
        "Opportunity_20261115.csv",
        "Opportunity_20261116.csv",
        "Opportunity_20261117.csv",
        "Opportunity_20261117_resent.csv",
    ]
