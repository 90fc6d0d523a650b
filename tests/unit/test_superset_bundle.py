"""What the Superset bootstrap imports (superset/bootstrap.py's bundle): the KPI catalogue's labels
and descriptions, and the chart, dashboard and filter titles (superset/translations), in the
language one setting picks (PILOTAGE_LANGUAGE; Superset's own UI language is checked on
the running server in tests/e2e/test_superset.py), and the Period opening on the data's as-of
month, whatever the server's clock says."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import zipfile
from pathlib import Path

import pytest
import yaml

from pilotage import superset_admin
from pilotage.kpi_catalogue import load_catalogue
from pilotage.settings import SUPERSET_DIR, load_settings


def _bootstrap_module():
    spec = importlib.util.spec_from_file_location(
        "superset_bootstrap", SUPERSET_DIR / "bootstrap.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bundle_files(bundle: bytes, folder: str) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return [
            yaml.safe_load(archive.read(name))
            for name in archive.namelist()
            if f"/{folder}/" in name
        ]


def _bundle_metrics(bundle: bytes) -> dict[str, dict]:
    return {
        metric["metric_name"]: metric
        for dataset in _bundle_files(bundle, "datasets")
        for metric in dataset.get("metrics") or []
    }


def _bundle(tmp_path, monkeypatch, language: str) -> bytes:
    """The bundle superset/bootstrap.py imports with PILOTAGE_LANGUAGE=language."""
    settings = load_settings({"PILOTAGE_DATA_DIR": str(tmp_path), "PILOTAGE_LANGUAGE": language})
    superset_admin.superset_home(settings).mkdir(parents=True)
    superset_admin.write_kpi_texts(settings)
    monkeypatch.setenv("SUPERSET_HOME", str(superset_admin.superset_home(settings)))
    bootstrap = _bootstrap_module()
    return bootstrap.build_bundle(
        tmp_path / "serving.duckdb", bootstrap.kpi_texts(), None, bootstrap.translations(language)
    )


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_bundle_labels_the_kpis_in_the_chosen_language(tmp_path, monkeypatch, language):
    got = _bundle_metrics(_bundle(tmp_path, monkeypatch, language))
    catalogue = load_catalogue()
    in_superset = [kpi for kpi in catalogue.kpis if kpi.superset]
    assert in_superset, "the catalogue puts KPIs on Superset datasets"
    for kpi in in_superset:
        assert got[kpi.name]["verbose_name"] == getattr(kpi.label, language), kpi.name
        description = " ".join(getattr(kpi.description, language).split())
        assert got[kpi.name]["description"] == description, kpi.name
    if language == "fr":
        assert any(kpi.label.fr != kpi.label.en for kpi in in_superset)
        assert all(kpi.description.fr != kpi.description.en for kpi in in_superset)
        assert got["revenue"]["description"].startswith("Chiffre d'affaires net")


def _tree(folder: str) -> dict[str, dict]:
    return {
        d["uuid"]: d
        for d in map(
            yaml.safe_load, map(Path.read_text, (SUPERSET_DIR / "assets" / folder).rglob("*.yaml"))
        )
    }


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_bundle_titles_charts_dashboards_and_filters_in_the_chosen_language(
    tmp_path, monkeypatch, language
):
    bundle = _bundle(tmp_path, monkeypatch, language)
    french = yaml.safe_load((SUPERSET_DIR / "translations" / "fr.yaml").read_text())
    charts, dashboards = _tree("charts"), _tree("dashboards")
    got_charts = {c["uuid"]: c for c in _bundle_files(bundle, "charts")}
    got_dashboards = {d["uuid"]: d for d in _bundle_files(bundle, "dashboards")}
    assert set(got_charts) == set(charts) and set(got_dashboards) == set(dashboards)
    for uuid, chart in charts.items():
        want = french["charts"][uuid] if language == "fr" else {"title": chart["slice_name"]}
        assert got_charts[uuid]["slice_name"] == want["title"]
        assert got_charts[uuid]["description"] == want.get("description", chart.get("description"))
        # the rest of the chart is the tree's (the query context, the params)
        assert {
            k: v for k, v in got_charts[uuid].items() if k not in ("slice_name", "description")
        } == {k: v for k, v in chart.items() if k not in ("slice_name", "description")}
    for uuid, dashboard in dashboards.items():
        got = got_dashboards[uuid]
        entry = french["dashboards"][uuid] if language == "fr" else None
        title = entry["title"] if entry else dashboard["dashboard_title"]
        assert got["dashboard_title"] == title
        headers = {
            key: n["meta"]["text"]
            for key, n in got["position"].items()
            if isinstance(n, dict) and n.get("type") == "HEADER"
        }
        sections = {
            key: (entry["headers"][key] if entry else n["meta"]["text"])
            for key, n in dashboard["position"].items()
            if isinstance(n, dict) and n.get("type") == "HEADER" and key != "HEADER_ID"
        }
        assert headers == {"HEADER_ID": title, **sections}
        for node in got["position"].values():
            if isinstance(node, dict) and node.get("type") == "CHART":
                assert node["meta"]["sliceName"] == got_charts[node["meta"]["uuid"]]["slice_name"]
        for native in got["metadata"]["native_filter_configuration"]:
            english = next(
                n
                for n in dashboard["metadata"]["native_filter_configuration"]
                if n["id"] == native["id"]
            )
            want = entry["native_filters"][native["id"]] if entry else {}
            assert native["name"] == want.get("name", english["name"])
            assert native["description"] == want.get("description", english["description"])
            assert {k: v for k, v in native.items() if k not in ("name", "description")} == {
                k: v for k, v in english.items() if k not in ("name", "description")
            }
    if language == "fr":
        sales = got_dashboards["570a4757-e587-4fd6-aab8-dee83d72b264"]
        assert sales["dashboard_title"] == "Performance commerciale"
        assert [n["name"] for n in sales["metadata"]["native_filter_configuration"]] == [
            "Période",
            "Équipe",
            "Commercial",
        ]
        assert (
            got_charts["645ac720-dc6a-433e-a8e8-4f3b08ae548c"]["slice_name"] == "Chiffre d'affaires"
        )


def _period_defaults(bundle: bytes) -> list[tuple[str, str]]:
    found = []
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        for name in archive.namelist():
            if "/dashboards/" in name:
                metadata = yaml.safe_load(archive.read(name)).get("metadata") or {}
                for native in metadata.get("native_filter_configuration") or []:
                    if native["filterType"] == "filter_time":
                        mask = native["defaultDataMask"]
                        found.append(
                            (mask["filterState"]["value"], mask["extraFormData"]["time_range"])
                        )
    return found


@pytest.mark.parametrize(
    ("as_of", "today", "want"),
    [
        # the data is as of the server's month: Superset's own "Current month" is right
        (dt.date(2026, 12, 7), dt.date(2026, 12, 31), None),
        (dt.date(2026, 11, 15), dt.date(2026, 12, 7), "2026-11-01 : 2026-12-01"),
        # a replay of a past December, and a leap February
        (dt.date(2025, 12, 31), dt.date(2026, 1, 1), "2025-12-01 : 2026-01-01"),
        (dt.date(2028, 2, 29), dt.date(2028, 3, 1), "2028-02-01 : 2028-03-01"),
        (None, dt.date(2026, 12, 7), None),
    ],
)
def test_the_period_opens_on_the_data_as_of_month(tmp_path, as_of, today, want):
    bootstrap = _bootstrap_module()
    assert bootstrap.as_of_month_range(as_of, today) == want
    defaults = _period_defaults(bootstrap.build_bundle(tmp_path / "serving.duckdb", None, want))
    assert defaults, "a dashboard opens on a time filter"
    expected = want or bootstrap.CURRENT_MONTH
    assert all(value == expected and time_range == expected for value, time_range in defaults)


def test_the_postgres_engine_points_the_same_datasets_at_the_serving_database(tmp_path):
    bootstrap = _bootstrap_module()
    uri = "postgresql+psycopg2://pilotage_reader:pw@db:5432/pilotage_serving"
    duck = _bundle_files(bootstrap.build_bundle(tmp_path / "serving.duckdb"), "databases")
    pg = _bundle_files(bootstrap.build_bundle(None, postgres_uri=uri), "databases")
    assert len(duck) == len(pg) == 1
    assert duck[0]["sqlalchemy_uri"] == f"duckdb:///{tmp_path / 'serving.duckdb'}"
    assert duck[0]["extra"]["engine_params"]["connect_args"]["read_only"] is True
    assert pg[0]["sqlalchemy_uri"] == uri
    assert (pg[0]["uuid"], pg[0]["database_name"]) == (duck[0]["uuid"], duck[0]["database_name"])
    connect_args = pg[0]["extra"]["engine_params"]["connect_args"]
    assert connect_args["options"] == "-c default_transaction_read_only=on"
    assert not pg[0]["allow_dml"] and not pg[0]["allow_ctas"]
