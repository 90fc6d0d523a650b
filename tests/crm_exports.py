"""The CRM fixture exports of the mapping tests, and what the tests do with them.

tests/fixtures/crm_exports holds small HubSpot-, Pipedrive- and Maven-style exports (and a French
Excel one). The unit tests convert them (tests/unit/test_crm_mappings.py), the warehouse tests
load the conversion with the real dlt CRM source (tests/warehouse/test_crm_mapping_loads.py);
both read the fixture files and the converted landing files with the csv module, independently
of the mapping code, and edit copies of the exports to plant bad values.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crm_exports"
DROP = "20260215"  # the drop date of the converted files


def read_fixture(crm: str, name: str, **fmt) -> list[dict[str, str]]:
    encoding = fmt.pop("encoding", "utf-8")
    with (FIXTURES / crm / name).open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle, **fmt))


def read_landing(landing: Path, obj: str) -> list[dict[str, str]]:
    with (landing / "crm" / obj / f"{obj}_{DROP}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def copy_export(crm: str, tmp: Path) -> Path:
    target = tmp / crm
    shutil.copytree(FIXTURES / crm, target)
    return target


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    rows[line - 1][rows[0].index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


def rewrite_csv(path: Path, change) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, [change(r) for r in reader]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
