"""The publish step: atomic swap of the serving file, readers never blocked, failures harmless."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess

import duckdb
import pytest

from pilotage.publish import PublishError, publish
from tests.conftest import AS_OF


def _warehouse(path, revenue: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute("create schema if not exists staging")
    con.execute(
        "create or replace table marts.kpi as select 'r1' as rep_id, ? as revenue", [revenue]
    )
    con.execute("create or replace table staging.secret_raw as select 'not served' as x")
    con.close()


def _revenue(serving) -> int:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute("select revenue from marts.kpi").fetchone()[0]
    finally:
        con.close()


def test_publish_copies_only_served_schemas_and_records_the_as_of(tmp_path):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serve" / "serving.duckdb"
    _warehouse(warehouse, 100)
    result = publish(warehouse, serving, ("marts",), AS_OF)
    assert result.row_counts == {"marts.kpi": 1}
    con = duckdb.connect(str(serving), read_only=True)
    schemas = {
        r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()
    }
    as_of = con.execute("select as_of_date from meta.publication").fetchone()[0]
    con.close()
    assert "staging" not in schemas
    assert as_of == AS_OF
    assert list(serving.parent.iterdir()) == [serving], "no staging file left behind"


def test_a_reader_holding_the_old_file_is_not_blocked_and_new_readers_see_new_data(tmp_path):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    _warehouse(warehouse, 100)
    publish(warehouse, serving, ("marts",), AS_OF)
    reader = duckdb.connect(str(serving), read_only=True)  # a Superset query in flight
    try:
        _warehouse(warehouse, 250)
        publish(warehouse, serving, ("marts",), AS_OF)
        assert reader.execute("select revenue from marts.kpi").fetchone()[0] == 100
    finally:
        reader.close()
    assert _revenue(serving) == 250


def test_a_failed_publish_leaves_the_previous_serving_file(tmp_path):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving.duckdb"
    _warehouse(warehouse, 100)
    publish(warehouse, serving, ("marts",), AS_OF)
    before = serving.read_bytes()
    with pytest.raises(PublishError, match="no tables in schemas"):
        publish(warehouse, serving, ("nothing_here",), AS_OF)
    with pytest.raises(PublishError, match="No warehouse"):
        publish(tmp_path / "missing.duckdb", serving, ("marts",), AS_OF)
    assert serving.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serving.duckdb", "warehouse.duckdb"]


@pytest.fixture
def open_umask():
    """A permissive umask (022, the usual default) for the test, the previous one restored."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_serving_file_and_its_folder_are_private_whatever_the_umask(tmp_path, open_umask):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving" / "serving.duckdb"
    _warehouse(warehouse, 100)
    publish(warehouse, serving, ("marts",), AS_OF)
    assert stat.S_IMODE(serving.stat().st_mode) == 0o600
    assert stat.S_IMODE(serving.parent.stat().st_mode) == 0o700
    publish(warehouse, serving, ("marts",), AS_OF)  # the replaced file too
    assert stat.S_IMODE(serving.stat().st_mode) == 0o600


def test_a_crashed_publishers_staging_files_are_removed_a_live_ones_kept(tmp_path, caplog):
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving" / "serving.duckdb"
    _warehouse(warehouse, 100)
    serving.parent.mkdir()
    dead = subprocess.Popen(["true"])  # noqa: S607 - a pid that is no longer alive (reaped)
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])  # noqa: S607 - another publisher, still building
    host = socket.gethostname()
    try:

        def leftover(owner: str, pid: int, wal: bool) -> list:
            path = serving.parent / f".serving.duckdb.{owner}{pid}.building"
            paths = [path, path.with_name(path.name + ".wal")] if wal else [path]
            for each in paths:
                each.write_bytes(b"half-built")
            return paths

        crashed = leftover(f"{host}.", dead.pid, wal=True)
        crashed += leftover("", dead.pid, wal=False)  # the name of earlier versions (no host)
        building = leftover(f"{host}.", live.pid, wal=True)
        elsewhere = leftover("another-host.", dead.pid, wal=False)  # its pids are not ours
        with caplog.at_level(logging.WARNING, logger="pilotage.publish"):
            publish(warehouse, serving, ("marts",), AS_OF)
        assert not [path for path in crashed if path.exists()]
        assert all(path.exists() for path in building + elsewhere)
        for path in crashed:
            assert any(
                str(path) in message and "no longer running" in message
                for message in caplog.messages
            ), path
        assert sorted(serving.parent.iterdir()) == sorted([serving, *building, *elsewhere])
        assert _revenue(serving) == 100
    finally:
        live.kill()
        live.wait()
