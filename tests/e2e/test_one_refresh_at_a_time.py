"""One refresh at a time, everywhere (issue 11): a refresh killed with kill -9 leaves nothing
running, then a manual refresh, the landing sensor's and the schedule's start together on the
same warehouse. Exactly one holds the warehouse at a time; the others wait for it or give up
naming it; the next run cleans up after the killed one; the marts equal a single clean refresh.

Real processes: `pilotage refresh`, and the real sensor and schedule of the code location run as
a daemon-launched run would (tests/e2e/refresh_trigger.py), on a copy of the session's demo data.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from pilotage.settings import PROJECT_ROOT, load_settings
from tests.conftest import AS_OF
from tests.pipeline_helpers import mart_differences

PILOTAGE = str(Path(sys.executable).with_name("pilotage"))
REFRESH_TIMEOUT = 900


def _environment(data: Path) -> dict[str, str]:
    settings = load_settings(data_dir=data, as_of=AS_OF.isoformat())
    env = settings.subprocess_env()
    env["PILOTAGE_SUPERSET_URL"] = "http://127.0.0.1:9"  # no Superset to warm up
    return env


def _processes_of(warehouse: Path) -> dict[int, str]:
    """{pid: command line} of every process working on this warehouse (its path in the
    environment: the refreshes and their dbt), read from /proc independently of pilotage."""
    marker = f"PILOTAGE_WAREHOUSE_PATH={warehouse}".encode()
    found = {}
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                stat = (environ.parent / "stat").read_text()
                if stat.split(") ", 1)[1][0] != "Z":  # a zombie is dead
                    cmdline = (environ.parent / "cmdline").read_bytes()
                    found[int(environ.parent.name)] = cmdline.replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
    return found


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, cwd=PROJECT_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def _lock_holder_pid(warehouse: Path) -> int | None:
    from pilotage.refresh_lock import current_holder

    holder = current_holder(warehouse)
    return holder.pid if holder and holder.finished_at is None else None


def _trigger(tags) -> str:
    if "dagster/sensor_name" in tags:
        return "sensor"
    return "schedule" if "dagster/schedule_name" in tags else "manual"


def _lock_intervals(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """When a run took and released the warehouse, from its own Dagster event log."""
    taken = released = None
    for record in instance.all_logs(run_id):
        if "refresh lock of" in record.user_message and "taken" in record.user_message:
            taken = record.timestamp
        if "refresh lock of" in record.user_message and "released" in record.user_message:
            released = record.timestamp
    assert taken and released, f"run {run_id} has no lock record in its log"
    return taken, released


def test_refreshes_started_together_run_one_at_a_time_and_clean_up_after_a_kill(
    copy_of_demo_data, demo_serving_db, tmp_path
):
    data = copy_of_demo_data
    settings = load_settings(data_dir=data, as_of=AS_OF.isoformat())
    warehouse = settings.warehouse_path
    env = _environment(data)

    # 1. A refresh killed with kill -9 while its dbt builds: dbt dies with it.
    killed = _start([PILOTAGE, "refresh"], env, tmp_path / "killed.log")
    _wait_for(
        lambda: [cmd for cmd in _processes_of(warehouse).values() if "dbt build" in cmd],
        REFRESH_TIMEOUT,
        "the refresh's dbt to start",
    )
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    _wait_for(lambda: not _processes_of(warehouse), 15, "the killed refresh's dbt to stop")
    # A publish that crashed before its swap left its staging file behind (the pid is dead).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    staging = settings.serving_path.with_name(
        f".{settings.serving_path.name}.{socket.gethostname()}.{dead.pid}.building"
    )
    staging.write_bytes(b"half a serving file")

    # 2. Three refreshes at once: manual first, then the sensor's and the schedule's while it
    # runs. The schedule's is set to give up at once, the sensor's to wait.
    manual = _start([PILOTAGE, "refresh"], env, tmp_path / "manual.log")
    _wait_for(lambda: _lock_holder_pid(warehouse) == manual.pid, 120, "the manual refresh's lock")
    trigger = [sys.executable, "-m", "tests.e2e.refresh_trigger"]
    sensor = _start([*trigger, "sensor"], env, tmp_path / "sensor.log")
    schedule = _start(
        [*trigger, "schedule"],
        {**env, "PILOTAGE_REFRESH_WAIT_SECONDS": "0"},
        tmp_path / "schedule.log",
    )
    outcomes = {
        name: process.wait(timeout=REFRESH_TIMEOUT)
        for name, process in (("manual", manual), ("sensor", sensor), ("schedule", schedule))
    }
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in outcomes}
    assert outcomes == {"manual": 0, "sensor": 0, "schedule": 1}, {
        name: log[-3000:] for name, log in logs.items()
    }
    # The refused one names the refresh that held the warehouse.
    assert f"Another refresh of {warehouse} is running: run " in logs["schedule"]
    assert "(pilotage refresh by " in logs["schedule"]
    assert f"pid {manual.pid} on {socket.gethostname()}" in logs["schedule"]
    # The one that waited said what it waited for.
    assert "waiting for the refresh in progress to finish" in logs["sensor"]
    # The manual refresh cleaned up after the killed one.
    assert "the previous refresh crashed" in logs["manual"]

    with dg.DagsterInstance.from_config(str(settings.dagster_home_dir)) as instance:
        runs = instance.get_runs()
        outcome = sorted((_trigger(run.tags), run.status.value) for run in runs)
        # The killed run is recorded as failed, not left "started" forever.
        assert outcome == [
            ("manual", "FAILURE"),
            ("manual", "SUCCESS"),
            ("schedule", "FAILURE"),
            ("sensor", "SUCCESS"),
        ], outcome
        succeeded = [run for run in runs if run.status == dg.DagsterRunStatus.SUCCESS]
        intervals = sorted(_lock_intervals(instance, run.run_id) for run in succeeded)
    assert intervals[0][1] <= intervals[1][0], (
        f"two refreshes held the warehouse at once: {intervals}"
    )

    # Nothing left behind: no process on this warehouse, no staging file.
    assert not _processes_of(warehouse)
    assert not staging.exists()
    assert not list(settings.serving_path.parent.glob("*.building*"))
    # The marts equal a single clean refresh of the same extracts (the session's).
    assert mart_differences(settings.serving_path, demo_serving_db) == {}
