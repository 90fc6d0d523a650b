"""Every setting of pilotage, read from the environment in one place: ``load_settings()``.

Every path has a default under the project's ``data/`` folder so that the demo works with no
configuration; deployments set the ``PILOTAGE_*`` variables (every one is listed in
``.env.example``; tests/unit/test_settings.py fails when one is read but not documented).

This is the only Python module of ``pilotage`` and ``dagster_project`` that reads ``PILOTAGE_*``
variables. The variables read by programs that are not this package's Python stay where those
programs read them, and are documented in ``.env.example`` too:

- ``dbt/profiles.yml`` (``env_var``): the warehouse path, the dbt target and threads, DuckDB's
  memory limit, the PostgreSQL connection (read here too: ``PostgresSettings``);
- ``superset/superset_config.py``, run inside Superset's own environment: the environment
  (demo/production), the data folder, HTTPS, the data cache;
- ``docker-compose.yml`` and ``scripts/install.sh``: the image version, the Python to install with.

Subprocesses (dbt, Dagster, Superset) never rely on this process's ``os.environ`` being written
to: they get ``Settings.subprocess_env()``, an explicit environment built from the settings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
SUPERSET_DIR = PROJECT_ROOT / "superset"

# Schemas of the warehouse that the publish step copies into the serving file.
SERVED_SCHEMAS = ("marts",)
# The source systems pilotage knows. PILOTAGE_SOURCES says which ones a company has: a company
# without an ERP (or without a CRM) still gets its dashboards, with what it lacks said plainly.
SOURCE_SYSTEMS = ("crm", "erp")

DEFAULT_SUPERSET_URL = "http://127.0.0.1:8088"
# The warehouse engine (PILOTAGE_WAREHOUSE_ENGINE): DuckDB files on one machine (the default), or a
# PostgreSQL server (dlt, dbt and publish on it, Superset reading a serving database).
ENGINES = ("duckdb", "postgres")
# Every hour from 07:00 to 19:00, Monday to Friday, in the company's time zone.
DEFAULT_REFRESH_CRON = "0 7-19 * * 1-5"
DEFAULT_TIMEZONE = "Europe/Paris"
# A refresh waits up to an hour (a run's max_runtime_seconds in dagster.yaml) for the one before.
DEFAULT_REFRESH_WAIT_SECONDS = 3600
ENVIRONMENTS = ("demo", "production")
# The dashboards' languages: Superset's UI and the KPI catalogue's labels (dbt/kpis.yml).
LANGUAGES = ("en", "fr")
_TRUE = ("1", "true", "yes", "on")
# Settings that may be unset (``to_env`` leaves them out then).
OPTIONAL_VARS = (
    "PILOTAGE_ERP_DATABASE_URL",
    "PILOTAGE_ERP_DATABASE_SCHEMA",
    "PILOTAGE_LANDING_CONFIG",
)


@dataclass(frozen=True)
class PostgresSettings:
    """The PostgreSQL server of the ``postgres`` engine (PILOTAGE_PG_*): dlt loads and dbt builds
    ``database``; publish swaps the served marts into ``serving_database``, which Superset reads
    as ``reader_user`` (SELECT on the served schemas only, read-only transactions)."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    database: str = "pilotage"
    # PILOTAGE_PG_SERVING_DATABASE (default <database>_serving)
    serving_database: str = "pilotage_serving"
    # PILOTAGE_PG_READER_USER / PILOTAGE_PG_READER_PASSWORD: Superset's read-only login.
    reader_user: str = "pilotage_reader"
    reader_password: str = ""

    def connect_args(self, database: str | None = None) -> dict:
        """psycopg2.connect() keywords of the pipeline's (writing) user on ``database``
        (default: the warehouse database)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": database or self.database,
            "connect_timeout": 10,
        }

    def to_env(self) -> dict[str, str]:
        return {
            "PILOTAGE_PG_HOST": self.host,
            "PILOTAGE_PG_PORT": str(self.port),
            "PILOTAGE_PG_USER": self.user,
            "PILOTAGE_PG_PASSWORD": self.password,
            "PILOTAGE_PG_DATABASE": self.database,
            "PILOTAGE_PG_SERVING_DATABASE": self.serving_database,
            "PILOTAGE_PG_READER_USER": self.reader_user,
            "PILOTAGE_PG_READER_PASSWORD": self.reader_password,
        }


@dataclass(frozen=True)
class Settings:
    """What pilotage needs to know about its deployment. Build it with ``load_settings()``; tests
    build or ``dataclasses.replace`` it directly."""

    # PILOTAGE_DATA_DIR: extracts, warehouse, serving file and the services' homes (./data).
    data_dir: Path
    # PILOTAGE_LANDING_DIR: the CRM/ERP extract drops (<data_dir>/landing).
    landing_dir: Path
    # PILOTAGE_WAREHOUSE_PATH: the DuckDB warehouse dlt and dbt write (<data_dir>/warehouse.duckdb).
    warehouse_path: Path
    # PILOTAGE_SERVING_PATH: the read-only copy Superset serves (<data_dir>/serving/...).
    serving_path: Path
    # PILOTAGE_AS_OF: "today" for pacing (the real date when unset).
    as_of: dt.date
    # PILOTAGE_SOURCES: the source systems the company has (crm,erp).
    sources: tuple[str, ...] = SOURCE_SYSTEMS
    # PILOTAGE_ENV: demo (generated local secrets) or production (refuses weak secrets).
    environment: str = "demo"
    # PILOTAGE_LANGUAGE: the dashboards' language, Superset's UI included (en or fr).
    language: str = "en"
    # PILOTAGE_VERBOSE: every line of Superset's bootstrap, not only pilotage's progress.
    verbose: bool = False
    # PILOTAGE_SUPERSET_URL: where the Dagster asset refreshes the dashboards' caches.
    superset_url: str = DEFAULT_SUPERSET_URL
    # PILOTAGE_SUPERSET_VENV: Superset's own environment (./.venv-superset).
    superset_venv: Path = PROJECT_ROOT / ".venv-superset"
    # PILOTAGE_REFRESH_CRON and PILOTAGE_TIMEZONE: the Dagster refresh schedule.
    refresh_cron: str = DEFAULT_REFRESH_CRON
    timezone: str = DEFAULT_TIMEZONE
    # PILOTAGE_ERP_DATABASE_URL / _SCHEMA: read the ERP from a live database, not from files.
    erp_database_url: str | None = None
    erp_database_schema: str | None = None
    # PILOTAGE_LANDING_CONFIG: the landing configuration (ingestion/landing.yaml when unset).
    landing_config: Path | None = None
    # DAGSTER_HOME: Dagster's run history and instance config (<data_dir>/dagster_home).
    dagster_home: Path | None = None
    # PILOTAGE_REFRESH_WAIT_SECONDS: how long a refresh waits for the one in progress on the
    # same warehouse before it gives up (one refresh at a time, pilotage/refresh_lock.py).
    refresh_wait_seconds: int = DEFAULT_REFRESH_WAIT_SECONDS
    # PILOTAGE_WAREHOUSE_ENGINE: duckdb (warehouse_path, serving_path) or postgres (postgres).
    warehouse_engine: str = "duckdb"
    postgres: PostgresSettings = PostgresSettings()

    @property
    def dlt_pipelines_dir(self) -> Path:
        return self.data_dir / "dlt"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def dagster_home_dir(self) -> Path:
        return self.dagster_home or self.data_dir / "dagster_home"

    @property
    def on_postgres(self) -> bool:
        return self.warehouse_engine == "postgres"

    def to_env(self) -> dict[str, str]:
        """The ``PILOTAGE_*`` variables that give these settings back through ``load_settings()``
        in another process (dbt's profile reads PILOTAGE_WAREHOUSE_PATH, Superset's config
        PILOTAGE_ENV and PILOTAGE_DATA_DIR, a Dagster code server all of them). On the postgres
        engine, dbt's target is ``postgres`` and the PILOTAGE_PG_* connection goes along."""
        env = {
            "PILOTAGE_DATA_DIR": str(self.data_dir),
            "PILOTAGE_LANDING_DIR": str(self.landing_dir),
            "PILOTAGE_WAREHOUSE_PATH": str(self.warehouse_path),
            "PILOTAGE_SERVING_PATH": str(self.serving_path),
            "PILOTAGE_AS_OF": self.as_of.isoformat(),
            "PILOTAGE_SOURCES": ",".join(self.sources),
            "PILOTAGE_ENV": self.environment,
            "PILOTAGE_LANGUAGE": self.language,
            "PILOTAGE_VERBOSE": "1" if self.verbose else "",
            "PILOTAGE_SUPERSET_URL": self.superset_url,
            "PILOTAGE_SUPERSET_VENV": str(self.superset_venv),
            "PILOTAGE_REFRESH_CRON": self.refresh_cron,
            "PILOTAGE_TIMEZONE": self.timezone,
            "PILOTAGE_REFRESH_WAIT_SECONDS": str(self.refresh_wait_seconds),
            "PILOTAGE_WAREHOUSE_ENGINE": self.warehouse_engine,
        }
        if self.on_postgres:
            env["PILOTAGE_DBT_TARGET"] = "postgres"
            env.update(self.postgres.to_env())
        optional = {
            "PILOTAGE_ERP_DATABASE_URL": self.erp_database_url,
            "PILOTAGE_ERP_DATABASE_SCHEMA": self.erp_database_schema,
            "PILOTAGE_LANDING_CONFIG": str(self.landing_config) if self.landing_config else None,
        }
        env.update({name: value for name, value in optional.items() if value})
        return env

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a subprocess (dbt, ``dagster dev``): ``base`` (default: this
        process's environment) with these settings, DAGSTER_HOME, and this Python environment's
        bin/ first on PATH (its dbt and dagster, even when not run through ``uv run``)."""
        env = dict(os.environ if base is None else base)
        for name in OPTIONAL_VARS:
            env.pop(name, None)  # unset in the settings: unset for the subprocess too
        env.update(self.to_env())
        env["DAGSTER_HOME"] = str(self.dagster_home_dir)
        bin_dir = str(Path(sys.executable).parent)
        path = env.get("PATH", "")
        if bin_dir not in path.split(os.pathsep):
            env["PATH"] = bin_dir + os.pathsep + path if path else bin_dir
        return env


# The data hold every sale, margin and rep's result: files 0600, folders 0700 (their user only).
PRIVATE_UMASK = 0o077


def make_private(*paths: Path) -> None:
    """Existing files 0600 and folders 0700 (missing paths are skipped)."""
    for path in paths:
        if path.exists():
            try:
                path.chmod(0o700 if path.is_dir() else 0o600)
            except PermissionError:  # another user's: say so, do not stop the pipeline
                log.warning("%s belongs to another user: could not make it private", path)


def private_data(settings: Settings) -> None:
    """From now on this process and its subprocesses (dlt, dbt, Dagster, Superset) create files
    0600 and folders 0700, and the data folder, warehouse and serving file already there are made
    so (an install older than this rule). Called where the CLI and Dagster load the settings."""
    os.umask(PRIVATE_UMASK)
    warehouse = settings.warehouse_path
    make_private(
        settings.data_dir,
        warehouse,
        warehouse.with_name(warehouse.name + ".wal"),
        settings.serving_path.parent,
        settings.serving_path,
    )


def with_superset_port(
    settings: Settings, port: int, environ: Mapping[str, str] | None = None
) -> Settings:
    """The settings of a ``serve`` that starts Superset on ``port``: the cache warm-up (Dagster's
    superset asset) calls PILOTAGE_SUPERSET_URL when it is set, else that port on 127.0.0.1."""
    env = os.environ if environ is None else environ
    if _text(env.get("PILOTAGE_SUPERSET_URL")):
        return settings
    return dataclasses.replace(settings, superset_url=f"http://127.0.0.1:{port}")


def as_of_pinned(as_of: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether "today" is a fixed day (the --as-of option ``as_of`` or PILOTAGE_AS_OF) rather than
    the real date, which a long-running ``serve`` must then follow from one day to the next."""
    env = os.environ if environ is None else environ
    return bool(_text(as_of) or _text(env.get("PILOTAGE_AS_OF")))


def parse_as_of(value: str | None) -> dt.date:
    """The as-of date for pacing: an ISO date, or today when unset."""
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"PILOTAGE_AS_OF={value!r} is not a date: use YYYY-MM-DD, or unset it for today"
        ) from exc


