"""The warehouse on a server engine, end to end (PILOTAGE_WAREHOUSE_ENGINE=postgres): dlt loads
the session's demo extracts into a scratch PostgreSQL database, dbt builds there (models, unit
tests, contracts, data tests), and publish swaps the marts into the blue/green serving schema
that the read-only user reads. Every mart read through that user equals the DuckDB build of the
same extract files (``demo_pipeline``), a second publish swaps colours while a reader is in the
middle of a transaction, and the read-only user can write nowhere.

Needs the dbt-postgres adapter and a server at PILOTAGE_PG_HOST (default 127.0.0.1:5432, user
postgres, trust or PILOTAGE_PG_PASSWORD). Without the server the tests are skipped loudly, except
under CI=true where that is a failure.
"""

from __future__ import annotations

import dataclasses
import decimal
import importlib.util
import threading
import time

import duckdb
import pytest

from tests.conftest import (
    AS_OF,
    PG,
    postgres_connect,
    scratch_postgres_database,
)
from tests.pipeline_helpers import engine_sort_key, run_dbt, same_value

MONEY_TOLERANCE = decimal.Decimal("0.01")  # exact decimals (amounts, targets): a cent
# Doubles (ratios rounded to 6 decimals by round_ratio): one unit of the 6th decimal, as a
# quotient exactly half-way (-2142.64 / 32000 = -0.0669575) rounds one way on each engine.
RATIO_TOLERANCE = 1e-6 + 1e-12


@dataclasses.dataclass
class PgWarehouse:
    settings: object  # pilotage.settings.Settings of the postgres engine
    duckdb_serving: object  # the DuckDB session's serving file
    first_publish: object  # its PublishResult
    duckdb_run: object  # the DuckDB session's Dagster run (its asset check evaluations)
    duckdb_warehouse: object  # the DuckDB session's warehouse file

    def reader(self, **session):
        """A connection as the read-only user to the serving database."""
        import psycopg2

        pg = self.settings.postgres
        connection = psycopg2.connect(
            host=pg.host,
            port=pg.port,
            user=pg.reader_user,
            password=pg.reader_password,
            dbname=pg.serving_database,
            connect_timeout=5,
        )
        if session:
            connection.set_session(**session)
        return connection


@pytest.fixture(scope="module")
def pg_warehouse(demo_pipeline, tmp_path_factory):
    """load -> dbt build -> publish on PostgreSQL from the DuckDB session's extract files."""
    if importlib.util.find_spec("dbt.adapters.postgres") is None:
        pytest.fail("dbt-postgres is not installed: run `make install`")
    from ingestion.pipeline import SYSTEMS, load
    from pilotage.dbt import vars_args
    from pilotage.publish import publish_warehouse
    from pilotage.settings import PostgresSettings

    duck_settings, _ = demo_pipeline
    tmp = tmp_path_factory.mktemp("pg_warehouse")
    with scratch_postgres_database("The warehouse on PostgreSQL (dlt, dbt, publish)") as name:
        pg = PostgresSettings(
            host=PG["host"],
            port=PG["port"],
            user=PG["user"],
            password=PG["password"],
            database=name,
            serving_database=f"{name}_serving",
            reader_user=f"{name}_reader",
            reader_password="reader-pw-only-for-this-test",
        )
        settings = dataclasses.replace(
            duck_settings,
            data_dir=tmp,
            warehouse_path=tmp / "no-duckdb-here.duckdb",
            serving_path=tmp / "serving" / "no-duckdb-here.duckdb",
            warehouse_engine="postgres",
            postgres=pg,
        )
        try:
            started = time.monotonic()
            for system in SYSTEMS:
                load(system, settings, progress=None)
            loaded = time.monotonic()
            # The engine's settings alone choose dbt's target (PILOTAGE_DBT_TARGET=postgres).
            env = settings.to_env()
            assert env["PILOTAGE_DBT_TARGET"] == "postgres"
            run_dbt(
                ["build", *vars_args(settings)], tmp / "unused", AS_OF, tmp / "target", None, env
            )
            built = time.monotonic()
            first = publish_warehouse(settings)
            print(
                f"\nPostgreSQL warehouse: load {loaded - started:.0f}s, dbt build "
                f"{built - loaded:.0f}s, publish {time.monotonic() - built:.1f}s"
            )
            assert not settings.warehouse_path.exists(), "the postgres engine wrote DuckDB"
            yield PgWarehouse(
                settings,
                duck_settings.serving_path,
                first,
                demo_pipeline[1],
                duck_settings.warehouse_path,
            )
        finally:
            admin = postgres_connect("postgres")
            admin.autocommit = True
            cur = admin.cursor()
            cur.execute(f"drop database if exists {pg.serving_database} with (force)")
            cur.execute("select 1 from pg_roles where rolname = %s", (pg.reader_user,))
            if cur.fetchone():
                cur.execute(f"revoke all on database {name} from {pg.reader_user}")
                cur.execute(f"drop role {pg.reader_user}")
            admin.close()


