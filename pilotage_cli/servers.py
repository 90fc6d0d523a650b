"""`pilotage serve` and `pilotage superset ...`: Superset (its own environment) and the Dagster UI
with its daemon, started as subprocesses with an environment built from the settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from pilotage.settings import PROJECT_ROOT, Settings
from pilotage_cli.app import DATA_DIR, fail, prepare_dagster_home, prepare_dbt, settings_for, step


@click.group()
def superset() -> None:
    """Superset: bootstrap (metadata, admin, roles, dashboards) and serve."""


@superset.command("bootstrap")
@DATA_DIR
def superset_bootstrap(data_dir: str | None) -> None:
    """Create or upgrade Superset's metadata, admin and roles; import the dashboards.

    Needs a published serving file (`pilotage refresh`). In production (PILOTAGE_ENV=production)
    SUPERSET_SECRET_KEY and SUPERSET_ADMIN_PASSWORD come from the environment.
    """
    bootstrap_superset(settings_for(data_dir=data_dir))


def bootstrap_superset(settings: Settings) -> None:
    from pilotage import superset_admin

    step("bootstrapping Superset (metadata database, admin, roles, dashboards)")
    superset_admin.ensure_demo_secrets(settings)
    started = time.monotonic()
    try:
        superset_admin.bootstrap(settings)
    except superset_admin.SupersetError as exc:
        fail(str(exc))
    click.echo(f"    Superset ready ({time.monotonic() - started:.0f} s)")


@superset.command("serve")
@click.option("--port", default=8088, show_default=True)
@DATA_DIR
def superset_serve(port: int, data_dir: str | None) -> None:
    """Start only the Superset web server (Ctrl-C stops it)."""
    run_servers(settings_for(data_dir=data_dir), superset_port=port, dagster_port=None)


@click.command()
@click.option("--superset-port", default=8088, show_default=True)
@click.option("--dagster-port", default=3000, show_default=True)
@DATA_DIR
def serve(superset_port: int, dagster_port: int, data_dir: str | None) -> None:
    """Start Superset and the Dagster UI (with its daemon: schedule and landing sensor).

    Ctrl-C stops both.
    """
    run_servers(settings_for(data_dir=data_dir), superset_port, dagster_port)


def _wait_http(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(1)
    return False


def run_servers(settings: Settings, superset_port: int, dagster_port: int | None) -> None:
    """Superset, and with a port the Dagster UI and daemon, until Ctrl-C or `kill`."""
    from pilotage import superset_admin, superset_api

    superset_admin.ensure_demo_secrets(settings)
    processes: list[tuple[str, subprocess.Popen]] = []

    def stop(*_args) -> None:
        for _name, proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def terminated(*_args) -> None:
        raise KeyboardInterrupt  # `kill` stops the servers as cleanly as Ctrl-C does

    signal.signal(signal.SIGTERM, terminated)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        step(f"starting Superset on http://127.0.0.1:{superset_port} (log: {logs}/superset.log)")
        superset_log = open(logs / "superset.log", "ab")  # noqa: SIM115 - lives as long as serve
        superset_proc = subprocess.Popen(
            superset_admin.serve_command(settings, port=superset_port),
            env=superset_admin.superset_env(settings),
            stdout=superset_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(("Superset", superset_proc))
        if dagster_port:
            prepare_dagster_home(settings)
            prepare_dbt(settings, quiet=True)
            step(f"starting Dagster on http://127.0.0.1:{dagster_port} (log: {logs}/dagster.log)")
            dagster_log = open(logs / "dagster.log", "ab")  # noqa: SIM115
            dagster_cmd = [str(Path(sys.executable).with_name("dagster")), "dev"]
            dagster_cmd += ["-m", "dagster_project.definitions"]
            dagster_cmd += ["-h", "127.0.0.1", "-p", str(dagster_port)]
            processes.append(
                (
                    "Dagster",
                    subprocess.Popen(
                        dagster_cmd,
                        cwd=PROJECT_ROOT,
                        # The code location reads the same settings (and DAGSTER_HOME) from it.
                        env=settings.subprocess_env(),
                        stdout=dagster_log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ),
                )
            )
        if not _wait_http(f"http://127.0.0.1:{superset_port}/health", superset_proc, 180):
            fail(f"Superset did not start: see {logs}/superset.log")
        if dagster_port and not _wait_http(
            f"http://127.0.0.1:{dagster_port}/server_info", processes[1][1], 180
        ):
            fail(f"Dagster did not start: see {logs}/dagster.log")
        user, password = superset_admin.admin_credentials(settings)
        click.secho("\npilotage is running:", fg="green", bold=True)
        for i, slug in enumerate(superset_api.dashboard_slugs()):
            label = "  Dashboards  " if i == 0 else " " * 14
            click.echo(f"{label}http://127.0.0.1:{superset_port}/superset/dashboard/{slug}/")
        click.echo(f"              log in as {user!r} with password {password!r}")
        if dagster_port:
            click.echo(f"  Dagster     http://127.0.0.1:{dagster_port}  (runs, checks, sensor)")
        click.echo("Press Ctrl-C to stop.")
        while all(proc.poll() is None for _name, proc in processes):
            time.sleep(1)
        dead = [name for name, proc in processes if proc.poll() is not None]
        fail(f"{', '.join(dead)} stopped unexpectedly: see the logs in {logs}")
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        stop()
