"""The KPI catalogue (dbt/kpis.yml) and what is derived from it.

The catalogue validates; the dbt macro file, the Superset datasets' metrics and docs/kpis.md are
exactly what the generator makes of it now (drift fails); a change to the catalogue is reported
for each artefact it touches (so the drift test can fail); kpi_rep_month computes every KPI
through the catalogue's macros; the Superset formulas run on their datasets' columns and are
ratios of sums. The values of the row formulas are checked independently by the unit tests of
kpi_rep_month (dbt/models/marts/_kpi_rep_month__unit_tests.yml) and tests/test_kpi_mart.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
import subprocess
import sys

import duckdb
import jinja2
import pytest
import yaml

from pilotage import kpi_catalogue as kc
from pilotage.settings import DBT_PROJECT_DIR as DBT_DIR
from pilotage.settings import PROJECT_ROOT

from .pipeline_helpers import run_dbt

MART_SQL = DBT_DIR / "models" / "marts" / "kpi_rep_month.sql"
MART_YAML = DBT_DIR / "models" / "marts" / "_sales__models.yml"
CHARTS = PROJECT_ROOT / "superset" / "assets" / "charts"


@pytest.fixture
def catalogue() -> dict:
    """A fresh, mutable copy of the catalogue for each test."""
    return kc.load_catalogue()


def _kpi(catalogue: dict, name: str) -> dict:
    return kc.kpis_by_name(catalogue)[name]


def _squash(sql: str) -> str:
    return " ".join(sql.split())


def _mart_columns() -> dict[str, str]:
    models = yaml.safe_load(MART_YAML.read_text())["models"]
    mart = next(m for m in models if m["name"] == "kpi_rep_month")
    return {c["name"]: c["data_type"] for c in mart["columns"]}


# ------------------------------------------------------------------------------ the catalogue


def test_catalogue_is_valid(catalogue):
    assert kc.validate_catalogue(catalogue) == []
    names = [kpi["name"] for kpi in catalogue["kpis"]]
    # the KPIs of kpi_rep_month and the dashboards, each defined once
    assert set(names) >= {
        "calls",
        "emails",
        "meetings",
        "proposals",
        "quotes",
        "contracts",
        "activities",
        "revenue",
        "cost",
        "gross_margin",
        "margin_pct",
        "revenue_target",
        "attainment",
        "prorated_target_to_date",
        "pace",
    }
    for kpi in catalogue["kpis"]:
        assert set(kpi) == set(kc.FIELDS), kpi["name"]
        assert kpi["label"]["en"] and kpi["label"]["fr"], kpi["name"]
        assert kpi["format"] in kc.FORMATS and kc.D3_SPECIFIER.match(kpi["format"])
    assert _kpi(catalogue, "pace")["thresholds"] == {"red": 0.9, "green": 1.0}
    assert _kpi(catalogue, "margin_pct")["formula"] == "sum(gross_margin) / nullif(sum(revenue), 0)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda k: k.pop("unit"), "missing unit"),
        (lambda k: k.update(format=".1f%"), "known d3 formats"),
        (lambda k: k.update(format="$,.2f"), "known d3 formats"),
        (lambda k: k.update(thresholds={"red": 1.0, "green": 0.9}), "red < green"),
        (lambda k: k.update(direction="lower_is_better"), "red > green"),
        (lambda k: k.update(thresholds={"red": 0.9, "amber": 0.95}), "{red, green}"),
        (lambda k: k.update(formula="avg(pace)"), "ratio of sums"),
        (lambda k: k.update(additive=True), "not additive"),
        (lambda k: k.update(label={"en": "Pace"}), "label must have"),
        (lambda k: k.update(grain="rep_day"), "unknown grain"),
        (lambda k: k.update(formula="sum({{ x }})"), "no Jinja"),
        (lambda k: k.update(colour="blue"), "unknown field"),
    ],
)
def test_validation_rejects_a_bad_kpi(catalogue, change, message):
    change(_kpi(catalogue, "pace"))
    errors = kc.validate_catalogue(catalogue)
    assert any(message in e for e in errors), errors


def test_validation_rejects_a_duplicate_kpi(catalogue):
    catalogue["kpis"].append(copy.deepcopy(_kpi(catalogue, "revenue")))
    assert any("defined twice" in e for e in kc.validate_catalogue(catalogue))


def test_every_mart_kpi_is_a_contract_column():
    columns = _mart_columns()
    for kpi in kc.load_catalogue()["kpis"]:
        assert kpi["name"] in columns, f"{kpi['name']} is not a column of kpi_rep_month"
        wanted = {"ratio": "double precision"}.get(kpi["unit"])
        if wanted:
            assert columns[kpi["name"]] == wanted, kpi["name"]


# ------------------------------------------------------------------------------------ drift


def test_derived_files_are_what_the_catalogue_generates():
    """Fails when someone edits a derived file, or the catalogue without `--write`."""
    drift = kc.sync_all(write=False)
    assert not drift, "\n".join(map(str, drift)) + (
        "\nRun `python -m pilotage.kpi_catalogue --write`."
    )


def _drifted(catalogue: dict) -> dict[str, tuple[str, ...]]:
    return {kc._relative(d.path): d.details for d in kc.sync_all(False, catalogue)}


SERVING = "superset/assets/datasets/pilotage_serving"


def test_a_changed_formula_is_reported_where_it_is_derived(catalogue):
    before = {p: p.read_bytes() for p in (PROJECT_ROOT / SERVING).glob("*.yaml")}
    _kpi(catalogue, "margin_pct")["formula"] = "sum(gross_margin) / nullif(sum(cost), 0)"
    drifted = _drifted(catalogue)
    assert set(drifted) == {
        "docs/kpis.md",
        "dbt/models/marts/_kpi_catalogue.md",
        f"{SERVING}/kpi_rep_month.yaml",
        f"{SERVING}/fct_revenue.yaml",
    }
    assert any("margin_pct: expression" in line for line in drifted[f"{SERVING}/fct_revenue.yaml"])
    # a check writes nothing
    assert {p: p.read_bytes() for p in before} == before


def test_a_changed_row_formula_or_threshold_is_reported_in_the_dbt_macros(catalogue):
    _kpi(catalogue, "pace")["thresholds"]["red"] = 0.8
    assert set(_drifted(catalogue)) == {
        "dbt/macros/_kpi_catalogue.sql",
        "dbt/models/marts/_kpi_catalogue.md",
        "docs/kpis.md",
    }
    catalogue = kc.load_catalogue()
    _kpi(catalogue, "attainment")["row_formula"] = "revenue / revenue_target"
    assert set(_drifted(catalogue)) == {"dbt/macros/_kpi_catalogue.sql", "docs/kpis.md"}


def test_a_changed_label_or_format_is_reported_in_superset_and_docs(catalogue):
    _kpi(catalogue, "pace")["label"]["fr"] = "Allure"
    assert set(_drifted(catalogue)) == {"docs/kpis.md"}
    _kpi(catalogue, "pace")["format"] = ".0%"
    assert set(_drifted(catalogue)) == {"docs/kpis.md", f"{SERVING}/kpi_rep_month.yaml"}


def test_superset_sync_rewrites_only_the_kpi_metrics(catalogue, tmp_path):
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / SERVING, datasets)
    catalogue["superset"]["datasets_dir"] = str(datasets)
    path = datasets / "kpi_rep_month.yaml"
    original = yaml.safe_load(path.read_text())

    _kpi(catalogue, "pace")["formula"] = "sum(revenue) / nullif(sum(prorated_target_to_date), 0)"
    drift = kc.sync_superset_metrics(write=True, catalogue=catalogue)
    assert [d.path.name for d in drift] == ["kpi_rep_month.yaml"]
    assert kc.sync_superset_metrics(write=False, catalogue=catalogue) == []

    rewritten = yaml.safe_load(path.read_text())
    assert path.read_text().startswith("# Managed as code")  # the header comment is kept
    assert {k: v for k, v in rewritten.items() if k != "metrics"} == {
        k: v for k, v in original.items() if k != "metrics"
    }
    old = {m["metric_name"]: m for m in original["metrics"]}
    new = {m["metric_name"]: m for m in rewritten["metrics"]}
    assert set(new) == set(old)
    assert new["pace"]["expression"] == "sum(revenue) / nullif(sum(prorated_target_to_date), 0)"
    assert {k: v for k, v in new["pace"].items() if k != "expression"} == {
        k: v for k, v in old["pace"].items() if k != "expression"
    }
    assert all(new[name] == old[name] for name in new if name != "pace")


def test_superset_sync_reports_a_metric_outside_the_catalogue(catalogue, tmp_path):
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / SERVING, datasets)
    catalogue["superset"]["datasets_dir"] = str(datasets)
    path = datasets / "fct_revenue.yaml"
    data = yaml.safe_load(path.read_text())
    data["metrics"].append({**data["metrics"][0], "metric_name": "avg_revenue"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    drift = kc.sync_superset_metrics(write=True, catalogue=catalogue)
    assert any("avg_revenue: not in the catalogue" in line for d in drift for line in d.details)
    # write cannot fix it: the metric is kept (charts may use it) and still reported
    assert kc.sync_superset_metrics(write=False, catalogue=catalogue)


def test_check_command_exits_non_zero_on_drift(catalogue, tmp_path, monkeypatch, capsys):
    done = subprocess.run(
        [sys.executable, "-m", "pilotage.kpi_catalogue", "--check"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    _kpi(catalogue, "revenue")["label"]["en"] = "Net revenue"
    changed = tmp_path / "kpis.yml"
    changed.write_text(yaml.safe_dump(catalogue, sort_keys=False, allow_unicode=True))
    monkeypatch.setattr(kc, "CATALOGUE_PATH", changed)
    assert kc.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert f"drift: {SERVING}/kpi_rep_month.yaml" in out and "drift: docs/kpis.md" in out


# ------------------------------------------------------------------------------ the dbt side


def test_mart_kpi_columns_are_described_by_the_catalogue():
    models = yaml.safe_load(MART_YAML.read_text())["models"]
    columns = {
        c["name"]: c["description"]
        for c in next(m for m in models if m["name"] == "kpi_rep_month")["columns"]
    }
    catalogue = kc.load_catalogue()
    for kpi in catalogue["kpis"]:
        assert columns[kpi["name"]] == f"{{{{ doc('{kc.doc_block_name(kpi)}') }}}}", kpi["name"]
    # the status column's description states the pace thresholds: they must be the catalogue's
    thresholds = _kpi(catalogue, "pace")["thresholds"]
    assert f"pace >= {thresholds['green']}" in columns["status"]
    assert f"pace <= {thresholds['red']}" in columns["status"]


def test_kpi_rep_month_computes_every_kpi_through_the_catalogue():
    sql = MART_SQL.read_text()
    catalogue = kc.load_catalogue()
    for kpi in catalogue["kpis"]:
        if kpi["row_formula"] is None:
            continue
        call = re.escape(f"{{{{ kpi('{kpi['name']}') }}}}")
        assert re.search(call + r"(\s+as\s+\w+|\s*as\s+decimal\([^)]*\)\)\s+as)", sql), kpi["name"]
        assert re.search(rf"\bas\s+{kpi['name']}\b", sql), kpi["name"]
    for level in kc.THRESHOLD_LEVELS:
        assert f"kpi_threshold('pace', '{level}')" in sql
    # no hand-written threshold left
    assert not re.search(r"pace\s*[<>]=?\s*[0-9]", sql)


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise ValueError(message)


def _render(template: str, **context) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string(template).render(
        type_double=lambda: "double precision", exceptions=_Exceptions, **context
    )


def test_generated_macros_return_the_catalogue_formulas_and_thresholds():
    macros = kc.DBT_MACRO_PATH.read_text()
    for kpi in kc.load_catalogue()["kpis"]:
        if kpi["row_formula"] is not None:
            got = _render(macros + "{{ kpi(name) }}", name=kpi["name"])
            assert _squash(got) == _squash(_render(kpi["row_formula"])), kpi["name"]
        for level, value in (kpi["thresholds"] or {}).items():
            got = _render(
                macros + "{{ kpi_threshold(name, level) }}", name=kpi["name"], level=level
            )
            assert float(got.strip()) == value
    with pytest.raises(ValueError, match="no row_formula"):
        _render(macros + "{{ kpi('no_such_kpi') }}")
    with pytest.raises(ValueError, match="no threshold"):
        _render(macros + "{{ kpi_threshold('pace', 'amber') }}")


def test_compiled_kpi_rep_month_contains_the_catalogue_formulas(tmp_path):
    """dbt itself: the compiled model holds each row formula and the pace thresholds."""
    run_dbt(
        ["compile", "--select", "kpi_rep_month"],
        tmp_path / "compile.duckdb",
        dt.date(2026, 11, 15),
        tmp_path / "target",
    )
    compiled = next((tmp_path / "target" / "compiled").rglob("kpi_rep_month.sql")).read_text()
    compiled = _squash(compiled)
    for kpi in kc.load_catalogue()["kpis"]:
        if kpi["row_formula"] is not None:
            assert _squash(_render(kpi["row_formula"])) in compiled, kpi["name"]
    assert "when pace >= 1.0 then 'on track'" in compiled
    assert "when pace <= 0.9 then 'off track'" in compiled
    # the mart's column descriptions are the catalogue's doc blocks
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    mart = next(n for n in manifest["nodes"].values() if n["name"] == "kpi_rep_month")
    for kpi in kc.load_catalogue()["kpis"]:
        described = mart["columns"][kpi["name"]]["description"]
        assert described.startswith(_squash(kpi["description"])), kpi["name"]


# ------------------------------------------------------------------------- the Superset side


def test_chart_metrics_are_catalogue_kpis_or_declared():
    catalogue = kc.load_catalogue()
    known = {kpi["name"] for kpi in catalogue["kpis"]}
    for names in catalogue["superset"]["other_metrics"].values():
        known |= set(names)
    for path in CHARTS.glob("*.yaml"):
        chart = yaml.safe_load(path.read_text())
        for query in json.loads(chart["query_context"])["queries"]:
            assert set(query["metrics"]) <= known, path.name


def _table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str]) -> None:
    con.execute(f"create table {name} ({', '.join(f'{c} {t}' for c, t in columns.items())})")


def test_superset_formulas_run_on_their_datasets():
    catalogue = kc.load_catalogue()
    files = kc._dataset_files(catalogue)
    con = duckdb.connect()
    for dataset, metrics in kc.superset_metrics(catalogue).items():
        data = yaml.safe_load(files[dataset].read_text())
        _table(con, dataset, {c["column_name"]: c["type"] for c in data["columns"]})
        for metric in metrics:
            con.execute(f"select {metric['expression']} from {dataset}").fetchall()
    # the catalogue formulas also run on the mart's contract columns
    _table(con, "mart", _mart_columns())
    for kpi in catalogue["kpis"]:
        con.execute(f"select {kpi['formula']} from mart").fetchall()


def test_ratio_formulas_are_ratios_of_sums():
    """Two rows: margin 50 on 100 and 30 on 300 make 80 / 400 = 20 %, not the mean 30 %."""
    catalogue = kc.load_catalogue()
    con = duckdb.connect()
    con.execute(
        "create table mart as select * from (values"
        " (100.0, 50.0, 200.0, 100.0), (300.0, 30.0, null, null), (0.0, 0.0, 400.0, 200.0))"
        " as t(revenue, gross_margin, revenue_target, prorated_target_to_date)"
    )

    def value(name: str, where: str = "true") -> float | None:
        sql = f"select {_kpi(catalogue, name)['formula']} from mart where {where}"
        return con.execute(sql).fetchone()[0]

    assert value("margin_pct") == pytest.approx(0.2)
    assert value("margin_pct", "revenue = 0") is None
    # attainment and pace count revenue only where there is a target: 100 / 600, 100 / 300
    assert value("attainment") == pytest.approx(100 / 600)
    assert value("pace") == pytest.approx(100 / 300)
