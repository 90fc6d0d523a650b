"""Superset configuration for pilotage (Superset 6.1), loaded through SUPERSET_CONFIG_PATH.

Everything instance-specific comes from the environment (``pilotage.superset_admin.superset_env``
sets it for the demo and the tests):

- ``SUPERSET_SECRET_KEY`` (required). In production (``PILOTAGE_ENV=production``) Superset refuses
  to start when it or ``SUPERSET_ADMIN_PASSWORD`` is missing or weak. In demo mode, when unset, the
  local secrets generated once by ``pilotage.superset_admin.ensure_demo_secrets`` in
  ``$SUPERSET_HOME/.demo-secrets.env`` are used. No secret is ever committed.
- ``SUPERSET_HOME`` (default ``<project>/data/superset_home``), ``SUPERSET_METADATA_URI`` (default
  SQLite in SUPERSET_HOME; Postgres in production), ``REDIS_URL`` (production cache and Celery).

The company's name, logo and colours live in ``branding.yaml`` beside this file; the language
in ``PILOTAGE_LANGUAGE``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import logging
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import yaml

_HERE = Path(__file__).resolve().parent
_PROJECT_ROOT = _HERE.parent
PRODUCTION = os.environ.get("PILOTAGE_ENV", "demo").strip().lower() == "production"


class PilotageConfigError(RuntimeError):
    """Superset must not start with this configuration."""


# --------------------------------------------------------------------------------------------
# Home, metadata database, secrets
# --------------------------------------------------------------------------------------------
def _default_home() -> Path:
    data_dir = os.environ.get("PILOTAGE_DATA_DIR")
    base = Path(data_dir).expanduser() if data_dir else _PROJECT_ROOT / "data"
    return base / "superset_home"


SUPERSET_HOME = Path(os.environ.get("SUPERSET_HOME") or _default_home()).expanduser().resolve()
DATA_DIR = str(SUPERSET_HOME)
DEMO_SECRETS_FILE = SUPERSET_HOME / ".demo-secrets.env"

_WEAK_VALUES = {
    "",
    "admin",
    "password",
    "changeme",
    "change_me",
    "secret",
    "superset",
    "thisismysecretkey",
    "test_secret_key",
    "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
}


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def _secret(name: str) -> str:
    """An env var, else (demo mode only) the locally generated demo secret."""
    value = os.environ.get(name, "")
    if not value and not PRODUCTION:
        value = _read_env_file(DEMO_SECRETS_FILE).get(name, "")
    return value


_CHARACTER_CLASSES = {
    "lower-case letters": str.islower,
    "upper-case letters": str.isupper,
    "digits": str.isdigit,
    "symbols": lambda c: not c.isalnum(),
}


def _weakness(name: str, value: str, min_length: int) -> str | None:
    """Why ``value`` is not a strong secret, or None. Length alone is not enough: 32 times the
    same character is 32 characters. A value at least twice the minimum length (a generated
    token, a long passphrase) only needs enough distinct characters; a shorter one must also mix
    3 of lower case, upper case, digits and symbols."""
    if not value:
        return f"{name} is not set"
    if value in _WEAK_VALUES or value.lower() in _WEAK_VALUES:
        return f"{name} is a well-known default value"
    if len(value) < min_length:
        return f"{name} is {len(value)} characters long (need at least {min_length})"
    distinct = len(set(value))
    if distinct < min_length // 2:
        return f"{name} has only {distinct} distinct characters (need at least {min_length // 2})"
    classes = [kind for kind, test in _CHARACTER_CLASSES.items() if any(map(test, value))]
    if len(classes) < 3 and len(value) < 2 * min_length:
        return (
            f"{name} mixes only {' and '.join(classes)} (mix at least 3 of lower case, upper "
            f"case, digits and symbols, or use at least {2 * min_length} characters)"
        )
    return None


SECRET_KEY = _secret("SUPERSET_SECRET_KEY")
if PRODUCTION:
    _problems = [
        problem
        for problem in (
            _weakness("SUPERSET_SECRET_KEY", SECRET_KEY, 32),
            _weakness("SUPERSET_ADMIN_PASSWORD", os.environ.get("SUPERSET_ADMIN_PASSWORD", ""), 12),
        )
        if problem
    ]
    if _problems:
        raise PilotageConfigError(
            "pilotage refuses to start Superset in production (PILOTAGE_ENV=production): "
            + "; ".join(_problems)
            + ". Generate strong values with "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"` (secret key) and '
            '`python -c "import secrets; print(secrets.token_urlsafe(24))"` (admin password) '
            "and set them in the environment (see .env.example); they are never committed."
        )
elif not SECRET_KEY:
    raise PilotageConfigError(
        "SUPERSET_SECRET_KEY is not set and no demo secrets exist in "
        f"{DEMO_SECRETS_FILE}: start Superset through `pilotage` (which generates local demo "
        "secrets), or set SUPERSET_SECRET_KEY."
    )

# Rotating the key (docs/operations.md): the old one in SUPERSET_PREVIOUS_SECRET_KEY while
# `superset re-encrypt-secrets` re-encrypts the secrets stored in the metadata with the new one.
PREVIOUS_SECRET_KEY = os.environ.get("SUPERSET_PREVIOUS_SECRET_KEY") or None

# Guest tokens are not used (no embedding), but never leave the public default in place.
GUEST_TOKEN_JWT_SECRET = SECRET_KEY

SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_METADATA_URI") or (
    f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false"
)

# --------------------------------------------------------------------------------------------
# Branding: company colours from branding.yaml -> theme tokens and default colour scheme
# --------------------------------------------------------------------------------------------
BRANDING = yaml.safe_load((_HERE / "branding.yaml").read_text(encoding="utf-8"))
_colors = BRANDING["colors"]


def _logo_data_url(name: str) -> str:
    """The company's logo as a data: URL: nothing to copy into Superset's static folder, and the
    Content-Security-Policy already allows data: images."""
    path = _HERE / name
    kind = {".svg": "image/svg+xml", ".png": "image/png"}.get(path.suffix.lower())
    if kind is None or not path.is_file():
        raise PilotageConfigError(
            f"branding.yaml: logo {name!r} must be an .svg or .png file beside branding.yaml"
        )
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


APP_NAME = BRANDING["app_name"]
LOGO_URL = _logo_data_url(BRANDING["logo"])
APP_ICON = LOGO_URL  # the navbar's brand (menu data), beside the theme's brandLogoUrl
FAVICONS = [{"href": LOGO_URL}]
_TOKENS = {
    "brandAppName": BRANDING["app_name"],
    "brandLogoAlt": BRANDING["app_name"],
    "brandLogoUrl": LOGO_URL,
    "brandLogoMargin": "14px 0",
    "brandLogoHref": "/dashboard/list/",
    "brandLogoHeight": "32px",
    "brandSpinnerUrl": None,
    "brandSpinnerSvg": None,
    "colorPrimary": _colors["primary"],
    "colorLink": _colors["primary"],
    "colorSuccess": _colors["success"],
    "colorWarning": _colors["warning"],
    "colorError": _colors["error"],
    "colorInfo": _colors["info"],
    "fontUrls": [],
    "fontFamily": BRANDING["font_family"],
    "fontFamilyCode": "'IBM Plex Mono', 'Courier New', monospace",
    "transitionTiming": 0.3,
    "brandIconMaxWidth": 37,
    "fontSizeXS": "8",
    "fontSizeXXL": "28",
    "fontWeightNormal": "400",
    "fontWeightLight": "300",
    "fontWeightStrong": "500",
    "fontWeightBold": "700",
    "colorEditorSelection": "#fff5cf",
}
THEME_DEFAULT = {
    "token": _TOKENS,
    "algorithm": "default",
    "echartsOptionsOverrides": {"color": list(BRANDING["palette"])},
}
# One theme for everyone (no OS-driven dark switch): dashboards always wear the company colours.
THEME_DARK = None
EXTRA_CATEGORICAL_COLOR_SCHEMES = [
    {
        "id": BRANDING["color_scheme_id"],
        "label": BRANDING["color_scheme_label"],
        "description": "Company colours (superset/branding.yaml)",
        "isDefault": True,
        "colors": list(BRANDING["palette"]),
    }
]

# --------------------------------------------------------------------------------------------
# Language: PILOTAGE_LANGUAGE (en or fr, pilotage/settings.py) is everyone's default; the language
# menu offers both (Superset ships the French translations).
# --------------------------------------------------------------------------------------------
LANGUAGES = {
    "en": {"flag": "us", "name": "English"},
    "fr": {"flag": "fr", "name": "Français"},
}
BABEL_DEFAULT_LOCALE = os.environ.get("PILOTAGE_LANGUAGE", "en").strip().lower() or "en"
if BABEL_DEFAULT_LOCALE not in LANGUAGES:
    raise PilotageConfigError(f"PILOTAGE_LANGUAGE={BABEL_DEFAULT_LOCALE!r}: use en or fr")
# Superset 6.1's French pack mistranslates the time ranges the dashboards open on ("Current
# month" reads "Format d'e-mail"): corrected in the pack the browser loads.
TRANSLATION_FIXES = {
    "fr": {
        "Current day": "Aujourd'hui",
        "Current week": "Semaine en cours",
        "Current month": "Mois en cours",
        "Current quarter": "Trimestre en cours",
        "Current year": "Année en cours",
    }
}


def _language_pack(language: str) -> dict:
    from superset.translations.utils import get_language_pack

    pack = get_language_pack(language)  # cached by Superset: patched once
    messages = pack["locale_data"]["superset"]
    messages.update({en: [fixed] for en, fixed in TRANSLATION_FIXES.get(language, {}).items()})
    return pack


# --------------------------------------------------------------------------------------------
# Each role at home: after login (and on Superset's home page) a business user lands on their
# role's dashboard (superset/roles.yaml); admins keep Superset's home.
# --------------------------------------------------------------------------------------------
LANDING_DASHBOARDS = {
    role: spec["landing"]
    for role, spec in yaml.safe_load((_HERE / "roles.yaml").read_text(encoding="utf-8"))[
        "roles"
    ].items()
}
_HOME_PATHS = ("/", "/superset/welcome/")

# --------------------------------------------------------------------------------------------
# Wallboards: /wallboard/<slug>/ shows any dashboard as a kiosk (no menu, title or filter bar:
# its filters' defaults apply). Each dashboard's refresh_frequency re-draws it through the
# chart cache ("fetch"): a TV costs no query, and each publish expires the cached results
# (dagster_project/superset.py), so the next tick shows the new data.
# Superset's own "standalone=2" hides the title by not mounting the dashboard header, which
# also holds the auto-refresh timer: the kiosk keeps standalone=1 and hides the header by style.
# --------------------------------------------------------------------------------------------
DASHBOARD_AUTO_REFRESH_MODE = "fetch"
KIOSK_STYLE = (
    '<style>[data-test="dashboard-header-container"] { display: none !important; }</style>'
)


def kiosk_url(slug: str) -> str:
    return f"/superset/dashboard/{quote(slug, safe='')}/?standalone=1&show_filters=false&kiosk=1"


def FLASK_APP_MUTATOR(app) -> None:  # noqa: N802, ANN001 - Superset's hook, called with the app
    from flask import jsonify, redirect, request
    from flask_login import current_user

    @app.before_request
    def _corrected_language_pack():  # noqa: ANN202
        for language in TRANSLATION_FIXES:
            if request.path == f"/superset/language_pack/{language}/":
                return jsonify(_language_pack(language))
        return None

    @app.before_request
    def _land_on_the_role_dashboard():  # noqa: ANN202
        if request.method != "GET" or request.path not in _HOME_PATHS:
            return None
        if not current_user.is_authenticated:
            return None
        names = {role.name for role in current_user.roles}
        if "Admin" in names:
            return None
        for role, slug in LANDING_DASHBOARDS.items():
            if role in names:
                return redirect(f"/superset/dashboard/{slug}/")
        return None

    from superset.errors import ErrorLevel, SupersetError, SupersetErrorType
    from superset.exceptions import SupersetErrorException, SupersetException
    from superset.views.error_handling import json_error_response

    @app.errorhandler(SupersetException)
    def _refusals_are_json(ex: SupersetException):  # noqa: ANN202
        """Superset answers an HTML 500 page for its exceptions that carry no SupersetError, such
        as a chart's refused sub-query (QueryObjectValidationError, status 400): a client error
        answers JSON with its own status. Server errors keep Superset's catch-all handler."""
        status = getattr(ex, "status", 500)
        if 400 <= status < 500:
            cause = ex.__cause__  # e.g. the refused sub-query's own SupersetError
            error = (
                cause.error
                if isinstance(cause, SupersetErrorException)
                else SupersetError(
                    message=ex.message,
                    error_type=SupersetErrorType.GENERIC_COMMAND_ERROR,
                    level=ErrorLevel.WARNING,
                )
            )
            return json_error_response([error], status=status, payload={"message": ex.message})
        return app.error_handler_spec[None][None][Exception](ex)

    @app.route("/wallboard/<slug>/")
    def _wallboard(slug: str):  # noqa: ANN202
        return redirect(kiosk_url(slug))

    @app.after_request
    def _kiosk_hides_the_dashboard_header(response):  # noqa: ANN001, ANN202
        if (
            request.args.get("kiosk") == "1"
            and request.path.startswith("/superset/dashboard/")
            and response.mimetype == "text/html"
            and not response.direct_passthrough
        ):
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</head>", KIOSK_STYLE + "</head>", 1))
        return response


