"""The Superset datasets' columns generated from the dbt manifest (pilotage/superset_columns.py):
what a column becomes, the drift `pilotage kpis --check` reports (naming the dataset and the
column), that `--write` changes only the `columns:` block, and the check of a virtual dataset's
hand-written columns against its SQL. On small hand-made manifests and dataset files: the
expected values are written out here, not read from the generator."""

from __future__ import annotations

import shutil

import pytest
import yaml

from pilotage import kpi_catalogue as kc
from pilotage import superset_columns as sc
from pilotage.generated_files import replace_yaml_block
from pilotage.settings import PROJECT_ROOT

SERVING = PROJECT_ROOT / "superset" / "assets" / "datasets" / "pilotage_serving"


def _column(name: str, data_type: str, description: str = "", label: str | None = None) -> dict:
    config = {"meta": {"label": label}} if label else {}
    return {"name": name, "data_type": data_type, "description": description, "config": config}


def _model(name: str, *columns: dict) -> dict:
    return {
        "name": name,
        "resource_type": "model",
        "schema": "marts",
        "columns": {c["name"]: c for c in columns},
    }


def _manifest(*models: dict) -> dict:
    return {"nodes": {f"model.pilotage.{m['name']}": m for m in models}}


REVENUE = _model(
    "fct_revenue",
    _column("invoice_line_id", "varchar", "ERP invoice line id (primary key)."),
    _column("invoice_number", "varchar", "Document number.", label="Invoice"),
    _column("invoice_date", "date", "Document\n  date."),
    _column("rep_email", "varchar"),
    _column("quantity", "decimal(18,3)"),
    _column("revenue", "decimal(18,2)", "Net amount."),
    _column("margin_pct", "double precision"),
    _column("is_credit_note", "boolean"),
)


@pytest.fixture
def catalogue():
    return kc.load_catalogue()


def test_a_model_column_becomes_a_labelled_typed_superset_column(catalogue):
    columns = {
        c["column_name"]: c for c in sc.model_columns(REVENUE, sc.kpi_column_labels(catalogue))
    }
    assert list(columns) == list(REVENUE["columns"])  # the model's order
    # types as DuckDB names them (what Superset's DuckDB dataset shows)
    assert {n: c["type"] for n, c in columns.items()} == {
        "invoice_line_id": "VARCHAR",
        "invoice_number": "VARCHAR",
        "invoice_date": "DATE",
        "rep_email": "VARCHAR",
        "quantity": "DECIMAL(18,3)",
        "revenue": "DECIMAL(18,2)",
        "margin_pct": "DOUBLE",
        "is_credit_note": "BOOLEAN",
    }
    assert [n for n, c in columns.items() if c["is_dttm"]] == ["invoice_date"]
    # labels: the dbt meta label, the catalogue's label of the KPI, else the name in words
    revenue_label = next(k.label.en for k in catalogue.kpis if k.name == "revenue")
    margin_label = next(k.label.en for k in catalogue.kpis if k.name == "margin_pct")
    assert {n: c["verbose_name"] for n, c in columns.items()} == {
        "invoice_line_id": "Invoice line id",
        "invoice_number": "Invoice",
        "invoice_date": "Invoice date",
        "rep_email": "Rep e-mail",
        "quantity": "Quantity",
        "revenue": revenue_label,
        "margin_pct": margin_label,
        "is_credit_note": "Credit note",
    }
    # ids and e-mails are no dimension: drill-by and filters do not offer them
    hidden = {n for n, c in columns.items() if not c["groupby"]}
    assert hidden == {n for n, c in columns.items() if not c["filterable"]}
    assert hidden == {"invoice_line_id", "rep_email"}
    assert columns["invoice_date"]["description"] == "Document date."
    assert columns["quantity"]["description"] is None


def test_labels_in_words():
    assert sc.label_of("team_name") == "Team"
    assert sc.label_of("participants_count") == "Participants"
    assert sc.label_of("is_current_period") == "Current period"
    assert sc.label_of("manager_email") == "Manager e-mail"
    assert sc.label_of("gap_pct") == "Gap %"
    assert sc.label_of("month_start") == "Month"
    assert sc.label_of("badge", frozenset({"badge", "badge_label"})) == "Badge (code)"


def _dataset_copy(tmp_path, name: str):
    folder = tmp_path / "datasets"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    shutil.copy(SERVING / f"{name}.yaml", path)
    return path


