"""Publish: after every blocking check upstream has passed, swap in a new serving file."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dagster_project.resources import WAREHOUSE_POOL, RefreshLockResource
from pilotage.publish import publish_warehouse
from pilotage.settings import Settings

SERVING_KEY = AssetKey(["serving", "serving_db"])


def build_publish_asset(settings: Settings, served_keys: list[AssetKey]):
    @asset(
        key=SERVING_KEY,
        deps=served_keys,
        group_name="publish",
        kinds={settings.warehouse_engine},
        pool=WAREHOUSE_POOL,
        description=(
            "What Superset serves: the marts copied from the warehouse and swapped in atomically "
            "(a read-only DuckDB file, or on PostgreSQL a blue/green serving schema). Blocking "
            "checks upstream keep failed data out of it."
        ),
    )
    def serving_db(
        context: AssetExecutionContext, refresh_lock: RefreshLockResource
    ) -> MaterializeResult:
        result = publish_warehouse(settings)
        served = (
            {"path": MetadataValue.path(str(result.serving_path))}
            if result.serving_path
            else {"served_at": result.served_at, "color": result.color}
        )
        return MaterializeResult(
            metadata={
                **served,
                "as_of": settings.as_of.isoformat(),
                "tables": MetadataValue.json(result.row_counts),
                "dagster/row_count": sum(result.row_counts.values()),
            }
        )

    return serving_db