def _duckdb_marts(serving) -> dict[str, tuple[list[str], list[tuple]]]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        marts = {}
        for table in tables:
            cursor = con.execute(f'select * from marts."{table}"')
            marts[table] = ([d[0] for d in cursor.description], cursor.fetchall())
        return marts
    finally:
        con.close()


def _pg_marts(connection) -> dict[str, tuple[list[str], list[tuple]]]:
    cur = connection.cursor()
    cur.execute("select table_name from information_schema.tables where table_schema = 'marts'")
    marts = {}
    for (table,) in sorted(cur.fetchall()):
        cur.execute(f'select * from marts."{table}"')
        marts[table] = ([d[0] for d in cur.description], cur.fetchall())
    return marts


def test_every_served_mart_equals_duckdb(pg_warehouse):
    duck = _duckdb_marts(pg_warehouse.duckdb_serving)
    reader = pg_warehouse.reader()
    try:
        pg = _pg_marts(reader)
    finally:
        reader.close()
    assert sorted(pg) == sorted(duck), "PostgreSQL serves other marts than DuckDB"
    assert len(duck) >= 20 and set(pg_warehouse.first_publish.row_counts) == {
        f"marts.{t}" for t in duck
    }
    differences = []
    for table, (duck_columns, duck_rows) in duck.items():
        pg_columns, pg_rows = pg[table]
        assert pg_columns == duck_columns, f"marts.{table}: other columns on PostgreSQL"
        if len(pg_rows) != len(duck_rows):
            differences.append(f"{table}: {len(pg_rows)} rows on PostgreSQL, {len(duck_rows)}")
            continue
        for d, p in zip(
            sorted(duck_rows, key=engine_sort_key),
            sorted(pg_rows, key=engine_sort_key),
            strict=True,
        ):
            bad = [
                c
                for c, x, y in zip(duck_columns, d, p, strict=True)
                if not same_value(x, y, RATIO_TOLERANCE, MONEY_TOLERANCE)
            ]
            if bad:
                differences.append(f"{table}: columns {bad}: DuckDB {d} / PostgreSQL {p}")
                break
    assert sum(len(rows) for _, rows in duck.values()) > 1000
    assert not differences, "marts differ:\n" + "\n".join(differences[:10])


def test_the_load_checks_read_postgres(pg_warehouse, tmp_path):
    """The checks after the load run on the engine: Great Expectations on the ERP's latest
    deliveries finds what it found on DuckDB (the session's Dagster run), table by table, and
    the quarantine report (`pilotage quarantine`, the dlt assets' metadata) reads the same."""
    from ingestion.quarantine import list_quarantine, quarantine_counts
    from pilotage.quality import validate_deliveries
    from pilotage.warehouse import warehouse_of

    settings = pg_warehouse.settings
    report = validate_deliveries(warehouse_of(settings), "erp", tmp_path, "pg", as_of=AS_OF)
    on_duckdb = {
        "raw_erp." + e.asset_key.path[-1]: (e.passed, e.metadata["rows"].value, e.description)
        for e in pg_warehouse.duckdb_run.get_asset_check_evaluations()
        if e.asset_key.path[0] == "erp" and e.check_name == "delivery_validation"
    }
    on_postgres = {r.table: (r.success, r.rows, r.summary()) for r in report.results}
    assert len(on_postgres) >= 5 and sum(rows for _, rows, _ in on_postgres.values()) > 100
    assert {t: v[:2] for t, v in on_postgres.items()} == {t: v[:2] for t, v in on_duckdb.items()}
    first_lines = {t: v[2].splitlines()[0] for t, v in on_postgres.items()}
    assert first_lines == {t: v[2].splitlines()[0] for t, v in on_duckdb.items()}
    duck = pg_warehouse.duckdb_warehouse
    for system in ("crm", "erp"):
        assert quarantine_counts(warehouse_of(settings), system) == quarantine_counts(duck, system)
    keys = ("system", "source_file", "line", "object", "field", "value", "reason")
    assert [tuple(r[k] for k in keys) for r in list_quarantine(warehouse_of(settings))] == [
        tuple(r[k] for k in keys) for r in list_quarantine(duck)
    ]


