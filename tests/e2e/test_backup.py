"""`pilotage backup` of the session's demo installation (its published warehouse and the running
Superset's metadata), `pilotage restore` onto a clean data dir, and the same marts and dashboards
found there: marts compared table by table with checksums computed here with DuckDB, dashboards
listed through the API of a Superset started on the restored data dir by `pilotage superset
serve`. The PostgreSQL metadata path (pg_dump / pg_restore) runs on the local server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import requests

from pilotage import superset_admin
from pilotage.backup import backup as make_backup
from pilotage.backup import restore
from pilotage.settings import PROJECT_ROOT, Settings, load_settings
from tests.conftest import AS_OF, scratch_postgres_database
from tests.e2e.conftest import Superset

# This module's ports (the backup helper's range).
PORTS = range(18200, 18300)
START_TIMEOUT = 180
_CLEAN = ("SUPERSET_", "PILOTAGE_", "DAGSTER_HOME", "REDIS_URL")


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without any pilotage, Superset or Dagster setting, plus
    ``extra``: what a user's shell holds when running the commands below."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN)}
    env.update(extra)
    return env


def _pilotage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "pilotage_cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pilotage {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _marts(path: Path) -> dict[str, tuple[int, str]]:
    """Every mart table's row count and an order-independent checksum of its rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {
            table: con.execute(
                f"select count(*), md5(coalesce(string_agg(md5(t::varchar), '' order by "
                f"md5(t::varchar)), '')) from marts.\"{table}\" t"
            ).fetchone()
            for table in tables
        }
    finally:
        con.close()


