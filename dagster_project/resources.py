"""Shared pieces of the Dagster code location: one refresh at a time (the single-writer pool, the
run tags the queue limits on, the refresh lock) and dbt's environment."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Self

import dagster as dg

from pilotage.refresh_lock import refresh_lock
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


# Run tags that say what started a run (Dagster sets the schedule's and the sensor's).
TRIGGER_TAG = "pilotage/trigger"
# The run queue's concurrency key: dagster.yaml allows one queued run per value at a time.
WAREHOUSE_TAG = "pilotage/warehouse"


def run_trigger(tags: Mapping[str, str]) -> str:
    """What started a run, in words, from its tags."""
    if "dagster/schedule_name" in tags:
        return f"schedule {tags['dagster/schedule_name']}"
    if "dagster/sensor_name" in tags:
        return f"sensor {tags['dagster/sensor_name']}"
    return tags.get(TRIGGER_TAG, "launched from Dagster")


class RefreshLockResource(dg.ConfigurableResource):
    """One refresh at a time per warehouse (pilotage/refresh_lock.py): every asset and check that
    opens the warehouse requires this resource, so a run holds the lock from its first step to
    its last, whether the daemon launched it or `pilotage refresh` runs it in process."""

    warehouse_path: str
    serving_path: str
    wait_seconds: int

    @classmethod
    def for_settings(cls, settings: Settings) -> RefreshLockResource:
        return cls(
            warehouse_path=str(settings.warehouse_path),
            serving_path=str(settings.serving_path),
            wait_seconds=settings.refresh_wait_seconds,
        )

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[Self]:
        run = context.run
        trigger = run_trigger(run.tags if run else {})
        with refresh_lock(
            Path(self.warehouse_path),
            Path(self.serving_path),
            run_id=run.run_id if run else "ephemeral",
            trigger=trigger,
            wait_seconds=self.wait_seconds,
            report=context.log.info,
            on_crashed=lambda crashed: _record_crash(context.instance, crashed.run_id),
        ):
            context.log.info(f"refresh lock of {self.warehouse_path} taken ({trigger})")
            yield self
        context.log.info(f"refresh lock of {self.warehouse_path} released")


def _record_crash(instance: dg.DagsterInstance, run_id: str) -> None:
    """A run whose process died (kill -9, power cut) stays "started" in Dagster forever when no
    daemon monitors it (`pilotage refresh` runs in process): record it as failed."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_failed(
            run,
            "The process running this refresh died without finishing (killed or crashed). The "
            "next refresh stopped what it left running and cleaned up its files.",
        )
