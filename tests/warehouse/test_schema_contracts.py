"""Schema contracts of the raw tables (ingestion/README.md, "Schema contracts").

Key and money columns are frozen in raw: a declaration that no longer matches the warehouse stops
the load naming table, column, both types and the way out; a bad value in a money column is
quarantined (or stops the load), never loaded into a dlt variant column. Descriptive columns
evolve: an extra column is added to raw, as text. Variant columns never reach dbt: the guard
lists them and ``ingestion.pipeline.load`` raises when one exists.

The ERP database source is checked the same way. Small hand-made landing folders (rows of a
scale 0.1 demo, only the objects under test), loaded by the real dlt sources and pipeline under
tmp_path.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import ingestion.landing_files as landing_files
from ingestion.contracts import (
    SchemaContractError,
    check_no_variant_columns,
    variant_columns,
)
from ingestion.demo.erp_seed_database import populate_erp_database
from ingestion.erp_database import erp_database_source
from ingestion.extracts import extracts_of
from ingestion.formats import CONFIG_ENV
from ingestion.landing_files import ExtractFileError, crm_source
from ingestion.pipeline import load, make_pipeline
from pilotage.settings import Settings
from tests.conftest import AS_OF

DROP = "20261115"


def _rows(demo: Path, obj: str, count: int = 30) -> list[dict[str, str]]:
    with (demo / "crm" / obj / f"{obj}_{DROP}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))[:count]


def _write(tmp_path: Path, obj: str, rows: list[dict[str, str]], drop: str = DROP) -> Path:
    folder = tmp_path / "landing" / "crm" / obj
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{obj}_{drop}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def _run(tmp_path: Path) -> Path:
    pipeline = make_pipeline("crm", _warehouse(tmp_path), tmp_path / "dlt")
    pipeline.run(crm_source(tmp_path / "landing")).raise_on_failed_jobs()
    return _warehouse(tmp_path)


def _unwrap(raised: BaseException) -> ExtractFileError:
    current: BaseException | None = raised
    while current is not None and not isinstance(current, ExtractFileError):
        current = current.__cause__ or current.__context__
    assert current is not None, f"not an ExtractFileError: {raised!r}"
    return current


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def _types(warehouse: Path, table: str) -> dict[str, str]:
    return dict(
        _query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = 'raw_crm' and table_name = '{table}'",
        )
    )


def _redeclare(monkeypatch, obj: str, **types: pa.DataType) -> None:
    """The CRM declarations, with ``obj``'s columns retyped (as if extracts.py were edited)."""
    changed = tuple(
        dataclasses.replace(e, columns={**e.columns, **types}) if e.object_name == obj else e
        for e in extracts_of("crm")
    )
    monkeypatch.setattr(landing_files, "extracts_of", lambda system: changed)


def test_a_money_column_type_change_stops_the_load(tmp_path, demo, monkeypatch):
    rows = _rows(demo, "Opportunity")
    _write(tmp_path, "Opportunity", rows)
    warehouse = _run(tmp_path)
    assert _types(warehouse, "opportunities")["amount"] == "DECIMAL(18,2)"

    # extracts.py edited: Amount declared as text, and a newer drop arrives
    _redeclare(monkeypatch, "Opportunity", Amount=pa.string())
    newer = [{**r, "Amount": "n/a", "LastModifiedDate": "2026-11-20T10:00:00.000Z"} for r in rows]
    _write(tmp_path, "Opportunity", newer, drop="20261120")
    with pytest.raises(Exception) as raised:  # noqa: PT011 - dlt wraps it, unwrapped below
        _run(tmp_path)
    error = _unwrap(raised.value)
    assert isinstance(error, SchemaContractError)
    message = str(error)
    assert "raw_crm.opportunities.amount is DECIMAL(18,2) in the warehouse" in message
    assert "crm.Opportunity.Amount is now declared VARCHAR" in message
    # the first file read: the newer drop (the older one is already loaded, not read again)
    assert "; values read from Opportunity_20261120.csv: 'n/a'" in message
    assert "a money column is frozen in raw" in message
    assert "drop table raw_crm.opportunities" in message and "alter table" in message
    # nothing of the newer drop was loaded, the raw column kept its type
    assert _types(warehouse, "opportunities")["amount"] == "DECIMAL(18,2)"
    assert _query(warehouse, "select count(*) from raw_crm.opportunities where amount is null")[0][
        0
    ] == sum(1 for r in rows if not r["Amount"])


def test_a_raw_column_created_with_another_type_stops_the_load(tmp_path, demo):
    # an earlier load (another tool, an older declaration) created amount as a double
    with duckdb.connect(str(_warehouse(tmp_path))) as con:
        con.execute("create schema raw_crm")
        con.execute("create table raw_crm.opportunities (id varchar, amount double)")
    _write(tmp_path, "Opportunity", _rows(demo, "Opportunity", 5))
    with pytest.raises(Exception) as raised:  # noqa: PT011
        _run(tmp_path)
    message = str(_unwrap(raised.value))
    assert "raw_crm.opportunities.amount is DOUBLE in the warehouse" in message
    assert "crm.Opportunity.Amount is now declared DECIMAL(18,2)" in message


