"""The dashboards' language: one setting (PILOTAGE_LANGUAGE) puts the KPI catalogue's labels of
that language on the Superset metrics the bootstrap imports (Superset's own UI language is checked
on the running server in tests/e2e/test_superset.py)."""

from __future__ import annotations

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
