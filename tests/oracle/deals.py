"""fct_deals computed by hand from the extract files: one row per opportunity with readable names
and the flags a manager acts on.

The oracle of tests/warehouse/test_deals.py: plain Python (csv, Decimal, datetime) on the demo's
CSV extracts, following the rules of the brief and of dbt/models/marts/pipeline: the owner's
current name, e-mail and team (the latest version of the User extract; a team is a UserRole of
RollupDescription 'Team'), the team's manager (its active Sales Manager, else the lowest id), the
account's name, the day the deal entered its current stage (its latest OpportunityHistory row),
its last activity logged on the deal (proposal sent, quote created, contract signed, or a task or
event whose WhatId is the deal) up to the as-of date, and the flags: open, closing in the as-of
month, overdue, stalled (open, in the same stage and without activity for ``stalled_days``).
Nothing here reads the models' SQL or output.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from tests.oracle.files import current_rows, is_true, parse_day, parse_instant, utc_day

STALLED_DAYS = 21  # dbt var stalled_deal_days, default


def _name(user: dict) -> str:
    return f"{user['FirstName']} {user['LastName']}".strip()


def _managers(users: dict[str, dict], roles: dict[str, dict]) -> dict[str, str]:
    """team id -> its manager's e-mail: the team's active Sales Manager, else the lowest id."""
    candidates: dict[str, list[tuple[int, str, str]]] = {}
    for user in users.values():
        role = roles.get(user["UserRoleId"], {})
        if user["Title"] == "Sales Manager" and role.get("RollupDescription") == "Team":
            rank = 0 if is_true(user["IsActive"]) else 1
            candidates.setdefault(user["UserRoleId"], []).append((rank, user["Id"], user["Email"]))
    return {team: min(found)[2] for team, found in candidates.items()}


def _last_activities(landing: Path, as_of: dt.date) -> dict[str, dt.date]:
    """opportunity id -> the latest day, up to ``as_of``, of an activity logged on it."""
    dated: list[tuple[str, dt.date | None]] = []
    dated += [
        (p["Opportunity__c"], parse_day(p["Sent_Date__c"]))
        for p in current_rows(landing, "Proposal__c")
    ]
    dated += [
        (q["OpportunityId"], utc_day(q["CreatedDate"])) for q in current_rows(landing, "Quote")
    ]
    dated += [
        (c["Opportunity__c"], parse_day(c["CustomerSignedDate"]))
        for c in current_rows(landing, "Contract")
    ]
    for object_name in ("Task", "Event"):
        dated += [
            (a["WhatId"], parse_day(a["ActivityDate"])) for a in current_rows(landing, object_name)
        ]
    last: dict[str, dt.date] = {}
    for record, day in dated:
        if record and day is not None and day <= as_of:
            last[record] = max(day, last.get(record, day))
    return last


def _stage_entered(landing: Path, opportunities: list[dict]) -> dict[str, dt.date]:
    """opportunity id -> the UTC day of its latest stage change (its current stage). Without any
    history: its creation day if open; its close date if closed (not before its creation)."""
    latest: dict[str, tuple[dt.datetime, str]] = {}
    for change in current_rows(landing, "OpportunityHistory"):
        at = parse_instant(change["CreatedDate"])
        key = (at, change["Id"])
        if change["OpportunityId"] not in latest or key > latest[change["OpportunityId"]]:
            latest[change["OpportunityId"]] = key
    entered = {}
    for opp in opportunities:
        created = utc_day(opp["CreatedDate"])
        if opp["Id"] in latest:
            entered[opp["Id"]] = latest[opp["Id"]][0].astimezone(dt.UTC).date()
        elif is_true(opp["IsClosed"]):
            closed = parse_day(opp["CloseDate"])
            entered[opp["Id"]] = created if closed is None or created > closed else closed
        else:
            entered[opp["Id"]] = created
    return entered


def expected_deals(
    landing: Path, as_of: dt.date, stalled_days: int = STALLED_DAYS
) -> dict[str, dict]:
    """opportunity id -> the fct_deals row the extracts give as of ``as_of``."""
    opportunities = current_rows(landing, "Opportunity")
    accounts = {a["Id"]: a for a in current_rows(landing, "Account", deleted=True)}
    users = {u["Id"]: u for u in current_rows(landing, "User", deleted=True)}
    roles = {r["Id"]: r for r in current_rows(landing, "UserRole", deleted=True)}
    managers = _managers(users, roles)
    last_activity = _last_activities(landing, as_of)
    entered = _stage_entered(landing, opportunities)
    deals = {}
    for opp in opportunities:
        owner = users.get(opp["OwnerId"])
        role = roles.get(owner["UserRoleId"], {}) if owner else {}
        team = owner["UserRoleId"] if role.get("RollupDescription") == "Team" else None
        is_open = not is_true(opp["IsClosed"])
        close = parse_day(opp["CloseDate"])
        in_stage = (as_of - entered[opp["Id"]]).days
        last = last_activity.get(opp["Id"])
        idle = (as_of - last).days if last else None
        account = accounts.get(opp["AccountId"])
        deals[opp["Id"]] = {
            "opportunity_name": opp["Name"],
            "account_name": account["Name"] if account else opp["AccountId"],
            "rep_name": _name(owner) if owner else None,
            "team_name": roles[team]["Name"] if team else None,
            "stage_name": opp["StageName"],
            "amount": Decimal(opp["Amount"]) if opp["Amount"] else None,
            "created_date": utc_day(opp["CreatedDate"]),
            "close_date": close,
            "days_in_stage": in_stage,
            "last_activity_date": last,
            "is_open": is_open,
            "closes_this_month": bool(
                is_open and close and (close.year, close.month) == (as_of.year, as_of.month)
            ),
            "is_overdue": bool(is_open and close and close < as_of),
            "is_stalled": is_open
            and in_stage >= stalled_days
            and (idle is None or idle >= stalled_days),
            "rep_email": owner["Email"] if owner else None,
            "manager_email": managers.get(team) if team else None,
        }
    return deals
