"""Set up Superset for pilotage. Runs INSIDE the Superset environment (.venv-superset).

Started by ``pilotage.superset_admin.bootstrap`` with the environment of ``superset_env``; can also
be run by hand: ``SUPERSET_CONFIG_PATH=superset/superset_config.py .venv-superset/bin/python
superset/bootstrap.py``. Idempotent; every step updates in place:

1. migrate the metadata database (``superset db upgrade``);
2. sync built-in roles and permissions (``superset init``);
3. create or update the admin (SUPERSET_ADMIN_USERNAME / SUPERSET_ADMIN_PASSWORD);
4. import the dashboards-as-code bundle (superset/assets, DuckDB path rendered, KPI labels and
   descriptions, chart, dashboard and filter titles in the dashboards' language, "Current month"
   as the as-of month) with overwrite,
   the same command as ``superset import-dashboards -p bundle.zip -u admin``;
5. the business roles and their row-level security rules, from superset/roles.yaml.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ASSETS_DIR = HERE / "assets"
BUNDLE_ROOT = "pilotage_assets"  # the importer wants exactly one top-level folder in the ZIP
SERVING_PLACEHOLDER = "${PILOTAGE_SERVING_PATH}"
DATABASE_NAME = "pilotage_serving"
# In SUPERSET_HOME: the KPI metrics' labels and descriptions in the dashboards' language
# (pilotage.superset_admin writes it from the KPI catalogue).
KPI_TEXTS_FILE = "kpi_texts.json"
# <language>.yaml: the chart, dashboard and native filter titles in a language other than the
# tree's own English, by UUID.
TRANSLATIONS_DIR = HERE / "translations"
# A time filter default Superset computes from its clock (see as_of_month_range).
CURRENT_MONTH = "Current month"

ROLES_FILE = HERE / "roles.yaml"
RLS_GROUP = "pilotage_scope"  # same group key: a rep's and a manager's rules are OR'ed
# $ME in a roles.yaml clause: the logged-in user's e-mail, Jinja-rendered by Superset
# (ENABLE_TEMPLATE_PROCESSING) as a SQL string literal with quotes doubled (no injection).
_ME = "'{{ (current_user_email() or '') | replace(\"'\", \"''\") }}'"
# What business users do not get from Gamma: SQL Lab, and the builder menus and rights (Charts,
# Datasets, the "+" menu, uploads). They read dashboards; drill-to-detail and exports stay.
SQL_LAB_VIEWS = ("SQLLab", "SQL Lab", "Query", "SavedQuery")
BUILDER_MENUS = ("Charts", "Datasets", "Data", "Tags", "Upload a CSV", "Upload a Columnar file")
BUILDER_MODELS = ("Chart", "Dashboard", "Dataset", "Database", "Tag")
WRITE_PERMISSIONS = ("can_write", "can_add", "can_edit", "can_delete", "muldelete")
DENY_ALL_RULE = "pilotage: deny by default"

_started = time.monotonic()


def log(message: str) -> None:
    print(f"[superset bootstrap {time.monotonic() - _started:5.1f}s] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[superset bootstrap] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def serving_path() -> Path:
    value = os.environ.get("PILOTAGE_SERVING_PATH", "")
    if not value:
        fail("PILOTAGE_SERVING_PATH is not set: it must name the published serving DuckDB file.")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        fail(f"No serving file at {path}: run the pipeline (pilotage refresh) first.")
    return path


def postgres_serving_uri() -> str | None:
    """On the postgres engine (PILOTAGE_WAREHOUSE_ENGINE=postgres), the SQLAlchemy URI of the
    serving database as the read-only user (pilotage.settings passes every PILOTAGE_PG_*
    variable); None on DuckDB."""
    engine = os.environ.get("PILOTAGE_WAREHOUSE_ENGINE", "duckdb").strip().lower() or "duckdb"
    if engine != "postgres":
        return None
    from sqlalchemy.engine.url import URL

    names = ("HOST", "PORT", "READER_USER", "SERVING_DATABASE")
    missing = [f"PILOTAGE_PG_{n}" for n in names if not os.environ.get(f"PILOTAGE_PG_{n}")]
    if missing:
        fail(f"PILOTAGE_WAREHOUSE_ENGINE=postgres but {', '.join(missing)} not set.")
    return URL.create(
        "postgresql+psycopg2",
        username=os.environ["PILOTAGE_PG_READER_USER"],
        password=os.environ.get("PILOTAGE_PG_READER_PASSWORD") or None,
        host=os.environ["PILOTAGE_PG_HOST"],
        port=int(os.environ["PILOTAGE_PG_PORT"]),
        database=os.environ["PILOTAGE_PG_SERVING_DATABASE"],
    ).render_as_string(hide_password=False)


def _postgres_database(text: str, uri: str) -> str:
    """The serving database entry pointed at PostgreSQL: same name and UUID (the datasets keep
    their database), the read-only user's URI, and PostgreSQL's connection arguments instead of
    DuckDB's sandbox (the user can only SELECT the served views, in read-only transactions)."""
    database = yaml.safe_load(text)
    database["sqlalchemy_uri"] = uri
    database["extra"]["engine_params"] = {
        "connect_args": {
            "application_name": "superset",
            "options": "-c default_transaction_read_only=on",
        }
    }
    return yaml.safe_dump(database, sort_keys=False)


