"""The KPI catalogue (dbt/kpis.yml) and what is derived from it.

The catalogue validates; the dbt macro file, the Superset datasets' metrics and docs/kpis.md are
exactly what the generator makes of it now (drift fails); a change to the catalogue is reported
for each artefact it touches (so the drift test can fail); every KPI is a described contract
column of the mart of each of its grains (kpi_rep_month, kpi_rep_day, kpi_performance,
kpi_funnel, kpi_objectives and the driver trees) and is computed through the catalogue's
macros; the Superset formulas run on their datasets' columns and are ratios of sums. The values
of the row formulas are checked independently by the marts' unit tests and
tests/warehouse/test_kpi_mart.py, tests/warehouse/test_kpi_performance.py,
tests/warehouse/test_objectives.py.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

import duckdb
import pytest
import yaml

from pilotage import kpi_catalogue as kc
from pilotage.settings import DBT_PROJECT_DIR as DBT_DIR
from pilotage.settings import PROJECT_ROOT
from tests.catalogue_helpers import grain_models as _grain_models
from tests.catalogue_helpers import render as _render
from tests.catalogue_helpers import squash as _squash

MODELS_DIR = DBT_DIR / "models"
MART_SQL = MODELS_DIR / "marts" / "kpi_rep_month.sql"
MART_YAML = MODELS_DIR / "marts" / "_sales__models.yml"
CHARTS = PROJECT_ROOT / "superset" / "assets" / "charts"


@pytest.fixture
def catalogue() -> kc.Catalogue:
    return kc.load_catalogue()


def _raw() -> dict:
    """The catalogue's YAML data, a fresh copy to change as an edit of dbt/kpis.yml would."""
    return yaml.safe_load(kc.CATALOGUE_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def raw() -> dict:
    return _raw()


def _kpi(catalogue: kc.Catalogue, name: str) -> kc.Kpi:
    return next(kpi for kpi in catalogue.kpis if kpi.name == name)


def _raw_kpi(raw: dict, name: str) -> dict:
    return next(kpi for kpi in raw["kpis"] if kpi["name"] == name)


def _mart_columns() -> dict[str, str]:
    return _model_columns("kpi_rep_month")


@functools.cache
def _model_entries() -> dict[str, dict]:
    """Every model's entry in the YAML property files under dbt/models, read once (the files
    are large: reading them again for each KPI and grain took most of this module's time)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    entries = {}
    for path in sorted(MODELS_DIR.rglob("*.yml")):
        for entry in (yaml.load(path.read_text(), Loader=loader) or {}).get("models") or []:
            entries[entry["name"]] = entry
    return entries


def _model_entry(model: str) -> dict:
    """The model's entry in the YAML property files under dbt/models (do not mutate it)."""
    entry = _model_entries().get(model)
    if entry is None:
        raise AssertionError(f"{model} has no entry in a YAML file under dbt/models")
    return entry


def _model_columns(model: str) -> dict[str, str]:
    return {c["name"]: c["data_type"] for c in _model_entry(model)["columns"]}


def _model_sql(model: str) -> str:
    return next(MODELS_DIR.rglob(f"{model}.sql")).read_text()


# ------------------------------------------------------------------------------ the catalogue


def test_catalogue_is_valid(catalogue, raw):
    assert kc.validate_catalogue(raw) == []
    names = [kpi.name for kpi in catalogue.kpis]
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
    for entry in raw["kpis"]:
        assert set(kc.FIELDS) <= set(entry) <= set(kc.FIELDS + kc.OPTIONAL_FIELDS), entry["name"]
    for kpi in catalogue.kpis:
        assert kpi.label.en and kpi.label.fr, kpi.name
        assert kpi.format in kc.FORMATS and kc.D3_SPECIFIER.match(kpi.format)
    # pace and attainment: the status rule (10 % or more behind is red), one KPI each for
    # kpi_objectives and kpi_rep_month (which shows the rep-month revenue rows of kpi_objectives)
    for name in ("pace", "attainment"):
        assert _kpi(catalogue, name).thresholds == kc.Thresholds(red=0.9, green=1.0), name
        assert _kpi(catalogue, name).grains == ("rep_month", "objectives"), name
    assert _kpi(catalogue, "margin_pct").formula == "sum(gross_margin) / nullif(sum(revenue), 0)"


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
        # a KPI added in English only: the message says what to write where
        (
            lambda k: k.update(description="Actual / target due to date."),
            "description must have exactly en, fr (in dbt/kpis.yml write `description: {en:",
        ),
        (lambda k: k.update(description={"en": "Pace.", "fr": " "}), "empty description"),
        (lambda k: k.update(grain="rep_year"), "unknown grain"),
        (lambda k: k.update(grain=["rep_month", "rep_year"]), "unknown grain"),
        (lambda k: k.update(grain=["rep_month", "rep_month"]), "distinct grains"),
        (lambda k: k.update(grain=[]), "distinct grains"),
        (lambda k: k.update(unit="rate", formula="sum(revenue)"), "sum(..) / nullif"),
        (lambda k: k.update(formula="sum({{ x }})"), "no Jinja"),
        (lambda k: k.update(colour="blue"), "unknown field"),
        (lambda k: k.update(column="Pace Column"), "column must be snake_case"),
    ],
)
def test_validation_rejects_a_bad_kpi(raw, change, message):
    change(_raw_kpi(raw, "pace"))
    errors = kc.validate_catalogue(raw)
    assert any(message in e for e in errors), errors
    with pytest.raises(kc.CatalogueError, match=re.escape(message)):
        kc.parse_catalogue(raw)


