"""The Dagster code location: extracts -> dlt -> dbt -> checks -> publish, and what triggers it.

Nothing happens at import: Dagster's loaders (``dagster dev``, ``dagster-webserver``, the code
server, ``dagster definitions validate``) call ``defs()``, which reads the settings and builds
the definitions. The CLI and the tests call ``build_definitions(settings)`` with their settings.
"""

import functools
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from dagster_project.delivery_checks import build_delivery_checks
from dagster_project.dlt_load import build_dlt_assets
from dagster_project.jobs import build_full_refresh_job
from dagster_project.publish_asset import build_publish_asset
from dagster_project.resources import RefreshLockResource
from dagster_project.schedules import build_refresh_schedule
from dagster_project.sensors import build_landing_sensor
from dagster_project.superset import build_superset_assets
from dagster_project.transform import build_dbt_assets, dbt_project
from pilotage.settings import SERVED_SCHEMAS, Settings, load_settings, private_data

# The dbt of this environment, even when its bin/ is not on PATH (`make`, services, tests),
# started through pilotage.dbt_child so that it dies with the run that started it.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("pilotage-dbt"))


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor of the refresh, for these settings."""
    dbt_models = build_dbt_assets(settings)
    served = [k for k in dbt_models.keys if k.path[0] in SERVED_SCHEMAS]
    full_refresh = build_full_refresh_job(settings)
    return dg.Definitions(
        assets=[
            *build_dlt_assets(settings),
            dbt_models,
            build_publish_asset(settings, served),
            *build_superset_assets(settings),
        ],
        asset_checks=build_delivery_checks(settings),
        jobs=[full_refresh],
        schedules=[build_refresh_schedule(settings, full_refresh)],
        sensors=[build_landing_sensor(settings, full_refresh)],
        resources={
            "dlt": DagsterDltResource(),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
            "refresh_lock": RefreshLockResource.for_settings(settings),
        },
    )


@dg.definitions
@functools.cache
def defs() -> dg.Definitions:
    """The code location Dagster loads, from the environment's settings (built once a process).
    Under `dagster dev` the dbt manifest is re-parsed first; the CLI parses before it runs."""
    dbt_project.prepare_if_dev()
    settings = load_settings()
    private_data(settings)
    return build_definitions(settings)


__all__ = ["build_definitions", "defs"]
