"""The dlt pipelines that load the extracts into ``raw_crm`` / ``raw_erp`` of the warehouse (the
DuckDB file, or the PostgreSQL database when PILOTAGE_WAREHOUSE_ENGINE=postgres).

``load`` is the one load path: Dagster's dlt assets (``dagster_project/dlt_load.py``) call it,
and so do the tests and scripts. It makes the pipeline, picks the source (landing files, the ERP
database, or empty tables for a system the company does not have), runs it, turns dlt's wrapped
errors back into the ``ExtractFileError`` / ``SchemaContractError`` that names file, line and
column, and checks the raw schemas after the load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion.contracts import check_no_variant_columns
from ingestion.erp_database import erp_database_source
from ingestion.formats import ExtractFileError
from ingestion.landing_files import SOURCES

if TYPE_CHECKING:
    from pilotage.settings import Settings
    from pilotage.warehouse import Warehouse

SYSTEMS = tuple(SOURCES)
# No usage telemetry to dlthub (and no network attempts on closed machines); opt in by setting it.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# Empty dlt's merge staging tables after each load: the raw_* schemas hold the data.
os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")


def destination(warehouse: Warehouse):
    """dlt's destination for the warehouse: the DuckDB file, or the PostgreSQL database of the
    postgres engine (dlt's postgres destination, as the pipeline's user)."""
    from pilotage.settings import PostgresSettings

    if isinstance(warehouse, PostgresSettings):
        return dlt.destinations.postgres(
            credentials={
                "database": warehouse.database,
                "username": warehouse.user,
                "password": warehouse.password,  # "" under trust authentication
                "host": warehouse.host,
                "port": warehouse.port,
            }
        )
    Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    return dlt.destinations.duckdb(str(warehouse))


def make_pipeline(
    system: str, warehouse: Warehouse, pipelines_dir: Path, *, progress: str | None = None
) -> dlt.Pipeline:
    """The dlt pipeline of one source system: ``pilotage_<system>`` into ``raw_<system>`` of the
    warehouse (a DuckDB file, or ``warehouse_of(settings)``'s PostgreSQL database)."""
    if system not in SOURCES:
        raise ValueError(f"unknown system {system!r}: expected one of {', '.join(SYSTEMS)}")
    return dlt.pipeline(
        pipeline_name=f"pilotage_{system}",
        destination=destination(warehouse),
        dataset_name=f"raw_{system}",
        pipelines_dir=str(pipelines_dir),
        dev_mode=False,
        progress=progress,
    )


def _extract_file_error(exc: BaseException) -> ExtractFileError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ExtractFileError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def source_for(system: str, settings: Settings):
    """The dlt source of ``system`` for these settings: its landing files (or, for the ERP, the
    live database), or empty raw tables when the company does not have it (PILOTAGE_SOURCES)."""
    if system not in settings.sources:
        return SOURCES[system](settings.landing_dir, enabled=False)
    if system == "erp" and settings.erp_database_url:
        return erp_database_source(settings.erp_database_url, settings.erp_database_schema)
    return SOURCES[system](settings.landing_dir, landing_config=settings.landing_config)


def load(system: str, settings: Settings, *, source=None, progress: str | None = "log") -> LoadInfo:
    """Load every extract file of ``system`` from the landing folder into the warehouse.

    ``source``: the dlt source to run, by default ``source_for(system, settings)``; Dagster passes
    that source narrowed to the selected assets' resources. Returns dlt's ``LoadInfo``; its
    ``pipeline`` is the pipeline that ran.

    A file that does not match its declaration raises ``ExtractFileError`` (file, line, column);
    a raw column of another type than declared, or a dlt variant column in the raw schemas after
    the load, raises ``SchemaContractError`` (ingestion/README.md, "Schema contracts").
    """
    from pilotage.warehouse import warehouse_of

    warehouse = warehouse_of(settings)
    pipeline = make_pipeline(system, warehouse, settings.dlt_pipelines_dir, progress=progress)
    # The local working state is only a cache of the destination's: drop it, so that a package
    # left pending by a failed run is not retried and the state (files already loaded, cursors)
    # comes from the warehouse (as dagster-dlt does before each run).
    if pipeline.config.restore_from_destination:
        pipeline.drop()
    else:
        pipeline.drop_pending_packages()
    try:
        info = pipeline.run(source if source is not None else source_for(system, settings))
    except PipelineStepFailed as exc:
        bad_file = _extract_file_error(exc)
        if bad_file is not None:
            raise ExtractFileError(str(bad_file)) from exc
        raise
    info.raise_on_failed_jobs()
    check_no_variant_columns(warehouse)  # variant columns never reach dbt
    return info