def test_validation_rejects_a_duplicate_kpi(raw):
    raw["kpis"].append(copy.deepcopy(_raw_kpi(raw, "revenue")))
    assert any("defined twice" in e for e in kc.validate_catalogue(raw))


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        (None, "superset.currency` must be"),
        ({"symbol": "EUR"}, "superset.currency` must be"),
        ({"symbol": "€", "symbol_position": "suffix"}, "ISO 4217"),
        ({"symbol": "eur", "symbol_position": "suffix"}, "ISO 4217"),
        ({"symbol": "EUR", "symbol_position": "after"}, "prefix, suffix"),
    ],
)
def test_validation_rejects_a_bad_currency(raw, currency, message):
    raw["superset"]["currency"] = currency
    assert any(message in e for e in kc.validate_catalogue(raw)), kc.validate_catalogue(raw)


def _dataset_metrics() -> dict[str, dict]:
    """Every saved metric of the Superset datasets on disk, by (dataset, metric name)."""
    metrics = {}
    for path in sorted((PROJECT_ROOT / SERVING).glob("*.yaml")):
        dataset = yaml.safe_load(path.read_text())
        for metric in dataset["metrics"]:
            metrics[dataset["table_name"], metric["metric_name"]] = metric
    return metrics


def test_every_amount_metric_carries_the_configured_currency(raw):
    """The datasets on disk: an amount KPI's metric has the currency written in dbt/kpis.yml
    (read here from the YAML, not through the generator), every other metric none."""
    configured = raw["superset"]["currency"]
    want = {"symbol": configured["symbol"], "symbolPosition": configured["symbol_position"]}
    units = {entry["name"]: entry["unit"] for entry in raw["kpis"]}
    metrics = _dataset_metrics()
    amounts = [key for key in metrics if units.get(key[1]) == "currency"]
    assert len(amounts) >= 10, amounts  # revenue, cost, margin, pipeline, targets, effects...
    assert {("kpi_rep_month", "revenue"), ("kpi_rep_month", "revenue_target")} <= set(amounts)
    for key, metric in metrics.items():
        if units.get(key[1]) == "currency":
            assert metric["currency"] == want, key
        else:
            assert metric.get("currency") is None, key


def test_a_changed_currency_is_drift_in_the_datasets_only(raw):
    raw["superset"]["currency"] = {"symbol": "USD", "symbol_position": "prefix"}
    drifted = _drifted(raw)
    assert set(drifted) == {
        "docs/kpis.md",
        f"{SERVING}/fct_revenue.yaml",
        f"{SERVING}/kpi_performance.yaml",
        f"{SERVING}/kpi_rep_month.yaml",
    }
    details = drifted[f"{SERVING}/kpi_rep_month.yaml"]
    assert any(d.startswith("metric revenue: currency is ") for d in details), details
    assert not any(d.startswith("metric pace:") for d in details), details


def test_every_mart_kpi_is_a_contract_column():
    catalogue = kc.load_catalogue()
    for kpi in catalogue.kpis:
        for model in _grain_models(catalogue, kpi):
            columns = _model_columns(model)
            assert kpi.column in columns, f"{kpi.name}: {kpi.column} is not a column of {model}"
            if kpi.unit in kc.QUOTIENT_UNITS:
                assert columns[kpi.column] == "double precision", (model, kpi.name)


