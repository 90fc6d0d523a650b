"""Landing file formats and locales: ``;`` + decimal comma + Windows-1252, UTF-8 with a BOM,
quoted multi-line fields, JSON Lines and Parquet, each loaded by the real dlt source into a
temporary DuckDB; and files that do not match their declaration, refused with file, line (or
row) and column.

Files are rewritten by the test from a small demo landing; expected values are the values the
test wrote, never read back through the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.extracts import extracts_of
from ingestion.formats import (
    CONFIG_ENV,
    ExtractFileError,
)
from ingestion.pipeline import load
from pilotage.settings import Settings
from tests.conftest import AS_OF

DROP = "20261115"
FRENCH = "crm:\n  delimiter: ';'\n  decimal: ','\n  encoding: cp1252\n"
# Bad values stop the load only under on_bad_row: fail (the default quarantines the row:
# tests/unit/test_bad_input.py); the tests of error messages below set it.
STRICT = "crm:\n  on_bad_row: fail\nerp:\n  on_bad_row: fail\n"
FRENCH_STRICT = FRENCH + "  on_bad_row: fail\n"


def _rows(demo: Path, system: str, obj: str) -> list[dict[str, str]]:
    with (demo / system / obj / f"{obj}_{DROP}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _target(tmp_path: Path, system: str, obj: str, ext: str = "csv") -> Path:
    folder = tmp_path / "landing" / system / obj
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{obj}_{DROP}.{ext}"


def _write_csv(path: Path, rows: list[dict[str, str]], *, delimiter=",", encoding="utf-8"):
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), delimiter=delimiter, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        landing_dir=tmp_path / "landing",
        warehouse_path=tmp_path / "warehouse.duckdb",
        serving_path=tmp_path / "serving.duckdb",
        as_of=AS_OF,
    )


def _config(tmp_path: Path, monkeypatch, text: str) -> None:
    path = tmp_path / "landing.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(path))


def _load(tmp_path: Path, system: str) -> Settings:
    settings = _settings(tmp_path)
    load(system, settings, progress=None)
    return settings


def _query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def _french(amount: Decimal, separator: str = " ") -> str:
    """1234.5 -> '1 234,50' (Excel, French locale)."""
    return f"{amount:,.2f}".replace(",", separator).replace(".", ",")


# ---------------------------------------------------------------------------------------------
# Variants that load.


def test_semicolon_decimal_comma_windows_1252(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, FRENCH)
    users = _rows(demo, "crm", "User")
    users[2].update(FirstName="Hélène", LastName="Müller")
    accounts = _rows(demo, "crm", "Account")
    accounts[0].update(Name="Société Générale", BillingCity="Besançon")
    opportunities = _rows(demo, "crm", "Opportunity")
    amounts = {r["Id"]: Decimal(r["Amount"]) for r in opportunities}
    opportunities[0]["Amount"] = "1 234,56"
    amounts[opportunities[0]["Id"]] = Decimal("1234.56")
    for i, row in enumerate(opportunities[1:], start=1):
        # thousands separated by a space, a no-break space, or not at all
        separator = (" ", "\u00a0", "")[i % 3]
        row["Amount"] = _french(Decimal(row["Amount"]), separator)
        row["Probability"] = row["Probability"].replace(".", ",")
    opportunities[1]["Probability"] = "12,5"
    for obj, rows in (("User", users), ("Account", accounts), ("Opportunity", opportunities)):
        _write_csv(_target(tmp_path, "crm", obj), rows, delimiter=";", encoding="cp1252")
    assert "Hélène".encode("cp1252") in _target(tmp_path, "crm", "User").read_bytes()

    settings = _load(tmp_path, "crm")
    assert _query(settings, f"select first_name, last_name from raw_crm.users "
                            f"where id = '{users[2]['Id']}'") == [("Hélène", "Müller")]  # fmt: skip
    assert _query(
        settings,
        f"select name, billing_city from raw_crm.accounts where id = '{accounts[0]['Id']}'",
    ) == [("Société Générale", "Besançon")]
    loaded = dict(_query(settings, "select id, amount from raw_crm.opportunities"))
    assert loaded == amounts  # exact decimals, every row
    assert _query(
        settings,
        f"select probability from raw_crm.opportunities where id = '{opportunities[1]['Id']}'",
    ) == [(12.5,)]
    counts = _query(
        settings,
        "select (select count(*) from raw_crm.users), (select count(*) from raw_crm.accounts)",
    )
    assert counts == [(len(users), len(accounts))]


def test_utf8_with_a_bom(tmp_path, demo):
    customers = _rows(demo, "erp", "customers")
    customers[0]["customer_name"] = "Zoë Ørsted Société"
    path = _target(tmp_path, "erp", "customers")
    _write_csv(path, customers, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfcustomer_id,")
    settings = _load(tmp_path, "erp")
    assert _query(settings, "select count(*) from raw_erp.customers") == [(len(customers),)]
    assert _query(
        settings,
        f"select customer_name from raw_erp.customers where customer_id = "
        f"'{customers[0]['customer_id']}'",
    ) == [("Zoë Ørsted Société",)]


def test_quoted_multi_line_fields_keep_their_newlines(tmp_path, demo):
    tasks = _rows(demo, "crm", "Task")
    subjects = {3: "Call back\nabout the renewal", 4: "Three\nline\nsubject, with a comma"}
    for index, subject in subjects.items():
        tasks[index]["Subject"] = subject
    path = _target(tmp_path, "crm", "Task")
    _write_csv(path, tasks)
    settings = _load(tmp_path, "crm")
    assert _query(settings, "select count(*) from raw_crm.tasks") == [(len(tasks),)]
    loaded = dict(_query(settings, "select id, subject from raw_crm.tasks"))
    assert loaded == {r["Id"]: r["Subject"] for r in tasks}


def test_multi_line_fields_keep_error_lines_right(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, STRICT)
    tasks = _rows(demo, "crm", "Task")
    tasks[3]["Subject"] = "Call back\nabout the renewal"  # data row 3: lines 5-6
    tasks[4]["Subject"] = "Three\nline\nsubject"  # lines 7-9
    tasks[4]["ActivityDate"] = "15/01/2026"  # after the subject's newlines: line 9
    path = _target(tmp_path, "crm", "Task")
    _write_csv(path, tasks)
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "crm")
    message = str(raised.value)
    assert f"{path} line 9, column ActivityDate: '15/01/2026'" in message

    tasks[4]["ActivityDate"] = "2026-01-15"
    tasks[10]["CallDurationInSeconds"] = "12.5"  # data row 10: line 12 + 3 extra lines
    _write_csv(path, tasks)
    with pytest.raises(ExtractFileError, match="line 15, column CallDurationInSeconds: '12.5'"):
        _load(tmp_path, "crm")


def _json_line(row: dict[str, str], numbers: set[str]) -> str:
    """One JSON object; numbers written as their exact text, empty fields as null."""
    fields = []
    for key, value in row.items():
        if value == "":
            text = "null"
        elif key in numbers:
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False)
        fields.append(f"{json.dumps(key)}: {text}")
    return "{" + ", ".join(fields) + "}\n"


INVOICE_LINE_NUMBERS = {"quantity", "unit_price", "discount_pct", "net_amount", "unit_cost"}


def _write_invoice_lines_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(rows):
            # ids as JSON integers: loaded as their digits into the declared text column
            handle.write(_json_line(row, INVOICE_LINE_NUMBERS | {"invoice_line_id"}))
            if i == 2:
                handle.write("\n")  # a blank line is skipped, but counted in line numbers


def test_json_lines(tmp_path, demo):
    rows = _rows(demo, "erp", "invoice_lines")
    rows[0]["net_amount"] = "2520.1"
    path = _target(tmp_path, "erp", "invoice_lines", "jsonl")
    _write_invoice_lines_jsonl(path, rows)
    settings = _load(tmp_path, "erp")
    loaded = _query(
        settings,
        "select invoice_line_id, quantity, unit_price, discount_pct, net_amount, unit_cost, "
        "strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.000Z'), _source_file "
        "from raw_erp.invoice_lines",
    )
    expected = {
        r["invoice_line_id"]: (
            r["invoice_line_id"],
            Decimal(r["quantity"]),
            Decimal(r["unit_price"]),
            float(r["discount_pct"]),
            Decimal(r["net_amount"]),
            Decimal(r["unit_cost"]),
            r["updated_at"],
            path.name,
        )
        for r in rows
    }
    assert len(loaded) == len(rows)
    assert {row[0]: row for row in loaded} == expected


def test_parquet(tmp_path, demo):
    rows = _rows(demo, "erp", "products")
    rows[1]["product_name"] = "Serveur Edge Évolutif"
    utc = dt.UTC
    table = pa.table(
        {
            # ids as integers: loaded as their digits into the declared text column
            "product_id": pa.array([int(r["product_id"]) for r in rows], pa.int64()),
            "sku": pa.array([r["sku"] for r in rows]).dictionary_encode(),
            "product_name": [r["product_name"] for r in rows],
            "category": [r["category"] for r in rows],
            # a narrower decimal than declared: widened exactly
            "unit_cost": pa.array([Decimal(r["unit_cost"]) for r in rows], pa.decimal128(10, 2)),
            "list_price": pa.array([Decimal(r["list_price"]) for r in rows], pa.decimal128(18, 2)),
            "currency": [r["currency"] for r in rows],
            # nanoseconds, as pandas writes them
            "updated_at": pa.array(
                [dt.datetime.fromisoformat(r["updated_at"][:-1]).replace(tzinfo=utc) for r in rows],
                pa.timestamp("ns", tz="UTC"),
            ),
            "legacy_code": pa.array(range(len(rows)), pa.int64()),  # undeclared: kept as text
        }
    )
    path = _target(tmp_path, "erp", "products", "parquet")
    pq.write_table(table, path)
    settings = _load(tmp_path, "erp")
    loaded = _query(
        settings,
        "select product_id, sku, product_name, unit_cost, list_price, "
        "strftime(updated_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.000Z'), legacy_code "
        "from raw_erp.products",
    )
    expected = {
        r["product_id"]: (
            r["product_id"],
            r["sku"],
            r["product_name"],
            Decimal(r["unit_cost"]),
            Decimal(r["list_price"]),
            r["updated_at"],
            str(i),
        )
        for i, r in enumerate(rows)
    }
    assert len(loaded) == len(rows)
    assert {row[0]: row for row in loaded} == expected


# ---------------------------------------------------------------------------------------------
# Files that do not match their declaration.


def test_windows_1252_bytes_in_a_file_declared_utf8(tmp_path, demo):
    users = _rows(demo, "crm", "User")
    users[2].update(FirstName="Hélène")
    path = _target(tmp_path, "crm", "User")
    _write_csv(path, users, encoding="cp1252")
    offset = path.read_bytes().index("Hélène".encode("cp1252")) + 1
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "crm")
    message = str(raised.value)
    assert f"{path} line 4: byte {offset} (e9) is not valid UTF-8" in message
    assert "encoding: cp1252" in message


def test_utf8_file_declared_windows_1252(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, "crm:\n  encoding: cp1252\n")
    users = _rows(demo, "crm", "User")
    users[2].update(FirstName="Hélène")
    path = _target(tmp_path, "crm", "User")
    _write_csv(path, users)
    with pytest.raises(ExtractFileError, match="is UTF-8 with non-ASCII .* encoding: utf-8"):
        _load(tmp_path, "crm")


def test_point_decimals_under_a_decimal_comma(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, FRENCH_STRICT)
    opportunities = _rows(demo, "crm", "Opportunity")
    for row in opportunities:
        row["Amount"] = _french(Decimal(row["Amount"]))
    opportunities[6]["Amount"] = "1,234.56"  # never 1.23456
    path = _target(tmp_path, "crm", "Opportunity")
    _write_csv(path, opportunities, delimiter=";", encoding="cp1252")
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "crm")
    message = str(raised.value)
    assert f"{path} line 8, column Amount: '1,234.56' is not a decimal with a decimal comma" in (
        message
    )

    opportunities[6]["Amount"] = "1234,567"  # more decimals than the scale: not rounded
    _write_csv(path, opportunities, delimiter=";", encoding="cp1252")
    with pytest.raises(ExtractFileError, match="line 8, column Amount: '1234,567'"):
        _load(tmp_path, "crm")


def test_decimal_comma_under_point_decimals_suggests_the_setting(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, "crm:\n  delimiter: ';'\n  on_bad_row: fail\n")
    opportunities = _rows(demo, "crm", "Opportunity")
    opportunities[4]["Amount"] = "1234,56"
    path = _target(tmp_path, "crm", "Opportunity")
    _write_csv(path, opportunities, delimiter=";")
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "crm")
    message = str(raised.value)
    assert f"{path} line 6, column Amount: '1234,56'" in message
    assert "set decimal: ','" in message


def test_a_semicolon_file_declared_comma(tmp_path, demo):
    path = _target(tmp_path, "crm", "Account")
    _write_csv(path, _rows(demo, "crm", "Account"), delimiter=";")
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "crm")
    message = str(raised.value)
    assert f"{path} line 1: the file looks ';'-delimited but crm.Account is declared" in message
    assert "set delimiter in the landing configuration (ingestion/landing.yaml)" in message


def test_json_lines_with_a_string_in_a_decimal_column(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, STRICT)
    rows = _rows(demo, "erp", "invoice_lines")
    path = _target(tmp_path, "erp", "invoice_lines", "jsonl")
    _write_invoice_lines_jsonl(path, rows)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    # physical line 6: data rows 0-2, the blank line, rows 3 and 4
    lines[5] = lines[5].replace(f'"net_amount": {rows[4]["net_amount"]}', '"net_amount": "12.50"')
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "erp")
    assert f'{path} line 6, column net_amount: "12.50" is not a decimal (a JSON number' in str(
        raised.value
    )


def test_parquet_with_a_string_in_a_decimal_column(tmp_path, demo):
    rows = _rows(demo, "erp", "products")
    columns = {name: [r[name] for r in rows] for name in rows[0]}  # all strings
    columns["updated_at"] = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * len(rows)
    path = _target(tmp_path, "erp", "products", "parquet")
    pq.write_table(pa.table(columns), path)
    with pytest.raises(ExtractFileError) as raised:
        _load(tmp_path, "erp")
    assert f"{path} row 1, column unit_cost: '{rows[0]['unit_cost']}' (Parquet type string)" in (
        str(raised.value)
    )


def test_a_declared_format_refuses_other_files(tmp_path, demo, monkeypatch):
    _config(tmp_path, monkeypatch, "erp:\n  format: csv\n")
    path = _target(tmp_path, "erp", "invoice_lines", "jsonl")
    _write_invoice_lines_jsonl(path, _rows(demo, "erp", "invoice_lines"))
    with pytest.raises(ExtractFileError, match="a .jsonl file, but erp.invoice_lines is declared"):
        _load(tmp_path, "erp")


# ---------------------------------------------------------------------------------------------
# The configuration itself.


def test_only_the_objects_written_are_loaded(tmp_path, demo):
    """Sanity check of the fixture: an object without files loads no row, only its empty raw
    table (so the models build for a company that does not deliver it)."""
    shutil.copytree(demo / "erp" / "customers", tmp_path / "landing" / "erp" / "customers")
    settings = _load(tmp_path, "erp")
    tables = _query(
        settings, "select table_name from information_schema.tables where table_schema = 'raw_erp'"
    )
    # every declared object, and the system's quarantine table, written by every load
    wanted = {e.table for e in extracts_of("erp")} | {"quarantine"}
    assert {t[0] for t in tables if not t[0].startswith("_dlt")} == wanted
    rows = _query(settings, "select count(*) from raw_erp.invoices")
    assert rows == [(0,)]
