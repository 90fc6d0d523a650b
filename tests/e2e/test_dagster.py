"""The Dagster code location: it loads, its lineage is unbroken, the full refresh runs end to end,
and a failing blocking check leaves the previous serving file in place."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
)

from tests.conftest import AS_OF, pilotage_env, run_full_refresh


def test_definitions_load_and_lineage_runs_from_dlt_to_the_serving_file(demo_pipeline):
    from dagster_project.definitions import build_definitions

    settings, _ = demo_pipeline
    defs = build_definitions(settings)
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    # dlt loads are keyed like the dbt sources that read them: no gap in the lineage.
    assert AssetKey(["crm", "opportunities"]) in keys
    assert AssetKey(["erp", "invoice_lines"]) in keys
    stg = AssetKey(["staging", "stg_erp__invoice_lines"])
    assert AssetKey(["erp", "invoice_lines"]) in graph.get(stg).parent_keys
    serving = graph.get(AssetKey(["serving", "serving_db"]))
    assert AssetKey(["marts", "kpi_rep_month"]) in serving.parent_keys
    # the gates are dbt tests on the models; each delivery is validated at the door (warnings)
    checks = set(graph.asset_check_keys)
    for table in ("kpi_performance", "fct_activities"):
        assert any(k.asset_key == AssetKey(["marts", table]) for k in checks), table
    for raw in (("crm", "opportunities"), ("erp", "invoice_lines")):
        key = AssetCheckKey(AssetKey(list(raw)), "delivery_validation")
        assert key in checks and not graph.get_check_spec(key).blocking
    assert defs.resolve_schedule_def("working_hours_refresh")
    assert defs.resolve_sensor_def("landing_files_sensor")


def test_full_refresh_materializes_every_asset_and_passes_every_check(demo_pipeline):
    settings, result = demo_pipeline
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert AssetKey(["crm", "tasks"]) in materialized
    assert AssetKey(["marts", "kpi_rep_month"]) in materialized
    assert AssetKey(["serving", "serving_db"]) in materialized
    # No Superset in this run: the cache refresh says so instead of failing the refresh.
    assert AssetKey(["superset", "dashboard_caches"]) in materialized
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) > 20, "dbt tests and delivery validations should all have run"
    failed = [(e.asset_key, e.check_name) for e in evaluations if not e.passed]
    assert not failed
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        as_of = con.execute("select as_of_date from meta.publication").fetchone()[0]
        reps = con.execute("select count(distinct rep_id) from marts.kpi_rep_month").fetchone()[0]
    finally:
        con.close()
    assert as_of == AS_OF
    assert reps >= 3


def _redeliver_one_record(landing_dir, system, obj, pick, changes, cursor_field) -> dict:
    """A later drop (the as-of day, 12:00) re-delivering the first record `pick` accepts from the
    object's first file, with `changes` applied and a newer cursor."""
    folder = landing_dir / system / obj
    source = sorted(folder.glob(f"{obj}_*.csv"))[0]
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        row = next(r for r in reader if pick(r))
    row.update(changes, **{cursor_field: f"{AS_OF.isoformat()}T12:00:00.000Z"})
    with open(folder / f"{obj}_{AS_OF:%Y%m%d}T1200.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerow(row)
    return row


def _revise_one_target_below_zero(landing_dir) -> str:
    """A sales target revised to a negative value: a gate's business rule (an objective is an
    amount or count to reach) that no real data can legitimately break."""
    row = _redeliver_one_record(
        landing_dir,
        "crm",
        "Sales_Target__c",
        lambda r: True,
        {"Target_Value__c": "-5000.00"},
        "LastModifiedDate",
    )
    return row["Id"]


def test_a_failing_check_stops_the_publish_and_the_previous_file_keeps_serving(
    copy_of_demo_data,
):
    with pilotage_env(copy_of_demo_data) as settings:
        before = settings.serving_path.read_bytes()
        target_id = _revise_one_target_below_zero(settings.landing_dir)
        result = run_full_refresh(settings)
        assert not result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert AssetKey(["serving", "serving_db"]) not in materialized
        assert settings.serving_path.read_bytes() == before
        failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
        assert "fct_targets_objectives_are_not_negative" in failed
        # The bad row did reach the warehouse (it was caught by a gate, not lost).
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            value = con.execute(
                "select target_value_c from raw_crm.sales_targets where id = ?"
                " order by last_modified_date desc",  # raw keeps every version: newest first
                [target_id],
            ).fetchone()[0]
        finally:
            con.close()
        assert value < 0


def test_landing_sensor_requests_a_refresh_only_for_new_or_changed_files(copy_of_demo_data):
    from dagster_project.definitions import build_definitions

    with pilotage_env(copy_of_demo_data) as settings:
        sensor = build_definitions(settings).resolve_sensor_def("landing_files_sensor")
        with DagsterInstance.ephemeral() as instance:
            first = sensor.evaluate_tick(build_sensor_context(instance=instance))
            assert len(first.run_requests) == 1, "never refreshed: every file is new"
            cursor = first.cursor
            quiet = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
            assert not quiet.run_requests
            new_file = settings.landing_dir / "crm" / "Task" / "Task_29991231.csv"
            new_file.write_text((sorted(new_file.parent.glob("Task_*.csv"))[0]).read_text())
            later = dt.datetime.now().timestamp() + 5
            os.utime(new_file, (later, later))
            again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
            assert len(again.run_requests) == 1
            assert "crm/Task/Task_29991231.csv" in json.loads(again.cursor)


def _add_an_invoice_dated_2099(landing_dir) -> str:
    """One posted invoice re-dated to 2099: suspicious, not impossible."""
    row = _redeliver_one_record(
        landing_dir,
        "erp",
        "invoices",
        lambda r: r["state"] == "posted",
        {"invoice_date": "2099-03-01"},
        "updated_at",
    )
    return row["invoice_id"]


def test_quarantined_rows_show_in_the_run_metadata(copy_of_demo_data):
    """A malformed value is set aside, not loaded and not lost: the run's metadata lists it. A
    suspicious but possible value (an invoice dated 2099) is published, and its delivery's
    validation warns, with the Data Docs report linked."""
    with pilotage_env(copy_of_demo_data) as settings:
        invoice_id = _add_an_invoice_dated_2099(settings.landing_dir)
        _redeliver_one_record(
            settings.landing_dir,
            "crm",
            "Task",
            lambda r: True,
            {"Id": "00TBADROW0000001", "TaskSubtype": "Carrier pigeon"},
            "LastModifiedDate",
        )
        result = run_full_refresh(settings)
        assert result.success, "a quarantined row and a suspicious date do not stop a refresh"
        invoices = AssetCheckKey(AssetKey(["erp", "invoices"]), "delivery_validation")
        [warned] = [
            e for e in result.get_asset_check_evaluations() if e.asset_check_key == invoices
        ]
        assert not warned.passed and warned.severity == AssetCheckSeverity.WARN
        assert "2099-03-01" in warned.metadata["warnings"].value
        assert Path(warned.metadata["data_docs"].value).is_file()
        [event] = [
            e
            for e in result.get_asset_materialization_events()
            if e.asset_key == AssetKey(["crm", "quarantine"])
        ]
        metadata = event.materialization.metadata
        assert metadata["quarantined_rows"].value == 1
        assert metadata["quarantined_by_object"].value == {"Task": 1}
        assert "Carrier pigeon" in metadata["quarantine_preview"].value
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            loaded = con.execute(
                "select count(*) from raw_crm.tasks where id = '00TBADROW0000001'"
            ).fetchone()[0]
        finally:
            con.close()
        assert loaded == 0
        # the invoice of 2099 is in the facts, counted when its day comes
        con = duckdb.connect(str(settings.serving_path), read_only=True)
        try:
            dated = con.execute(
                "select distinct invoice_date from marts.fct_revenue where invoice_id = ?",
                [invoice_id],
            ).fetchall()
        finally:
            con.close()
        assert dated == [(dt.date(2099, 3, 1),)]