def kpi_texts() -> dict[str, dict[str, str]]:
    """The KPI metrics' label and description in the dashboards' language (metric name ->
    {verbose_name, description}), written by ``pilotage.superset_admin.bootstrap`` from the KPI
    catalogue (dbt/kpis.yml) into SUPERSET_HOME; none when this script is run by hand without it
    (the assets' own English texts stay)."""
    path = Path(os.environ.get("SUPERSET_HOME", ".")) / KPI_TEXTS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def translations(language: str | None) -> dict:
    """superset/translations/<language>.yaml (dashboards and charts by UUID); none for the
    tree's own English."""
    path = TRANSLATIONS_DIR / f"{language}.yaml"
    if not language or language == "en" or not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _with_kpi_texts(text: str, texts: dict[str, dict[str, str]]) -> str:
    dataset = yaml.safe_load(text)
    for metric in dataset.get("metrics") or []:
        metric.update(texts.get(metric["metric_name"], {}))
    return yaml.safe_dump(dataset, sort_keys=False, allow_unicode=True)


def _translated_chart(text: str, charts: dict) -> str:
    chart = yaml.safe_load(text)
    entry = charts.get(chart["uuid"]) or {}
    chart["slice_name"] = entry.get("title", chart["slice_name"])
    chart["description"] = entry.get("description", chart.get("description"))
    return yaml.safe_dump(chart, sort_keys=False, allow_unicode=True)


def _translated_dashboard(text: str, translated: dict) -> str:
    """The dashboard's title (and its header), its sections' titles, its charts' names in the
    layout and its native filters' names and descriptions, from the translation file."""
    dashboard = yaml.safe_load(text)
    entry = (translated.get("dashboards") or {}).get(dashboard["uuid"]) or {}
    charts = translated.get("charts") or {}
    english = dashboard["dashboard_title"]
    dashboard["dashboard_title"] = entry.get("title", english)
    for node in (dashboard.get("position") or {}).values():
        if not isinstance(node, dict):
            continue
        meta = node.get("meta") or {}
        if node.get("type") == "HEADER" and meta.get("text") == english:
            meta["text"] = dashboard["dashboard_title"]
        elif node.get("type") == "HEADER" and node.get("id") in (entry.get("headers") or {}):
            meta["text"] = entry["headers"][node["id"]]  # a section's title
        if node.get("type") == "CHART" and meta.get("uuid") in charts:
            meta["sliceName"] = charts[meta["uuid"]]["title"]
    filters = entry.get("native_filters") or {}
    for native in (dashboard.get("metadata") or {}).get("native_filter_configuration") or []:
        native.update(filters.get(native["id"], {}))
    return yaml.safe_dump(dashboard, sort_keys=False, allow_unicode=True)


