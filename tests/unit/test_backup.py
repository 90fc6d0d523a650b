"""`pilotage backup` / `restore` on a tiny installation built here: what the archive holds, that a
restore gives the same data back, and that damaged archives and occupied folders are refused
with messages that name the problem (the full demo round trip with Superset is
tests/e2e/test_backup.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sqlite3
import stat
import subprocess
import sys
import tarfile

import duckdb
import pytest
from click.testing import CliRunner

from pilotage import backup
from pilotage.publish import publish
from pilotage.refresh_lock import RefreshBusy, WarehouseLocked, refresh_lock
from pilotage.settings import Settings
from pilotage_cli import main
from tests.conftest import AS_OF


@pytest.fixture(autouse=True)
def _demo_profile(monkeypatch):
    for name in ("SUPERSET_HOME", "SUPERSET_METADATA_URI", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)


def _settings(data_dir) -> Settings:
    return Settings(
        data_dir=data_dir,
        landing_dir=data_dir / "landing",
        warehouse_path=data_dir / "warehouse.duckdb",
        serving_path=data_dir / "serving" / "serving.duckdb",
        as_of=AS_OF,
    )


def _installation(data_dir) -> Settings:
    """A warehouse with a mart, its published serving file, a Superset SQLite metadata whose
    database points at the serving file, the demo secrets and a Dagster run history."""
    settings = _settings(data_dir)
    data_dir.mkdir()
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.kpi as select range as id, range * 2.5 as revenue from range(500)"
    )
    con.close()
    publish(settings.warehouse_path, settings.serving_path, ("marts",), AS_OF)
    home = data_dir / "superset_home"
    home.mkdir()
    meta = sqlite3.connect(home / "superset.db")
    meta.execute("create table dbs (id integer, database_name text, sqlalchemy_uri text)")
    meta.execute(
        "insert into dbs values (1, 'pilotage_serving', ?), (2, 'other', 'sqlite:///x.db')",
        [f"duckdb:///{settings.serving_path}"],
    )
    meta.execute("create table dashboards (slug text)")
    meta.executemany("insert into dashboards values (?)", [("sales",), ("wallboard",)])
    meta.commit()
    meta.close()
    (home / ".demo-secrets.env").write_text("SUPERSET_SECRET_KEY=k\n")
    runs = data_dir / "dagster_home" / "history"
    runs.mkdir(parents=True)
    history = sqlite3.connect(runs / "runs.db")
    history.execute("create table runs (run_id text)")
    history.execute("insert into runs values ('r1')")
    history.commit()
    history.close()
    return settings


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_backup_then_restore_gives_the_same_installation_back(tmp_path):
    source = _installation(tmp_path / "source")
    archive = tmp_path / "backup.tar.gz"
    messages: list[str] = []
    manifest = backup.backup(source, archive, progress=messages.append)

    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert manifest["as_of"] == AS_OF.isoformat()
    assert manifest["superset_metadata"] == "sqlite"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert names[0] == "manifest.json"
        # The checksums of the manifest are those of the files the archive holds.
        for name in names[1:]:
            data = tar.extractfile(name).read()
            assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest(), name
    assert set(names[1:]) == {
        "warehouse/warehouse.duckdb",
        "serving/serving.duckdb",
        "superset/superset.db",
        "superset/.demo-secrets.env",
        "dagster/history/runs.db",
    }
    # The serving file is the same bytes; the others are consistent copies.
    assert manifest["files"]["serving/serving.duckdb"]["sha256"] == _sha(source.serving_path)
    assert any("warehouse" in m for m in messages), messages

    target = _settings(tmp_path / "restored")
    # What a killed restore left does not make the folder "not empty"; it is cleaned up.
    (target.data_dir / ".pilotage-restore-999999999-abc").mkdir(parents=True)
    backup.restore(target, archive, progress=messages.append)
    query = "select count(*), sum(revenue) from marts.kpi"
    assert _rows(target.warehouse_path, query) == [(500, sum(i * 2.5 for i in range(500)))]
    assert _rows(target.serving_path, query) == _rows(source.serving_path, query)
    assert _sha(target.serving_path) == _sha(source.serving_path)
    meta = sqlite3.connect(target.data_dir / "superset_home" / "superset.db")
    uris = dict(meta.execute("select database_name, sqlalchemy_uri from dbs").fetchall())
    slugs = [r[0] for r in meta.execute("select slug from dashboards order by 1")]
    meta.close()
    # Superset's connection now reads the restored serving file; other databases untouched.
    assert uris == {
        "pilotage_serving": f"duckdb:///{target.serving_path}",
        "other": "sqlite:///x.db",
    }
    assert slugs == ["sales", "wallboard"]
    secrets = target.data_dir / "superset_home" / ".demo-secrets.env"
    assert secrets.read_text() == "SUPERSET_SECRET_KEY=k\n"
    history = sqlite3.connect(target.data_dir / "dagster_home" / "history" / "runs.db")
    assert history.execute("select run_id from runs").fetchall() == [("r1",)]
    history.close()
    for path in (target.warehouse_path, target.serving_path, secrets):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not list(target.data_dir.glob(".pilotage-*")), "the staging folder is removed"


def test_restore_refuses_a_non_empty_data_dir_unless_forced(tmp_path):
    source = _installation(tmp_path / "source")
    archive = tmp_path / "backup.tar.gz"
    backup.backup(source, archive, progress=lambda _m: None)
    target = _settings(tmp_path / "occupied")
    target.data_dir.mkdir()
    (target.data_dir / "notes.txt").write_text("mine")
    with pytest.raises(backup.BackupError, match=r"not empty.*--force"):
        backup.restore(target, archive, progress=lambda _m: None)
    assert sorted(p.name for p in target.data_dir.iterdir()) == ["notes.txt"]
    # A stale WAL of another warehouse would be replayed onto the restored one: removed.
    stale_wal = target.data_dir / "warehouse.duckdb.wal"
    stale_wal.write_bytes(b"garbage")
    # So would the staging folders of a restore that was killed (its pid is not running).
    dead = target.data_dir / ".pilotage-restore-999999999-abc"
    (dead / "warehouse").mkdir(parents=True)
    backup.restore(target, archive, force=True, progress=lambda _m: None)
    assert not stale_wal.exists()
    assert not dead.exists()
    assert _rows(target.warehouse_path, "select count(*) from marts.kpi") == [(500,)]
    assert (target.data_dir / "notes.txt").read_text() == "mine"


def test_a_truncated_archive_is_refused_and_nothing_changes(tmp_path):
    source = _installation(tmp_path / "source")
    archive = tmp_path / "backup.tar.gz"
    backup.backup(source, archive, progress=lambda _m: None)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    target = _settings(tmp_path / "restored")
    with pytest.raises(backup.BackupError, match=r"truncated\.tar\.gz is damaged or truncated"):
        backup.restore(target, truncated, progress=lambda _m: None)
    assert not target.warehouse_path.exists() and not target.serving_path.exists()
    assert not list(target.data_dir.iterdir())
    # Garbage that is not even gzip is refused the same way.
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive" * 100)
    with pytest.raises(backup.BackupError, match="damaged or truncated"):
        backup.restore(target, garbage, progress=lambda _m: None)


def test_a_file_that_differs_from_the_manifest_is_named(tmp_path):
    source = _installation(tmp_path / "source")
    archive = tmp_path / "backup.tar.gz"
    backup.backup(source, archive, progress=lambda _m: None)
    # Repack with one byte of the serving file changed and the original manifest: the gzip and
    # tar layers are sound, only the checksum can tell.
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as old, tarfile.open(tampered, "w:gz") as new:
        for member in old:
            data = old.extractfile(member).read()
            if member.name == "serving/serving.duckdb":
                data = data[:5000] + bytes([data[5000] ^ 0xFF]) + data[5001:]
            new.addfile(member, io.BytesIO(data))
    target = _settings(tmp_path / "restored")
    with pytest.raises(backup.BackupError) as error:
        backup.restore(target, tampered, progress=lambda _m: None)
    message = str(error.value)
    assert "corrupted" in message and "serving/serving.duckdb" in message, message
    assert "warehouse/warehouse.duckdb" not in message, "only the damaged file is named"
    assert not target.serving_path.exists()


def test_an_archive_without_manifest_is_not_a_backup(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(backup.BackupError, match="does not start with manifest.json"):
        backup.read_manifest(archive)
    manifest = json.dumps({"format": 99, "files": {}, "pilotage_version": "9.0"}).encode()
    future = tmp_path / "future.tar.gz"
    with tarfile.open(future, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    with pytest.raises(backup.BackupError, match=r"format 99.*restore it with the version"):
        backup.read_manifest(future)


def test_backup_refuses_while_another_program_writes_the_warehouse(tmp_path):
    source = _installation(tmp_path / "source")
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', "
            "flush=True); time.sleep(60)",
            str(source.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseLocked, match=rf"is open in .* \(pid {writer.pid}\)"):
            backup.backup(source, tmp_path / "b.tar.gz", progress=lambda _m: None)
    finally:
        writer.kill()
        writer.wait()
    assert not list(tmp_path.glob("b.tar.gz*")) and not list(tmp_path.glob(".pilotage-*"))


def test_backup_waits_for_the_refresh_in_progress_then_gives_up_naming_it(tmp_path):
    source = dataclasses.replace(_installation(tmp_path / "source"), refresh_wait_seconds=1)
    with refresh_lock(
        source.warehouse_path,
        source.serving_path,
        run_id="a-refresh",
        trigger="schedule working_hours_refresh",
        wait_seconds=0,
    ):
        messages: list[str] = []
        # A second open of the lock file: taken, even in this process (flock is per open file).
        with pytest.raises(RefreshBusy, match=r"run a-refresh \(schedule working_hours_refresh\)"):
            backup.backup(source, tmp_path / "b.tar.gz", progress=messages.append)
    assert any("waiting for the refresh in progress" in m for m in messages), messages
    assert not list(tmp_path.glob("b.tar.gz*"))


def test_missing_postgresql_tools_say_what_to_install(tmp_path, monkeypatch):
    source = _installation(tmp_path / "source")
    monkeypatch.setenv("SUPERSET_METADATA_URI", "postgresql+psycopg2://u:p@127.0.0.1/superset")
    monkeypatch.setattr(backup.shutil, "which", lambda _name: None)
    with pytest.raises(backup.BackupError, match=r"pg_dump is not installed.*postgresql-client"):
        backup.backup(source, tmp_path / "b.tar.gz", progress=lambda _m: None)
    assert not list(tmp_path.glob("b.tar.gz*"))


def test_the_commands_report_refusals_as_errors(tmp_path, umask):
    source = _installation(tmp_path / "source")
    runner = CliRunner()
    archive = tmp_path / "b.tar.gz"
    result = runner.invoke(main, ["backup", str(archive), "--data-dir", str(source.data_dir)])
    assert result.exit_code == 0, result.output
    assert "copying the warehouse" in result.output and "backup done" in result.output
    archive.write_bytes(archive.read_bytes()[:-200])  # the end of the transfer lost
    result = runner.invoke(main, ["restore", str(archive), "--data-dir", str(tmp_path / "new")])
    assert result.exit_code == 1
    assert "b.tar.gz is damaged or truncated" in result.output, result.output
    assert "Nothing was changed" in result.output
    result = runner.invoke(main, ["backup", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "No warehouse at" in result.output, result.output
