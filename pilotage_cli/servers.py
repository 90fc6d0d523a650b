"""`pilotage serve` and `pilotage superset ...`: Superset (its own environment) and the Dagster UI
with its daemon, started as subprocesses with an environment built from the settings."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from pilotage.settings import PROJECT_ROOT, Settings, as_of_pinned, with_superset_port
from pilotage_cli.app import (
    AS_OF,
    DATA_DIR,
    fail,
    prepare_dagster_home,
    prepare_dbt,
    settings_for,
    step,
)


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
@AS_OF
@DATA_DIR
def serve(superset_port: int, dagster_port: int, as_of: str | None, data_dir: str | None) -> None:
    """Start Superset and the Dagster UI (with its daemon: schedule and landing sensor).

    Superset comes first and stays up when Dagster is slow to start or stops: the dashboards are
    served meanwhile, and what happened to Dagster is reported (log: <data dir>/logs/dagster.log).
    --as-of is the day the runs launched by the schedule and the sensor compute pacing for (give
    the demo's day to keep refreshing a demo built for another day; without it and without
    PILOTAGE_AS_OF each run uses its own real date). The cache warm-up after each
    refresh calls $PILOTAGE_SUPERSET_URL, else Superset on --superset-port.

    Ctrl-C or SIGTERM stops both, with every process they started.
    """
    run_servers(
        settings_for(as_of, data_dir), superset_port, dagster_port, pin_as_of=as_of_pinned(as_of)
    )


# Readiness: generous (a loaded machine takes minutes), with progress every PROGRESS_EVERY s.
SUPERSET_TIMEOUT = 600
DAGSTER_TIMEOUT = 600
PROGRESS_EVERY = 15
# On stop: SIGTERM to each process group, then SIGKILL to what is left after STOP_GRACE s.
STOP_GRACE = 10


class ServeError(RuntimeError):
    """Superset did not start or stopped; the message says where its log is."""


@dataclasses.dataclass
class Service:
    """A server started by ``serve`` in its own process group (its pid is the group's id)."""

    name: str
    process: subprocess.Popen
    url: str  # answers 200 when the server is ready
    log: Path
    ready: bool = False
    gave_up: bool = False  # its readiness timeout passed and was reported
    stopped: bool = False  # its unexpected exit was reported

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2):
                return True
        except OSError:  # not listening yet, an error status, or a timeout
            return False


def supervise(
    superset: Service,
    dagster: Service | None,
    echo=click.echo,
    *,
    superset_timeout: float = SUPERSET_TIMEOUT,
    dagster_timeout: float = DAGSTER_TIMEOUT,
    progress_every: float = PROGRESS_EVERY,
    on_superset_ready=lambda: None,
    until=lambda: False,
    poll: float = 1.0,
) -> None:
    """Wait for the servers, then watch them until ``until()`` (tests) or an interrupt.

    Superset must start within ``superset_timeout`` and keep running (ServeError otherwise).
    Dagster may be slow or stop: that is reported, Superset keeps serving the dashboards."""
    started = time.monotonic()
    last_progress = started
    while not until():
        now = time.monotonic()
        elapsed = now - started
        if superset.process.poll() is not None:
            raise ServeError(
                f"Superset stopped (exit code {superset.process.returncode}): see {superset.log}"
            )
        if not superset.ready:
            if superset.answers():
                superset.ready = True
                on_superset_ready()
            elif elapsed > superset_timeout:
                raise ServeError(
                    f"Superset did not answer {superset.url} within {superset_timeout:.0f} s: "
                    f"see {superset.log}"
                )
        if dagster and not dagster.stopped:
            if dagster.process.poll() is not None:
                dagster.stopped = True
                echo(
                    f"Dagster stopped (exit code {dagster.process.returncode}): see "
                    f"{dagster.log}. Superset keeps serving the dashboards; no refresh runs "
                    "until `pilotage serve` is restarted."
                )
            elif not dagster.ready and dagster.answers():
                dagster.ready = True
                echo(f"Dagster ready on {dagster.url.rsplit('/', 1)[0]} ({elapsed:.0f} s)")
            elif not dagster.ready and elapsed > dagster_timeout and not dagster.gave_up:
                dagster.gave_up = True
                echo(
                    f"Dagster has not answered after {elapsed:.0f} s: see {dagster.log}. "
                    "Superset keeps serving the dashboards; Dagster is still watched."
                )
        waiting = [
            s.name for s in (superset, dagster) if s and not (s.ready or s.stopped or s.gave_up)
        ]
        if waiting and now - last_progress >= progress_every:
            last_progress = now
            echo(f"waiting for {' and '.join(waiting)} ({elapsed:.0f} s)...")
        time.sleep(poll)