# --------------------------------------------------------------------------------------------
# Features and security
# --------------------------------------------------------------------------------------------
FEATURE_FLAGS = {
    # Row-level security clauses use {{ current_user_email() }}; only admins edit datasets.
    "ENABLE_TEMPLATE_PROCESSING": True,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
}
PREVENT_UNSAFE_DB_CONNECTIONS = True
WTF_CSRF_ENABLED = True
FAB_ADD_SECURITY_API = True
SCARF_ANALYTICS = False  # no telemetry pixel
PUBLIC_ROLE_LIKE = None  # no anonymous access
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# HTTPS semantics by default in production (TLS ends at the reverse proxy in front of Superset):
# Secure session cookie and HSTS. PILOTAGE_HTTPS=false only for a plain-HTTP lab; the demo
# serves plain HTTP on 127.0.0.1.
_HTTPS_SETTING = os.environ.get("PILOTAGE_HTTPS", "").strip().lower()
if _HTTPS_SETTING not in {"", "true", "false"}:
    raise PilotageConfigError(f"PILOTAGE_HTTPS={_HTTPS_SETTING!r}: use true or false")
HTTPS = _HTTPS_SETTING == "true" if _HTTPS_SETTING else PRODUCTION
SESSION_COOKIE_SECURE = HTTPS
# Behind the TLS-terminating proxy (docker/proxy/), trust its X-Forwarded-* headers: the scheme
# (HSTS, redirects) and the client's address, which keys the login rate limit. Only the proxy
# reaches Superset then (docker-compose.yml publishes no Superset port).
ENABLE_PROXY_FIX = HTTPS
PROXY_FIX_CONFIG = {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 1, "x_prefix": 0}

