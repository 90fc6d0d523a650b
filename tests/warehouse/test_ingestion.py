"""dlt loads of the extract files into a temporary DuckDB warehouse.

Expected counts and values are read from the CSV files with the csv module, never from the code
under test. Every pipeline lives under tmp_path (pipelines_dir, warehouse), never ~/.dlt or data/.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.demo.generator import generate
from ingestion.extracts import ALL_EXTRACTS
from ingestion.formats import CONFIG_ENV
from ingestion.landing_files import ExtractFileError, erp_source
from ingestion.pipeline import load, make_pipeline
from pilotage.settings import Settings
from tests.conftest import AS_OF

SCALE = 0.1


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("landing")
    generate(path, seed=42, scale=SCALE, as_of=AS_OF)
    return path


def _settings(data_dir: Path, landing_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        landing_dir=landing_dir,
        warehouse_path=data_dir / "warehouse.duckdb",
        serving_path=data_dir / "serving.duckdb",
        as_of=AS_OF,
    )


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def _count(settings: Settings, table: str) -> int:
    return _query(settings, f"select count(*) from {table}")[0][0]


def _only_opportunities(tmp_path: Path, landing: Path) -> Path:
    """A landing folder holding only the Opportunity extract: fast loads of one table."""
    target = tmp_path / "landing"
    shutil.copytree(landing / "crm" / "Opportunity", target / "crm" / "Opportunity")
    return target


# Primary key of each raw table, written out by hand: the record id and its cursor (one row per
# version of a record), in dlt's snake_case names.
PRIMARY_KEYS = {
    "raw_crm.user_roles": "id, last_modified_date",
    "raw_crm.users": "id, last_modified_date",
    "raw_crm.accounts": "id, last_modified_date",
    "raw_crm.opportunities": "id, last_modified_date",
    "raw_crm.opportunity_history": "id, created_date",
    "raw_crm.tasks": "id, last_modified_date",
    "raw_crm.events": "id, last_modified_date",
    "raw_crm.proposals": "id, last_modified_date",
    "raw_crm.quotes": "id, last_modified_date",
    "raw_crm.contracts": "id, last_modified_date",
    "raw_crm.sales_targets": "id, last_modified_date",
    "raw_erp.customers": "customer_id, updated_at",
    "raw_erp.products": "product_id, updated_at",
    "raw_erp.sales_orders": "order_id, updated_at",
    "raw_erp.sales_order_lines": "order_line_id, updated_at",
    "raw_erp.invoices": "invoice_id, updated_at",
    "raw_erp.invoice_lines": "invoice_line_id, updated_at",
}
EVENTS_COLUMNS = [
    "id", "owner_id", "what_id", "subject", "type", "start_date_time", "end_date_time",
    "activity_date", "duration_in_minutes", "meeting_status_c", "is_deleted", "created_date",
    "last_modified_date", "_source_file", "_dlt_load_id",
]  # fmt: skip


def _expected_counts(landing: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for extract in ALL_EXTRACTS:
        (path,) = (landing / extract.system / extract.object_name).glob("*.csv")
        with path.open(encoding="utf-8", newline="") as handle:
            data_rows = sum(1 for _ in csv.reader(handle)) - 1
        counts[f"raw_{extract.system}.{extract.table}"] = data_rows
    return counts


def test_load_matches_the_extracts_and_is_idempotent(tmp_path, landing):
    settings = _settings(tmp_path, landing)
    expected = _expected_counts(landing)
    assert sorted(expected) == sorted(PRIMARY_KEYS)
    for system in ("crm", "erp"):
        load(system, settings, progress=None)
    loaded = {table: _count(settings, table) for table in expected}
    assert loaded == expected

    columns = _query(
        settings,
        "select column_name from information_schema.columns "
        "where table_schema = 'raw_crm' and table_name = 'events' order by ordinal_position",
    )
    assert [c[0] for c in columns] == EVENTS_COLUMNS
    hire = _query(
        settings, "select count(hire_date_c), count(distinct _source_file) from raw_crm.users"
    )
    assert hire == [(expected["raw_crm.users"], 1)]

    first_loads = {}
    for table in PRIMARY_KEYS:
        schema = table.split(".")[0]
        first_loads[table] = _query(
            settings,
            f"select distinct _dlt_load_id, _dlt_load_id in "
            f"(select load_id from {schema}._dlt_loads where status = 0) from {table}",
        )
        assert len(first_loads[table]) == 1 and first_loads[table][0][1], table

    for system in ("crm", "erp"):
        load(system, settings, progress=None)
    assert {table: _count(settings, table) for table in expected} == expected
    # files already loaded are not read again: all rows keep their first load
    for table in PRIMARY_KEYS:
        assert (
            _query(settings, f"select distinct _dlt_load_id, true from {table}")
            == (first_loads[table])
        ), table
    for table, key in PRIMARY_KEYS.items():
        duplicated = _query(settings, f"select {key} from {table} group by all having count(*) > 1")
        assert duplicated == [], table


def test_values_keep_their_types(tmp_path, landing):
    settings = _settings(tmp_path, _only_opportunities(tmp_path, landing))
    load("crm", settings, progress=None)
    source = landing / "crm" / "Opportunity" / "Opportunity_20261115.csv"
    rows = _csv_rows(source)
    expected_amount = sum(Decimal(r["Amount"]) for r in rows)
    expected_won = sum(r["IsWon"] == "true" for r in rows)
    first = rows[0]
    ((amount, won, files),) = _query(
        settings,
        "select sum(amount), count(*) filter (where is_won), list(distinct _source_file) "
        "from raw_crm.opportunities",
    )
    assert (amount, won, files) == (expected_amount, expected_won, [source.name])
    ((created, close_date),) = _query(
        settings,
        "select strftime(created_date at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.000Z'), close_date "
        f"from raw_crm.opportunities where id = '{first['Id']}'",
    )
    assert created == first["CreatedDate"]
    assert close_date == dt.date.fromisoformat(first["CloseDate"])


def _later_drop(source: Path, target: Path, opportunity_id: str) -> tuple[str, Decimal]:
    """A second drop that changes one opportunity's stage and amount, modified later."""
    rows = _csv_rows(source)
    latest = max(dt.datetime.fromisoformat(r["LastModifiedDate"][:-1]) for r in rows)
    row = next(r for r in rows if r["Id"] == opportunity_id)
    new_stage = "Negotiation" if row["StageName"] != "Negotiation" else "Proposal"
    new_amount = Decimal(row["Amount"]) + Decimal("1234.56")
    row.update(
        StageName=new_stage,
        Amount=str(new_amount),
        LastModifiedDate=(latest + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerow(row)
    return new_stage, new_amount


def _versions(settings: Settings, opportunity_id: str) -> list[tuple]:
    return _query(
        settings,
        "select stage_name, amount, _source_file from raw_crm.opportunities "
        f"where id = '{opportunity_id}' order by last_modified_date desc",
    )


def test_a_later_drop_adds_a_version_and_touches_no_other_row(tmp_path, landing):
    folder = _only_opportunities(tmp_path, landing)
    settings = _settings(tmp_path, folder)
    first_file = folder / "crm" / "Opportunity" / "Opportunity_20261115.csv"
    rows = _csv_rows(first_file)
    target = next(r for r in rows if r["IsClosed"] == "false")
    load("crm", settings, progress=None)
    assert _count(settings, "raw_crm.opportunities") == len(rows)

    second = first_file.with_name("Opportunity_20261116.csv")
    stage, amount = _later_drop(first_file, second, target["Id"])
    load("crm", settings, progress=None)
    # raw keeps both versions; the newest (by LastModifiedDate) is the one staging reads
    assert _count(settings, "raw_crm.opportunities") == len(rows) + 1
    assert _versions(settings, target["Id"]) == [
        (stage, amount, second.name),
        (target["StageName"], Decimal(target["Amount"]), first_file.name),
    ]
    untouched = _query(
        settings,
        f"select count(*) from raw_crm.opportunities where _source_file = '{first_file.name}'",
    )
    assert untouched == [(len(rows),)]


@pytest.mark.parametrize("drop", ["20261101", "20261130"])
def test_newest_version_wins_within_one_load(tmp_path, landing, drop):
    folder = _only_opportunities(tmp_path, landing)
    settings = _settings(tmp_path, folder)
    first_file = folder / "crm" / "Opportunity" / "Opportunity_20261115.csv"
    rows = _csv_rows(first_file)
    target = rows[len(rows) // 2]
    # read before or after the older version: the cursor decides, not the file order
    newer = first_file.with_name(f"Opportunity_{drop}.csv")
    stage, amount = _later_drop(first_file, newer, target["Id"])
    load("crm", settings, progress=None)
    assert _count(settings, "raw_crm.opportunities") == len(rows) + 1
    assert _versions(settings, target["Id"])[0] == (stage, amount, newer.name)


def _break_field(source: Path, target: Path, line: int, column: str, value: str) -> None:
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[line - 1][rows[0].index(column)] = value
    with target.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def test_a_bad_decimal_names_the_file_line_and_column(tmp_path, landing, monkeypatch):
    # under the default on_bad_row: quarantine the row is quarantined (tests/unit/test_bad_input.py)
    strict = tmp_path / "landing.yaml"
    strict.write_text("crm:\n  on_bad_row: fail\n", encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(strict))
    folder = _only_opportunities(tmp_path, landing)
    settings = _settings(tmp_path, folder)
    good = folder / "crm" / "Opportunity" / "Opportunity_20261115.csv"
    bad = good.with_name("Opportunity_20261127.csv")
    _break_field(good, bad, 17, "Amount", "abc")
    with pytest.raises(ExtractFileError) as raised:
        load("crm", settings, progress=None)
    message = str(raised.value)
    assert str(bad) in message
    assert "line 17" in message and "column Amount" in message and "'abc'" in message


def test_a_missing_column_names_the_file_and_column(tmp_path, landing):
    folder = tmp_path / "landing"
    source = landing / "erp" / "invoice_lines" / "invoice_lines_20261115.csv"
    bad = folder / "erp" / "invoice_lines" / "invoice_lines_20261115.csv"
    bad.parent.mkdir(parents=True)
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("net_amount")
    with bad.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([r[:drop] + r[drop + 1 :] for r in rows])
    # the way Dagster runs it: the source and the pipeline, without load()'s unwrapping
    pipeline = make_pipeline("erp", tmp_path / "warehouse.duckdb", tmp_path / "dlt")
    with pytest.raises(Exception) as raised:
        pipeline.run(erp_source(folder))
    message = str(raised.value)
    assert str(bad) in message and "net_amount" in message
