"""Another CRM's export, through its mapping, to the marts (``ingestion.demo.shapes``,
``foreign_export``).

The shape renders the demo's UserRole, User, Account, Opportunity, OpportunityHistory, Task and
Event files as a French Excel export (one folder per delivery) with the mapping that reads it,
and converts it back into the landing folder with ``ingestion.mapping.convert``. The rules
checked here:

- the export is what a French Excel user saves (Windows-1252, ``;``, CRLF, decimal comma and
  no-break-space thousands, dd/mm/yyyy dates, Paris wall-clock times, ``N/A``, Oui/Non, French
  stages and types, exact duplicate rows, a total line);
- the round trip is lossless: each delivery's converted file holds the records its canonical
  file held, per primary key and cursor, every declared column equal as typed by
  ``ingestion.landing_files.readers.read_extract_file``; the other files are untouched; the
  conversion counted what the export holds (a row per record version, the duplicates collapsed,
  the total line skipped, nothing quarantined). On the demo alone and after every other shape but
  the removal of a system;
- instants survive both DST changes, and one the export cannot write unambiguously (the second
  pass of the repeated autumn hour) is refused, never shifted;
- conservation from export to marts: a company built with it by
  ``tests/companies.py`` (the machinery of ``tests/warehouse/test_any_company.py``) matches the
  oracle at every level, month and quarter, measure and fact.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.contracts import SOURCE_FILE_COLUMN, column_name
from ingestion.demo.generator import generate
from ingestion.demo.shapes import (
    EXTRACTS,
    FOREIGN_FILES,
    FOREIGN_OBJECTS,
    NBSP,
    SHAPE_ORDER,
    ShapeRecord,
    apply_shapes,
    foreign_export_dir,
)
from ingestion.extracts import CRM_EXTRACTS, Extract
from ingestion.landing_files.readers import read_extract_file
from tests.companies import SCALE, Case, assert_no_problems, build_company, company_problems
from tests.conftest import AS_OF
from tests.oracle.measures import Expected, expect

SHAPE = "foreign_export"
SEED = 21
OTHERS = tuple(s for s in SHAPE_ORDER if s not in (SHAPE, "crm_only", "erp_only"))
Records = dict[tuple[object, object], dict[str, object]]  # (primary key, cursor) -> typed row


def typed_records(extract: Extract, path: Path) -> Records:
    """The file's records as the loader types them, per (primary key, cursor); exact duplicate
    rows are one record (a key and cursor with two contents makes the loader raise)."""
    key = column_name(extract.primary_key), column_name(extract.cursor)
    rows = read_extract_file(extract, path).drop_columns([SOURCE_FILE_COLUMN]).to_pylist()
    return {(row[key[0]], row[key[1]]): row for row in rows}


def canonical_files(landing: Path) -> dict[str, dict[str, Records]]:
    """Per delivery (file name suffix), the typed records of each foreign object's file."""
    deliveries: dict[str, dict[str, Records]] = {}
    for name in FOREIGN_OBJECTS:
        for path in EXTRACTS[name].files(landing):
            suffix = path.stem[len(name) + 1 :]
            deliveries.setdefault(suffix, {})[name] = typed_records(EXTRACTS[name], path)
    return deliveries


def other_files(landing: Path) -> dict[Path, bytes]:
    """Every landing file outside the foreign objects' folders, by path."""
    folders = {EXTRACTS[name].folder(landing) for name in FOREIGN_OBJECTS}
    return {
        path.relative_to(landing): path.read_bytes()
        for path in sorted(landing.rglob("*"))
        if path.is_file() and path.parent not in folders
    }


def read_export(path: Path) -> tuple[list[str], list[list[str]]]:
    """An export file's header and lines, read as Excel wrote them."""
    text = path.read_bytes().decode("cp1252")
    header, *lines = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    return header, lines


class RoundTrip:
    """A landing folder before and after ``foreign_export``, and what the shape said."""

    def __init__(self, root: Path, shapes: tuple[str, ...]):
        self.landing = root / "landing"
        self.shapes = shapes
        generate(self.landing, seed=SEED, scale=SCALE, as_of=AS_OF)
        apply_shapes(self.landing, shapes, seed=SEED, scale=SCALE, as_of=AS_OF)
        self.before = canonical_files(self.landing)
        self.others = other_files(self.landing)
        (self.record,) = apply_shapes(self.landing, [SHAPE], seed=SEED, scale=SCALE, as_of=AS_OF)
        self.deliveries: dict[str, dict] = self.record.details["deliveries"]

    def converted(self, suffix: str, name: str) -> Path:
        drop = self.deliveries[suffix]["drop"]
        return EXTRACTS[name].folder(self.landing) / f"{name}_{drop}.csv"

    def export_file(self, suffix: str, name: str) -> Path:
        return foreign_export_dir(self.landing) / suffix / f"{FOREIGN_FILES[name][0]}.csv"


