"""Back up and restore a pilotage installation: one archive with what cannot be rebuilt cheaply.

An archive (``.tar.gz``, mode 0600) holds:

- ``warehouse/warehouse.duckdb``: the warehouse, copied while this process holds the refresh
  lock (pilotage/refresh_lock.py: a refresh in progress is waited for, one that starts waits for
  the copy) and DuckDB's read lock on it;
- ``serving/serving.duckdb``: the served file, copied from an open handle (publish swaps it with
  ``os.replace``: the handle keeps the file as it was when opened, never half of two files);
- Superset's metadata (users, roles, row-level security, dashboards): ``superset/superset.db``
  through SQLite's online backup API (the demo profile), or ``superset/metadata.pgdump`` by
  ``pg_dump`` when ``SUPERSET_METADATA_URI`` is PostgreSQL (the production profile);
- ``superset/.demo-secrets.env``: the secret key (and admin password) the demo generated, without
  which Superset cannot read the metadata's encrypted fields. In production the secrets come from
  the environment and are not in the archive: keep them with the backup, in a secret store;
- ``dagster/...``: Dagster's run history and schedule state when they are SQLite files under
  ``$DAGSTER_HOME`` (the embedded default), through the SQLite backup API;
- ``manifest.json`` (first): format, pilotage version, the data's as-of day, when the backup was
  made, where each file came from, and every file's size and SHA-256.

``restore`` reads the manifest, extracts into a staging folder inside the target data folder,
checks every file's size and checksum, and only then moves the files into place. It refuses a
data folder that is not empty unless forced, and points Superset's database connection at the
restored serving file when the serving path changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from pilotage.publish import process_alive
from pilotage.refresh_lock import refresh_lock
from pilotage.settings import Settings, make_private

FORMAT = 1
MANIFEST = "manifest.json"
WAREHOUSE = "warehouse/warehouse.duckdb"
SERVING = "serving/serving.duckdb"
SUPERSET_SQLITE = "superset/superset.db"
SUPERSET_PGDUMP = "superset/metadata.pgdump"
SUPERSET_SECRETS = "superset/.demo-secrets.env"
DAGSTER = "dagster"
# The Superset database that superset/bootstrap.py creates on the serving file.
SERVING_DATABASE_NAME = "pilotage_serving"
# Dagster's SQLite storage under $DAGSTER_HOME: runs, event logs, schedules (not storage/: the
# compute logs and step outputs, large and rebuilt by the next run).
DAGSTER_FOLDERS = ("history", "schedules")
_CHUNK = 1 << 20

Progress = Callable[[str], None]


class BackupError(RuntimeError):
    """The backup or restore could not be done; the message says what and what to do."""


@dataclasses.dataclass(frozen=True)
class Locations:
    """Where the parts of an installation live for ``settings`` (and the environment)."""

    data_dir: Path
    warehouse: Path
    serving: Path
    superset_home: Path
    metadata_uri: str | None  # SUPERSET_METADATA_URI: None means SQLite in superset_home
    dagster_home: Path

    @property
    def superset_sqlite(self) -> Path:
        return self.superset_home / "superset.db"

    @property
    def secrets_file(self) -> Path:
        return self.superset_home / ".demo-secrets.env"

    @property
    def metadata_engine(self) -> str:
        if not self.metadata_uri:
            return "sqlite"
        scheme = self.metadata_uri.split(":", 1)[0].split("+", 1)[0].lower()
        return "postgresql" if scheme in ("postgresql", "postgres") else scheme


def locations(settings: Settings, environ: dict[str, str] | None = None) -> Locations:
    """The parts' paths: the settings' warehouse and serving file, Superset's home (SUPERSET_HOME,
    else <data dir>/superset_home) and metadata URI, Dagster's home."""
    env = os.environ if environ is None else environ
    home = env.get("SUPERSET_HOME")
    uri = (env.get("SUPERSET_METADATA_URI") or "").strip() or None
    return Locations(
        data_dir=settings.data_dir,
        warehouse=settings.warehouse_path,
        serving=settings.serving_path,
        superset_home=(
            Path(home).expanduser().resolve() if home else settings.data_dir / "superset_home"
        ),
        metadata_uri=uri,
        dagster_home=settings.dagster_home_dir,
    )


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _size(num: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num < 1024 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num} B"  # pragma: no cover


