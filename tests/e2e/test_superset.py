"""A real Superset on the serving file: dashboards as code, chart data, sandbox, roles and RLS.

Talks to the session's Superset (tests/e2e/conftest.py) over HTTP like a user or a script would.
Expected numbers are computed here, independently, with DuckDB SQL on the same serving file, the
one the real pipeline published for the session: no hand-written copy of the marts that could
drift from them.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import requests
import yaml

from pilotage import superset_admin
from pilotage.settings import SUPERSET_DIR, load_settings
from tests.conftest import service_unavailable
from tests.e2e.conftest import Superset

pytestmark = pytest.mark.superset

ASSETS = SUPERSET_DIR / "assets"
CATALOGUE = yaml.safe_load((SUPERSET_DIR.parent / "dbt" / "kpis.yml").read_text())
PACE_THRESHOLDS = next(k for k in CATALOGUE["kpis"] if k["name"] == "pace")["thresholds"]
REVENUE_TREND = "Revenue vs target by month (complete months)"
ACTIVITY_TREND = "Activities by type per month (complete months)"
# What a sales director reads in the legends and tables (the spec, written here by hand).
ACTIVITY_LABELS = {
    "call": "Calls",
    "email": "Emails",
    "meeting": "Meetings",
    "proposal": "Proposals",
    "quote": "Quotes",
    "contract": "Contracts",
    "unclassified": "Other",
}
METRIC_LABELS = {
    "revenue": "Revenue (€)",
    "gross_margin": "Gross margin (€)",
    "calls": "Calls",
    "meetings": "Meetings",
    "new_opportunities": "New opportunities",
}
PERIOD_LABELS = {"month": "Month to date", "quarter": "Quarter to date"}
TEAMS_TILE = "Where: revenue by team against target"
TREE_TILE = "Why: the revenue gap split into its drivers"
SAME_POINT_TILE = "This period vs last period and last year, same point"
# Secrets production accepts (superset_config.py refuses short or uniform ones).
STRONG_SECRET_KEY = "Production-test-secret-key-9f3K!x2Q#v7Lm"
STRONG_ADMIN_PASSWORD = "Production-admin-Pa55word"


# ---------------------------------------------------------------------------------------------
# Independent expectations from DuckDB
# ---------------------------------------------------------------------------------------------


def _query(serving_db: Path, sql: str, params: list | None = None) -> list[dict]:
    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def _num(value) -> float | None:
    return None if value is None else float(value)


def _month(epoch_ms: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).date()


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _status(pace: float | None) -> str:
    """The catalogue's status of a pace (dbt/kpis.yml pace thresholds), for rows with a target
    due to date."""
    if pace is None:
        return "not started"
    if round(pace, 6) >= PACE_THRESHOLDS["green"]:
        return "on track"
    if round(pace, 6) <= PACE_THRESHOLDS["red"]:
        return "off track"
    return "at risk"


def _month_before(day: dt.date) -> dt.date:
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _as_of(serving_db: Path) -> dt.date:
    [row] = _query(serving_db, "select distinct as_of_date as d from marts.kpi_rep_month")
    return row["d"]


LEADERBOARD_SQL = """
select rep_name, team_name,
       sum(revenue) as revenue,
       sum(revenue_target) as revenue_target,
       sum(case when revenue_target is not null then revenue end)
           / nullif(sum(revenue_target), 0) as attainment
from marts.kpi_rep_month
{where}
group by rep_name, team_name
"""


def _expected_leaderboard(serving_db: Path, where: str = "", params=None) -> dict:
    rows = _query(serving_db, LEADERBOARD_SQL.format(where=where), params)
    return {(r["rep_name"], r["team_name"]): r for r in rows}


def _assert_leaderboard(rows: list[dict], expected: dict) -> None:
    got = {(r["rep_name"], r["team_name"]): r for r in rows}
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert got[key]["revenue"] == pytest.approx(_num(want["revenue"]), abs=0.01), key
        assert _num(got[key]["revenue_target"]) == pytest.approx(
            _num(want["revenue_target"]), abs=0.01
        ), key
        assert _num(got[key]["attainment"]) == pytest.approx(_num(want["attainment"])), key


def _chart_ids(superset: Superset) -> dict[str, int]:
    charts = superset.get("/api/v1/dashboard/sales-performance/charts")["result"]
    return {chart["slice_name"]: chart["id"] for chart in charts}


def _chart_data(superset: Superset, chart_id: int, session=None) -> dict:
    response = (session or superset.admin).get(
        f"{superset.url}/api/v1/chart/{chart_id}/data/", timeout=120
    )
    assert response.status_code == 200, f"chart {chart_id}: {response.status_code} {response.text}"
    result = response.json()["result"][0]
    assert result.get("error") is None, result
    return result


def _charts_of_asset_folder(superset: Superset, slug: str) -> dict[str, int]:
    """Chart ids by name of the dashboard ``slug``: exactly the charts of charts/<slug>/."""
    charts = superset.get(f"/api/v1/dashboard/{slug}/charts")["result"]
    ids = {chart["slice_name"]: chart["id"] for chart in charts}
    assert set(ids) == {
        yaml.safe_load(path.read_text())["slice_name"]
        for path in (ASSETS / "charts" / slug).glob("*.yaml")
    }
    return ids


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


# Checks without a running server first (the module's server starts with the first test
# that needs it). The asset tree and the demo secrets: tests/unit/test_superset_assets.py.


def _superset_python(
    code: str, args: list[str] | None = None, **env: str
) -> subprocess.CompletedProcess:
    settings = load_settings()
    base = superset_admin.superset_env(settings)
    for name in ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "REDIS_URL", "PILOTAGE_ENV"):
        base.pop(name, None)
    return subprocess.run(
        [str(superset_admin.superset_venv() / "bin" / "python"), "-c", code, *(args or [])],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_refuses_missing_or_weak_secrets(tmp_path: Path) -> None:
    if not (superset_admin.superset_venv() / "bin" / "python").exists():
        service_unavailable("SUPERSET TESTS NOT RUN: no .venv-superset (run `make install`).")
    # The refusal happens before Superset is imported: run the config file itself, once per case.
    # The "generated" cases are the values the error message tells the operator to generate.
    code = """
import json, os, runpy, secrets, sys
for case in json.loads(sys.argv[1]):
    for name in ("SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD"):
        os.environ.pop(name, None)
    os.environ.update({
        name: secrets.token_urlsafe(int(value[len("generated:"):]))
        if value.startswith("generated:") else value
        for name, value in case.items()
    })
    try:
        runpy.run_path(os.environ["SUPERSET_CONFIG_PATH"])
    except RuntimeError as exc:
        print("refused:", exc)
    else:
        print("started:", case)
"""
    strong_key, strong_password = "kV9#pQ2-zR7!mW4_tY6$hN3+bL8%cX5&", "Tr0ub4dor&3x"
    refused = [  # (case, what the message must say)
        ({}, "SUPERSET_SECRET_KEY is not set"),
        (
            {"SUPERSET_SECRET_KEY": "changeme", "SUPERSET_ADMIN_PASSWORD": strong_password},
            "SUPERSET_SECRET_KEY is a well-known default value",
        ),
        (
            {"SUPERSET_SECRET_KEY": strong_key, "SUPERSET_ADMIN_PASSWORD": "admin"},
            "SUPERSET_ADMIN_PASSWORD is a well-known default value",
        ),
        ({"SUPERSET_SECRET_KEY": strong_key}, "SUPERSET_ADMIN_PASSWORD is not set"),
        (
            {"SUPERSET_SECRET_KEY": strong_key[:31], "SUPERSET_ADMIN_PASSWORD": strong_password},
            "SUPERSET_SECRET_KEY is 31 characters long (need at least 32)",
        ),
        # Long enough, but 48 times the same character, or two characters repeated.
        (
            {"SUPERSET_SECRET_KEY": "x" * 48, "SUPERSET_ADMIN_PASSWORD": strong_password},
            "SUPERSET_SECRET_KEY has only 1 distinct characters (need at least 16)",
        ),
        (
            {"SUPERSET_SECRET_KEY": "aB1!" * 12, "SUPERSET_ADMIN_PASSWORD": strong_password},
            "SUPERSET_SECRET_KEY has only 4 distinct characters",
        ),
        (
            {"SUPERSET_SECRET_KEY": strong_key, "SUPERSET_ADMIN_PASSWORD": "Aaaaaaaaaaa1"},
            "SUPERSET_ADMIN_PASSWORD has only 3 distinct characters (need at least 6)",
        ),
        # Varied but one or two kinds of characters, and short of twice the minimum length.
        (
            {
                "SUPERSET_SECRET_KEY": "abcdefghijklmnopqrstuvwxyzabcdef",
                "SUPERSET_ADMIN_PASSWORD": strong_password,
            },
            "SUPERSET_SECRET_KEY mixes only lower-case letters",
        ),
        (
            {"SUPERSET_SECRET_KEY": strong_key, "SUPERSET_ADMIN_PASSWORD": "sales-director"},
            "SUPERSET_ADMIN_PASSWORD mixes only lower-case letters and symbols",
        ),
    ]
    accepted = [
        {"SUPERSET_SECRET_KEY": strong_key, "SUPERSET_ADMIN_PASSWORD": strong_password},
        # A long passphrase needs no symbols (twice the minimum length, varied characters).
        {
            "SUPERSET_SECRET_KEY": "the quick brown fox jumps over the lazy dog, "
            "twice today and once more tomorrow",
            "SUPERSET_ADMIN_PASSWORD": "correct horse battery staple",
        },
        # What the message says to generate: always accepted (many draws, it is random).
        *[
            {"SUPERSET_SECRET_KEY": "generated:48", "SUPERSET_ADMIN_PASSWORD": "generated:24"}
            for _ in range(200)
        ],
    ]
    cases = [case for case, _ in refused] + accepted
    done = _superset_python(
        code + "\n",
        PILOTAGE_ENV="production",
        SUPERSET_HOME=str(tmp_path),
        args=[json.dumps(cases)],
    )
    assert done.returncode == 0, done.stderr
    # (Superset prints a banner the first time a configuration gets through.)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("refused:", "started:"))]
    assert len(lines) == len(cases), done.stdout
    for line, (_, reason) in zip(lines, refused, strict=False):
        assert line.startswith("refused: pilotage refuses to start Superset in production"), line
        assert reason in line, line
        assert "secrets.token_urlsafe(48)" in line, line  # says how to make a good one
    for line in lines[len(refused) :]:
        assert line.startswith("started:"), line


def test_production_defaults_to_secure_cookies_and_hsts(tmp_path: Path) -> None:
    """Production: Secure session cookie and HSTS unless PILOTAGE_HTTPS=false (a plain-HTTP lab);
    never a redirect to https (TLS ends at the reverse proxy). Demo: plain HTTP on 127.0.0.1."""
    if not (superset_admin.superset_venv() / "bin" / "python").exists():
        service_unavailable("SUPERSET TESTS NOT RUN: no .venv-superset (run `make install`).")
    code = """
