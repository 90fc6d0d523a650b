"""Bring your own CRM: the shipped mappings turn HubSpot-, Pipedrive- and Maven-style exports into
canonical extract files that the real dlt CRM source loads unchanged; a French Excel export is read
as its `format` section declares; bad values are quarantined (or stop the conversion under
`on_bad_value: fail`); `coverage_report` says which KPIs a mapping supports.

Expected values are computed from the fixture export files with the csv module, independently of
the mapping code; errors must name the export file, the line, the column and the value.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.extracts import CRM_EXTRACTS
from ingestion.mapping import (
    MAPPINGS_DIR,
    ExportError,
    MappingError,
    convert,
    convert_export,
    coverage_report,
    load_mapping,
)
from pilotage.kpi_catalogue import load_catalogue
from tests.crm_exports import (
    DROP,
    FIXTURES,
    copy_export,
    edit_csv,
    read_fixture,
    read_landing,
    rewrite_csv,
)

FRENCH = FIXTURES / "french_excel"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "crm_mappings.md"
NBSP = "\u00a0"


# ---------------------------------------------------------------------------------------------
# Coverage (the loads of the HubSpot, Pipedrive and Maven fixture exports:
# tests/warehouse/test_crm_mapping_loads.py)


def test_maven_coverage_names_what_the_dataset_lacks():
    report = coverage_report(MAPPINGS_DIR / "maven_crm.yaml")
    catalogue = load_catalogue()
    requirements = catalogue.data_requirements
    # the dataset has deals and teams, but no activity, stage history, objective or e-mail
    lacking = {
        "activities": "Task is not mapped",
        "calls": "Task is not mapped",
        "call_outcomes": "Task is not mapped",
        "emails": "Task is not mapped",
        "meetings": "Event is not mapped",
        "meeting_outcomes": "Event is not mapped",
        "proposals": "Proposal__c is not mapped",
        "quotes": "Quote is not mapped",
        "contracts": "Contract is not mapped",
        "stage_history": "OpportunityHistory is not mapped",
        "targets": "Sales_Target__c is not mapped",
        "user_emails": "User.Email is not mapped",
    }
    crm = {n for n, r in requirements.items() if r.system == "crm"}
    assert {n: r.reasons for n, r in report.requirements.items() if not r.met and n in crm} == {
        n: (reason,) for n, reason in lacking.items()
    }
    assert {n for n, r in report.requirements.items() if r.met} == crm - set(lacking)
    unsupported = {k.name for k in catalogue.kpis if set(k.requires) & set(lacking)}
    assert {k for k, c in report.kpis.items() if not c.supported} == unsupported
    assert report.kpis["avg_days_in_stage"].missing == ("stage_history",)
    assert report.kpis["calls"].missing == ("calls",)
    assert report.kpis["win_rate"].supported and report.kpis["open_pipeline"].supported
    text = " ".join(" ".join(report.lines()).split())  # unwrapped
    assert "user_emails: User.Email is not mapped" in text
    assert "ERP revenue cannot be attributed" in text  # what is lost without e-mails (RLS too)
    erp = [n for n, r in requirements.items() if r.system == "erp"]
    assert f"ERP data ({', '.join(erp)}): delivered by the ERP extracts" in text
    assert re.search(rf"KPIs: \d+ of {len(catalogue.kpis)} supported", text)


def test_hubspot_coverage_supports_activity_kpis(tmp_path):
    report = coverage_report(MAPPINGS_DIR / "hubspot.yaml")
    for kpi in ("calls", "emails", "meetings", "meetings_held", "activities", "win_rate"):
        assert report.kpis[kpi].supported, kpi
    assert not report.kpis["next_step_conversion"].supported  # no stage history export
    # after a conversion: a mapped column empty on every row of this export is missing data
    export = copy_export("hubspot", tmp_path)
    rewrite_csv(export / "engagements.csv", lambda r: {**r, "Meeting outcome": ""})
    mapping = MAPPINGS_DIR / "hubspot.yaml"
    result = convert(mapping, export, tmp_path / "landing", DROP)
    after = coverage_report(mapping, result.filled)
    assert after.requirements["meeting_outcomes"].reasons == (
        "Event.Meeting_Status__c is mapped, but empty in this export",
    )
    assert not after.kpis["meetings_held"].supported and after.kpis["meetings"].supported


# ---------------------------------------------------------------------------------------------
# The export's format


def test_french_excel_export(tmp_path):
    """cp1252, ';', decimal comma, no-break-space thousands, dd/mm/yyyy, N/A, a total line."""
    fmt = {"encoding": "cp1252", "delimiter": ";"}
    deals = read_fixture("french_excel", "affaires.csv", **fmt)
    users = read_fixture("french_excel", "commerciaux.csv", **fmt)
    totals = [d for d in deals if d["N° affaire"].startswith("Total")]
    deals = [d for d in deals if d not in totals]
    ambiguous = [d for d in deals if d["Montant (€)"] == "1.234,5"]
    assert len(totals) == 1 and len(ambiguous) == 1
    result = convert(FRENCH / "mapping.yaml", FRENCH, tmp_path, DROP)
    assert result.counts["skipped:affaires:total line"] == 1
    assert result.counts["Opportunity"] == len(deals) - 1
    assert result.counts["quarantined:Opportunity"] == 1
    (bad,) = result.bad_rows  # "1.234,5" under decimal ",": ambiguous, never guessed
    assert (bad.field, bad.value, bad.line) == ("Montant (€)", "1.234,5", 7)
    assert "decimal mark ','" in bad.reason

    def amount(text: str) -> str:
        if text in ("N/A", "-", "(vide)"):
            return ""
        return f"{Decimal(text.replace(NBSP, '').replace(' ', '').replace(',', '.')):.2f}"

    def day(text: str) -> str:
        return (
            ""
            if text in ("N/A", "-", "(vide)")
            else dt.datetime.strptime(text, "%d/%m/%Y").date().isoformat()
        )

    def paris(text: str) -> str:
        local = dt.datetime.strptime(text, "%d/%m/%Y %H:%M")
        utc = local.replace(tzinfo=dt.timezone(dt.timedelta(hours=1))).astimezone(dt.UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # winter: Paris is UTC+1

    by_name = {f"{u['Prénom']} {u['Nom']}".casefold(): u["Identifiant"] for u in users}
    got = {r["Id"]: r for r in read_landing(tmp_path, "Opportunity")}
    for deal in deals:
        if deal in ambiguous:
            assert f"fr-opp-{deal['N° affaire']}" not in got
            continue
        row = got[f"fr-opp-{deal['N° affaire']}"]
        owner = by_name[" ".join(deal["Commercial"].split()).casefold()]  # "Étienne  Lefèvre"
        assert (row["Name"], row["Amount"], row["CloseDate"], row["OwnerId"]) == (
            deal["Intitulé"],
            amount(deal["Montant (€)"]),
            day(deal["Date de clôture"]),
            f"fr-user-{owner}",
        )
        assert row["LastModifiedDate"] == paris(deal["Modifiée le"])
    users_out = {r["Id"]: r for r in read_landing(tmp_path, "User")}
    for user in users:
        team = "" if user["Équipe"] == "N/A" else f"fr-team-{user['Équipe']}"
        assert users_out[f"fr-user-{user['Identifiant']}"]["UserRoleId"] == team


def test_a_record_spanning_lines_is_reported_on_the_line_it_starts(tmp_path):
    """A quoted field with a line break (a multi-line deal title): the bad value of that record
    is reported on the line the record starts on, where a reader of the file finds it."""
    export = tmp_path / "french_excel"
    shutil.copytree(FRENCH, export)
    path = export / "affaires.csv"
    lines = (
        path.read_bytes().decode("cp1252").split("\r\n" if b"\r\n" in path.read_bytes() else "\n")
    )
    header = lines[0].split(";")
    bad = lines[6].split(";")  # line 7: the ambiguous amount "1.234,5"
    assert bad[header.index("Montant (€)")] == "1.234,5"
    bad[header.index("Intitulé")] = '"Affaire sur\ndeux lignes"'
    lines[6] = ";".join(bad)
    path.write_bytes("\n".join(lines).encode("cp1252"))
    result = convert(export / "mapping.yaml", export, tmp_path / "landing", DROP)
    (quarantined,) = result.bad_rows
    assert (quarantined.field, quarantined.line) == ("Montant (€)", 7)


def test_an_export_in_another_encoding_than_declared_names_file_line_and_hint(tmp_path):
    mapping = tmp_path / "utf8.yaml"
    mapping.write_text(
        (FRENCH / "mapping.yaml").read_text(encoding="utf-8").replace("cp1252", "utf-8"),
        encoding="utf-8",
    )
    with pytest.raises(ExportError) as info:
        convert(mapping, FRENCH, tmp_path / "landing", DROP)
    message = str(info.value)
    assert str(FRENCH / "affaires.csv") in message and "line 1" in message
    assert "not valid utf-8" in message and "encoding: cp1252" in message
    # the other way round: UTF-8 bytes declared cp1252 would garble the accents
    export = tmp_path / "utf8"
    export.mkdir()
    for name in ("affaires.csv", "commerciaux.csv"):
        text = (FRENCH / name).read_bytes().decode("cp1252")
        (export / name).write_bytes(text.encode("utf-8"))
    with pytest.raises(ExportError, match=r"affaires.csv: the file is UTF-8 .*encoding: utf-8"):
        convert(FRENCH / "mapping.yaml", export, tmp_path / "landing", DROP)
    assert not (tmp_path / "landing").exists()


TINY_DEALS = """
files:
  deals:
    glob: deals.csv
    format: {format}
