"""Schedules: refresh through the working day, so dashboards stay current without anyone asking."""

import os

from dagster import DefaultScheduleStatus, ScheduleDefinition

from dagster_project.jobs import full_refresh_job

refresh_schedule = ScheduleDefinition(
    name="working_hours_refresh",
    job=full_refresh_job,
    # Every hour from 07:00 to 19:00, Monday to Friday, in the company's time zone.
    cron_schedule=os.environ.get("PILOTAGE_REFRESH_CRON", "0 7-19 * * 1-5"),
    execution_timezone=os.environ.get("PILOTAGE_TIMEZONE", "Europe/Paris"),
    default_status=DefaultScheduleStatus.RUNNING,
)