def _served_view_source(cur, view: str) -> list[str]:
    cur.execute(
        "select distinct n.nspname from pg_depend d "
        "join pg_rewrite r on r.oid = d.objid join pg_class v on v.oid = r.ev_class "
        "join pg_namespace vn on vn.oid = v.relnamespace "
        "join pg_class t on t.oid = d.refobjid join pg_namespace n on n.oid = t.relnamespace "
        "where vn.nspname = 'marts' and v.relname = %s and t.oid <> v.oid",
        (view,),
    )
    return [row[0] for row in cur.fetchall()]


def test_second_publish_swaps_blue_green_atomically(pg_warehouse):
    from pilotage.publish import publish_warehouse

    settings = pg_warehouse.settings
    admin = postgres_connect(settings.postgres.serving_database)
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("select serving_color from meta.publication")
    before = cur.fetchone()[0]
    assert _served_view_source(cur, "kpi_rep_month") == [f"marts_{before}"]
    # A reader in the middle of a transaction keeps its colour; the swap waits for it.
    reader = pg_warehouse.reader(isolation_level="REPEATABLE READ")
    rcur = reader.cursor()
    rcur.execute("select count(*), sum(revenue) from marts.kpi_rep_month")
    seen = rcur.fetchone()
    outcome = {}
    publisher = threading.Thread(
        target=lambda: outcome.update(result=publish_warehouse(settings)), daemon=True
    )
    publisher.start()
    # The publisher builds the idle colour, then its swap waits on the reader's lock.
    deadline, waiting = time.monotonic() + 60, False
    while not waiting and time.monotonic() < deadline and publisher.is_alive():
        cur.execute(
            "select count(*) from pg_stat_activity "
            "where application_name = 'pilotage publish' and wait_event_type = 'Lock'"
        )
        waiting = cur.fetchone()[0] > 0
        time.sleep(0.2)
    assert waiting and publisher.is_alive(), "the swap did not wait for the reader's transaction"
    rcur.execute("select count(*), sum(revenue) from marts.kpi_rep_month")
    assert rcur.fetchone() == seen
    rcur.execute("select serving_color from meta.publication")
    assert rcur.fetchone()[0] == before
    reader.commit()
    publisher.join(timeout=60)
    assert not publisher.is_alive(), "the publish did not finish once the reader was done"
    after = outcome["result"].color
    assert {before, after} == {"blue", "green"}
    rcur.execute("select serving_color, as_of_date from meta.publication")
    assert rcur.fetchone() == (after, AS_OF)
    rcur.execute("select count(*), sum(revenue) from marts.kpi_rep_month")
    assert rcur.fetchone() == seen  # same warehouse, same data, other colour
    reader.close()
    assert _served_view_source(cur, "kpi_rep_month") == [f"marts_{after}"]
    # The previous colour is kept (until the next publish rebuilds it), served by nothing.
    cur.execute("select count(*) from marts_" + before + ".kpi_rep_month")
    assert cur.fetchone()[0] == seen[0]
    admin.close()


