"""Superset as code without a server: the YAML tree under superset/assets (every chart and
dashboard, at any depth) and the demo secrets. The running Superset is tested in
tests/e2e/test_superset.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb
import pytest
import yaml

from pilotage import superset_admin
from pilotage.settings import SUPERSET_DIR, load_settings

ASSETS = SUPERSET_DIR / "assets"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _on_disk(folder: str) -> list[Path]:
    """Every YAML file under assets/<folder>, however deep (charts/objectives/*.yaml too)."""
    return sorted((ASSETS / folder).rglob("*.yaml"))


def _charts_on(dashboard: dict) -> set[str]:
    return {
        node["meta"]["uuid"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }


def test_assets_are_consistent() -> None:
    """The YAML tree alone: unique UUIDs, every chart's saved query context uses its dataset's
    metrics (named ones exist, ad-hoc SQL ones run on the dataset's columns), every chart on
    exactly one dashboard and every dashboard chart a file, the branding's colour scheme on
    every dashboard, no instance-specific database path. Counts what it saw against the files
    on disk, so a chart in a new sub-folder cannot escape the check."""
    database = _load(ASSETS / "databases" / "pilotage_serving.yaml")
    assert database["sqlalchemy_uri"] == "duckdb:///${PILOTAGE_SERVING_PATH}"
    assert database["extra"]["engine_params"]["connect_args"] == {
        "read_only": True,
        "config": {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "lock_configuration": True,
        },
    }
    assert not database["allow_dml"] and not database["allow_file_upload"]

    dataset_files = _on_disk("datasets")
    chart_files = _on_disk("charts")
    dashboard_files = _on_disk("dashboards")
    datasets = {d["uuid"]: d for d in map(_load, dataset_files)}
    charts = {c["uuid"]: c for c in map(_load, chart_files)}
    dashboards = [_load(path) for path in dashboard_files]
    # every file seen, none shadowed by a duplicate UUID (the tree has 14 charts, 3 dashboards
    # on 7 Dec: the counts below come from the disk, not from this comment)
    assert len(datasets) == len(dataset_files)
    assert len(charts) == len(chart_files) and len(chart_files) >= 14
    assert len(dashboards) == len(dashboard_files) and len(dashboard_files) >= 3
    uuids = [
        database["uuid"],
        *datasets,
        *charts,
        *(d["uuid"] for d in dashboards),
    ]
    assert len(uuids) == len(set(uuids)), "a UUID is used twice"

    con = duckdb.connect()
    tables = {}
    for uuid, dataset in datasets.items():
        table = f"dataset_{len(tables)}"
        columns = ", ".join(f'"{c["column_name"]}" {c["type"]}' for c in dataset["columns"])
        con.execute(f"create table {table} ({columns})")
        tables[uuid] = table
    checked_charts = 0
    for path, chart in zip(chart_files, map(_load, chart_files), strict=True):
        name = str(path.relative_to(ASSETS))
        assert chart["dataset_uuid"] in datasets, f"{name}: unknown dataset"
        dataset = datasets[chart["dataset_uuid"]]
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        context = json.loads(chart["query_context"])
        for query in context["queries"]:
            for metric in query["metrics"]:
                if isinstance(metric, str):
                    assert metric in metrics, f"{name}: {metric} is not a metric of its dataset"
                else:
                    assert metric["expressionType"] == "SQL" and metric.get("label"), name
                    sql = f"select {metric['sqlExpression']} from {tables[chart['dataset_uuid']]}"
                    con.execute(sql).fetchall()  # runs on the dataset's columns
        checked_charts += 1
    assert checked_charts == len(chart_files)

    branding = _load(SUPERSET_DIR / "branding.yaml")
    placed: dict[str, str] = {}
    for path, dashboard in zip(dashboard_files, dashboards, strict=True):
        on_dashboard = _charts_on(dashboard)
        assert on_dashboard, f"{path.name} has no chart"
        assert on_dashboard <= set(charts), f"{path.name} places a chart that is not a file"
        for uuid in on_dashboard:
            assert uuid not in placed, f"{charts[uuid]['slice_name']} on two dashboards"
            placed[uuid] = dashboard["slug"]
        assert dashboard["metadata"]["color_scheme"] == branding["color_scheme_id"], path.name
    assert set(placed) == set(charts), "charts on no dashboard: " + ", ".join(
        sorted(charts[u]["slice_name"] for u in set(charts) - set(placed))
    )
    # one chart folder per dashboard: charts/<slug>/ holds exactly the charts of dashboard <slug>
    # (what tests/e2e/test_superset.py reads), nothing at the top level
    for path in chart_files:
        folder = path.parent.relative_to(ASSETS / "charts")
        assert placed[_load(path)["uuid"]] == str(folder), str(path.relative_to(ASSETS))
    from pilotage.superset_api import dashboard_slugs

    assert sorted(dashboard_slugs()) == sorted(d["slug"] for d in dashboards)
    # cross-filtering on: a click on a rep, a team or an activity type filters the other charts
    assert all(d["metadata"]["cross_filters_enabled"] for d in dashboards)


def test_demo_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    settings = dataclasses.replace(load_settings(), data_dir=tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("SUPERSET_HOME", "PILOTAGE_ENV", *superset_admin.SECRET_VARS):
            mp.delenv(name, raising=False)
        superset_admin.ensure_demo_secrets(settings)
        path = tmp_path / "superset_home" / ".demo-secrets.env"
        assert path.stat().st_mode & 0o777 == 0o600
        first = superset_admin.superset_env(settings)
        assert len(first["SUPERSET_SECRET_KEY"]) >= 32
        superset_admin.ensure_demo_secrets(settings)
        assert (
            superset_admin.superset_env(settings)["SUPERSET_SECRET_KEY"]
            == (first["SUPERSET_SECRET_KEY"])
        )
        assert superset_admin.admin_credentials(settings) == (
            "admin",
            first["SUPERSET_ADMIN_PASSWORD"],
        )
        mp.setenv("SUPERSET_ADMIN_PASSWORD", "from-the-environment")  # real env vars win
        assert superset_admin.admin_credentials(settings)[1] == "from-the-environment"
        production = dataclasses.replace(settings, environment="production")
        mp.delenv("SUPERSET_ADMIN_PASSWORD")  # never demo secrets in production
        assert "SUPERSET_SECRET_KEY" not in superset_admin.superset_env(production)
        other = dataclasses.replace(production, data_dir=tmp_path / "prod")
        superset_admin.ensure_demo_secrets(other)
        assert not (tmp_path / "prod").exists()


# ---------------------------------------------------------------------------------------------
# Numbers people read right (issue 10): currency, default period, status, labels, trends
# ---------------------------------------------------------------------------------------------

CATALOGUE = yaml.safe_load((SUPERSET_DIR.parent / "dbt" / "kpis.yml").read_text())
CURRENCY = CATALOGUE["superset"]["currency"]
KPI_UNITS = {kpi.get("column", kpi["name"]): kpi["unit"] for kpi in CATALOGUE["kpis"]}
KPI_UNITS.update({kpi["name"]: kpi["unit"] for kpi in CATALOGUE["kpis"]})
KPI_LABELS = {kpi["name"]: kpi["label"]["en"] for kpi in CATALOGUE["kpis"]}


# the deal list's amounts (fct_deals: not KPI columns, still amounts)
DEAL_AMOUNTS = {("fct_deals", "amount"), ("fct_deals", "weighted_amount")}


def _datasets() -> dict[str, dict]:
    return {d["uuid"]: d for d in map(_load, _on_disk("datasets"))}


def _charts() -> dict[str, dict]:
    """Charts by file name (relative to charts/, without .yaml)."""
    return {
        str(path.relative_to(ASSETS / "charts").with_suffix("")): _load(path)
        for path in _on_disk("charts")
    }


def _dashboard(slug: str) -> dict:
    return next(d for d in map(_load, _on_disk("dashboards")) if d["slug"] == slug)


def _column_expression(dataset: str, column: str) -> str:
    data = next(d for d in _datasets().values() if d["table_name"] == dataset)
    return next(c["expression"] for c in data["columns"] if c["column_name"] == column)


def test_every_amount_column_of_a_chart_shows_the_configured_currency() -> None:
    """A chart's per-column format: the columns that are amounts (a KPI of unit currency, named
    or labelled as in the catalogue, or any amount of the revenue driver tree) carry the
    catalogue's currency (dbt/kpis.yml superset.currency); a KPI of another unit (a count, a
    share, mixed units) carries none. The saved metrics carry it from the catalogue
    (tests/unit/test_kpi_catalogue.py)."""
    want = {"symbol": CURRENCY["symbol"], "symbolPosition": CURRENCY["symbol_position"]}
    datasets = _datasets()
    # an ad-hoc metric labelled with a KPI's label (Executive 360: "Revenue") has its unit
    units = {KPI_LABELS[name]: unit for name, unit in KPI_UNITS.items() if name in KPI_LABELS}
    amounts_seen = deals_seen = 0
    for name, chart in _charts().items():
        dataset = datasets[chart["dataset_uuid"]]["table_name"]
        for column, config in chart["params"].get("column_config", {}).items():
            unit = KPI_UNITS.get(column) or units.get(column)
            if (
                unit == "currency"
                or (dataset == "kpi_revenue_drivers" and unit is None)
                or (dataset, column) in DEAL_AMOUNTS
            ):
                assert config.get("currencyFormat") == want, (name, column)
                amounts_seen += 1
                deals_seen += (dataset, column) in DEAL_AMOUNTS
            else:
                assert "currencyFormat" not in config, (name, column)
        context = json.loads(chart["query_context"])
        assert context["form_data"] == chart["params"], f"{name}: query_context is stale"
    assert amounts_seen >= 9  # the leaderboard's revenue and target, the driver tree's amounts
    assert deals_seen >= 3  # the manager cockpit's deal tables


def test_dashboards_open_on_the_current_period() -> None:
    """Sales performance: the Period time filter defaults to "Current month" (a time range
    Superset 6.1's get_since_until turns into [first day of this month, first of the next)),
    sent to the charts as their time_range; the bootstrap puts the data's as-of month there when it
    is not the server's (tests/unit/test_superset_bundle.py). Objectives: Period defaults to month
    to date."""
    period = next(
        f
        for f in _dashboard("sales-performance")["metadata"]["native_filter_configuration"]
        if f["filterType"] == "filter_time"
    )
    assert period["name"] == "Period"
    assert period["defaultDataMask"]["extraFormData"] == {"time_range": "Current month"}
    assert period["defaultDataMask"]["filterState"]["value"] == "Current month"

    objectives = {
        f["name"]: f for f in _dashboard("objectives")["metadata"]["native_filter_configuration"]
    }
    mask = objectives["Period"]["defaultDataMask"]
    column = objectives["Period"]["targets"][0]["column"]["name"]
    [default] = mask["filterState"]["value"]
    assert mask["extraFormData"]["filters"] == [{"col": column, "op": "IN", "val": [default]}]
    con = duckdb.connect()
    labels = con.execute(
        f"select {_column_expression('kpi_objectives', column)} "
        "from (values ('month'), ('quarter')) as t(period_grain)"
    ).fetchall()
    assert [row[0] for row in labels] == [default, "Quarter to date"]
    assert default == "Month to date"

    # Executive 360: the whole company (All teams) and month to date, single choices
    executive = {
        f["name"]: f for f in _dashboard("executive-360")["metadata"]["native_filter_configuration"]
    }
    assert set(executive) == {"Scope", "Period"}
    for name, default in (("Scope", "All teams"), ("Period", "Month to date")):
        mask = executive[name]["defaultDataMask"]
        column = executive[name]["targets"][0]["column"]["name"]
        assert mask["extraFormData"]["filters"] == [{"col": column, "op": "IN", "val": [default]}]
        assert mask["filterState"]["value"] == [default]
        assert not executive[name]["controlValues"]["multiSelect"]


def _status(pace: float | None, has_target: bool, has_prorated: bool) -> str:
    """The catalogue's rule for a status, from the pace thresholds of dbt/kpis.yml."""
    thresholds = next(k for k in CATALOGUE["kpis"] if k["name"] == "pace")["thresholds"]
    if not has_target:
        return "no target"
    if not has_prorated:
        return "not started"
    if pace >= thresholds["green"]:
        return "on track"
    if pace <= thresholds["red"]:
        return "off track"
    return "at risk"


def test_status_metric_reads_the_pace_over_the_same_rows() -> None:
    """The leaderboard's status (kpi_rep_month metric current_status) is the catalogue's pace
    rule applied to the pace of the same rows (any period, team, rep), so it cannot say "off
    track" beside a pace or attainment that is on track."""
    dataset = next(d for d in _datasets().values() if d["table_name"] == "kpi_rep_month")
    metrics = {m["metric_name"]: m for m in dataset["metrics"]}
    con = duckdb.connect()
    con.execute(
        "create table t (grp int, revenue decimal(18,2), revenue_target decimal(18,2), "
        "prorated_target_to_date decimal(18,2))"
    )
    # (revenue, target, prorated) rows per group; two rows in a group: a period of two months
    groups = {
        1: [(1200, 1000, 1000)],  # 120 %
        2: [(1000, 2000, 1000)],  # month to date: 50 % attainment, pace 100 %
        3: [(950, 1000, 1000)],  # 95 %
        4: [(900, 1000, 1000)],  # 90 %: red at or worse
        5: [(2510, 1000, 1000), (0, 1000, 1000)],  # 251 % then 0: 125.5 % over both
        6: [(500, None, None)],  # no target
        7: [(0, 1000, 0)],  # before the first working day
        8: [(300, 1000, 400), (100, None, None)],  # a row without target is not in the pace
    }
    for grp, rows in groups.items():
        for row in rows:
            con.execute("insert into t values (?, ?, ?, ?)", [grp, *row])
    got = dict(
        con.execute(
            f"select grp, {metrics['current_status']['expression']} from t group by grp"
        ).fetchall()
    )
    for grp, rows in groups.items():
        targeted = [r for r in rows if r[1] is not None]
        prorated = sum(r[2] for r in targeted)
        pace = sum(r[0] for r in targeted) / prorated if prorated else None
        assert got[grp] == _status(pace, bool(targeted), bool(prorated)), (grp, got[grp], pace)


def test_labels_are_business_words() -> None:
    """What legends, series and filter values show: activity types and objective metrics in the
    KPI catalogue's words (not call, gross_margin), periods as month/quarter to date; no chart
    groups, lists or filters by a code column; every column a chart shows has a verbose name."""
    con = duckdb.connect()
    types = ["call", "email", "meeting", "proposal", "quote", "contract", "unclassified"]
    rows = con.execute(
        f"select activity_type, {_column_expression('activities', 'activity_type_label')} "
        f"from unnest({types}) as t(activity_type)"
    ).fetchall()
    want = {t: KPI_LABELS[f"{t}s"] for t in types[:-1]} | {"unclassified": "Other"}
    assert dict(rows) == want
    assert want["call"] == "Calls" and want["meeting"] == "Meetings"

    metrics = ["revenue", "gross_margin", "calls", "meetings", "new_opportunities"]
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(CURRENCY["symbol"], CURRENCY["symbol"])
    rows = con.execute(
        f"select metric, {_column_expression('kpi_objectives', 'metric_label')} "
        f"from unnest({metrics}) as t(metric)"
    ).fetchall()
    assert dict(rows) == {
        m: KPI_LABELS[m] + (f" ({symbol})" if KPI_UNITS[m] == "currency" else "") for m in metrics
    }

    codes = {"activity_type", "metric", "period_grain"}
    datasets = _datasets()
    for name, chart in _charts().items():
        params = chart["params"]
        shown = [*params.get("groupby", []), *params.get("all_columns", [])]
        assert not codes & set(shown), f"{name} shows a code column: {codes & set(shown)}"
        columns = {c["column_name"]: c for c in datasets[chart["dataset_uuid"]]["columns"]}
        for column in shown:
            assert columns[column]["verbose_name"], f"{name}: {column} has no verbose name"
    for dashboard in map(_load, _on_disk("dashboards")):
        for native in dashboard["metadata"]["native_filter_configuration"]:
            for target in native["targets"]:
                assert target.get("column", {}).get("name") not in codes, native["name"]


def test_trends_show_complete_months_from_the_first_revenue() -> None:
    """The monthly trends leave out the current (partial) month, the revenue trend starts at
    the company's first revenue, and both are out of the Period filter's scope (which would
    otherwise cut them down to the current month)."""
    charts = {
        name.removeprefix("sales-performance/"): chart
        for name, chart in _charts().items()
        if name.startswith("sales-performance/")
    }
    for name, history in (("revenue_vs_target", True), ("activities_by_type", False)):
        filters = {
            (f["subject"], f["operator"])
            for f in charts[name]["params"]["adhoc_filters"]
            if f["expressionType"] == "SIMPLE"
        }
        assert ("is_complete_month", "IS TRUE") in filters, name
        assert (("has_revenue_history", "IS TRUE") in filters) == history, name
        assert "(complete months)" in charts[name]["slice_name"]
    dashboard = _dashboard("sales-performance")
    ids = {
        node["meta"]["uuid"]: node["meta"]["chartId"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    period = next(
        f for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "Period"
    )
    for name in ("revenue_vs_target", "activities_by_type", "revenue_vs_last_month"):
        assert ids[charts[name]["uuid"]] in period["scope"]["excluded"], name
    for name in ("revenue", "attainment", "pace", "margin_pct", "rep_leaderboard"):
        assert ids[charts[name]["uuid"]] not in period["scope"]["excluded"], name


def test_pipeline_coverage_keeps_outliers_readable() -> None:
    params = _charts()["objectives/pipeline_coverage"]["params"]
    assert params["y_axis_bounds"][1] is not None and params["truncateYAxis"] is True
    assert params["y_axis_title"] and int(params["y_axis_title_margin"]) >= 30


def test_ranks_are_not_drawn_as_bars() -> None:
    """A table draws a bar for each numeric column: a rank's bar grows as the rank gets worse,
    so the tables that show a rank switch its bar off; a bar chart draws points, never a rank."""
    ranks = 0
    for name, chart in _charts().items():
        params = chart["params"]
        for column in [*params.get("all_columns", []), *params.get("groupby", [])]:
            if column.endswith("rank") and params.get("show_cell_bars"):
                assert params["column_config"][column]["showCellBars"] is False, name
                ranks += 1
        if chart["viz_type"] == "echarts_timeseries_bar":
            drawn = [params.get("x_axis") or "", *map(json.dumps, params["metrics"])]
            assert not any("rank" in d for d in drawn), f"{name} draws a rank"
    assert ranks >= 3  # the live standings and the archive's podium and standings at least


def _challenge_board_sql(email: str) -> str:
    """The challenge_board dataset's SQL as Superset renders it for a user with ``email``."""
    from pilotage.superset_columns import rendered_sql

    dataset = next(d for d in _datasets().values() if d["table_name"] == "challenge_board")
    return rendered_sql(dataset["sql"], email)


def test_challenges_dashboard_puts_live_challenges_first() -> None:
    """Challenges (issue 10): the live challenges on top (goal gauge, top 10 and team standings
    as horizontal bars best on top, standings with medals), the finished ones below a separate
    Archive header, never mixed; every chart names the logged-in user's row (the challenge_board
    dataset), a public leaderboard like the standings."""
    dashboard = _dashboard("challenges")
    position = dashboard["position"]
    charts = {c["uuid"]: (name, c) for name, c in _charts().items()}
    sections: dict[str, list[tuple[str, dict]]] = {}
    section = None
    for key in position["GRID_ID"]["children"]:
        node = position[key]
        if node["type"] == "HEADER":
            section = node["meta"]["text"]
            sections[section] = []
        for child in node.get("children", []):
            sections[section].append(charts[position[child]["meta"]["uuid"]])
    assert list(sections) == ["Live challenges", "Archive: finished challenges"]
    status = {"Live challenges": "live", "Archive: finished challenges": "finished"}
    board = next(d for d in _datasets().values() if d["table_name"] == "challenge_board")
    for title, members in sections.items():
        assert members, title
        for name, chart in members:
            params = chart["params"]
            filters = {(f.get("subject"), f.get("comparator")) for f in params["adhoc_filters"]}
            assert ("challenge_status", status[title]) in filters, name
            assert chart["dataset_uuid"] == board["uuid"], name
            shown = [*params.get("all_columns", []), params.get("x_axis")]
            assert "participant_name" not in shown and "badge_label" not in shown, name
            if "standing_rank" in shown:  # a standings table: medals and the "me" marker
                assert {"badge_icon", "participant_display"} <= set(shown), name
            if chart["viz_type"] == "echarts_timeseries_bar":
                # ECharts lays a horizontal bar chart's first category at the bottom: ascending
                # points put the best on top
                assert params["orientation"] == "horizontal", name
                assert params["x_axis_sort"] == params["metrics"][0]["label"], name
                assert params["x_axis_sort_asc"] is True, name
    live = {chart["viz_type"]: chart["params"] for _, chart in sections["Live challenges"]}
    gauge = live["gauge_chart"]
    assert gauge["groupby"] == ["goal_caption"] and gauge["metric"]["label"] == "goal_progress"
    assert (gauge["min_val"], gauge["max_val"], gauge["number_format"]) == (0, 1, ".0%")
    top = next(c["params"] for n, c in sections["Live challenges"] if n.endswith("live_top10"))
    assert "is_me" in json.dumps(top["adhoc_filters"])  # the top 10, and you wherever you are
    [challenge] = dashboard["metadata"]["native_filter_configuration"]
    assert challenge["name"] == "Challenge"
    assert challenge["targets"][0] == {
        "datasetUuid": board["uuid"],
        "column": {"name": "challenge_label"},
    }
    roles = _load(SUPERSET_DIR / "roles.yaml")
    assert {"fct_challenge_standings", "challenge_board"} <= set(roles["public"])


def test_challenge_board_marks_the_logged_in_user() -> None:
    """challenge_board's SQL on a small warehouse: the rep whose e-mail is the user's (any case)
    is marked "(you)", their current team "(your team)" in a team challenge, nobody else; the
    collective goal's caption gives points, goal, progress and days left; an e-mail with a quote
    stays a string. Its output columns are the dataset's columns."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.dim_rep (rep_id varchar, email varchar, team_id varchar)")
    con.execute(
        "insert into marts.dim_rep values ('R1', 'ann@x.com', 'T1'), ('R2', 'bob@x.com', 'T2')"
    )
    con.execute(
        """create table marts.fct_challenge_standings as select * from (values
        ('drive', 'Q4 drive', 'R1', 'company', 'Ann', date '2026-10-01', date '2026-12-31',
         'live', true, 24, 500.0, 1, 2, 'Gold', '🥇', 1234.4, 0.4, 3000.0, 0.4115, false,
         'North', 'ann@x.com'),
        ('drive', 'Q4 drive', 'R2', 'company', 'Bob', date '2026-10-01', date '2026-12-31',
         'live', true, 24, 734.4, 2, 2, null, null, 1234.4, 0.6, 3000.0, 0.4115, false,
         'South', 'bob@x.com'),
        ('race', 'Q3 race', 'T1', 'teams', 'North', date '2026-07-01', date '2026-09-30',
         'finished', false, 0, 120.0, 1, 2, null, null, 200.0, 0.6, null, null, null,
         'North', null),
        ('race', 'Q3 race', 'T2', 'teams', 'South', date '2026-07-01', date '2026-09-30',
         'finished', false, 0, 80.0, 2, 2, null, null, 200.0, 0.4, null, null, null,
         'South', null)
        ) as t(challenge_id, challenge_label, participant_id, participant_type,
               participant_name, period_start, period_end, challenge_status, is_live,
               days_left, total_points, standing_rank, participants_count, badge_label,
               badge_icon, challenge_points, contribution_share, goal_points, goal_progress,
               is_goal_reached, team_name, participant_email)"""
    )
    board = next(d for d in _datasets().values() if d["table_name"] == "challenge_board")
    result = con.execute(_challenge_board_sql("Ann@X.com"))
    assert [c[0] for c in result.description] == [c["column_name"] for c in board["columns"]]
    names = [c[0] for c in result.description]
    rows = {
        (r["challenge_id"], r["participant_id"]): r
        for r in (dict(zip(names, row, strict=True)) for row in result.fetchall())
    }
    shown = {key: (r["is_me"], r["participant_display"]) for key, r in rows.items()}
    assert shown == {
        ("drive", "R1"): (True, "▶ Ann (you)"),
        ("drive", "R2"): (False, "Bob"),
        ("race", "T1"): (True, "▶ North (your team)"),
        ("race", "T2"): (False, "South"),
    }
    # 1,234.4 points of 3,000: 41 % (rounded down, the goal is not reached before 100 %)
    caption = "Q4 drive · 1,234 / 3,000 points (41 %) · 24 days left"
    assert rows["drive", "R1"]["goal_caption"] == caption
    assert rows["race", "T1"]["goal_caption"] is None
    # a medal, or an empty cell for no badge (a table shows a null as "N/A")
    assert (rows["drive", "R1"]["badge_icon"], rows["drive", "R2"]["badge_icon"]) == ("🥇", "")
    for email in ("nobody@x.com", "x' or '1'='1", ""):
        marked = con.execute(f"select count(*) from ({_challenge_board_sql(email)}) where is_me")
        assert marked.fetchone()[0] == 0, email


def test_every_dashboard_redraws_itself_for_a_wallboard() -> None:
    """Any dashboard can be a wallboard (/wallboard/<slug>/, superset_config.py): each re-draws
    itself every 1 to 5 minutes, through the chart cache (each publish expires it), and the TV
    dashboard every minute."""
    for path in _on_disk("dashboards"):
        dashboard = _load(path)
        frequency = dashboard["metadata"]["refresh_frequency"]
        assert 60 <= frequency <= 300, f"{path.name}: refresh_frequency {frequency}"
    assert _dashboard("wallboard")["metadata"]["refresh_frequency"] == 60


def test_rank_labels_read_as_ordinals() -> None:
    """The ranks a rep reads ("3rd of 8"): each label column, run on ranks whose English
    ordinal is known by hand (11th to 13th and 111th are the irregular ones); not ranked: no
    label."""
    cases = [
        (1, 8, "1st of 8"), (2, 8, "2nd of 8"), (3, 8, "3rd of 8"), (4, 8, "4th of 8"),
        (11, 40, "11th of 40"), (12, 40, "12th of 40"), (13, 40, "13th of 40"),
        (21, 40, "21st of 40"), (22, 40, "22nd of 40"), (23, 40, "23rd of 40"),
        (101, 120, "101st of 120"), (111, 120, "111th of 120"), (None, None, None),
    ]  # fmt: skip
    labels = [
        ("kpi_objectives", "rank_in_team_label", "rank_in_team", "ranked_in_team"),
        ("kpi_objectives", "rank_in_company_label", "rank_in_company", "ranked_in_company"),
        ("my_challenge_standings", "standing_label", "standing_rank", "participants_count"),
    ]
    con = duckdb.connect()
    for dataset, label, rank, count in labels:
        con.execute(f"create or replace table t ({rank} integer, {count} integer)")
        con.executemany("insert into t values (?, ?)", [case[:2] for case in cases])
        got = con.execute(
            f"select {_column_expression(dataset, label)} from t order by {rank} nulls last"
        ).fetchall()
        assert [row[0] for row in got] == [case[2] for case in cases], label


def test_my_month_reads_the_reps_month_on_the_first_screen() -> None:
    """My month (issue 10): the first row holds a gauge per objective metric (attainment of the
    month's target, the catalogue's formula, 100 % marked) and the working days left; the
    second the numbers (target, pace, required daily rate readable below 1 a day, ranks) and
    the challenges; the last row lists the rep's open deals (fct_deals, whose row-level security
    gives a rep their own). Every objectives chart reads the rep rows of the as-of month."""
    dashboard = _dashboard("my-month")
    charts = {c["uuid"]: (name, c) for name, c in _charts().items() if name.startswith("my-month/")}
    position = dashboard["position"]
    rows = [position[row]["children"] for row in position["GRID_ID"]["children"]]
    first = [charts[position[node]["meta"]["uuid"]][1] for node in rows[0]]
    gauges = {
        f["comparator"]: c
        for c in first
        if c["viz_type"] == "gauge_chart"
        for f in c["params"]["adhoc_filters"]
        if f.get("subject") == "metric"
    }
    assert set(gauges) == {"revenue", "gross_margin", "calls", "meetings", "new_opportunities"}
    formula = next(k for k in CATALOGUE["kpis"] if k["name"] == "attainment")["formula"]
    for gauge in gauges.values():
        params = gauge["params"]
        assert params["metric"]["sqlExpression"] == formula
        assert params["min_val"] == 0 and params["max_val"] > 1
        assert "1" in params["intervals"].split(","), "the target (100 %) is not marked"
    assert {"Working days left"} <= {c["slice_name"] for c in first}
    second = [charts[position[node]["meta"]["uuid"]][1] for node in rows[1]]
    numbers = next(c for c in second if c["slice_name"] == "My month, metric by metric")
    columns = numbers["params"]["all_columns"]
    for column in ("target", "pace", "required_daily_rate", "rank_in_team_label",
                   "rank_in_company_label"):  # fmt: skip
        assert column in columns, column
    rate_format = numbers["params"]["column_config"]["required_daily_rate"]["d3NumberFormat"]
    assert not rate_format.endswith("d") and ".0" not in rate_format, rate_format
    assert any(c["slice_name"] == "My challenges" for c in second)
    [deals] = [charts[position[node]["meta"]["uuid"]][1] for node in rows[-1]]
    assert deals["slice_name"] == "My deals"
    assert _datasets()[deals["dataset_uuid"]]["table_name"] == "fct_deals"
    assert {"subject": "is_open", "operator": "IS TRUE"}.items() <= deals["params"][
        "adhoc_filters"
    ][0].items()
    current = "period_start = date_trunc('month', as_of_date)"
    for name, chart in charts.values():
        if chart["dataset_uuid"] != numbers["dataset_uuid"]:
            continue
        filters = chart["params"]["adhoc_filters"]
        assert {"subject": "level", "comparator": "rep"}.items() <= filters[0].items(), name
        assert any(f.get("sqlExpression") == current for f in filters), name


def test_manager_cockpit_opens_on_the_current_period() -> None:
    """The manager cockpit reads the periods that hold the as-of date: the benchmark and the rep
    activity filter is_current_period and Period defaults to month to date (their label columns
    say so for a month row); the deal charts are as of today and out of Period's scope; the
    funnel is the as-of date's quarter. A click on a rep in the rep activity cross-filters the
    deal tables, which show the same rep_name column."""
    dashboard = _dashboard("manager-cockpit")
    assert dashboard["metadata"]["cross_filters_enabled"]
    ids = {
        node["meta"]["uuid"]: node["meta"]["chartId"]
        for node in dashboard["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    filters = {f["name"]: f for f in dashboard["metadata"]["native_filter_configuration"]}
    period = filters["Period"]
    [default] = period["defaultDataMask"]["filterState"]["value"]
    assert default == "Month to date"
    assert period["defaultDataMask"]["extraFormData"]["filters"] == [
        {"col": "period_label", "op": "IN", "val": ["Month to date"]}
    ]
    con = duckdb.connect()
    for dataset in ("kpi_team_benchmark", "kpi_rep_activity_targets"):
        label = con.execute(
            f"select {_column_expression(dataset, 'period_label')} "
            "from (values ('month')) as t(period_grain)"
        ).fetchone()[0]
        assert label == default, dataset

    datasets = {uuid: d["table_name"] for uuid, d in _datasets().items()}
    charts = {
        name.removeprefix("manager-cockpit/"): chart
        for name, chart in _charts().items()
        if name.startswith("manager-cockpit/")
    }
    assert len(charts) == len(ids) >= 8
    for name, chart in charts.items():
        dataset = datasets[chart["dataset_uuid"]]
        adhoc = chart["params"]["adhoc_filters"]
        simple = {(f["subject"], f["operator"]) for f in adhoc if f["expressionType"] == "SIMPLE"}
        excluded = ids[chart["uuid"]] in period["scope"]["excluded"]
        if dataset in ("kpi_team_benchmark", "kpi_rep_activity_targets"):
            assert ("is_current_period", "IS TRUE") in simple and not excluded, name
        elif dataset == "fct_deals":
            assert excluded, name
            if "all_columns" in chart["params"] and chart["params"]["query_mode"] == "raw":
                assert "rep_name" in chart["params"]["all_columns"], name
        else:
            assert dataset == "kpi_funnel" and excluded, name
            sql = [f["sqlExpression"] for f in adhoc if f["expressionType"] == "SQL"]
            assert sql == ["period_start = date_trunc('quarter', as_of_date)"], name
    assert charts["rep_activity"]["params"]["groupby"][0] == "rep_name"