def parse_sources(value: str | None) -> tuple[str, ...]:
    """The source systems a company has: a comma-separated list of crm and erp (default both)."""
    if value is None or not value.strip():
        return SOURCE_SYSTEMS
    names = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in SOURCE_SYSTEMS]
    if unknown or not names:
        raise ValueError(
            f"PILOTAGE_SOURCES={value!r}: give a comma-separated list of "
            f"{' and '.join(SOURCE_SYSTEMS)} (e.g. crm for a company without an ERP)"
        )
    return tuple(name for name in SOURCE_SYSTEMS if name in names)


def parse_environment(value: str | None) -> str:
    """PILOTAGE_ENV: demo (the default) or production. Anything else is a typo, said so."""
    name = (value or "demo").strip().lower() or "demo"
    if name not in ENVIRONMENTS:
        raise ValueError(f"PILOTAGE_ENV={value!r}: use demo or production")
    return name


def parse_engine(value: str | None) -> str:
    """PILOTAGE_WAREHOUSE_ENGINE: duckdb (the default) or postgres."""
    name = (value or "duckdb").strip().lower() or "duckdb"
    if name not in ENGINES:
        raise ValueError(f"PILOTAGE_WAREHOUSE_ENGINE={value!r}: use {' or '.join(ENGINES)}")
    return name