objects:
  Opportunity:
    from: deals
    columns:
      Id: ID
      Amount: Amount
      CloseDate: Closed
      StageName: {{const: Prospecting}}
      CreatedDate: {{drop_time: true}}
      LastModifiedDate: {{drop_time: true}}
"""


def convert_tiny(tmp_path: Path, text: str, fmt: str, mapping: str = TINY_DEALS):
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    (export / "deals.csv").write_text(text, encoding="utf-8")
    path = tmp_path / "tiny.yaml"
    path.write_text(mapping.format(format=fmt), encoding="utf-8")
    result = convert(path, export, tmp_path / "landing", DROP)
    return result, {r["Id"]: r for r in read_landing(tmp_path / "landing", "Opportunity")}


@pytest.mark.parametrize(
    ("fmt", "lines", "expected", "bad"),
    [
        (  # French, recent Excel: narrow no-break space; a "." is not a declared mark
            '{decimal: ",", thousands: [narrow_nbsp, nbsp], delimiter: ";"}',
            ["1;1\u202f234,56", f"2;12{NBSP}000", "3;1.234,5", "4;-7,5"],
            {"1": "1234.56", "2": "12000.00", "4": "-7.50"},
            {"3": "1.234,5"},
        ),
        (  # US: comma thousands, point decimals; "12,5" is no group of three: not a number
            '{thousands: ",", null_values: ["N/A"]}',
            ['1,"1,234.5"', "2,1234", '3,"12,5"', "4,N/A"],
            {"1": "1234.50", "2": "1234.00", "4": ""},
            {"3": "12,5"},
        ),
        (  # no thousands separator declared (the default): "1.234,5" is ambiguous
            "{}",
            ["1,1234.5", '2,"1.234,5"', "3,1 234"],
            {"1": "1234.50"},
            {"2": "1.234,5", "3": "1 234"},
        ),
    ],
)
def test_numbers_are_read_exactly_with_the_declared_marks(tmp_path, fmt, lines, expected, bad):
    delimiter = ";" if '";"' in fmt else ","
    text = delimiter.join(["ID", "Amount", "Closed"]) + "\n"
    text += "".join(f"{line}{delimiter}\n" for line in lines)
    result, rows = convert_tiny(tmp_path, text, fmt)
    assert {k: v["Amount"] for k, v in rows.items()} == expected
    assert {b.line - 1: b.value for b in result.bad_rows} == {int(k): v for k, v in bad.items()}
    assert all(b.field == "Amount" for b in result.bad_rows)


def test_footer_lines_default_date_format_and_null_tokens(tmp_path):
    text = (
        "ID,Amount,Closed\n1,10,31/01/2026\n2,20,(vide)\n3,30,-\n"
        "Exported by MyCRM on 15/02/2026,,\n3 rows,,\n"
    )
    fmt = '{date_format: "%d/%m/%Y", null_values: ["-", "(vide)"], footer_lines: 2}'
    result, rows = convert_tiny(tmp_path, text, fmt)
    assert result.counts["skipped:deals:footer"] == 2 and result.counts["Opportunity"] == 3
    assert [r["CloseDate"] for r in rows.values()] == ["2026-01-31", "", ""]


def test_a_wrong_delimiter_is_named_with_a_hint(tmp_path):
    with pytest.raises(ExportError) as info:
        convert_tiny(tmp_path, "ID;Amount;Closed\n1;10;\n", "{}")
    message = str(info.value)
    assert "deals.csv line 1: the header lacks column 'ID'" in message
    assert "set format: {delimiter: ';'}" in message


def test_the_format_section_is_validated(tmp_path):
    cases = {
        "{encoding: klingon}": "unknown encoding 'klingon'",
        '{delimiter: ":"}': r"delimiter: one of",
        '{decimal: ",", thousands: ","}': "both the decimal mark and a thousands separator",
        "{thousands: dot}": "unknown thousands separator 'dot'",
        "{date_format: dd/mm/yyyy}": "format 'dd/mm/yyyy'",
        "{footer_lines: -1}": "footer_lines: a whole number",
        "{skip_rows_where: {column: ID, matches: '('}}": "not a regular expression",
        "{timezone: Mars/Olympus}": "unknown timezone",
        "{nulls: [N/A]}": "unknown key 'nulls'",
    }
    for fmt, expected in cases.items():
        with pytest.raises(MappingError, match=expected):
            convert_tiny(tmp_path, "ID,Amount,Closed\n1,10,\n", fmt)


# ---------------------------------------------------------------------------------------------
# Bad values: quarantined by default, or stop the conversion under on_bad_value: fail


def fail_variant(crm: str, tmp: Path) -> Path:
    """The shipped mapping with ``on_bad_value: fail``."""
    path = tmp / f"{crm}_fail.yaml"
    text = (MAPPINGS_DIR / f"{crm}.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("\nfiles:", "\non_bad_value: fail\nfiles:", 1), "utf-8")
    return path


def test_on_bad_value_fail_names_file_line_column_value(tmp_path):
    export = copy_export("hubspot", tmp_path)
    edit_csv(export / "deals.csv", 5, "Deal Stage", "customstage42")
    landing = tmp_path / "landing"
    with pytest.raises(ExportError) as info:
        convert_export(fail_variant("hubspot", tmp_path), export, landing, DROP)
    message = str(info.value)
    assert str(export / "deals.csv") in message
    assert "line 5" in message and "column Deal Stage" in message and "'customstage42'" in message
    assert not landing.exists()  # nothing written when the export does not convert


def test_on_bad_value_fail_per_object(tmp_path):
    export = copy_export("hubspot", tmp_path)
    edit_csv(export / "deals.csv", 5, "Deal Stage", "customstage42")
    mapping = tmp_path / "per_object.yaml"
    text = (MAPPINGS_DIR / "hubspot.yaml").read_text(encoding="utf-8")
    text = text.replace("    from: deals\n", "    from: deals\n    on_bad_value: fail\n", 1)
    mapping.write_text(text, encoding="utf-8")
    with pytest.raises(ExportError, match=r"deals.csv line 5, column Deal Stage"):
        convert(mapping, export, tmp_path / "landing", DROP)


def test_unknown_value_in_a_value_map_and_route(tmp_path):
    export = copy_export("pipedrive", tmp_path)
    edit_csv(export / "activities.csv", 3, "Activity - Done", "Maybe")
    with pytest.raises(
        ExportError, match=r"activities.csv line 3, column Activity - Done: value 'Maybe'"
    ):
        convert_export(fail_variant("pipedrive", tmp_path), export, tmp_path / "landing", DROP)
    export = copy_export("hubspot", tmp_path / "2")
    edit_csv(export / "engagements.csv", 4, "Type", "POSTAL_MAIL")
    with pytest.raises(
        ExportError, match=r"engagements.csv line 4, column Type: value 'POSTAL_MAIL'"
    ):
        convert_export(fail_variant("hubspot", tmp_path), export, tmp_path / "landing", DROP)


def test_unknown_owner_in_a_lookup(tmp_path):
    mapping = fail_variant("pipedrive", tmp_path)
    export = copy_export("pipedrive", tmp_path)
    edit_csv(export / "deals.csv", 2, "Deal - Owner", "Nobody Known")
    with pytest.raises(
        ExportError,
        match=r"deals.csv line 2, column Deal - Owner: value 'Nobody Known' is not found",
    ):
        convert_export(mapping, export, tmp_path / "landing", DROP)
    # two users with the same name: a deal owned by that name is ambiguous, not the first one
    export = copy_export("pipedrive", tmp_path / "2")
    edit_csv(export / "users.csv", 3, "Name", "Elena Costa")
    with pytest.raises(ExportError, match=r"value 'Elena Costa' matches several rows"):
        convert_export(mapping, export, tmp_path / "landing", DROP)


# ---------------------------------------------------------------------------------------------
# Lookups on several columns, objects from several specs, repeats


OWNERS_BY_NAME = """
files:
  owners: owners.csv
  deals: deals.csv
