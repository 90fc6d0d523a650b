"""`pilotage backup` and `pilotage restore`: one archive with the warehouse, the serving file,
Superset's metadata and Dagster's run history (pilotage/backup.py)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click

from pilotage_cli.app import DATA_DIR, fail, settings_for, step


def _progress(message: str) -> None:
    click.echo(f"    {message}")


@click.command()
@click.argument("archive", required=False, type=click.Path(dir_okay=False))
@DATA_DIR
def backup(archive: str | None, data_dir: str | None) -> None:
    """Back up an installation into one archive file ARCHIVE (.tar.gz, mode 0600).

    \b
    The archive holds, with a manifest (pilotage version, the data's as-of day, when it was made,
    every file's size and SHA-256):
      - the warehouse, copied under DuckDB's read lock (a running refresh makes the backup stop
        and say so: run it again when the refresh is done);
      - the serving file that Superset reads;
      - Superset's metadata (users, roles, row-level security, dashboards): SQLite through its
        backup API in the demo profile, or `pg_dump` when SUPERSET_METADATA_URI is PostgreSQL
        (the PostgreSQL client tools must then be installed);
      - the secret key the demo generated (in production SUPERSET_SECRET_KEY comes from the
        environment: keep it with the backup);
      - Dagster's run history when it is SQLite under $DAGSTER_HOME.

    Superset may keep running during a backup. ARCHIVE defaults to
    ./pilotage-backup-<UTC time>.tar.gz; keep it on another disk than the data.
    """
    from pilotage.backup import BackupError
    from pilotage.backup import backup as make_backup
    from pilotage.refresh_lock import RefreshBusy, WarehouseLocked

    settings = settings_for(data_dir=data_dir)
    if not archive:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        archive = f"pilotage-backup-{stamp}.tar.gz"
    step(f"backing up {settings.data_dir} into {archive}")
    started = time.monotonic()
    try:
        manifest = make_backup(settings, Path(archive), progress=_progress)
    except (BackupError, RefreshBusy, WarehouseLocked) as exc:
        fail(str(exc))
    click.secho(
        f"    backup done in {time.monotonic() - started:.0f} s: {Path(archive).resolve()} "
        f"({len(manifest['files'])} files, data as of {manifest['as_of']})",
        fg="green",
    )


@click.command()
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Replace the files of an existing installation (stop `pilotage serve` and any refresh "
    "first). Without it, restore only into an empty data folder.",
)
@DATA_DIR
def restore(archive: str, force: bool, data_dir: str | None) -> None:
    """Restore the archive ARCHIVE written by `pilotage backup` into the data folder.

    \b
    Every file is extracted into a staging folder and checked against the manifest's size and
    SHA-256 before anything is replaced: a truncated or corrupted archive is refused, naming what
    is wrong, and nothing changes. Then the warehouse, the serving file, Superset's metadata (and
    its demo secret key) and Dagster's run history take their places under the data folder
    (--data-dir, else $PILOTAGE_DATA_DIR, else ./data), with Superset's database connection
    pointed at the restored serving file. A PostgreSQL dump of the metadata is restored with
    `pg_restore` into SUPERSET_METADATA_URI.

    \b
    A data folder that is not empty is refused unless --force is given. Afterwards start the
    servers with `pilotage serve --as-of <the backup's as-of day>`.
    """
    from pilotage.backup import BackupError
    from pilotage.backup import restore as restore_archive

    settings = settings_for(data_dir=data_dir)
    step(f"restoring {archive} into {settings.data_dir}")
    started = time.monotonic()
    try:
        manifest = restore_archive(settings, Path(archive), force=force, progress=_progress)
    except BackupError as exc:
        fail(str(exc))
    click.secho(
        f"    restore done in {time.monotonic() - started:.0f} s ({len(manifest['files'])} files, "
        f"data as of {manifest['as_of']})",
        fg="green",
    )
    as_of = f" --as-of {manifest['as_of']}" if manifest.get("as_of") else ""
    click.echo(f"    start the servers with: pilotage serve --data-dir {settings.data_dir}{as_of}")
