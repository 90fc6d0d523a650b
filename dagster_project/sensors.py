"""Sensors: start a refresh when new or changed extract files land."""

import hashlib
import json
from pathlib import Path

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pilotage.settings import Settings


def landing_fingerprint(landing_dir: Path) -> dict[str, list[float]]:
    """``{relative path: [size, mtime]}`` of every extract file in the landing folder."""
    files = sorted(p for p in Path(landing_dir).glob("*/*/*") if p.is_file())
    return {
        str(p.relative_to(landing_dir)): [p.stat().st_size, p.stat().st_mtime]
        for p in files
        if not p.name.startswith(".")
    }


def _last_successful_refresh_start(context: SensorEvaluationContext, job_name: str) -> float:
    records = context.instance.get_run_records(
        filters=RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.SUCCESS]),
        limit=1,
    )
    return records[0].start_time or 0.0 if records else 0.0


def build_landing_sensor(settings: Settings, job):
    """Refresh ``job`` when extract files land."""

    @sensor(
        name="landing_files_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Refreshes when extract files appear or change under {settings.landing_dir}.",
    )
    def landing_files_sensor(context: SensorEvaluationContext):
        current = landing_fingerprint(settings.landing_dir)
        if not current:
            return SkipReason(f"No extract files under {settings.landing_dir}.")
        if context.cursor:
            seen = json.loads(context.cursor)
            changed = sorted(path for path, meta in current.items() if seen.get(path) != meta)
        else:
            # First tick: only files newer than the last successful refresh are news.
            since = _last_successful_refresh_start(context, job.name)
            changed = sorted(path for path, (_, mtime) in current.items() if mtime > since)
        cursor = json.dumps(current, sort_keys=True)
        if not changed:
            return SensorResult(skip_reason="No new or changed extract files.", cursor=cursor)
        run_key = hashlib.sha256(
            json.dumps({p: current[p] for p in changed}, sort_keys=True).encode()
        ).hexdigest()[:16]
        context.log.info(f"{len(changed)} new or changed extract files: {changed[:10]}")
        return SensorResult(
            run_requests=[RunRequest(run_key=run_key, tags={"pilotage/trigger": "landing"})],
            cursor=cursor,
        )

    return landing_files_sensor