def _write_columns(path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change({c["column_name"]: c for c in data["columns"]})
    path.write_text(replace_yaml_block(path.read_text(), "columns", data["columns"]))


def test_a_drifted_dataset_is_reported_with_its_column_and_fixed_by_write(catalogue, tmp_path):
    path = _dataset_copy(tmp_path, "fct_revenue")
    original = path.read_text()
    files = {"fct_revenue": path}
    manifest = _manifest(REVENUE)
    # the file as the generator writes it for REVENUE, then three hand edits
    sc.sync_superset_columns(True, catalogue, files, manifest)
    assert sc.sync_superset_columns(False, catalogue, files, manifest) == []
    generated = path.read_text()

    def drift(columns):
        columns["quantity"]["type"] = "DECIMAL(18,2)"
        columns["invoice_line_id"]["groupby"] = True
        columns["invoice_number"]["verbose_name"] = "invoice_number"

    _write_columns(path, drift)
    drifted = path.read_text()
    found = sc.sync_superset_columns(False, catalogue, files, manifest)
    assert path.read_text() == drifted  # a check writes nothing
    assert [d.path for d in found] == [path]
    assert sorted(found[0].details) == sorted(
        [
            "dataset fct_revenue: column quantity: type is 'DECIMAL(18,2)',"
            " dbt says 'DECIMAL(18,3)'",
            "dataset fct_revenue: column invoice_line_id: groupby is True, dbt says False",
            "dataset fct_revenue: column invoice_number: verbose_name is 'invoice_number',"
            " dbt says 'Invoice'",
        ]
    )
    # the message of `pilotage kpis --check` names the file, the dataset and the column
    assert str(found[0]).startswith(f"{path}\n    dataset fct_revenue: column ")
    sc.sync_superset_columns(True, catalogue, files, manifest)
    assert path.read_text() == generated

    # only `columns:` changed: the header, UUID, metrics and the other keys are the original's
    before, after = yaml.safe_load(original), yaml.safe_load(generated)
    assert {k: v for k, v in after.items() if k != "columns"} == {
        k: v for k, v in before.items() if k != "columns"
    }
    assert generated.split("\ncolumns:\n")[0] == original.split("\ncolumns:\n")[0]


def test_a_column_added_or_dropped_in_dbt_is_drift(catalogue, tmp_path):
    path = _dataset_copy(tmp_path, "fct_revenue")
    files = {"fct_revenue": path}
    sc.sync_superset_columns(True, catalogue, files, _manifest(REVENUE))
    columns = dict(REVENUE["columns"])
    columns.pop("rep_email")
    columns["customer_name"] = _column("customer_name", "varchar", "ERP customer name.")
    changed = {**REVENUE, "columns": columns}
    details = sc.sync_superset_columns(False, catalogue, files, _manifest(changed))[0].details
    assert "dataset fct_revenue: column customer_name: missing (the dbt model has it)" in details
    assert (
        "dataset fct_revenue: column rep_email: not in the dbt model (and not a calculated column)"
        in details
    )


def test_calculated_columns_are_kept_after_the_models(catalogue, tmp_path):
    path = _dataset_copy(tmp_path, "kpi_objectives")
    calculated = [c for c in yaml.safe_load(path.read_text())["columns"] if c["expression"]]
    assert {c["column_name"] for c in calculated} >= {"metric_label", "period_label"}
    model = _model(
        "kpi_objectives", _column("metric", "varchar"), _column("period_grain", "varchar")
    )
    sc.sync_superset_columns(True, catalogue, {"kpi_objectives": path}, _manifest(model))
    columns = yaml.safe_load(path.read_text())["columns"]
    assert columns[2:] == calculated
    # a code next to its calculated label reads as a code
    assert columns[0]["verbose_name"] == "Metric (code)"


def test_a_dataset_without_a_model_is_drift(catalogue, tmp_path):
    path = _dataset_copy(tmp_path, "fct_revenue")
    found = sc.sync_superset_columns(False, catalogue, {"fct_revenue": path}, _manifest())
    assert found[0].details == ("dataset fct_revenue: no dbt model fct_revenue in schema marts",)


def test_a_virtual_dataset_column_must_come_out_of_its_sql(catalogue, tmp_path):
    path = _dataset_copy(tmp_path, "kpi_availability")
    data = yaml.safe_load(path.read_text())
    assert data["sql"] and [c["column_name"] for c in data["columns"]] == ["kpi", "reason"]
    availability = _model(
        "kpi_availability",
        _column("kpi_name", "varchar"),
        _column("label_en", "varchar"),
        _column("reason", "varchar"),
        _column("is_available", "boolean"),
    )
    files = {"kpi_availability": path}
    assert sc.sync_superset_columns(False, catalogue, files, _manifest(availability)) == []
    data["columns"][0]["column_name"] = "kpi_label"
    data["columns"][1]["type"] = "INTEGER"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    found = sc.sync_superset_columns(True, catalogue, files, _manifest(availability))
    assert set(found[0].details) == {
        "dataset kpi_availability: column kpi_label: its sql does not return it",
        "dataset kpi_availability: column reason: type is 'INTEGER', its sql gives 'VARCHAR'",
        "dataset kpi_availability: column kpi: its sql returns it but the dataset does not list it",
    }
    # hand-written: --write reports it and leaves the file as it is
    assert yaml.safe_load(path.read_text()) == data
    # a mart the SQL reads that is gone
    without = sc.sync_superset_columns(False, catalogue, files, _manifest())
    assert "its sql does not run on the dbt marts" in without[0].details[0]


def test_the_command_checks_the_columns_against_the_manifest(tmp_path, monkeypatch):
    """`pilotage kpis --check` with the manifest (the CLI parses dbt first and passes it; its
    run on the real tree is tests/unit/test_kpi_catalogue.py::test_check_command_...)."""
    path = _dataset_copy(tmp_path, "fct_revenue")
    monkeypatch.setattr(kc, "_dataset_files", lambda _catalogue: {"fct_revenue": path})
    lines: list[str] = []
    assert kc.run(write=False, echo=lines.append, manifest=_manifest(REVENUE)) == 1
    report = "\n".join(lines)
    assert "dataset fct_revenue: column invoice_id: not in the dbt model" in report
    assert "dataset fct_revenue: column rep_email: missing (the dbt model has it)" in report
    assert report.endswith(
        "Run `pilotage kpis --write` to regenerate from dbt/kpis.yml and the dbt models."
    )


def test_a_virtual_dataset_offers_no_id_as_a_dimension(catalogue, tmp_path):
    path = _dataset_copy(tmp_path, "activities")
    data = yaml.safe_load(path.read_text())
    next(c for c in data["columns"] if c["column_name"] == "rep_email")["groupby"] = True
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    found = sc.sync_superset_columns(False, catalogue, {"activities": path}, _manifest())
    assert (
        "dataset activities: column rep_email: an id or e-mail is not groupable nor filterable"
        in found[0].details
    )
    sc.sync_superset_columns(True, catalogue, {"activities": path}, _manifest())
    fixed = next(
        c for c in yaml.safe_load(path.read_text())["columns"] if c["column_name"] == "rep_email"
    )
    assert (fixed["groupby"], fixed["filterable"]) == (False, False)
    again = sc.sync_superset_columns(False, catalogue, {"activities": path}, _manifest())
    assert not any("rep_email" in detail for drift in again for detail in drift.details)


def test_drill_to_detail_on_activities_reads_as_a_record():
    """Superset 6.1's drill-to-detail lists every column of the dataset, in the dataset's order
    (superset/common/query_actions.py _get_drill_detail), headed by the verbose names: an
    activity reads date, rep, account, type, status first; ids and e-mails come last and are
    offered to no drill-by or filter."""
    columns = yaml.safe_load((SERVING / "activities.yaml").read_text())["columns"]
    names = [c["column_name"] for c in columns]
    assert names[:5] == [
        "activity_date",
        "rep_name",
        "account_name",
        "activity_type_label",
        "status",
    ]
    assert [c["verbose_name"] for c in columns[:5]] == [
        "Date",
        "Rep",
        "Account",
        "Activity type",
        "Status",
    ]
    technical = ["activity_id", "rep_id", "rep_email", "team_id", "manager_email"]
    assert names[-len(technical) :] == technical
    for column in columns:
        assert column["verbose_name"], column["column_name"]
        shown = column["column_name"] not in technical
        assert column["groupby"] is shown and column["filterable"] is shown, column["column_name"]
