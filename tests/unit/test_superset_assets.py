"""Superset as code without a server: the YAML tree under superset/assets (every chart and
dashboard, at any depth) and the demo secrets. The running Superset is tested in
tests/e2e/test_superset.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pytest
import yaml

from pilotage import superset_admin
from pilotage.settings import SUPERSET_DIR, load_settings

ASSETS = SUPERSET_DIR / "assets"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _on_disk(folder: str) -> list[Path]:
    """Every YAML file under assets/<folder>, however deep (charts/objectives/*.yaml too)."""
    return sorted((ASSETS / folder).rglob("*.yaml"))


def _charts_on(dashboard: dict) -> set[str]:
    return {
        node["meta"]["uuid"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }


def test_assets_are_consistent() -> None:
    """The YAML tree alone: unique UUIDs, every chart's saved query context uses its dataset's
    metrics (named ones exist, ad-hoc SQL ones run on the dataset's columns), every chart on
    exactly one dashboard and every dashboard chart a file, the branding's colour scheme on
    every dashboard, no instance-specific database path. Counts what it saw against the files
    on disk, so a chart in a new sub-folder cannot escape the check."""
    database = _load(ASSETS / "databases" / "pilotage_serving.yaml")
    assert database["sqlalchemy_uri"] == "duckdb:///${PILOTAGE_SERVING_PATH}"
    assert database["extra"]["engine_params"]["connect_args"] == {
        "read_only": True,
        "config": {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "lock_configuration": True,
        },
    }
    assert not database["allow_dml"] and not database["allow_file_upload"]

    dataset_files = _on_disk("datasets")
    chart_files = _on_disk("charts")
    dashboard_files = _on_disk("dashboards")
    datasets = {d["uuid"]: d for d in map(_load, dataset_files)}
    charts = {c["uuid"]: c for c in map(_load, chart_files)}
    dashboards = [_load(path) for path in dashboard_files]
    # every file seen, none shadowed by a duplicate UUID (the tree has 14 charts, 3 dashboards
    # on 7 Dec: the counts below come from the disk, not from this comment)
    assert len(datasets) == len(dataset_files)
    assert len(charts) == len(chart_files) and len(chart_files) >= 14
    assert len(dashboards) == len(dashboard_files) and len(dashboard_files) >= 3
    uuids = [
        database["uuid"],
        *datasets,
        *charts,
        *(d["uuid"] for d in dashboards),
    ]
    assert len(uuids) == len(set(uuids)), "a UUID is used twice"

    con = duckdb.connect()
    tables = {}
    for uuid, dataset in datasets.items():
        table = f"dataset_{len(tables)}"
        columns = ", ".join(f'"{c["column_name"]}" {c["type"]}' for c in dataset["columns"])
        con.execute(f"create table {table} ({columns})")
        tables[uuid] = table
    checked_charts = 0
    for path, chart in zip(chart_files, map(_load, chart_files), strict=True):
        name = str(path.relative_to(ASSETS))
        assert chart["dataset_uuid"] in datasets, f"{name}: unknown dataset"
        dataset = datasets[chart["dataset_uuid"]]
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        context = json.loads(chart["query_context"])
        for query in context["queries"]:
            for metric in query["metrics"]:
                if isinstance(metric, str):
                    assert metric in metrics, f"{name}: {metric} is not a metric of its dataset"
                else:
                    assert metric["expressionType"] == "SQL" and metric.get("label"), name
                    sql = f"select {metric['sqlExpression']} from {tables[chart['dataset_uuid']]}"
                    con.execute(sql).fetchall()  # runs on the dataset's columns
        checked_charts += 1
    assert checked_charts == len(chart_files)

    branding = _load(SUPERSET_DIR / "branding.yaml")
    placed: dict[str, str] = {}
    for path, dashboard in zip(dashboard_files, dashboards, strict=True):
        on_dashboard = _charts_on(dashboard)
        assert on_dashboard, f"{path.name} has no chart"
        assert on_dashboard <= set(charts), f"{path.name} places a chart that is not a file"
        for uuid in on_dashboard:
            assert uuid not in placed, f"{charts[uuid]['slice_name']} on two dashboards"
            placed[uuid] = dashboard["slug"]
        assert dashboard["metadata"]["color_scheme"] == branding["color_scheme_id"], path.name
    assert set(placed) == set(charts), "charts on no dashboard: " + ", ".join(
        sorted(charts[u]["slice_name"] for u in set(charts) - set(placed))
    )
    # the folder layout: charts/<slug>/ holds exactly the charts of dashboard <slug>, the top
    # level those of sales-performance (what tests/e2e/test_superset.py reads)
    for path in chart_files:
        folder = path.parent.relative_to(ASSETS / "charts")
        slug = "sales-performance" if str(folder) == "." else str(folder)
        assert placed[_load(path)["uuid"]] == slug, str(path.relative_to(ASSETS))
    from pilotage.superset_api import DASHBOARD_SLUGS

    assert sorted(DASHBOARD_SLUGS) == sorted(d["slug"] for d in dashboards)


def test_demo_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    settings = dataclasses.replace(load_settings(), data_dir=tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("SUPERSET_HOME", "PILOTAGE_ENV", *superset_admin.SECRET_VARS):
            mp.delenv(name, raising=False)
        superset_admin.ensure_demo_secrets(settings)
        path = tmp_path / "superset_home" / ".demo-secrets.env"
        assert path.stat().st_mode & 0o777 == 0o600
        first = superset_admin.superset_env(settings)
        assert len(first["SUPERSET_SECRET_KEY"]) >= 32
        superset_admin.ensure_demo_secrets(settings)
        assert (
            superset_admin.superset_env(settings)["SUPERSET_SECRET_KEY"]
            == (first["SUPERSET_SECRET_KEY"])
        )
        assert superset_admin.admin_credentials(settings) == (
            "admin",
            first["SUPERSET_ADMIN_PASSWORD"],
        )
        mp.setenv("SUPERSET_ADMIN_PASSWORD", "from-the-environment")  # real env vars win
        assert superset_admin.admin_credentials(settings)[1] == "from-the-environment"
        production = dataclasses.replace(settings, environment="production")
        mp.delenv("SUPERSET_ADMIN_PASSWORD")  # never demo secrets in production
        assert "SUPERSET_SECRET_KEY" not in superset_admin.superset_env(production)
        other = dataclasses.replace(production, data_dir=tmp_path / "prod")
        superset_admin.ensure_demo_secrets(other)
        assert not (tmp_path / "prod").exists()
