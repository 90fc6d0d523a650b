"""Publish on PostgreSQL: the served schemas swapped blue/green in the serving database.

The engine-neutral step is ``pilotage.publish.publish_warehouse``; this is its PostgreSQL half.

- **Write.** Each served table of the warehouse database (``marts.*``) is copied (binary COPY,
  from one consistent snapshot) into the serving database's idle colour: ``marts_green`` when
  ``marts_blue`` is served, and the other way round. ``meta_<colour>.publication`` records when,
  for which as-of day and which colour.
- **Audit.** Every table's row count in the new colour is checked against the warehouse's.
- **Publish.** One transaction drops and re-creates the views Superset reads (``marts.<table>``,
  ``meta.publication``) over the new colour and grants the read-only user SELECT on them. A reader
  sees the old views or the new ones, never a mix; a query in flight finishes on the old colour
  (the swap waits for it, ``lock_timeout`` bounds the wait). The previous colour stays until the
  next publish rebuilds it.

The read-only user (``PILOTAGE_PG_READER_USER``) gets CONNECT on the serving database, USAGE on
the served schemas and SELECT on their views: nothing on the colours (a view reads them with its
owner's rights), nothing on the warehouse database, no CREATE or TEMP anywhere, and read-only
transactions by default. ``prepare_serving`` creates the serving database and the user when
missing (the pipeline's user then needs CREATEDB and CREATEROLE, or a DBA runs the statements
docs/warehouse_on_postgres.md lists).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Sequence

from pilotage.publish import PublishError, PublishResult
from pilotage.settings import PostgresSettings

log = logging.getLogger(__name__)
COLORS = ("blue", "green")
META_SCHEMA = "meta"
# One publisher at a time per serving database (pg_advisory_lock key: "pilotage publish").
PUBLISH_LOCK_KEY = 0x70696C6F  # "pilo"
# How long the swap waits for the queries in flight on the old views.
SWAP_LOCK_TIMEOUT = "60s"
# Tables copied through a temporary file: in memory up to this size, on disk beyond.
COPY_BUFFER_BYTES = 64 * 1024 * 1024


def colored(schema: str, color: str) -> str:
    """The physical schema of ``schema`` in ``color`` (``marts_blue``)."""
    return f"{schema}_{color}"


def _connect(pg: PostgresSettings, database: str):  # noqa: ANN202 - a psycopg2 connection
    import psycopg2

    try:
        return psycopg2.connect(**pg.connect_args(database), application_name="pilotage publish")
    except psycopg2.OperationalError as exc:
        raise PublishError(
            f"Cannot connect to PostgreSQL database {database} on {pg.host}:{pg.port} as "
            f"{pg.user} ({str(exc).strip()}): check PILOTAGE_PG_HOST, PILOTAGE_PG_PORT, "
            "PILOTAGE_PG_USER, PILOTAGE_PG_PASSWORD. The previous serving data is unchanged."
        ) from exc


def _narrow(cur, statement) -> None:  # noqa: ANN001 - a cursor and a psycopg2 sql.Composed
    """Run a REVOKE/GRANT that narrows the reader's rights; a pipeline user that does not own the
    database may not: then say what a DBA runs (docs/warehouse_on_postgres.md), and go on."""
    from psycopg2 import errors

    try:
        cur.execute(statement)
    except errors.InsufficientPrivilege as exc:
        log.warning(
            "could not run `%s` (%s): ask a DBA to (docs/warehouse_on_postgres.md)",
            statement.as_string(cur),
            str(exc).strip(),
        )


def prepare_serving(pg: PostgresSettings) -> None:
    """The serving database and the read-only user, created when missing, and the user's rights
    narrowed: CONNECT on the serving database only (not on the warehouse), no TEMP, no CREATE on
    ``public``, read-only transactions by default. Idempotent."""
    from psycopg2 import errors, sql

    admin = _connect(pg, pg.database)
    admin.autocommit = True
    reader = sql.Identifier(pg.reader_user)
    try:
        cur = admin.cursor()
        cur.execute("select 1 from pg_database where datname = %s", (pg.serving_database,))
        if cur.fetchone() is None:
            log.info("creating the serving database %s", pg.serving_database)
            statement = sql.SQL("create database {}").format(sql.Identifier(pg.serving_database))
            try:
                cur.execute(statement)
            except errors.InsufficientPrivilege as exc:
                raise PublishError(
                    f"The serving database {pg.serving_database} does not exist and {pg.user} "
                    f"may not create it ({str(exc).strip()}): run `{statement.as_string(cur)} "
                    f"owner {pg.user}` as a DBA (docs/warehouse_on_postgres.md)."
                ) from exc
        cur.execute("select 1 from pg_roles where rolname = %s", (pg.reader_user,))
        if cur.fetchone() is None:
            log.info("creating the read-only user %s", pg.reader_user)
            if not pg.reader_password:
                log.warning(
                    "PILOTAGE_PG_READER_PASSWORD is empty: %s can only log in where the server "
                    "trusts it (pg_hba.conf)",
                    pg.reader_user,
                )
            try:
                cur.execute(
                    sql.SQL("create role {} login password %s").format(reader),
                    (pg.reader_password or None,),
                )
                cur.execute(
                    sql.SQL("alter role {} set default_transaction_read_only = on").format(reader)
                )
            except errors.InsufficientPrivilege as exc:
                raise PublishError(
                    f"The read-only user {pg.reader_user} does not exist and {pg.user} may not "
                    f"create it ({str(exc).strip()}): a DBA creates it "
                    "(docs/warehouse_on_postgres.md)."
                ) from exc
        warehouse_db = sql.Identifier(pg.database)
        serving_db = sql.Identifier(pg.serving_database)
        _narrow(cur, sql.SQL("revoke all on database {} from public").format(warehouse_db))
        _narrow(cur, sql.SQL("revoke all on database {} from {}").format(warehouse_db, reader))
        _narrow(cur, sql.SQL("revoke all on database {} from public").format(serving_db))
        _narrow(cur, sql.SQL("grant connect on database {} to {}").format(serving_db, reader))
    finally:
        admin.close()
    serving = _connect(pg, pg.serving_database)
    serving.autocommit = True
    try:
        _narrow(serving.cursor(), sql.SQL("revoke all on schema public from public"))
    finally:
        serving.close()


def served_color(cur) -> str | None:  # noqa: ANN001 - a cursor on the serving database
    """The colour the serving views read now (None before the first publish)."""
    cur.execute(
        "select 1 from pg_views where schemaname = %s and viewname = 'publication'",
        (META_SCHEMA,),
    )
    if cur.fetchone() is None:
        return None
    cur.execute(f"select serving_color from {META_SCHEMA}.publication")
    row = cur.fetchone()
    return row[0] if row else None


def _served_tables(cur, schemas: Sequence[str]) -> list[tuple[str, str]]:  # noqa: ANN001
    cur.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema = any(%s) and table_type = 'BASE TABLE' order by 1, 2",
        (list(schemas),),
    )
    return cur.fetchall()


def _columns_ddl(cur, schema: str, table: str):  # noqa: ANN001, ANN202 - a psycopg2 sql.SQL
    from psycopg2 import sql

    cur.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) "
        "from pg_attribute as a join pg_class as c on c.oid = a.attrelid "
        "join pg_namespace as n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum",
        (schema, table),
    )
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(type_name))
        for name, type_name in cur.fetchall()
    )


def _take_publish_lock(cur, pg: PostgresSettings) -> None:  # noqa: ANN001
    cur.execute("select pg_try_advisory_lock(%s)", (PUBLISH_LOCK_KEY,))
    if cur.fetchone()[0]:
        return
    cur.execute(
        "select a.pid, a.application_name, a.client_addr, a.backend_start "
        "from pg_locks as l join pg_stat_activity as a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.objid = %s and l.granted",
        (PUBLISH_LOCK_KEY,),
    )
    holder = cur.fetchone()
    who = (
        f"backend pid {holder[0]} ({holder[1] or 'no application name'}, from "
        f"{holder[2] or 'a local socket'}, connected {holder[3]:%Y-%m-%d %H:%M:%S %Z})"
        if holder
        else "another session"
    )
    raise PublishError(
        f"Another publish holds the serving database {pg.serving_database}: {who}. Wait for it "
        "to finish; the data it publishes is served then."
    )


def publish_postgres(pg: PostgresSettings, schemas: Sequence[str], as_of: dt.date) -> PublishResult:
    """Copy ``schemas`` of the warehouse database into the idle colour of the serving database,
    check the row counts, then swap the serving views onto it in one transaction."""
    from psycopg2 import sql

    prepare_serving(pg)
    published_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    source = _connect(pg, pg.database)
    target = _connect(pg, pg.serving_database)
    try:
        # One snapshot of the warehouse for every table (a consistent set of marts).
        source.set_session(isolation_level="REPEATABLE READ", readonly=True)
        src, dst = source.cursor(), target.cursor()
        target.autocommit = True
        _take_publish_lock(dst, pg)
        target.autocommit = False
        tables = _served_tables(src, schemas)
        if not tables:
            raise PublishError(
                f"The warehouse database {pg.database} has no tables in schemas "
                f"{tuple(schemas)}: the dbt build has not run or failed."
            )
        current = served_color(dst)
        color = COLORS[1] if current == COLORS[0] else COLORS[0]
        target.commit()

        # Write: the idle colour, rebuilt from scratch (committed, but served by nothing yet).
        row_counts: dict[str, int] = {}
        for schema in sorted({*schemas, META_SCHEMA}):
            physical = sql.Identifier(colored(schema, color))
            dst.execute(sql.SQL("drop schema if exists {} cascade").format(physical))
            dst.execute(sql.SQL("create schema {}").format(physical))
        for schema, table in tables:
            name = sql.Identifier(colored(schema, color), table)
            dst.execute(
                sql.SQL("create table {} ({})").format(name, _columns_ddl(src, schema, table))
            )
            with tempfile.SpooledTemporaryFile(max_size=COPY_BUFFER_BYTES) as buffer:
                src.copy_expert(
                    sql.SQL("copy {} to stdout (format binary)")
                    .format(sql.Identifier(schema, table))
                    .as_string(src),
                    buffer,
                )
                buffer.seek(0)
                dst.copy_expert(
                    sql.SQL("copy {} from stdin (format binary)").format(name).as_string(dst),
                    buffer,
                )
            src.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table)))
            row_counts[f"{schema}.{table}"] = src.fetchone()[0]
        publication = sql.Identifier(colored(META_SCHEMA, color), "publication")
        dst.execute(
            sql.SQL(
                "create table {} as select %s::timestamptz as published_at, "
                "%s::date as as_of_date, %s::text as serving_color"
            ).format(publication),
            (published_at, as_of, color),
        )
        target.commit()
        source.rollback()

        # Audit: the new colour has every row of the warehouse's snapshot.
        for name, rows in row_counts.items():
            schema, table = name.split(".", 1)
            dst.execute(
                sql.SQL("select count(*) from {}").format(
                    sql.Identifier(colored(schema, color), table)
                )
            )
            found = dst.fetchone()[0]
            if found != rows:
                raise PublishError(
                    f"{name}: {found} rows in {colored(schema, color)}.{table} of "
                    f"{pg.serving_database}, {rows} expected; the previous data stays served."
                )
        target.commit()

        # Publish: the views Superset reads, onto the new colour, in one transaction.
        _swap(dst, pg, schemas, tables, color)
        target.commit()
    except PublishError:
        target.rollback()
        raise
    except Exception as exc:
        target.rollback()
        raise PublishError(
            f"Publishing {pg.database} -> {pg.serving_database} on {pg.host}:{pg.port} failed "
            f"({str(exc).strip()}); the previous serving data is unchanged."
        ) from exc
    finally:
        source.close()
        target.close()  # also releases the publish lock
    served_at = f"{pg.serving_database} on {pg.host}:{pg.port} ({color})"
    log.info("published %d tables to %s", len(row_counts), served_at)
    return PublishResult(None, row_counts, published_at, served_at=served_at, color=color)


def _swap(cur, pg: PostgresSettings, schemas, tables, color: str) -> None:  # noqa: ANN001
    from psycopg2 import sql

    reader = sql.Identifier(pg.reader_user)
    cur.execute(f"set local lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
    views = [(schema, table, colored(schema, color)) for schema, table in tables]
    views.append((META_SCHEMA, "publication", colored(META_SCHEMA, color)))
    for schema in sorted({*schemas, META_SCHEMA}):
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        cur.execute("select viewname from pg_views where schemaname = %s", (schema,))
        for (view,) in cur.fetchall():
            cur.execute(sql.SQL("drop view {}").format(sql.Identifier(schema, view)))
    for schema, table, physical in views:
        cur.execute(
            sql.SQL("create view {} as select * from {}").format(
                sql.Identifier(schema, table), sql.Identifier(physical, table)
            )
        )
    for schema in sorted({*schemas, META_SCHEMA}):
        cur.execute(
            sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), reader)
        )
        cur.execute(
            sql.SQL("grant select on all tables in schema {} to {}").format(
                sql.Identifier(schema), reader
            )
        )
