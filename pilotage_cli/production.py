"""`pilotage production up`: docker-compose.yml's production services as local processes.

The services and their settings are pilotage/production.py's; this module starts them in the
order compose does (Superset's init and the Dagster code server first, then the web servers,
Celery and the daemon), waits until each one answers, reports progress, and stops every
process group on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import click

from pilotage import production
from pilotage.settings import PROJECT_ROOT, Settings
from pilotage_cli.app import DATA_DIR, fail, prepare_dbt, settings_for, step

STATE_FILE = "production.json"  # in <data dir>/logs: the supervisor's and services' process ids
PROGRESS_EVERY = 15  # seconds between "still waiting" lines


@click.group("production")
def production_group() -> None:
    """The production profile without Docker: docker-compose.yml's services as local processes."""


@production_group.command("up")
@click.option("--superset-port", default=8088, show_default=True, help="Superset's web server.")
@click.option(
    "--dagster-port", default=3000, show_default=True, help="Dagster's UI and GraphQL API."
)
@click.option(
    "--code-server-port",
    default=4000,
    show_default=True,
    help="The Dagster code server (gRPC) that the webserver and the daemon load the code from.",
)
@click.option(
    "--timeout",
    default=600,
    show_default=True,
    help="Seconds each service may take to answer before `up` gives up (a loaded machine is slow).",
)
@DATA_DIR
def up(
    superset_port: int,
    dagster_port: int,
    code_server_port: int,
    timeout: int,
    data_dir: str | None,
) -> None:
    """Run the production profile here, against your PostgreSQL and Redis, until Ctrl-C.

    \b
    The same programs and settings as docker-compose.yml, as local processes:
      superset-init      Superset's metadata on PostgreSQL (migrations, admin, roles, dashboards)
      superset           web server; caches, filter states and rate limits on Redis
      superset-worker    Celery worker (async queries, reports), broker and results on Redis
      superset-beat      Celery beat (periodic tasks)
      dagster-code       the code location (dagster code-server)
      dagster-webserver  Dagster's UI and GraphQL API
      dagster-daemon     schedule, landing sensor and the run queue (QueuedRunCoordinator):
                         every refresh waits its turn; runs and events are kept in PostgreSQL

    \b
    Environment (the names of docker-compose.yml and .env.example):
      SUPERSET_SECRET_KEY, SUPERSET_ADMIN_PASSWORD, POSTGRES_PASSWORD   required, strong
      SUPERSET_ADMIN_USERNAME (admin), POSTGRES_USER (pilotage)
      POSTGRES_HOST, POSTGRES_PORT   the server (127.0.0.1:5432), databases superset and dagster
                                     (docker/postgres-init.sql creates them)
      SUPERSET_METADATA_URI, DAGSTER_PG_HOST/PORT/DB/USER/PASSWORD   override those
      REDIS_URL                      redis://127.0.0.1:6379/0
      PILOTAGE_*                     as for every command (data folder, serving file...)

    Every service listens on 127.0.0.1 only: Dagster's API has no authentication of its own,
    put the authenticating proxy of docker-compose.yml in front before opening it. Needs a
    published serving file (`pilotage refresh`). Logs: <data dir>/logs/<service>.log.
    """
    settings = settings_for(data_dir=data_dir)
    try:
        config = production.production_config()
    except production.ProductionError as exc:
        fail(str(exc))
    run_production(settings, config, superset_port, dagster_port, code_server_port, timeout)


