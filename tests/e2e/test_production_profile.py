"""The production profile for real: `pilotage production up` (docker-compose.yml's services as
local processes) on the PostgreSQL and Redis of this machine, with production secrets.

One refresh goes through Dagster's run queue (launched over GraphQL, dequeued by the daemon,
recorded in the PostgreSQL instance), then a dashboard is read through Superset's API, whose
caches land in Redis and whose Celery worker runs the beat's tasks. Its own databases
(prodprofile_*), Redis database and ports (18300-18399); every process group is killed after.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
import requests

from pilotage import production, superset_admin
from tests.conftest import AS_OF, PG, postgres_connect, service_unavailable

SUPERSET_PORT, DAGSTER_PORT, CODE_SERVER_PORT = 18310, 18311, 18312
DATABASES = {"superset": "prodprofile_superset", "dagster": "prodprofile_dagster"}
REDIS_DB = 9
START_TIMEOUT = 420  # the services on a loaded 2-core machine
RUN_TIMEOUT = 600


@dataclass
class Profile:
    process: subprocess.Popen
    log: Path
    data_dir: Path
    env: dict[str, str]
    redis_url: str

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(
                f"`pilotage production up` exited with {self.process.returncode}:\n"
                + self.output()[-4000:]
            )


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def _redis(url: str, *commands: str) -> list[str]:
    """Run each Redis command (``KEYS pattern``, ``GET key``...) on ``url`` with Superset's redis
    client (the pipeline's environment has none); one JSON answer per command."""
    code = (
        "import json, sys, redis\n"
        "r = redis.Redis.from_url(sys.argv[1], decode_responses=True)\n"
        "print(json.dumps([r.execute_command(*c.split(' ')) for c in sys.argv[2:]]))\n"
    )
    python = str(superset_admin.superset_venv() / "bin" / "python")
    done = subprocess.run(
        [python, "-c", code, url, *commands], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _kill_groups(profile: Profile) -> None:
    """SIGTERM to `up` (it stops its services), then SIGKILL to every group still there."""
    state = profile.data_dir / "logs" / "production.json"
    groups = [profile.process.pid]
    with contextlib.suppress(OSError, ValueError):
        groups += list(json.loads(state.read_text())["services"].values())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(profile.process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        profile.process.wait(timeout=60)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        profile.process.wait(timeout=10)


@pytest.fixture
def production_profile(copy_of_demo_data: Path, tmp_path: Path) -> Iterator[Profile]:
    if not (superset_admin.superset_venv() / "bin" / "python").exists():
        service_unavailable("PRODUCTION PROFILE NOT TESTED: no .venv-superset (make install).")
    redis_server = os.environ.get("PILOTAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    redis_host, redis_port = redis_server.split("//", 1)[1].split("/", 1)[0].split(":")
    if not _reachable(redis_host, int(redis_port)):
        service_unavailable(f"PRODUCTION PROFILE NOT TESTED: no Redis at {redis_server}")
    try:
        admin = postgres_connect("postgres")
    except Exception as exc:  # noqa: BLE001 - any connection failure means no server
        service_unavailable(f"PRODUCTION PROFILE NOT TESTED: no PostgreSQL ({exc})")
    admin.autocommit = True
    for name in DATABASES.values():
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.cursor().execute(f"create database {name}")
    redis_url = f"redis://{redis_host}:{redis_port}/{REDIS_DB}"
    _redis(redis_url, "FLUSHDB")
    # The copied extracts were loaded by the refresh that published the copied serving file
    # (tests/conftest.py's demo_pipeline, in another instance). Dated at the epoch, they are
    # no news to the landing sensor's first tick on this fresh instance, and the schedule is
    # set to a day the test does not run on: the only refresh is the one the test submits.
    for path in (copy_of_demo_data / "landing").rglob("*"):
        if path.is_file():
            os.utime(path, (0, 0))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PILOTAGE_", "SUPERSET_", "DAGSTER_", "POSTGRES_"))
        and k not in {"REDIS_URL"}
    }
    password = PG["password"] or secrets.token_urlsafe(24)  # trust auth ignores it
    env.update(
        PILOTAGE_DATA_DIR=str(copy_of_demo_data),
        PILOTAGE_AS_OF=AS_OF.isoformat(),
        PILOTAGE_REFRESH_CRON="0 0 29 2 *",
        SUPERSET_SECRET_KEY=secrets.token_urlsafe(48),
        SUPERSET_ADMIN_PASSWORD=secrets.token_urlsafe(24),
        POSTGRES_USER=PG["user"],
        POSTGRES_PASSWORD=password,
        POSTGRES_HOST=PG["host"],
        POSTGRES_PORT=str(PG["port"]),
        SUPERSET_METADATA_URI=(
            f"postgresql+psycopg2://{quote(PG['user'])}:{quote(password)}@{PG['host']}:{PG['port']}/"
            f"{DATABASES['superset']}"
        ),
        DAGSTER_PG_DB=DATABASES["dagster"],
        REDIS_URL=redis_url,
        SUPERSET_WORKERS="1",
    )
    log = tmp_path / "production-up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pilotage_cli", "production", "up"]
            + ["--superset-port", str(SUPERSET_PORT), "--dagster-port", str(DAGSTER_PORT)]
            + ["--code-server-port", str(CODE_SERVER_PORT), "--timeout", str(START_TIMEOUT)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    profile = Profile(process, log, copy_of_demo_data, env, redis_url)
    try:
        yield profile
    finally:
        _kill_groups(profile)
        for name in DATABASES.values():
            admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()
        _redis(redis_url, "FLUSHDB")


def _graphql(query: str, **variables) -> dict:
    response = requests.post(
        f"http://127.0.0.1:{DAGSTER_PORT}{production.DAGSTER_PATH_PREFIX}/graphql",
        json={"query": query, "variables": variables},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def _wait_for(profile: Profile, what: str, ready, timeout: float = START_TIMEOUT) -> None:
    started = time.monotonic()
    while not ready():
        profile.check_alive()
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} not ready within {timeout} s:\n" + profile.output()[-4000:])
        time.sleep(1)


def _failures(run_id: str) -> str:
    """The errors of a failed run's steps, from the PostgreSQL instance (each with its causes)."""
    with contextlib.closing(postgres_connect(DATABASES["dagster"])) as con:
        cur = con.cursor()
        cur.execute(
            "select event from event_logs where run_id = %s and dagster_event_type in "
            "('STEP_FAILURE', 'PIPELINE_FAILURE') order by id",
            (run_id,),
        )
        events = [json.loads(row[0]) for row in cur.fetchall()]
    lines = []
    for event in events:
        lines.append(event.get("user_message") or "")
        data = (event.get("dagster_event") or {}).get("event_specific_data") or {}
        error = data.get("error")
        while error:
            lines.append("  " + error["message"].strip()[:2000])
            error = error.get("cause")
    return "\n".join(lines)


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}"""
RUN_STATUS = "query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def test_production_profile_runs_a_queued_refresh_and_serves_dashboards_from_redis(
    production_profile: Profile,
) -> None:
    profile = production_profile
    started = time.monotonic()
    # Dagster: the code location loaded from the code server, the daemon's run queue beating.
    _wait_for(profile, "Dagster", lambda: "dagster-daemon: run queue" in profile.output())
    dagster_ready = time.monotonic() - started

    launched = _graphql(
        LAUNCH,
        params={
            "selector": {
                "repositoryLocationName": "pilotage",
                "repositoryName": "__repository__",
                "jobName": "full_refresh",
            },
            "runConfigData": {},
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    # The queued run coordinator: a launched run waits in the queue for the daemon.
    assert launched["run"]["status"] == "QUEUED"
    statuses = ["QUEUED"]
    run_started = time.monotonic()
    while statuses[-1] not in ("SUCCESS", "FAILURE", "CANCELED"):
        profile.check_alive()
        assert time.monotonic() - run_started < RUN_TIMEOUT, f"run {run_id} is {statuses}"
        status = _graphql(RUN_STATUS, id=run_id)["runOrError"]["status"]
        if status != statuses[-1]:
            statuses.append(status)
        time.sleep(1)
    run_seconds = time.monotonic() - run_started
    assert statuses[-1] == "SUCCESS", f"run {run_id}: {statuses}\n" + _failures(run_id)

    # Recorded in the PostgreSQL instance: the run and its life, queue first.
    with contextlib.closing(postgres_connect(DATABASES["dagster"])) as con:
        cur = con.cursor()
        cur.execute("select run_id, pipeline_name, status from runs")
        assert cur.fetchall() == [(run_id, "full_refresh", "SUCCESS")], (
            "the submitted refresh must be the only run (no sensor or schedule run)"
        )
        cur.execute(
            "select dagster_event_type from event_logs where run_id = %s and "
            "dagster_event_type like 'PIPELINE_%%' order by id",
            (run_id,),
        )
        life = [row[0] for row in cur.fetchall()]
        cur.execute(
            "select count(*) from event_logs where run_id = %s and "
            "dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        materializations = cur.fetchone()[0]
    assert life == ["PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_START", "PIPELINE_SUCCESS"]
    assert materializations > 20, "dlt, dbt, publish and Superset assets all materialized"

    # Superset: metadata on PostgreSQL, log in with the production admin, read a dashboard.
    _wait_for(profile, "Superset", lambda: "production profile is running" in profile.output())
    url = f"http://127.0.0.1:{SUPERSET_PORT}"
    session = requests.Session()
    login = session.post(
        f"{url}/api/v1/security/login",
        json={
            "username": "admin",
            "password": profile.env["SUPERSET_ADMIN_PASSWORD"],
            "provider": "db",
            "refresh": True,
        },
        timeout=60,
    )
    assert login.status_code == 200, login.text
    session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    dashboards = session.get(f"{url}/api/v1/dashboard/?q=(page_size:100)", timeout=60)
    assert dashboards.status_code == 200, dashboards.text
    slugs = {d["slug"] for d in dashboards.json()["result"]}
    assert "sales-performance" in slugs
    charts = session.get(f"{url}/api/v1/dashboard/sales-performance/charts", timeout=60)
    assert charts.status_code == 200, charts.text
    leaderboard = next(
        c["id"] for c in charts.json()["result"] if c["slice_name"] == "Rep leaderboard"
    )
    data = session.get(f"{url}/api/v1/chart/{leaderboard}/data/", timeout=120)
    assert data.status_code == 200, data.text
    result = data.json()["result"][0]
    assert result.get("error") is None, result
    serving = duckdb.connect(str(profile.data_dir / "serving" / "serving.duckdb"), read_only=True)
    try:
        reps = {
            r[0]
            for r in serving.execute("select distinct rep_name from marts.kpi_rep_month").fetchall()
        }
    finally:
        serving.close()
    assert result["rowcount"] > 0 and result["data"], "the leaderboard returned no rows"
    assert {row["rep_name"] for row in result["data"]} <= reps

    # Redis: the chart results (and Superset's other caches) under pilotage's prefixes, and
    # Celery: the beat's every-minute task run by the worker, its result in the backend.
    [data_keys, cache_keys] = _redis(profile.redis_url, "KEYS pilotage_data_*", "KEYS pilotage_*")
    assert data_keys, f"no chart results cached in {profile.redis_url}: {cache_keys}"
    deadline = time.monotonic() + 75  # the beat sends reports.scheduler every minute
    while True:
        [task_keys] = _redis(profile.redis_url, "KEYS celery-task-meta-*")
        if task_keys or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert task_keys, "no Celery task result in Redis: the worker or the beat is not running"
    [meta] = _redis(profile.redis_url, f"GET {task_keys[0]}")
    assert json.loads(meta)["status"] == "SUCCESS", meta
    print(
        f"\nproduction profile: Dagster ready in {dagster_ready:.0f} s, queued refresh "
        f"{' -> '.join(statuses)} in {run_seconds:.0f} s, {len(data_keys)} chart results in "
        f"Redis, whole test {time.monotonic() - started:.0f} s"
    )
