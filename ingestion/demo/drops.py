"""A sequence of extract drops over simulated days, delivered in an adversarial order, with the
truth of the final state.

Day 0 is the demo (``ingestion.demo.generator.generate``) at the as-of date, a full extract. Each
following day's drop holds only what changed that day, as new versions of records (a later
``LastModifiedDate`` / ``updated_at``): new opportunities and tasks, stage moves and amount
revisions, a rep moving to another team, a target revised, deletions (``IsDeleted`` versions in the
CRM, cancelled invoices in the ERP), a new ERP customer; day 3 also repeats versions of day 2 (the
same record in two drops).

The deliveries (``DropSequence.deliveries``) bring these drops to the landing folder out of order:
day 2 before day 1 (day 1 then arrives late, older than what is loaded), day 1 delivered again
under the same names, and the last drop delivered again under another name. Whatever the order,
the warehouse must end in the state ``DropSequence.truth`` reports, which comes from this module's
own bookkeeping (per object, the latest version of every record that is not deleted), never from
reading the warehouse.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ingestion.demo.generator import CENT, FORECAST_CATEGORY, STAGE_PROBABILITY, STAGES, generate
from ingestion.extracts import ALL_EXTRACTS, Extract

EXTRACTS: dict[str, Extract] = {e.object_name: e for e in ALL_EXTRACTS}
Row = dict[str, str]  # one record version as written in a CSV file


def utc_stamp(value: dt.datetime) -> str:
    """A timestamp as the extracts write it: UTC (a naive value is UTC), whole seconds, Z."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_extract_file(path: Path, object_name: str, rows: list[Row]) -> None:
    """An extract file of ``rows`` in the canonical columns, written under a temporary name and
    then renamed (a sensor never sees half a file)."""
    part = path.with_name(f".{path.name}.part")
    with part.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(EXTRACTS[object_name].columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    part.replace(path)


@dataclass(frozen=True)
class Delivery:
    """Files arriving in the landing folder: a drop's rows under the file name suffix ``name``."""

    drop: str  # the day of the drop, YYYYMMDD
    name: str  # the files are <Object>_<name>.csv
    kind: str  # on time, out of order, late, re-delivered, renamed copy
    files: dict[str, list[Row]]  # object name -> rows

    def write(self, landing_dir: Path) -> list[Path]:
        """Write the delivery's files (under a temporary name, then renamed)."""
        written = []
        for object_name, rows in self.files.items():
            folder = EXTRACTS[object_name].folder(Path(landing_dir))
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{object_name}_{self.name}.csv"
            write_extract_file(final, object_name, rows)
            written.append(final)
        return written


@dataclass
class DropSequence:
    deliveries: list[Delivery]
    # object name -> record id -> latest version, deleted records included
    latest: dict[str, dict[str, Row]] = field(default_factory=dict)

    @property
    def truth(self) -> dict[str, dict[str, Row]]:
        """The final state: per object, the latest version of every record not deleted."""
        return {
            obj: {key: row for key, row in rows.items() if row.get("IsDeleted") != "true"}
            for obj, rows in self.latest.items()
        }


def _remember(state: dict[str, dict[str, Row]], object_name: str, row: Row) -> None:
    """Keep ``row`` as the record's current version if its cursor is the latest seen."""
    extract = EXTRACTS[object_name]
    rows = state.setdefault(object_name, {})
    current = rows.get(row[extract.primary_key])
    if current is None or row[extract.cursor] > current[extract.cursor]:  # ISO UTC strings sort
        rows[row[extract.primary_key]] = row


def _is_live(row: Row) -> bool:
    return row["IsDeleted"] == "false"


def _is_open(row: Row) -> bool:
    return row["IsClosed"] == "false" and _is_live(row)


def _is_closed(row: Row) -> bool:
    return row["IsClosed"] == "true" and _is_live(row)


def _is_posted_invoice(row: Row) -> bool:
    return row["state"] == "posted" and row["move_type"] == "out_invoice"


class _Day:
    """The changes of one simulated day: new versions, timestamps increasing through the day."""

    def __init__(self, state: dict[str, dict[str, Row]], day: dt.date):
        self.state = state
        self.day = day
        self.files: dict[str, list[Row]] = {}
        self._clock = dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)

    def now(self) -> str:
        self._clock += dt.timedelta(minutes=7)
        return utc_stamp(self._clock)

    def write(self, object_name: str, row: Row) -> Row:
        extract = EXTRACTS[object_name]
        assert row.keys() == extract.columns.keys(), object_name
        self.files.setdefault(object_name, []).append(row)
        _remember(self.state, object_name, row)
        return row

    def change(self, object_name: str, key: str, **values: str) -> Row:
        """A new version of a record: its latest version with ``values`` and a new cursor."""
        extract = EXTRACTS[object_name]
        row = dict(self.state[object_name][key], **values)
        row[extract.cursor] = self.now()
        return self.write(object_name, row)


