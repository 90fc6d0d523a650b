"""docker-compose.yml, checked without Docker: the official Compose schema plus what it cannot
express (dependencies, volumes, no literal secrets, the services the deployment needs)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCHEMA_PATH = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$|_URI$")


def test_compose_matches_the_official_schema():
    if not SCHEMA_PATH.exists():
        message = (
            f"SKIPPED LOUDLY: the Compose schema is not at {SCHEMA_PATH}; "
            "docker-compose.yml was not validated against it"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # The schema says draft-07 without the trailing '#': pick the validator explicitly.
    validator = Draft7Validator(json.loads(SCHEMA_PATH.read_text()))
    errors = sorted(validator.iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_deployment_has_every_service():
    expected = {
        "postgres",
        "redis",
        "superset-init",
        "superset",
        "dagster-code",
        "dagster-webserver",
        "dagster-daemon",
    }
    assert expected <= set(COMPOSE["services"])


def test_every_dependency_is_a_service_and_health_waits_have_healthchecks():
    services = COMPOSE["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck"
                )


def test_superset_waits_for_its_init_and_reads_data_read_only():
    web = COMPOSE["services"]["superset"]
    assert web["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    data_mounts = [v for v in web["volumes"] if v.startswith("pilotage_data:")]
    assert data_mounts and all(v.endswith(":ro") for v in data_mounts)


def test_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/", "$", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def _environment_items():
    for name, service in COMPOSE["services"].items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key, value in env.items():
            yield name, key, "" if value is None else str(value)


def test_no_literal_secrets_in_the_environment():
    checked = 0
    for name, key, value in _environment_items():
        if SECRET_NAME.search(key):
            checked += 1
            assert "${" in value, f"{name}: {key} must come from .env, not a literal ({value!r})"
    assert checked >= 4, "expected the secrets of Postgres and Superset to be checked"


def test_required_secrets_fail_when_unset():
    """`${VAR:?message}` makes `docker compose up` refuse to start without the secret."""
    for name, key, value in _environment_items():
        if key in {"SUPERSET_SECRET_KEY", "POSTGRES_PASSWORD", "SUPERSET_ADMIN_PASSWORD"}:
            assert re.search(r"\$\{" + key + r":\?[^}]+\}", value), f"{name}: {key} has a default"


def test_env_example_lists_every_secret_without_values():
    example = (ROOT / ".env.example").read_text()
    for key in ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "POSTGRES_PASSWORD"):
        assert re.search(rf"^{key}=$", example, re.M), f".env.example must list {key} empty"
