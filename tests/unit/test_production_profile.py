"""`pilotage production up` runs docker-compose.yml's services: same programs, same options, the
same environment names, the same secrets required (pilotage/production.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pilotage import production
from pilotage.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SECRETS = {
    "SUPERSET_SECRET_KEY": "k" * 48,
    "SUPERSET_ADMIN_PASSWORD": "pw",
    "POSTGRES_PASSWORD": "p@ss/word",
}


def _compose_command(service: str) -> list[str]:
    return [str(part) for part in COMPOSE["services"][service]["command"]]


def test_the_celery_services_run_the_same_command_here_and_in_compose():
    settings = load_settings({})
    home = Path("/app/superset_home")  # compose's SUPERSET_HOME
    for service, local in (
        ("superset-worker", production.celery_worker_command(settings)),
        ("superset-beat", production.celery_beat_command(settings, home)),
    ):
        compose = _compose_command(service)
        assert Path(compose[0]).name == Path(local[0]).name == "celery"
        assert compose[1:] == local[1:], service
        assert COMPOSE["services"][service]["depends_on"]["superset-init"] == {
            "condition": "service_completed_successfully"
        }


def test_the_dagster_services_run_the_same_command_here_and_in_compose():
    workspace = Path("/opt/dagster/workspace.yaml")
    pairs = (
        ("dagster-code", production.dagster_code_command(4000)),
        ("dagster-webserver", production.dagster_webserver_command(3000, workspace)),
        ("dagster-daemon", production.dagster_daemon_command(workspace)),
    )
    for service, local in pairs:
        compose = _compose_command(service)
        local = [Path(local[0]).name, *local[1:]]
        # Only the address differs: every container listens on its network, `up` on loopback.
        compose = ["127.0.0.1" if part == "0.0.0.0" else part for part in compose]
        assert compose == local, service


def test_the_secrets_compose_requires_are_required():
    with pytest.raises(production.ProductionError) as refused:
        production.production_config({"SUPERSET_ADMIN_PASSWORD": "x"})
    message = str(refused.value)
    assert "SUPERSET_SECRET_KEY, POSTGRES_PASSWORD not set" in message
    assert "SUPERSET_ADMIN_PASSWORD" not in message.split("not set")[0]
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    # The proxy's own settings aside: `up` listens on 127.0.0.1 and runs no proxy (the proxy is
    # tested as a local process in tests/e2e/test_proxy.py).
    proxy = {name for name in required if name.startswith("PILOTAGE_PROXY_")}
    assert proxy, "compose's proxy requires its credentials and certificate"
    assert required - proxy == set(production.REQUIRED_SECRETS)


def test_the_databases_follow_compose_unless_named():
    config = production.production_config(SECRETS)
    assert config.superset_metadata.url() == (
        "postgresql+psycopg2://pilotage:p%40ss%2Fword@127.0.0.1:5432/superset"
    )
    assert config.dagster_storage.database == "dagster"
    assert config.dagster_storage.password == "p@ss/word"
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    named = production.production_config(
        {
            **SECRETS,
            "SUPERSET_METADATA_URI": "postgresql+psycopg2://meta:s%40@db.internal:6543/meta",
            "DAGSTER_PG_DB": "runs",
            "POSTGRES_HOST": "pg.internal",
            "REDIS_URL": "redis://cache:6380/2",
        }
    )
    assert named.superset_metadata == production.Postgres("db.internal", 6543, "meta", "meta", "s@")
    assert (named.dagster_storage.host, named.dagster_storage.database) == ("pg.internal", "runs")
    assert named.superset_env()["REDIS_URL"] == "redis://cache:6380/2"
    with pytest.raises(production.ProductionError, match="SUPERSET_METADATA_URI"):
        production.production_config({**SECRETS, "SUPERSET_METADATA_URI": "sqlite:///x.db"})


def test_the_instance_is_composes_with_the_code_server_on_loopback(tmp_path):
    workspace = production.write_dagster_instance(tmp_path, 18999)
    instance = yaml.safe_load((tmp_path / "dagster.yaml").read_text())
    assert instance == yaml.safe_load(production.DAGSTER_INSTANCE_TEMPLATE.read_text())
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert set(instance["storage"]["postgres"]["postgres_db"]) >= {"hostname", "port", "db_name"}
    [location] = yaml.safe_load(workspace.read_text())["load_from"]
    assert location["grpc_server"] == {
        "host": "127.0.0.1",
        "port": 18999,
        "location_name": production.CODE_LOCATION,
    }
    # compose gives the Dagster containers every variable the instance reads
    pipeline_env = COMPOSE["services"]["dagster-daemon"]["environment"]
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER"):
        assert name in pipeline_env
