"""Schedules: refresh through the working day, so dashboards stay current without anyone asking."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from pilotage.settings import Settings


def build_refresh_schedule(settings: Settings, job) -> ScheduleDefinition:
    """The full refresh on PILOTAGE_REFRESH_CRON (default: every hour from 07:00 to 19:00,
    Monday to Friday) in PILOTAGE_TIMEZONE, the company's time zone."""
    return ScheduleDefinition(
        name="working_hours_refresh",
        job=job,
        cron_schedule=settings.refresh_cron,
        execution_timezone=settings.timezone,
        default_status=DefaultScheduleStatus.RUNNING,
    )
