"""One refresh at a time per warehouse, whoever starts it (`pilotage refresh`, the schedule, the
landing sensor, the Dagster UI).

Dagster's run queue limits the runs the daemon launches, but `pilotage refresh` runs its job in
process, outside any queue. So the job itself takes this lock before it touches the warehouse:
an advisory lock (``flock``) on ``<warehouse>.refresh-lock``, which the kernel releases when the
holder dies, however it dies. The file also records who holds it (run, trigger, pid, host,
start), so that a refresh that waits or gives up names the one in progress, and the next run
knows when the last one crashed: it then stops what the crashed run left running (every process
started under it carries ``PILOTAGE_REFRESH_RUN=<run id>`` in its environment) and removes its
publish leftovers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from pilotage.publish import process_alive, remove_crashed_staging_files

log = logging.getLogger(__name__)

# Set in the environment of everything a refresh starts (dbt above all), for the next run to find.
RUN_MARKER = "PILOTAGE_REFRESH_RUN"
LOCK_SUFFIX = ".refresh-lock"
PROGRESS_EVERY_SECONDS = 30
# DuckDB's lock error: 'Conflicting lock is held in /usr/bin/python3.11 (PID 4242)'.
HELD_BY = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


class RefreshBusy(RuntimeError):
    """Another refresh of the same warehouse ran for longer than this one would wait."""


class WarehouseLocked(RuntimeError):
    """A process that is not a refresh holds the DuckDB warehouse open."""


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a warehouse's refresh lock."""

    run_id: str
    trigger: str
    pid: int
    host: str
    started_at: float
    finished_at: float | None = None

    def describe(self, now: float | None = None) -> str:
        started = dt.datetime.fromtimestamp(self.started_at).strftime("%Y-%m-%d %H:%M:%S")
        running = round((now or time.time()) - self.started_at)
        return (
            f"run {self.run_id} ({self.trigger}), pid {self.pid} on {self.host}, "
            f"started {started}, {running} s ago"
        )


def lock_path(warehouse_path: Path) -> Path:
    return warehouse_path.with_name(warehouse_path.name + LOCK_SUFFIX)


def current_holder(warehouse_path: Path) -> Holder | None:
    """The holder recorded in the lock file (the last one, when no refresh runs)."""
    try:
        return _parse(lock_path(warehouse_path).read_text())
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def refresh_lock(
    warehouse_path: Path,
    serving_path: Path,
    *,
    run_id: str,
    trigger: str,
    wait_seconds: float,
    report: Callable[[str], None] = log.info,
    on_crashed: Callable[[Holder], None] | None = None,
) -> Iterator[Holder]:
    """Hold the refresh lock of ``warehouse_path`` for the duration. Waits up to ``wait_seconds``
    for a refresh in progress (``report`` says so every 30 s), then raises RefreshBusy naming it.
    Once held: cleans up after a crashed predecessor and checks that no other program holds the
    DuckDB file (WarehouseLocked names it). ``on_crashed`` hears of a crashed predecessor."""
    path = lock_path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # O_CLOEXEC: children do not inherit it
    try:
        _acquire(fd, warehouse_path, wait_seconds, report)
        previous = _parse(_read(fd))
        if previous is not None and previous.finished_at is None:
            _clean_up_after(previous, report)
            if on_crashed is not None:
                on_crashed(previous)
        for leftover in remove_crashed_staging_files(serving_path):
            report(f"removed {leftover.name}, left by a publish that crashed")
        check_warehouse_free(warehouse_path)
        holder = Holder(run_id, trigger, os.getpid(), socket.gethostname(), time.time())
        _write(fd, holder)
        saved = os.environ.get(RUN_MARKER)
        os.environ[RUN_MARKER] = run_id
        try:
            yield holder
        finally:
            if saved is None:
                os.environ.pop(RUN_MARKER, None)
            else:
                os.environ[RUN_MARKER] = saved
            _write(fd, dataclasses.replace(holder, finished_at=time.time()))
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, warehouse_path: Path, wait_seconds: float, report) -> None:
    started = time.monotonic()
    next_report = 0.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - started
        holder = _parse(_read(fd))
        running = holder.describe() if holder else "a refresh that has not said who it is yet"
        if waited >= wait_seconds:
            raise RefreshBusy(
                f"Another refresh of {warehouse_path} is running: {running}. This one waited "
                f"{waited:.0f} s (PILOTAGE_REFRESH_WAIT_SECONDS={wait_seconds:g}) and gives up. "
                "Wait for it to finish (the Dagster UI shows its progress) or stop it, then "
                "run the refresh again."
            )
        if waited >= next_report:
            report(f"waiting for the refresh in progress to finish ({waited:.0f} s): {running}")
            next_report += PROGRESS_EVERY_SECONDS
        time.sleep(min(1.0, max(0.0, wait_seconds - waited)))


def _clean_up_after(crashed: Holder, report) -> None:
    """The last holder died without releasing: stop what it left running."""
    if crashed.host == socket.gethostname() and crashed.pid != os.getpid():
        stopped = stop_processes_of_run(crashed.run_id)
        report(
            f"the previous refresh crashed ({crashed.describe()}); stopped {len(stopped)} "
            f"process(es) it left running{': ' + str(stopped) if stopped else ''}"
        )
    else:
        report(f"the previous refresh crashed ({crashed.describe()})")


def stop_processes_of_run(run_id: str, grace_seconds: float = 10) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace_seconds``, every process of this user whose environment
    carries ``PILOTAGE_REFRESH_RUN=<run_id>`` (Linux /proc; elsewhere nothing is found)."""
    pids = processes_of_run(run_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(process_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def processes_of_run(run_id: str) -> list[int]:
    marker = f"{RUN_MARKER}={run_id}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        pid = int(environ.parent.name)
        if pid == os.getpid():
            continue
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:  # gone, or another user's
            continue
    return sorted(found)


def check_warehouse_free(warehouse_path: Path) -> None:
    """Raise WarehouseLocked naming the program (DuckDB says which) that holds the warehouse."""
    if not warehouse_path.exists():
        return
    try:
        duckdb.connect(str(warehouse_path)).close()
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        held = HELD_BY.search(str(exc))
        who = f"{held.group(1)} (pid {held.group(2)})" if held else "another process"
        raise WarehouseLocked(
            f"The warehouse {warehouse_path} is open in {who}, which is not a refresh. Close it "
            "(a DuckDB shell, a notebook or a tool connected to the file), then try "
            f"again. DuckDB said: {exc}"
        ) from exc


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _write(fd: int, holder: Holder) -> None:
    data = json.dumps(dataclasses.asdict(holder), sort_keys=True).encode() + b"\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _parse(text: str) -> Holder | None:
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):  # empty (never held) or from another version
        return None
