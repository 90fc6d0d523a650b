"""Shared fixtures: a demo warehouse built once per session by the real pipeline (a Dagster run).

Tests that need a server (Superset here; Postgres and Redis in later suites) start it or fail
loudly under CI=true; they never skip silently.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotage.settings import Settings

# The demo's fixed day: expected values are computed from the same extracts, so any day would do;
# a fixed one keeps failures reproducible. tests/warehouse/test_any_company.py sweeps other days
# (first and last of months, quarters and years, holidays, weekends, 29 February, the real today).
AS_OF = dt.date(2026, 11, 15)
SEED = 42
SCALE = 0.1
IN_CI = os.environ.get("CI") == "true"
_PILOTAGE_VARS = (
    "PILOTAGE_SUPERSET_URL",
    "PILOTAGE_DATA_DIR",
    "PILOTAGE_LANDING_DIR",
    "PILOTAGE_WAREHOUSE_PATH",
    "PILOTAGE_SERVING_PATH",
    "PILOTAGE_AS_OF",
    "PILOTAGE_SOURCES",
    "PILOTAGE_WAREHOUSE_ENGINE",  # the session's pipeline is DuckDB's, whatever the shell says
)


@contextlib.contextmanager
def pilotage_env(
    data_dir: Path, as_of: dt.date = AS_OF, sources: tuple[str, ...] | None = None
) -> Iterator[Settings]:
    """Point every pilotage setting at ``data_dir`` for the duration, then restore. ``sources``:
    the company's source systems (PILOTAGE_SOURCES), default both."""
    from pilotage.settings import load_settings

    saved = {k: os.environ.get(k) for k in _PILOTAGE_VARS}
    for key in _PILOTAGE_VARS:
        os.environ.pop(key, None)
    os.environ["PILOTAGE_DATA_DIR"] = str(data_dir)
    os.environ["PILOTAGE_AS_OF"] = as_of.isoformat()
    if sources is not None:
        os.environ["PILOTAGE_SOURCES"] = ",".join(sources)
    # Pipeline runs in tests never touch a Superset that happens to run on this machine.
    os.environ["PILOTAGE_SUPERSET_URL"] = "http://127.0.0.1:9"
    try:
        yield load_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def parse_dbt_project() -> None:
    """Dagster reads dbt/target/manifest.json: parse first, a stale manifest misses models."""
    from pilotage.dbt import parse_project

    parse_project()


def run_full_refresh(settings: Settings):
    """The full_refresh job, in process, as `pilotage refresh` runs it."""
    from dagster import DagsterInstance

    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings)
    return defs.resolve_job_def("full_refresh").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )


# --- layers ------------------------------------------------------------------------------------
# The directory is the layer (make test-fast runs tests/unit alone):
#   unit       no warehouse built, no dbt run, no server: pure Python, scratch files and loads
#   warehouse  reads the session-built demo warehouse (demo_pipeline) or runs dbt on DuckDB
#   e2e        full pipeline runs, Dagster jobs, a real Superset, PostgreSQL
# Each test gets its layer's marker (-m unit, -m "not e2e"); warehouse and e2e tests are also
# marked slow. A test module outside the three directories is a collection error.
LAYERS = ("unit", "warehouse", "e2e")
TESTS_DIR = Path(__file__).resolve().parent


def pytest_configure(config):
    for layer in LAYERS:
        config.addinivalue_line("markers", f"{layer}: a test of tests/{layer} (from its folder)")


def pytest_collection_modifyitems(config, items):
    outside = set()
    for item in items:
        path = Path(str(item.path)).resolve()
        try:
            layer = path.relative_to(TESTS_DIR).parts[0]
        except ValueError:  # a test file given from elsewhere: not ours to classify
            continue
        if layer not in LAYERS:
            outside.add(str(path.relative_to(TESTS_DIR.parent)))
            continue
        item.add_marker(getattr(pytest.mark, layer))
        if layer != "unit":
            item.add_marker(pytest.mark.slow)
    if outside:
        raise pytest.UsageError(
            "test modules outside tests/unit, tests/warehouse, tests/e2e: "
            + ", ".join(sorted(outside))
            + " (move each to its layer, see tests/conftest.py)"
        )


@pytest.fixture
def umask():
    """The CLI makes this process's umask private (settings_for): give the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.fixture(autouse=True)
def _loader_env(monkeypatch):
    """Loads in tests: no dlt telemetry, the committed landing config, the file-based ERP."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.delenv("PILOTAGE_LANDING_CONFIG", raising=False)
    monkeypatch.delenv("PILOTAGE_ERP_DATABASE_URL", raising=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A landing folder of small demo extracts (seed 42, scale 0.1, as of 2026-11-15)."""
    from ingestion.demo.generator import generate

    path = tmp_path_factory.mktemp("demo")
    generate(path, seed=SEED, scale=SCALE, as_of=AS_OF)
    return path


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory) -> Iterator[tuple[Settings, object]]:
    """Demo extracts (seed 42, scale 0.1, as of 2026-11-15) taken through the whole pipeline."""
    from ingestion.demo.generator import generate

    data_dir = tmp_path_factory.mktemp("demo_data")
    with pilotage_env(data_dir) as settings:
        generate(settings.landing_dir, seed=SEED, scale=SCALE, as_of=AS_OF)
        parse_dbt_project()
        result = run_full_refresh(settings)
        assert result.success, "the full refresh of the demo data failed: see the log above"
        yield settings, result


@pytest.fixture(scope="session")
def demo_serving_db(demo_pipeline) -> Path:
    """The serving file published by the demo pipeline run."""
    settings, _ = demo_pipeline
    assert settings.serving_path.exists()
    return settings.serving_path


@pytest.fixture
def copy_of_demo_data(demo_pipeline, tmp_path) -> Path:
    """A private copy of the demo data folder, for tests that change or break it."""
    settings, _ = demo_pipeline
    target = tmp_path / "data"
    shutil.copytree(settings.data_dir, target)
    return target


# --- real servers: PostgreSQL on 127.0.0.1 (trust auth, as on the development machines) ---------
PG = {
    "host": os.environ.get("PILOTAGE_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("PILOTAGE_PG_PORT", "5432")),
    "user": os.environ.get("PILOTAGE_PG_USER", "postgres"),
    "password": os.environ.get("PILOTAGE_PG_PASSWORD", ""),
}


def service_unavailable(message: str) -> None:
    """A missing server: a failure under CI=true, a loud skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def postgres_connect(dbname: str):
    import psycopg2

    return psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)


@contextlib.contextmanager
def scratch_postgres_database(what: str) -> Iterator[str]:
    """A fresh database on the real PostgreSQL server, dropped afterwards; yields its name."""
    import uuid

    try:
        admin = postgres_connect("postgres")
    except Exception as exc:  # noqa: BLE001 - any connection failure means no server
        service_unavailable(
            f"{what} is not tested: PostgreSQL is not reachable at {PG['host']}:{PG['port']} "
            f"({exc})"
        )
    name = f"pilotage_test_{uuid.uuid4().hex[:10]}"
    admin.autocommit = True
    admin.cursor().execute(f"create database {name}")
    try:
        yield name
    finally:
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()
