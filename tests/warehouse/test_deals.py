"""fct_deals (the manager cockpit's deal list) against the deals computed by hand from the extract
files (tests/oracle/deals.py): every opportunity once, with the names a manager reads (deal,
account, rep, team), the stage, amount and dates, the days in the current stage, the last activity
logged on the deal, the open / closing this month / overdue / stalled flags and the e-mails the
row-level security reads. The session's demo (tests/conftest.py: seed 42, scale 0.1, as of
2026-11-15), built by the real pipeline."""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import AS_OF
from tests.oracle.deals import expected_deals

COMPARED = (
    "opportunity_name",
    "account_name",
    "rep_name",
    "team_name",
    "stage_name",
    "amount",
    "created_date",
    "close_date",
    "days_in_stage",
    "last_activity_date",
    "is_open",
    "closes_this_month",
    "is_overdue",
    "is_stalled",
    "rep_email",
    "manager_email",
)


@pytest.fixture(scope="module")
def deals(demo_pipeline) -> tuple[dict[str, dict], dict[str, dict]]:
    """(the mart's rows, the oracle's rows), by opportunity id."""
    settings, _ = demo_pipeline
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        cursor = con.execute("select * from marts.fct_deals")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        con.close()
    return {r["opportunity_id"]: r for r in rows}, expected_deals(settings.landing_dir, AS_OF)


def test_every_opportunity_once_with_readable_names_and_flags(deals) -> None:
    got, want = deals
    assert set(got) == set(want)
    mismatches = [
        (opportunity, column, got[opportunity][column], expected[column])
        for opportunity, expected in want.items()
        for column in COMPARED
        if got[opportunity][column] != expected[column]
    ]
    assert not mismatches, mismatches[:10]
    assert all(row["as_of_date"] == AS_OF for row in got.values())


def test_the_demo_exercises_every_flag(deals) -> None:
    """Not vacuous: the demo has open deals that close this month, stalled ones and deals with
    and without a last activity, each with a rep, a team and a manager to filter on."""
    _, want = deals
    open_deals = [d for d in want.values() if d["is_open"]]
    assert sum(d["closes_this_month"] for d in open_deals) >= 3
    assert sum(d["is_stalled"] for d in open_deals) >= 1
    assert sum(not d["is_stalled"] for d in open_deals) >= 3
    assert any(d["last_activity_date"] is None for d in open_deals)
    assert any(d["last_activity_date"] is not None for d in open_deals)
    assert all(d["manager_email"] for d in open_deals if d["team_name"])