def test_a_kpi_column_defaults_to_its_name(catalogue):
    assert _kpi(catalogue, "pace").column == "pace"
    assert _kpi(catalogue, "objective_target").column == "target"
    section = kc.render_docs(catalogue).split("## objective_target\n")[1].split("\n## ")[0]
    assert "| Column | `target` |" in section and "`kpi_objectives`" in section


def test_a_kpi_can_have_several_grains(catalogue, raw):
    revenue = _kpi(catalogue, "revenue")
    assert revenue.grains == ("rep_month", "rep_day", "performance")
    _raw_kpi(raw, "revenue")["grain"] = "rep_month"
    assert _kpi(kc.parse_catalogue(raw), "revenue").grains == ("rep_month",)
    docs = kc.render_docs(catalogue)
    section = docs.split("## revenue\n")[1].split("\n## ")[0]
    assert "`kpi_rep_month`" in section and "`kpi_performance`" in section


# ------------------------------------------------------------------------------------ drift


def test_derived_files_are_what_the_catalogue_generates():
    """Fails when someone edits a derived file, or the catalogue without `--write`."""
    drift = kc.sync_all(write=False)
    assert not drift, "\n".join(map(str, drift)) + ("\nRun `pilotage kpis --write`.")


def _drifted(raw: dict) -> dict[str, tuple[str, ...]]:
    """The drift of each derived file once dbt/kpis.yml is changed to ``raw``."""
    return {kc.relative(d.path): d.details for d in kc.sync_all(False, kc.parse_catalogue(raw))}


SERVING = "superset/assets/datasets/pilotage_serving"


def test_a_changed_formula_is_reported_where_it_is_derived(raw):
    before = {p: p.read_bytes() for p in (PROJECT_ROOT / SERVING).glob("*.yaml")}
    _raw_kpi(raw, "margin_pct")["formula"] = "sum(gross_margin) / nullif(sum(cost), 0)"
    drifted = _drifted(raw)
    assert set(drifted) == {
        "docs/kpis.md",
        "dbt/models/marts/_kpi_catalogue.md",
        f"{SERVING}/kpi_rep_month.yaml",
        f"{SERVING}/kpi_performance.yaml",
        f"{SERVING}/fct_revenue.yaml",
    }
    assert any("margin_pct: expression" in line for line in drifted[f"{SERVING}/fct_revenue.yaml"])
    # a check writes nothing
    assert {p: p.read_bytes() for p in before} == before


def test_a_changed_row_formula_or_threshold_is_reported_in_the_dbt_macros(raw):
    _raw_kpi(raw, "pace")["thresholds"]["red"] = 0.8
    assert set(_drifted(raw)) == {
        "dbt/macros/_kpi_catalogue.sql",
        "dbt/models/marts/_kpi_catalogue.md",
        "docs/kpis.md",
    }
    raw = _raw()
    _raw_kpi(raw, "attainment")["row_formula"] = "revenue / revenue_target"
    assert set(_drifted(raw)) == {"dbt/macros/_kpi_catalogue.sql", "docs/kpis.md"}


def test_a_changed_label_or_format_is_reported_in_superset_and_docs(raw):
    # labels reach the docs, and the dbt macros (marts.kpi_availability names the KPIs)
    _raw_kpi(raw, "pace")["label"]["fr"] = "Allure"
    assert set(_drifted(raw)) == {"docs/kpis.md", "dbt/macros/_kpi_catalogue.sql"}
    _raw_kpi(raw, "pace")["format"] = ".0%"
    assert set(_drifted(raw)) == {
        "docs/kpis.md",
        "dbt/macros/_kpi_catalogue.sql",
        f"{SERVING}/kpi_rep_month.yaml",
    }


def test_superset_sync_rewrites_only_the_kpi_metrics(raw, tmp_path):
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / SERVING, datasets)
    raw["superset"]["datasets_dir"] = str(datasets)
    path = datasets / "kpi_rep_month.yaml"
    original = yaml.safe_load(path.read_text())

    new_expression = "sum(revenue) / nullif(sum(prorated_target_to_date), 0)"
    _raw_kpi(raw, "pace")["superset"]["kpi_rep_month"]["expression"] = new_expression
    catalogue = kc.parse_catalogue(raw)
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
    assert new["pace"]["expression"] == new_expression
    assert {k: v for k, v in new["pace"].items() if k != "expression"} == {
        k: v for k, v in old["pace"].items() if k != "expression"
    }
    assert all(new[name] == old[name] for name in new if name != "pace")