@dataclasses.dataclass
class Service:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = PROJECT_ROOT
    process: subprocess.Popen | None = None
    log_start: int = 0  # where this start's lines begin in the log (it is appended to)

    def start(self) -> None:
        self.log_start = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _stop(services: list[Service]) -> None:
    """SIGTERM to every service's process group (last started first), SIGKILL after 20 s."""
    started = [s for s in reversed(services) if s.process is not None]
    for service in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for service in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Whatever is left of its group (a code server's child, a Celery pool process).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _graphql(port: int, query: str) -> dict | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{production.DAGSTER_PATH_PREFIX}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]
    except (OSError, ValueError, KeyError):
        return None


def _code_server_serving(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient  # what `dagster api grpc-health-check` runs

    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    try:  # it prints the connection error of a server still starting: not news
        with contextlib.redirect_stdout(io.StringIO()):
            return client.health_check_query() == "SERVING"
    except Exception:  # noqa: BLE001 - not listening yet, or still loading the code
        return False


def _location_loaded(port: int) -> bool:
    data = _graphql(
        port,
        "{ workspaceOrError { ... on Workspace { locationEntries { name "
        "locationOrLoadError { __typename } } } } }",
    )
    entries = ((data or {}).get("workspaceOrError") or {}).get("locationEntries") or []
    return any(
        e["name"] == production.CODE_LOCATION
        and (e.get("locationOrLoadError") or {}).get("__typename") == "RepositoryLocation"
        for e in entries
    )


def _daemons_healthy(port: int) -> bool:
    """The daemon's heartbeats (in the PostgreSQL instance) say the run queue, the scheduler and
    the sensor daemons run."""
    data = _graphql(
        port,
        "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }",
    )
    statuses = (((data or {}).get("instance") or {}).get("daemonHealth") or {}).get(
        "allDaemonStatuses"
    ) or []
    healthy = {s["daemonType"] for s in statuses if s["healthy"]}
    return {"QUEUED_RUN_COORDINATOR", "SCHEDULER", "SENSOR"} <= healthy


def _log_says(service: Service, marker: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with open(service.log, "rb") as log:
                log.seek(service.log_start)
                return marker.encode() in log.read()
        except OSError:
            return False

    return check


def _wait(
    checks: list[tuple[Service, str, Callable[[], bool]]],
    timeout: float,
    beside: _Background | None = None,
) -> None:
    """Until every check passes; progress every PROGRESS_EVERY seconds. A service that exits,
    or the timeout, fails with the service's log tail; so does a failure of ``beside`` (the
    Superset bootstrap running meanwhile), at once."""
    started = time.monotonic()
    pending = list(checks)
    last_report = started
    while pending:
        if beside is not None:
            beside.raise_failure()
        for item in list(pending):
            service, what, check = item
            if not service.running():
                code = service.process.returncode if service.process else None
                fail(
                    f"{service.name} exited (code {code}) before it was ready; its log "
                    f"{service.log} ends with:\n{service.log_tail()}"
                )
            if check():
                pending.remove(item)
                click.echo(f"    {service.name}: {what} ({time.monotonic() - started:.0f} s)")
        if not pending:
            return
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            names = ", ".join(f"{s.name} ({what})" for s, what, _ in pending)
            tails = "\n".join(f"--- {s.log}\n{s.log_tail()}" for s, _, _ in pending)
            fail(
                f"not ready after {timeout} s: {names}. Raise --timeout on a loaded machine, "
                f"or see the logs:\n{tails}"
            )
        if time.monotonic() - last_report >= PROGRESS_EVERY:
            last_report = time.monotonic()
            click.echo(
                f"    still waiting ({elapsed:.0f} s): " + ", ".join(s.name for s, _, _ in pending)
            )
        time.sleep(1)


class _Background:
    """A function run in a thread; ``result`` waits for it and gives back its exception."""

    def __init__(self, function: Callable[[], None]) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                function()
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def raise_failure(self) -> None:
        """The function's exception, as soon as it has failed (a SupersetError as the CLI's
        error message)."""
        from pilotage.superset_admin import SupersetError

        if self._thread.is_alive() or self._error is None:
            return
        if isinstance(self._error, SupersetError):
            fail(str(self._error))
        raise self._error

    def wait(self, timeout: float) -> None:
        """Until the function returns; its exception, if any, raised here."""
        started = time.monotonic()
        while self._thread.is_alive():
            self._thread.join(PROGRESS_EVERY)
            elapsed = time.monotonic() - started
            if self._thread.is_alive() and elapsed > timeout:
                fail(f"Superset's bootstrap did not finish within {timeout} s")
        self.raise_failure()


def _preflight(config: production.ProductionConfig) -> None:
    """PostgreSQL's two databases and Redis answer, or say what to do."""
    import psycopg2

    for what, database in (
        ("Superset's metadata", config.superset_metadata),
        ("Dagster's instance", config.dagster_storage),
    ):
        try:
            psycopg2.connect(
                host=database.host,
                port=database.port,
                dbname=database.database,
                user=database.user,
                password=database.password,
                connect_timeout=5,
            ).close()
        except psycopg2.Error as exc:
            fail(
                f"{what} database {database.display()} does not answer: "
                f"{str(exc).strip()}. Start PostgreSQL, create the database "
                f"(`create database {database.database};` as in docker/postgres-init.sql) and "
                "check POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER and POSTGRES_PASSWORD."
            )
    redis = urlsplit(config.redis_url)
    try:
        socket.create_connection((redis.hostname or "127.0.0.1", redis.port or 6379), 5).close()
    except OSError as exc:
        fail(
            f"Redis does not answer at {redis.hostname}:{redis.port or 6379} ({exc}): start it "
            "or set REDIS_URL."
        )


def run_production(
    settings: Settings,
    config: production.ProductionConfig,
    superset_port: int,
    dagster_port: int,
    code_server_port: int,
    timeout: int,
) -> None:
    from pilotage import superset_admin

    superset_url = f"http://127.0.0.1:{superset_port}"
    settings = dataclasses.replace(settings, environment="production", superset_url=superset_url)
    if not settings.serving_path.exists():
        fail(
            f"No serving file at {settings.serving_path}: publish one first (`pilotage refresh`), "
            "Superset only reads the published serving file."
        )
    step(
        "production profile: Superset metadata on "
        f"{config.superset_metadata.display()}, Dagster instance on "
        f"{config.dagster_storage.display()}, caches and Celery on "
        + config.redis_url.split("@")[-1]
    )
    _preflight(config)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    home = superset_admin.superset_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    dagster_home = settings.dagster_home_dir
    workspace = production.write_dagster_instance(dagster_home, code_server_port)
    superset_env = superset_admin.superset_env(settings, config.superset_env())
    dagster_env = settings.subprocess_env()
    dagster_env.update(config.dagster_env(dagster_home, superset_url))
    # The daemon and the webserver need no dbt; the runs need the parsed project.
    prepare_dbt(settings, quiet=True)

    def service(name: str, command: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT):
        return Service(name, command, env, logs / f"{name}.log", cwd)

    code = service("dagster-code", production.dagster_code_command(code_server_port), dagster_env)
    web = service(
        "superset", superset_admin.serve_command(settings, port=superset_port), superset_env, home
    )
    worker = service(
        "superset-worker", production.celery_worker_command(settings), superset_env, home
    )
    beat = service(
        "superset-beat", production.celery_beat_command(settings, home), superset_env, home
    )
    webserver = service(
        "dagster-webserver",
        production.dagster_webserver_command(dagster_port, workspace),
        dagster_env,
    )
    daemon = service("dagster-daemon", production.dagster_daemon_command(workspace), dagster_env)
    services: list[Service] = []

    def terminated(*_args) -> None:
        raise KeyboardInterrupt  # `kill` stops the services as cleanly as Ctrl-C does

    signal.signal(signal.SIGTERM, terminated)
    state = logs / STATE_FILE

    def write_state() -> None:
        state.write_text(
            json.dumps(
                {
                    "supervisor": os.getpid(),
                    "services": {s.name: s.process.pid for s in services if s.process},
                },
                indent=1,
            ),
            encoding="utf-8",
        )

    try:
        step(f"starting dagster-code on 127.0.0.1:{code_server_port} (logs: {logs})")
        code.start()
        services.append(code)
        write_state()
        # superset-init (migrations, roles, dashboards) runs beside Dagster's start-up: Dagster
        # takes runs while Superset is still getting ready.
        init = _Background(lambda: superset_admin.bootstrap(settings, config.superset_env()))
        _wait(
            [(code, "code location served", lambda: _code_server_serving(code_server_port))],
            timeout,
            beside=init,
        )
        step("starting dagster-webserver and dagster-daemon")
        for item in (webserver, daemon):
            item.start()
            services.append(item)
        write_state()
        _wait(
            [
                (
                    webserver,
                    f"code location loaded, http://127.0.0.1:{dagster_port}"
                    f"{production.DAGSTER_PATH_PREFIX}/",
                    lambda: _location_loaded(dagster_port),
                ),
                (
                    daemon,
                    "run queue, schedule and sensor daemons healthy",
                    lambda: _daemons_healthy(dagster_port),
                ),
            ],
            timeout,
            beside=init,
        )
        init.wait(timeout)
        step("starting superset, superset-worker and superset-beat")
        for item in (web, worker, beat):
            item.start()
            services.append(item)
        write_state()
        _wait(
            [
                (web, f"answers on {superset_url}", lambda: _http_ok(f"{superset_url}/health")),
                (worker, "consuming from Redis", _log_says(worker, " ready.")),
                (beat, "scheduling", _log_says(beat, "beat: Starting")),
            ],
            timeout,
        )
        user, _password = superset_admin.admin_credentials(settings)
        click.secho("\npilotage production profile is running:", fg="green", bold=True)
        click.echo(f"  Superset  {superset_url}  (log in as {user!r}, SUPERSET_ADMIN_PASSWORD)")
        click.echo(
            f"  Dagster   http://127.0.0.1:{dagster_port}{production.DAGSTER_PATH_PREFIX}/"
            "  (runs go through the queue)"
        )
        click.echo(f"  Logs      {logs}")
        click.echo("Press Ctrl-C to stop.")
        while all(s.running() for s in services):
            time.sleep(1)
        dead = [s for s in services if not s.running()]
        fail(
            "stopped unexpectedly: "
            + ", ".join(f"{s.name} (log {s.log}):\n{s.log_tail()}" for s in dead)
        )
    except KeyboardInterrupt:
        click.echo("\nstopping the production profile...")
    finally:
        _stop(services)
        state.unlink(missing_ok=True)