@pytest.fixture(scope="module", params=[(), OTHERS], ids=["demo", "after every other shape"])
def trip(request, tmp_path_factory) -> RoundTrip:
    return RoundTrip(tmp_path_factory.mktemp("trip"), request.param)


# --------------------------------------------------------------------------- the export


@pytest.mark.parametrize("trip", [()], ids=["demo"], indirect=True)
def test_the_export_is_a_french_excel_file(trip):
    """The demo's export, as written: what the mapping's format section declares."""
    folder = foreign_export_dir(trip.landing) / "20261115"
    data = (folder / "opportunites.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.count(b"\r\n") == data.count(b"\n")
    header, lines = read_export(folder / "opportunites.csv")
    assert header[:5] == ["N° opportunité", "Intitulé", "Compte (ID)", "Propriétaire (ID)", "Étape"]
    *rows, total = lines
    stages = {"Prospection", "Qualification", "Proposition", "Négociation", "Gagnée", "Perdue"}
    assert {row[4] for row in rows} == stages
    assert {row[8] for row in rows} == {"Oui", "Non"}
    assert any(NBSP in row[5] for row in rows) and all("." not in row[5] for row in rows)
    assert total[0] == "Total" and french(total[5]) == sum(french(row[5]) for row in rows)
    assert all(dt.datetime.strptime(row[7], "%d/%m/%Y") for row in rows)
    _, tasks = read_export(folder / "taches.csv")
    assert {row[4] for row in tasks} == {"Appel", "E-mail"}
    _, users = read_export(folder / "utilisateurs.csv")
    assert any(row[6] == "N/A" for row in users)  # directors have no manager


def french(amount: str) -> Decimal:
    """A French amount: no-break-space thousands, decimal comma."""
    return Decimal(amount.replace(NBSP, "").replace(",", "."))


# --------------------------------------------------------------------------- the round trip


def test_the_round_trip_is_lossless(trip):
    """Each delivery's converted file holds the records its canonical file held: the same
    (primary key, cursor) versions, every declared column equal as the loader types it."""
    assert set(trip.deliveries) == set(trip.before), trip.record
    for suffix, before in trip.before.items():
        for name in FOREIGN_OBJECTS:
            path = trip.converted(suffix, name)
            after, want = typed_records(EXTRACTS[name], path), before.get(name, {})
            assert after.keys() == want.keys(), f"{path}: other record versions"
            wrong = [key for key in after if after[key] != want[key]]
            assert not wrong, f"{path}: {wrong[0]} was {want[wrong[0]]}, is {after[wrong[0]]}"


def test_only_the_foreign_objects_change(trip):
    """The canonical files of the foreign objects are gone; every other file is as it was, but
    the header-only files the conversion writes for the CRM objects it does not fill."""
    for name in FOREIGN_OBJECTS:
        drops = {f"{name}_{d['drop']}.csv" for d in trip.deliveries.values()}
        assert drops and {p.name for p in EXTRACTS[name].files(trip.landing)} == drops, name
    after = other_files(trip.landing)
    assert {p: after[p] for p in trip.others} == trip.others
    for path in after.keys() - trip.others.keys():
        extract = EXTRACTS[path.parent.name]
        assert extract in CRM_EXTRACTS and path.stem.endswith("_mapped"), path
        assert not typed_records(extract, trip.landing / path), path


def test_the_conversion_counts_what_the_export_holds(trip):
    """Per delivery and object: a row per distinct export line, the repeats collapsed, the total
    line skipped, nothing quarantined; the shape's record says the same."""
    collapsed = 0
    for suffix, delivery in trip.deliveries.items():
        counts = delivery["counts"]
        assert not [k for k in counts if k.startswith("quarantined:")], counts
        assert counts["skipped:opportunites:total line"] == 1, counts
        if not trip.shapes:  # the demo exports every object; another shape may remove one
            assert set(delivery["rows"]) == set(FOREIGN_OBJECTS), suffix
        for name in FOREIGN_OBJECTS:
            if name not in delivery["rows"]:
                assert not trip.export_file(suffix, name).exists(), (suffix, name)
                continue
            _, lines = read_export(trip.export_file(suffix, name))
            data = [line for line in lines if line[0] != "Total"]
            distinct = len({tuple(line) for line in data})
            assert len(lines) - len(data) == (name == "Opportunity"), (suffix, name)
            assert delivery["rows"][name] == len(data), (suffix, name)
            assert counts[name] == distinct, (suffix, name, counts)
            assert counts.get(f"collapsed:{name}", 0) == len(data) - distinct, (suffix, name)
            collapsed += len(data) - distinct
    repeated = sum(n for d in trip.deliveries.values() for n in d["repeated"].values())
    assert collapsed >= repeated > 0, trip.record
    assert f"{collapsed} duplicates collapsed" in trip.record.summary


def tree(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_shape_is_deterministic(trip, tmp_path):
    """The same seed and shapes give the same export, mapping and landing files."""
    again = RoundTrip(tmp_path, trip.shapes)
    assert str(again.record) == str(trip.record)
    for folder in (trip.landing, foreign_export_dir(trip.landing)):
        first, second = tree(folder), tree(tmp_path / folder.name)
        assert first.keys() == second.keys(), folder.name
        assert [path for path in first if first[path] != second[path]] == [], folder.name


# --------------------------------------------------------------------------- daylight saving

# UTC instant -> the Paris wall-clock time the export writes
DST_EDGES = {
    "2026-03-29T00:59:59.000Z": "29/03/2026 01:59:59",  # the last second of winter time
    "2026-03-29T01:00:00.000Z": "29/03/2026 03:00:00",  # 02:00-02:59 does not exist
    "2026-07-01T10:00:00.000Z": "01/07/2026 12:00:00",  # summer: UTC+2
    "2026-10-25T00:30:00.000Z": "25/10/2026 02:30:00",  # the first pass of the repeated hour
    "2026-10-25T02:00:00.000Z": "25/10/2026 03:00:00",  # winter again: UTC+1
    "2026-12-31T23:30:00+01:00": "31/12/2026 23:30:00",  # an offset: the same instant
}


def _write_users(landing: Path, stamps: list[str]) -> None:
    extract = EXTRACTS["User"]
    folder = extract.folder(landing)
    folder.mkdir(parents=True)
    with (folder / "User_20261231.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(extract.columns), restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows({"Id": f"U{n}", "LastModifiedDate": s} for n, s in enumerate(stamps))


def _shape(landing: Path) -> ShapeRecord:
    (record,) = apply_shapes(landing, [SHAPE], seed=1, scale=SCALE, as_of=AS_OF)
    return record


def test_times_survive_the_dst_changes(tmp_path):
    landing = tmp_path / "landing"
    _write_users(landing, list(DST_EDGES))
    before = typed_records(EXTRACTS["User"], EXTRACTS["User"].files(landing)[0])
    _shape(landing)
    _, lines = read_export(foreign_export_dir(landing) / "20261231" / "utilisateurs.csv")
    assert [line[-1] for line in lines] == list(DST_EDGES.values())
    after = EXTRACTS["User"].folder(landing) / "User_20261231_mapped.csv"
    assert typed_records(EXTRACTS["User"], after) == before


def test_the_repeated_autumn_hour_is_refused(tmp_path):
    """01:30 UTC on 25 October 2026 is the second 02:30 of Paris: written zone-less, it would
    read back as the first, an hour early."""
    landing = tmp_path / "landing"
    _write_users(landing, ["2026-10-25T01:30:00.000Z"])
    with pytest.raises(ValueError, match="repeated hour"):
        _shape(landing)


# --------------------------------------------------------------------------- to the marts


def oracle_differences(want: Expected, got: Expected) -> list[str]:
    """Where two oracles differ: performance rows, then the other fields."""
    keys = sorted(want.performance.keys() | got.performance.keys(), key=str)
    differences = [
        f"{key}: {want.performance.get(key)} != {got.performance.get(key)}"
        for key in keys
        if want.performance.get(key) != got.performance.get(key)
    ]
    fields = ("company_total", "facts", "presence", "available")
    return differences + [name for name in fields if getattr(want, name) != getattr(got, name)]


def test_a_company_of_a_foreign_crm_has_the_right_numbers(tmp_path_factory):
    """Conservation from the export to the marts: generate, foreign export and mapping (after
    the drops, so that several deliveries go through it, and activities without a type), dlt,
    dbt build. The marts match the oracle of the converted files, which is the oracle of the
    canonical files the export was rendered from."""
    shapes = ("drops", "empty_activity_types")
    company = build_company(
        tmp_path_factory.mktemp("companies"), Case(SEED, AS_OF, (*shapes, SHAPE))
    )
    record = next(r for r in company.records if r.shape == SHAPE)
    assert len(record.details["deliveries"]) > 1, record
    assert_no_problems(company_problems(company), company)
    canonical = tmp_path_factory.mktemp("canonical")
    generate(canonical, seed=SEED, scale=SCALE, as_of=AS_OF)
    apply_shapes(canonical, shapes, seed=SEED, scale=SCALE, as_of=AS_OF)
    assert oracle_differences(expect(canonical, AS_OF), company.expected)[:20] == []
