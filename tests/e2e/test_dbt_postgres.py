"""Portability: the same dbt project builds on PostgreSQL (the production profile) and gives the
same KPI rows as on DuckDB.

The raw tables of the session's DuckDB demo warehouse are copied into a scratch Postgres
database and `dbt build --target postgres` runs there (models, unit tests, contracts, data
tests); then every mart is compared row by row with the DuckDB build.

Needs the dbt-postgres adapter in the environment and a server at PILOTAGE_PG_HOST (default
127.0.0.1:5432, user postgres). Without the adapter the test is skipped with the reason; without
the server it is skipped, except under CI=true where that is a failure.
"""

from __future__ import annotations

import importlib.util

import duckdb
import pytest

from tests.conftest import (
    AS_OF,
    PG,
    postgres_connect,
    scratch_postgres_database,
    service_unavailable,
)
from tests.pipeline_helpers import rows_differences, run_dbt

PG_TYPES = {
    "VARCHAR": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
}
MARTS = (
    ("kpi_rep_month", "month_start, rep_id, team_id"),
    ("kpi_availability", "kpi_name"),
    ("fct_revenue", "invoice_line_id"),
    ("fct_activities", "activity_id"),
    ("dim_rep", "rep_id"),
    ("dim_team", "team_id"),
    ("dim_customer", "customer_id"),
    ("dim_product", "product_id"),
    ("dim_date", "date_day"),
    ("fct_opportunities", "opportunity_id"),
    ("fct_opportunity_history", "opportunity_history_id"),
    ("kpi_rep_day", "date_day, rep_id"),
    ("kpi_performance", "level, member_id, period_grain, period_start"),
    ("kpi_funnel", "level, member_id, period_grain, period_start, stage_name"),
)


@pytest.fixture(scope="module")
def scratch_db():
    if importlib.util.find_spec("dbt.adapters.postgres") is None:
        service_unavailable(
            "dbt-postgres is not installed in this environment, so the Postgres portability of "
            "the dbt project is not checked (it is a dev dependency: run `make install`)"
        )
    with scratch_postgres_database("The Postgres portability of the dbt project") as name:
        yield name


def _copy_raw_tables(warehouse, dbname: str) -> None:
    from psycopg2.extras import execute_values

    src = duckdb.connect(str(warehouse), read_only=True)
    pg = postgres_connect(dbname)
    try:
        cur = pg.cursor()
        tables = src.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw_crm', 'raw_erp') and table_name not like '\\_dlt%' "
            "escape '\\'"
        ).fetchall()
        for schema, table in tables:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            ddl = ", ".join(f'"{c}" {PG_TYPES.get(t, t.lower())}' for c, t in columns)
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"create table {schema}.{table} ({ddl})")
            rows = src.execute(f"select * from {schema}.{table}").fetchall()
            if rows:
                execute_values(cur, f"insert into {schema}.{table} values %s", rows)
        pg.commit()
    finally:
        pg.close()
        src.close()


@pytest.fixture(scope="module")
def both_builds(scratch_db, demo_pipeline, tmp_path_factory):
    """The session's DuckDB demo build, and the same raw tables built by dbt on PostgreSQL."""
    tmp = tmp_path_factory.mktemp("dbt_postgres")
    warehouse = demo_pipeline[0].warehouse_path
    _copy_raw_tables(warehouse, scratch_db)
    env = {
        "PILOTAGE_DBT_TARGET": "postgres",
        "PILOTAGE_PG_DATABASE": scratch_db,
        "PILOTAGE_PG_HOST": PG["host"],
        "PILOTAGE_PG_PORT": str(PG["port"]),
        "PILOTAGE_PG_USER": PG["user"],
        "PILOTAGE_PG_PASSWORD": PG["password"],
    }
    run_dbt(["build"], warehouse, AS_OF, tmp / "target_pg", extra_env=env)
    return warehouse, scratch_db


@pytest.mark.parametrize(("mart", "order_by"), MARTS)
def test_marts_match_duckdb(both_builds, mart, order_by):
    warehouse, dbname = both_builds
    # ordered here, on the key: the engines' collations differ ("(unassigned)" sorts first in
    # DuckDB, after the letters under a Postgres locale)
    keys = [k.strip() for k in order_by.split(",")]
    query = f"select {order_by}, * from marts.{mart}"
    duck = duckdb.connect(str(warehouse), read_only=True)
    try:
        duck_rows = sorted(duck.execute(query).fetchall(), key=lambda r: r[: len(keys)])
    finally:
        duck.close()
    pg = postgres_connect(dbname)
    try:
        cur = pg.cursor()
        cur.execute(query)
        pg_rows = sorted(cur.fetchall(), key=lambda r: r[: len(keys)])
    finally:
        pg.close()
    assert len(duck_rows) == len(pg_rows) > 0
    diffs = rows_differences(duck_rows, pg_rows)
    assert not diffs, f"{mart}: DuckDB and Postgres rows differ, first: {diffs[:3]}"
