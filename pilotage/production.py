"""The production profile as local processes: docker-compose.yml's services without Docker.

``pilotage production up`` (pilotage_cli/production.py) runs the same programs with the same
settings as the compose services, against a PostgreSQL and a Redis the operator already runs:

=====================  ===========================================================================
compose service        local process
=====================  ===========================================================================
superset-init          superset/bootstrap.py (metadata on PostgreSQL: SUPERSET_METADATA_URI)
superset               gunicorn (caches, rate limits on Redis: REDIS_URL)
superset-worker        celery worker (async queries, reports; broker and results on Redis)
superset-beat          celery beat (the periodic tasks: reports' scheduler, log pruning)
dagster-code           dagster code-server (the code location, dagster_project.definitions)
dagster-webserver      dagster-webserver (UI and GraphQL API, 127.0.0.1 only)
dagster-daemon         dagster-daemon (schedule, sensor, the run queue: QueuedRunCoordinator)
=====================  ===========================================================================

It reads the environment names of docker-compose.yml and .env.example: the secrets
(SUPERSET_SECRET_KEY, SUPERSET_ADMIN_PASSWORD, POSTGRES_PASSWORD) are required, as
``${VAR:?...}`` makes them in compose. Where compose names a container (``postgres``, ``redis``),
the local profile reads POSTGRES_HOST / POSTGRES_PORT (default 127.0.0.1:5432) and REDIS_URL
(default redis://127.0.0.1:6379/0); SUPERSET_METADATA_URI and DAGSTER_PG_* win when set.

This module only builds configurations and commands; pilotage_cli/production.py runs them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml

from pilotage.settings import PROJECT_ROOT, Settings

DOCKER_DIR = PROJECT_ROOT / "docker"
# The production Dagster instance (Postgres storage, run queue) and the workspace of compose.
DAGSTER_INSTANCE_TEMPLATE = DOCKER_DIR / "dagster.yaml"
WORKSPACE_TEMPLATE = DOCKER_DIR / "workspace.yaml"
CODE_LOCATION = "pilotage"
# The same programs and options as docker-compose.yml's services (tests/unit/
# test_production_profile.py checks that they stay the same).
CELERY_APP = "--app=superset.tasks.celery_app:app"
CELERY_WORKER_ARGS = (
    "worker",
    "--pool=prefork",
    "-O",
    "fair",
    "--concurrency=2",
    "--loglevel=INFO",
)
CELERY_BEAT_ARGS = ("beat", "--loglevel=INFO")
CELERY_BEAT_SCHEDULE = "celerybeat-schedule"  # in SUPERSET_HOME, the only place it may write
REQUIRED_SECRETS = ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "POSTGRES_PASSWORD")


class ProductionError(RuntimeError):
    """The production profile cannot start: the message says what to set or run."""


@dataclass(frozen=True)
class Postgres:
    """One PostgreSQL database: where Dagster's instance (DAGSTER_PG_*) or Superset's metadata
    lives."""

    host: str
    port: int
    database: str
    user: str
    password: str

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        return (
            f"{driver}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{self.database}"
        )

    def display(self) -> str:
        """Where it is, without the password (for logs and error messages)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class ProductionConfig:
    superset_metadata: Postgres
    dagster_storage: Postgres
    redis_url: str

    def superset_env(self) -> dict[str, str]:
        """The variables compose gives the Superset services (x-superset)."""
        return {
            "PILOTAGE_ENV": "production",
            "SUPERSET_METADATA_URI": self.superset_metadata.url(),
            "REDIS_URL": self.redis_url,
        }

    def dagster_env(self, dagster_home: Path, superset_url: str) -> dict[str, str]:
        """The variables compose gives the Dagster services (x-pipeline)."""
        storage = self.dagster_storage
        return {
            "PILOTAGE_ENV": "production",
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_PG_HOST": storage.host,
            "DAGSTER_PG_PORT": str(storage.port),
            "DAGSTER_PG_DB": storage.database,
            "DAGSTER_PG_USER": storage.user,
            "DAGSTER_PG_PASSWORD": storage.password,
            "PILOTAGE_SUPERSET_URL": superset_url,
        }


