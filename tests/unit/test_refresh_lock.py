"""One refresh at a time per warehouse (pilotage/refresh_lock.py): a second refresh waits, then
gives up naming the first; the next refresh cleans up after a crashed one; a program that holds
the DuckDB file is named. Real processes, real files, no Dagster (tests/e2e/
test_one_refresh_at_a_time.py runs the real job three ways at once)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from pilotage.refresh_lock import (
    RUN_MARKER,
    RefreshBusy,
    WarehouseLocked,
    current_holder,
    lock_path,
    refresh_lock,
)

# A process that takes the lock of argv[1] as run "first", says so, then sleeps.
HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pilotage.refresh_lock import refresh_lock
    warehouse = Path(sys.argv[1])
    with refresh_lock(warehouse, warehouse.parent / "serving.duckdb", run_id="first",
                      trigger="schedule working_hours_refresh", wait_seconds=0):
        print("held", flush=True)
        time.sleep(60)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) still answers signal 0.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def _orphan(env: dict) -> int:
    """The pid of a sleeping process whose parent has exited (init adopts and reaps it)."""
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            "import subprocess, sys;"
            " print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
            " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(starter.stdout)


def _lock(tmp_path, run_id: str, wait_seconds: float = 0, messages: list | None = None):
    return refresh_lock(
        tmp_path / "warehouse.duckdb",
        tmp_path / "serving.duckdb",
        run_id=run_id,
        trigger="pilotage refresh by test",
        wait_seconds=wait_seconds,
        report=(messages.append if messages is not None else lambda _message: None),
    )


def test_a_second_refresh_waits_then_gives_up_naming_the_one_running(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "warehouse.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        messages: list[str] = []
        started = time.monotonic()
        with pytest.raises(RefreshBusy) as refused, _lock(tmp_path, "second", 2, messages):
            pytest.fail("the lock was taken twice")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert 2 <= waited < 10, waited
    text = str(refused.value)
    assert "run first (schedule working_hours_refresh)" in text
    assert f"pid {holder.pid} on {socket.gethostname()}" in text
    assert "waited 2 s" in text
    assert messages and "waiting for the refresh in progress" in messages[0], messages
    # The holder was killed: the kernel released its lock, and the next refresh gets it.
    with _lock(tmp_path, "third") as taken:
        assert taken.run_id == "third"


def test_the_lock_is_released_and_recorded_as_finished(tmp_path):
    with _lock(tmp_path, "run-1") as held:
        assert os.environ[RUN_MARKER] == "run-1"
        assert current_holder(tmp_path / "warehouse.duckdb").finished_at is None
        assert oct(lock_path(tmp_path / "warehouse.duckdb").stat().st_mode & 0o777) == "0o600"
    assert RUN_MARKER not in os.environ
    last = current_holder(tmp_path / "warehouse.duckdb")
    assert last.run_id == held.run_id and last.finished_at >= last.started_at


def test_the_next_refresh_stops_what_a_crashed_one_left_and_its_publish_leftovers(tmp_path):
    # A crashed refresh: its record never finished, its child (a stand-in for dbt) still runs
    # with the run's marker, and its publish staging file is still there.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(tmp_path / "warehouse.duckdb").write_text(
        json.dumps(
            {
                "run_id": "crashed",
                "trigger": "sensor landing_files_sensor",
                "pid": dead.pid,
                "host": socket.gethostname(),
                "started_at": time.time() - 60,
                "finished_at": None,
            }
        )
    )
    # Orphaned, as a crashed refresh's dbt is: its parent (the refresh) is gone.
    orphan = _orphan({**os.environ, RUN_MARKER: "crashed"})
    bystander = subprocess.Popen(  # another run's process: not the crashed run's business
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, RUN_MARKER: "another"},
    )
    staging = tmp_path / f".serving.duckdb.{socket.gethostname()}.{dead.pid}.building"
    staging.write_bytes(b"half a file")
    (tmp_path / (staging.name + ".wal")).write_bytes(b"its wal")
    messages: list[str] = []
    try:
        with _lock(tmp_path, "next", messages=messages):
            assert not _alive(orphan), "the crashed run's process still runs"
            assert _alive(bystander.pid)
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)
        bystander.kill()
        bystander.wait()
    assert not staging.exists() and not (tmp_path / (staging.name + ".wal")).exists()
    assert any("previous refresh crashed" in m and str(orphan) in m for m in messages), messages


def test_a_program_holding_the_warehouse_is_named(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True);"
            " time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseLocked) as refused, _lock(tmp_path, "blocked"):
            pytest.fail("the refresh started while another program held the warehouse")
    finally:
        holder.kill()
        holder.wait()
    assert f"(pid {holder.pid})" in str(refused.value)
    assert "which is not a refresh" in str(refused.value)
    # Refused, the refresh leaves the lock free and unrecorded as a crash.
    with _lock(tmp_path, "after") as taken:
        assert taken.run_id == "after"


def test_dbt_started_through_pilotage_dies_with_its_parent(tmp_path):
    """kill -9 of a refresh: its dbt child (pilotage.dbt_child) gets SIGKILL from the kernel."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time;"
            " child = subprocess.Popen([sys.executable, '-c',"
            " 'from pilotage.dbt_child import die_with_parent; import time;"
            ' die_with_parent(); print("ready", flush=True); time.sleep(120)\']);'
            " print(child.pid, flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child_pid = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "ready"
    assert _alive(child_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child_pid), "the dbt child outlived the refresh killed with kill -9"