def as_of_month_range(as_of: dt.date | None, today: dt.date) -> str | None:
    """The dashboards' "Current month" when the data is as of another month than the server's
    (PILOTAGE_AS_OF pinned in the past, a replay, the tests): that month as Superset's explicit
    range. Superset computes "Current month" from its own clock; pilotage's today is a setting."""
    if as_of is None or (as_of.year, as_of.month) == (today.year, today.month):
        return None
    start = as_of.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return f"{start.isoformat()} : {end.isoformat()}"


def _with_period(text: str, month_range: str) -> str:
    dashboard = yaml.safe_load(text)
    for native in (dashboard.get("metadata") or {}).get("native_filter_configuration") or []:
        mask = native.get("defaultDataMask") or {}
        if (mask.get("filterState") or {}).get("value") == CURRENT_MONTH:
            mask["filterState"]["value"] = month_range
            mask.setdefault("extraFormData", {})["time_range"] = month_range
    return yaml.safe_dump(dashboard, sort_keys=False, allow_unicode=True)


def pilotage_as_of() -> dt.date | None:
    value = os.environ.get("PILOTAGE_AS_OF", "").strip()
    return dt.date.fromisoformat(value) if value else None


def build_bundle(
    serving: Path | None,
    texts: dict[str, dict[str, str]] | None = None,
    month_range: str | None = None,
    translated: dict | None = None,
    postgres_uri: str | None = None,
) -> bytes:
    """The assets tree as an in-memory ZIP with one top-level folder, the DuckDB path set (or,
    with ``postgres_uri``, the serving database entry pointed at PostgreSQL), the
    KPI metrics labelled and described in the dashboards' language (``texts``: metric name ->
    {verbose_name, description}), the charts, dashboards and native filters titled from
    ``translated`` (``translations(language)``) and the "Current month" filter defaults set to
    ``month_range`` (``as_of_month_range``) if given."""
    if not (ASSETS_DIR / "metadata.yaml").is_file():
        fail(f"{ASSETS_DIR / 'metadata.yaml'} is missing: the assets tree is incomplete.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(ASSETS_DIR.rglob("*.yaml")):
            relative = path.relative_to(ASSETS_DIR).as_posix()
            text = path.read_text(encoding="utf-8")
            if relative.startswith("databases/") and postgres_uri:
                text = _postgres_database(text, postgres_uri)
            elif relative.startswith("databases/"):
                text = text.replace(SERVING_PLACEHOLDER, str(serving))
            if relative.startswith("datasets/") and texts:
                text = _with_kpi_texts(text, texts)
            if relative.startswith("charts/") and translated:
                text = _translated_chart(text, translated.get("charts") or {})
            if relative.startswith("dashboards/") and translated:
                text = _translated_dashboard(text, translated)
            if relative.startswith("dashboards/") and month_range:
                text = _with_period(text, month_range)
            bundle.writestr(f"{BUNDLE_ROOT}/{relative}", text)
    return buffer.getvalue()


def ensure_admin(security_manager, db):  # noqa: ANN001, ANN201 - Superset objects
    username = os.environ.get("SUPERSET_ADMIN_USERNAME") or "admin"
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
    if not password:
        fail("SUPERSET_ADMIN_PASSWORD is not set (pilotage generates one in demo mode).")
    email = os.environ.get("SUPERSET_ADMIN_EMAIL") or f"{username}@pilotage.invalid"
    admin_role = security_manager.find_role("Admin")
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(username, "pilotage", "admin", email, admin_role, password)
        if not user:
            fail(f"could not create the admin user {username!r} (see the log above).")
        log(f"created admin user {username!r}")
    else:
        security_manager.reset_password(user.id, password)
        if admin_role not in user.roles:
            user.roles.append(admin_role)
        user.active = True
        log(f"updated admin user {username!r}")
    db.session.commit()
    return security_manager.find_user(username=username)


def import_bundle(bundle: bytes, admin) -> None:  # noqa: ANN001
    """Import every object of the bundle with overwrite. ImportDashboardsCommand (`superset
    import-dashboards`) overwrites the dashboards only: a dataset or chart already in the metadata
    database is kept as it was (its columns, labels, titles), so a changed YAML would reach a new
    Superset only. ImportAssetsCommand (Superset's import for assets under source control)
    overwrites databases, datasets, charts and dashboards, matched by UUID; it wants the bundle's
    metadata of type `assets`."""
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.commands.importers.v1.utils import get_contents_from_bundle
    from superset.utils.core import override_user

    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        contents = get_contents_from_bundle(archive)
    metadata = yaml.safe_load(contents["metadata.yaml"])
    contents["metadata.yaml"] = yaml.safe_dump({**metadata, "type": "assets"}, sort_keys=False)
    with override_user(admin):
        ImportAssetsCommand(contents).run()


def reset_reordered_columns(db, bundle: bytes) -> None:  # noqa: ANN001
    """Drop the columns of a dataset whose column order changed in its YAML, so the import
    recreates them in the new order. Superset lists a dataset's columns in their database order
    (drill-to-detail shows them so and sorts on the first), and an import updates existing
    columns in place. Charts name columns, never their ids: nothing else refers to them."""
    from superset.connectors.sqla.models import SqlaTable

    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        wanted = {
            config["uuid"]: [c["column_name"] for c in config.get("columns") or []]
            for config in (
                yaml.safe_load(archive.read(name))
                for name in archive.namelist()
                if name.startswith(f"{BUNDLE_ROOT}/datasets/")
            )
        }
    for table in db.session.query(SqlaTable).filter(SqlaTable.uuid.in_(list(wanted))):
        current = [c.column_name for c in sorted(table.columns, key=lambda c: c.id)]
        names = wanted[str(table.uuid)]
        if [n for n in current if n in names] != [n for n in names if n in current]:
            for column in list(table.columns):
                db.session.delete(column)
            log(f"dataset {table.table_name}: columns re-created in the YAML's order")
    db.session.commit()


def pilotage_datasets(db):  # noqa: ANN001, ANN201
    from superset.connectors.sqla.models import SqlaTable
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one_or_none()
    if database is None:
        fail(f"database {DATABASE_NAME!r} missing after the import.")
    return {t.table_name: t for t in db.session.query(SqlaTable).filter_by(database_id=database.id)}


def load_roles() -> dict:
    """superset/roles.yaml: the business roles (landing dashboard), their row-level security
    clauses per dataset ($ME rendered) and the datasets public to every business role."""
    config = yaml.safe_load(ROLES_FILE.read_text(encoding="utf-8"))
    roles = config.get("roles") or {}
    rules = config.get("row_level_security") or {}
    unknown = sorted({role for clauses in rules.values() for role in clauses} - set(roles))
    if not roles or unknown:
        fail(f"{ROLES_FILE}: rules for roles not declared under `roles`: {unknown or 'no roles'}")
    return {
        "roles": roles,
        "rules": {
            dataset: {role: clause.replace("$ME", _ME) for role, clause in clauses.items()}
            for dataset, clauses in rules.items()
        },
        "public": list(config.get("public") or []),
    }


def _reads_dashboards_only(pvm) -> bool:  # noqa: ANN001
    """A Gamma permission a business role keeps: no SQL Lab, no builder menu or right."""
    view, permission = pvm.view_menu.name, pvm.permission.name
    if view in SQL_LAB_VIEWS or "sql" in permission.lower():
        return False
    if permission == "menu_access" and view in BUILDER_MENUS:
        return False
    if "upload" in permission.lower():
        return False
    return not (permission in WRITE_PERMISSIONS and view in BUILDER_MODELS)


def sync_roles(security_manager, db, datasets, config) -> dict:  # noqa: ANN001
    """Business roles = Gamma's reading permissions + read access to the pilotage datasets."""
    gamma = security_manager.find_role("Gamma")
    if gamma is None:
        fail("role Gamma missing: `superset init` did not run.")
    base = [pvm for pvm in gamma.permissions if _reads_dashboards_only(pvm)]
    dataset_pvms = []
    for table in datasets.values():
        pvm = security_manager.add_permission_view_menu("datasource_access", table.perm)
        dataset_pvms.append(pvm)
    roles = {}
    for name in config["roles"]:
        role = security_manager.find_role(name) or security_manager.add_role(name)
        role.permissions = list(dict.fromkeys(base + dataset_pvms))
        roles[name] = role
    db.session.commit()
    log(
        f"roles {', '.join(roles)}: {len(base)} of Gamma's {len(gamma.permissions)} permissions "
        f"(no SQL Lab, no builder menus) + {len(dataset_pvms)} datasets"
    )
    return roles


def sync_rls(security_manager, db, datasets, roles, config) -> None:  # noqa: ANN001
    from superset.connectors.sqla.models import RowLevelSecurityFilter

    def upsert(name, filter_type, tables, rule_roles, clause, group_key, description):  # noqa: ANN001
        rule = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
        if rule is None:
            rule = RowLevelSecurityFilter(name=name)
            db.session.add(rule)
        rule.filter_type = filter_type
        rule.tables = tables
        rule.roles = rule_roles
        rule.clause = clause
        rule.group_key = group_key
        rule.description = description

    rules, public = config["rules"], config["public"]
    missing = sorted({*rules, *public} - set(datasets))
    if missing:
        fail(f"datasets {missing} missing after the import: check superset/assets/datasets.")
    admin = security_manager.find_role("Admin")
    # Base rule: everyone except these roles sees nothing (Gamma, Alpha, future roles...).
    upsert(
        DENY_ALL_RULE,
        "Base",
        [datasets[name] for name in (*rules, *public)],
        [admin, *roles.values()],
        "1 = 0",
        None,
        f"Deny by default: only Admin and {', '.join(roles)} see pilotage data.",
    )
    names = {DENY_ALL_RULE}
    for dataset, clauses in rules.items():
        for role, clause in clauses.items():
            names.add(f"pilotage: {role.lower()} rows ({dataset})")
            upsert(
                f"pilotage: {role.lower()} rows ({dataset})",
                "Regular",
                [datasets[dataset]],
                [roles[role]],
                clause,
                RLS_GROUP,
                f"What a {role} sees (superset/roles.yaml).",
            )
    # a rule taken out of roles.yaml (or renamed) stops applying
    for stale in db.session.query(RowLevelSecurityFilter).filter(
        RowLevelSecurityFilter.name.like("pilotage: %"), RowLevelSecurityFilter.name.notin_(names)
    ):
        db.session.delete(stale)
    db.session.commit()
    log(f"row-level security on {', '.join(rules)} (Base deny-by-default + superset/roles.yaml)")


def main() -> None:
    postgres_uri = postgres_serving_uri()
    serving = None if postgres_uri else serving_path()
    if postgres_uri:
        log(f"serving database {postgres_uri.rsplit('@', 1)[-1]} (PostgreSQL, read-only user)")
    else:
        log(f"serving file {serving}")
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask_migrate import upgrade
        from superset.extensions import db

        from superset import appbuilder, security_manager

        log("migrating the metadata database (superset db upgrade)")
        upgrade()
        log("syncing roles and permissions (superset init)")
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        db.session.commit()

        admin = ensure_admin(security_manager, db)
        log(f"importing dashboards as code from {ASSETS_DIR}")
        try:
            month_range = as_of_month_range(pilotage_as_of(), dt.date.today())
            if month_range:
                log(f"the data is as of another month: 'Current month' opens on {month_range}")
            language = os.environ.get("PILOTAGE_LANGUAGE", "en").strip().lower()
            translated = translations(language)
            if translated:
                log(f"titles in {language!r} from {TRANSLATIONS_DIR / (language + '.yaml')}")
            bundle = build_bundle(serving, kpi_texts(), month_range, translated, postgres_uri)
            reset_reordered_columns(db, bundle)
            import_bundle(bundle, admin)
        except Exception as exc:  # the importer's own messages are terse: add where and what
            messages = getattr(exc, "normalized_messages", lambda: None)()
            fail(f"importing {ASSETS_DIR} failed: {exc!r} {messages or ''}")
        db.session.commit()
        datasets = pilotage_datasets(db)
        log(f"imported datasets: {', '.join(sorted(datasets))}")
        config = load_roles()
        roles = sync_roles(security_manager, db, datasets, config)
        sync_rls(security_manager, db, datasets, roles, config)
    log("done")


if __name__ == "__main__":
    main()