import json, os, runpy, sys
for case in json.loads(sys.argv[1]):
    os.environ.pop("PILOTAGE_HTTPS", None)
    os.environ.update(case)
    config = runpy.run_path(os.environ["SUPERSET_CONFIG_PATH"])
    talisman = config["TALISMAN_CONFIG"]
    print("settings:", json.dumps([
        config["SESSION_COOKIE_SECURE"], config["SESSION_COOKIE_HTTPONLY"],
        talisman["session_cookie_secure"], talisman["strict_transport_security"],
        talisman["strict_transport_security_max_age"], talisman["force_https"],
    ]))
"""
    year = 365 * 24 * 3600
    expected = [  # (environment, [cookie Secure, HttpOnly, Talisman's cookie, HSTS, age, force])
        ({"PILOTAGE_ENV": "production"}, [True, True, True, True, year, False]),
        (
            {"PILOTAGE_ENV": "production", "PILOTAGE_HTTPS": "true"},
            [True, True, True, True, year, False],
        ),
        (
            {"PILOTAGE_ENV": "production", "PILOTAGE_HTTPS": "false"},
            [False, True, False, False, year, False],
        ),
        ({"PILOTAGE_ENV": "demo"}, [False, True, False, False, year, False]),
    ]
    done = _superset_python(
        code,
        SUPERSET_HOME=str(tmp_path),
        SUPERSET_SECRET_KEY=STRONG_SECRET_KEY,
        SUPERSET_ADMIN_PASSWORD=STRONG_ADMIN_PASSWORD,
        args=[json.dumps([case for case, _ in expected])],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = [
        json.loads(line.removeprefix("settings: "))
        for line in done.stdout.splitlines()
        if line.startswith("settings: ")
    ]
    assert got == [settings for _, settings in expected]


def test_production_profile_uses_redis(tmp_path: Path) -> None:
    if not (superset_admin.superset_venv() / "bin" / "python").exists():
        service_unavailable("SUPERSET TESTS NOT RUN: no .venv-superset (run `make install`).")
    redis_url = os.environ.get("PILOTAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        service_unavailable(
            f"REDIS NOT REACHABLE at {redis_url}: the production cache test did not run."
        )
    code = """
from superset.app import create_app
app = create_app()
with app.app_context():
    from superset.extensions import cache_manager, celery_app
    cache = cache_manager.data_cache
    print(type(cache.cache).__name__, app.config["CELERY_CONFIG"].broker_url)
    cache.set("pilotage-test", 42, timeout=30)
    assert cache.get("pilotage-test") == 42
