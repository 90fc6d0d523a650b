"""Shared pieces of the Dagster code location: the settings and the single-writer pool."""

import os

from pilotage.settings import Settings, load_settings

# Every asset or check that opens warehouse.duckdb claims a slot of this pool. DuckDB allows one
# writer per file across processes; dagster.yaml gives the pool a limit of 1.
WAREHOUSE_POOL = "warehouse_duckdb"


def current_settings() -> Settings:
    """Settings from the environment, exported back so dbt's subprocess sees the same paths."""
    settings = load_settings()
    os.environ["PILOTAGE_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ["PILOTAGE_AS_OF"] = settings.as_of.isoformat()
    return settings