def test_a_bad_money_value_never_makes_a_variant_column(tmp_path, demo, monkeypatch):
    rows = _rows(demo, "Opportunity")
    rows[3]["Amount"] = "12,50 EUR"
    rows[4]["Amount"] = "1.005"  # one decimal too many
    _write(tmp_path, "Opportunity", rows)
    settings = Settings(
        data_dir=tmp_path,
        landing_dir=tmp_path / "landing",
        warehouse_path=_warehouse(tmp_path),
        serving_path=tmp_path / "serving.duckdb",
        as_of=AS_OF,
    )
    load("crm", settings, progress=None)  # quarantine: the load goes on, the guard passes
    warehouse = _warehouse(tmp_path)
    assert variant_columns(warehouse) == []
    assert _types(warehouse, "opportunities")["amount"] == "DECIMAL(18,2)"
    assert not [c for c in _types(warehouse, "opportunities") if "__v_" in c]
    quarantined = _query(
        warehouse, "select line, field, value from raw_crm.quarantine order by line"
    )
    assert quarantined == [(5, "Amount", "12,50 EUR"), (6, "Amount", "1.005")]

    # under on_bad_row: fail the load stops on the first bad value, still no variant column
    config = tmp_path / "landing.yaml"
    config.write_text("crm: {on_bad_row: fail}\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    rows[3]["LastModifiedDate"] = "2026-11-20T10:00:00.000Z"
    _write(tmp_path, "Opportunity", rows, drop="20261120")
    with pytest.raises(ExtractFileError, match="column Amount: '12,50 EUR' is not a decimal"):
        load("crm", settings, progress=None)
    assert variant_columns(warehouse) == []


def test_descriptive_columns_evolve_as_text(tmp_path, demo):
    accounts = _rows(demo, "Account")
    for i, row in enumerate(accounts):
        row["Industry"] = str(1000 + i)  # numeric-looking values in a text column
    _write(tmp_path, "Account", accounts)
    warehouse = _run(tmp_path)
    assert _types(warehouse, "accounts")["industry"] == "VARCHAR"
    assert _query(warehouse, "select industry from raw_crm.accounts order by industry")[0] == (
        "1000",
    )

    # a newer drop with a column the declaration does not know: raw gets it, as text
    newer = [
        {**r, "LastModifiedDate": "2026-11-20T10:00:00.000Z", "Employees__c": str(10 * i)}
        for i, r in enumerate(accounts)
    ]
    _write(tmp_path, "Account", newer, drop="20261120")
    _run(tmp_path)
    types = _types(warehouse, "accounts")
    assert types["employees_c"] == "VARCHAR"
    assert types["industry"] == "VARCHAR"
    assert _query(warehouse, "select count(*) from raw_crm.accounts where employees_c = '20'") == [
        (1,)
    ]
    assert variant_columns(warehouse) == []


def test_the_variant_guard_finds_a_variant_column(tmp_path, demo):
    _write(tmp_path, "Opportunity", _rows(demo, "Opportunity", 5))
    warehouse = _run(tmp_path)
    assert variant_columns(warehouse) == []
    check_no_variant_columns(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table raw_crm.opportunities add column x__v_text varchar")
    assert variant_columns(warehouse) == ["raw_crm.opportunities.x__v_text"]
    with pytest.raises(SchemaContractError, match=r"raw_crm\.opportunities\.x__v_text"):
        check_no_variant_columns(warehouse)
    # the next load of that table stops before writing anything
    with pytest.raises(Exception) as raised:  # noqa: PT011
        _run(tmp_path)
    message = str(_unwrap(raised.value))
    assert "raw_crm.opportunities holds dlt variant column(s) x__v_text" in message
    assert variant_columns(tmp_path / "missing.duckdb") == []


def test_the_erp_database_source_checks_the_raw_table_too(tmp_path, demo):
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    populate_erp_database(demo, url)
    warehouse = _warehouse(tmp_path)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema raw_erp")
        con.execute("create table raw_erp.products (product_id varchar, unit_cost double)")
    pipeline = make_pipeline("erp", warehouse, tmp_path / "dlt")
    with pytest.raises(Exception) as raised:  # noqa: PT011
        pipeline.run(erp_database_source(url).with_resources("products"))
    message = str(_unwrap(raised.value))
    assert "raw_erp.products.unit_cost is DOUBLE in the warehouse" in message
    assert "erp.products.unit_cost is now declared DECIMAL(18,2)" in message
    assert "reading db:products: a money column is frozen in raw" in message