"""
    done = _superset_python(
        code,
        PILOTAGE_ENV="production",
        SUPERSET_HOME=str(tmp_path),
        SUPERSET_SECRET_KEY=STRONG_SECRET_KEY,
        SUPERSET_ADMIN_PASSWORD=STRONG_ADMIN_PASSWORD,
        REDIS_URL=redis_url,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"RedisCache {redis_url}" in done.stdout


def _pg(url: str, sql: str) -> str:
    """Run one statement on Postgres with Superset's psycopg2; return the first value, if any."""
    code = (
        "import psycopg2, sys\n"
        "con = psycopg2.connect(sys.argv[1]); con.autocommit = True\n"
        "cur = con.cursor(); cur.execute(sys.argv[2])\n"
        "print(cur.fetchone()[0] if cur.description else '')\n"
    )
    python = str(superset_admin.superset_venv() / "bin" / "python")
    done = subprocess.run(
        [python, "-c", code, url, sql], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclasses.dataclass(frozen=True)
class ProductionSuperset:
    """A Superset bootstrapped in production mode: metadata in ``metadata_url`` on PostgreSQL,
    caches and rate limits on Redis, strong secrets from the environment."""

    settings: object
    env: dict[str, str]  # the environment to serve it with
    metadata_url: str  # postgresql://... (psycopg2), for the checks
    redis_url: str


@pytest.fixture(scope="module")
def production_superset(serving_db: Path, tmp_path_factory) -> Iterator[ProductionSuperset]:
    """PILOTAGE_ENV=production: Postgres metadata and Redis caches, strong secrets from the env.
    Bootstrapped once for the module's production tests; the database is dropped afterwards."""
    if not (superset_admin.superset_venv() / "bin" / "python").exists():
        service_unavailable("SUPERSET TESTS NOT RUN: no .venv-superset (run `make install`).")
    server = os.environ.get("PILOTAGE_TEST_POSTGRES", "postgres@127.0.0.1:5432")
    redis_url = os.environ.get("PILOTAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    for host_port, what in ((server.split("@")[-1], "POSTGRES"), (redis_url[8:], "REDIS")):
        host, port = host_port.split("/")[0].split(":")
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError:
            service_unavailable(
                f"{what} NOT REACHABLE at {host_port}: production profile not tested."
            )
    database = f"pilotage_superset_test_{os.getpid()}"
    admin_url = f"postgresql://{server}/postgres"
    metadata_url = f"postgresql+psycopg2://{server}/{database}"
    _pg(admin_url, f"drop database if exists {database}")
    _pg(admin_url, f"create database {database}")
    settings = dataclasses.replace(
        load_settings(),
        data_dir=tmp_path_factory.mktemp("production_superset"),
        serving_path=serving_db,
        environment="production",
    )
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name in ("SUPERSET_HOME", "SUPERSET_ADMIN_USERNAME", "PILOTAGE_HTTPS"):
                mp.delenv(name, raising=False)
            mp.setenv("PILOTAGE_ENV", "production")
            mp.setenv("SUPERSET_METADATA_URI", metadata_url)
            mp.setenv("REDIS_URL", redis_url)
            mp.setenv("SUPERSET_SECRET_KEY", STRONG_SECRET_KEY)
            mp.setenv("SUPERSET_ADMIN_PASSWORD", STRONG_ADMIN_PASSWORD)
            superset_admin.bootstrap(settings)
            env = superset_admin.superset_env(settings)
        yield ProductionSuperset(settings, env, f"postgresql://{server}/{database}", redis_url)
    finally:
        _pg(admin_url, f"drop database if exists {database} with (force)")


def test_production_profile_bootstrap_on_postgres(production_superset: ProductionSuperset) -> None:
    settings = production_superset.settings
    assert not (superset_admin.superset_home(settings) / ".demo-secrets.env").exists()
    url = production_superset.metadata_url
    assert _pg(url, "select count(*) from dashboards where slug = 'sales-performance'") == "1"
    roles = yaml.safe_load((SUPERSET_DIR / "roles.yaml").read_text())
    rules = 1 + sum(len(clauses) for clauses in roles["row_level_security"].values())
    assert _pg(url, "select count(*) from row_level_security_filters") == str(rules)
    assert _pg(url, "select count(*) from ab_user where username = 'admin'") == "1"


def test_production_login_rate_limit_answers_429(
    production_superset: ProductionSuperset, tmp_path: Path
) -> None:
    """In production, failed logins from one address are limited (PILOTAGE_LOGIN_RATE_LIMIT,
    default 10 per minute; 3 here), counted in Redis (shared by every worker and server), on the
    API and the login form together; good logins never count. Past the limit even the right
    password gets 429."""
    from tests.e2e.conftest import _free_port, served_superset

    limit = 3
    # one worker starts faster; the counts are in Redis whatever the number of workers
    env = {
        **production_superset.env,
        "PILOTAGE_LOGIN_RATE_LIMIT": f"{limit} per minute",
        "SUPERSET_WORKERS": "1",
    }
    with served_superset(production_superset.settings, env, _free_port(), tmp_path) as (url, _):

        def api_login(password: str) -> requests.Response:
            return requests.post(
                f"{url}/api/v1/security/login",
                json={"username": "admin", "password": password, "provider": "db"},
                timeout=30,
            )

        def form_login(password: str) -> requests.Response:
            browser = requests.Session()
            page = browser.get(f"{url}/login/", timeout=30).text
            token = re.search(r'id="csrf_token"[^>]*value="([^"]+)"', page)
            assert token, "no CSRF token on the login form"
            for cookie in browser.cookies:  # production's cookie is Secure; this is plain http
                cookie.secure = False
            return browser.post(
                f"{url}/login/",
                data={"username": "admin", "password": password, "csrf_token": token.group(1)},
                allow_redirects=False,
                timeout=30,
            )

        # more good logins than the limit, on both doors: none refused
        welcome = form_login(STRONG_ADMIN_PASSWORD)
        assert welcome.status_code == 302 and "/login" not in welcome.headers["Location"]
        for _ in range(limit + 1):
            assert api_login(STRONG_ADMIN_PASSWORD).status_code == 200
        # failed logins, on both doors, up to the limit: refused as wrong, not yet limited
        for attempt in range(limit):
            if attempt % 2:
                response = form_login("wrong-password")
                assert response.status_code == 302 and "/login" in response.headers["Location"]
            else:
                assert api_login("wrong-password").status_code == 401
        # then both doors answer 429, even to the right password
        limited = api_login(STRONG_ADMIN_PASSWORD)
        assert limited.status_code == 429, limited.text[:300]
        assert limited.headers["Content-Type"].startswith("application/json")
        assert int(limited.headers["Retry-After"]) > 0
        assert form_login(STRONG_ADMIN_PASSWORD).status_code == 429
    # the counts live in Redis, under this deployment's prefix
    prefix = "pilotage_" + hashlib.sha256(env["SUPERSET_METADATA_URI"].encode()).hexdigest()[:12]
    code = (
        "import redis, sys\n"
        "print(len(redis.Redis.from_url(sys.argv[1]).keys(f'*{sys.argv[2]}*pilotage_login*')))\n"
    )
    python = str(superset_admin.superset_venv() / "bin" / "python")
    done = subprocess.run(
        [python, "-c", code, production_superset.redis_url, prefix],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 1


# Against the running server.


def test_dashboard_lists_all_charts(superset: Superset, serving_db: Path) -> None:
    dashboard = superset.get("/api/v1/dashboard/sales-performance")["result"]
    assert dashboard["dashboard_title"] == "Sales performance"
    assert dashboard["published"] is True
    metadata = json.loads(dashboard["json_metadata"])
    assert metadata["color_scheme"] == "pilotage"
    filters = {f["name"]: f["filterType"] for f in metadata["native_filter_configuration"]}
    assert filters == {"Period": "filter_time", "Team": "filter_select", "Rep": "filter_select"}
    assert _chart_ids(superset) == _charts_of_asset_folder(superset, "sales-performance")
    # The Period opens on the data's as-of month (the pipeline's today, PILOTAGE_AS_OF), as this
    # Superset resolves the time range the dashboard sends: Superset's own "Current month" when
    # its clock is in that month, else that month's explicit range (the session's data is as of
    # tests.conftest.AS_OF, whatever the day the suite runs).
    period = next(
        f for f in metadata["native_filter_configuration"] if f["filterType"] == "filter_time"
    )
    time_range = period["defaultDataMask"]["extraFormData"]["time_range"]
    assert period["defaultDataMask"]["filterState"]["value"] == time_range
    as_of_month = _as_of(serving_db).replace(day=1)
    admin = _form_login(superset, *superset_admin.admin_credentials(superset.settings))
    response = admin.get(
        f"{superset.url}/api/v1/time_range/", params={"q": f"'{time_range}'"}, timeout=30
    )
    assert response.status_code == 200, response.text
    [resolved] = response.json()["result"]
    since = dt.date.fromisoformat(resolved["since"][:10])
    assert since == as_of_month, (time_range, resolved)
    assert dt.date.fromisoformat(resolved["until"][:10]) == _next_month(since)


def _form_login(superset: Superset, username: str, password: str) -> requests.Session:
    """A browser's session: the login form, its CSRF token, the session cookie (the web app's
    views, e.g. /api/v1/time_range/, take no token)."""
    import re

    browser = requests.Session()
    login_page = browser.get(f"{superset.url}/login/", timeout=30)
    token = re.search(r'id="csrf_token"[^>]*value="([^"]+)"', login_page.text)
    assert token, "no CSRF token on the login form"
    browser.post(
        f"{superset.url}/login/",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        timeout=30,
    )
    return browser


def test_dashboard_page_wears_company_colours(superset: Superset) -> None:
    """The browser path: form login, the dashboard page, the theme and scheme from branding.yaml."""
    import html

    branding = yaml.safe_load((SUPERSET_DIR / "branding.yaml").read_text())
    login_page = requests.get(f"{superset.url}/login/", timeout=30)
    assert "default-src 'self'" in login_page.headers.get("Content-Security-Policy", "")
    browser = _form_login(superset, *superset_admin.admin_credentials(superset.settings))
    page = browser.get(f"{superset.url}/superset/dashboard/sales-performance/", timeout=60)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f'"colorPrimary": "{branding["colors"]["primary"]}"' in text
    assert f'"brandAppName": "{branding["app_name"]}"' in text
    assert f'"id": "{branding["color_scheme_id"]}"' in text
    # the company's logo in the header (a data: URL of the file branding.yaml names), not Superset's
    logo = base64.b64encode((SUPERSET_DIR / branding["logo"]).read_bytes()).decode("ascii")
    assert f'"brandLogoUrl": "data:image/svg+xml;base64,{logo}"' in text
    assert "superset-logo-horiz" not in text
    # English by default (PILOTAGE_LANGUAGE unset); French one click away, translations included
    assert '"locale": "en"' in text
    browser.get(f"{superset.url}/lang/fr", timeout=30)
    french = html.unescape(
        browser.get(f"{superset.url}/superset/dashboard/sales-performance/", timeout=60).text
    )
    assert '"locale": "fr"' in french
    pack = browser.get(f"{superset.url}/superset/language_pack/fr/", timeout=30)
    assert pack.status_code == 200
    messages = pack.json()["locale_data"]["superset"]
    assert messages["Dashboards"] == ["Tableaux de bord"]
    # the period the dashboards open on, corrected (Superset 6.1 says "Format d'e-mail")
    assert messages["Current month"] == ["Mois en cours"]


def test_every_chart_answers_with_rows(superset: Superset) -> None:
    for name, chart_id in _chart_ids(superset).items():
        result = _chart_data(superset, chart_id)
        assert result["rowcount"] > 0, f"{name}: no rows"
        assert not result.get("rejected_filters"), f"{name}: {result['rejected_filters']}"


def test_leaderboard_matches_duckdb(superset: Superset, serving_db: Path) -> None:
    result = _chart_data(superset, _chart_ids(superset)["Rep leaderboard"])
    _assert_leaderboard(result["data"], _expected_leaderboard(serving_db))
    attainments = [r["attainment"] for r in result["data"] if r["attainment"] is not None]
    assert attainments == sorted(attainments, reverse=True), "leaderboard is not ranked"
    # status reads the pace of the same rows (here every month): recomputed from the mart's
    # sums and the catalogue's thresholds
    paces = _query(
        serving_db,
        "select rep_name, team_name, sum(revenue_target) as target, "
        "sum(case when revenue_target is not null then revenue end) "
        "/ nullif(sum(prorated_target_to_date), 0) as pace "
        "from marts.kpi_rep_month group by all",
    )
    want = {
        (r["rep_name"], r["team_name"]): _status(_num(r["pace"])) if r["target"] else "no target"
        for r in paces
    }
    got = {(r["rep_name"], r["team_name"]): r["current_status"] for r in result["data"]}
    assert got == want


def _leaderboard_for(superset: Superset, start: dt.date, end: dt.date) -> list[dict]:
    """The leaderboard as the dashboard's Period filter asks for it: [start, end)."""
    charts = _chart_ids(superset)
    context = json.loads(
        superset.get(f"/api/v1/chart/{charts['Rep leaderboard']}")["result"]["query_context"]
    )
    query = context["queries"][0]
    query["filters"] = [f for f in query["filters"] if f["op"] != "TEMPORAL_RANGE"] + [
        {"col": "month_start", "op": "TEMPORAL_RANGE", "val": f"{start} : {end}"}
    ]
    response = superset.admin.post(f"{superset.url}/api/v1/chart/data", json=context, timeout=60)
    assert response.status_code == 200, response.text
    result = response.json()["result"][0]
    assert not result.get("rejected_filters"), result["rejected_filters"]
    return result["data"]


def test_status_agrees_with_the_figures_beside_it(superset: Superset, serving_db: Path) -> None:
    """For every row of the leaderboard, in the current (as-of) month the dashboard opens on and
    in the last complete month: the status is the catalogue's reading of the pace shown beside
    it, never "off track" beside an attainment at or above green, never "on track" beside one
    at or below red; in a complete month pace and attainment are the same number."""
    as_of = _as_of(serving_db)
    month = as_of.replace(day=1)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    green, red = PACE_THRESHOLDS["green"], PACE_THRESHOLDS["red"]
    for start, complete in ((month, False), (previous, True)):
        rows = _leaderboard_for(superset, start, _next_month(start))
        want = _expected_leaderboard(serving_db, "where month_start = ?", [start])
        _assert_leaderboard(rows, want)
        assert any(r["current_status"] == "off track" for r in rows) or complete
        for row in rows:
            key = (row["rep_name"], row["team_name"], start)
            attainment, pace = _num(row["attainment"]), _num(row["pace"])
            if row["revenue_target"] is None:
                assert row["current_status"] == "no target", key
                continue
            assert row["current_status"] == _status(pace), key
            if attainment is not None and attainment >= green:
                assert row["current_status"] == "on track", key
            if attainment is not None and attainment <= red and complete:
                assert row["current_status"] == "off track", key
            if complete:
                assert pace == pytest.approx(attainment), key


def test_revenue_charts_match_duckdb(superset: Superset, serving_db: Path) -> None:
    charts = _chart_ids(superset)
    # complete months only, from the month of the first invoice (fct_revenue) on
    as_of = _as_of(serving_db)
    [first] = _query(serving_db, "select min(invoice_date) as d from marts.fct_revenue")
    first_month = first["d"].replace(day=1)
    by_month = _query(
        serving_db,
        "select month_start, sum(revenue) as revenue, sum(revenue_target) as revenue_target "
        "from marts.kpi_rep_month where month_start >= ? and month_start < ? "
        "group by month_start",
        [first_month, as_of.replace(day=1)],
    )
    want = {r["month_start"]: r for r in by_month}
    rows = _chart_data(superset, charts[REVENUE_TREND])["data"]
    got = {_month(r["month_start"]): r for r in rows}
    assert set(got) == set(want)
    assert min(got) == first_month and max(got) == _month_before(as_of)
    months_in_mart = _query(serving_db, "select min(month_start) as m from marts.kpi_rep_month")
    assert months_in_mart[0]["m"] < first_month, "the demo has months before the first invoice"
    for month, row in want.items():
        assert got[month]["revenue"] == pytest.approx(_num(row["revenue"]), abs=0.01)
        assert _num(got[month]["revenue_target"]) == pytest.approx(
            _num(row["revenue_target"]), abs=0.01
        )

    totals = _query(
        serving_db,
        "select sum(revenue) as revenue, sum(gross_margin) as gross_margin "
        "from marts.kpi_rep_month",
    )[0]
    revenue = _chart_data(superset, charts["Revenue"])["data"][0]["revenue"]
    assert revenue == pytest.approx(_num(totals["revenue"]), abs=0.01)
    margin = _chart_data(superset, charts["Gross margin %"])["data"][0]["margin_pct"]
    assert margin == pytest.approx(float(totals["gross_margin"] / totals["revenue"]))


def test_activity_chart_matches_duckdb(superset: Superset, serving_db: Path) -> None:
    """Complete months only, one series per activity type in words (Calls, not call)."""
    want = {
        (r["month_start"], ACTIVITY_LABELS[r["activity_type"]]): r["n"]
        for r in _query(
            serving_db,
            "select month_start, activity_type, count(*) as n from marts.fct_activities "
            "where month_start < ? group by all",
            [_as_of(serving_db).replace(day=1)],
        )
    }
    rows = _chart_data(superset, _chart_ids(superset)[ACTIVITY_TREND])["data"]
    got = {
        (_month(row["month_start"]), activity_type): int(count)
        for row in rows
        for activity_type, count in row.items()
        if activity_type != "month_start" and count is not None and count == count  # not NaN
    }
    assert {k: v for k, v in got.items() if v} == want


def test_drill_to_detail_reads_an_activity_as_a_record(
    superset: Superset, serving_db: Path
) -> None:
    """What drill-to-detail shows on the activity chart (the samples request Superset 6.1's
    drill pane sends): every column of `activities` in the dataset's order, headed by the
    verbose names; the first ones readable (date, rep, account, type, status), the ids last and
    offered to no drill-by. The account is the activity's own, or its opportunity's."""
    dataset = next(
        d
        for d in superset.get("/api/v1/dataset/", params={"q": "(page_size:100)"})["result"]
        if d["table_name"] == "activities"
    )
    detail = superset.get(f"/api/v1/dataset/{dataset['id']}")["result"]
    wanted = yaml.safe_load(
        (ASSETS / "datasets" / "pilotage_serving" / "activities.yaml").read_text()
    )
    columns = sorted(detail["columns"], key=lambda c: c["id"])
    assert [c["column_name"] for c in columns] == [c["column_name"] for c in wanted["columns"]]
    assert [c["verbose_name"] for c in columns[:5]] == [
        "Date",
        "Rep",
        "Account",
        "Activity type",
        "Status",
    ]
    assert {c["column_name"] for c in columns if not c["groupby"]} == {
        "activity_id",
        "rep_id",
        "rep_email",
        "team_id",
        "manager_email",
    }
    # the drill pane's query (result_type drill_detail: every column, sorted on the first)
    body = {
        "datasource": {"id": dataset["id"], "type": "table"},
        "queries": [
            {
                "filters": [{"col": "activity_type", "op": "==", "val": "proposal"}],
                "columns": [],
                "row_limit": 5,
            }
        ],
        "result_type": "drill_detail",
        "result_format": "json",
    }
    response = superset.admin.post(f"{superset.url}/api/v1/chart/data", json=body, timeout=60)
    assert response.status_code == 200, response.text[:500]
    result = response.json()["result"][0]
    assert result["colnames"] == [c["column_name"] for c in wanted["columns"]]
    first = result["data"][0]
    want = _query(
        serving_db,
        "select min(a.activity_date) as activity_date, any_value(c.account_name) as account_name "
        "from marts.fct_activities as a "
        "join marts.fct_opportunities as o on o.opportunity_id = a.related_record_id "
        "join marts.dim_customer as c on c.crm_account_id = o.account_id "
        "where a.activity_id = ?",
        [first["activity_id"]],
    )[0]
    assert first["account_name"] == want["account_name"]
    assert first["activity_type_label"] == "Proposals" and first["rep_name"]


def test_bootstrap_is_idempotent(superset: Superset) -> None:
    """Re-running the bootstrap updates in place: no duplicate, the same ids, and a chart or a
    dataset changed on the instance (as an older pilotage would have left it) is the YAML's
    again (Superset's dashboard import alone keeps existing charts and datasets as they are)."""
    charts_before = _chart_ids(superset)
    chart_id = charts_before["Rep leaderboard"]
    [dataset] = superset.get(
        "/api/v1/dataset/", params={"q": "(filters:!((col:table_name,opr:eq,value:kpi_rep_month)))"}
    )["result"]
    for path, change in (
        (f"/api/v1/chart/{chart_id}", {"slice_name": "Stale chart", "params": "{}"}),
        (f"/api/v1/dataset/{dataset['id']}", {"description": "Stale dataset"}),
    ):
        response = superset.admin.put(f"{superset.url}{path}", json=change, timeout=60)
        assert response.status_code == 200, response.text
    with pytest.MonkeyPatch.context() as mp:
        for name in ("SUPERSET_HOME", "SUPERSET_METADATA_URI", "PILOTAGE_ENV"):
            mp.delenv(name, raising=False)
        superset_admin.bootstrap(superset.settings)
    dashboards = superset.get(
        "/api/v1/dashboard/", params={"q": "(filters:!((col:slug,opr:eq,value:sales-performance)))"}
    )
    assert dashboards["count"] == 1
    assert superset.get("/api/v1/dashboard/")["count"] == len(
        list((ASSETS / "dashboards").glob("*.yaml"))
    )
    databases = superset.get("/api/v1/database/")["result"]
    assert [d["database_name"] for d in databases] == ["pilotage_serving"]
    assert superset.get("/api/v1/dataset/")["count"] == len(
        list((ASSETS / "datasets").rglob("*.yaml"))
    )
    assert superset.get("/api/v1/chart/")["count"] == len(list((ASSETS / "charts").rglob("*.yaml")))
    assert _chart_ids(superset) == charts_before
    chart_file = ASSETS / "charts" / "sales-performance" / "rep_leaderboard.yaml"
    chart, expected = (
        superset.get(f"/api/v1/chart/{chart_id}")["result"],
        yaml.safe_load(chart_file.read_text()),
    )
    assert chart["slice_name"] == expected["slice_name"]
    assert json.loads(chart["params"])["groupby"] == expected["params"]["groupby"]
    dataset_file = ASSETS / "datasets" / "pilotage_serving" / "kpi_rep_month.yaml"
    assert (
        superset.get(f"/api/v1/dataset/{dataset['id']}")["result"]["description"]
        == yaml.safe_load(dataset_file.read_text())["description"]
    )
    rules = superset.get("/api/v1/rowlevelsecurity/", params={"q": "(page_size:100)"})
    # one rule per dataset and role of superset/roles.yaml (2 x 9 datasets on 7 Dec) + deny
    clauses = yaml.safe_load((SUPERSET_DIR / "roles.yaml").read_text())["row_level_security"]
    want = 1 + sum(len(by_role) for by_role in clauses.values())
    assert want >= 19 and rules["count"] == want, [r["name"] for r in rules["result"]]


ESCAPES = [
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/hostname')",
    "install httpfs",
    "load httpfs",
    "copy (select 1) to '{csv}'",
    "attach '{db}'",
    "set enable_external_access=true",
    "create table marts.x as select 1",
    "select * from read_blob('/etc/hostname')",
    "select * from glob('/etc/*')",
]


def _sqllab(superset: Superset, sql: str, session=None) -> requests.Response:
    database = superset.get("/api/v1/database/")["result"][0]
    return (session or superset.admin).post(
        f"{superset.url}/api/v1/sqllab/execute/",
        json={
            "database_id": database["id"],
            "sql": sql,
            "schema": "marts",
            "runAsync": False,
            "tab": "pytest",
            "client_id": None,
        },
        timeout=60,
    )


def test_sqllab_sandbox_refuses_escapes(superset: Superset, tmp_path: Path) -> None:
    ok = _sqllab(superset, "select count(*) as n from marts.kpi_rep_month")
    assert ok.status_code == 200 and ok.json()["status"] == "success", ok.text
    csv, attached = tmp_path / "x.csv", tmp_path / "x.duckdb"
    for template in ESCAPES:
        sql = template.format(csv=csv, db=attached)
        response = _sqllab(superset, sql)
        body = response.json()
        assert response.status_code != 200 or body.get("status") != "success", (sql, body)
        assert body.get("errors"), (sql, body)
    assert not csv.exists() and not attached.exists()
    # the serving file is untouched: no table was created
    tables = _query(
        superset.settings.serving_path,
        "select table_name from information_schema.tables where table_name = 'x'",
    )
    assert tables == []


# Where a chart query carries SQL a user typed in Explore: ad-hoc metrics and columns, the custom
# SQL filters (WHERE and HAVING), the sort. Each places ``expression`` (a scalar or an aggregate).
CHART_SQL_PLACES = {
    "ad-hoc metric": lambda q, e: q["metrics"].append(
        {"expressionType": "SQL", "sqlExpression": f"max({e})", "label": "m"}
    ),
    "ad-hoc column": lambda q, e: q["columns"].append(
        {"expressionType": "SQL", "sqlExpression": e, "label": "c"}
    ),
    "custom SQL filter": lambda q, e: q["extras"].update(where=f"{e} is not null"),
    "HAVING filter": lambda q, e: q["extras"].update(having=f"max({e}) is not null"),
    "sort by": lambda q, e: q.update(
        orderby=[[{"expressionType": "SQL", "sqlExpression": f"max({e})", "label": "o"}, False]]
    ),
}


def test_chart_queries_refuse_disallowed_functions_and_subqueries_as_json(
    superset: Superset, serving_db: Path
) -> None:
    """The DuckDB ban list (DISALLOWED_SQL_FUNCTIONS) holds for a rep's chart queries, not only in
    SQL Lab: every place of a chart query that takes SQL is refused with a JSON 403 naming the
    function, before DuckDB runs it. A sub-query is refused with a JSON 4xx, not an HTML page."""
    import copy

    rep = _query(
        serving_db,
        "select min(rep_email) as e from marts.kpi_rep_month where rep_email not in "
        "(select manager_email from marts.kpi_rep_month where manager_email is not null)",
    )[0]["e"]
    session = superset.login(*_create_user(superset, "pytest_sql_rep", rep, "Sales Rep"))
    saved = json.loads(
        superset.get(f"/api/v1/chart/{_chart_ids(superset)['Rep leaderboard']}")["result"][
            "query_context"
        ]
    )

    def post(place: str, expression: str) -> requests.Response:
        context = copy.deepcopy(saved)
        CHART_SQL_PLACES[place](context["queries"][0], expression)
        return session.post(f"{superset.url}/api/v1/chart/data", json=context, timeout=60)

    # the same places with allowed SQL answer: the refusals below are about the functions
    for place in CHART_SQL_PLACES:
        allowed = post(place, "upper(rep_name)")
        assert allowed.status_code == 200, (place, allowed.text[:500])
    escapes = {"current_setting('temp_directory')": "current_setting", "getenv('HOME')": "getenv"}
    for place in CHART_SQL_PLACES:
        for expression, function in escapes.items():
            refused = post(place, expression)
            assert refused.status_code == 403, (place, expression, refused.text[:500])
            assert refused.headers["Content-Type"].startswith("application/json")
            [error] = refused.json()["errors"]
            assert error["error_type"] == "QUERY_SECURITY_ACCESS_ERROR"
            assert error["extra"]["disallowed_functions"] == [function]
            assert str(serving_db.parent) not in refused.text  # no server path leaked
    # sub-queries (which could reach a table function) are refused by Superset, as JSON now
    # (a 400 in a metric or column, where Superset answered an HTML 500; a 403 in a filter)
    for place in ("ad-hoc metric", "ad-hoc column", "custom SQL filter"):
        refused = post(place, "(select count(*) from read_csv('/etc/passwd'))")
        assert refused.status_code in (400, 403), (place, refused.status_code, refused.text[:300])
        assert refused.headers["Content-Type"].startswith("application/json")
        assert refused.json()["errors"][0]["error_type"] == "ADHOC_SUBQUERY_NOT_ALLOWED_ERROR"
        assert "root:" not in refused.text


def _create_user(superset: Superset, username: str, email: str, role: str) -> tuple[str, str]:
    return superset.create_user(username, email, role)


def _menu_data(page_text: str) -> dict:
    """The menu the page's React app draws (its bootstrap data)."""
    import html
    import re

    payload = re.search(r'data-bootstrap="([^"]+)"', page_text)
    assert payload, "no bootstrap data on the page"
    return json.loads(html.unescape(payload.group(1)))["common"]["menu_data"]


@pytest.mark.parametrize("role", ["Sales Rep", "Sales Manager", "Executive"])
def test_each_role_lands_on_its_dashboard_without_builder_menus(superset: Superset, role) -> None:
    """superset/roles.yaml: after login a business user is on their role's dashboard, with no
    Charts, Datasets, SQL Lab or "+" menu; an admin keeps Superset's home and every menu."""
    landing = yaml.safe_load((SUPERSET_DIR / "roles.yaml").read_text())["roles"][role]["landing"]
    slug = role.lower().replace(" ", "_")
    credentials = _create_user(superset, f"pytest_home_{slug}", f"home.{slug}@x.invalid", role)
    browser = _form_login(superset, *credentials)
    home = browser.get(f"{superset.url}/", timeout=60)
    assert home.status_code == 200
    assert home.url.endswith(f"/superset/dashboard/{landing}/"), home.url
    menu = _menu_data(home.text)
    names = {item["name"] for item in menu["menu"]} | {
        child.get("name") for item in menu["menu"] for child in item.get("childs") or []
    }
    assert not names & {"Charts", "Datasets", "SQL Lab", "SQL Editor", "Upload a CSV"}, names
    assert "Dashboards" in names
    me = browser.get(f"{superset.url}/api/v1/me/roles/", timeout=30).json()["result"]
    permissions = {tuple(p) for perms in me["roles"].values() for p in perms}
    assert not {("can_write", "Chart"), ("can_write", "Dashboard")} & permissions  # no "+" menu
    # the role still reads its dashboard's charts, drills to the detail and exports
    assert {("can_read", "Chart"), ("can_drill", "Dashboard"), ("can_csv", "Superset")} <= (
        permissions
    )


def test_an_admin_keeps_superset_home_and_the_builder_menus(superset: Superset) -> None:
    browser = _form_login(superset, *superset_admin.admin_credentials(superset.settings))
    home = browser.get(f"{superset.url}/", timeout=60)
    assert home.url.endswith("/superset/welcome/"), home.url
    names = {item["name"] for item in _menu_data(home.text)["menu"]}
    assert {"Dashboards", "Charts", "Datasets"} <= names, names


def test_sales_rep_sees_only_own_rows_and_no_sqllab(superset: Superset, serving_db: Path) -> None:
    rep = _query(
        serving_db,
        "select rep_email, count(*) as n from marts.kpi_rep_month where rep_email is not null "
        "and rep_email not in (select manager_email from marts.kpi_rep_month "
        "where manager_email is not null) group by 1 order by 2 desc, 1 limit 1",
    )[0]["rep_email"]
    session = superset.login(*_create_user(superset, "pytest_rep", rep, "Sales Rep"))
    charts = _chart_ids(superset)
    rows = _chart_data(superset, charts["Rep leaderboard"], session)["data"]
    _assert_leaderboard(rows, _expected_leaderboard(serving_db, "where rep_email = ?", [rep]))
    assert len(rows) >= 1
    want = _query(
        serving_db,
        "select count(*) as n from marts.fct_activities a join marts.dim_rep r using (rep_id) "
        "where r.email = ? and a.month_start < ?",
        [rep, _as_of(serving_db).replace(day=1)],
    )[0]["n"]
    activity_rows = _chart_data(superset, charts[ACTIVITY_TREND], session)["data"]
    total = sum(
        count
        for row in activity_rows
        for key, count in row.items()
        if key != "month_start" and count is not None and count == count
    )
    assert total == want
    # the rep reaches the dashboard itself, and has no SQL Lab
    assert superset.get("/api/v1/dashboard/sales-performance", session)["result"]["id"]
    assert _sqllab(superset, "select 1", session).status_code in (401, 403)


def test_sales_manager_sees_team_rows(superset: Superset, serving_db: Path) -> None:
    manager = _query(
        serving_db,
        "select manager_email from marts.kpi_rep_month where manager_email is not null "
        "group by 1 order by count(distinct rep_id) desc, 1 limit 1",
    )[0]["manager_email"]
    session = superset.login(*_create_user(superset, "pytest_manager", manager, "Sales Manager"))
    rows = _chart_data(superset, _chart_ids(superset)["Rep leaderboard"], session)["data"]
    _assert_leaderboard(
        rows, _expected_leaderboard(serving_db, "where manager_email = ?", [manager])
    )
    assert _sqllab(superset, "select 1", session).status_code in (401, 403)


def test_other_roles_are_denied_by_default(superset: Superset) -> None:
    """Alpha can read every dataset, but the Base rule shows it no pilotage rows."""
    session = superset.login(
        *_create_user(superset, "pytest_alpha", "alpha@pilotage.invalid", "Alpha")
    )
    result = _chart_data(superset, _chart_ids(superset)["Rep leaderboard"], session)
    assert result["rowcount"] == 0


def test_rls_email_cannot_inject_sql(superset: Superset) -> None:
    """An e-mail with quotes is rendered as one string literal, not as SQL."""
    roles = superset.get("/api/v1/security/roles/", params={"q": "(page_size:100)"})["result"]
    response = superset.admin.post(
        f"{superset.url}/api/v1/security/users/",
        json={
            "active": True,
            "email": "x' or '1'='1@pilotage.invalid",
            "first_name": "evil",
            "last_name": "pytest",
            "username": "pytest_evil",
            "password": "pw-evil-Aa1!-pytest",
            "roles": [next(r["id"] for r in roles if r["name"] == "Sales Rep")],
        },
        timeout=30,
    )
    if response.status_code not in (200, 201):  # refused as an e-mail: fine as well
        print(f"\nan e-mail with quotes is refused by Superset ({response.status_code})")
        return
    session = superset.login("pytest_evil", "pw-evil-Aa1!-pytest")
    result = _chart_data(superset, _chart_ids(superset)["Rep leaderboard"], session)
    assert result["rowcount"] == 0


def test_executive_sees_everything(superset: Superset, serving_db: Path) -> None:
    session = superset.login(
        *_create_user(superset, "pytest_exec", "exec@pilotage.invalid", "Executive")
    )
    rows = _chart_data(superset, _chart_ids(superset)["Rep leaderboard"], session)["data"]
    _assert_leaderboard(rows, _expected_leaderboard(serving_db))
    assert _sqllab(superset, "select 1", session).status_code in (401, 403)


def test_dashboard_filters_apply_to_both_datasets(superset: Superset, serving_db: Path) -> None:
    """What the Team and Month native filters send: applied (not rejected) on every dataset."""
    team, first = _query(
        serving_db,
        "select team_name, min(month_start) as first from marts.kpi_rep_month "
        "where team_name is not null group by 1 order by 1 limit 1",
    )[0].values()
    end = (first.replace(day=1) + dt.timedelta(days=62)).replace(day=1)  # two months
    charts = _chart_ids(superset)
    for name, sql in {
        "Revenue": "select sum(revenue) from marts.kpi_rep_month "
        "where team_name = ? and month_start >= ? and month_start < ?",
        ACTIVITY_TREND: "select count(*) from marts.fct_activities a "
        "join marts.dim_team t using (team_id) "
        "where t.team_name = ? and a.month_start >= ? and a.month_start < ?",
    }.items():
        chart = superset.get(f"/api/v1/chart/{charts[name]}")["result"]
        context = json.loads(chart["query_context"])
        query = context["queries"][0]
        query["filters"] = [f for f in query["filters"] if f["op"] != "TEMPORAL_RANGE"] + [
            {"col": "month_start", "op": "TEMPORAL_RANGE", "val": f"{first} : {end}"},
            {"col": "team_name", "op": "IN", "val": [team]},
        ]
        response = superset.admin.post(
            f"{superset.url}/api/v1/chart/data", json=context, timeout=60
        )
        assert response.status_code == 200, response.text
        result = response.json()["result"][0]
        assert not result.get("rejected_filters"), (name, result["rejected_filters"])
        got = sum(
            value
            for row in result["data"]
            for key, value in row.items()
            if key != "month_start" and value is not None and value == value
        )
        want = _query(serving_db, sql, [team, first, end])[0]
        assert got == pytest.approx(_num(next(iter(want.values()))), abs=0.01), name


def _cached(session: requests.Session, url: str, query_context: dict) -> bool:
    response = session.post(f"{url}/api/v1/chart/data", json=query_context, timeout=120)
    assert response.status_code == 200, response.text
    return bool(response.json()["result"][0]["is_cached"])


def test_dagster_refreshes_every_dashboard_chart_cache_after_publish(
    superset: Superset, serving_db: Path
) -> None:
    """The Dagster asset downstream of the publish expires every cached chart result of the
    serving database, whoever asked for it (here a rep, whose row-level security gives the
    query its own cache key: no warm-up could renew it), then re-runs every chart of every
    dashboard on the new serving file. A wallboard re-drawing through the cache then shows the
    new data at its next tick."""
    from dagster import materialize

    from dagster_project.superset import build_superset_assets
    from pilotage.superset_api import dashboard_slugs

    slugs = {
        yaml.safe_load(path.read_text())["slug"] for path in (ASSETS / "dashboards").glob("*.yaml")
    }
    assert set(dashboard_slugs()) == slugs
    charts = [
        chart
        for slug in dashboard_slugs()
        for chart in superset.get(f"/api/v1/dashboard/{slug}/charts")["result"]
    ]
    rep_email = _query(
        serving_db,
        "select min(rep_email) as rep_email from marts.kpi_rep_month where rep_email not in "
        "(select manager_email from marts.kpi_rep_month where manager_email is not null)",
    )[0]["rep_email"]
    rep = superset.login(*superset.create_user("pytest_cache_rep", rep_email, "Sales Rep")[:2])
    leaderboard = _chart_ids(superset)["Rep leaderboard"]
    query_context = json.loads(
        superset.get(f"/api/v1/chart/{leaderboard}")["result"]["query_context"]
    )
    _cached(rep, superset.url, query_context)
    assert _cached(rep, superset.url, query_context), "the rep's second query is not cached"

    settings = dataclasses.replace(superset.settings, superset_url=superset.url)
    result = materialize(build_superset_assets(settings))
    assert result.success
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["charts_refreshed"].value == len(charts) >= 6
    datasets = list((ASSETS / "datasets").rglob("*.yaml"))
    assert metadata["datasets_expired"].value == len(datasets)
    assert not _cached(rep, superset.url, query_context), "the rep still reads the old result"


def test_challenges_dashboard_is_a_public_leaderboard(superset: Superset, serving_db: Path) -> None:
    """The Challenges dashboard (superset/assets/*/challenges*), as a sales rep: the live
    challenges' standings and the archive's (finished ones) each with exactly their rows of the
    serving file, every participant shown (a leaderboard is public among participants: no
    row-level security), the rep's own rows marked "(you)" and no one else's, the collective
    goal with its points, goal and days left, the top 10 (and the rep), the team standings."""
    tables = _query(
        serving_db,
        "select table_name from information_schema.tables where table_schema = 'marts'",
    )
    if "fct_challenge_standings" not in {t["table_name"] for t in tables}:
        pytest.skip("SKIPPED LOUDLY: the synthetic serving file has no challenge standings")
    dashboard = superset.get("/api/v1/dashboard/challenges")["result"]
    assert dashboard["dashboard_title"] == "Challenges"
    charts = _charts_of_asset_folder(superset, "challenges")
    standings = _query(
        serving_db,
        "select s.*, r.email from marts.fct_challenge_standings s left join marts.dim_rep r "
        "on s.participant_type != 'teams' and s.participant_id = r.rep_id",
    )
    live = [r for r in standings if r["period_start"] <= _as_of(serving_db) <= r["period_end"]]
    finished = [r for r in standings if r["period_end"] < _as_of(serving_db)]
    assert live and finished, "the demo has a live and a finished challenge"
    taken = _user_emails(superset)  # another test may have given a rep a user already
    me = next(
        r
        for r in sorted(live, key=lambda r: (r["standing_rank"], r["email"] or ""), reverse=True)
        if r["email"] and r["email"] not in taken
    )  # the last of a live challenge: outside its top 10
    session = superset.login(*_create_user(superset, "pytest_challenger", me["email"], "Sales Rep"))

    [team] = _query(serving_db, "select team_id from marts.dim_rep where email = ?", [me["email"]])

    def shown(row: dict) -> str:
        """The name as the rep sees it: their own row marked, and their team's in a team race."""
        if row["participant_type"] == "teams" and row["participant_id"] == team["team_id"]:
            return f"▶ {row['participant_name']} (your team)"
        mine = row["email"] == me["email"]
        return f"▶ {row['participant_name']} (you)" if mine else row["participant_name"]

    key = lambda r: (r["challenge_label"], r["standing_rank"], r["participant_display"])  # noqa: E731
    for name, want in (
        ("Live standings", live),
        ("Standings of the finished challenges", finished),
        ("Podium of the finished challenges", [r for r in finished if r["standing_rank"] <= 3]),
    ):
        rows = _chart_data(superset, charts[name], session)["data"]
        expected = {
            (r["challenge_label"], r["standing_rank"], shown(r)): r["total_points"] for r in want
        }
        assert sorted(map(key, rows)) == sorted(expected), name
        for row in rows:
            assert row["total_points"] == pytest.approx(expected[key(row)]), (name, row)
        medals = {r["badge_icon"] for r in rows} - {""}  # no badge: an empty cell
        assert medals and medals <= {"🥇", "🥈", "🥉", "🏅"}, (name, medals)

    goals = {r["challenge_label"]: r for r in live if r["goal_points"]}
    assert goals, "no live collective goal in the serving file"
    gauge = _chart_data(superset, charts["Collective goal"], session)["data"]
    assert len(gauge) == len(goals)
    for row in gauge:
        label = row["goal_caption"].split(" · ")[0]
        points = sum(r["total_points"] for r in live if r["challenge_label"] == label)
        goal = goals[label]
        days = (goal["period_end"] - _as_of(serving_db)).days
        assert row["goal_progress"] == pytest.approx(points / goal["goal_points"])
        assert f"{round(points):,} / {round(goal['goal_points']):,} points" in row["goal_caption"]
        assert row["goal_caption"].endswith(f"{days} days left"), row["goal_caption"]

    top = _chart_data(superset, charts["Top 10 of the live challenges"], session)["data"]
    want_top = {shown(r): r["total_points"] for r in live if r["standing_rank"] <= 10 or r is me}
    assert {r["participant_display"]: r["points"] for r in top} == pytest.approx(want_top)
    assert f"▶ {me['participant_name']} (you)" in want_top
    marked = [r for r in standings if shown(r).startswith("▶")]
    assert {r["participant_type"] for r in marked} >= {"company", "teams"}, marked

    teams = _chart_data(superset, charts["Team standings of the live challenges"], session)
    want_teams: dict[str, float] = {}
    for r in live:
        team = r["participant_name"] if r["participant_type"] == "teams" else r["team_name"]
        if team is not None:
            want_teams[team] = want_teams.get(team, 0) + r["total_points"]
    got_teams = {r["team_name"]: r["points"] for r in teams["data"]}
    assert got_teams == pytest.approx(want_teams)


def _assert_same_rows(rows: list[dict], want: list[dict], key: tuple, values: tuple) -> None:
    """Chart rows equal the expected rows: same keys, same values (numbers within a cent)."""
    got = {tuple(row[k] for k in key): row for row in rows}
    expected = {tuple(row[k] for k in key): row for row in want}
    assert len(got) == len(rows) and len(expected) == len(want), "key is not unique"
    assert set(got) == set(expected)
    for k, row in expected.items():
        for column in values:
            value = row[column]
            if isinstance(value, str) or value is None:
                assert got[k][column] == value, (k, column)
            else:
                assert got[k][column] == pytest.approx(_num(value), abs=0.01), (k, column)


def _user_emails(superset: Superset) -> set[str]:
    users = superset.get("/api/v1/security/users/", params={"q": "(page_size:100)"})["result"]
    return {user["email"] for user in users}


def test_objectives_dashboard_answers_with_the_serving_file(
    superset: Superset, serving_db: Path
) -> None:
    """The Objectives dashboard (superset/assets/*/objectives*): each chart answers with the
    serving file's rows for the month and quarter of the as-of date; a sales rep sees only their
    own rows (no team row), a sales manager the rows of the teams they manage."""
    tables = _query(
        serving_db,
        "select table_name from information_schema.tables where table_schema = 'marts'",
    )
    if not {"kpi_objectives", "kpi_revenue_drivers"} <= {t["table_name"] for t in tables}:
        pytest.skip("SKIPPED LOUDLY: the synthetic serving file has no objectives marts")
    dashboard = superset.get("/api/v1/dashboard/objectives")["result"]
    assert dashboard["dashboard_title"] == "Objectives"
    metadata = json.loads(dashboard["json_metadata"])
    filters = {f["name"] for f in metadata["native_filter_configuration"]}
    assert filters == {"Period", "Team", "Rep", "Metric"}
    charts = _charts_of_asset_folder(superset, "objectives")
    # Period leaves out the two current-month charts (the importer maps the chart ids).
    scopes = {f["name"]: f["scope"]["excluded"] for f in metadata["native_filter_configuration"]}
    assert sorted(scopes["Period"]) == sorted(
        [charts["Objectives this month"], charts["Revenue driver tree this month"]]
    )

    # The current periods, from the as-of date in Python (the charts do it in SQL).
    [as_of] = [
        r["d"]
        for r in _query(serving_db, "select distinct as_of_date as d from marts.kpi_objectives")
    ]
    month = as_of.replace(day=1)
    quarter = dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    rep_rows = _query(
        serving_db,
        "select * from marts.kpi_objectives "
        "where level = 'rep' and period_grain = 'month' and period_start = ?",
        [month],
    )
    team_rows = _query(
        serving_db,
        "select * from marts.kpi_objectives where level = 'team' and ("
        "(period_grain = 'month' and period_start = ?) "
        "or (period_grain = 'quarter' and period_start = ?))",
        [month, quarter],
    )
    driver_rows = _query(
        serving_db,
        "select * from marts.kpi_revenue_drivers "
        "where level = 'rep' and period_grain = 'month' and period_start = ?",
        [month],
    )
    assert rep_rows and team_rows and driver_rows, f"no objectives for {month} in the serving file"
    # the tables show the metric and the period in words, and every status reads its row's pace
    for row in rep_rows + team_rows:
        row["metric_label"] = METRIC_LABELS[row["metric"]]
        row["period_label"] = PERIOD_LABELS[row["period_grain"]]
        if row["target"] and row["actual"] is not None:
            assert row["status"] == _status(row["pace"]), row

    rep_key, rep_values = (
        ("member_name", "team_name", "metric_label"),
        ("target", "actual", "attainment", "pace", "status", "required_daily_rate", "gap"),
    )
    team_key, team_values = (
        ("team_name", "metric_label", "period_label"),
        ("target", "actual", "attainment", "pace", "status", "run_rate_projection", "gap"),
    )
    driver_key = ("member_name", "team_name")
    driver_values = (
        "gap_to_date",
        "volume_effect",
        "conversion_effect",
        "deal_size_effect",
        "invoicing_timing_effect",
        "weakest_driver",
    )

    def check(session=None, rep_id=None, team_ids=None) -> None:
        def visible(row: dict) -> bool:
            if rep_id is not None:
                return row["level"] == "rep" and row["member_id"] == rep_id
            return team_ids is None or row["team_id"] in team_ids

        data = lambda name: _chart_data(superset, charts[name], session)["data"]  # noqa: E731
        _assert_same_rows(
            data("Objectives this month"), list(filter(visible, rep_rows)), rep_key, rep_values
        )
        _assert_same_rows(
            data("Team objectives"), list(filter(visible, team_rows)), team_key, team_values
        )
        _assert_same_rows(
            data("Revenue driver tree this month"),
            list(filter(visible, driver_rows)),
            driver_key,
            driver_values,
        )

    check()

    # Pipeline coverage per rep and period, the catalogue's formula in plain Python.
    revenue_rows = _query(
        serving_db,
        "select member_name, period_grain, target, actual, open_in_period_pipeline "
        "from marts.kpi_objectives where level = 'rep' and metric = 'revenue' and ("
        "(period_grain = 'month' and period_start = ?) "
        "or (period_grain = 'quarter' and period_start = ?))",
        [month, quarter],
    )
    pipeline, missing = {}, {}
    for row in revenue_rows:
        key = (row["member_name"], PERIOD_LABELS[row["period_grain"]])
        if row["target"] is not None and row["target"] > row["actual"]:
            missing[key] = missing.get(key, 0) + float(row["target"] - row["actual"])
            if row["open_in_period_pipeline"] is not None:
                pipeline[key] = pipeline.get(key, 0) + float(row["open_in_period_pipeline"])
    want_coverage = {key: pipeline[key] / missing[key] for key in pipeline if missing[key]}
    assert want_coverage, "no rep behind with open pipeline: the coverage chart is not tested"
    got_coverage = {
        (row["member_name"], grain): value
        for row in _chart_data(superset, charts["Pipeline coverage"])["data"]
        for grain, value in row.items()
        if grain != "member_name" and value is not None and value == value  # not NaN
    }
    assert got_coverage == pytest.approx(want_coverage)

    # The Team filter applies to both datasets (what the dashboard sends when a team is picked).
    team = rep_rows[0]["team_name"]
    for name in ("Objectives this month", "Revenue driver tree this month"):
        context = json.loads(
            superset.get(f"/api/v1/chart/{charts[name]}")["result"]["query_context"]
        )
        context["queries"][0]["filters"].append({"col": "team_name", "op": "IN", "val": [team]})
        response = superset.admin.post(
            f"{superset.url}/api/v1/chart/data", json=context, timeout=60
        )
        assert response.status_code == 200, response.text
        result = response.json()["result"][0]
        assert not result.get("rejected_filters"), (name, result["rejected_filters"])
        assert result["data"] and {row["team_name"] for row in result["data"]} == {team}, name

    # The Period filter's default (month to date) and the Metric filter, on the label columns
    # (calculated in the dataset), as the dashboard sends them when it opens.
    dashboard_filters = {
        f["name"]: f for f in metadata["native_filter_configuration"] if f["name"] == "Period"
    }
    default = dashboard_filters["Period"]["defaultDataMask"]["extraFormData"]["filters"]
    context = json.loads(
        superset.get(f"/api/v1/chart/{charts['Team objectives']}")["result"]["query_context"]
    )
    context["queries"][0]["filters"] += [
        *default,
        {"col": "metric_label", "op": "IN", "val": [METRIC_LABELS["revenue"]]},
    ]
    response = superset.admin.post(f"{superset.url}/api/v1/chart/data", json=context, timeout=60)
    assert response.status_code == 200, response.text
    result = response.json()["result"][0]
    assert not result.get("rejected_filters"), result["rejected_filters"]
    _assert_same_rows(
        result["data"],
        [r for r in team_rows if r["period_grain"] == "month" and r["metric"] == "revenue"],
        team_key,
        team_values,
    )

    # Row-level security, with users whose e-mail no earlier test has taken.
    taken = _user_emails(superset)
    teams = _query(
        serving_db,
        "select team_id, manager_email from marts.dim_team where manager_email is not null "
        "order by manager_email, team_id",
    )
    rep = next(
        r
        for r in _query(serving_db, "select rep_id, email from marts.dim_rep order by email")
        if r["email"] not in taken
        and r["email"] not in {t["manager_email"] for t in teams}
        and any(row["member_id"] == r["rep_id"] for row in rep_rows)
    )
    session = superset.login(
        *_create_user(superset, "pytest_objectives_rep", rep["email"], "Sales Rep")
    )
    check(session, rep_id=rep["rep_id"])
    assert _chart_data(superset, charts["Team objectives"], session)["rowcount"] == 0

    manager = next(
        t["manager_email"]
        for t in teams
        if t["manager_email"] not in taken and any(r["team_id"] == t["team_id"] for r in team_rows)
    )
    session = superset.login(
        *_create_user(superset, "pytest_objectives_manager", manager, "Sales Manager")
    )
    check(session, team_ids={t["team_id"] for t in teams if t["manager_email"] == manager})


def _dataset(superset: Superset, table_name: str) -> dict:
    datasets = superset.get("/api/v1/dataset/", params={"q": "(page_size:100)"})["result"]
    [found] = [d for d in datasets if d["table_name"] == table_name]
    return superset.get(f"/api/v1/dataset/{found['id']}")["result"]


def test_amounts_are_in_the_configured_currency(superset: Superset) -> None:
    """What the charts format amounts with: the imported metrics carry the currency of
    dbt/kpis.yml (amounts only), and the amount tiles and trends use those saved metrics."""
    configured = CATALOGUE["superset"]["currency"]
    want = {"symbol": configured["symbol"], "symbolPosition": configured["symbol_position"]}
    metrics = {m["metric_name"]: m for m in _dataset(superset, "kpi_rep_month")["metrics"]}
    for name in ("revenue", "revenue_target", "gross_margin", "cost"):
        assert metrics[name]["currency"] == want, name
    for name in ("attainment", "pace", "margin_pct", "calls", "current_status"):
        assert not metrics[name].get("currency"), name
    charts = _chart_ids(superset)
    for name, amounts in (("Revenue", ["revenue"]), (REVENUE_TREND, ["revenue", "revenue_target"])):
        params = json.loads(superset.get(f"/api/v1/chart/{charts[name]}")["result"]["params"])
        used = params.get("metrics") or [params["metric"]]
        assert used == amounts, name


def test_revenue_tile_compares_with_the_same_point_last_month(
    superset: Superset, serving_db: Path
) -> None:
    """The tile: revenue of the as-of month to date against the same days of the previous month
    (clamped to its length), recomputed from the invoice lines."""
    as_of = _as_of(serving_db)
    month = as_of.replace(day=1)
    previous = _month_before(as_of)
    previous_end = min(previous + dt.timedelta(days=as_of.day - 1), month - dt.timedelta(days=1))
    sql = "select sum(revenue) as r from marts.fct_revenue where invoice_date between ? and ?"
    now = _num(_query(serving_db, sql, [month, as_of])[0]["r"]) or 0.0
    before = _num(_query(serving_db, sql, [previous, previous_end])[0]["r"])
    assert before, "no revenue in the previous month's same days: the tile is not tested"
    [row] = _chart_data(superset, _chart_ids(superset)["Revenue vs same point last month"])["data"]
    assert row["revenue_growth_same_point"] == pytest.approx((now - before) / before)


def _executive_data(
    superset: Superset, chart_id: int, scope: str, period: str, session=None
) -> list[dict]:
    """A chart of the Executive 360 as its native filters ask for it: one Scope, one Period."""
    context = json.loads(superset.get(f"/api/v1/chart/{chart_id}")["result"]["query_context"])
    context["queries"][0]["filters"] += [
        {"col": "scope_name", "op": "IN", "val": [scope]},
        {"col": "period_label", "op": "IN", "val": [period]},
    ]
    response = (session or superset.admin).post(
        f"{superset.url}/api/v1/chart/data", json=context, timeout=60
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"][0]
    assert not result.get("rejected_filters"), result["rejected_filters"]
    return result["data"]


def test_executive_360_matches_duckdb(superset: Superset, serving_db: Path) -> None:
    """The Executive 360's key numbers for the whole company, a region and a team, month and
    quarter to date, against the marts read directly (kpi_objectives, kpi_performance's
    company and team rows, kpi_revenue_drivers); a manager sees their teams only, a rep
    nothing."""
    dashboard = superset.get("/api/v1/dashboard/executive-360")["result"]
    metadata = json.loads(dashboard["json_metadata"])
    defaults = {
        f["name"]: f["defaultDataMask"]["filterState"]["value"]
        for f in metadata["native_filter_configuration"]
    }
    assert defaults == {"Scope": ["All teams"], "Period": ["Month to date"]}
    charts = _charts_of_asset_folder(superset, "executive-360")
    as_of = _as_of(serving_db)
    starts = {
        "Month to date": ("month", as_of.replace(day=1)),
        "Quarter to date": ("quarter", dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)),
    }
    teams = _query(serving_db, "select team_id, team_name, region_name from marts.dim_team")
    region = sorted({t["region_name"] for t in teams})[0]
    team = sorted(teams, key=lambda t: t["team_name"])[0]
    scopes = {
        "All teams": {t["team_id"] for t in teams},
        f"Region: {region}": {t["team_id"] for t in teams if t["region_name"] == region},
        f"Team: {team['team_name']}": {team["team_id"]},
    }

    def objectives(grain: str, start: dt.date, team_ids: set, metric: str) -> list[dict]:
        """The scope's rows of a metric: each team's own target, else its reps' targets."""
        rows = _query(
            serving_db,
            "select * from marts.kpi_objectives "
            "where metric = ? and period_grain = ? and period_start = ?",
            [metric, grain, start],
        )
        chosen = []
        for team_id in team_ids:
            own = [r for r in rows if r["level"] == "team" and r["team_id"] == team_id]
            if own and own[0]["target"] is not None:
                chosen += own
            else:
                chosen += [r for r in rows if r["level"] == "rep" and r["team_id"] == team_id]
        return chosen

    def total(rows: list[dict], column: str) -> float:
        return sum(_num(r[column]) or 0.0 for r in rows)

    for period, (grain, start) in starts.items():
        for scope, team_ids in scopes.items():
            where = f"{scope}, {period}"
            for name, metric in (
                ("Revenue vs target", "revenue"),
                ("Gross margin vs target", "gross_margin"),
                ("New opps vs target", "new_opportunities"),
            ):
                rows = objectives(grain, start, team_ids, metric)
                [got] = _executive_data(superset, charts[name], scope, period)
                pace = 100 * total(rows, "actual") / total(rows, "prorated_target_to_date")
                assert next(iter(got.values())) == pytest.approx(pace), (where, name)
            revenue = objectives(grain, start, team_ids, "revenue")
            [got] = _executive_data(superset, charts["Pipeline coverage"], scope, period)
            coverage = total(revenue, "open_in_period_pipeline") / (
                total(revenue, "target") - total(revenue, "actual")
            )
            assert next(iter(got.values())) == pytest.approx(coverage), where
            by_team = {
                r["team_name"]: r
                for r in _executive_data(superset, charts[TEAMS_TILE], scope, period)
            }
            assert set(by_team) == {r["team_name"] for r in revenue}, where
            for row in revenue:
                assert by_team[row["team_name"]]["Revenue"] == pytest.approx(_num(row["actual"]))
                assert by_team[row["team_name"]]["Status"] == row["status"], (where, row)

            # the driver tree: the gap and its parts, summed over the scope's teams, in the labels
            drivers = [
                r
                for r in _query(
                    serving_db,
                    "select * from marts.kpi_revenue_drivers "
                    "where level = 'team' and period_grain = ? and period_start = ?",
                    [grain, start],
                )
                if r["team_id"] in team_ids
            ]
            nodes = {
                r["node_id"]: r for r in _executive_data(superset, charts[TREE_TILE], scope, period)
            }
            for node, column in (
                ("gap", "gap_to_date"),
                ("volume", "volume_effect"),
                ("conversion", "conversion_effect"),
                ("deal_size", "deal_size_effect"),
                ("timing", "invoicing_timing_effect"),
            ):
                amount = total(drivers, column)
                assert nodes[node]["Amount (€)"] == pytest.approx(amount, abs=0.01), (where, node)
                assert f"{round(amount):,} €".lstrip("-") in nodes[node]["node_name"], nodes[node]
            parts = ("bookings", "timing")
            assert sum(nodes[p]["Amount (€)"] for p in parts) == pytest.approx(
                nodes["gap"]["Amount (€)"], abs=0.01
            )

    # the company's performance row (every team, and the facts of no team) for the comparisons
    for period, (grain, start) in starts.items():
        [company] = _query(
            serving_db,
            "select * from marts.kpi_performance "
            "where level = 'company' and period_grain = ? and period_start = ?",
            [grain, start],
        )
        [win_rate] = _executive_data(superset, charts["Win rate"], "All teams", period)
        # the mart's ratios are rounded to 6 decimals (macro round_ratio)
        assert next(iter(win_rate.values())) == pytest.approx(company["win_rate"], abs=1e-6)
        [cycle] = _executive_data(superset, charts["Sales cycle"], "All teams", period)
        assert next(iter(cycle.values())) == pytest.approx(company["sales_cycle_days"], abs=1e-6)
        same_point = {
            r["measure_label"]: r
            for r in _executive_data(superset, charts[SAME_POINT_TILE], "All teams", period)
        }
        for label, measure in (
            ("Revenue (€)", "revenue"),
            ("Gross margin (€)", "gross_margin"),
            ("Amount won (€)", "won_amount"),
            ("Deals won", "won_opportunities"),
            ("Activities", "activities"),
        ):
            row = same_point[label]
            assert row["This period"] == pytest.approx(_num(company[measure]), abs=0.01)
            assert row["Last period"] == pytest.approx(
                _num(company[f"{measure}_prev_same_point"]), abs=0.01
            )
            assert row["Last year"] == pytest.approx(
                _num(company[f"{measure}_last_year_same_point"]), abs=0.01
            )

    # Row-level security: a manager's "All teams" is their teams; the tree's all-teams nodes are
    # sums over teams they may not see (empty for them); a rep sees none of it.
    taken = _user_emails(superset)
    managed = _query(
        serving_db,
        "select team_id, manager_email from marts.dim_team where manager_email is not null",
    )
    # any manager: a user an earlier test made for the same e-mail is a Sales Manager too
    # (Superset.create_user hands it back), and the demo may have as few managers as teams
    manager = sorted(t["manager_email"] for t in managed)[-1]
    session = superset.login(
        *_create_user(superset, "pytest_exec360_manager", manager, "Sales Manager")
    )
    own = {t["team_id"] for t in managed if t["manager_email"] == manager}
    grain, start = starts["Month to date"]
    rows = objectives(grain, start, own, "revenue")
    got = _executive_data(
        superset, charts["Revenue vs target"], "All teams", "Month to date", session
    )
    assert next(iter(got[0].values())) == pytest.approx(
        100 * total(rows, "actual") / total(rows, "prorated_target_to_date")
    )
    assert not _executive_data(superset, charts[TREE_TILE], "All teams", "Month to date", session)
    rep = next(
        r["email"]
        for r in _query(serving_db, "select email from marts.dim_rep order by email")
        if r["email"] not in taken and r["email"] not in {t["manager_email"] for t in managed}
    )
    session = superset.login(*_create_user(superset, "pytest_exec360_rep", rep, "Sales Rep"))
    for name in charts:  # no row, or an aggregate over no row (a big number's null)
        rows = _executive_data(superset, charts[name], "All teams", "Month to date", session)
        assert all(value is None for row in rows for value in row.values()), name


def _ordinal(rank: int | None, count: int | None) -> str | None:
    """'3rd of 8', written out by hand: 11th to 13th are the irregular ones."""
    if rank is None:
        return None
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank}{'th' if rank % 100 in (11, 12, 13) else suffix} of {count}"


def _attainment(rows: list[dict]) -> float | None:
    """The catalogue's attainment over rows: their actuals over their targets."""
    targeted = [r for r in rows if r["target"] is not None]
    target = sum(float(r["target"]) for r in targeted)
    return sum(float(r["actual"]) for r in targeted) / target if target else None


def test_my_month_answers_for_the_rep(superset: Superset, serving_db: Path) -> None:
    """My month as a Sales Rep: the gauges, the working days left, the numbers (ranks as '3rd of
    8', the team rank recomputed here from every rep of the team, which the rep cannot see) and
    the challenges are the serving file's rows of that rep for the as-of month; an executive
    sees every rep (the gauges sum them), a manager the reps of their teams."""
    rep = _query(
        serving_db,
        "select rep_email from marts.kpi_rep_month where rep_email is not null "
        "and rep_email not in (select manager_email from marts.kpi_rep_month "
        "where manager_email is not null) group by 1 order by count(*) desc, 1 limit 1",
    )[0]["rep_email"]
    [me] = _query(serving_db, "select rep_id, team_id from marts.dim_rep where email = ?", [rep])
    month = _query(serving_db, "select distinct as_of_date as d from marts.kpi_objectives")[0]["d"]
    month = month.replace(day=1)
    all_rows = _query(
        serving_db,
        "select * from marts.kpi_objectives "
        "where level = 'rep' and period_grain = 'month' and period_start = ?",
        [month],
    )
    mine = [r for r in all_rows if r["member_id"] == me["rep_id"]]
    assert any(r["target"] for r in mine), f"{rep} has no target in {month}: nothing to check"
    session = superset.login(*_create_user(superset, "pytest_my_month_rep", rep, "Sales Rep"))
    charts = _charts_of_asset_folder(superset, "my-month")

    def data(name: str, who=None) -> list[dict]:
        return _chart_data(superset, charts[name], who)["data"]

    for metric, label in METRIC_LABELS.items():
        title = label.removesuffix(" (€)")
        [row] = data(f"{title} vs target", session)
        want = _attainment([r for r in mine if r["metric"] == metric])
        got = row[f"{title}: attainment"]
        assert got == pytest.approx(want) if want is not None else got is None, metric
    [days] = data("Working days left", session)
    assert days["Working days left"] == max(r["remaining_working_days"] for r in mine)

    def team_rank(row: dict) -> tuple[int, int] | tuple[None, None]:
        if not row["target"] or row["attainment"] is None:
            return None, None
        mates = [
            r["attainment"]
            for r in all_rows
            if r["team_id"] == row["team_id"]
            and r["metric"] == row["metric"]
            and r["target"]
            and r["attainment"] is not None
        ]
        return 1 + sum(a > row["attainment"] for a in mates), len(mates)

    want_rows = []
    for row in mine:
        want_rows.append(
            {
                **row,
                "metric_label": METRIC_LABELS[row["metric"]],
                "rank_in_team_label": _ordinal(*team_rank(row)),
                "rank_in_company_label": _ordinal(row["rank_in_company"], row["ranked_in_company"]),
            }
        )
    assert any(w["rank_in_team_label"] for w in want_rows)
    _assert_same_rows(
        data("My month, metric by metric", session),
        want_rows,
        ("member_name", "metric_label"),
        (
            "target",
            "actual",
            "attainment",
            "pace",
            "status",
            "required_daily_rate",
            "rank_in_team_label",
            "rank_in_company_label",
        ),
    )

    # the challenges: the rep's own standings, their team's, their company contributions
    standings = _query(serving_db, "select * from marts.fct_challenge_standings")
    want_standings = [
        {**s, "standing_label": _ordinal(s["standing_rank"], s["participants_count"])}
        for s in standings
        if (s["participant_type"] == "teams" and s["participant_id"] == me["team_id"])
        or (s["participant_type"] != "teams" and s["participant_id"] == me["rep_id"])
    ]
    assert want_standings, f"{rep} takes part in no challenge: nothing to check"
    _assert_same_rows(
        data("My challenges", session),
        want_standings,
        ("challenge_label",),
        ("standing_label", "total_points", "badge_label"),
    )

    # an executive: every rep, the gauges over all of them
    executive = superset.login(
        *_create_user(superset, "pytest_my_month_exec", "my-month-exec@x.invalid", "Executive")
    )
    [row] = data("Revenue vs target", executive)
    assert row["Revenue: attainment"] == pytest.approx(
        _attainment([r for r in all_rows if r["metric"] == "revenue"])
    )
    assert len(data("My month, metric by metric", executive)) == len(all_rows)
    # a manager: the reps of the teams they manage, in the numbers and in the challenges
    manager = _query(
        serving_db,
        "select manager_email from marts.dim_team where manager_email is not null "
        "order by 1 limit 1",
    )[0]["manager_email"]
    teams = {
        t["team_id"]
        for t in _query(
            serving_db, "select team_id from marts.dim_team where manager_email = ?", [manager]
        )
    }
    boss = superset.login(
        *_create_user(superset, "pytest_my_month_manager", manager, "Sales Manager")
    )
    got = {(r["member_name"], r["metric_label"]) for r in data("My month, metric by metric", boss)}
    assert got == {
        (r["member_name"], METRIC_LABELS[r["metric"]]) for r in all_rows if r["team_id"] in teams
    }
    team_reps = {
        r["rep_name"]
        for r in _query(serving_db, "select rep_name, team_id from marts.dim_rep")
        if r["team_id"] in teams
    }
    assert {r["member_name"] for r in data("My challenges", boss)} <= team_reps
