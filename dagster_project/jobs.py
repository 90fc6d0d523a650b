"""Jobs: the full refresh, extracts to serving file, in one process (one DuckDB writer)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from dagster_project.resources import WAREHOUSE_TAG
from pilotage.settings import Settings


def build_full_refresh_job(settings: Settings):
    """The full refresh of this warehouse. Its tag is the run queue's concurrency key
    (dagster.yaml: one run per warehouse at a time); the refresh lock covers in-process runs."""
    return define_asset_job(
        name="full_refresh",
        selection=AssetSelection.all(),
        executor_def=in_process_executor,
        tags={WAREHOUSE_TAG: str(settings.warehouse_path)},
        description="Load the CRM and ERP extracts, build the dbt models, run the checks, publish.",
    )