# Login rate limit (production): failed logins per client address, on the login form and on the
# API's /api/v1/security/login alike; successful logins never count. Past the limit both answer
# 429 until the window passes. The counts live in Redis (RATELIMIT_STORAGE_URI below), shared by
# every gunicorn worker. PILOTAGE_LOGIN_RATE_LIMIT uses Flask-Limiter's notation.
RATELIMIT_ENABLED = PRODUCTION
RATELIMIT_HEADERS_ENABLED = True
LOGIN_RATE_LIMIT = os.environ.get("PILOTAGE_LOGIN_RATE_LIMIT", "").strip() or "10 per minute"
AUTH_RATE_LIMITED = False  # Superset's own limit counts every POST, good logins too: ours below


def _failed_login(response) -> bool:  # noqa: ANN001 - a Flask response
    """A refused login: the API's 401 (or 400), the form's redirect back to the login page."""
    if response.status_code in (400, 401):
        return True
    return response.status_code in (302, 303) and "/login" in (response.location or "")


def _security_manager_class():  # noqa: ANN202 - imported lazily: Superset imports this file
    from flask import current_app
    from flask_appbuilder.security.api import SecurityApi
    from superset.security import SupersetSecurityManager

    class PilotageSecurityManager(SupersetSecurityManager):
        """Superset's security manager with the login rate limit of LOGIN_RATE_LIMIT on both
        login endpoints (Superset limits only the form, and counts good logins too)."""

        def register_views(self) -> None:
            super().register_views()
            if not current_app.config.get("RATELIMIT_ENABLED"):
                return
            login_views = [self.auth_view] + [
                view for view in self.appbuilder.baseviews if isinstance(view, SecurityApi)
            ]
            # One count for both doors: the API is no way around the form's limit.
            limit = self.limiter.shared_limit(
                current_app.config["LOGIN_RATE_LIMIT"],
                scope="pilotage_login",
                methods=["POST"],
                deduct_when=_failed_login,
                error_message="Too many failed logins from this address: wait and retry.",
            )
            for view in login_views:
                if getattr(view, "blueprint", None) is not None:
                    limit(view.blueprint)

    return PilotageSecurityManager