def _listing(superset: Superset) -> dict:
    """What the dashboards are made of, as the API shows it."""
    query = {"q": "(page_size:100)"}
    dashboards = superset.get("/api/v1/dashboard/", params=query)["result"]
    charts = superset.get("/api/v1/chart/", params=query)["result"]
    return {
        "dashboards": sorted(
            (d["id"], d["dashboard_title"], d["slug"], d["published"]) for d in dashboards
        ),
        "charts": sorted((c["id"], c["slice_name"], c["viz_type"]) for c in charts),
        "datasets": superset.get("/api/v1/dataset/", params=query)["count"],
        "rls": superset.get("/api/v1/rowlevelsecurity/", params=query)["count"],
        "roles": sorted(
            r["name"] for r in superset.get("/api/v1/security/roles/", params=query)["result"]
        ),
    }


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {PORTS}")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_restore_onto_a_clean_data_dir_gives_the_same_marts_and_dashboards(
    demo_pipeline, superset: Superset, tmp_path: Path, monkeypatch
):
    settings, _ = demo_pipeline
    home = superset_admin.superset_home(superset.settings)
    assert (
        home / "superset.db"
    ).exists() and settings.serving_path == superset.settings.serving_path
    before = _listing(superset)
    assert before["dashboards"] and before["charts"]
    archive = tmp_path / "pilotage.tar.gz"

    started = time.monotonic()
    out = _pilotage(
        "backup",
        str(archive),
        env=_env(PILOTAGE_DATA_DIR=str(settings.data_dir), SUPERSET_HOME=str(home)),
    ).stdout
    assert "copying the warehouse" in out and "backup done" in out, out
    assert archive.stat().st_mode & 0o777 == 0o600
    restored_dir = tmp_path / "restored"
    out = _pilotage("restore", str(archive), "--data-dir", str(restored_dir), env=_env()).stdout
    assert "verifying the checksums" in out and f"--as-of {AS_OF.isoformat()}" in out, out
    print(f"\nbackup + restore: {time.monotonic() - started:.0f} s")

    restored = load_settings({}, data_dir=restored_dir)
    original_marts = _marts(settings.warehouse_path)
    assert len(original_marts) >= 10 and any(rows for rows, _ in original_marts.values())
    assert _marts(restored.warehouse_path) == original_marts
    assert _marts(restored.serving_path) == _marts(settings.serving_path)

    # Superset on the restored data dir alone: its metadata, its secret key, its serving file.
    for name in list(os.environ):
        if name.startswith(("SUPERSET_", "PILOTAGE_")):
            monkeypatch.delenv(name)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "pilotage_cli", "superset", "serve", "--port", str(port)]
            + ["--data-dir", str(restored_dir)],
            cwd=PROJECT_ROOT,
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    groups: set[int] = set()
    try:
        started = time.monotonic()
        while True:
            groups.update(_children(server.pid))  # gunicorn: its own process group
            assert server.poll() is None, log_path.read_text(errors="replace")[-3000:]
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() - started < START_TIMEOUT, log_path.read_text()[-3000:]
            time.sleep(0.5)
        print(f"Superset on the restored data dir up in {time.monotonic() - started:.0f} s")
        copy = Superset(url, restored, superset_admin.admin_credentials(restored))
        assert _listing(copy) == before
        databases = copy.get("/api/v1/database/")["result"]
        assert [d["database_name"] for d in databases] == ["pilotage_serving"]
        connection = copy.get(f"/api/v1/database/{databases[0]['id']}/connection")["result"]
        assert str(restored.serving_path) in connection["sqlalchemy_uri"]
        answer = copy.admin.post(
            f"{url}/api/v1/sqllab/execute/",
            json={
                "database_id": databases[0]["id"],
                "sql": "select count(*) as n from marts.kpi_rep_month",
                "schema": "marts",
                "runAsync": False,
                "tab": "pytest",
                "client_id": None,
            },
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"][0]["n"] == original_marts["kpi_rep_month"][0]

        # SIGTERM stops `pilotage superset serve` and its gunicorn group promptly.
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert time.monotonic() - stopping < 15
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/health", timeout=2)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def test_postgresql_metadata_goes_through_pg_dump_and_pg_restore(tmp_path: Path, monkeypatch):
    """A stand-in for Superset's metadata on PostgreSQL (its `dbs` table) is dumped, restored
    into another database and pointed at the restored serving file."""
    source = Settings(
        data_dir=tmp_path / "source",
        landing_dir=tmp_path / "source" / "landing",
        warehouse_path=tmp_path / "source" / "warehouse.duckdb",
        serving_path=tmp_path / "source" / "serving" / "serving.duckdb",
        as_of=AS_OF,
    )
    source.serving_path.parent.mkdir(parents=True)
    for path in (source.warehouse_path, source.serving_path):
        duckdb.connect(str(path)).execute("create table t as select 1 as x").close()
    for name in ("SUPERSET_HOME", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    from tests.conftest import PG, postgres_connect

    def uri(name: str) -> str:
        return f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"

    with (
        scratch_postgres_database("backup of PostgreSQL metadata") as first,
        scratch_postgres_database("restore of PostgreSQL metadata") as second,
    ):
        con = postgres_connect(first)
        with con, con.cursor() as cursor:
            cursor.execute("create table dbs (database_name text, sqlalchemy_uri text)")
            cursor.execute(
                "insert into dbs values ('pilotage_serving', %s), ('other', 'x')",
                [f"duckdb:///{source.serving_path}?access_mode=read_only"],
            )
        con.close()
        monkeypatch.setenv("SUPERSET_METADATA_URI", uri(first))
        archive = tmp_path / "b.tar.gz"
        manifest = make_backup(source, archive, progress=lambda _m: None)
        assert manifest["superset_metadata"] == "postgresql"
        assert "superset/metadata.pgdump" in manifest["files"]

        target = load_settings({}, data_dir=tmp_path / "target")
        monkeypatch.setenv("SUPERSET_METADATA_URI", uri(second))
        restore(target, archive, progress=lambda _m: None)
        con = postgres_connect(second)
        with con, con.cursor() as cursor:
            cursor.execute("select database_name, sqlalchemy_uri from dbs order by 1")
            rows = cursor.fetchall()
        con.close()
        assert rows == [
            ("other", "x"),
            ("pilotage_serving", f"duckdb:///{target.serving_path}?access_mode=read_only"),
        ]
    assert not (target.data_dir / "superset_home" / "superset.db").exists()
