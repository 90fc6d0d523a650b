"""Bring your own CRM: the shipped mappings turn HubSpot- and Pipedrive-style exports into canonical
extract files that the real dlt CRM source loads unchanged.

Expected values are computed from the fixture export files with the csv module, independently of
the mapping code; errors must name the export file, the line, the column and the value.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.extracts import CRM_EXTRACTS
from ingestion.mapping import MAPPINGS_DIR, ExportError, MappingError, convert_export

FIXTURES = Path(__file__).parent / "fixtures" / "crm_exports"
DROP = "20260215"


def read_fixture(crm: str, name: str) -> list[dict[str, str]]:
    with (FIXTURES / crm / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def convert_and_load(crm: str, tmp: Path) -> tuple[dict[str, int], duckdb.DuckDBPyConnection]:
    """Convert the fixture export of ``crm`` and load it with the real CRM pipeline."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    from ingestion.pipeline import make_pipeline
    from ingestion.sources import crm_source

    landing = tmp / "landing"
    counts = convert_export(MAPPINGS_DIR / f"{crm}.yaml", FIXTURES / crm, landing, DROP)
    warehouse = tmp / "warehouse.duckdb"
    pipeline = make_pipeline("crm", warehouse, tmp / "dlt")
    pipeline.run(crm_source(landing)).raise_on_failed_jobs()
    return counts, duckdb.connect(str(warehouse), read_only=True)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, *params):
    return con.execute(sql, params).fetchone()[0]


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory):
    counts, con = convert_and_load("hubspot", tmp_path_factory.mktemp("hubspot"))
    yield counts, con
    con.close()


@pytest.fixture(scope="module")
def pipedrive(tmp_path_factory):
    counts, con = convert_and_load("pipedrive", tmp_path_factory.mktemp("pipedrive"))
    yield counts, con
    con.close()


# ---------------------------------------------------------------------------------------------
# HubSpot


def test_hubspot_counts_and_skips(hubspot):
    counts, con = hubspot
    deals = read_fixture("hubspot", "deals.csv")
    engagements = read_fixture("hubspot", "engagements.csv")
    types = [e["Type"] for e in engagements]
    assert (
        counts["Opportunity"]
        == len(deals)
        == scalar(con, "select count(*) from raw_crm.opportunities")
    )
    assert counts["Task"] == types.count("CALL") + types.count("EMAIL")
    assert counts["Event"] == types.count("MEETING")
    assert counts["skipped:engagements:NOTE"] == types.count("NOTE") > 0
    assert counts["skipped:engagements:TASK"] == types.count("TASK") > 0
    assert sum(
        v for k, v in counts.items() if k in ("Task", "Event") or k.startswith("skipped:")
    ) == len(engagements)
    assert scalar(
        con, "select count(*) from raw_crm.tasks where task_subtype = 'Call'"
    ) == types.count("CALL")
    assert scalar(con, "select count(*) from raw_crm.events where type = 'Meeting'") == types.count(
        "MEETING"
    )
    teams = {o["teams"] for o in read_fixture("hubspot", "owners.csv") if o["teams"]}
    assert scalar(con, "select count(*) from raw_crm.user_roles") == len(teams)


def test_hubspot_deal_values(hubspot):
    _, con = hubspot
    deals = read_fixture("hubspot", "deals.csv")
    won = [d for d in deals if d["Deal Stage"] == "closedwon"]
    lost = [d for d in deals if d["Deal Stage"] == "closedlost"]
    assert scalar(con, "select count(*) from raw_crm.opportunities where is_won") == len(won)
    assert scalar(con, "select count(*) from raw_crm.opportunities where is_closed") == len(
        won
    ) + len(lost)
    assert scalar(
        con, "select sum(amount) from raw_crm.opportunities where stage_name = 'Closed Won'"
    ) == sum(Decimal(d["Amount"]) for d in won)
    # deal 9004: owner given by email in another case, two companies, closes just after midnight
    # in Paris (still March 31 in UTC): the date is the portal's (Europe/Paris) date
    deal = next(d for d in deals if d["Record ID"] == "9004")
    owner = next(
        o
        for o in read_fixture("hubspot", "owners.csv")
        if o["email"].lower() == deal["Deal owner"].lower()
    )
    row = con.execute(
        "select amount, owner_id, account_id, close_date, stage_name, probability "
        "from raw_crm.opportunities where id = 'hs-deal-9004'"
    ).fetchone()
    assert row == (
        Decimal(deal["Amount"]),
        f"hs-owner-{owner['id']}",
        f"hs-company-{deal['Associated Company IDs'].split(';')[0]}",
        dt.date(2026, 4, 1),
        "Closed Won",
        100.0,
    )
    # a deal with no amount lands with a null amount, not zero
    assert scalar(con, "select amount is null from raw_crm.opportunities where id = 'hs-deal-9005'")