# Outside Superset's environment (a config check) there is no Superset to extend.
CUSTOM_SECURITY_MANAGER = (
    _security_manager_class() if importlib.util.find_spec("superset") is not None else None
)

# A strict Content-Security-Policy: this deployment loads nothing from third parties.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    # The proxy redirects http to https; Talisman sends HSTS on requests that arrived over HTTPS
    # (X-Forwarded-Proto: https from the proxy).
    "force_https": False,
    "strict_transport_security": HTTPS,
    "strict_transport_security_max_age": int(timedelta(days=365).total_seconds()),
    "session_cookie_secure": SESSION_COOKIE_SECURE,
}

# DuckDB file and extension functions. The connection itself is sandboxed (read_only,
# enable_external_access=false, lock_configuration=true, see assets/databases/), this is the
# second line of defence: SQL Lab and charts refuse queries that name these functions.
_DUCKDB_DISALLOWED = {
    "read_csv",
    "read_csv_auto",
    "sniff_csv",
    "read_parquet",
    "parquet_scan",
    "parquet_metadata",
    "parquet_schema",
    "parquet_file_metadata",
    "parquet_kv_metadata",
    "read_json",
    "read_json_auto",
    "read_json_objects",
    "read_json_objects_auto",
    "read_ndjson",
    "read_ndjson_auto",
    "read_ndjson_objects",
    "read_text",
    "read_blob",
    "read_xlsx",
    "st_read",
    "glob",
    "install",
    "load",
    "getenv",
    "current_setting",
    "duckdb_settings",
    "duckdb_secrets",
    "duckdb_extensions",
    "duckdb_databases",
    "which_secret",
    "delta_scan",
    "iceberg_scan",
    "sqlite_scan",
    "postgres_scan",
    "mysql_scan",
    "query_table",
}
try:  # keep Superset's own per-engine lists (postgresql, mysql, sqlite, ...)
    from superset.config import DISALLOWED_SQL_FUNCTIONS as _DEFAULT_DISALLOWED