def _version() -> str:
    try:
        return importlib.metadata.version("pilotage")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without install
        return "unknown"


def _pg_command(uri: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump / pg_restore from a SQLAlchemy URI, and the
    environment with its password in PGPASSWORD (never on a command line others can read)."""
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(
            f"Superset's metadata is on PostgreSQL (SUPERSET_METADATA_URI) and {name} is not "
            "installed: install the PostgreSQL client tools of the server's major version "
            "(Debian/Ubuntu: apt-get install postgresql-client; the official images: "
            "postgres:<version>), or run this command where they are."
        )
    return path


def _run_pg(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(
            f"{what} failed (exit code {result.returncode}): {result.stderr.strip()[-2000:]}"
        )


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database that may be in use (SQLite's backup API)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _staging(folder: Path, kind: str) -> Path:
    """A private staging folder ``.pilotage-<kind>-<pid>-<random>`` in ``folder``, after
    removing those a backup or restore that died (kill -9, power cut) left there."""
    prefix = f".pilotage-{kind}-"
    for leftover in folder.glob(f"{prefix}*"):
        pid = leftover.name[len(prefix) :].split("-", 1)[0]
        if leftover.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=folder))


# ---------------------------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------------------------


def _copy_warehouse(warehouse: Path, target: Path) -> list[str]:
    """Copy the warehouse (and its WAL, if a crash left one) under DuckDB's read lock."""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise BackupError(
                f"{warehouse} is being written (a refresh is running): {exc}. Run the backup "
                "when the refresh has finished; a copy taken now would not be consistent."
            ) from exc
        raise BackupError(f"{warehouse} cannot be opened by DuckDB: {exc}") from exc
    copied = [WAREHOUSE]
    try:
        # While this connection is open no process can open the file for writing.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(warehouse, target)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, target.with_name(target.name + ".wal"))
            copied.append(WAREHOUSE + ".wal")
    finally:
        con.close()
    return copied


