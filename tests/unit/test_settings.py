"""One settings module: every PILOTAGE_* variable the repository reads is documented in
.env.example (and every documented one is read), only pilotage/settings.py reads them in the
pipeline's Python, and subprocesses get them from the settings, not from os.environ."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from pilotage.settings import PROJECT_ROOT, Settings, load_settings, private_data

ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
PREFIX = "PILOTAGE" + "_"  # spelled in two so that this file names no variable by accident
# A variable's name: PILOTAGE_ and capitals, not part of a longer identifier, not a prefix
# written as a pattern (PILOTAGE_PG_*).
NAME = re.compile(rf"(?<![A-Za-z0-9_]){PREFIX}[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*])")
# Where variables are read: the code, the configuration of dbt, Superset, compose and the
# images, the scripts and the tests. Documentation only mentions them.
SKIPPED_DIRS = {".git", ".venv", ".venv-superset", ".tools", "data", "docs", "target"}
SKIPPED_DIRS |= {"dbt_packages", "logs", "node_modules", "__pycache__", ".ruff_cache"}
SKIPPED_FILES = {".env.example", ".env", "README.md", "CHANGELOG.md", "uv.lock"}
TEXT_SUFFIXES = {".py", ".yml", ".yaml", ".sh", ".toml", ".sql", ".cfg", ".ini", ".json", ""}
# The pipeline's Python: only pilotage/settings.py reads PILOTAGE_* from the environment.
PIPELINE_PACKAGES = ("pilotage", "pilotage_cli", "dagster_project", "ingestion")
ENV_READ = re.compile(
    rf"""(environ\.get\(|environ\[|getenv\()\s*["']{PREFIX}|environ\.get\(\s*[A-Z_]+_ENV\b"""
)


def _files(root: Path):
    for path in sorted(root.iterdir()):
        if path.is_dir():
            if path.name not in SKIPPED_DIRS:
                yield from _files(path)
        elif path.name not in SKIPPED_FILES and (
            path.suffix in TEXT_SUFFIXES or path.name.endswith("Dockerfile")
        ):
            yield path


def names_read(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, list[str]]:
    """Every PILOTAGE_* name in the code and configuration under ``root``, with where."""
    found: dict[str, list[str]] = {}
    for path in _files(root):
        if path in skip:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name in set(NAME.findall(text)):
            found.setdefault(name, []).append(str(path.relative_to(root)))
    return found


def names_documented(text: str) -> set[str]:
    """The variables .env.example lists, set (NAME=...) or commented out (# NAME=...)."""
    return set(re.findall(rf"^#?\s*({PREFIX}[A-Z0-9_]+)=", text, re.M))


def test_every_variable_read_is_documented_in_env_example_and_vice_versa():
    read = names_read(PROJECT_ROOT, skip=(Path(__file__).resolve(),))
    documented = names_documented(ENV_EXAMPLE.read_text(encoding="utf-8"))
    undocumented = {name: where for name, where in read.items() if name not in documented}
    assert not undocumented, f"read but not in .env.example: {undocumented}"
    unread = sorted(documented - set(read))
    assert not unread, f"in .env.example but read nowhere: {unread}"


def test_the_check_finds_an_undocumented_variable(tmp_path):
    """The check above can fail: a new variable in a module, or one documented and read nowhere."""
    (tmp_path / "pkg").mkdir()
    name = PREFIX + "SOMETHING_NEW"
    (tmp_path / "pkg" / "mod.py").write_text(f'import os\nos.environ.get("{name}")\n')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.py").write_text(f"{PREFIX}ONLY_IN_DOCS\n")
    (tmp_path / "profiles.yml").write_text(f"path: \"{{{{ env_var('{PREFIX}DBT_X') }}}}\"\n")
    assert set(names_read(tmp_path)) == {name, PREFIX + "DBT_X"}
    documented = names_documented(f"# {PREFIX}DBT_X=1\n{PREFIX}GONE=\nOTHER=1\n")
    assert documented == {PREFIX + "DBT_X", PREFIX + "GONE"}
    assert set(names_read(tmp_path)) - documented == {name}


def test_only_the_settings_module_reads_pilotage_variables():
    offenders = []
    for package in PIPELINE_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if path == PROJECT_ROOT / "pilotage" / "settings.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if ENV_READ.search(line):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "read PILOTAGE_* through pilotage.settings:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("package", "above"),
    [
        ("pilotage", ("dagster_project", "pilotage_cli")),
        ("ingestion", ("dagster_project", "pilotage_cli")),
        ("dagster_project", ("pilotage_cli",)),
    ],
)
def test_imports_run_down_from_the_cli_to_the_core(package, above):
    """The arrows run down: pilotage_cli -> dagster_project -> ingestion, pilotage."""
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(above)})\b", re.M)
    for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
        assert not pattern.search(path.read_text(encoding="utf-8")), path