objects:
  Opportunity:
    from: deals
    columns:
      Id: ID
      OwnerId: {lookup_spec}
      StageName: {{const: Prospecting}}
      CreatedDate: {{drop_time: true}}
      LastModifiedDate: {{drop_time: true}}
"""


def test_a_lookup_on_several_columns_matches_display_names(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    owners = [
        ("7", "Jane", "Doe"),
        ("8", "Jean-Luc", "Van  Damme"),
        ("9", "Sam", "Lee"),
        ("10", "Sam", "Lee"),  # two different people with one name
    ]
    deals = [("d1", "jane DOE"), ("d2", " Jean-Luc Van Damme "), ("d3", "Sam Lee"), ("d4", "Jo X")]
    (export / "owners.csv").write_text(
        "id,firstName,lastName\n" + "".join(f"{i},{f},{n}\n" for i, f, n in owners), "utf-8"
    )
    (export / "deals.csv").write_text(
        "ID,Deal owner\n" + "".join(f"{i},{o}\n" for i, o in deals), "utf-8"
    )
    spec = "{from: Deal owner, lookup: {file: owners, key: [firstName, lastName], value: id}}"
    mapping = tmp_path / "owners.yaml"
    mapping.write_text(OWNERS_BY_NAME.format(lookup_spec=spec), "utf-8")
    result = convert(mapping, export, tmp_path / "landing", DROP)
    rows = {r["Id"]: r["OwnerId"] for r in read_landing(tmp_path / "landing", "Opportunity")}
    assert rows == {"d1": "7", "d2": "8"}  # case and spacing aside
    reasons = {b.value: b.reason for b in result.bad_rows}
    assert reasons.keys() == {"Sam Lee", "Jo X"}
    assert "matches several rows of files.owners" in reasons["Sam Lee"]
    assert "not found in columns 'firstName' + 'lastName'" in reasons["Jo X"]
    # a template key: "Doe, Jane"
    spec = '{from: Deal owner, lookup: {file: owners, key: "{lastName}, {firstName}", value: id}}'
    mapping.write_text(OWNERS_BY_NAME.format(lookup_spec=spec), "utf-8")
    (export / "deals.csv").write_text('ID,Deal owner\nd1,"DOE,  jane"\n', "utf-8")
    convert(mapping, export, tmp_path / "landing", DROP)
    assert read_landing(tmp_path / "landing", "Opportunity")[0]["OwnerId"] == "7"


TWO_SPECS = """
files:
  people: people.csv
