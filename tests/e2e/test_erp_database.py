"""The ERP from a live SQL database (``ingestion.erp_database``) lands exactly as the ERP files do.

The demo ERP extracts (seed 42, scale 0.1) are written into a SQL database by
``ingestion.demo.erp_seed_database.populate_erp_database`` and loaded by the dlt ``sql_database``
source into a scratch DuckDB warehouse: the row counts are those of the extract files, the raw_erp
columns and types those of a file-based load of the same extracts (and so are the rows); a rerun
loads nothing, and an updated invoice line (later ``updated_at``) lands as a new version beside the
old one (raw keeps every version; dbt staging reads the latest).

Runs on SQLite (the embedded default) and on the real PostgreSQL at PILOTAGE_PG_HOST (default
127.0.0.1:5432, user postgres) in a scratch database dropped afterwards. Without that server the
PostgreSQL case is skipped loudly, except under CI=true where it fails.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from ingestion.demo.erp_seed_database import erp_metadata, populate_erp_database
from ingestion.demo.generator import generate
from ingestion.erp_database import (
    ErpDatabaseError,
    erp_database_source,
)
from ingestion.extracts import ERP_EXTRACTS
from ingestion.landing_files import erp_source
from ingestion.pipeline import make_pipeline, source_for
from pilotage.settings import load_settings
from tests.conftest import AS_OF, PG, scratch_postgres_database

TABLES = [extract.table for extract in ERP_EXTRACTS]
RESOURCES = [*TABLES, "quarantine"]  # both ERP sources write raw_erp.quarantine
COLUMNS_SQL = """
    select table_name, column_name, data_type, is_nullable, ordinal_position
    from information_schema.columns where table_schema = 'raw_erp'
    order by table_name, ordinal_position
"""
LATER = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)  # after every demo row (as of 11-15)


@pytest.fixture(scope="module", autouse=True)
def _no_telemetry():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        yield


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def _counts(warehouse: Path) -> dict[str, int]:
    return {t: _query(warehouse, f"select count(*) from raw_erp.{t}")[0][0] for t in TABLES}


def _load_ids(warehouse: Path) -> dict[str, set[str]]:
    sql = "select distinct _dlt_load_id from raw_erp.{}"
    return {t: {r[0] for r in _query(warehouse, sql.format(t))} for t in TABLES}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """Demo extracts, their CSV row counts, and a file-based load of them (the reference)."""
    base = tmp_path_factory.mktemp("erp_demo")
    landing = base / "landing"
    generate(landing, seed=42, scale=0.1, as_of=AS_OF)
    csv_rows = {}
    for extract in ERP_EXTRACTS:
        rows = 0
        for path in extract.files(landing):
            with path.open(encoding="utf-8", newline="") as handle:
                rows += sum(1 for _ in csv.reader(handle)) - 1
        csv_rows[extract.table] = rows
    warehouse = base / "files.duckdb"
    pipeline = make_pipeline("erp", warehouse, base / "dlt")
    pipeline.run(erp_source(landing)).raise_on_failed_jobs()
    assert _counts(warehouse) == csv_rows, "the file-based reference load is off"
    return {"landing": landing, "csv_rows": csv_rows, "files_warehouse": warehouse}


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh database on the real PostgreSQL server, dropped afterwards."""
    with scratch_postgres_database("The ERP database source on PostgreSQL") as name:
        yield sa.engine.URL.create(
            "postgresql+psycopg2",
            username=PG["user"],
            password=PG["password"] or None,
            host=PG["host"],
            port=PG["port"],
            database=name,
        ).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'erp.db'}"
    return request.getfixturevalue("postgres_url")


