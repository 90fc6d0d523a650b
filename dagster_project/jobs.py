"""Jobs: the full refresh, extracts to serving file, in one process (one DuckDB writer)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

full_refresh_job = define_asset_job(
    name="full_refresh",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="Load the CRM and ERP extracts, build the dbt models, run the checks, publish.",
)
