"""A snapshot of the Dagster asset graph: every asset key with its upstream keys and the names of
its checks, compared with tests/snapshots/asset_graph.json.

A renamed module, a dbt model or test added or removed, a dlt resource keyed differently: the
diff below says what changed. When the change is intended, regenerate the snapshot and commit
it with the change (`make snapshots` does this):

    PILOTAGE_UPDATE_SNAPSHOTS=1 .tools/bin/uv run --frozen pytest \
        tests/warehouse/test_asset_graph.py
"""

from __future__ import annotations

import difflib
import json
import os

from pilotage.settings import PROJECT_ROOT

SNAPSHOT = PROJECT_ROOT / "tests" / "snapshots" / "asset_graph.json"
UPDATE = "PILOTAGE_UPDATE_SNAPSHOTS"


def asset_graph(settings) -> dict[str, dict[str, list[str]]]:
    """{asset key: {"deps": upstream keys, "checks": check names}}, sorted, as plain strings."""
    from dagster_project.definitions import build_definitions

    graph = build_definitions(settings).resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check in graph.asset_check_keys:
        checks.setdefault(check.asset_key.to_user_string(), []).append(check.name)
    return {
        key.to_user_string(): {
            "deps": sorted(parent.to_user_string() for parent in graph.get(key).parent_keys),
            "checks": sorted(checks.get(key.to_user_string(), [])),
        }
        for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    }


def _text(graph: dict) -> str:
    return json.dumps(graph, indent=2, sort_keys=True) + "\n"


def test_the_asset_graph_matches_its_snapshot(demo_pipeline):
    settings, _ = demo_pipeline  # its dbt manifest is parsed; Dagster reads it
    got = _text(asset_graph(settings))
    if os.environ.get(UPDATE) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(got)
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}: run with {UPDATE}=1 to write it"
    want = SNAPSHOT.read_text()
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(keepends=True),
                got.splitlines(keepends=True),
                "tests/snapshots/asset_graph.json (committed)",
                "the asset graph of build_definitions(settings)",
                n=2,
            )
        )
        raise AssertionError(
            "The Dagster asset graph differs from its snapshot. If the change is intended, "
            f"regenerate it with {UPDATE}=1 .tools/bin/uv run --frozen pytest "
            "tests/warehouse/test_asset_graph.py and commit tests/snapshots/asset_graph.json.\n"
            + diff
        )
    # the snapshot is not empty: loads, models, the publish and Superset assets are there
    graph = json.loads(want)
    assert "erp/invoice_lines" in graph and "serving/serving_db" in graph
    assert "marts/kpi_rep_month" in graph["serving/serving_db"]["deps"]
    assert "delivery_validation" in graph["crm/opportunities"]["checks"]