def test_superset_sync_reports_a_metric_outside_the_catalogue(catalogue, tmp_path):
    datasets = tmp_path / "datasets"
    shutil.copytree(PROJECT_ROOT / SERVING, datasets)
    catalogue = dataclasses.replace(catalogue, datasets_dir=datasets)
    path = datasets / "fct_revenue.yaml"
    data = yaml.safe_load(path.read_text())
    data["metrics"].append({**data["metrics"][0], "metric_name": "avg_revenue"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    drift = kc.sync_superset_metrics(write=True, catalogue=catalogue)
    assert any("avg_revenue: not in the catalogue" in line for d in drift for line in d.details)
    # write cannot fix it: the metric is kept (charts may use it) and still reported
    assert kc.sync_superset_metrics(write=False, catalogue=catalogue)


def test_check_command_exits_non_zero_on_drift(raw, tmp_path, monkeypatch, capsys):
    done = subprocess.run(
        [sys.executable, "-m", "pilotage_cli", "kpis", "--check"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    _raw_kpi(raw, "revenue")["label"]["en"] = "Net revenue"
    changed = tmp_path / "kpis.yml"
    changed.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    monkeypatch.setattr(kc, "CATALOGUE_PATH", changed)
    assert kc.run(write=False) == 1
    out = capsys.readouterr().out
    assert f"drift: {SERVING}/kpi_rep_month.yaml" in out and "drift: docs/kpis.md" in out


# ------------------------------------------------------------------------------ the dbt side


def test_mart_kpi_columns_are_described_by_the_catalogue():
    catalogue = kc.load_catalogue()
    for kpi in catalogue.kpis:
        for model in _grain_models(catalogue, kpi):
            described = {c["name"]: c["description"] for c in _model_entry(model)["columns"]}
            wanted = rf"\{{\{{ doc\((['\"]){kpi.doc_block_name}\1\) \}}\}}"
            assert re.fullmatch(wanted, described[kpi.column]), (model, kpi.name)
    # the status columns' descriptions state the pace thresholds: they must be the catalogue's
    for model in ("kpi_rep_month", "kpi_objectives"):
        columns = {c["name"]: c["description"] for c in _model_entry(model)["columns"]}
        thresholds = _kpi(catalogue, "pace").thresholds
        assert f"pace >= {thresholds.green}" in columns["status"], model
        assert f"pace <= {thresholds.red}" in columns["status"], model


def test_performance_marts_compute_their_ratios_through_kpi():
    """Their ratios all come from kpi() (the compiled SQL: tests/warehouse/
    test_kpi_catalogue_compiled.py); a zero denominator gives NULL (the formulas below, the marts'
    rows against the oracle in tests/warehouse/test_kpi_performance.py)."""
    for model in ("kpi_rep_day", "kpi_performance", "kpi_funnel"):
        assert "kpi(" in _model_sql(model), model


# Contract types whose zero is a number (the others are NULL in the zero row below).
NUMERIC_TYPES = ("double", "decimal", "numeric", "bigint", "integer", "int", "float", "real")


def test_a_zero_denominator_gives_null_never_an_error():
    """Behaviour, not the text of the SQL: every KPI formula that divides, over each mart of its
    grains, gives NULL on a row of zeros (no division-by-zero error, no infinity)."""
    catalogue = kc.load_catalogue()
    con = duckdb.connect()
    # a bare division by zero is NaN here (DuckDB's IEEE default), so NULL proves a safe division
    bare = con.execute("select sum(x) / sum(x) from (values (0.0::double)) as t(x)").fetchone()[0]
    assert bare is not None
    zero_rows: set[str] = set()
    checked = []
    for kpi in catalogue.kpis:
        for model in _grain_models(catalogue, kpi):
            formula = kpi.formula_for(model)
            if "/" not in formula:
                continue
            if model not in zero_rows:
                columns = _model_columns(model)
                _table(con, model, columns)
                zeros = [
                    "0" if t.lower().startswith(NUMERIC_TYPES) else "null" for t in columns.values()
                ]
                con.execute(f"insert into {model} values ({', '.join(zeros)})")
                zero_rows.add(model)
            value = con.execute(f"select {formula} from {model}").fetchone()[0]
            assert value is None, f"{kpi.name} on {model}: {value!r} on a zero denominator"
            checked.append(kpi.name)
    # the ratios, rates and durations of the catalogue are all there
    quotients = {k.name for k in catalogue.kpis if k.unit in kc.QUOTIENT_UNITS}
    assert quotients <= set(checked), quotients - set(checked)


def test_kpi_rep_month_computes_every_kpi_through_the_catalogue():
    """Its own KPIs through kpi(); the objectives' (target, attainment, pace, status) are read
    from kpi_objectives, never recomputed: one definition of each."""
    sql = MART_SQL.read_text()
    catalogue = kc.load_catalogue()
    for kpi in catalogue.kpis:
        if kpi.row_formula is None or "rep_month" not in kpi.grains or "objectives" in kpi.grains:
            continue
        if kpi.additive:  # a sum of the additive day base, kpi_rep_day
            assert f"sum({kpi.name}) as {kpi.name}" in sql, kpi.name
        else:
            assert f"kpi('{kpi.name}')" in sql, kpi.name
        assert re.search(rf"\bas\s+{kpi.name}\b", sql), kpi.name
    assert "ref('kpi_objectives')" in sql
    for column in ("attainment", "pace", "status", "prorated_target_to_date"):
        assert re.search(rf"objectives\.{column}\b", sql), column
    # no hand-written threshold (ratios: test_a_zero_denominator_gives_null_never_an_error)
    assert not re.search(r"pace\s*[<>]=?\s*[0-9]", sql)


@pytest.mark.parametrize(
    ("grain", "model"),
    [
        ("objectives", "kpi_objectives"),
        ("revenue_drivers", "kpi_revenue_drivers"),
        ("margin_drivers", "kpi_margin_drivers"),
    ],
)
def test_objective_marts_compute_their_kpis_through_the_catalogue(grain, model):
    """Each KPI of the grain that has a row formula is `{{ kpi(..) }} as <its column>`."""
    catalogue = kc.load_catalogue()
    assert catalogue.grains[grain].model == model
    sql = _model_sql(model)
    kpis = [k for k in catalogue.kpis if grain in k.grains and k.row_formula]
    assert kpis, grain
    for kpi in kpis:
        call = re.escape(f"{{{{ kpi('{kpi.name}') }}}}")
        as_column = rf"\s+as\s+{kpi.column}\b"
        assert re.search(call + rf"({as_column}|\s+as\s+decimal\([^)]*\)\){as_column})", sql), (
            model,
            kpi.name,
        )
    if model == "kpi_objectives":
        for level in kc.THRESHOLD_LEVELS:
            assert f"kpi_threshold('pace', '{level}')" in sql
        assert not re.search(r"pace\s*[<>]=?\s*[0-9]", sql)


def test_generated_macros_return_the_catalogue_formulas_and_thresholds():
    macros = kc.DBT_MACRO_PATH.read_text()
    for kpi in kc.load_catalogue().kpis:
        if kpi.row_formula is not None:
            got = _render(macros + "{{ kpi(name) }}", name=kpi.name)
            formula = _render(kpi.row_formula).strip()
            # quotients go through the one rounding rule (dbt macro round_ratio)
            wanted = f"round_ratio({formula})" if kpi.is_rounded else formula
            assert _squash(got) == _squash(wanted), kpi.name
        thresholds = dataclasses.asdict(kpi.thresholds) if kpi.thresholds else {}
        for level, value in thresholds.items():
            got = _render(macros + "{{ kpi_threshold(name, level) }}", name=kpi.name, level=level)
            assert float(got.strip()) == value
    with pytest.raises(ValueError, match="no row_formula"):
        _render(macros + "{{ kpi('no_such_kpi') }}")
    with pytest.raises(ValueError, match="no threshold"):
        _render(macros + "{{ kpi_threshold('pace', 'amber') }}")


# ------------------------------------------------------------------------- the Superset side


def test_chart_metrics_are_catalogue_kpis_or_declared():
    catalogue = kc.load_catalogue()
    known = {kpi.name for kpi in catalogue.kpis}
    for names in catalogue.other_metrics.values():
        known |= set(names)
    paths = sorted(CHARTS.rglob("*.yaml"))  # charts/<dashboard>/ too
    named = 0
    for path in paths:
        chart = yaml.safe_load(path.read_text())
        for query in json.loads(chart["query_context"])["queries"]:
            # saved metrics by name; ad-hoc SQL ones are checked on their dataset's columns in
            # tests/unit/test_superset_assets.py
            names = {m for m in query["metrics"] if isinstance(m, str)}
            assert names <= known, path.relative_to(CHARTS)
            named += len(names)
    assert len(paths) >= 14 and named, "the chart files were not found"


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
    # the catalogue formulas also run on the contract columns of the marts of their grains
    con.execute("create schema marts")
    for grain in catalogue.grains.values():
        _table(con, f"marts.{grain.model}", _model_columns(grain.model))
    for kpi in catalogue.kpis:
        for model in _grain_models(catalogue, kpi):
            con.execute(f"select {kpi.formula_for(model)} from marts.{model}").fetchall()


def _formula_values(rows: str, columns: str, model: str = "mart") -> Callable[..., float | None]:
    """value(name, where): the catalogue formula of KPI `name` over the rows (SQL values), as
    written for ``model`` (kc.Kpi.formula_for)."""
    catalogue = kc.load_catalogue()
    con = duckdb.connect()
    con.execute(f"create table mart as select * from (values {rows}) as t({columns})")

    def value(name: str, where: str = "true") -> float | None:
        formula = _kpi(catalogue, name).formula_for(model)
        sql = f"select {formula} from mart where {where}"
        return con.execute(sql).fetchone()[0]

    return value


def test_ratio_formulas_are_ratios_of_sums():
    """Two rows: margin 50 on 100 and 30 on 300 make 80 / 400 = 20 %, not the mean 30 %."""
    value = _formula_values(
        "(100.0, 50.0, 200.0, 100.0), (300.0, 30.0, null, null), (0.0, 0.0, 400.0, 200.0)",
        "revenue, gross_margin, revenue_target, prorated_target_to_date",
        model="kpi_rep_month",
    )
    assert value("margin_pct") == pytest.approx(0.2)
    assert value("margin_pct", "revenue = 0") is None
    # attainment and pace count revenue only where there is a target: 100 / 600, 100 / 300
    assert value("attainment") == pytest.approx(100 / 600)
    assert value("pace") == pytest.approx(100 / 300)


def test_performance_ratios_are_ratios_of_sums():
    """Two members: 3 won / 1 lost and 1 won / 5 lost make 4 / 10 = 40 %, not the mean 49.6 %;
    velocity = open qualified x win rate x deal size / cycle days, each from the sums."""
    catalogue = kc.load_catalogue()
    con = duckdb.connect()
    con.execute(
        "create table mart as select * from (values"
        " (3, 1, 300.0, 100.0, 30, 10, 20, 5),"
        " (1, 5, 100.0, 500.0, 50, 0, 25, 3))"
        " as t(won_opportunities, lost_opportunities, won_amount, lost_amount,"
        " won_cycle_days, open_qualified_opportunities, activities, working_days)"
    )

    def value(name: str) -> float | None:
        return con.execute(f"select {_kpi(catalogue, name).formula} from mart").fetchone()[0]

    assert value("win_rate") == pytest.approx(4 / 10)
    assert value("win_rate_by_value") == pytest.approx(400 / 1000)
    assert value("average_deal_size") == pytest.approx(400 / 4)
    assert value("sales_cycle_days") == pytest.approx(80 / 4)
    assert value("sales_velocity") == pytest.approx(10 * (4 / 10) * (400 / 4) / (80 / 4))
    assert value("activities_per_working_day") == pytest.approx(45 / 8)
    con.execute("delete from mart")
    for name in ("win_rate", "average_deal_size", "sales_velocity", "activities_per_working_day"):
        assert value(name) is None, name


def test_objectives_ratios_are_ratios_of_sums():
    """Three revenue rows: actual 50 on target 100 (40 due to date, 2 working days left), 300 on
    200 (200 due, none left) and 70 without a target: attainment 350 / 300, not the mean of
    0.5 and 1.5; pace 350 / 240; gap 50 and 50 / 300; required rate 50 / 2, the row without a
    target and the one with no day left out."""
    value = _formula_values(
        "(50.0, 100.0, 40.0, 2), (300.0, 200.0, 200.0, 0), (70.0, null, null, 3)",
        "actual, target, prorated_target_to_date, remaining_working_days",
    )
    assert value("attainment") == pytest.approx(350 / 300)
    assert value("pace") == pytest.approx(350 / 240)
    assert value("gap") == pytest.approx(50)
    assert value("gap_pct") == pytest.approx(50 / 300)
    assert value("required_daily_rate") == pytest.approx(50 / 2)
    assert value("objective_target") == pytest.approx(300)
    for name in ("attainment", "pace", "gap_pct", "required_daily_rate"):
        assert value(name, "target is null") is None, name
