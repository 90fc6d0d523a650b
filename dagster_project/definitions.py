"""The Dagster code location: extracts -> dlt -> dbt -> checks -> publish, and what triggers it."""

import sys
from pathlib import Path

from dagster import AssetKey, Definitions
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from dagster_project.dlt_load import build_dlt_assets
from dagster_project.jobs import full_refresh_job
from dagster_project.publish import build_publish_asset
from dagster_project.quality import build_delivery_checks
from dagster_project.resources import current_settings
from dagster_project.schedules import refresh_schedule
from dagster_project.sensors import build_landing_sensor
from dagster_project.superset import build_superset_assets
from dagster_project.transform import build_dbt_assets, dbt_project
from pilotage.settings import SERVED_SCHEMAS, Settings

# The dbt of this environment, even when its bin/ is not on PATH (`make`, services, tests).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


def build_definitions(settings: Settings) -> Definitions:
    dbt_models = build_dbt_assets(settings)
    served = [k for k in dbt_models.keys if k.path[0] in SERVED_SCHEMAS]
    return Definitions(
        assets=[
            *build_dlt_assets(settings),
            dbt_models,
            build_publish_asset(settings, served),
            *build_superset_assets(settings),
        ],
        asset_checks=build_delivery_checks(settings),
        jobs=[full_refresh_job],
        schedules=[refresh_schedule],
        sensors=[build_landing_sensor(settings)],
        resources={
            "dlt": DagsterDltResource(),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
        },
    )


defs = build_definitions(current_settings())

__all__ = ["AssetKey", "build_definitions", "defs"]
