"""`pilotage serve` without servers: the addresses and settings its children get, how it stops
process groups, and that Superset's supervision survives a Dagster that is slow or stops (dummy
processes stand in for the servers)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from pilotage.settings import DEFAULT_SUPERSET_URL, load_settings, with_superset_port
from pilotage_cli import main, servers


def test_the_cache_warm_up_follows_the_superset_port_unless_set(tmp_path):
    settings = load_settings({}, data_dir=tmp_path)
    assert settings.superset_url == DEFAULT_SUPERSET_URL
    assert with_superset_port(settings, 18201, {}).superset_url == "http://127.0.0.1:18201"
    explicit = load_settings({"PILOTAGE_SUPERSET_URL": "https://bi.example.com"}, data_dir=tmp_path)
    kept = with_superset_port(explicit, 18201, {"PILOTAGE_SUPERSET_URL": "https://bi.example.com"})
    assert kept.superset_url == "https://bi.example.com"


def test_serve_as_of_and_port_reach_the_dagster_child(tmp_path, monkeypatch, umask):
    captured = {}
    monkeypatch.setattr(
        servers,
        "run_servers",
        lambda settings, *ports, pin_as_of: captured.update(settings=settings, pin=pin_as_of),
    )
    monkeypatch.delenv("PILOTAGE_SUPERSET_URL", raising=False)
    monkeypatch.delenv("PILOTAGE_AS_OF", raising=False)
    result = CliRunner().invoke(
        main,
        ["serve", "--as-of", "2026-11-15", "--superset-port", "18201", "--data-dir", tmp_path],
    )
    assert result.exit_code == 0, result.output
    settings = with_superset_port(captured["settings"], 18201)
    assert captured["pin"]
    command, env = servers.dagster_spec(settings, 18202, captured["pin"])
    assert env["PILOTAGE_AS_OF"] == "2026-11-15"  # sensor and schedule runs: the demo's day
    assert env["PILOTAGE_SUPERSET_URL"] == "http://127.0.0.1:18201"
    assert env["PILOTAGE_DATA_DIR"] == str(tmp_path.resolve())
    assert env["DAGSTER_HOME"] == str(tmp_path.resolve() / "dagster_home")
    assert command[-2:] == ["-p", "18202"] and command[1] == "dev"
    assert dt.date.fromisoformat(env["PILOTAGE_AS_OF"]) != dt.date.today()


def _group(script: str) -> subprocess.Popen:
    """A shell in its own session with background children (a process group like dagster dev's:
    a parent, its children, a grandchild)."""
    return subprocess.Popen(["sh", "-c", script], start_new_session=True)


def _alive(pgid: int) -> list[int]:
    return servers._group_members(pgid)


def test_stop_ends_every_process_of_the_groups_promptly():
    polite = _group("sleep 300 & (sleep 300 & wait) & wait")
    # Ignores SIGTERM, and so do its children (an ignored signal is inherited): needs SIGKILL.
    stubborn = _group("trap '' TERM; sleep 300 & sleep 300 & wait")
    try:
        deadline = time.monotonic() + 5
        while (len(_alive(polite.pid)) < 4 or len(_alive(stubborn.pid)) < 3) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert len(_alive(polite.pid)) == 4 and len(_alive(stubborn.pid)) == 3
        messages = []
        started = time.monotonic()
        servers.stop_process_groups([polite, stubborn], grace=1.5, echo=messages.append)
        elapsed = time.monotonic() - started
        assert _alive(polite.pid) == [] and _alive(stubborn.pid) == []
        assert polite.returncode is not None and stubborn.returncode == -9
        assert 1.5 <= elapsed < 5, f"stopped in {elapsed:.1f} s"
        assert messages == [f"    still running after 2 s, killed: sh (group {stubborn.pid})"]
    finally:
        for proc in (polite, stubborn):
            if _alive(proc.pid):
                os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture
def dummy_superset(tmp_path):
    """A web server that answers /health with 200, standing in for Superset."""
    (tmp_path / "health").write_text("OK")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    command += ["--directory", str(tmp_path)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    service = servers.Service("Superset", process, f"http://127.0.0.1:{port}/health", tmp_path)
    yield service
    servers.stop_process_groups([process], grace=2, echo=lambda _m: None)


def _dagster(script: str, tmp_path) -> servers.Service:
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    # Port 9 (discard): nothing answers there, as with a Dagster still loading.
    return servers.Service("Dagster", process, "http://127.0.0.1:9/server_info", tmp_path / "d.log")


def _supervise(superset, dagster, seconds: float, **kwargs) -> list[str]:
    messages: list[str] = []
    ready: list[float] = []
    end = time.monotonic() + seconds
    servers.supervise(
        superset,
        dagster,
        messages.append,
        on_superset_ready=lambda: ready.append(time.monotonic()),
        # At least ``seconds``, and until the stand-in answered (a loaded machine is slow).
        until=lambda: time.monotonic() > end and superset.ready,
        superset_timeout=30,
        poll=0.2,
        **kwargs,
    )
    assert len(ready) == 1, "the dashboards are announced once, as soon as Superset answers"
    return messages


def test_superset_stays_up_when_dagster_stops(dummy_superset, tmp_path):
    dagster = _dagster("sleep 0.5; exit 3", tmp_path)
    try:
        messages = _supervise(dummy_superset, dagster, 2)
    finally:
        servers.stop_process_groups([dagster.process], grace=1, echo=lambda _m: None)
    assert dummy_superset.process.poll() is None and dummy_superset.ready
    stopped = [m for m in messages if m.startswith("Dagster stopped (exit code 3)")]
    assert len(stopped) == 1, messages
    assert "Superset keeps serving the dashboards" in stopped[0]


def test_a_slow_dagster_is_waited_for_with_progress_then_reported(dummy_superset, tmp_path):
    dagster = _dagster("sleep 300", tmp_path)
    try:
        messages = _supervise(dummy_superset, dagster, 2, dagster_timeout=1.2, progress_every=0.5)
    finally:
        servers.stop_process_groups([dagster.process], grace=1, echo=lambda _m: None)
    assert dummy_superset.process.poll() is None
    waiting = [m for m in messages if m.startswith("waiting for Dagster (")]
    assert waiting and all(m.endswith(" s)...") for m in waiting), messages
    gave_up = [m for m in messages if m.startswith("Dagster has not answered after")]
    assert len(gave_up) == 1 and "Superset keeps serving" in gave_up[0], messages


def test_superset_that_stops_is_an_error(tmp_path):
    dead = subprocess.Popen(["sh", "-c", "exit 4"], start_new_session=True)
    dead.wait()
    superset = servers.Service("Superset", dead, "http://127.0.0.1:9/health", tmp_path / "s.log")
    with pytest.raises(servers.ServeError, match=r"Superset stopped \(exit code 4\): see .*s\.log"):
        servers.supervise(superset, None, lambda _m: None, poll=0.1)


def test_without_as_of_dagster_runs_follow_the_real_date(tmp_path, monkeypatch, umask):
    """A `serve` that runs for weeks: no day is pinned for Dagster's runs, each uses its own."""
    captured = {}
    monkeypatch.setattr(
        servers,
        "run_servers",
        lambda settings, *ports, pin_as_of: captured.update(settings=settings, pin=pin_as_of),
    )
    monkeypatch.delenv("PILOTAGE_AS_OF", raising=False)
    result = CliRunner().invoke(main, ["serve", "--data-dir", tmp_path])
    assert result.exit_code == 0, result.output
    assert captured["pin"] is False
    _command, env = servers.dagster_spec(captured["settings"], 18202, captured["pin"])
    assert "PILOTAGE_AS_OF" not in env and env["PILOTAGE_DATA_DIR"] == str(tmp_path.resolve())
    # PILOTAGE_AS_OF in the environment pins the day as --as-of does.
    monkeypatch.setenv("PILOTAGE_AS_OF", "2026-11-15")
    assert CliRunner().invoke(main, ["serve", "--data-dir", tmp_path]).exit_code == 0
    assert captured["pin"] is True
    assert servers.dagster_spec(captured["settings"], 1, True)[1]["PILOTAGE_AS_OF"] == "2026-11-15"