def _group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group has any process
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def stop_process_groups(
    processes: list[subprocess.Popen], grace: float = STOP_GRACE, echo=click.echo
) -> None:
    """SIGTERM every process group, SIGKILL what is left after ``grace`` seconds, and wait for
    every member of the groups (grandchildren included) to be gone."""
    groups = [proc.pid for proc in processes]
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    for signum, wait in ((signal.SIGKILL, grace), (None, 5.0)):
        deadline = time.monotonic() + wait
        while True:
            for proc in processes:
                proc.poll()  # reap our own children
            left = [pgid for pgid in groups if _group_members(pgid)]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not left:
            break
        if signum is not None:
            names = ", ".join(
                f"{Path(str(proc.args[0])).name} (group {proc.pid})"
                for proc in processes
                if proc.pid in left
            )
            echo(f"    still running after {grace:.0f} s, killed: {names}")
            for pgid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signum)
    if left:
        pids = sorted(pid for pgid in left for pid in _group_members(pgid))
        echo(f"    processes {pids} did not stop even when killed: check them with `ps`")
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


def dagster_spec(
    settings: Settings, port: int, pin_as_of: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The `dagster dev` command and its environment: the settings (the --as-of day, the
    Superset address for the cache warm-up, DAGSTER_HOME) that the code location reads.

    Without ``pin_as_of`` (no --as-of, no PILOTAGE_AS_OF) "today" is left out: each run computes
    pacing for its own real date, not for the day `serve` started weeks ago."""
    command = [str(Path(sys.executable).with_name("dagster")), "dev"]
    command += ["-m", "dagster_project.definitions", "-h", "127.0.0.1", "-p", str(port)]
    env = settings.subprocess_env()
    if not pin_as_of:
        env.pop("PILOTAGE_AS_OF", None)
    return command, env


def run_servers(
    settings: Settings, superset_port: int, dagster_port: int | None, pin_as_of: bool = True
) -> None:
    """Superset, and with a port the Dagster UI and daemon, until Ctrl-C or `kill`.
    ``pin_as_of``: Dagster's runs use ``settings.as_of`` (else each run's real date)."""
    from pilotage import superset_admin, superset_api

    settings = with_superset_port(settings, superset_port)
    superset_admin.ensure_demo_secrets(settings)
    processes: list[subprocess.Popen] = []

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
            start_new_session=True,  # its own process group, stopped as a whole
        )
        processes.append(superset_proc)
        superset = Service(
            "Superset",
            superset_proc,
            f"http://127.0.0.1:{superset_port}/health",
            logs / "superset.log",
        )
        dagster = None
        if dagster_port:
            prepare_dagster_home(settings)
            prepare_dbt(settings, quiet=True)
            today = settings.as_of if pin_as_of else "each run's date"
            step(
                f"starting Dagster on http://127.0.0.1:{dagster_port} (as of {today}; "
                f"log: {logs}/dagster.log)"
            )
            dagster_log = open(logs / "dagster.log", "ab")  # noqa: SIM115
            command, env = dagster_spec(settings, dagster_port, pin_as_of)
            dagster_proc = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=dagster_log,
                stderr=subprocess.STDOUT,
                # `dagster dev` starts the webserver, the daemon and code servers: one group,
                # stopped as a whole (SIGTERM, then SIGKILL).
                start_new_session=True,
            )
            processes.append(dagster_proc)
            dagster = Service(
                "Dagster",
                dagster_proc,
                f"http://127.0.0.1:{dagster_port}/server_info",
                logs / "dagster.log",
            )

        def announce() -> None:
            user, password = superset_admin.admin_credentials(settings)
            click.secho("\npilotage is running:", fg="green", bold=True)
            for i, slug in enumerate(superset_api.dashboard_slugs()):
                label = "  Dashboards  " if i == 0 else " " * 14
                click.echo(f"{label}http://127.0.0.1:{superset_port}/superset/dashboard/{slug}/")
            click.echo(f"              log in as {user!r} with password {password!r}")
            if dagster is not None:
                state = "" if dagster.ready else "  (still starting: reported when ready)"
                click.echo(f"  Dagster     http://127.0.0.1:{dagster_port}{state}")
            click.echo("Press Ctrl-C to stop.")

        try:
            supervise(superset, dagster, on_superset_ready=announce)
        except ServeError as exc:
            fail(str(exc))
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        # A second Ctrl-C or SIGTERM does not interrupt the stop itself (bounded: STOP_GRACE).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stop_process_groups(processes)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
