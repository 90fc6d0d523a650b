"""dbt docs: `dbt docs generate` builds, every model, source table and column (every column that
exists in the warehouse, not only the declared ones) has a description, and every mart that
Superset reads is in an exposure's depends_on."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from pilotage.settings import PROJECT_ROOT
from tests.conftest import AS_OF
from tests.pipeline_helpers import run_dbt

SUPERSET_ASSETS = PROJECT_ROOT / "superset" / "assets"
MARTS_IN_SQL = re.compile(r"\bmarts\.\"?(\w+)", re.IGNORECASE)


@pytest.fixture(scope="module")
def docs(demo_pipeline, tmp_path_factory) -> tuple[dict, dict]:
    """(manifest, catalog) of `dbt docs generate` against a copy of the session's built demo
    warehouse (models, seeds and all: no second build; dbt opens the file read-write)."""
    settings, _ = demo_pipeline
    tmp = tmp_path_factory.mktemp("dbt_docs")
    warehouse = tmp / "warehouse.duckdb"
    shutil.copyfile(settings.warehouse_path, warehouse)
    target = tmp / "target"
    run_dbt(["docs", "generate"], warehouse, AS_OF, target)
    assert (target / "index.html").exists(), "dbt docs generate wrote no index.html"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    return manifest, catalog


def _undocumented(nodes: dict, catalog_nodes: dict) -> list[str]:
    """Nodes and columns without a description; warehouse columns not declared in the YAML."""
    missing = []
    for unique_id, node in sorted(nodes.items()):
        if not (node.get("description") or "").strip():
            missing.append(f"{unique_id}: no description")
        declared = {name.lower(): col for name, col in node["columns"].items()}
        for name, col in declared.items():
            if not (col.get("description") or "").strip():
                missing.append(f"{unique_id}.{name}: empty description")
        if unique_id not in catalog_nodes:
            missing.append(f"{unique_id}: not in the warehouse (catalog.json)")
            continue
        for name in catalog_nodes[unique_id]["columns"]:
            if name.lower() not in declared:
                missing.append(f"{unique_id}.{name.lower()}: column not documented in the YAML")
    return missing


def test_every_model_and_column_has_a_description(docs):
    manifest, catalog = docs
    models = {k: n for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert len(models) >= 20
    missing = _undocumented(models, catalog["nodes"])
    assert not missing, "undocumented models or columns:\n" + "\n".join(missing)


def test_every_source_table_and_column_has_a_description(docs):
    manifest, catalog = docs
    sources = manifest["sources"]
    assert {s["source_name"] for s in sources.values()} == {"crm", "erp"}
    missing = [
        f"source {s['source_name']}: no description"
        for s in sources.values()
        if not (s.get("source_description") or "").strip()
    ]
    missing += _undocumented(sources, catalog["sources"])
    assert not missing, "undocumented sources or columns:\n" + "\n".join(missing)


def _marts_read_by_superset() -> set[str]:
    """Marts that Superset reads: its datasets (a table, or SQL over marts) and RLS rules."""
    read = set()
    for path in sorted(SUPERSET_ASSETS.glob("datasets/**/*.yaml")):
        dataset = yaml.safe_load(path.read_text())
        if dataset.get("sql"):
            read |= set(MARTS_IN_SQL.findall(dataset["sql"]))
        elif dataset.get("schema") == "marts":
            read.add(dataset["table_name"])
    read |= set(MARTS_IN_SQL.findall((PROJECT_ROOT / "superset" / "bootstrap.py").read_text()))
    return read


def test_every_mart_read_by_superset_is_in_an_exposure(docs):
    manifest, _ = docs
    read = _marts_read_by_superset()
    assert {"kpi_rep_month", "fct_revenue", "fct_activities", "dim_rep", "dim_team"} <= read
    exposed = {
        manifest["nodes"][uid]["name"]
        for exposure in manifest["exposures"].values()
        for uid in exposure["depends_on"]["nodes"]
        if uid in manifest["nodes"]
    }
    assert manifest["exposures"], "no exposure declared"
    assert read <= exposed, f"read by Superset but in no exposure: {sorted(read - exposed)}"
    for exposure in manifest["exposures"].values():
        assert exposure["description"].strip() and exposure["owner"].get("email")
