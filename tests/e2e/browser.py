"""Driving Superset's dashboards in a real browser: Playwright on the system's Chromium.

Shared by tests/e2e/test_browser.py and scripts/benchmark_dashboards.py, so that "fully drawn"
means the same thing in the test and in the benchmark. The browser is Debian's ``chromium``
(installed by scripts/install.sh), never one Playwright downloads: ``PILOTAGE_CHROMIUM`` names
another executable.

The selectors are Superset 6.1's own, read from its rendered DOM (not guessed):

- every chart of a dashboard is a ``[data-test="chart-grid-component"]`` carrying
  ``data-test-chart-name`` and ``data-test-chart-id``;
- while its query runs, it holds a ``[data-test="loading-indicator"]`` (class ``loading``,
  "Waiting on <database>");
- once drawn, its ``[data-test="chart-container"]`` holds a non-empty
  ``[data-test="slice-container"]``;
- a failed query replaces the chart container by an Ant Design error alert
  (``.ant-alert-error``, role ``alert``, e.g. "DB engine Error" or "Unexpected error");
- a query without rows draws an empty state: "No results were returned for this query"
  (``.ant-empty``) in charts and tables, "No data" in big numbers.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = PROJECT_ROOT / "superset" / "assets" / "dashboards"
CHROMIUM = Path(os.environ.get("PILOTAGE_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--no-sandbox"]  # root on a development machine or in a CI container
VIEWPORT = {"width": 1920, "height": 1080}

TILE = '[data-test="chart-grid-component"]'
ERROR_TEXTS = ("Unexpected error", "Data error", "DB engine Error", "Network error")
EMPTY_TEXTS = ("No results were returned for this query", "No data")

# Runs in the page: the state of every chart tile. "loading" while a spinner is left, "error"
# for an error alert, "empty" for Superset's empty states, "drawn" for a chart with content,
# "blank" for a container without content yet (the chart is still being mounted).
_TILES_JS = """
() => [...document.querySelectorAll('[data-test="chart-grid-component"]')].map((tile) => {
  const text = tile.innerText || "";
  const body = tile.querySelector('[data-test="slice-container"]');
  const bigNumbers = [...tile.querySelectorAll('.header-line')].map((e) => e.innerText.trim());
  let state = "blank";
  if (tile.querySelector('[data-test="loading-indicator"], .loading')) state = "loading";
  else if (tile.querySelector('.ant-alert-error, [role="alert"]')) state = "error";
  else if (tile.querySelector('.ant-empty')
           || /No results were returned for this query/.test(text)
           || bigNumbers.includes("No data")) state = "empty";
  else if (body && body.querySelector('canvas, svg, table, .header-line, div *')) state = "drawn";
  const alert = tile.querySelector('.ant-alert');
  return {
    name: tile.getAttribute("data-test-chart-name"),
    chart_id: Number(tile.getAttribute("data-test-chart-id")),
    viz_type: tile.getAttribute("data-test-viz-type"),
    state: state,
    message: alert ? alert.innerText.trim() : "",
  };
})
"""

# Counts the page's chart data requests (Superset's client calls fetch): a dashboard may draw
# its charts, then re-run them once its native filters' defaults apply.
_COUNT_QUERIES_JS = """
(() => {
  const original = window.fetch;
  const queries = (window.__pilotageChartQueries = { inflight: 0, done: 0 });
  window.fetch = function (input, init) {
    const address = typeof input === "string" ? input : (input && input.url) || "";
    if (!String(address).includes("/api/v1/chart/data")) return original.apply(this, arguments);
    queries.inflight += 1;
    return original.apply(this, arguments).finally(() => {
      queries.inflight -= 1;
      queries.done += 1;
    });
  };
})();
"""

# Settled: the expected number of tiles, none loading or blank (each drawn, empty or failed), no
# chart query in flight, and so for STABLE_MS. Returns the moment (ms since the navigation) the
# final settled state began: the time to a fully drawn dashboard.
STABLE_MS = 500
_SETTLED_JS = """
([expected, stableMs]) => {
  const tiles = [...document.querySelectorAll('[data-test="chart-grid-component"]')];
  const queries = window.__pilotageChartQueries || { inflight: 0, done: 1 };
  const settled = tiles.length >= expected && queries.inflight === 0 && queries.done > 0
    && tiles.every((tile) => {
      if (tile.querySelector('[data-test="loading-indicator"], .loading')) return false;
      if (tile.querySelector('.ant-alert-error, [role="alert"]')) return true;
      const body = tile.querySelector('[data-test="slice-container"]');
      return !!(body && body.querySelector('canvas, svg, table, .header-line, .ant-empty, div *'));
    });
  const state = (window.__pilotageSettled = window.__pilotageSettled || { since: null });
  if (!settled) {
    state.since = null;
    return false;
  }
  if (state.since === null) state.since = performance.now();
  return performance.now() - state.since >= stableMs ? state.since : false;
}
"""


@dataclasses.dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    charts: tuple[str, ...]  # the slice names of the CHART components of its position
    refresh_frequency: int  # seconds between the page's own re-draws (0: never)

    @property
    def path(self) -> str:
        return f"/superset/dashboard/{self.slug}/"

    @property
    def kiosk_path(self) -> str:
        """The wallboard address (superset_config.py): no menu, title or filter bar."""
        return f"/wallboard/{self.slug}/"


@dataclasses.dataclass(frozen=True)
class Tile:
    name: str
    chart_id: int
    viz_type: str
    state: str  # drawn, empty, error, loading, blank
    message: str


def dashboards() -> list[Dashboard]:
    """The dashboards as code (superset/assets/dashboards/*.yaml), each with the names of the
    charts its layout places (the chart YAML's ``slice_name``, found by UUID: the name a tile
    carries on the page)."""
    names = {}
    for path in (DASHBOARDS_DIR.parent / "charts").rglob("*.yaml"):
        chart = yaml.safe_load(path.read_text(encoding="utf-8"))
        names[chart["uuid"]] = chart["slice_name"]
    found = []
    for path in sorted(DASHBOARDS_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        nodes = [
            node
            for node in spec["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        ]
        by_id = {
            n["meta"]["chartId"]: names.get(n["meta"].get("uuid"), n["meta"].get("sliceName"))
            for n in nodes
        }
        found.append(
            Dashboard(
                spec["slug"],
                spec["dashboard_title"],
                tuple(by_id.values()),
                spec["metadata"]["refresh_frequency"],
            )
        )
    return found


def launch(playwright):  # noqa: ANN001, ANN201 - playwright's own types
    """The system's Chromium, headless (no browser is ever downloaded)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)


def new_context(browser, **kwargs):  # noqa: ANN001, ANN201
    """A context at 1920x1080 whose pages count their chart data requests."""
    context = browser.new_context(viewport=VIEWPORT, **kwargs)
    context.add_init_script(_COUNT_QUERIES_JS)
    return context


def log_in(context, url: str, username: str, password: str) -> None:  # noqa: ANN001
    """Through Superset's login form, as a person does; the session cookie stays in ``context``."""
    page = context.new_page()
    try:
        page.goto(f"{url}/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda address: "/login" not in address, timeout=30_000)
    finally:
        page.close()


def open_dashboard(
    page,  # noqa: ANN001
    url: str,
    dashboard: Dashboard,
    *,
    force: bool = False,
    kiosk: bool = False,
    timeout_s: float = 60,
) -> float:
    """Open the dashboard and wait until every chart tile has settled (drawn, empty or failed)
    with no chart query left in flight, for ``STABLE_MS`` (a dashboard may draw its charts and
    re-run them once its native filters' defaults apply).

    Returns the seconds from the navigation to the start of that final settled state (the
    browser's own clock; the stability wait is not counted). ``force`` re-runs every chart
    query past Superset's result cache (``?force=true``, which 6.1's dashboard honours), as on
    the first visit after a publish when nothing warmed the caches. ``kiosk`` opens its
    wallboard address instead.
    """
    address = f"{url}{dashboard.kiosk_path if kiosk else dashboard.path}"
    address += "?force=true" if force else ""
    page.goto(address, wait_until="commit")
    settled = page.wait_for_function(
        _SETTLED_JS,
        arg=[len(dashboard.charts), STABLE_MS],
        timeout=timeout_s * 1000,
        polling=50,
    )
    return settled.json_value() / 1000


def tiles(page) -> list[Tile]:  # noqa: ANN001
    return [Tile(**tile) for tile in page.evaluate(_TILES_JS)]


def chart_queries_done(page) -> int:  # noqa: ANN001
    """How many chart data requests the page has completed since it loaded."""
    return page.evaluate("(window.__pilotageChartQueries || { done: 0 }).done")


# Runs in the page: every visible text on the page smaller than ``minPx`` (its element's
# computed font size), as "text: size"; texts drawn on a canvas are not in the DOM.
_SMALL_TEXTS_JS = """
(minPx) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const element = node.parentElement;
    if (!text || !element || element.closest('style, script, noscript')) continue;
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
    const size = parseFloat(style.fontSize);
    if (size < minPx) small.push(`${text.slice(0, 40)}: ${size}px`);
  }
  return small;
}
"""


def small_texts(page, min_px: float) -> list[str]:  # noqa: ANN001
    return page.evaluate(_SMALL_TEXTS_JS, min_px)


def page_errors(page) -> list[str]:  # noqa: ANN001
    """Error texts anywhere on the page outside the tiles (toasts, a dashboard-level alert)."""
    text = page.inner_text("body")
    return [message for message in ERROR_TEXTS if message in text]