except ImportError:  # pragma: no cover - only when loaded outside Superset
    _DEFAULT_DISALLOWED = {}
DISALLOWED_SQL_FUNCTIONS = {**_DEFAULT_DISALLOWED, "duckdb": _DUCKDB_DISALLOWED}


def _disallowed_functions_in(sql: str, engine: str, disallowed: set[str]) -> list[str]:
    """The functions of ``disallowed`` that ``sql`` calls, parsed as Superset's SQL Lab does."""
    from superset.sql.parse import SQLScript

    script = SQLScript(sql, engine)
    if not script.check_functions_present(disallowed):
        return []
    return sorted(name for name in disallowed if script.check_functions_present({name}))


def SQL_QUERY_MUTATOR(sql: str, **kwargs) -> str:  # noqa: N802, ANN003 - Superset's hook
    """The ban list on every SQL path, not only SQL Lab's: Superset (6.1) checks
    DISALLOWED_SQL_FUNCTIONS in SQL Lab alone, while this hook sees the SQL of every chart query
    (ad-hoc metrics, columns, custom SQL filters), filter values, samples and drill to detail just
    before it runs. A query that calls a banned function is refused with a JSON 403 naming it."""
    from flask import current_app
    from superset.errors import ErrorLevel, SupersetError, SupersetErrorType
    from superset.exceptions import SupersetParseError, SupersetSecurityException

    database = kwargs.get("database")
    engine = database.db_engine_spec.engine if database is not None else ""
    disallowed = current_app.config["DISALLOWED_SQL_FUNCTIONS"].get(engine, set())
    if not disallowed:
        return sql
    try:
        found = _disallowed_functions_in(sql, engine, disallowed)
    except SupersetParseError as exc:  # what cannot be checked does not run
        found, reason = [], f"it cannot be parsed to check its functions ({exc.message})"
    else:
        reason = f"it calls {', '.join(found)}" if found else ""
    if reason:
        raise SupersetSecurityException(
            SupersetError(
                message=(
                    f"This query is refused: {reason}. File, setting and extension functions "
                    "are disallowed on this database (DISALLOWED_SQL_FUNCTIONS)."
                ),
                error_type=SupersetErrorType.QUERY_SECURITY_ACCESS_ERROR,
                level=ErrorLevel.ERROR,
                extra={"disallowed_functions": found},
            )
        )
    return sql