objects:
  User:
    - from: people
      columns:
        Id: person
        Title: {const: Account Executive}
        LastModifiedDate: {drop_time: true}
    - from: people
      distinct: true
      columns:
        Id: manager
        Title: {const: Sales Manager}
        LastModifiedDate: {drop_time: true}
"""


def test_several_specs_concatenate_and_conflicts_are_bad_values(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    # Ann manages Bob and Cid; Ann is also listed as a person (an Account Executive): conflict
    (export / "people.csv").write_text(
        "person,manager\nBob,Ann\nCid,Ann\nBob,Ann\nAnn,Zoe\n", "utf-8"
    )
    mapping = tmp_path / "two.yaml"
    mapping.write_text(TWO_SPECS, "utf-8")
    result = convert(mapping, export, tmp_path / "landing", DROP)
    users = {r["Id"]: r["Title"] for r in read_landing(tmp_path / "landing", "User")}
    assert users == {"Bob": "Account Executive", "Cid": "Account Executive", "Zoe": "Sales Manager"}
    # Bob's identical repeated row (line 4) and Ann repeated as a manager (lines 3, 4): merged
    assert result.counts["collapsed:User"] == 3
    assert {(b.line, b.field) for b in result.bad_rows} == {(2, "(row)"), (5, "(row)")}
    assert all(
        "User.Id 'Ann'" in b.reason and "with other values" in b.reason for b in result.bad_rows
    )
    assert result.counts["quarantined:User"] == 2
    mapping.write_text("on_bad_value: fail\n" + TWO_SPECS, "utf-8")
    with pytest.raises(ExportError, match=r"people.csv line 2: User.Id 'Ann' with .* again"):
        convert(mapping, export, tmp_path / "landing", DROP)


def _add_deal_version(export: Path, amount: str, modified: str) -> None:
    """Append another row for the first deal with a new amount and Last Modified Date."""
    path = export / "deals.csv"
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    header, first = rows[0], list(rows[1])
    first[header.index("Amount")] = amount
    first[header.index("Last Modified Date")] = modified
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([*rows, first])


def test_a_record_may_come_in_several_versions_but_a_version_once(tmp_path):
    first = read_fixture("hubspot", "deals.csv")[0]
    # a later version of the same deal: both versions are written (raw keeps every version)
    export = copy_export("hubspot", tmp_path / "versions")
    _add_deal_version(export, "30000", "2026-02-11 08:00")
    landing = tmp_path / "landing"
    convert_export(MAPPINGS_DIR / "hubspot.yaml", export, landing, DROP)
    deal = [r for r in read_landing(landing, "Opportunity") if r["Id"].endswith(first["Record ID"])]
    assert sorted((r["Amount"], r["LastModifiedDate"]) for r in deal) == [
        ("24000.00", "2026-01-28T16:05:00.000Z"),
        ("30000.00", "2026-02-11T07:00:00.000Z"),
    ]
    # the very same export row twice: one row written, the repeat counted
    export = copy_export("hubspot", tmp_path / "repeat")
    _add_deal_version(export, first["Amount"], first["Last Modified Date"])
    counts = convert_export(MAPPINGS_DIR / "hubspot.yaml", export, tmp_path / "l3", DROP)
    assert counts["collapsed:Opportunity"] == 1
    assert counts["Opportunity"] == len(read_fixture("hubspot", "deals.csv"))
    # the same deal and Last Modified Date twice with other values: no version can be told
    export = copy_export("hubspot", tmp_path / "conflict")
    _add_deal_version(export, "30000", first["Last Modified Date"])
    with pytest.raises(ExportError, match=r"deals.csv line \d+: Opportunity.Id '.*9001' with "):
        convert_export(fail_variant("hubspot", tmp_path), export, tmp_path / "landing2", DROP)
    # ... under quarantine, both rows are left out and listed
    result = convert(MAPPINGS_DIR / "hubspot.yaml", export, tmp_path / "landing2", DROP)
    assert [(b.line, b.field) for b in result.bad_rows] == [(2, "(row)"), (12, "(row)")]
    assert result.counts["quarantined:Opportunity"] == 2


# ---------------------------------------------------------------------------------------------
# Landing files, the mapping itself


def test_landing_files_are_complete_and_reproducible(tmp_path):
    mapping = MAPPINGS_DIR / "hubspot.yaml"
    first = convert_export(mapping, FIXTURES / "hubspot", tmp_path / "a", DROP)
    convert_export(mapping, FIXTURES / "hubspot", tmp_path / "b", DROP)
    again = convert_export(mapping, FIXTURES / "hubspot", tmp_path / "a", DROP)
    assert first == again
    for extract in CRM_EXTRACTS:
        name = f"crm/{extract.object_name}/{extract.object_name}_{DROP}.csv"
        content = (tmp_path / "a" / name).read_bytes()
        assert content == (tmp_path / "b" / name).read_bytes(), name
        header = content.decode("utf-8").splitlines()[0]
        assert header == ",".join(extract.columns), name  # every declared column, in order
    # objects HubSpot does not export: a header-only file
    assert (tmp_path / "a" / f"crm/Quote/Quote_{DROP}.csv").read_text().count("\n") == 1
    # the same bad values filed twice: a byte-identical quarantine file
    export = copy_export("hubspot", tmp_path)
    edit_csv(export / "deals.csv", 5, "Deal Stage", "customstage42")
    one = convert(mapping, export, tmp_path / "a", DROP).quarantine_file.read_bytes()
    assert convert(mapping, export, tmp_path / "a", DROP).quarantine_file.read_bytes() == one


def test_missing_required_column_is_named(tmp_path):
    export = copy_export("hubspot", tmp_path)
    path = export / "deals.csv"
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    drop = rows[0].index("Amount")
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    with pytest.raises(ExportError) as info:
        convert_export(MAPPINGS_DIR / "hubspot.yaml", export, tmp_path / "landing", DROP)
    assert str(path) in str(info.value) and "lacks column 'Amount'" in str(info.value)


def test_mapping_file_is_validated(tmp_path):
    base = (MAPPINGS_DIR / "hubspot.yaml").read_text(encoding="utf-8")
    cases = {
        "Opportunity:": ("Opportunityy:", "unknown CRM object"),
        "      Amount: Amount": ("      Amountt: Amount", "Opportunity has no column 'Amountt'"),
        "Title: {const: Account Executive}": (
            "Title: {cnst: Account Executive}",
            "unknown key 'cnst'",
        ),
        "lookup: {file: owners, key: email, value: id} #": (
            "lookup: {file: ownerz, key: email, value: id} #",
            "no file 'ownerz'",
        ),
        "format: epoch_ms}": ("format: epoch_millis}", "format 'epoch_millis'"),
        "closedwon: [Closed Won,": ("closedwon: [Won,", "'Won' is not a value of Opportunity"),
        "{CALL: Call, EMAIL: Email}": ("{CALL: Call, EMAIL: Mail}", "'Mail' is not a value"),
        "\nfiles:": ("\non_bad_value: skip\nfiles:", "on_bad_value is one of quarantine, fail"),
    }
    for old, (new, expected) in cases.items():
        path = tmp_path / "broken.yaml"
        assert old in base, old
        path.write_text(base.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(MappingError, match=expected):
            convert_export(path, FIXTURES / "hubspot", tmp_path / "landing", DROP)


@pytest.mark.parametrize(
    ("obj", "line", "column"),
    [
        ("Opportunity", "      CreatedDate: {from: Create Date,", "CreatedDate"),
        ("Task", "      ActivityDate: {from: Activity date,", "ActivityDate"),
        ("User", "      Id: {from: id,", "Id"),
    ],
)
def test_a_mapping_must_fill_every_required_column(tmp_path, obj, line, column):
    """Extract.required_columns: without them every row would be quarantined at load."""
    base = (MAPPINGS_DIR / "hubspot.yaml").read_text(encoding="utf-8")
    start = base.index(f"\n  {obj}:")
    at = base.index(line, start)
    broken = base[:at] + base[base.index("\n", at) + 1 :]
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(MappingError, match=rf"objects.{obj}: {obj}.{column} not mapped"):
        convert_export(path, FIXTURES / "hubspot", tmp_path / "landing", DROP)
    assert not (tmp_path / "landing").exists()


def test_vocabulary_on_a_tiny_export(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "opps.csv").write_text(
        "\ufeffID,Title,Pipe,Status,Phase,Value,Closed,Touched,Parent\n"
        "1,A,main,open,Offer,10,,1767225600,\n"
        "2,B,main,won,Offer,20.5,2026-01-02,1767225600.25,77\n"
        "3,C,other,open,Offer,30,,1767225600,\n"
        "4,D,main,won,Special,40,2026-01-03,1767225600,\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "tiny.yaml"
    mapping.write_text(
        """
