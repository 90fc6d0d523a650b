"""A small client of Superset's REST API: log in, then renew the dashboards' chart caches.

Superset caches chart results (``DATA_CACHE_CONFIG``) under a key that includes the dataset's
``changed_on``. After a publish, every cached result of the old serving file must go, for every
viewer, filter and row-level security clause (a wallboard auto-refreshes through the cache):
``expire_results`` touches each dataset of the serving database, which changes every key at
once. Warming a dashboard then re-runs every chart's saved query, so the next viewer sees the
new serving file without waiting for the queries.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import yaml

from pilotage.settings import SUPERSET_DIR


@functools.cache
def dashboard_slugs() -> tuple[str, ...]:
    """The slugs of the dashboards as code (superset/assets/dashboards/*.yaml), from the files."""
    return tuple(
        yaml.safe_load(path.read_text(encoding="utf-8"))["slug"]
        for path in sorted((SUPERSET_DIR / "assets" / "dashboards").glob("*.yaml"))
    )


class SupersetAPIError(RuntimeError):
    """Superset answered with an error: the message says which call and why."""


@dataclass(frozen=True)
class WarmUpResult:
    chart_id: int
    status: str | None
    error: str | None


class SupersetAPI:
    def __init__(self, url: str, username: str, password: str, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # In production Superset's session cookie is Secure (TLS ends at the proxy), and the CSRF
        # check of every write needs it back. Over plain HTTP (this client talks to Superset
        # directly, inside the deployment: 127.0.0.1, compose's network) requests would keep it
        # to itself: the jar's cookies are marked for this hop after every answer.
        self._plain_http = urlsplit(self.url).scheme == "http"
        login = self.session.post(
            f"{self.url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
            timeout=timeout,
        )
        if login.status_code != 200:
            raise SupersetAPIError(
                f"Logging in to {self.url} as {username!r} failed ({login.status_code}): "
                "check SUPERSET_ADMIN_USERNAME / SUPERSET_ADMIN_PASSWORD."
            )
        self.session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        self._keep_session_cookie()
        csrf = self._call("GET", "/api/v1/security/csrf_token/")
        self.session.headers["X-CSRFToken"] = csrf["result"]
        self.session.headers["Referer"] = self.url

    def _keep_session_cookie(self) -> None:
        if self._plain_http:
            for cookie in self.session.cookies:
                cookie.secure = False

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        self._keep_session_cookie()
        if response.status_code != 200:
            raise SupersetAPIError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def expire_results(self, database_name: str, published_at: str) -> list[str]:
        """Make every cached chart result of ``database_name``'s datasets stale: stamp each
        dataset's ``extra`` with the publication, which moves its ``changed_on`` (part of every
        chart cache key). Returns the datasets' names."""
        listing = self._call(
            "GET",
            "/api/v1/dataset/?q=(page_size:1000,columns:!(id,table_name,extra,"
            "database.database_name))",
        )["result"]
        expired = []
        for dataset in listing:
            if dataset["database"]["database_name"] != database_name:
                continue
            extra = json.loads(dataset["extra"] or "{}")
            extra["pilotage_published_at"] = published_at
            self._call("PUT", f"/api/v1/dataset/{dataset['id']}", json={"extra": json.dumps(extra)})
            expired.append(dataset["table_name"])
        return expired

    def dashboard_id(self, slug: str) -> int:
        return self._call("GET", f"/api/v1/dashboard/{slug}")["result"]["id"]

    def dashboard_chart_ids(self, slug: str) -> list[int]:
        return sorted(
            c["id"] for c in self._call("GET", f"/api/v1/dashboard/{slug}/charts")["result"]
        )

    def warm_up_dashboard(self, slug: str) -> list[WarmUpResult]:
        """Re-run every chart of the dashboard with ``force`` and cache the fresh results."""
        dashboard_id = self.dashboard_id(slug)
        results = []
        for chart_id in self.dashboard_chart_ids(slug):
            answer = self._call(
                "PUT",
                "/api/v1/chart/warm_up_cache",
                json={"chart_id": chart_id, "dashboard_id": dashboard_id},
            )["result"][0]
            results.append(
                WarmUpResult(chart_id, answer.get("viz_status"), answer.get("viz_error"))
            )
        return results
