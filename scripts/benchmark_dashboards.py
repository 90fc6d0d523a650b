"""How long the dashboards take to draw in a real browser, and each chart's uncached query.

On a running Superset (``make demo``'s, or ``pilotage superset serve``), for every dashboard of
superset/assets/dashboards, as the admin:

1. **first visit**: a fresh browser context (empty HTTP cache, as a new visitor) opens the
   dashboard with ``?force=true`` (every chart query runs past Superset's result cache, as on the
   first visit after a publish when nothing warmed the caches), and the time from the navigation
   to the last chart drawn is taken;
2. **cached visit**: the same context opens it again without ``force`` (browser cache and chart
   results warm, the everyday case);
3. **uncached chart query**: every chart's saved query through the chart data API,
   ``GET /api/v1/chart/<id>/data/?force=true``, timed end to end over HTTP.

"Drawn" is tests/e2e/browser.py's definition, the one the browser tests use: every chart tile of
the dashboard's YAML holds its chart (or an empty state), no spinner left. A tile in error fails
the run. Visits repeat ``--runs`` times, queries ``--query-runs`` times; p50 and p95 are reported
against the goals (3 s to a fully drawn dashboard, 300 ms p95 per uncached chart query). The
browser is the system's Chromium (``PILOTAGE_CHROMIUM``, default /usr/bin/chromium).

    .tools/bin/uv run --frozen python scripts/benchmark_dashboards.py \\
        --url http://127.0.0.1:8088 --data-dir data --runs 10 --out /tmp/dashboards

Results go to ``results.json`` and ``results.md`` in ``--out`` (docs/benchmarks.md shows them).
Not part of the test suite: tests/e2e/test_browser.py checks what draws, not how fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))  # tests.e2e.browser: the same "drawn" as the tests

from pilotage import superset_admin  # noqa: E402
from pilotage.settings import load_settings  # noqa: E402
from pilotage.superset_api import SupersetAPI  # noqa: E402
from tests.e2e import browser  # noqa: E402

DASHBOARD_GOAL_S = 3.0
QUERY_P95_GOAL_MS = 300.0


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile, linear between closest ranks (the one value when there is one)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
    }


def machine() -> dict:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{total_kb / 1024 / 1024:.0f} GiB"
    return {
        "cores": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "chromium": str(browser.CHROMIUM),
    }


# Where the time of a visit goes, from the browser's own timings (ms from the navigation):
# the page's HTML, the scripts, Superset's dashboard API calls (layout, charts, datasets), the
# chart data queries (first sent, last answered). The rest, to the last chart drawn, is rendering.
_PHASES_JS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const end = (list) => Math.max(0, ...list.map((r) => r.responseEnd));
  const data = res.filter((r) => r.name.includes("/api/v1/chart/data"));
  return {
    html: nav.responseEnd,
    scripts: end(res.filter((r) => r.initiatorType === "script")),
    dashboard_api: end(res.filter((r) => r.name.includes("/api/v1/dashboard/"))),
    first_chart_query_sent: data.length ? Math.min(...data.map((r) => r.startTime)) : 0,
    last_chart_query_answered: end(data),
    chart_queries: data.length,
  };
}
"""
PHASES = (
    "html",
    "scripts",
    "dashboard_api",
    "first_chart_query_sent",
    "last_chart_query_answered",
)


def visit_times(url: str, storage_state: dict, dashboard, runs: int, chromium) -> dict:  # noqa: ANN001
    times = {"first_visit": [], "cached_visit": []}
    phases = {kind: {phase: [] for phase in PHASES} for kind in times}
    for _ in range(runs):
        context = browser.new_context(chromium, storage_state=storage_state)
        # Superset loads hundreds of chunks: keep every resource timing (default buffer: 250).
        context.add_init_script("performance.setResourceTimingBufferSize(5000)")
        try:
            for kind, force in (("first_visit", True), ("cached_visit", False)):
                page = context.new_page()
                try:
                    times[kind].append(browser.open_dashboard(page, url, dashboard, force=force))
                    failed = [t for t in browser.tiles(page) if t.state not in ("drawn", "empty")]
                    if failed:
                        raise SystemExit(f"{dashboard.slug}: tiles in error: {failed}")
                    measured = page.evaluate(_PHASES_JS)
                    for phase in PHASES:
                        phases[kind][phase].append(measured[phase] / 1000)
                finally:
                    page.close()
        finally:
            context.close()
    result = {}
    for kind, values in times.items():
        result[f"{kind}_s"] = summary(values)
        result[f"{kind}_phases_p50_s"] = {
            phase: percentile(found, 50) for phase, found in phases[kind].items()
        }
    return result


def duckdb_times(serving_path: Path, sql: str, runs: int) -> list[float]:
    """The chart's SQL straight on the serving file, a connection per query as Superset opens
    one (NullPool, read-only): what the database itself costs inside the API's time."""
    import duckdb

    times = []
    for _ in range(runs):
        started = time.monotonic()
        con = duckdb.connect(str(serving_path), read_only=True)
        try:
            con.execute(sql).fetchall()
        finally:
            con.close()
        times.append((time.monotonic() - started) * 1000)
    return times