files: {opps: opps.csv}
objects:
  Opportunity:
    from: opps
    where: [{column: Pipe, in: [main]}]
    columns:
      Id: {from: ID, prefix: "t-"}
      Name: {template: "{Title} ({Pipe})"}
      AccountId: {coalesce: [{from: Parent, prefix: "p-"}, {const: none}]}
      Amount: {from: Value, multiply: 2}
      CloseDate: {from: Closed, default: "2026-12-31"}
      CreatedDate: {from: Touched, format: epoch_s}
      LastModifiedDate: {from: Touched, format: epoch_s}
    tables:
      - from: [Status, Phase]
        columns: [StageName, IsWon]
        values:
          open | Offer: [Proposal, false]
          won | Special: [Closed Won, false]
          won | *: [Closed Won, true]
""",
        encoding="utf-8",
    )
    counts = convert_export(mapping, export, tmp_path / "landing", DROP)
    assert counts["Opportunity"] == 3  # row 3 is in another pipeline
    rows = {r["Id"]: r for r in read_landing(tmp_path / "landing", "Opportunity")}
    assert list(rows) == ["t-1", "t-2", "t-4"]
    assert rows["t-1"]["Name"] == "A (main)" and rows["t-1"]["AccountId"] == "none"
    assert rows["t-2"]["AccountId"] == "p-77" and rows["t-2"]["Amount"] == "41.00"
    assert rows["t-1"]["CloseDate"] == "2026-12-31" and rows["t-2"]["CloseDate"] == "2026-01-02"
    assert rows["t-2"]["LastModifiedDate"] == "2026-01-01T00:00:00.250Z"
    assert rows["t-2"]["StageName"] == "Closed Won" and rows["t-2"]["IsWon"] == "true"
    assert rows["t-4"]["IsWon"] == "false"  # the exact key wins over "*"
    assert rows["t-1"]["IsDeleted"] == ""  # not mapped: null


# ---------------------------------------------------------------------------------------------
# The command and its documentation


def run_map_crm(tmp_path: Path, monkeypatch, *args: str):
    from click.testing import CliRunner

    from pilotage_cli import main
    from tests.conftest import pilotage_env

    # the CLI exports its settings to the environment: restored after the test
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with pilotage_env(tmp_path):
        return CliRunner().invoke(main, ["map-crm", *args, "--data-dir", str(tmp_path)])


def test_map_crm_prints_coverage_counts_and_bad_rows(tmp_path, monkeypatch):
    export = copy_export("maven_crm", tmp_path / "export")
    edit_csv(export / "sales_pipeline.csv", 3, "deal_stage", "Negotiating")
    args = ["--mapping", "maven_crm", "--export-dir", str(export), "--drop", DROP]
    result = run_map_crm(tmp_path, monkeypatch, *args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"CRM data: \d+ of \d+ requirements met", out)
    assert "stage_history: OpportunityHistory is not mapped" in out
    assert "user_emails: User.Email is not mapped" in out
    assert "collapsed:User:" in out and "quarantined:Opportunity: 1" in out
    assert "sales_pipeline.csv line 3, column deal_stage: value 'Negotiating'" in out
    assert "pilotage refresh" in out


def test_map_crm_errors_are_located_never_a_traceback(tmp_path, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text("files: {deals: deals.csv}\nobjects: {Opportunity: {from: deals}}\n")
    result = run_map_crm(
        tmp_path, monkeypatch, "--mapping", str(broken), "--export-dir", str(tmp_path)
    )
    assert result.exit_code == 1
    assert "Opportunity.Id, Opportunity.LastModifiedDate" in result.output
    assert "Traceback" not in result.output
    mapping = fail_variant("hubspot", tmp_path)
    export = copy_export("hubspot", tmp_path)
    edit_csv(export / "deals.csv", 5, "Amount", "1.234,5")
    result = run_map_crm(
        tmp_path, monkeypatch, "--mapping", str(mapping), "--export-dir", str(export)
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "deals.csv line 5, column Amount: value '1.234,5'" in result.output


def test_the_commands_the_documentation_shows_exist():
    from pilotage_cli import main

    text = DOCS.read_text(encoding="utf-8")
    shown = set(re.findall(r"(?m)(?:`|^\s*(?:\$ )?)pilotage ([a-z][a-z-]*)", text))
    assert {"map-crm", "refresh"} <= shown
    assert shown <= set(main.commands), shown - set(main.commands)
    shipped = {p.stem for p in MAPPINGS_DIR.glob("*.yaml")}
    assert shipped == {"hubspot", "pipedrive", "maven_crm"}
    assert all(f"`{name}.yaml`" in text for name in shipped)


def test_the_documented_example_is_a_valid_mapping(tmp_path):
    text = DOCS.read_text(encoding="utf-8").split("## An annotated example", 1)[1]
    example = tmp_path / "example.yaml"
    example.write_text(text.split("```yaml", 1)[1].split("```", 1)[0], encoding="utf-8")
    assert list(load_mapping(example).objects) == ["User", "Opportunity", "Task"]