def test_hubspot_activity_values(hubspot):
    _, con = hubspot
    engagements = {e["Engagement ID"]: e for e in read_fixture("hubspot", "engagements.csv")}
    call = engagements["70001"]
    row = con.execute(
        "select owner_id, what_id, call_duration_in_seconds, activity_date, created_date "
        "from raw_crm.tasks where id = 'hs-eng-70001'"
    ).fetchone()
    created = dt.datetime.fromtimestamp(int(call["Create date"]) / 1000, dt.UTC)
    assert row == (
        f"hs-owner-{call['Owner ID']}",
        f"hs-deal-{call['Associated deal']}",
        round(int(call["Call duration ms"]) / 1000),
        created.date(),
        created,
    )
    # no deal: the activity points at the company
    assert scalar(con, "select what_id from raw_crm.tasks where id = 'hs-eng-70006'") == (
        f"hs-company-{engagements['70006']['Associated company']}"
    )
    outcomes = {"COMPLETED": "Held", "NO_SHOW": "No-show", "SCHEDULED": "Planned"}
    got = dict(con.execute("select id, meeting_status_c from raw_crm.events").fetchall())
    assert got == {
        f"hs-eng-{k}": outcomes[e["Meeting outcome"]]
        for k, e in engagements.items()
        if e["Type"] == "MEETING"
    }


def test_hubspot_users(hubspot):
    _, con = hubspot
    owners = read_fixture("hubspot", "owners.csv")
    rows = con.execute("select id, email, is_active from raw_crm.users order by id").fetchall()
    assert rows == sorted(
        (f"hs-owner-{o['id']}", o["email"].lower(), o["archived"] == "false") for o in owners
    )


# ---------------------------------------------------------------------------------------------
# Pipedrive


def test_pipedrive_counts_and_values(pipedrive):
    counts, con = pipedrive
    deals = read_fixture("pipedrive", "deals.csv")
    activities = read_fixture("pipedrive", "activities.csv")
    users = {u["Name"]: u["ID"] for u in read_fixture("pipedrive", "users.csv")}
    orgs = {
        o["Organization - Name"]: o["Organization - ID"]
        for o in read_fixture("pipedrive", "organizations.csv")
    }
    types = [a["Activity - Type"] for a in activities]
    assert counts["Opportunity"] == len(deals)
    assert counts["skipped:activities:deadline"] == types.count("deadline") > 0
    assert scalar(
        con, "select count(*) from raw_crm.tasks where task_subtype = 'Call'"
    ) == types.count("call")
    assert scalar(con, "select count(*) from raw_crm.events") == types.count(
        "meeting"
    ) + types.count("lunch")
    won = [d for d in deals if d["Deal - Status"] == "won"]
    assert scalar(con, "select count(*) from raw_crm.opportunities where is_won") == len(won)
    assert scalar(
        con, "select count(*) from raw_crm.opportunities where stage_name = 'Closed Lost'"
    ) == sum(d["Deal - Status"] == "lost" for d in deals)
    deal = next(d for d in deals if d["Deal - ID"] == "404")
    row = con.execute(
        "select amount, owner_id, account_id, close_date from raw_crm.opportunities "
        "where id = 'pd-deal-404'"
    ).fetchone()
    assert row == (
        Decimal(deal["Deal - Value"]),
        f"pd-user-{users[deal['Deal - Owner']]}",
        f"pd-org-{orgs[deal['Deal - Organization']]}",
        dt.date.fromisoformat(deal["Deal - Lost time"][:10]),  # closed when lost
    )
    # open deal: the expected close date
    assert scalar(con, "select close_date from raw_crm.opportunities where id = 'pd-deal-405'") == (
        dt.date(2026, 3, 20)
    )
    # meeting 803: starts at due date + time, ends after its duration
    row = con.execute(
        "select start_date_time, end_date_time, duration_in_minutes, meeting_status_c "
        "from raw_crm.events where id = 'pd-act-803'"
    ).fetchone()
    start = dt.datetime(2026, 1, 13, 14, 0, tzinfo=dt.UTC)
    assert row == (start, start + dt.timedelta(hours=1), 60, "Held")
    assert scalar(con, "select last_name from raw_crm.users where id = 'pd-user-13'") == "De Vries"


# ---------------------------------------------------------------------------------------------
# Landing files, errors


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