def parse_postgres(env: Mapping[str, str]) -> PostgresSettings:
    """The PILOTAGE_PG_* connection (defaults: the local server, user postgres, database
    pilotage, its serving database <database>_serving, reader pilotage_reader)."""
    port = _text(env.get("PILOTAGE_PG_PORT")) or "5432"
    if not port.isdigit():
        raise ValueError(f"PILOTAGE_PG_PORT={port!r} is not a port number")
    database = _text(env.get("PILOTAGE_PG_DATABASE")) or "pilotage"
    return PostgresSettings(
        host=_text(env.get("PILOTAGE_PG_HOST")) or "127.0.0.1",
        port=int(port),
        user=_text(env.get("PILOTAGE_PG_USER")) or "postgres",
        password=env.get("PILOTAGE_PG_PASSWORD", ""),
        database=database,
        serving_database=(_text(env.get("PILOTAGE_PG_SERVING_DATABASE")) or f"{database}_serving"),
        reader_user=_text(env.get("PILOTAGE_PG_READER_USER")) or "pilotage_reader",
        reader_password=env.get("PILOTAGE_PG_READER_PASSWORD", ""),
    )


def parse_language(value: str | None) -> str:
    """PILOTAGE_LANGUAGE: en (the default) or fr, the languages of the KPI catalogue's labels."""
    name = (value or "en").strip().lower() or "en"
    if name not in LANGUAGES:
        raise ValueError(f"PILOTAGE_LANGUAGE={value!r}: use {' or '.join(LANGUAGES)}")
    return name


