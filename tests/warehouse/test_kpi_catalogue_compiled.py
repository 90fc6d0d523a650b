"""The KPI catalogue as dbt compiles it (a `dbt compile` of the marts): each KPI's row formula
is in the compiled SQL of a mart of its grain, the pace thresholds too, and the marts' KPI
column descriptions are the catalogue's. The catalogue itself, without dbt:
tests/unit/test_kpi_catalogue.py; the rendering of its formulas: tests/catalogue_helpers.py."""

from __future__ import annotations

import json

from pilotage import kpi_catalogue as kc
from tests.catalogue_helpers import grain_models, render, squash
from tests.conftest import AS_OF
from tests.pipeline_helpers import run_dbt


def test_compiled_marts_contain_the_catalogue_formulas(tmp_path):
    """dbt itself: each KPI's row formula is in the compiled mart of one of its grains (in
    kpi_rep_month for its own quotients), the pace thresholds too, and the marts' KPI column
    descriptions are the catalogue's doc blocks."""
    catalogue = kc.load_catalogue()
    marts = sorted({grain.model for grain in catalogue.grains.values()})
    run_dbt(
        ["compile", "--select", *marts],
        tmp_path / "compile.duckdb",
        AS_OF,
        tmp_path / "target",
    )
    compiled = {
        model: squash(next((tmp_path / "target" / "compiled").rglob(f"{model}.sql")).read_text())
        for model in marts
    }
    in_marts, in_rep_month = 0, 0
    for kpi in catalogue.kpis:
        if kpi.row_formula is None:
            continue
        formula = squash(render(kpi.row_formula))
        models = grain_models(catalogue, kpi)
        assert any(formula in compiled[model] for model in models), kpi.name
        in_marts += 1
        # kpi_rep_month computes its quotients itself; it sums the day base for the rest and
        # reads the objectives' KPIs from kpi_objectives
        if "kpi_rep_month" in models and not kpi.additive and "kpi_objectives" not in models:
            assert formula in compiled["kpi_rep_month"], kpi.name
            in_rep_month += 1
    assert in_marts >= len(catalogue.kpis) // 2 and in_rep_month, (in_marts, in_rep_month)
    assert "when pace >= 1.0 then 'on track'" in compiled["kpi_objectives"]
    assert "when pace <= 0.9 then 'off track'" in compiled["kpi_objectives"]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for kpi in catalogue.kpis:
        for model in grain_models(catalogue, kpi):
            described = nodes[model]["columns"][kpi.column]["description"]
            assert described.startswith(squash(kpi.description.en)), (model, kpi.name)
