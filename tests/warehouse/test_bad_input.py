"""Bad input: every class has a defined outcome (ingestion/README.md, "Bad input").

A row with a bad value is left out of its raw table and listed in ``raw_<system>.quarantine``
(file, line, field, value, reason) while the load goes on; a file that cannot be read stops the
load with a message naming file, line and field. Nothing is dropped silently, and re-running on
the same files does not duplicate quarantine rows.

Bad files are written by the test into a landing folder holding only the objects under test
(copied from a small demo), loaded by the real dlt source and pipeline under tmp_path. Expected
values are the values the test wrote.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from ingestion.formats import CONFIG_ENV
from ingestion.landing_files import ExtractFileError, crm_source, erp_source
from ingestion.pipeline import make_pipeline
from ingestion.quarantine import list_quarantine, quarantine_counts

DROP = "20261115"
SOURCES = {"crm": crm_source, "erp": erp_source}


def _rows(demo: Path, system: str, obj: str) -> list[dict[str, str]]:
    with (demo / system / obj / f"{obj}_{DROP}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _path(tmp_path: Path, system: str, obj: str, ext: str = "csv", drop: str = DROP) -> Path:
    folder = tmp_path / "landing" / system / obj
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{obj}_{drop}.{ext}"


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    """Header + rows, ``\\n`` line ends: data row i (0-based) is on line i + 2."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _run(tmp_path: Path, system: str) -> Path:
    warehouse = tmp_path / "warehouse.duckdb"
    pipeline = make_pipeline(system, warehouse, tmp_path / "dlt")
    pipeline.run(SOURCES[system](tmp_path / "landing")).raise_on_failed_jobs()
    return warehouse


