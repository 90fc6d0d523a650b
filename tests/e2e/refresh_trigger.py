"""Start a full refresh the way the landing sensor or the schedule does: evaluate the real sensor
or schedule of the code location, take its run request, and run the job with the tags the
Dagster daemon gives such a run. In process, as a daemon-launched run worker executes it
(tests/e2e/test_production_profile.py goes through the daemon and its queue for real).

    python -m tests.e2e.refresh_trigger sensor|schedule

Settings from the environment (PILOTAGE_DATA_DIR, PILOTAGE_AS_OF, ...). Prints the run id, exits
1 when the run failed, after printing the error that stopped it.
"""

from __future__ import annotations

import datetime as dt
import sys

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun

from dagster_project.definitions import build_definitions
from pilotage.settings import load_settings
from pilotage_cli.app import prepare_dagster_home


def main(kind: str) -> int:
    settings = load_settings()
    defs = build_definitions(settings)
    home = prepare_dagster_home(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        if kind == "sensor":
            sensor = defs.resolve_sensor_def("landing_files_sensor")
            tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
            daemon_tags = DagsterRun.tags_for_sensor(sensor)
        else:
            schedule = defs.resolve_schedule_def("working_hours_refresh")
            when = dt.datetime.now(dt.UTC)
            tick = schedule.evaluate_tick(
                dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
            )
            daemon_tags = DagsterRun.tags_for_schedule(schedule)
        if not tick.run_requests:
            print(f"the {kind} requested no run: {tick.skip_message}", flush=True)
            return 2
        request = tick.run_requests[0]
        result = defs.resolve_job_def("full_refresh").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=request.run_config,
            tags={**request.tags, **daemon_tags},
        )
        print(f"run {result.run_id} success={result.success}", flush=True)
        for event in result.all_events:
            error = getattr(event.event_specific_data, "error", None)
            if event.is_failure and error is not None:
                print(error.to_string(), flush=True)
        return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
