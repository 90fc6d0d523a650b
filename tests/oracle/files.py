"""Reading the extract files, as every oracle of the package does.

The canonical extract files (``ingestion.extracts``: objects, primary keys, cursors) read with the
csv module, never the warehouse nor the loader: every delivered row, the current state of each
record (its latest version), or every version of a record over the drops (the User extract holds
one row per version, a target one per revision).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from ingestion.extracts import ALL_EXTRACTS, Extract

EXTRACTS: dict[str, Extract] = {e.object_name: e for e in ALL_EXTRACTS}
EXTRACTS_BY_TABLE: dict[str, Extract] = {e.table: e for e in ALL_EXTRACTS}

Row = dict[str, str]


def parse_instant(value: str) -> dt.datetime | None:
    """An ISO timestamp (``Z`` or an offset; naive is UTC) or date, as an aware datetime."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def utc_day(value: str) -> dt.date | None:
    instant = parse_instant(value)
    return instant.astimezone(dt.UTC).date() if instant else None


def parse_day(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "t", "1", "yes")


def delivered_rows(landing: Path, object_name: str) -> list[Row]:
    """Every row of every file of the object, oldest drop first; exact duplicates once."""
    extract = EXTRACTS[object_name]
    seen: set[tuple[tuple[str, str], ...]] = set()
    rows = []
    for path in extract.files(landing):
        if path.suffix.lower() != ".csv":
            raise ValueError(f"{path}: the oracle reads CSV extracts only")
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                identity = tuple(row.items())
                if identity not in seen:
                    seen.add(identity)
                    rows.append(row)
    return rows


def current_rows(landing: Path, object_name: str, *, deleted: bool = False) -> list[Row]:
    """The latest version of every record (per primary key, the latest cursor; a later drop
    wins a tie); records whose latest version is IsDeleted true are left out unless
    ``deleted``."""
    extract = EXTRACTS[object_name]
    latest: dict[str, tuple[tuple[dt.datetime, int], Row]] = {}
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    for order, row in enumerate(delivered_rows(landing, object_name)):
        rank = (parse_instant(row[extract.cursor]) or floor, order)
        key = row[extract.primary_key]
        if key not in latest or rank >= latest[key][0]:
            latest[key] = (rank, row)
    rows = [row for _, row in latest.values()]
    return rows if deleted else [row for row in rows if not is_true(row.get("IsDeleted"))]


def latest_rows(landing: Path, table: str) -> list[Row]:
    """The current version of every record of the extract loaded into ``table``, deleted ones
    included (the demo oracles read IsDeleted themselves)."""
    return current_rows(landing, EXTRACTS_BY_TABLE[table].object_name, deleted=True)


def demo_tables(landing: Path) -> dict[str, list[Row]]:
    """``latest_rows`` of every extract, by table."""
    return {extract.table: latest_rows(landing, extract.table) for extract in ALL_EXTRACTS}


def all_versions(landing: Path, table: str) -> list[Row]:
    """Every version of a record over its drops (one per Id and LastModifiedDate, the later drop
    winning), oldest first per record."""
    rows = {}
    for path in EXTRACTS_BY_TABLE[table].files(landing):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows[(row["Id"], parse_instant(row["LastModifiedDate"]))] = row
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1]))]


def team_versions(
    landing: Path, roles: dict[str, Row]
) -> dict[str, list[tuple[dt.date, str | None]]]:
    """Per user, the team of each UTC day a version of the User extract is dated (the day's last
    version wins), in day order: the version's UserRoleId when that role is a team, else None."""
    by_day: dict[str, dict[dt.date, str | None]] = {}
    for version in all_versions(landing, "users"):  # oldest first
        role = roles.get(version["UserRoleId"], {})
        team = version["UserRoleId"] if role.get("RollupDescription") == "Team" else None
        by_day.setdefault(version["Id"], {})[utc_day(version["LastModifiedDate"])] = team
    return {user_id: sorted(days.items()) for user_id, days in by_day.items()}
