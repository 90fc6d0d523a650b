"""Superset: after each publish, renew the dashboards' caches so viewers see the new data."""

import datetime as dt
import urllib.request

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from dagster_project.publish_asset import SERVING_KEY
from pilotage import superset_admin
from pilotage.settings import Settings
from pilotage.superset_api import SupersetAPI, dashboard_slugs

SERVING_DATABASE = "pilotage_serving"  # superset/assets/databases/pilotage_serving.yaml


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5):
            return True
    except OSError:
        return False


def build_superset_assets(settings: Settings) -> list:
    @asset(
        key=AssetKey(["superset", "dashboard_caches"]),
        deps=[SERVING_KEY],
        group_name="publish",
        kinds={"superset"},
        description=(
            "Superset's cached chart results, renewed from the new serving file: every cached "
            "result of the serving database expired (all viewers, filters and roles; "
            "wallboards auto-refresh through the cache), then every chart of the pilotage "
            "dashboards re-run. Skipped when Superset is not running."
        ),
    )
    def dashboard_caches(context: AssetExecutionContext) -> MaterializeResult:
        url = settings.superset_url
        if not _answers(url):
            context.log.warning(f"Superset does not answer at {url}: no cache to refresh.")
            return MaterializeResult(
                metadata={"superset_url": url, "datasets_expired": 0, "charts_refreshed": 0}
            )
        api = SupersetAPI(url, *superset_admin.admin_credentials(settings))
        published_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        expired = api.expire_results(SERVING_DATABASE, published_at)
        context.log.info(f"expired the cached results of {len(expired)} datasets")
        refreshed, failed = 0, []
        for slug in dashboard_slugs():
            for result in api.warm_up_dashboard(slug):
                if result.error:
                    failed.append(f"{slug} chart {result.chart_id}: {result.error}")
                else:
                    refreshed += 1
        if failed:
            raise RuntimeError("Charts failed on the new serving file:\n" + "\n".join(failed))
        return MaterializeResult(
            metadata={
                "superset_url": url,
                "datasets_expired": len(expired),
                "charts_refreshed": refreshed,
            }
        )

    return [dashboard_caches]