# SQL Lab is for admins only (no role but Admin gets sql_lab); no CTAS/CVAS, no uploads.
SQLLAB_CTAS_NO_LIMIT = False
SQL_MAX_ROW = 100000

LOG_LEVEL = logging.INFO
SUPERSET_LOG_VIEW = True

# --------------------------------------------------------------------------------------------
# Caches and workers: Redis in production (REDIS_URL), in-process/metastore otherwise
# --------------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# The serving file is swapped after each refresh: keep chart results for minutes, not days.
_DATA_TIMEOUT = int(os.environ.get("PILOTAGE_DATA_CACHE_SECONDS", "300"))

if REDIS_URL:

    def _redis_cache(prefix: str, timeout: int) -> dict:
        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_DEFAULT_TIMEOUT": timeout,
            "CACHE_KEY_PREFIX": f"pilotage_{prefix}_",
            "CACHE_REDIS_URL": REDIS_URL,
        }

    CACHE_CONFIG = _redis_cache("cache", int(timedelta(days=1).total_seconds()))
    DATA_CACHE_CONFIG = _redis_cache("data", _DATA_TIMEOUT)
    FILTER_STATE_CACHE_CONFIG = _redis_cache("filter", int(timedelta(days=90).total_seconds()))
    EXPLORE_FORM_DATA_CACHE_CONFIG = _redis_cache("explore", int(timedelta(days=7).total_seconds()))
    RATELIMIT_STORAGE_URI = REDIS_URL
    # Counts of this deployment only (one metadata database), when several share a Redis server.
    RATELIMIT_KEY_PREFIX = (
        "pilotage_" + hashlib.sha256(SQLALCHEMY_DATABASE_URI.encode()).hexdigest()[:12]
    )

    # SQL Lab's asynchronous results (a database with "Asynchronous query execution" on).
    from cachelib.redis import RedisCache
    from redis import Redis

    RESULTS_BACKEND = RedisCache(
        host=Redis.from_url(REDIS_URL),
        key_prefix="pilotage_results_",
        default_timeout=int(timedelta(days=1).total_seconds()),
    )

    # Celery: the broker and the task results on Redis. The same class configures the web
    # server (which sends tasks), `celery worker` (runs them) and `celery beat` (schedules the
    # periodic ones): docker-compose.yml's superset-worker and superset-beat, and
    # `pilotage production up`. Superset's own defaults otherwise (superset/config.py).
    from celery.schedules import crontab

    class CeleryConfig:
        broker_url = REDIS_URL
        result_backend = REDIS_URL
        imports = (
            "superset.sql_lab",
            "superset.tasks.scheduler",
            "superset.tasks.cache",
            "superset.tasks.thumbnails",
        )
        worker_prefetch_multiplier = 1
        task_acks_late = False
        # Redis not up yet when the worker starts: retry the connection rather than exit.
        broker_connection_retry_on_startup = True
        task_annotations = {"sql_lab.get_sql_results": {"rate_limit": "100/s"}}
        beat_schedule = {
            # Alerts and reports (a no-op while the ALERT_REPORTS feature flag is off).
            "reports.scheduler": {
                "task": "reports.scheduler",
                "schedule": crontab(minute="*", hour="*"),
                "options": {"expires": int(timedelta(weeks=1).total_seconds())},
            },
            "reports.prune_log": {
                "task": "reports.prune_log",
                "schedule": crontab(minute=0, hour=0),
            },
        }

    CELERY_CONFIG = CeleryConfig
else:
    CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
    DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": _DATA_TIMEOUT}
    # FILTER_STATE / EXPLORE_FORM_DATA keep Superset's default SupersetMetastoreCache.
    CELERY_CONFIG = None