def _error(tmp_path: Path, system: str) -> str:
    """The ExtractFileError a load stops with (dlt wraps it in PipelineStepFailed)."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - unwrapped below
        _run(tmp_path, system)
    current: BaseException | None = raised.value
    while current is not None and not isinstance(current, ExtractFileError):
        current = current.__cause__ or current.__context__
    assert current is not None, f"not an ExtractFileError: {raised.value!r}"
    return str(current)


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


def _quarantine(warehouse: Path, system: str) -> list[tuple]:
    return _query(
        warehouse,
        f"select source_file, line, object, field, value, reason from raw_{system}.quarantine "
        "order by source_file, line, field",
    )


def _ids(warehouse: Path, table: str, key: str = "id") -> set[str]:
    return {row[0] for row in _query(warehouse, f"select {key} from {table}")}


def _config(tmp_path: Path, monkeypatch, text: str) -> None:
    path = tmp_path / "landing.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(path))


# ---------------------------------------------------------------------------------------------
# Row-level: quarantined, the load goes on.


def test_a_wrong_type_is_quarantined_once_and_the_good_rows_load(tmp_path, demo):
    rows = _rows(demo, "crm", "Opportunity")
    rows[15]["Amount"] = "abc"  # line 17
    rows[20]["CloseDate"] = "15/01/2026"  # line 22
    path = _write(_path(tmp_path, "crm", "Opportunity"), rows)
    warehouse = _run(tmp_path, "crm")
    expected = [
        (path.name, 17, "Opportunity", "Amount", "abc", "not a decimal (at most 2 decimals)"),
        (path.name, 22, "Opportunity", "CloseDate", "15/01/2026", "not a date (YYYY-MM-DD)"),
    ]
    assert _quarantine(warehouse, "crm") == expected
    good = {r["Id"] for i, r in enumerate(rows) if i not in (15, 20)}
    assert _ids(warehouse, "raw_crm.opportunities") == good

    # the same files again: nothing new loaded, the same two quarantine rows (merged)
    _run(tmp_path, "crm")
    assert _quarantine(warehouse, "crm") == expected
    assert _query(warehouse, "select count(*) from raw_crm.opportunities") == [(len(good),)]

    # what `pilotage quarantine` and the Dagster metadata read
    listed = list_quarantine(warehouse)
    assert [(q["system"], q["source_file"], q["line"], q["field"]) for q in listed] == [
        ("crm", path.name, 17, "Amount"),
        ("crm", path.name, 22, "CloseDate"),
    ]
    assert listed[0]["value"] == "abc" and listed[0]["quarantined_at"] is not None
    assert quarantine_counts(warehouse, "crm") == {"Opportunity": 2}
    assert list_quarantine(warehouse, "erp") == []


def test_a_malformed_row_is_quarantined_whole(tmp_path, demo):
    rows = _rows(demo, "crm", "Account")
    path = _write(_path(tmp_path, "crm", "Account"), rows)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = lines[4].rstrip("\n") + ",unexpected,fields\n"  # line 5: data row 3
    path.write_text("".join(lines), encoding="utf-8")
    warehouse = _run(tmp_path, "crm")
    ((source_file, line, obj, field, value, reason),) = _quarantine(warehouse, "crm")
    assert (source_file, line, obj, field) == (path.name, 5, "Account", "(row)")
    assert value.startswith(rows[3]["Id"] + ",") and value.endswith(",unexpected,fields")
    assert reason == f"{len(rows[0]) + 2} fields where the header has {len(rows[0])}"
    assert _ids(warehouse, "raw_crm.accounts") == {r["Id"] for r in rows} - {rows[3]["Id"]}


def test_unknown_enum_values_are_quarantined(tmp_path, demo):
    tasks = _rows(demo, "crm", "Task")
    tasks[0]["TaskSubtype"] = "Meeting"  # line 2
    _write(_path(tmp_path, "crm", "Task"), tasks)
    invoices = _rows(demo, "erp", "invoices")
    invoices[2]["state"] = "draft"  # line 4
    invoices_path = _write(_path(tmp_path, "erp", "invoices"), invoices)

    crm = _run(tmp_path, "crm")
    ((*_, field, value, reason),) = _quarantine(crm, "crm")
    assert (field, value, reason) == ("TaskSubtype", "Meeting", "not one of Call, Email")
    assert tasks[0]["Id"] not in _ids(crm, "raw_crm.tasks")

    erp = _run(tmp_path, "erp")
    assert _quarantine(erp, "erp") == [
        (invoices_path.name, 4, "invoices", "state", "draft", "not one of posted, cancel")
    ]
    loaded = _ids(erp, "raw_erp.invoices", "invoice_id")
    assert loaded == {r["invoice_id"] for r in invoices} - {invoices[2]["invoice_id"]}


def test_an_empty_primary_key_or_cursor_is_quarantined(tmp_path, demo):
    rows = _rows(demo, "crm", "Opportunity")
    rows[2]["Id"] = ""  # line 4
    cursorless = rows[5]["Id"]
    rows[5]["LastModifiedDate"] = ""  # line 7
    path = _write(_path(tmp_path, "crm", "Opportunity"), rows)
    warehouse = _run(tmp_path, "crm")
    assert _quarantine(warehouse, "crm") == [
        (path.name, 4, "Opportunity", "Id", None, "empty, but it is the primary key of "
         "Opportunity"),
        (path.name, 7, "Opportunity", "LastModifiedDate", None, "empty, but it is the cursor "
         "of Opportunity"),
    ]  # fmt: skip
    assert _ids(warehouse, "raw_crm.opportunities") == {r["Id"] for r in rows} - {"", cursorless}


def test_duplicate_keys_in_one_file(tmp_path, demo):
    rows = _rows(demo, "crm", "Account")
    newer = dict(rows[1], Name="Renamed", LastModifiedDate="2026-11-14T10:00:00.000Z")
    conflicting = dict(rows[2], Name="Conflict")  # same key and cursor, another name
    exact_copy = dict(rows[3])
    path = _write(_path(tmp_path, "crm", "Account"), [*rows, newer, conflicting, exact_copy])
    n = len(rows)
    warehouse = _run(tmp_path, "crm")
    # a newer version is one more row (raw keeps every version, the newest first by cursor);
    # an exact copy is the same row
    assert _query(
        warehouse,
        f"select name from raw_crm.accounts where id = '{rows[1]['Id']}' "
        "order by last_modified_date desc",
    ) == [("Renamed",), (rows[1]["Name"],)]
    assert _query(
        warehouse, f"select count(*) from raw_crm.accounts where id = '{rows[3]['Id']}'"
    ) == [(1,)]
    # same key, same cursor, different contents: both quarantined, neither loaded
    quarantined = _quarantine(warehouse, "crm")
    assert [(q[0], q[1], q[3], q[4]) for q in quarantined] == [
        (path.name, 4, "Id", rows[2]["Id"]),
        (path.name, n + 3, "Id", rows[2]["Id"]),
    ]
    assert quarantined[0][5].startswith("duplicate key with conflicting content")
    assert f"line {n + 3}" in quarantined[0][5] and "line 4" in quarantined[1][5]
    assert _ids(warehouse, "raw_crm.accounts") == {r["Id"] for r in rows} - {rows[2]["Id"]}


def test_json_lines_bad_values_and_bad_lines_are_quarantined(tmp_path, demo):
    rows = _rows(demo, "erp", "customers")
    path = _path(tmp_path, "erp", "customers", "jsonl")
    lines = [json.dumps(r) + "\n" for r in rows]
    lines[1] = json.dumps(dict(rows[1], updated_at="yesterday")) + "\n"  # line 2
    lines[3] = '{"customer_id": "C-broken", \n'  # line 4: not JSON, not the last line
    path.write_text("".join(lines), encoding="utf-8")
    warehouse = _run(tmp_path, "erp")
    quarantined = _quarantine(warehouse, "erp")
    assert [q[:5] for q in quarantined] == [
        (path.name, 2, "customers", "updated_at", "yesterday"),
        (path.name, 4, "customers", "(row)", '{"customer_id": "C-broken",'),
    ]
    assert quarantined[1][5].startswith("not valid JSON")
    bad = {rows[1]["customer_id"], rows[3]["customer_id"]}
    assert (
        _ids(warehouse, "raw_erp.customers", "customer_id")
        == {r["customer_id"] for r in rows} - bad
    )


def test_on_bad_row_fail_stops_the_load_naming_file_line_and_field(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, "crm:\n  on_bad_row: fail\n")
    tasks = _rows(demo, "crm", "Task")
    tasks[6]["TaskSubtype"] = "Meeting"  # line 8
    path = _write(_path(tmp_path, "crm", "Task"), tasks)
    message = _error(tmp_path, "crm")
    assert f"{path} line 8, column TaskSubtype: 'Meeting' is not one of Call, Email" in message
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        tables = con.sql("select table_name from information_schema.tables").fetchall()
    assert ("tasks",) not in tables


# ---------------------------------------------------------------------------------------------
# What loads as it is: extra columns, orphan references, header-only files.


def test_unknown_extra_columns_are_kept_as_text(tmp_path, demo):
    rows = _rows(demo, "crm", "Account")
    for i, row in enumerate(rows):
        row["Segment__c"] = "SMB" if i % 2 else ""
        row["Employee_Count__c"] = str(10 * i)
    _write(_path(tmp_path, "crm", "Account"), rows)
    warehouse = _run(tmp_path, "crm")
    types = dict(
        _query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw_crm' and table_name = 'accounts'",
        )
    )
    assert types["segment_c"] == types["employee_count_c"] == "VARCHAR"
    loaded = dict(_query(warehouse, "select id, employee_count_c from raw_crm.accounts"))
    assert loaded == {r["Id"]: r["Employee_Count__c"] for r in rows}
    assert _quarantine(warehouse, "crm") == []


def test_an_orphan_reference_is_loaded_for_dbt_to_flag(tmp_path, demo):
    tasks = _rows(demo, "crm", "Task")
    tasks[0]["OwnerId"] = "005UNKNOWN000000"  # no such User: a dbt relationships test flags it
    _write(_path(tmp_path, "crm", "Task"), tasks)
    warehouse = _run(tmp_path, "crm")
    assert _query(
        warehouse, f"select owner_id from raw_crm.tasks where id = '{tasks[0]['Id']}'"
    ) == [("005UNKNOWN000000",)]
    assert _quarantine(warehouse, "crm") == []


def test_a_header_only_file_loads_no_rows(tmp_path, demo):
    header = ",".join(_rows(demo, "crm", "Contract")[0])
    _path(tmp_path, "crm", "Contract").write_text(header + "\n", encoding="utf-8")
    warehouse = _run(tmp_path, "crm")
    assert _query(warehouse, "select count(*) from raw_crm.contracts") == [(0,)]


# ---------------------------------------------------------------------------------------------
# File-level: the load stops, naming file, line and field.


def test_a_missing_required_column_stops_the_load(tmp_path, demo):
    rows = [
        {k: v for k, v in r.items() if k != "net_amount"}
        for r in _rows(demo, "erp", "invoice_lines")
    ]
    path = _write(_path(tmp_path, "erp", "invoice_lines"), rows)
    message = _error(tmp_path, "erp")
    assert f"{path} line 1: header lacks declared column(s) net_amount" in message


def test_an_empty_file_stops_the_load(tmp_path):
    path = _path(tmp_path, "crm", "User")
    path.write_bytes(b"")
    assert f"{path}: the file is empty (0 bytes), expected a header row" in _error(tmp_path, "crm")


def test_a_truncated_file_stops_the_load(tmp_path, demo):
    rows = _rows(demo, "crm", "Opportunity")
    path = _write(_path(tmp_path, "crm", "Opportunity"), rows)
    text = path.read_text(encoding="utf-8")
    last = len(rows) + 1
    path.write_text(text[: text.rindex(",", 0, len(text) - 40)], encoding="utf-8")  # cut mid-line
    message = _error(tmp_path, "crm")
    assert f"{path} line {last}: " in message and "the file looks truncated" in message

    # a quote opened and never closed swallows the rest of the file into one field
    lines = text.splitlines(keepends=True)
    lines[5] = lines[5].replace(",", ',"', 1)
    path.write_text("".join(lines), encoding="utf-8")
    message = _error(tmp_path, "crm")
    assert f"{path} line 6: " in message and "a quote that is never closed" in message


def test_a_truncated_json_lines_file_stops_the_load(tmp_path, demo):
    rows = _rows(demo, "erp", "customers")
    path = _path(tmp_path, "erp", "customers", "jsonl")
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text[:-20], encoding="utf-8")
    message = _error(tmp_path, "erp")
    assert f"{path} line {len(rows)}: not valid JSON" in message and "truncated" in message


def test_a_wrong_encoding_stops_the_load(tmp_path, demo):
    users = _rows(demo, "crm", "User")
    users[2]["FirstName"] = "Hélène"  # line 4, written as Windows-1252
    path = _path(tmp_path, "crm", "User")
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.DictWriter(handle, list(users[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(users)
    message = _error(tmp_path, "crm")
    assert f"{path} line 4: byte" in message and "is not valid UTF-8" in message


def test_a_delimiter_mismatch_stops_the_load(tmp_path, demo):
    rows = _rows(demo, "erp", "products")
    path = _path(tmp_path, "erp", "products")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), delimiter=";", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    message = _error(tmp_path, "erp")
    assert f"{path} line 1: the file looks ';'-delimited but erp.products is declared" in message