def parse_seconds(name: str, value: str | None) -> int:
    """A whole number of seconds, 0 or more (default: DEFAULT_REFRESH_WAIT_SECONDS)."""
    if value is None or not value.strip():
        return DEFAULT_REFRESH_WAIT_SECONDS
    if not value.strip().isdigit():
        raise ValueError(f"{name}={value!r} is not a whole number of seconds (e.g. 600)")
    return int(value)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser().resolve() if value and value.strip() else None


def _text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    data_dir: str | Path | None = None,
    as_of: str | None = None,
) -> Settings:
    """The settings from ``environ`` (default: this process's environment). ``data_dir`` and
    ``as_of`` (the CLI's --data-dir and --as-of) win over PILOTAGE_DATA_DIR and PILOTAGE_AS_OF;
    paths not set on their own follow the data folder. Raises ValueError naming the variable
    when a value is malformed."""
    env = dict(os.environ if environ is None else environ)
    if data_dir:
        env["PILOTAGE_DATA_DIR"] = str(data_dir)
    if as_of:
        env["PILOTAGE_AS_OF"] = as_of
    data_dir = _path(env.get("PILOTAGE_DATA_DIR")) or PROJECT_ROOT / "data"
    return Settings(
        data_dir=data_dir,
        landing_dir=_path(env.get("PILOTAGE_LANDING_DIR")) or data_dir / "landing",
        warehouse_path=_path(env.get("PILOTAGE_WAREHOUSE_PATH")) or data_dir / "warehouse.duckdb",
        serving_path=(
            _path(env.get("PILOTAGE_SERVING_PATH")) or data_dir / "serving" / "serving.duckdb"
        ),
        as_of=parse_as_of(env.get("PILOTAGE_AS_OF")),
        sources=parse_sources(env.get("PILOTAGE_SOURCES")),
        environment=parse_environment(env.get("PILOTAGE_ENV")),
        language=parse_language(env.get("PILOTAGE_LANGUAGE")),
        verbose=env.get("PILOTAGE_VERBOSE", "").strip().lower() in _TRUE,
        superset_url=(_text(env.get("PILOTAGE_SUPERSET_URL")) or DEFAULT_SUPERSET_URL).rstrip("/"),
        superset_venv=(_path(env.get("PILOTAGE_SUPERSET_VENV")) or PROJECT_ROOT / ".venv-superset"),
        refresh_cron=_text(env.get("PILOTAGE_REFRESH_CRON")) or DEFAULT_REFRESH_CRON,
        timezone=_text(env.get("PILOTAGE_TIMEZONE")) or DEFAULT_TIMEZONE,
        erp_database_url=_text(env.get("PILOTAGE_ERP_DATABASE_URL")),
        erp_database_schema=_text(env.get("PILOTAGE_ERP_DATABASE_SCHEMA")),
        landing_config=_path(env.get("PILOTAGE_LANDING_CONFIG")),
        dagster_home=_path(env.get("DAGSTER_HOME")),
        refresh_wait_seconds=parse_seconds(
            "PILOTAGE_REFRESH_WAIT_SECONDS", env.get("PILOTAGE_REFRESH_WAIT_SECONDS")
        ),
        warehouse_engine=parse_engine(env.get("PILOTAGE_WAREHOUSE_ENGINE")),
        postgres=parse_postgres(env),
    )