class _Simulation:
    def __init__(self, state: dict[str, dict[str, Row]], seed: int):
        self.state = state
        self.rng = random.Random(seed)
        self.next_id = 0
        self.moved: list[str] = []  # opportunities moved the day before

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}D{self.next_id:0{17 - len(prefix)}d}"

    def pick(self, object_name: str, keep) -> str:
        keys = sorted(k for k, row in self.state[object_name].items() if keep(row))
        return self.rng.choice(keys)

    def _reps(self) -> list[str]:
        return sorted(k for k, u in self.state["User"].items() if u["Title"] == "Account Executive")

    def day(self, n: int, day: dt.date) -> _Day:
        today = _Day(self.state, day)
        # an opportunity moved yesterday moves again: yesterday's drop arriving late is older
        still_open = [k for k in self.moved if _is_open(self.state["Opportunity"][k])]
        movers = still_open[:1] + [self.pick("Opportunity", _is_open)]
        self.moved = [self._move_stage(today, key) for key in dict.fromkeys(movers)]
        self._revise_amount(today, self.pick("Opportunity", _is_open))
        self._new_opportunity(today)
        for _ in range(3):
            self._new_task(today)
        if n in (1, 3):
            today.change("Task", self.pick("Task", _is_live), IsDeleted="true")
            today.change("invoices", self.pick("invoices", _is_posted_invoice), state="cancel")
        if n == 1:
            self._new_customer(today)
        if n == 2:
            self._change_team(today)
        if n == 3:
            self._revise_target(today)
        if n >= 4:
            today.change("Opportunity", self.pick("Opportunity", _is_closed), IsDeleted="true")
        return today

    def _move_stage(self, today: _Day, key: str) -> str:
        current_row = self.state["Opportunity"][key]
        current = current_row["StageName"]
        if current == STAGES[-1]:
            stage = "Closed Won" if self.rng.random() < 0.6 else "Closed Lost"
        else:
            stage = STAGES[STAGES.index(current) + 1]
        closed = stage.startswith("Closed")
        row = today.change(
            "Opportunity",
            key,
            StageName=stage,
            Probability=str(STAGE_PROBABILITY[stage]),
            ForecastCategoryName=FORECAST_CATEGORY[stage],
            IsClosed=str(closed).lower(),
            IsWon=str(stage == "Closed Won").lower(),
            CloseDate=today.day.isoformat() if closed else current_row["CloseDate"],
        )
        self._history(today, row)
        return key

    def _history(self, today: _Day, opportunity: Row) -> None:
        today.write(
            "OpportunityHistory",
            {
                "Id": self.new_id("008"),
                "OpportunityId": opportunity["Id"],
                "StageName": opportunity["StageName"],
                "Amount": opportunity["Amount"],
                "Probability": opportunity["Probability"],
                "CloseDate": opportunity["CloseDate"],
                "CreatedDate": opportunity["LastModifiedDate"],
            },
        )

    def _revise_amount(self, today: _Day, key: str) -> None:
        amount = Decimal(self.state["Opportunity"][key]["Amount"]) * Decimal("1.1")
        today.change("Opportunity", key, Amount=str(amount.quantize(CENT)))

    def _new_opportunity(self, today: _Day) -> None:
        account = self.state["Account"][self.pick("Account", _is_live)]
        created = today.now()
        row = today.write(
            "Opportunity",
            {
                "Id": self.new_id("006"),
                "Name": f"{account['Name']} - New deal {today.day.isoformat()}",
                "AccountId": account["Id"],
                "OwnerId": account["OwnerId"],
                "StageName": "Prospecting",
                "Amount": f"{self.rng.randrange(20, 200) * 100}.00",
                "Probability": str(STAGE_PROBABILITY["Prospecting"]),
                "CloseDate": (today.day + dt.timedelta(days=45)).isoformat(),
                "IsClosed": "false",
                "IsWon": "false",
                "ForecastCategoryName": FORECAST_CATEGORY["Prospecting"],
                "IsDeleted": "false",
                "CreatedDate": created,
                "LastModifiedDate": created,
            },
        )
        self._history(today, row)

    def _new_task(self, today: _Day) -> None:
        rep = self.rng.choice(self._reps())
        created = today.now()
        today.write(
            "Task",
            {
                "Id": self.new_id("00T"),
                "OwnerId": rep,
                "WhatId": self.pick("Account", lambda r, rep=rep: r["OwnerId"] == rep),
                "Subject": "Follow-up call",
                "TaskSubtype": "Call",
                "Status": "Completed",
                "ActivityDate": today.day.isoformat(),
                "CallDurationInSeconds": str(self.rng.randrange(60, 900)),
                "IsDeleted": "false",
                "CreatedDate": created,
                "LastModifiedDate": created,
            },
        )

    def _change_team(self, today: _Day) -> None:
        users = self.state["User"]
        rep = self.rng.choice(self._reps())
        managers = {u["UserRoleId"]: k for k, u in users.items() if u["Title"] == "Sales Manager"}
        teams = sorted(t for t in managers if t != users[rep]["UserRoleId"])
        team = self.rng.choice(teams)
        today.change("User", rep, UserRoleId=team, ManagerId=managers[team])

    def _revise_target(self, today: _Day) -> None:
        month = today.day.replace(day=1).isoformat()
        key = self.pick(
            "Sales_Target__c",
            lambda r: (
                r["Target_Level__c"] == "rep"
                and r["Metric__c"] == "revenue"
                and r["Period_Start__c"] <= month
                and _is_live(r)
            ),
        )
        value = Decimal(self.state["Sales_Target__c"][key]["Target_Value__c"]) * Decimal("0.9")
        today.change("Sales_Target__c", key, Target_Value__c=str(value.quantize(CENT)))

    def _new_customer(self, today: _Day) -> None:
        created = today.now()
        today.write(
            "customers",
            {
                "customer_id": self.new_id("C"),
                "customer_name": "Newcomer Logistics",
                "crm_account_number": "",
                "country": "France",
                "city": "Lyon",
                "created_at": created,
                "updated_at": created,
            },
        )