def test_reader_is_read_only_and_sees_only_the_served_schemas(pg_warehouse):
    import psycopg2
    from psycopg2 import errors

    pg = pg_warehouse.settings.postgres
    reader = pg_warehouse.reader()
    cur = reader.cursor()
    refused = {}
    cur.execute("show default_transaction_read_only")
    assert cur.fetchone()[0] == "on"
    attempts = {
        "insert": "insert into marts.dim_team (team_id) values ('x')",
        "delete": "delete from marts.dim_team",
        "create": "create table marts.intruder (x int)",
    }
    for statement in attempts.values():
        with pytest.raises((errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege)):
            cur.execute(statement)
        reader.rollback()
    # Even after turning read-only transactions off, privileges refuse every write.
    cur.execute("set default_transaction_read_only = off")
    reader.commit()
    attempts.update(
        {
            "public": "create table public.intruder (x int)",
            "temp": "create temp table intruder (x int)",
            "colour": "select count(*) from marts_blue.dim_team",
            "schema": "create schema intruder",
        }
    )
    for name, statement in attempts.items():
        try:
            cur.execute(statement)
        except errors.InsufficientPrivilege as exc:
            refused[name] = str(exc).splitlines()[0]
        reader.rollback()
    assert sorted(refused) == sorted(attempts), f"not refused: {set(attempts) - set(refused)}"
    cur.execute("select count(*) from marts.dim_team")
    assert cur.fetchone()[0] > 0
    reader.close()
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        psycopg2.connect(
            host=pg.host,
            port=pg.port,
            user=pg.reader_user,
            password=pg.reader_password,
            dbname=pg.database,
            connect_timeout=5,
        )


@pytest.fixture(scope="module")
def pg_superset(pg_warehouse, tmp_path_factory):
    """A Superset whose serving database entry points at the PostgreSQL serving database, as
    the read-only user (PILOTAGE_WAREHOUSE_ENGINE=postgres picks it at bootstrap)."""
    from tests.e2e.conftest import running_superset

    settings = dataclasses.replace(
        pg_warehouse.settings, data_dir=tmp_path_factory.mktemp("pg_superset")
    )
    with running_superset(settings) as server:
        yield server


def _rep_leaderboard(superset, session=None) -> list[dict]:
    charts = superset.get("/api/v1/dashboard/sales-performance/charts")["result"]
    chart_id = next(c["id"] for c in charts if c["slice_name"] == "Rep leaderboard")
    response = (session or superset.admin).get(
        f"{superset.url}/api/v1/chart/{chart_id}/data/", timeout=120
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"][0]
    assert result.get("error") is None, result
    return result["data"]


def test_superset_reads_postgres_with_row_level_security(pg_superset, pg_warehouse):
    database = pg_superset.get("/api/v1/database/?q=(page_size:100)")["result"]
    serving = next(d for d in database if d["database_name"] == "pilotage_serving")
    assert serving["backend"] == "postgresql"
    # Expected figures from the DuckDB build of the same extracts, in plain Python.
    con = duckdb.connect(str(pg_warehouse.duckdb_serving), read_only=True)
    try:
        rows = con.execute(
            "select rep_email, rep_name, team_name, revenue from marts.kpi_rep_month"
        ).fetchall()
    finally:
        con.close()
    revenue: dict[tuple, decimal.Decimal] = {}
    for _, name, team, amount in rows:
        revenue[(name, team)] = revenue.get((name, team), 0) + (amount or 0)
    emails = sorted({email for email, *_ in rows if email})
    rep = emails[0]
    mine = {(name, team) for email, name, team, _ in rows if email == rep}

    everyone = _rep_leaderboard(pg_superset)
    assert {(r["rep_name"], r["team_name"]) for r in everyone} == set(revenue)
    assert len(everyone) > len(mine) >= 1
    session = pg_superset.login(*pg_superset.create_user("pg_rep", rep, "Sales Rep"))
    seen = _rep_leaderboard(pg_superset, session)
    assert {(r["rep_name"], r["team_name"]) for r in seen} == mine, "RLS let other reps through"
    for row in seen:
        want = revenue[(row["rep_name"], row["team_name"])]
        assert abs(decimal.Decimal(str(row["revenue"])) - want) <= MONEY_TOLERANCE


def test_a_second_publisher_is_refused_naming_the_first(pg_warehouse):
    from pilotage.publish import PublishError, publish_warehouse
    from pilotage.publish_postgres import PUBLISH_LOCK_KEY

    settings = pg_warehouse.settings
    holder = postgres_connect(settings.postgres.serving_database)
    holder.autocommit = True
    try:
        cur = holder.cursor()
        cur.execute("select pg_advisory_lock(%s), pg_backend_pid()", (PUBLISH_LOCK_KEY,))
        pid = cur.fetchone()[1]
        cur.execute("select serving_color from meta.publication")
        served = cur.fetchone()[0]
        with pytest.raises(PublishError, match=f"backend pid {pid} "):
            publish_warehouse(settings)
        cur.execute("select serving_color from meta.publication")
        assert cur.fetchone()[0] == served  # nothing swapped
    finally:
        holder.close()