def _publication(serving: Path) -> tuple[str | None, str | None]:
    """(as-of day, published at) of a serving file, from its meta.publication table."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        row = con.execute("select as_of_date, published_at from meta.publication").fetchone()
    except duckdb.Error:
        return None, None
    finally:
        con.close()
    return (row[0].isoformat(), row[1].isoformat()) if row else (None, None)


def _copy_serving(serving: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # An open handle keeps the file publish may os.replace meanwhile: one whole file is copied.
    with open(serving, "rb") as source, open(target, "wb") as copy:
        shutil.copyfileobj(source, copy, _CHUNK)


def _dagster_files(home: Path) -> Iterator[Path]:
    for folder in DAGSTER_FOLDERS:
        if (home / folder).is_dir():
            yield from sorted((home / folder).rglob("*.db"))


def backup(settings: Settings, archive: Path, progress: Progress = print) -> dict:
    """Write the archive of ``settings``' installation to ``archive``; return its manifest."""
    where = locations(settings)
    archive = Path(archive).expanduser().resolve()
    if archive.exists():
        raise BackupError(f"{archive} already exists: name a new archive file.")
    if not archive.parent.is_dir():
        raise BackupError(f"{archive.parent} is not a folder: create it or choose another path.")
    if not where.warehouse.exists():
        raise BackupError(
            f"No warehouse at {where.warehouse}: nothing to back up (check --data-dir, "
            "PILOTAGE_DATA_DIR or PILOTAGE_WAREHOUSE_PATH)."
        )
    if not where.serving.exists():
        raise BackupError(
            f"No serving file at {where.serving}: publish first (`pilotage refresh` or "
            "`pilotage publish`), then back up."
        )
    notes: list[str] = []
    staging = _staging(archive.parent, "backup")
    try:
        # In the refresh queue: a refresh waits for the copy, the copy for a refresh.
        with refresh_lock(
            where.warehouse,
            where.serving,
            run_id=f"backup-{uuid.uuid4().hex[:8]}",
            trigger="pilotage backup",
            wait_seconds=settings.refresh_wait_seconds,
            report=progress,
        ):
            progress(f"copying the warehouse {where.warehouse} (no refresh writes it meanwhile)")
            names = _copy_warehouse(where.warehouse, staging / WAREHOUSE)
        progress(f"copying the serving file {where.serving}")
        _copy_serving(where.serving, staging / SERVING)
        names.append(SERVING)
        as_of, published_at = _publication(staging / SERVING)

        engine = None
        if where.metadata_engine == "postgresql":
            engine = "postgresql"
            progress("dumping Superset's metadata from PostgreSQL (pg_dump)")
            pg_dump = _pg_tool("pg_dump")
            conninfo, env = _pg_command(where.metadata_uri or "")
            (staging / SUPERSET_PGDUMP).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _run_pg(
                [pg_dump, "--format=custom", "--no-owner"]
                + ["--file", str(staging / SUPERSET_PGDUMP), "--dbname", conninfo],
                env,
                "pg_dump of Superset's metadata",
            )
            names.append(SUPERSET_PGDUMP)
        elif where.metadata_engine != "sqlite":
            raise BackupError(
                f"SUPERSET_METADATA_URI uses {where.metadata_engine}: pilotage backs up SQLite "
                "and PostgreSQL metadata only; back that database up with its own tools."
            )
        elif where.superset_sqlite.exists():
            engine = "sqlite"
            progress(f"copying Superset's metadata {where.superset_sqlite} (SQLite backup API)")
            _sqlite_copy(where.superset_sqlite, staging / SUPERSET_SQLITE)
            names.append(SUPERSET_SQLITE)
        else:
            notes.append(
                f"no Superset metadata at {where.superset_sqlite} (Superset never bootstrapped):"
                " none in the archive"
            )
        if where.secrets_file.exists():
            (staging / SUPERSET_SECRETS).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(where.secrets_file, staging / SUPERSET_SECRETS)
            names.append(SUPERSET_SECRETS)
        elif engine:
            notes.append(
                "Superset's secret key comes from the environment (SUPERSET_SECRET_KEY), not from "
                "a file: keep it with this backup, the metadata's encrypted fields need it"
            )

        dagster = list(_dagster_files(where.dagster_home))
        if dagster:
            progress(f"copying Dagster's run history ({len(dagster)} SQLite files)")
        for path in dagster:
            name = f"{DAGSTER}/{path.relative_to(where.dagster_home).as_posix()}"
            _sqlite_copy(path, staging / name)
            names.append(name)
        if not dagster:
            notes.append(
                f"no SQLite run history under {where.dagster_home}: if Dagster's storage is "
                "PostgreSQL (docker/dagster.yaml), back that database up with pg_dump"
            )

        progress(f"checksumming {len(names)} files")
        files = {}
        for name in names:
            path = staging / name
            files[name] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
        manifest = {
            "format": FORMAT,
            "pilotage_version": _version(),
            "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "as_of": as_of,
            "published_at": published_at,
            "superset_metadata": engine,
            "source": {
                "data_dir": str(where.data_dir),
                "warehouse": str(where.warehouse),
                "serving": str(where.serving),
                "superset_home": str(where.superset_home),
                "dagster_home": str(where.dagster_home),
            },
            "files": files,
            "notes": notes,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")

        total = sum(f["bytes"] for f in files.values())
        progress(f"writing {archive} ({_size(total)} before compression)")
        # Written in the staging folder (same file system), renamed when complete: no
        # half-written archive ever bears the archive's name.
        partial = staging / f".archive-{archive.name}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar,
        ):
            for name in [MANIFEST, *names]:  # the manifest first: read before the rest
                tar.add(staging / name, arcname=name, recursive=False)
            raw.flush()
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, archive)
        make_private(archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for note in notes:
        progress(f"note: {note}")
    return manifest


# ---------------------------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------------------------


def _damaged(archive: Path, exc: BaseException) -> BackupError:
    return BackupError(
        f"{archive} is damaged or truncated ({type(exc).__name__}: {exc}): it cannot be "
        "restored. Nothing was changed; restore from another backup."
    )


_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError)