def test_erp_database_loads_like_the_files(demo, database_url, tmp_path):
    landing, csv_rows = demo["landing"], demo["csv_rows"]
    # idempotent: populating twice leaves one copy of every row
    assert populate_erp_database(landing, database_url) == csv_rows
    assert populate_erp_database(landing, database_url) == csv_rows

    warehouse = tmp_path / "warehouse.duckdb"
    pipeline = make_pipeline("erp", warehouse, tmp_path / "dlt")
    source = erp_database_source(database_url, chunk_size=100)  # several chunks per table
    assert source.name == "erp" and list(source.resources) == RESOURCES
    pipeline.run(source).raise_on_failed_jobs()

    assert _counts(warehouse) == csv_rows
    assert _query(warehouse, COLUMNS_SQL) == _query(demo["files_warehouse"], COLUMNS_SQL)
    attached = duckdb.connect()
    try:
        attached.execute(f"attach '{demo['files_warehouse']}' as files (read_only)")
        attached.execute(f"attach '{warehouse}' as db (read_only)")
        for extract in ERP_EXTRACTS:
            columns = ", ".join(extract.columns)  # ERP names are already the warehouse names
            for left, right in (("files", "db"), ("db", "files")):
                diff = attached.sql(
                    f"select count(*) from (select {columns} from {left}.raw_erp.{extract.table} "
                    f"except all select {columns} from {right}.raw_erp.{extract.table})"
                ).fetchone()[0]
                assert diff == 0, f"{extract.table}: {diff} rows of {left} are not in {right}"
        sources = attached.sql("select distinct _source_file from db.raw_erp.invoices").fetchall()
        assert sources == [("db:invoices",)]
    finally:
        attached.close()
    first_loads = _load_ids(warehouse)
    assert all(len(ids) == 1 for ids in first_loads.values())

    # a rerun on the unchanged database (freshly repopulated, same rows) loads nothing
    populate_erp_database(landing, database_url)
    pipeline.run(erp_database_source(database_url)).raise_on_failed_jobs()
    assert _counts(warehouse) == csv_rows
    assert _load_ids(warehouse) == first_loads

    # one invoice line updated in the ERP: a new version of it, nothing else
    lines = erp_metadata().tables["invoice_lines"]
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            line_id, old_amount = conn.execute(
                sa.select(lines.c.invoice_line_id, lines.c.net_amount)
                .order_by(lines.c.invoice_line_id)
                .limit(1)
            ).one()
            conn.execute(
                lines.update()
                .where(lines.c.invoice_line_id == line_id)
                .values(net_amount=old_amount + Decimal("1.00"), updated_at=LATER)
            )
    finally:
        engine.dispose()
    pipeline.run(erp_database_source(database_url)).raise_on_failed_jobs()
    assert _counts(warehouse) == {**csv_rows, "invoice_lines": csv_rows["invoice_lines"] + 1}
    rows = _query(
        warehouse,
        "select net_amount, updated_at, _dlt_load_id from raw_erp.invoice_lines "
        f"where invoice_line_id = '{line_id}' order by updated_at desc",
    )
    assert len(rows) == 2
    net_amount, updated_at, load_id = rows[0]
    assert net_amount == old_amount + Decimal("1.00")
    assert updated_at == LATER
    assert rows[1][0] == old_amount and rows[1][2] in first_loads["invoice_lines"]
    loads = _load_ids(warehouse)
    assert load_id not in first_loads["invoice_lines"]
    assert loads["invoice_lines"] == first_loads["invoice_lines"] | {load_id}
    unchanged = _query(
        warehouse,
        f"select count(*) from raw_erp.invoice_lines where _dlt_load_id = '{load_id}'",
    )
    assert unchanged == [(1,)], "only the updated line's new version is loaded"
    assert {t: ids for t, ids in loads.items() if t != "invoice_lines"} == {
        t: ids for t, ids in first_loads.items() if t != "invoice_lines"
    }


def test_a_missing_column_names_table_and_column(demo, tmp_path):
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    populate_erp_database(demo["landing"], url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("alter table products drop column list_price"))
    finally:
        engine.dispose()
    pipeline = make_pipeline("erp", tmp_path / "warehouse.duckdb", tmp_path / "dlt")
    with pytest.raises(Exception) as failure:
        pipeline.run(erp_database_source(url).with_resources("products"))
    error = failure.value
    while error is not None and not isinstance(error, ErpDatabaseError):
        error = error.__cause__ or error.__context__
    assert error is not None, f"expected ErpDatabaseError, got {failure.value!r}"
    assert "products" in str(error) and "list_price" in str(error)


def test_the_settings_pick_the_erp_database_or_the_files(demo, tmp_path):
    """``source_for`` reads the ERP from the database the settings name, else from the files."""
    empty_landing = tmp_path / "landing"
    settings = load_settings(environ={}, data_dir=str(tmp_path), as_of=AS_OF.isoformat())
    settings = dataclasses.replace(settings, landing_dir=empty_landing)
    files = source_for("erp", settings)
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    with_database = dataclasses.replace(settings, erp_database_url=url)
    database = source_for("erp", with_database)
    assert not (tmp_path / "erp.db").exists(), "building the source must not connect"
    assert files.name == database.name == "erp"
    assert list(files.resources) == list(database.resources) == RESOURCES

    populate_erp_database(demo["landing"], url)
    warehouse = tmp_path / "warehouse.duckdb"
    pipeline = make_pipeline("erp", warehouse, tmp_path / "dlt")
    pipeline.run(source_for("erp", with_database).with_resources("customers"))
    loaded = _query(warehouse, "select _source_file, count(*) from raw_erp.customers group by 1")
    assert loaded == [("db:customers", demo["csv_rows"]["customers"])]
