"""Every dashboard, for every business role, in a real browser: each chart draws, no error tile.

Playwright drives the system's Chromium (Debian's ``chromium``, installed by scripts/install.sh;
no browser is downloaded) against the session's Superset (tests/e2e/conftest.py). Each role logs
in through Superset's login form, opens each dashboard at 1920x1080 and waits until every chart
of the dashboard's YAML has settled (tests/e2e/browser.py says what "drawn", "empty" and "error"
are in Superset 6.1's DOM). A full-page screenshot of every dashboard and role is saved under
``$PILOTAGE_TEST_ARTIFACTS/screenshots`` (default ``test-artifacts/screenshots`` at the
repository root).

An empty tile is not a pass: only the ones listed in ``EXPECTED_EMPTY``, each with the reason the
role really has no rows there, are accepted, and they must be empty (a rep seeing rows there
would be a leak). Under CI=true a missing Chromium or Playwright fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotage import superset_admin
from tests.conftest import service_unavailable
from tests.e2e import browser
from tests.e2e.conftest import Superset

pytestmark = pytest.mark.superset

DASHBOARDS = browser.dashboards()
ROLES = ("admin", "executive", "manager", "rep")
ARTIFACTS = Path(
    os.environ.get("PILOTAGE_TEST_ARTIFACTS") or browser.PROJECT_ROOT / "test-artifacts"
)
SCREENSHOTS = ARTIFACTS / "screenshots"

# (dashboard slug, role, chart) -> (why that role has no rows there, and the evidence: SQL on the
# serving file, given the role's e-mail, true when the role really has no rows; None when the
# reason is the design itself).
EXPECTED_EMPTY = {
    ("objectives", "rep", "Team objectives"): (
        "the chart shows level = 'team' rows, and a rep's row-level security on kpi_objectives "
        "is level = 'rep' AND member_id = the rep (superset/bootstrap.py RLS_CLAUSES): a rep "
        "never sees a team's row",
        None,
    ),
    ("sales-performance", "rep", "Revenue vs same point last month"): (
        "the rep had no revenue in the same days of last month, and the growth is null (not "
        "infinite) when the previous revenue is 0 (metric revenue_growth_same_point)",
        "select coalesce(sum(revenue_prev_same_point), 0) = 0 from marts.kpi_performance "
        "where level = 'rep' and period_grain = 'month' and is_current_period and rep_email = ?",
    ),
}
# Executive 360: a rep sees none of its rows (superset/roles.yaml: their own figures are on
# Objectives); a manager sees their teams' rows, but the driver tree's "All teams" nodes are sums
# over every team, so a manager's tree is empty until they pick their team in Scope.
EXPECTED_EMPTY.update(
    {
        ("executive-360", "rep", chart): (
            "the Executive 360 is the executive's page: a rep's row-level security on the "
            "executive_* datasets is 1 = 0 (superset/roles.yaml)",
            None,
        )
        for dashboard in DASHBOARDS
        if dashboard.slug == "executive-360"
        for chart in dashboard.charts
    }
)
EXPECTED_EMPTY[("executive-360", "manager", "Why: the revenue gap split into its drivers")] = (
    "the tree's All teams nodes are sums over every team; a manager's row-level security keeps "
    "the nodes of their own team scopes only (scope_team_id), which Scope = All teams leaves out",
    None,
)


def _serving_query(serving_db: Path, sql: str, params: list | None = None):
    import duckdb

    con = duckdb.connect(str(serving_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_unavailable("BROWSER TESTS NOT RUN: playwright is not installed (make install).")
    if not os.access(browser.CHROMIUM, os.X_OK):
        service_unavailable(
            f"BROWSER TESTS NOT RUN: no Chromium at {browser.CHROMIUM} (make install installs "
            "Debian's chromium; PILOTAGE_CHROMIUM names another executable)."
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {SCREENSHOTS}")
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def role_users(superset: Superset, serving_db: Path) -> dict[str, tuple[str, str, str]]:
    """(username, password, e-mail) per business role; the rep and the manager are real people
    of the demo CRM (the rep with the most months who manages no one, the manager of the most
    reps), so that row-level security gives them their own rows."""
    rep = _serving_query(
        serving_db,
        "select rep_email from marts.kpi_rep_month where rep_email is not null "
        "and rep_email not in (select manager_email from marts.kpi_rep_month "
        "where manager_email is not null) group by 1 order by count(*) desc, 1 limit 1",
    )
    manager = _serving_query(
        serving_db,
        "select manager_email from marts.kpi_rep_month where manager_email is not null "
        "group by 1 order by count(distinct rep_id) desc, 1 limit 1",
    )
    executive = "browser-exec@pilotage.invalid"
    return {
        "admin": (*superset_admin.admin_credentials(superset.settings), ""),
        "executive": (
            *superset.create_user("pytest_browser_exec", executive, "Executive"),
            executive,
        ),
        "manager": (
            *superset.create_user("pytest_browser_manager", manager, "Sales Manager"),
            manager,
        ),
        "rep": (*superset.create_user("pytest_browser_rep", rep, "Sales Rep"), rep),
    }


@pytest.fixture(scope="module")
def role_contexts(playwright_browser, superset: Superset, role_users) -> Iterator[dict]:
    """A browser context per role, logged in through the login form on first use."""
    contexts: dict[str, object] = {}

    def context_for(role: str):
        if role not in contexts:
            context = browser.new_context(playwright_browser)
            username, password, _ = role_users[role]
            browser.log_in(context, superset.url, username, password)
            contexts[role] = context
        return contexts[role]

    yield context_for
    for context in contexts.values():
        context.close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.slug for d in DASHBOARDS])
def test_dashboard_draws_every_chart(
    dashboard: browser.Dashboard,
    role: str,
    role_contexts,
    role_users,
    superset: Superset,
    serving_db: Path,
) -> None:
    page = role_contexts(role).new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        seconds = browser.open_dashboard(page, superset.url, dashboard)
        tiles = browser.tiles(page)
        page_errors = browser.page_errors(page)
        page.wait_for_timeout(500)  # let ECharts finish its entry animation for the picture
        shot = SCREENSHOTS / f"{dashboard.slug}--{role}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    print(f"\n{dashboard.slug} as {role}: drawn in {seconds:.1f}s, {shot}")
    where = f"{dashboard.slug} as {role}"

    assert sorted(t.name for t in tiles) == sorted(dashboard.charts), (
        f"{where}: the charts on the page are not the dashboard's YAML ones (see {shot})"
    )
    problems = [
        f"{t.name}: {t.state} {t.message!r}" for t in tiles if t.state not in ("drawn", "empty")
    ]
    assert not problems, f"{where}: error tiles {problems} (see {shot})"
    assert not page_errors, f"{where}: {page_errors} on the page (see {shot})"
    assert not script_errors, f"{where}: script errors {script_errors} (see {shot})"

    # An empty tile is a finding unless the evidence says the role has no rows there.
    empty = {t.name for t in tiles if t.state == "empty"}
    email = role_users[role][2]
    expected = {}
    for (slug, who, chart), (reason, evidence) in EXPECTED_EMPTY.items():
        if (slug, who) == (dashboard.slug, role) and (
            evidence is None or _serving_query(serving_db, evidence, [email])
        ):
            expected[chart] = reason
    unexplained = sorted(empty - set(expected))
    assert not unexplained, (
        f'{where}: empty tiles {unexplained} ("No results" / "No data"): either the role '
        "really has no rows there (add it to EXPECTED_EMPTY with the reason and the evidence) "
        f"or the data or row-level security is wrong (see {shot})"
    )
    leaking = sorted(set(expected) - empty)
    assert not leaking, (
        f"{where}: {leaking} should be empty for this role "
        f"({[expected[chart] for chart in leaking]}): rows leak (see {shot})"
    )


WALLBOARD = next(d for d in DASHBOARDS if d.slug == "wallboard")
TV_TEXT_PX = 24  # read from across the room


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.slug for d in DASHBOARDS])
def test_every_dashboard_has_a_kiosk_address(dashboard, role_contexts, superset) -> None:
    """/wallboard/<slug>/ shows the dashboard without Superset's menu, its title and its filter
    bar (the filters' defaults still apply), every chart drawn."""
    page = role_contexts("executive").new_page()
    try:
        browser.open_dashboard(page, superset.url, dashboard, kiosk=True)
        tiles = browser.tiles(page)
        chrome = page.evaluate(
            "() => ['#main-menu, .main-nav, [data-test=\"navbar-top\"]',"
            " '[data-test=\"dashboard-header-container\"]', '[data-test=\"filter-bar\"]']"
            ".filter((selector) => [...document.querySelectorAll(selector)]"
            ".some((e) => e.getBoundingClientRect().width > 0))"
        )
    finally:
        page.close()
    assert not chrome, f"{dashboard.kiosk_path} still shows {chrome}"
    assert sorted(t.name for t in tiles) == sorted(dashboard.charts)
    assert all(t.state in ("drawn", "empty") for t in tiles), tiles


def test_wallboard_fits_one_tv_screen_and_refreshes_itself(role_contexts, superset) -> None:
    """The office TV: the wallboard's kiosk address at 1920x1080 fits the screen without
    scrolling, every text is at least 24 px, and the page re-draws itself: once its
    refresh_frequency has passed (the browser's clock moved forward), every chart asks for its
    data again (through the chart cache, which each publish expires: test_superset.py)."""
    frequency = WALLBOARD.refresh_frequency
    assert 60 <= frequency <= 300
    page = role_contexts("executive").new_page()
    page.clock.install()
    try:
        browser.open_dashboard(page, superset.url, WALLBOARD, kiosk=True)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "wallboard--kiosk.png"))
        height = page.evaluate("document.documentElement.scrollHeight")
        small = browser.small_texts(page, TV_TEXT_PX)
        scrolled = page.evaluate(
            "() => [...document.querySelectorAll('[data-test=\"chart-grid-component\"] *')]"
            ".filter((e) => e.scrollHeight > e.clientHeight + 2"
            " && ['auto', 'scroll'].includes(getComputedStyle(e).overflowY))"
            ".map((e) => e.closest('[data-test-chart-name]').getAttribute('data-test-chart-name'))"
        )
        before = browser.chart_queries_done(page)
        page.clock.fast_forward(frequency * 1000 + 1000)
        page.wait_for_function(
            "(n) => window.__pilotageChartQueries.done >= n"
            " && !window.__pilotageChartQueries.inflight",
            arg=before + len(WALLBOARD.charts),
            timeout=30_000,
        )
    finally:
        page.close()
    assert height <= browser.VIEWPORT["height"], f"the wallboard scrolls: {height}px high"
    assert not scrolled, f"charts that scroll inside their tile: {sorted(set(scrolled))}"
    assert not small, f"texts under {TV_TEXT_PX}px on the wallboard: {small}"