def read_manifest(archive: Path) -> dict:
    """The manifest of ``archive``, checked for the format this version reads."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"No archive at {archive}.")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST:
                raise BackupError(
                    f"{archive} does not start with {MANIFEST}: it is not a pilotage backup "
                    "(or it was repacked). Nothing was changed."
                )
            handle = tar.extractfile(member)
            manifest = json.loads(handle.read().decode("utf-8")) if handle else None
    except BackupError:
        raise
    except json.JSONDecodeError as exc:
        raise BackupError(f"{archive}: {MANIFEST} is not valid JSON ({exc}).") from exc
    except _READ_ERRORS as exc:
        raise _damaged(archive, exc) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{archive}: {MANIFEST} has no list of files; not a pilotage backup.")
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{archive} is in backup format {manifest.get('format')!r}; this pilotage "
            f"({_version()}) reads format {FORMAT}: restore it with the version that wrote it "
            f"({manifest.get('pilotage_version')})."
        )
    return manifest


def _targets(where: Locations, manifest: dict) -> dict[str, Path]:
    """Where each file of the archive goes for the target installation."""
    targets = {}
    for name in manifest["files"]:
        if name == WAREHOUSE:
            targets[name] = where.warehouse
        elif name == WAREHOUSE + ".wal":
            targets[name] = where.warehouse.with_name(where.warehouse.name + ".wal")
        elif name == SERVING:
            targets[name] = where.serving
        elif name == SUPERSET_SQLITE:
            targets[name] = where.superset_sqlite
        elif name == SUPERSET_SECRETS:
            targets[name] = where.secrets_file
        elif name == SUPERSET_PGDUMP:
            continue  # restored into the database, not a file
        elif name.startswith(DAGSTER + "/") and ".." not in Path(name).parts:
            targets[name] = where.dagster_home / name[len(DAGSTER) + 1 :]
        else:
            raise BackupError(f"the archive lists {name!r}, which this version does not restore.")
    return targets


def _check_engine(where: Locations, manifest: dict) -> None:
    engine = manifest.get("superset_metadata")
    if engine == "sqlite" and where.metadata_engine != "sqlite":
        raise BackupError(
            "The backup holds Superset's metadata as SQLite (the demo profile) but "
            f"SUPERSET_METADATA_URI points to {where.metadata_engine}: unset it to restore the "
            "demo profile. Nothing was changed."
        )
    if engine == "postgresql":
        if where.metadata_engine != "postgresql":
            raise BackupError(
                "The backup holds Superset's metadata as a PostgreSQL dump: set "
                "SUPERSET_METADATA_URI to the (empty or disposable) PostgreSQL database to "
                "restore it into. Nothing was changed."
            )
        _pg_tool("pg_restore")


def _occupied(where: Locations, targets: dict[str, Path]) -> list[str]:
    found = []
    # A killed restore's staging folder does not count: the next restore removes it.
    if where.data_dir.exists() and any(
        not p.name.startswith(".pilotage-restore-") for p in where.data_dir.iterdir()
    ):
        found.append(f"the data folder {where.data_dir} is not empty")
    found += [str(path) for path in targets.values() if path.exists()]
    return found


def _extract(archive: Path, manifest: dict, staging: Path, progress: Progress) -> None:
    """Extract every file of the manifest into ``staging`` and check its size and checksum."""
    expected = manifest["files"]
    seen: set[str] = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in expected or not member.isfile():
                    raise BackupError(
                        f"{archive} holds {member.name!r}, which its manifest does not list: "
                        "the archive was altered. Nothing was changed."
                    )
                if member.name in seen:
                    raise BackupError(
                        f"{archive} holds {member.name!r} twice. Nothing was changed."
                    )
                seen.add(member.name)
                tar.extract(member, staging, filter="data")
    except BackupError:
        raise
    except _READ_ERRORS as exc:
        raise _damaged(archive, exc) from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(
            f"{archive} lacks {', '.join(missing)}, listed in its manifest: the archive is "
            "incomplete. Nothing was changed."
        )
    progress(f"verifying the checksums of {len(expected)} files")
    wrong = []
    for name, info in expected.items():
        path = staging / name
        size, digest = path.stat().st_size, sha256(path)
        if size != info.get("bytes") or digest != info.get("sha256"):
            wrong.append(
                f"{name}: {size} bytes with SHA-256 {digest[:16]}..., the manifest says "
                f"{info.get('bytes')} bytes with {str(info.get('sha256'))[:16]}..."
            )
    if wrong:
        raise BackupError(
            f"{archive} is corrupted, its files differ from its manifest: "
            + "; ".join(wrong)
            + ". Nothing was changed; restore from another backup."
        )


def _repoint_sqlite(metadata: Path, old: str, new: str) -> int:
    con = sqlite3.connect(metadata)
    try:
        cursor = con.execute(
            "update dbs set sqlalchemy_uri = replace(sqlalchemy_uri, ?, ?) "
            "where database_name = ? and instr(sqlalchemy_uri, ?) > 0",
            (old, new, SERVING_DATABASE_NAME, old),
        )
        con.commit()
        return cursor.rowcount
    finally:
        con.close()


def _repoint_postgresql(uri: str, old: str, new: str) -> int:
    import psycopg2

    conninfo, env = _pg_command(uri)
    con = psycopg2.connect(conninfo, password=env.get("PGPASSWORD"))
    try:
        with con, con.cursor() as cursor:
            cursor.execute(
                "update dbs set sqlalchemy_uri = replace(sqlalchemy_uri, %s, %s) "
                "where database_name = %s and strpos(sqlalchemy_uri, %s) > 0",
                (old, new, SERVING_DATABASE_NAME, old),
            )
            return cursor.rowcount
    finally:
        con.close()


def restore(
    settings: Settings, archive: Path, force: bool = False, progress: Progress = print
) -> dict:
    """Restore ``archive`` into ``settings``' installation; return its manifest.

    Nothing is changed until every file of the archive has been extracted and checked."""
    archive = Path(archive).expanduser().resolve()
    where = locations(settings)
    progress(f"reading {archive}")
    manifest = read_manifest(archive)
    progress(
        f"backup of {manifest.get('source', {}).get('data_dir')} made at "
        f"{manifest.get('created_at')} by pilotage {manifest.get('pilotage_version')}, data as of "
        f"{manifest.get('as_of')}"
    )
    targets = _targets(where, manifest)
    _check_engine(where, manifest)
    occupied = _occupied(where, targets)
    if occupied and not force:
        raise BackupError(
            "Refusing to overwrite an installation: "
            + "; ".join(occupied)
            + ". Restore into an empty --data-dir, or add --force to replace these files "
            "(stop `pilotage serve` and any refresh first)."
        )
    where.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = _staging(where.data_dir, "restore")
    try:
        progress(f"extracting into {staging}")
        _extract(archive, manifest, staging, progress)
        # Checked: from here on the target changes.
        for name, target in targets.items():
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            progress(f"restoring {target}")
            shutil.move(staging / name, target)
            make_private(target.parent, target)
        wal = where.warehouse.with_name(where.warehouse.name + ".wal")
        if WAREHOUSE + ".wal" not in targets and wal.exists():
            wal.unlink()  # another warehouse's log, replayed onto this one otherwise
        for suffix in ("-journal", "-wal", "-shm"):
            if SUPERSET_SQLITE in targets:
                where.superset_sqlite.with_name(where.superset_sqlite.name + suffix).unlink(
                    missing_ok=True
                )
        if SUPERSET_PGDUMP in manifest["files"]:
            progress("restoring Superset's metadata into PostgreSQL (pg_restore)")
            conninfo, env = _pg_command(where.metadata_uri or "")
            _run_pg(
                [_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner"]
                + ["--single-transaction", "--dbname", conninfo, str(staging / SUPERSET_PGDUMP)],
                env,
                "pg_restore of Superset's metadata",
            )
        old = manifest.get("source", {}).get("serving")
        if old and old != str(where.serving) and manifest.get("superset_metadata"):
            if manifest["superset_metadata"] == "sqlite":
                changed = _repoint_sqlite(where.superset_sqlite, old, str(where.serving))
            else:
                changed = _repoint_postgresql(where.metadata_uri or "", old, str(where.serving))
            progress(
                f"Superset's database {SERVING_DATABASE_NAME!r} now reads {where.serving} "
                f"(was {old}; {changed} connection updated)"
            )
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    return manifest
