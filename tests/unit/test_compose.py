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
        "proxy",
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
        if key in {
            "SUPERSET_SECRET_KEY",
            "POSTGRES_PASSWORD",
            "SUPERSET_ADMIN_PASSWORD",
            "PILOTAGE_PROXY_USER",
            "PILOTAGE_PROXY_PASSWORD",
        }:
            assert re.search(r"\$\{" + key + r":\?[^}]+\}", value), f"{name}: {key} has a default"


def test_env_example_lists_every_secret_without_values():
    example = (ROOT / ".env.example").read_text()
    for key in (
        "SUPERSET_SECRET_KEY",
        "SUPERSET_ADMIN_PASSWORD",
        "POSTGRES_PASSWORD",
        "PILOTAGE_PROXY_PASSWORD",
    ):
        assert re.search(rf"^{key}=$", example, re.M), f".env.example must list {key} empty"


# --- the proxy: the one door -------------------------------------------------------------------
PROXY_TEMPLATE = (ROOT / "docker" / "proxy" / "nginx.conf.template").read_text()


def _published(service: dict) -> list[dict]:
    """The service's published ports in the long form (host_ip, published, target)."""
    ports = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.append(port)
            continue
        parts = str(port).split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        published, target = (parts[-2], parts[-1]) if len(parts) > 1 else ("", parts[0])
        ports.append({"host_ip": host_ip, "published": published, "target": target})
    return ports


def test_only_the_proxy_publishes_ports():
    publishing = {name for name, svc in COMPOSE["services"].items() if svc.get("ports")}
    assert publishing == {"proxy"}, f"published without the proxy's guard: {publishing - {'proxy'}}"
    assert not any("expose" in svc for svc in COMPOSE["services"].values())


def test_the_proxy_publishes_https_and_the_http_redirect_only():
    ports = {(p["published"], str(p["target"])) for p in _published(COMPOSE["services"]["proxy"])}
    assert ports == {("443", "443"), ("80", "80")}
    # 80 only redirects: the template's plain server returns 301 to https and proxies nothing
    plain = PROXY_TEMPLATE.split("server {")[1]
    assert "listen ${PILOTAGE_PROXY_LISTEN}:${PILOTAGE_PROXY_HTTP_PORT}" in plain
    assert "return 301 https://" in plain and "proxy_pass" not in plain


def _command(name: str) -> list[str]:
    command = COMPOSE["services"][name]["command"]
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _option(command: list[str], *names: str) -> str:
    for i, part in enumerate(command):
        for name in names:
            if part == name:
                return command[i + 1]
            if part.startswith(name + "="):
                return part.split("=", 1)[1]
    raise AssertionError(f"{names} not in {command}")


def test_the_proxy_forwards_to_the_ports_superset_and_dagster_listen_on():
    env = COMPOSE["services"]["proxy"]["environment"]
    superset_bind = _option(_command("superset"), "--bind")  # 0.0.0.0:8088
    assert env["PILOTAGE_PROXY_SUPERSET_UPSTREAM"] == "superset:" + superset_bind.split(":")[-1]
    dagster = _command("dagster-webserver")
    assert env["PILOTAGE_PROXY_DAGSTER_UPSTREAM"] == "dagster-webserver:" + _option(dagster, "-p")
    # Dagster serves under the prefix the proxy guards
    prefix = _option(dagster, "--path-prefix")
    assert f"location {prefix}/ {{" in PROXY_TEMPLATE
    guarded = re.split(r"\n\s*\}\n", PROXY_TEMPLATE.split(f"location {prefix}/ {{")[1])[0]
    assert (
        "auth_basic_user_file" in guarded
        and "proxy_pass http://${PILOTAGE_PROXY_DAGSTER_UPSTREAM}" in guarded
    )
    depends = COMPOSE["services"]["proxy"]["depends_on"]
    assert {"superset", "dagster-webserver"} <= set(depends)


def test_the_proxy_certificate_comes_from_env_read_only():
    volumes = COMPOSE["services"]["proxy"]["volumes"]
    env = COMPOSE["services"]["proxy"]["environment"]
    for key, inside in (
        ("PILOTAGE_PROXY_TLS_CERT_FILE", "/etc/pilotage/tls/cert.pem"),
        ("PILOTAGE_PROXY_TLS_KEY_FILE", "/etc/pilotage/tls/key.pem"),
    ):
        assert env[key] == inside
        [mount] = [v for v in volumes if v.split(":")[-2] == inside]
        assert re.match(r"\$\{" + key + r":\?[^}]+\}:", mount), mount  # no default path
        assert mount.endswith(":ro")
    assert "env_file" not in COMPOSE["services"]["proxy"], "the proxy needs none of the secrets"