def test_load_settings_reads_every_setting(tmp_path):
    env = {
        PREFIX + "DATA_DIR": str(tmp_path),
        PREFIX + "AS_OF": "2026-11-15",
        PREFIX + "SOURCES": "erp, crm,crm",
        PREFIX + "ENV": "Production",
        PREFIX + "LANGUAGE": " FR",
        PREFIX + "VERBOSE": "yes",
        PREFIX + "SUPERSET_URL": "http://superset:8088/",
        PREFIX + "SUPERSET_VENV": str(tmp_path / "venv"),
        PREFIX + "REFRESH_CRON": "0 6 * * *",
        PREFIX + "TIMEZONE": "UTC",
        PREFIX + "ERP_DATABASE_URL": "postgresql://erp/db",
        PREFIX + "ERP_DATABASE_SCHEMA": "sales",
        PREFIX + "LANDING_CONFIG": str(tmp_path / "landing.yaml"),
    }
    settings = load_settings(env)
    assert settings.landing_dir == tmp_path / "landing"
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.serving_path == tmp_path / "serving" / "serving.duckdb"
    assert settings.as_of == dt.date(2026, 11, 15)
    assert settings.sources == ("crm", "erp")
    assert settings.production and settings.verbose
    assert settings.language == "fr"
    assert settings.superset_url == "http://superset:8088"
    assert settings.superset_venv == tmp_path / "venv"
    assert (settings.refresh_cron, settings.timezone) == ("0 6 * * *", "UTC")
    assert (settings.erp_database_url, settings.erp_database_schema) == (
        "postgresql://erp/db",
        "sales",
    )
    assert settings.landing_config == tmp_path / "landing.yaml"
    assert settings.dagster_home_dir == tmp_path / "dagster_home"
    # to_env gives the same settings back in another process (dbt, Superset, a code server)
    assert load_settings(settings.to_env()) == settings


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.as_of == dt.date.today()
    assert settings.sources == ("crm", "erp")
    assert not settings.production and not settings.verbose
    assert settings.language == "en"
    assert settings.erp_database_url is None and settings.landing_config is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AS_OF", "15/11/2026"),
        ("SOURCES", "crm,sap"),
        ("ENV", "prod"),
        ("LANGUAGE", "de"),
        ("WAREHOUSE_ENGINE", "mysql"),
        ("PG_PORT", "five"),
    ],
)
def test_a_malformed_value_names_its_variable(name, value):
    with pytest.raises(ValueError, match=PREFIX + name):
        load_settings({PREFIX + name: value})


def test_one_setting_chooses_the_warehouse_engine(tmp_path):
    duckdb_settings = load_settings({PREFIX + "DATA_DIR": str(tmp_path)})
    assert duckdb_settings.warehouse_engine == "duckdb" and not duckdb_settings.on_postgres
    assert PREFIX + "DBT_TARGET" not in duckdb_settings.to_env()  # dbt's default target: DuckDB
    assert PREFIX + "PG_PASSWORD" not in duckdb_settings.to_env()
    env = {
        PREFIX + "DATA_DIR": str(tmp_path),
        PREFIX + "WAREHOUSE_ENGINE": " Postgres",
        PREFIX + "PG_HOST": "db.internal",
        PREFIX + "PG_PORT": "6432",
        PREFIX + "PG_USER": "pipeline",
        PREFIX + "PG_PASSWORD": "s3cret",
        PREFIX + "PG_DATABASE": "sales",
        PREFIX + "PG_READER_PASSWORD": "r3ader",
    }
    settings = load_settings(env)
    assert settings.on_postgres
    pg = settings.postgres
    assert (pg.host, pg.port, pg.user, pg.password, pg.database) == (
        "db.internal",
        6432,
        "pipeline",
        "s3cret",
        "sales",
    )
    assert (pg.serving_database, pg.reader_user, pg.reader_password) == (
        "sales_serving",
        "pilotage_reader",
        "r3ader",
    )
    exported = settings.to_env()
    assert exported[PREFIX + "DBT_TARGET"] == "postgres"  # dbt/profiles.yml's postgres target
    assert load_settings(exported) == settings


def test_subprocess_env_is_built_from_the_settings_not_written_back(tmp_path, monkeypatch):
    monkeypatch.delenv(PREFIX + "WAREHOUSE_PATH", raising=False)
    monkeypatch.setenv(PREFIX + "ERP_DATABASE_URL", "postgresql://stale")
    monkeypatch.setenv(PREFIX + "DBT_TARGET", "dev")
    settings: Settings = dataclasses.replace(
        load_settings({PREFIX + "DATA_DIR": str(tmp_path)}), as_of=dt.date(2026, 1, 31)
    )
    env = settings.subprocess_env()
    assert env[PREFIX + "WAREHOUSE_PATH"] == str(tmp_path / "warehouse.duckdb")
    assert env[PREFIX + "AS_OF"] == "2026-01-31"
    assert env["DAGSTER_HOME"] == str(tmp_path / "dagster_home")
    assert PREFIX + "ERP_DATABASE_URL" not in env  # unset in the settings: unset for dbt
    assert env[PREFIX + "DBT_TARGET"] == "dev"  # what the settings do not hold passes through
    import os

    assert PREFIX + "WAREHOUSE_PATH" not in os.environ


def test_private_data_closes_an_old_install_and_what_is_created_after(tmp_path):
    """A data folder from before the rule (755 folders, 644 files) is closed, and what the
    process (and its subprocesses) create from then on is 0600 / 0700."""
    previous = os.umask(0o022)
    try:
        settings = load_settings({}, data_dir=tmp_path / "data")
        settings.serving_path.parent.mkdir(parents=True)
        old_files = [
            settings.warehouse_path,
            settings.warehouse_path.with_name("warehouse.duckdb.wal"),
            settings.serving_path,
        ]
        for path in old_files:
            path.write_text("sales")
        assert stat.S_IMODE(settings.serving_path.stat().st_mode) == 0o644  # the old install
        private_data(settings)
        for path in old_files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for folder in (settings.data_dir, settings.serving_path.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        (settings.data_dir / "dagster_home").mkdir()
        (settings.data_dir / "dagster_home" / "runs.db").write_text("new")
        subprocess.run(["touch", str(settings.data_dir / "from-a-subprocess")], check=True)
        assert stat.S_IMODE((settings.data_dir / "dagster_home").stat().st_mode) == 0o700
        assert stat.S_IMODE((settings.data_dir / "dagster_home" / "runs.db").stat().st_mode) == (
            0o600
        )
        assert stat.S_IMODE((settings.data_dir / "from-a-subprocess").stat().st_mode) == 0o600
    finally:
        os.umask(previous)
