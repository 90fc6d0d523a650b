"""The Superset datasets' ``columns:``, generated from the dbt manifest and the KPI catalogue.

As preset-cli's ``superset sync dbt-core`` does (its ``compute_columns_metadata``: dbt's column
metadata wins, Superset-only calculated columns are kept), but as files: ``pilotage kpis --write``
rewrites the ``columns:`` of every physical dataset (schema marts, table = a dbt model) and
``pilotage kpis --check`` (``make lint``) reports, per dataset and column, where a file drifted
from the model. For each column of the model, in the model's order:

- ``type``: the contract's ``data_type`` as DuckDB names it (``double precision`` -> DOUBLE);
- ``verbose_name``: the column's dbt ``meta.label``, else the KPI catalogue's label of the KPI
  the column carries, else the name in words (``invoice_date`` -> "Invoice date");
- ``description``: the column's dbt description (KPI columns: the catalogue's doc block);
- ``is_dttm``: a date or timestamp;
- ``groupby`` / ``filterable``: false for technical ids and e-mails, so that drill-by and the
  filter pickers offer the dimensions people read (names, types, periods) only.

Superset 6.1's dataset columns carry no number format (ImportV1ColumnSchema has no d3format or
currency): amounts get theirs from the saved metrics (the catalogue) and the charts' column_config.

Calculated columns (``expression``) are Superset's own: kept as written, after the model's. A
virtual dataset (``sql:``) keeps its hand-written columns, but its SQL is run on empty tables built
from the marts' contracts and every column it lists must come out of it with that type.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import yaml

from pilotage.generated_files import Drift, entry_differences, replace_yaml_block
from pilotage.settings import DBT_PROJECT_DIR

if TYPE_CHECKING:
    from pilotage.kpi_catalogue import Catalogue

MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
MARTS_SCHEMA = "marts"
# The keys generated from dbt, and the order Superset exports a column's keys in.
MANAGED_COLUMN_KEYS = (
    "verbose_name",
    "type",
    "is_dttm",
    "groupby",
    "filterable",
    "description",
)
COLUMN_KEY_ORDER = (
    "column_name",
    "verbose_name",
    "is_dttm",
    "is_active",
    "type",
    "advanced_data_type",
    "groupby",
    "filterable",
    "expression",
    "description",
    "python_date_format",
    "extra",
)
COLUMN_DEFAULTS = {
    "is_active": True,
    "advanced_data_type": None,
    "expression": None,
    "python_date_format": None,
    "extra": {},
}
# Technical keys: an id or an e-mail is never a dimension a chart or a drill groups by.
TECHNICAL = re.compile(r"(^|_)(id|email)$")
DATE_TYPES = re.compile(r"^(DATE|TIMESTAMP)")


class ManifestError(ValueError):
    """dbt/target/manifest.json is missing or unreadable; the message says what to run."""


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    """The dbt manifest (default dbt/target/manifest.json; `pilotage kpis` parses dbt first)."""
    path = path or MANIFEST_PATH
    if not path.is_file():
        raise ManifestError(f"no dbt manifest at {path}: run `pilotage dbt-parse` first")
    return json.loads(path.read_text(encoding="utf-8"))


def mart_models(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest's models in schema marts, by name (= the Superset dataset's table_name)."""
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == MARTS_SCHEMA
    }


@functools.cache
def duckdb_type(data_type: str) -> str:
    """A dbt contract data_type as DuckDB (and so Superset's DuckDB dataset) names it."""
    with duckdb.connect() as con:
        return con.execute(f"select typeof(cast(null as {data_type}))").fetchone()[0]


# Names whose words are not the label people say.
CONVENTIONAL_LABELS = {"month_start": "Month", "as_of_date": "As of"}


def label_of(name: str, names: frozenset[str] = frozenset()) -> str:
    """A column name in words, in the dashboards' sentence case (the catalogue's labels read
    "Win rate", "Gross margin"): ``invoice_date`` -> "Invoice date", ``rep_name`` -> "Rep",
    ``is_live`` -> "Live", ``participants_count`` -> "Participants", ``rep_email`` -> "Rep
    e-mail", ``margin_pct`` -> "Margin %"; a code next to its ``<name>_label`` (``names``: the
    model's columns) reads "Badge (code)"."""
    if name in CONVENTIONAL_LABELS:
        return CONVENTIONAL_LABELS[name]
    words = name.split("_")
    if len(words) > 1 and words[0] == "is":
        words = words[1:]
    if len(words) > 1 and words[-1] in ("name", "label", "count"):
        words = words[:-1]
    words = [{"pct": "%", "email": "e-mail"}.get(word, word) for word in words]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} (code)" if f"{name}_label" in names else text