def _postgres_from_url(name: str, url: str) -> Postgres:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql") or not parts.hostname or not parts.path[1:]:
        raise ProductionError(
            f"{name}={parts.scheme}://...: give a PostgreSQL URL, "
            "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    from urllib.parse import unquote

    return Postgres(
        host=parts.hostname,
        port=parts.port or 5432,
        database=parts.path[1:],
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def production_config(environ: Mapping[str, str] | None = None) -> ProductionConfig:
    """The profile's databases and Redis from the environment (names of docker-compose.yml and
    .env.example). Raises ProductionError naming every missing secret at once."""
    env = dict(os.environ if environ is None else environ)
    missing = [name for name in REQUIRED_SECRETS if not env.get(name, "").strip()]
    if missing:
        raise ProductionError(
            "the production profile refuses to start without its secrets: "
            + ", ".join(missing)
            + " not set. Set them in the environment (see .env.example; generate the Superset "
            'ones with `python -c "import secrets; print(secrets.token_urlsafe(48))"`); they '
            "are never committed."
        )
    user = env.get("POSTGRES_USER") or "pilotage"
    password = env["POSTGRES_PASSWORD"]
    host = env.get("POSTGRES_HOST") or "127.0.0.1"
    try:
        port = int(env.get("POSTGRES_PORT") or 5432)
    except ValueError:
        raise ProductionError(f"POSTGRES_PORT={env['POSTGRES_PORT']!r} is not a port") from None
    # The databases docker/postgres-init.sql creates.
    superset = Postgres(host, port, "superset", user, password)
    if env.get("SUPERSET_METADATA_URI"):
        superset = _postgres_from_url("SUPERSET_METADATA_URI", env["SUPERSET_METADATA_URI"])
    dagster = Postgres(
        host=env.get("DAGSTER_PG_HOST") or host,
        port=int(env.get("DAGSTER_PG_PORT") or port),
        database=env.get("DAGSTER_PG_DB") or "dagster",
        user=env.get("DAGSTER_PG_USER") or user,
        password=env.get("DAGSTER_PG_PASSWORD") or password,
    )
    redis_url = env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if urlsplit(redis_url).scheme not in ("redis", "rediss"):
        raise ProductionError(f"REDIS_URL={redis_url!r}: give redis://HOST:PORT/DB")
    return ProductionConfig(superset, dagster, redis_url)


def write_dagster_instance(home: Path, code_server_port: int) -> Path:
    """DAGSTER_HOME with docker/dagster.yaml (the production instance) and the workspace of
    docker/workspace.yaml, its code server on 127.0.0.1 instead of the ``dagster-code`` container.
    Returns the workspace file."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_bytes(DAGSTER_INSTANCE_TEMPLATE.read_bytes())
    workspace = yaml.safe_load(WORKSPACE_TEMPLATE.read_text(encoding="utf-8"))
    for entry in workspace["load_from"]:
        entry["grpc_server"].update(host="127.0.0.1", port=code_server_port)
    path = home / "workspace.yaml"
    path.write_text(
        "# Written by `pilotage production up` from docker/workspace.yaml.\n"
        + yaml.safe_dump(workspace, sort_keys=False),
        encoding="utf-8",
    )
    return path


def _dagster_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def dagster_code_command(port: int) -> list[str]:
    return [
        _dagster_bin("dagster"),
        "code-server",
        "start",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        "dagster_project.definitions",
    ]


# Where compose's proxy serves Dagster (docker/proxy/); the webserver answers under it everywhere.
DAGSTER_PATH_PREFIX = "/dagster"


def dagster_webserver_command(port: int, workspace: Path) -> list[str]:
    return [
        _dagster_bin("dagster-webserver"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--path-prefix",
        DAGSTER_PATH_PREFIX,
        "-w",
        str(workspace),
    ]


def dagster_daemon_command(workspace: Path) -> list[str]:
    return [_dagster_bin("dagster-daemon"), "run", "-w", str(workspace)]


def celery_worker_command(settings: Settings) -> list[str]:
    return [str(settings.superset_venv / "bin" / "celery"), CELERY_APP, *CELERY_WORKER_ARGS]


def celery_beat_command(settings: Settings, superset_home: Path) -> list[str]:
    return [
        str(settings.superset_venv / "bin" / "celery"),
        CELERY_APP,
        *CELERY_BEAT_ARGS,
        f"--schedule={superset_home / CELERY_BEAT_SCHEDULE}",
    ]