def copy_export(crm: str, tmp: Path) -> Path:
    target = tmp / crm
    shutil.copytree(FIXTURES / crm, target)
    return target


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    rows[line - 1][rows[0].index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_unknown_stage_names_file_line_column_value(tmp_path):
    export = copy_export("hubspot", tmp_path)
    edit_csv(export / "deals.csv", 5, "Deal Stage", "customstage42")
    landing = tmp_path / "landing"
    with pytest.raises(ExportError) as info:
        convert_export(MAPPINGS_DIR / "hubspot.yaml", export, landing, DROP)
    message = str(info.value)
    assert str(export / "deals.csv") in message
    assert "line 5" in message and "column Deal Stage" in message and "'customstage42'" in message
    assert not landing.exists()  # nothing written when the export does not convert


def test_unknown_value_in_a_value_map_and_route(tmp_path):
    export = copy_export("pipedrive", tmp_path)
    edit_csv(export / "activities.csv", 3, "Activity - Done", "Maybe")
    with pytest.raises(
        ExportError, match=r"activities.csv line 3, column Activity - Done: value 'Maybe'"
    ):
        convert_export(MAPPINGS_DIR / "pipedrive.yaml", export, tmp_path / "landing", DROP)
    export = copy_export("hubspot", tmp_path / "2")
    edit_csv(export / "engagements.csv", 4, "Type", "POSTAL_MAIL")
    with pytest.raises(
        ExportError, match=r"engagements.csv line 4, column Type: value 'POSTAL_MAIL'"
    ):
        convert_export(MAPPINGS_DIR / "hubspot.yaml", export, tmp_path / "landing", DROP)


def test_unknown_owner_in_a_lookup(tmp_path):
    export = copy_export("pipedrive", tmp_path)
    edit_csv(export / "deals.csv", 2, "Deal - Owner", "Nobody Known")
    with pytest.raises(
        ExportError,
        match=r"deals.csv line 2, column Deal - Owner: value 'Nobody Known' is not found",
    ):
        convert_export(MAPPINGS_DIR / "pipedrive.yaml", export, tmp_path / "landing", DROP)
    # two users with the same name: a deal owned by that name is ambiguous, not the first one
    export = copy_export("pipedrive", tmp_path / "2")
    edit_csv(export / "users.csv", 3, "Name", "Elena Costa")
    with pytest.raises(ExportError, match=r"value 'Elena Costa' matches several rows"):
        convert_export(MAPPINGS_DIR / "pipedrive.yaml", export, tmp_path / "landing", DROP)


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
    path = landing / "crm" / "Opportunity" / f"Opportunity_{DROP}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        deal = [r for r in csv.DictReader(handle) if r["Id"].endswith(first["Record ID"])]
    assert sorted((r["Amount"], r["LastModifiedDate"]) for r in deal) == [
        ("24000.00", "2026-01-28T16:05:00.000Z"),
        ("30000.00", "2026-02-11T07:00:00.000Z"),
    ]
    # the same deal and Last Modified Date twice with other values: no version can be told
    export = copy_export("hubspot", tmp_path / "conflict")
    _add_deal_version(export, "30000", first["Last Modified Date"])
    with pytest.raises(ExportError, match=r"deals.csv line \d+: Opportunity.Id '.*9001' with "):
        convert_export(MAPPINGS_DIR / "hubspot.yaml", export, tmp_path / "landing2", DROP)


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
    }
    for old, (new, expected) in cases.items():
        path = tmp_path / "broken.yaml"
        assert old in base, old
        path.write_text(base.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(MappingError, match=expected):
            convert_export(path, FIXTURES / "hubspot", tmp_path / "landing", DROP)


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
      LastModifiedDate: {from: Touched, format: epoch_s}
    tables:
      - from: [Status, Phase]
        columns: [StageName, IsWon]
        values:
          open | Offer: [Proposal, false]
          won | Special: [Closed Won Special, true]
          won | *: [Closed Won, true]
""",
        encoding="utf-8",
    )
    counts = convert_export(mapping, export, tmp_path / "landing", DROP)
    assert counts["Opportunity"] == 3  # row 3 is in another pipeline
    path = tmp_path / "landing" / f"crm/Opportunity/Opportunity_{DROP}.csv"
    rows = {r["Id"]: r for r in csv.DictReader(path.open(encoding="utf-8"))}
    assert list(rows) == ["t-1", "t-2", "t-4"]
    assert rows["t-1"]["Name"] == "A (main)" and rows["t-1"]["AccountId"] == "none"
    assert rows["t-2"]["AccountId"] == "p-77" and rows["t-2"]["Amount"] == "41.00"
    assert rows["t-1"]["CloseDate"] == "2026-12-31" and rows["t-2"]["CloseDate"] == "2026-01-02"
    assert rows["t-2"]["LastModifiedDate"] == "2026-01-01T00:00:00.250Z"
    assert rows["t-2"]["StageName"] == "Closed Won" and rows["t-2"]["IsWon"] == "true"
    assert rows["t-4"]["StageName"] == "Closed Won Special"  # the exact key wins over "*"
    assert rows["t-1"]["IsDeleted"] == ""  # not mapped: null


def test_objects_the_crm_does_not_export_still_get_their_empty_raw_tables(hubspot):
    """dbt's sources must resolve for a CRM without quotes, proposals, contracts or targets."""
    counts, con = hubspot
    for table, object_name in (
        ("quotes", "Quote"),
        ("proposals", "Proposal__c"),
        ("contracts", "Contract"),
        ("sales_targets", "Sales_Target__c"),
    ):
        assert counts[object_name] == 0
        assert scalar(con, f"select count(*) from raw_crm.{table}") == 0