def kpi_column_labels(catalogue: Catalogue) -> dict[tuple[str, str], str]:
    """(model, column) -> the English label of the KPI that column carries: the marts of the
    KPI's grains (its ``column``), else any column named as the KPI (model ``*``)."""
    labels = {("*", kpi.name): kpi.label.en for kpi in catalogue.kpis}
    for kpi in catalogue.kpis:  # the grain's own column wins
        for grain in kpi.grains:
            labels[(catalogue.grains[grain].model, kpi.column)] = kpi.label.en
    return labels


def _meta(column: Mapping[str, Any]) -> Mapping[str, Any]:
    """A dbt column's meta: ``config: {meta: ...}`` (dbt >= 1.10), else the older ``meta``."""
    return (column.get("config") or {}).get("meta") or column.get("meta") or {}


def _one_line(text: str | None) -> str | None:
    text = " ".join(str(text or "").split())
    return text or None


def model_columns(
    model: Mapping[str, Any],
    kpi_labels: Mapping[tuple[str, str], str],
    calculated: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The managed keys of each column of a dbt model, in the model's order (``calculated``:
    the dataset's own calculated columns, e.g. a ``metric_label`` next to ``metric``)."""
    columns = []
    names = frozenset(model["columns"]) | calculated
    for name, column in model["columns"].items():
        if not column.get("data_type"):
            raise ManifestError(
                f"dbt model {model['name']} column {name}: no data_type (the marts Superset "
                "reads have an enforced contract)"
            )
        column_type = duckdb_type(column["data_type"])
        shown = not TECHNICAL.search(name)
        label = (
            _meta(column).get("label")
            or kpi_labels.get((model["name"], name))
            or kpi_labels.get(("*", name))
        )
        columns.append(
            {
                "column_name": name,
                "verbose_name": label or label_of(name, names),
                "type": column_type,
                "is_dttm": bool(DATE_TYPES.match(column_type)),
                "groupby": shown,
                "filterable": shown,
                "description": _one_line(column.get("description")),
            }
        )
    return columns


def _ordered(column: dict[str, Any]) -> dict[str, Any]:
    ordered = {key: column[key] for key in COLUMN_KEY_ORDER if key in column}
    ordered.update({k: v for k, v in column.items() if k not in ordered})
    return ordered


def expected_columns(
    existing: list[dict[str, Any]], generated: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The dataset's columns after the sync: the model's (their unmanaged keys, such as
    ``extra``, kept from the file), then the file's calculated columns as they are."""
    by_name = {c["column_name"]: c for c in existing}
    result = []
    for managed in generated:
        column = {**COLUMN_DEFAULTS, **copy.deepcopy(by_name.get(managed["column_name"], {}))}
        column.update(managed)
        column["expression"] = None
        result.append(_ordered(column))
    result += [c for c in existing if c.get("expression")]
    return result


def column_differences(existing: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    """What differs, one line per column and key, naming the column."""
    before = {c["column_name"]: c for c in existing}
    after = {c["column_name"]: c for c in expected}
    details = [
        detail + (" (the dbt model has it)" if detail.endswith(": missing") else "")
        for detail in entry_differences(
            "column", "column_name", existing, expected, MANAGED_COLUMN_KEYS, "dbt"
        )
    ]
    for name in before.keys() - after.keys():
        details.append(f"column {name}: not in the dbt model (and not a calculated column)")
    if not details and list(before) != list(after):
        details.append("columns are not in the dbt model's order")
    return details


def _marts_database(models: Mapping[str, Mapping[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with an empty table per contracted mart (its columns and types)."""
    con = duckdb.connect()
    con.execute(f"create schema {MARTS_SCHEMA}")
    for name, model in models.items():
        columns = model["columns"].values()
        if not columns or not all(c.get("data_type") for c in columns):
            continue  # no contract: a virtual dataset's SQL on it is reported as failing
        body = ", ".join(f'"{c["name"]}" {c["data_type"]}' for c in columns)
        con.execute(f'create table {MARTS_SCHEMA}."{name}" ({body})')
    return con


def _technical_dimension(column: Mapping[str, Any]) -> bool:
    """An id or e-mail column (not a calculated one) offered for grouping or filtering."""
    return (
        not column.get("expression")
        and bool(TECHNICAL.search(column["column_name"]))
        and bool(column.get("groupby") or column.get("filterable"))
    )


def rendered_sql(sql: str, email: str = "rep@pilotage.invalid") -> str:
    """A virtual dataset's SQL as Superset runs it for a user with ``email``: its Jinja
    (ENABLE_TEMPLATE_PROCESSING) rendered with the one Superset macro the datasets use."""
    import jinja2

    return jinja2.Template(sql, undefined=jinja2.StrictUndefined).render(
        current_user_email=lambda: email
    )


def virtual_differences(dataset: Mapping[str, Any], con: duckdb.DuckDBPyConnection) -> list[str]:
    """The hand-written columns of a virtual dataset that its SQL does not return (or not with
    that type) or that offer an id or e-mail as a dimension, and the SQL's columns the dataset
    does not list."""
    listed = [c for c in dataset.get("columns") or [] if not c.get("expression")]
    details = [
        f"column {c['column_name']}: an id or e-mail is not groupable nor filterable"
        for c in listed
        if _technical_dimension(c)
    ]
    try:
        rows = con.execute(f"describe select * from ({rendered_sql(dataset['sql'])})").fetchall()
    except duckdb.Error as exc:
        return [*details, f"its sql does not run on the dbt marts: {_one_line(str(exc))}"]
    returned = {row[0]: row[1] for row in rows}
    for column in listed:
        name = column["column_name"]
        if name not in returned:
            details.append(f"column {name}: its sql does not return it")
        elif column.get("type") != returned[name]:
            details.append(
                f"column {name}: type is {column.get('type')!r}, its sql gives {returned[name]!r}"
            )
    names = {c["column_name"] for c in listed}
    details += [
        f"column {name}: its sql returns it but the dataset does not list it"
        for name in returned
        if name not in names
    ]
    return details


def sync_superset_columns(
    write: bool,
    catalogue: Catalogue,
    files: Mapping[str, Path],
    manifest: Mapping[str, Any],
) -> list[Drift]:
    """Compare (and with ``write``, rewrite) the datasets' ``columns:`` with the dbt manifest.

    ``files``: table_name -> dataset YAML. Physical datasets get their model's columns (only the
    ``columns:`` block is rewritten, everything else byte for byte); virtual ones are checked,
    and ``write`` fixes only an id or e-mail offered as a dimension. Returns the drift found
    before writing.
    """
    models = mart_models(manifest)
    labels = kpi_column_labels(catalogue)
    marts = None
    drift = []
    for table, path in files.items():
        text = path.read_text(encoding="utf-8")
        dataset = yaml.safe_load(text)
        existing = dataset.get("columns") or []
        if dataset.get("sql"):
            marts = marts or _marts_database(models)
            details = virtual_differences(dataset, marts)
            if details:
                drift.append(Drift(path, tuple(f"dataset {table}: {d}" for d in details)))
            # what write can fix in a virtual dataset: no id or e-mail offered as a dimension
            fixed = [
                {**c, "groupby": False, "filterable": False} if _technical_dimension(c) else c
                for c in existing
            ]
            if write and fixed != existing:
                path.write_text(replace_yaml_block(text, "columns", fixed), encoding="utf-8")
            continue
        if dataset.get("schema") != MARTS_SCHEMA or table not in models:
            drift.append(
                Drift(path, (f"dataset {table}: no dbt model {table} in schema {MARTS_SCHEMA}",))
            )
            continue
        calculated = frozenset(c["column_name"] for c in existing if c.get("expression"))
        generated = model_columns(models[table], labels, calculated)
        expected = expected_columns(existing, generated)
        details = column_differences(existing, expected)
        new_text = replace_yaml_block(text, "columns", expected)
        if new_text != text and not details:
            details.append("columns block is not formatted as the generator writes it")
        if details:
            drift.append(Drift(path, tuple(f"dataset {table}: {d}" for d in details)))
        if write and new_text != text:
            path.write_text(new_text, encoding="utf-8")
    return drift
