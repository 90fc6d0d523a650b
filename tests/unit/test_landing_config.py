"""The ingestion rules without a load: the landing configuration (formats, on_bad_row), the
column classes declared by the extracts, the dlt sources' resources and an absent quarantine.
The loads themselves (dlt into a scratch DuckDB) are tests/warehouse/test_extract_formats.py,
test_bad_input.py, test_schema_contracts.py and test_ingestion.py."""

from __future__ import annotations

import duckdb
import pytest

from ingestion.extracts import ALL_EXTRACTS, MONEY, QTY
from ingestion.formats import CONFIG_ENV, LandingConfig, LandingConfigError, load_landing_config
from ingestion.landing_files import crm_source, erp_source
from ingestion.quarantine import list_quarantine, quarantine_counts


def test_defaults_are_utf8_comma_csv_with_point_decimals():
    committed = load_landing_config()
    for system in ("crm", "erp"):
        fmt = committed.format_of(system, "anything")
        assert (fmt.format, fmt.delimiter, fmt.decimal, fmt.encoding) == ("auto", ",", ".", "utf-8")


def test_per_object_settings_override_the_system():
    config = LandingConfig.parse(
        {"crm": {"delimiter": ";", "decimal": ",", "encoding": "Windows-1252",
                 "objects": {"Task": {"delimiter": "\\t"}}}}
    )  # fmt: skip
    task, user = config.format_of("crm", "Task"), config.format_of("crm", "User")
    assert (task.delimiter, task.decimal, task.encoding) == ("\t", ",", "cp1252")
    assert (user.delimiter, user.encoding) == (";", "cp1252")
    assert config.format_of("erp", "customers").delimiter == ","


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"crm": {"delimeter": ";"}}, "unknown setting"),
        ({"crn": {}}, "unknown system"),
        ({"crm": {"encoding": "klingon"}}, "unknown encoding"),
        ({"crm": {"decimal": ","}}, "both ','"),
        ({"crm": {"objects": {"Tasks": {}}}}, "no object 'Tasks'"),
        ({"erp": {"format": "xlsx"}}, "format 'xlsx'"),
    ],
)
def test_a_bad_configuration_is_an_error(raw, error):
    with pytest.raises(LandingConfigError, match=error):
        LandingConfig.parse(raw)


def test_a_missing_configuration_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nowhere.yaml"))
    with pytest.raises(LandingConfigError, match="does not exist"):
        load_landing_config()


def test_on_bad_row_is_a_checked_setting_per_system_or_object():
    config = LandingConfig.parse(
        {"crm": {"on_bad_row": "fail", "objects": {"Task": {"on_bad_row": "quarantine"}}}}
    )
    assert config.format_of("crm", "Opportunity").on_bad_row == "fail"
    assert config.format_of("crm", "Task").on_bad_row == "quarantine"
    assert config.format_of("erp", "invoices").on_bad_row == "quarantine"  # the default
    assert load_landing_config().format_of("crm", "Task").on_bad_row == "quarantine"
    with pytest.raises(LandingConfigError, match="on_bad_row 'skip' is not one of"):
        LandingConfig.parse({"erp": {"on_bad_row": "skip"}})


def test_listing_a_warehouse_without_quarantine(tmp_path):
    assert list_quarantine(tmp_path / "nowhere.duckdb") == []
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    assert list_quarantine(tmp_path / "empty.duckdb", "crm") == []
    assert quarantine_counts(tmp_path / "empty.duckdb", "erp") == {}


def test_columns_are_classified_from_the_declarations():
    opportunity = next(e for e in ALL_EXTRACTS if e.object_name == "Opportunity")
    assert opportunity.key_columns == ("Id", "AccountId", "OwnerId", "LastModifiedDate")
    assert opportunity.money_columns == ("Amount",)
    assert opportunity.frozen_columns == (
        "Id",
        "AccountId",
        "OwnerId",
        "Amount",
        "LastModifiedDate",
    )
    assert "Probability" in opportunity.descriptive_columns
    assert opportunity.column_class("StageName") == "descriptive"
    assert opportunity.column_class("Extra__c") == "descriptive"
    lines = next(e for e in ALL_EXTRACTS if e.table == "invoice_lines")
    assert lines.money_columns == ("quantity", "unit_price", "net_amount", "unit_cost")
    contract = next(e for e in ALL_EXTRACTS if e.object_name == "Contract")
    assert "Opportunity__c" in contract.key_columns  # a lookup: declared as a reference
    for extract in ALL_EXTRACTS:
        frozen = set(extract.frozen_columns)
        assert {extract.primary_key, extract.cursor} <= frozen
        assert {n for n, t in extract.columns.items() if t in (MONEY, QTY)} <= frozen
        assert {n for n in extract.columns if n.endswith(("Id", "_id"))} <= frozen
        assert frozen.isdisjoint(extract.descriptive_columns)
        assert frozen | set(extract.descriptive_columns) == set(extract.columns)


def test_sources_read_nothing_until_extracted(tmp_path):
    missing = tmp_path / "nowhere"
    crm, erp = crm_source(missing), erp_source(missing)
    # one resource per extract, and the system's quarantine table (ingestion/quarantine.py)
    crm_tables = [e.table for e in ALL_EXTRACTS if e.system == "crm"] + ["quarantine"]
    erp_tables = [e.table for e in ALL_EXTRACTS if e.system == "erp"] + ["quarantine"]
    assert sorted(crm.resources) == sorted(crm_tables)
    assert sorted(erp.resources) == sorted(erp_tables)
    assert not missing.exists()
