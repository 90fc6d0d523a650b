"""superset/translations/fr.yaml: every chart, dashboard and native filter of the YAML tree has
its French title, so that a new chart cannot be forgotten (PILOTAGE_LANGUAGE=fr would show it in
English between French ones). A failure says what to add, and where. What the bootstrap makes of
the file is tests/unit/test_superset_bundle.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from pilotage.settings import SUPERSET_DIR

ASSETS = SUPERSET_DIR / "assets"
FRENCH = SUPERSET_DIR / "translations" / "fr.yaml"
WHERE = FRENCH.relative_to(SUPERSET_DIR.parent)


def _french() -> dict:
    return yaml.safe_load(FRENCH.read_text(encoding="utf-8"))


def _files(folder: str) -> dict[str, tuple[Path, dict]]:
    return {
        data["uuid"]: (path, data)
        for path in sorted((ASSETS / folder).rglob("*.yaml"))
        for data in [yaml.safe_load(path.read_text(encoding="utf-8"))]
    }


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def test_every_chart_has_a_french_title():
    french = _french().get("charts") or {}
    missing = []
    for uuid, (path, chart) in _files("charts").items():
        entry = french.get(uuid) or {}
        name = path.relative_to(ASSETS / "charts").with_suffix("")
        if not _text(entry.get("title")) or (
            chart.get("description") and not entry.get("description")
        ):
            missing.append(
                f"  {uuid}:  # {name}: {chart['slice_name']}\n"
                f"    title: <the French of {chart['slice_name']!r}>"
                + (
                    "\n    description: <its French description>"
                    if chart.get("description")
                    else ""
                )
            )
    assert not missing, (
        f"charts without their French title: add under `charts:` in {WHERE}\n" + "\n".join(missing)
    )


def test_every_dashboard_and_native_filter_has_a_french_title():
    french = _french().get("dashboards") or {}
    missing = []
    for uuid, (_path, dashboard) in _files("dashboards").items():
        entry = french.get(uuid) or {}
        filters = entry.get("native_filters") or {}
        lines = []
        if not _text(entry.get("title")):
            lines.append(f"    title: <the French of {dashboard['dashboard_title']!r}>")
        for native in dashboard["metadata"].get("native_filter_configuration") or []:
            got = filters.get(native["id"]) or {}
            if not _text(got.get("name")) or (
                native.get("description") and not got.get("description")
            ):
                lines.append(
                    f"    native_filters:\n      {native['id']}:\n"
                    f"        name: <the French of {native['name']!r}>"
                    + ("\n        description: <its French>" if native.get("description") else "")
                )
        for node in dashboard["position"].values():
            if (
                isinstance(node, dict)
                and node.get("type") == "HEADER"
                and node["meta"]["text"] != dashboard["dashboard_title"]
                and not _text((entry.get("headers") or {}).get(node["id"]))
            ):
                lines.append(
                    f"    headers:\n      {node['id']}: <the French of {node['meta']['text']!r}>"
                )
        if lines:
            missing.append(f"  {uuid}:  # {dashboard['slug']}: {dashboard['dashboard_title']}")
            missing += lines
    assert not missing, (
        f"dashboards without their French titles: add under `dashboards:` in {WHERE}\n"
        + "\n".join(missing)
    )


def test_no_translation_is_left_for_a_chart_or_dashboard_that_is_gone():
    french = _french()
    assert set(french) == {"dashboards", "charts"}
    stale = set(french["charts"]) - set(_files("charts"))
    stale |= set(french["dashboards"]) - set(_files("dashboards"))
    assert not stale, f"{WHERE} translates UUIDs no chart or dashboard has: {sorted(stale)}"
    dashboards = {uuid: d for uuid, (_p, d) in _files("dashboards").items()}
    for uuid, entry in french["dashboards"].items():
        ids = {n["id"] for n in dashboards[uuid]["metadata"]["native_filter_configuration"]}
        assert set(entry.get("native_filters") or {}) <= ids, (
            uuid,
            set(entry["native_filters"]) - ids,
        )
        headers = {
            key
            for key, node in dashboards[uuid]["position"].items()
            if isinstance(node, dict) and node.get("type") == "HEADER"
        }
        assert set(entry.get("headers") or {}) <= headers, (uuid, entry["headers"])


def test_a_forgotten_chart_is_named_with_what_to_add(tmp_path, monkeypatch):
    module = sys.modules[__name__]
    french = _french()
    uuid = "645ac720-dc6a-433e-a8e8-4f3b08ae548c"  # charts/sales-performance/revenue.yaml
    del french["charts"][uuid]
    changed = tmp_path / "fr.yaml"
    changed.write_text(yaml.safe_dump(french, allow_unicode=True))
    monkeypatch.setattr(module, "FRENCH", changed)
    with pytest.raises(AssertionError) as failure:
        test_every_chart_has_a_french_title()
    message = str(failure.value)
    assert f"add under `charts:` in {WHERE}" in message
    assert f"{uuid}:  # sales-performance/revenue: Revenue" in message
    assert "title: <the French of 'Revenue'>" in message
