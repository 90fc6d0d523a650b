"""End-to-end fixtures: one real Superset for the session, shared by every test that talks to it
over HTTP or drives it in a browser.

Superset starts from its own environment (.venv-superset) on a free port with a temporary
SUPERSET_HOME (SQLite metadata) through ``pilotage.superset_admin``, bootstrapped once on the
serving file the session's pipeline published (``demo_serving_db``, tests/conftest.py). Under
CI=true a Superset that cannot start fails; elsewhere a missing .venv-superset skips loudly.
``running_superset`` serves another one (e.g. a production-mode Superset) the same way.

``dagster_webserver``: a real dagster-webserver on the project's code location and the session's
demo data, under the path prefix docker-compose.yml uses behind the proxy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pilotage import superset_admin
from pilotage.production import DAGSTER_PATH_PREFIX
from pilotage.settings import load_settings
from tests.conftest import service_unavailable

START_TIMEOUT = 180

# ---------------------------------------------------------------------------------------------
# The Superset server
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def serving_db(demo_serving_db: Path) -> Path:
    """The serving file the session's pipeline run published."""
    return Path(demo_serving_db)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def started_server(
    what: str, command: list[str], env: dict[str, str], cwd: Path, log_path: Path, ready_url: str
) -> Iterator[float]:
    """``command`` in its own process group, until ``ready_url`` answers 200; yields the seconds
    it took, then stops the whole group. Fails with the end of its log when it exits or takes
    longer than START_TIMEOUT."""
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=str(cwd),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole below
        )
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"{what} exited with {process.returncode} before answering {ready_url}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if requests.get(ready_url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still loading
                pass
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(
                    f"{what} did not answer {ready_url} within {START_TIMEOUT}s:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.5)
        yield time.monotonic() - started
    finally:
        _stop(process)


class Superset:
    """A running Superset and an admin HTTP session on it."""

    def __init__(self, url: str, settings, admin: tuple[str, str]) -> None:
        self.url = url
        self.settings = settings
        self.admin = self.login(*admin)
        self._users: dict[str, tuple[str, str, str]] = {}  # e-mail -> (username, password, role)

    def login(self, username: str, password: str) -> requests.Session:
        session = requests.Session()
        response = session.post(
            f"{self.url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
            timeout=30,
        )
        assert response.status_code == 200, f"login of {username} failed: {response.text}"
        session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        refresh_token = response.json()["refresh_token"]
        csrf = session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=30)
        assert csrf.status_code == 200, csrf.text
        session.headers["X-CSRFToken"] = csrf.json()["result"]
        session.headers["Referer"] = self.url

        def renew_expired_token(response, *_args, **kwargs):
            """An access token lives 15 minutes (JWT_ACCESS_TOKEN_EXPIRES) and the session's
            Superset serves the whole suite: renew it with the refresh token, as a client
            of the API does, and send the request again."""
            if (
                response.status_code != 401
                or "Token has expired" not in response.text
                or "X-Pilotage-Renewed" in response.request.headers  # renewed once already
            ):
                return response
            renewed = requests.post(
                f"{self.url}/api/v1/security/refresh",
                headers={"Authorization": f"Bearer {refresh_token}"},
                timeout=30,
            )
            assert renewed.status_code == 200, f"token renewal failed: {renewed.text}"
            session.headers["Authorization"] = f"Bearer {renewed.json()['access_token']}"
            retry = response.request.copy()
            retry.headers["Authorization"] = session.headers["Authorization"]
            retry.headers["X-Pilotage-Renewed"] = "1"
            return session.send(retry, **kwargs)

        session.hooks["response"].append(renew_expired_token)
        return session

    def get(self, path: str, session: requests.Session | None = None, **kwargs) -> dict:
        response = (session or self.admin).get(f"{self.url}{path}", timeout=60, **kwargs)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def create_user(self, username: str, email: str, role: str) -> tuple[str, str]:
        """A user of ``role`` ("Sales Rep", "Sales Manager", "Executive", "Alpha"...) whose
        e-mail is ``email`` (what row-level security reads); returns (username, password).

        Superset's e-mails are unique: a second call for an e-mail gets the user the first call
        created (with the same role), so modules of the session may pick the same person."""
        if email in self._users:
            known_username, known_password, known_role = self._users[email]
            assert known_role == role, f"{email} is already a {known_role}, not a {role}"
            return known_username, known_password
        roles = self.get("/api/v1/security/roles/", params={"q": "(page_size:100)"})["result"]
        role_id = next(r["id"] for r in roles if r["name"] == role)
        password = f"pw-{username}-{os.getpid()}-Aa1!"
        response = self.admin.post(
            f"{self.url}/api/v1/security/users/",
            json={
                "active": True,
                "email": email,
                "first_name": username,
                "last_name": "pytest",
                "username": username,
                "password": password,
                "roles": [role_id],
            },
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        self._users[email] = (username, password, role)
        return username, password


@contextlib.contextmanager
def served_superset(
    settings, env: dict[str, str], port: int, log_dir: Path
) -> Iterator[tuple[str, float]]:
    """Superset served (``superset_admin.serve_command``: gunicorn, 2 workers in production) on
    127.0.0.1:``port`` with ``env``, once it answers /health; yields (url, seconds it took to
    start), then stops its whole process group. Its log: ``log_dir``/superset-server.log."""
    url = f"http://127.0.0.1:{port}"
    with started_server(
        "Superset",
        superset_admin.serve_command(settings, host="127.0.0.1", port=port),
        env,
        superset_admin.superset_home(settings),
        log_dir / "superset-server.log",
        f"{url}/health",
    ) as seconds:
        yield url, seconds


@pytest.fixture(scope="session")
def superset(serving_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Superset]:
    data_dir = tmp_path_factory.mktemp("superset_data")
    settings = dataclasses.replace(load_settings(), data_dir=data_dir, serving_path=serving_db)
    with running_superset(settings) as server:
        yield server


@contextlib.contextmanager
def running_superset(settings) -> Iterator[Superset]:
    """A Superset bootstrapped and served for ``settings`` (its home under their data folder;
    the serving file, or the PostgreSQL serving database on the postgres engine), stopped on
    exit."""
    python = superset_admin.superset_venv() / "bin" / "python"
    if not python.exists():
        service_unavailable(
            f"SUPERSET TESTS NOT RUN: no Superset environment at {python.parent.parent} "
            "(run `make install`)."
        )
    data_dir = settings.data_dir
    port = _free_port()
    with pytest.MonkeyPatch.context() as mp:
        # A temporary home with SQLite metadata in demo mode, whatever the developer's shell has.
        for name in (
            "SUPERSET_HOME",
            "SUPERSET_METADATA_URI",
            "REDIS_URL",
            "PILOTAGE_ENV",
            "SUPERSET_SECRET_KEY",
            "SUPERSET_ADMIN_PASSWORD",
            "SUPERSET_ADMIN_USERNAME",
        ):
            mp.delenv(name, raising=False)
        started = time.monotonic()
        try:
            superset_admin.bootstrap(settings)
        except superset_admin.SupersetError as exc:
            pytest.fail(f"Superset bootstrap failed: {exc}")
        bootstrap_seconds = time.monotonic() - started
        env = superset_admin.superset_env(settings)
        with served_superset(settings, env, port, data_dir) as (url, seconds):
            print(
                f"\nSuperset: bootstrap {bootstrap_seconds:.0f}s, "
                f"server up in {seconds:.0f}s at {url}"
            )
            yield Superset(url, settings, superset_admin.admin_credentials(settings))


# ---------------------------------------------------------------------------------------------
# A Dagster webserver
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DagsterWebserver:
    url: str  # with the path prefix, no trailing slash: f"{url}/graphql" is the API
    address: str  # host:port, what a reverse proxy forwards to
    path_prefix: str


@pytest.fixture(scope="session")
def dagster_webserver(
    demo_pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterWebserver]:
    """A real dagster-webserver on the project's code location (the session's demo data), with a
    temporary DAGSTER_HOME, under the path prefix docker-compose.yml gives it (/dagster)."""
    settings, _ = demo_pipeline
    webserver = Path(sys.executable).with_name("dagster-webserver")
    home = tmp_path_factory.mktemp("dagster_home")
    log_path = home / "dagster-webserver.log"
    port = _free_port()
    env = settings.subprocess_env()
    env["DAGSTER_HOME"] = str(home)
    command = [str(webserver), "-h", "127.0.0.1", "-p", str(port)]
    command += ["--path-prefix", DAGSTER_PATH_PREFIX, "-m", "dagster_project.definitions"]
    url = f"http://127.0.0.1:{port}{DAGSTER_PATH_PREFIX}"
    project = Path(__file__).resolve().parents[2]
    with started_server(
        "dagster-webserver", command, env, project, log_path, f"{url}/server_info"
    ) as seconds:
        print(f"\nDagster webserver up in {seconds:.0f}s at {url}")
        yield DagsterWebserver(url, f"127.0.0.1:{port}", DAGSTER_PATH_PREFIX)
