"""Where pilotage keeps its files and which day is "today": one place, read from the environment.

Every path has a default under the project's ``data/`` folder so that the demo works with no
configuration; deployments set the ``PILOTAGE_*`` variables (see ``.env.example``).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
SUPERSET_DIR = PROJECT_ROOT / "superset"

# Schemas of the warehouse that the publish step copies into the serving file.
SERVED_SCHEMAS = ("marts",)
# The source systems pilotage knows. PILOTAGE_SOURCES says which ones a company has: a company
# without an ERP (or without a CRM) still gets its dashboards, with what it lacks said plainly.
SOURCE_SYSTEMS = ("crm", "erp")


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    landing_dir: Path
    warehouse_path: Path
    serving_path: Path
    as_of: dt.date
    sources: tuple[str, ...] = SOURCE_SYSTEMS

    @property
    def dlt_pipelines_dir(self) -> Path:
        return self.data_dir / "dlt"


def parse_as_of(value: str | None) -> dt.date:
    """The as-of date for pacing: an ISO date, or today when unset."""
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"PILOTAGE_AS_OF={value!r} is not a date: use YYYY-MM-DD, or unset it for today"
        ) from exc


def parse_sources(value: str | None) -> tuple[str, ...]:
    """The source systems a company has: a comma-separated list of crm and erp (default both)."""
    if value is None or not value.strip():
        return SOURCE_SYSTEMS
    names = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in SOURCE_SYSTEMS]
    if unknown or not names:
        raise ValueError(
            f"PILOTAGE_SOURCES={value!r}: give a comma-separated list of "
            f"{' and '.join(SOURCE_SYSTEMS)} (e.g. crm for a company without an ERP)"
        )
    return tuple(name for name in SOURCE_SYSTEMS if name in names)


def load_settings() -> Settings:
    data_dir = _path("PILOTAGE_DATA_DIR", PROJECT_ROOT / "data")
    return Settings(
        data_dir=data_dir,
        landing_dir=_path("PILOTAGE_LANDING_DIR", data_dir / "landing"),
        warehouse_path=_path("PILOTAGE_WAREHOUSE_PATH", data_dir / "warehouse.duckdb"),
        serving_path=_path("PILOTAGE_SERVING_PATH", data_dir / "serving" / "serving.duckdb"),
        as_of=parse_as_of(os.environ.get("PILOTAGE_AS_OF")),
        sources=parse_sources(os.environ.get("PILOTAGE_SOURCES")),
    )