def query_times(api: SupersetAPI, slug: str, runs: int, serving_path: Path) -> dict:
    charts = {
        chart["id"]: chart["slice_name"]
        for chart in api._call("GET", f"/api/v1/dashboard/{slug}/charts")["result"]
    }
    per_chart, every, database = {}, [], {}
    for chart_id, name in sorted(charts.items()):
        queries = api._call("GET", f"/api/v1/chart/{chart_id}/data/", params={"type": "query"})
        database[name] = summary(
            [t for q in queries["result"] for t in duckdb_times(serving_path, q["query"], runs)]
        )
        times = []
        for _ in range(runs):
            started = time.monotonic()
            response = api.session.get(
                f"{api.url}/api/v1/chart/{chart_id}/data/",
                params={"force": "true"},
                timeout=api.timeout,
            )
            times.append((time.monotonic() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"chart {name!r}: {response.status_code} {response.text[:300]}")
        per_chart[name] = summary(times)
        every += times
    return {"charts": per_chart, "all_ms": summary(every), "duckdb_ms": database}


def markdown(report: dict) -> str:
    lines = [
        f"Superset at {report['url']}, {report['date']}, {report['machine']['cores']} cores, "
        f"{report['machine']['memory']}; load average {report['load_before']} before, "
        f"{report['load_after']} after; {report['runs']} visits and {report['query_runs']} "
        "queries per chart.",
        "",
        "| Dashboard | Charts | First visit p50 / p95 | Cached visit p50 / p95 | "
        "Uncached chart query p50 / p95 (slowest chart's p95) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for slug, result in report["dashboards"].items():
        first, cached = result["first_visit_s"], result["cached_visit_s"]
        queries = result["queries"]
        slowest = max(queries["charts"].items(), key=lambda item: item[1]["p95"])
        lines.append(
            f"| {slug} | {result['charts']} | {first['p50']:.2f} s / {first['p95']:.2f} s | "
            f"{cached['p50']:.2f} s / {cached['p95']:.2f} s | "
            f"{queries['all_ms']['p50']:.0f} ms / {queries['all_ms']['p95']:.0f} ms "
            f"({slowest[0]}: {slowest[1]['p95']:.0f} ms) |"
        )
    lines += [
        "",
        "Where a visit's time goes (p50, seconds from the navigation): HTML answered, scripts "
        "loaded, dashboard API answered, first chart query sent, last chart query answered, "
        "last chart drawn:",
        "",
        "| Dashboard | Visit | HTML | Scripts | Dashboard API | First query sent | "
        "Last query answered | Drawn |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for slug, result in report["dashboards"].items():
        for kind in ("first_visit", "cached_visit"):
            phases = result[f"{kind}_phases_p50_s"]
            lines.append(
                f"| {slug} | {kind.replace('_', ' ')} | "
                + " | ".join(f"{phases[phase]:.2f}" for phase in PHASES)
                + f" | {result[f'{kind}_s']['p50']:.2f} |"
            )
    lines += [
        "",
        "Per chart, uncached through the chart data API, and the same SQL straight on the "
        "serving file with DuckDB (connection included), in ms:",
        "",
        "| Dashboard | Chart | API p50 | API p95 | DuckDB p50 | DuckDB p95 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for slug, result in report["dashboards"].items():
        for name, times in result["queries"]["charts"].items():
            database = result["queries"]["duckdb_ms"][name]
            lines.append(
                f"| {slug} | {name} | {times['p50']:.0f} | {times['p95']:.0f} | "
                f"{database['p50']:.1f} | {database['p95']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="Superset's URL (default: PILOTAGE_SUPERSET_URL's)")
    parser.add_argument("--data-dir", help="the data folder whose Superset home has the admin")
    parser.add_argument("--runs", type=int, default=10, help="visits per dashboard and kind")
    parser.add_argument("--query-runs", type=int, default=10, help="forced queries per chart")
    parser.add_argument("--dashboards", help="comma-separated slugs (default: every dashboard)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-dashboards"))
    args = parser.parse_args(argv)

    settings = load_settings(data_dir=args.data_dir)
    url = (args.url or settings.superset_url).rstrip("/")
    username, password = superset_admin.admin_credentials(settings)
    wanted = set(args.dashboards.split(",")) if args.dashboards else None
    dashboards = [d for d in browser.dashboards() if wanted is None or d.slug in wanted]

    from playwright.sync_api import sync_playwright

    report = {
        "url": url,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "runs": args.runs,
        "query_runs": args.query_runs,
        "goals": {"dashboard_s": DASHBOARD_GOAL_S, "query_p95_ms": QUERY_P95_GOAL_MS},
        "dashboards": {},
    }
    api = SupersetAPI(url, username, password, timeout=120)
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            context = browser.new_context(chromium)
            browser.log_in(context, url, username, password)
            storage_state = context.storage_state()
            context.close()
            for dashboard in dashboards:
                log(f"{dashboard.slug}: {args.runs} first and cached visits")
                result = {"charts": len(dashboard.charts)}
                result |= visit_times(url, storage_state, dashboard, args.runs, chromium)
                log(f"{dashboard.slug}: {args.query_runs} forced queries per chart")
                result["queries"] = query_times(
                    api, dashboard.slug, args.query_runs, settings.serving_path
                )
                report["dashboards"][dashboard.slug] = result
        finally:
            chromium.close()
    report["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "results.md").write_text(text)
    print(text)
    log(f"results in {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
