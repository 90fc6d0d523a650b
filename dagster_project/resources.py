"""Shared pieces of the Dagster code location: the single-writer pool and dbt's environment."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pilotage.settings import Settings

# Every asset or check that opens warehouse.duckdb claims a slot of this pool. DuckDB allows one
# writer per file across processes; dagster.yaml gives the pool a limit of 1.
WAREHOUSE_POOL = "warehouse_duckdb"


@contextlib.contextmanager
def dbt_environment(settings: Settings) -> Iterator[None]:
    """The settings in ``os.environ`` while dagster-dbt starts dbt, restored right after.

    The one place pilotage writes settings into ``os.environ``, and only for the length of a
    ``DbtCliResource.cli(...)`` call: dagster-dbt builds dbt's environment from ``os.environ``
    (its ``cli`` takes no env), and dbt's profile reads the warehouse path from
    PILOTAGE_WAREHOUSE_PATH (the as-of day and the sources go as ``--vars``). The subprocess has
    its environment once ``cli`` returns, so nothing else sees the change."""
    wanted = settings.to_env()
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
