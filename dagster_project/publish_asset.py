"""Publish: after every blocking check upstream has passed, swap in a new serving file."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dagster_project.resources import WAREHOUSE_POOL, RefreshLockResource
from pilotage.publish import publish
from pilotage.settings import SERVED_SCHEMAS, Settings

SERVING_KEY = AssetKey(["serving", "serving_db"])


def build_publish_asset(settings: Settings, served_keys: list[AssetKey]):
    @asset(
        key=SERVING_KEY,
        deps=served_keys,
        group_name="publish",
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        description=(
            "The read-only DuckDB file Superset serves: the marts copied from the warehouse and "
            "swapped in atomically. Blocking checks upstream keep failed data out of it."
        ),
    )
    def serving_db(
        context: AssetExecutionContext, refresh_lock: RefreshLockResource
    ) -> MaterializeResult:
        result = publish(
            settings.warehouse_path, settings.serving_path, SERVED_SCHEMAS, settings.as_of
        )
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(result.serving_path)),
                "as_of": settings.as_of.isoformat(),
                "tables": MetadataValue.json(result.row_counts),
                "dagster/row_count": sum(result.row_counts.values()),
            }
        )

    return serving_db
