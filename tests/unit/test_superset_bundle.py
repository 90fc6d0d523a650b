"""What the Superset bootstrap imports (superset/bootstrap.py's bundle): the KPI catalogue's labels
in the language one setting picks (PILOTAGE_LANGUAGE; Superset's own UI language is checked on
the running server in tests/e2e/test_superset.py), and the Period opening on the data's as-of
month, whatever the server's clock says."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import zipfile

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


def _bundle_metrics(bundle: bytes) -> dict[str, str]:
    labels = {}
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        for name in archive.namelist():
            if "/datasets/" in name:
                for metric in yaml.safe_load(archive.read(name)).get("metrics") or []:
                    labels[metric["metric_name"]] = metric["verbose_name"]
    return labels


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_bundle_labels_the_kpis_in_the_chosen_language(tmp_path, monkeypatch, language):
    settings = load_settings({"PILOTAGE_DATA_DIR": str(tmp_path), "PILOTAGE_LANGUAGE": language})
    superset_admin.superset_home(settings).mkdir(parents=True)
    superset_admin.write_kpi_labels(settings)
    monkeypatch.setenv("SUPERSET_HOME", str(superset_admin.superset_home(settings)))
    bootstrap = _bootstrap_module()
    got = _bundle_metrics(
        bootstrap.build_bundle(tmp_path / "serving.duckdb", bootstrap.kpi_labels())
    )
    catalogue = load_catalogue()
    in_superset = [kpi for kpi in catalogue.kpis if kpi.superset]
    assert in_superset, "the catalogue puts KPIs on Superset datasets"
    for kpi in in_superset:
        assert got[kpi.name] == getattr(kpi.label, language), kpi.name
    if language == "fr":
        assert any(kpi.label.fr != kpi.label.en for kpi in in_superset)


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