def _read_demo(folder: Path) -> dict[str, list[Row]]:
    files = {}
    for extract in ALL_EXTRACTS:
        (path,) = extract.files(folder)
        with path.open(encoding="utf-8", newline="") as handle:
            files[extract.object_name] = list(csv.DictReader(handle))
    return files


def generate_drops(
    *,
    seed: int = 42,
    scale: float = 0.1,
    as_of: dt.date,
    days: int = 5,
    profile: str = "demo",
) -> DropSequence:
    """The demo at ``as_of`` and ``days`` daily drops after it, in delivery order (see the module
    docstring), with the truth of the final state. Deterministic for a seed."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), seed=seed, scale=scale, as_of=as_of, profile=profile)
        base = _read_demo(Path(tmp))
    state: dict[str, dict[str, Row]] = {}
    for object_name, rows in base.items():
        for row in rows:
            _remember(state, object_name, row)
    simulation = _Simulation(state, seed)
    drops = []
    for n in range(1, days + 1):
        day = as_of + dt.timedelta(days=n)
        today = simulation.day(n, day)
        if n == 3:  # the same versions in two drops: day 2's opportunity changes again
            for row in drops[1][1].get("Opportunity", []):
                today.files.setdefault("Opportunity", []).insert(0, row)
        drops.append((day.strftime("%Y%m%d"), today.files))
    first = as_of.strftime("%Y%m%d")
    deliveries = [Delivery(first, first, "on time", base)]
    # day 2 before day 1, which then arrives late and is delivered twice
    order = [(1, "out of order"), (0, "late")] if days >= 2 else [(0, "on time")]
    order += [(0, "re-delivered")] + [(i, "on time") for i in range(2, days)]
    for index, kind in order:
        name, files = drops[index]
        deliveries.append(Delivery(name, name, kind, files))
    last, files = drops[-1]
    deliveries.append(Delivery(last, f"{last}_resent", "renamed copy", files))
    return DropSequence(deliveries, state)
