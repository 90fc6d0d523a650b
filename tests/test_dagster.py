"""The Dagster code location: it loads, its lineage is unbroken, the full refresh runs end to end,
and a failing blocking check leaves the previous serving file in place."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os

import duckdb
from dagster import AssetCheckKey, AssetKey, DagsterInstance, Definitions, build_sensor_context

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
    blocking = {k for k in graph.asset_check_keys if graph.get_check_spec(k).blocking}
    for table in ("fct_activities", "fct_revenue", "kpi_rep_month"):
        assert AssetCheckKey(AssetKey(["marts", table]), "great_expectations") in blocking
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
    assert len(evaluations) > 20, "dbt tests and GX suites should all have run"
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


def _corrupt_one_invoice_line(landing_dir) -> str:
    """A later drop that gives one posted invoice line a negative quantity."""
    folder = landing_dir / "erp" / "invoice_lines"
    source = sorted(folder.glob("invoice_lines_*.csv"))[0]
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, row = reader.fieldnames, next(reader)
    row["quantity"] = "-5.000"
    row["net_amount"] = "-" + row["net_amount"].lstrip("-")
    row["updated_at"] = "2026-11-15T12:00:00.000Z"
    with open(folder / "invoice_lines_20261115T1200.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerow(row)
    return row["invoice_line_id"]


def test_a_failing_check_stops_the_publish_and_the_previous_file_keeps_serving(
    copy_of_demo_data,
):
    with pilotage_env(copy_of_demo_data) as settings:
        before = settings.serving_path.read_bytes()
        line_id = _corrupt_one_invoice_line(settings.landing_dir)
        result = run_full_refresh(settings)
        assert not result.success
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert AssetKey(["serving", "serving_db"]) not in materialized
        assert settings.serving_path.read_bytes() == before
        # The bad row did reach the warehouse (it was caught by a check, not lost).
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            quantity = con.execute(
                "select quantity from raw_erp.invoice_lines where invoice_line_id = ?"
                " order by updated_at desc",  # raw keeps every version: the newest is the bad one
                [line_id],
            ).fetchone()[0]
        finally:
            con.close()
        assert quantity < 0


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


def test_quarantined_rows_show_in_the_run_metadata(copy_of_demo_data):
    """A malformed value is set aside, not loaded and not lost: the run's metadata lists it."""
    with pilotage_env(copy_of_demo_data) as settings:
        folder = settings.landing_dir / "crm" / "Task"
        source = sorted(folder.glob("Task_*.csv"))[0]
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header, row = reader.fieldnames, next(reader)
        row["Id"] = "00TBADROW0000001"
        row["TaskSubtype"] = "Carrier pigeon"
        row["LastModifiedDate"] = "2026-11-15T12:00:00.000Z"
        with open(folder / "Task_20261115T1200.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerow(row)
        result = run_full_refresh(settings)
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
