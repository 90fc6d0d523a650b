"""The production profile's reverse proxy (docker/proxy/), run here as a local process exactly as
the proxy image runs it (docker/proxy/entrypoint.sh renders docker/proxy/nginx.conf.template and
starts Debian's nginx), in front of the session's real Superset and a real dagster-webserver.

Dagster has no authentication of its own: through the proxy its UI and GraphQL API answer 401
without the proxy's credentials. Superset answers over TLS, with HSTS.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster
import pytest
import requests

from pilotage import superset_admin
from pilotage.settings import PROJECT_ROOT
from tests.conftest import service_unavailable
from tests.e2e.conftest import DagsterWebserver, Superset, _free_port, _stop

ENTRYPOINT = PROJECT_ROOT / "docker" / "proxy" / "entrypoint.sh"
USER = "ops"
PASSWORD = "Proxy-test-Pa55word!"  # what .env would hold; the proxy stores only its hash
HSTS = "max-age=31536000; includeSubDomains"
# A mutation that anyone reaching Dagster's API could send (issue 11): it must not get through.
DELETE_RUN = (
    'mutation { deletePipelineRun(runId: "00000000-0000-0000-0000-000000000000") { __typename } }'  # noqa: E501
)


def _nginx() -> str | None:
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.fixture(scope="module")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (what a real deployment gets from its CA)."""
    if not shutil.which("openssl"):
        service_unavailable("PROXY NOT TESTED: no openssl (run scripts/install.sh)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return cert, key


def _proxy_env(run_dir: Path, cert: Path, key: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin",
        "PILOTAGE_PROXY_USER": USER,
        "PILOTAGE_PROXY_PASSWORD": PASSWORD,
        "PILOTAGE_PROXY_TLS_CERT_FILE": str(cert),
        "PILOTAGE_PROXY_TLS_KEY_FILE": str(key),
        "PILOTAGE_PROXY_LISTEN": "127.0.0.1",
        "PILOTAGE_PROXY_RUN_DIR": str(run_dir),
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


@dataclass(frozen=True)
class Proxy:
    https: str
    http: str
    cert: Path


@pytest.fixture(scope="module")
def proxy(
    superset: Superset, dagster_webserver: DagsterWebserver, tls_certificate
) -> Iterator[Proxy]:
    if _nginx() is None or not shutil.which("envsubst"):
        service_unavailable("PROXY NOT TESTED: no nginx or envsubst (run scripts/install.sh)")
    cert, key = tls_certificate
    https_port, http_port = _free_port(), _free_port()
    # nginx's workers (www-data when started as root) read the basic-auth file: a folder they
    # can reach, outside pytest's private temporary tree.
    run_dir = Path(tempfile.mkdtemp(prefix="pilotage-proxy-"))
    env = _proxy_env(
        run_dir,
        cert,
        key,
        PILOTAGE_PROXY_HTTPS_PORT=str(https_port),
        PILOTAGE_PROXY_HTTP_PORT=str(http_port),
        PILOTAGE_PROXY_SUPERSET_UPSTREAM=superset.url.removeprefix("http://"),
        PILOTAGE_PROXY_DAGSTER_UPSTREAM=dagster_webserver.address,
    )
    log_path = run_dir.with_name(run_dir.name + ".log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["sh", str(ENTRYPOINT)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"https://127.0.0.1:{https_port}"
    try:
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the proxy exited with {process.returncode}:\n" + log_path.read_text()[-3000:]
                )
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{url}/health", verify=str(cert), timeout=2)
                break
            if time.monotonic() - started > 30:
                pytest.fail("the proxy did not answer in 30 s:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield Proxy(url, f"http://127.0.0.1:{http_port}", cert)
    finally:
        _stop(process)
        shutil.rmtree(run_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)


def _graphql(proxy: Proxy, query: str, auth=None) -> requests.Response:
    return requests.post(
        f"{proxy.https}/dagster/graphql",
        json={"query": query},
        auth=auth,
        verify=str(proxy.cert),
        timeout=30,
    )


def test_dagster_ui_and_graphql_need_the_proxy_credentials(
    proxy: Proxy, dagster_webserver: DagsterWebserver
) -> None:
    # Dagster itself answers anyone (the reason for the proxy) ...
    direct = requests.post(
        f"{dagster_webserver.url}/graphql", json={"query": "{ version }"}, timeout=30
    )
    assert direct.status_code == 200 and direct.json()["data"]["version"] == dagster.__version__
    # ... through the proxy, nothing without the credentials, nor with wrong ones
    for auth in (None, (USER, "wrong-password"), ("someone", PASSWORD)):
        page = requests.get(
            f"{proxy.https}/dagster/", auth=auth, verify=str(proxy.cert), timeout=30
        )
        assert page.status_code == 401, (auth, page.status_code)
        assert page.headers["WWW-Authenticate"].startswith("Basic ")
        for query in ("{ version }", DELETE_RUN):
            refused = _graphql(proxy, query, auth)
            assert refused.status_code == 401, (auth, query, refused.status_code)
            assert "version" not in refused.text and "deletePipelineRun" not in refused.text
    # with them, the UI and the API
    page = requests.get(
        f"{proxy.https}/dagster/", auth=(USER, PASSWORD), verify=str(proxy.cert), timeout=30
    )
    assert page.status_code == 200
    assert ">Dagster</title>" in page.text
    assert f'__webpack_public_path__ = "{dagster_webserver.path_prefix}"' in page.text
    assert page.headers["Strict-Transport-Security"] == HSTS
    answer = _graphql(proxy, "{ version }", (USER, PASSWORD))
    assert answer.status_code == 200
    assert answer.json()["data"]["version"] == dagster.__version__


def test_superset_answers_over_tls_with_hsts_and_http_redirects(
    proxy: Proxy, superset: Superset
) -> None:
    health = requests.get(f"{proxy.https}/health", verify=str(proxy.cert), timeout=30)
    assert health.status_code == 200 and health.text == "OK"
    # one HSTS header, from the proxy (the TLS end), even where Superset sends its own
    assert health.raw.headers.getlist("Strict-Transport-Security") == [HSTS]
    # Superset works behind it: the API login of the admin, the dashboard through the proxy
    username, password = superset_admin.admin_credentials(superset.settings)
    login = requests.post(
        f"{proxy.https}/api/v1/security/login",
        json={"username": username, "password": password, "provider": "db"},
        verify=str(proxy.cert),
        timeout=30,
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    dashboard = requests.get(
        f"{proxy.https}/api/v1/dashboard/sales-performance",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(proxy.cert),
        timeout=30,
    )
    assert dashboard.status_code == 200
    assert dashboard.json()["result"]["dashboard_title"] == "Sales performance"
    # plain http only redirects to https, same path and query
    plain = requests.get(f"{proxy.http}/dagster/runs?x=1", allow_redirects=False, timeout=30)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{proxy.https}/dagster/runs?x=1"
    # no certificate check skipped anywhere: an unknown CA is refused
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{proxy.https}/health", timeout=30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PILOTAGE_PROXY_PASSWORD": None}, "PILOTAGE_PROXY_PASSWORD"),
        ({"PILOTAGE_PROXY_PASSWORD": "short"}, "need 12 or more"),
        ({"PILOTAGE_PROXY_USER": None}, "PILOTAGE_PROXY_USER"),
        ({"PILOTAGE_PROXY_TLS_CERT_FILE": None}, "PILOTAGE_PROXY_TLS_CERT_FILE"),
        ({"PILOTAGE_PROXY_TLS_KEY_FILE": "/nonexistent/key.pem"}, "cannot read /nonexistent"),
    ],
)
def test_the_proxy_refuses_to_start_without_its_secrets(
    tls_certificate, tmp_path: Path, overrides: dict, message: str
) -> None:
    cert, key = tls_certificate
    done = subprocess.run(
        ["sh", str(ENTRYPOINT)],
        env=_proxy_env(tmp_path / "run", cert, key, **overrides),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert not (tmp_path / "run" / "htpasswd").exists()
