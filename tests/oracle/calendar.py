"""The calendar of the oracles: periods, public holidays, working days.

One set of rules for every recomputation: a period of a grain (day, ISO week from Monday, month,
quarter) starts on its first day and ends the day before the next one starts; the public holidays
are those of the configured calendar (the dbt var ``holiday_calendar``, the holidays seed), read
from the seed file, not from the warehouse; a working day is a weekday that is not one of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools

import yaml

from pilotage.settings import DBT_PROJECT_DIR


def period_start(grain: str, day: dt.date) -> dt.date:
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    raise ValueError(f"unknown period grain {grain!r}")


def shift(grain: str, start: dt.date, steps: int) -> dt.date:
    """The start of the period ``steps`` periods after the one starting on ``start``."""
    if grain in ("day", "week"):
        return start + dt.timedelta(days=steps * (1 if grain == "day" else 7))
    months = start.year * 12 + start.month - 1 + steps * (1 if grain == "month" else 3)
    return dt.date(months // 12, months % 12 + 1, 1)


def period_end(grain: str, start: dt.date) -> dt.date:
    return shift(grain, start, 1) - dt.timedelta(days=1)


def months_back(start: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months before the one starting on ``start``."""
    return shift("month", start, -n)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@functools.cache
def holidays() -> frozenset[dt.date]:
    """The public holidays of the configured calendar (dbt var holiday_calendar, seed CSV)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    code = project["vars"]["holiday_calendar"]
    with open(DBT_PROJECT_DIR / "seeds" / "holidays.csv", newline="", encoding="utf-8") as fh:
        return frozenset(
            dt.date.fromisoformat(row["holiday_date"])
            for row in csv.DictReader(fh)
            if row["calendar_code"] == code
        )


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in holidays()
