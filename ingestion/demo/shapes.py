"""Other companies' exports: turn a demo landing folder into the shape another company delivers.

The demo (``ingestion.demo.generator.generate``) is a complete, tidy company. Real ones are not:
no ERP, no stage history, users without hire dates, deals older than the extract, activities
without a type, duplicates, revenue nobody in the CRM owns, reps outside any team, meetings and
invoices planned ahead, months where credit notes outweigh sales, daily drops on top of the full
extract, a CRM of another vendor whose French Excel export comes in through a mapping
(``ingestion.mapping``). Each shape below is one such difference, a plain function of a landing
folder of canonical extract files (``<landing>/<system>/<Object>/<Object>_<drop>.csv``, see
``ingestion.extracts``) that rewrites it in place and returns a ``ShapeRecord`` saying what it did
(for test oracles and failure messages).

Shapes compose: ``apply_shapes(landing, names, seed=, scale=, as_of=)`` applies several in a fixed
order (``SHAPE_ORDER``: the drops first, the removal of a whole system last), each with its own
``random.Random`` seeded from the seed and its name, so that the same seed and shapes give the
same files. A shape that changes a record changes every version of it (all files), so the
record's latest version carries the change. ``sources_for(names)`` is the ``PILOTAGE_SOURCES`` a
company of that shape configures (``crm`` without an ERP, ``erp`` without a CRM).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import yaml

from ingestion.demo.drops import generate_drops, utc_stamp, write_extract_file
from ingestion.demo.generator import DOMAIN, net_amount
from ingestion.extracts import ALL_EXTRACTS, Extract
from ingestion.mapping import convert

EXTRACTS: dict[str, Extract] = {e.object_name: e for e in ALL_EXTRACTS}
Row = dict[str, str]
UNKNOWN_OWNER = "005GONE00000000001"  # a user id no User row has (a user purged from the CRM)
UNKNOWN_EMAILS = (f" Departed.Rep@{DOMAIN.title()} ", "agent@partner-reseller.example")


@dataclass(frozen=True)
class Context:
    """What the landing folder was generated with."""

    seed: int
    scale: float
    as_of: dt.date

    def rng(self, shape: str) -> random.Random:
        return random.Random(f"{self.seed}:{shape}")


@dataclass
class ShapeRecord:
    """What one shape did: a one-line summary and the details (counts, ids, dates)."""

    shape: str
    summary: str
    details: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.shape}: {self.summary}"


@dataclass(frozen=True)
class Shape:
    name: str
    apply: Callable[[Path, Context], ShapeRecord]
    sources: str | None = None  # the PILOTAGE_SOURCES of a company of this shape


# ------------------------------------------------------------------------------ files


def _at(day: dt.date, hour: int, minute: int = 0) -> str:
    return utc_stamp(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC))


def _files(landing: Path, object_name: str) -> list[Path]:
    return EXTRACTS[object_name].files(landing)


def _read(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _rows(landing: Path, object_name: str) -> list[Row]:
    """Every row of every file of the object, oldest drop first."""
    return [row for path in _files(landing, object_name) for row in _read(path)]


def _latest(landing: Path, object_name: str) -> dict[str, Row]:
    """Per primary key, the version with the latest cursor (ISO UTC strings sort)."""
    extract = EXTRACTS[object_name]
    latest: dict[str, Row] = {}
    for row in _rows(landing, object_name):
        key = row[extract.primary_key]
        if key not in latest or row[extract.cursor] >= latest[key][extract.cursor]:
            latest[key] = row
    return latest


def _rewrite(landing: Path, object_name: str, change: Callable[[Row], Row | None]) -> int:
    """Apply ``change`` to every row of every file of the object (None drops the row); returns
    the number of rows changed or dropped."""
    changed = 0
    for path in _files(landing, object_name):
        rows = _read(path)
        new_rows = []
        for row in rows:
            new = change(dict(row))
            changed += new != row
            if new is not None:
                new_rows.append(new)
        write_extract_file(path, object_name, new_rows)
    return changed


def _set(landing: Path, object_name: str, values_by_id: dict[str, dict[str, str]]) -> int:
    """Set columns on every version of the records in ``values_by_id`` (primary key -> values)."""
    key = EXTRACTS[object_name].primary_key

    def change(row: Row) -> Row:
        return {**row, **values_by_id.get(row[key], {})}

    return _rewrite(landing, object_name, change)


def _append(landing: Path, object_name: str, rows: list[Row], as_of: dt.date) -> None:
    """Add rows to the object's first file (its full extract), or a new file of the as-of drop."""
    if not rows:
        return
    files = _files(landing, object_name)
    if files:
        path, existing = files[0], _read(files[0])
    else:
        folder = EXTRACTS[object_name].folder(landing)
        folder.mkdir(parents=True, exist_ok=True)
        path, existing = folder / f"{object_name}_{as_of:%Y%m%d}.csv", []
    write_extract_file(path, object_name, existing + rows)


def _drop_day(path: Path, object_name: str) -> dt.date:
    """The day of a file's drop: the first eight digits after ``<Object>_``."""
    suffix = path.stem[len(object_name) + 1 :]
    return dt.datetime.strptime(suffix[:8], "%Y%m%d").date()


def _reps(landing: Path) -> list[Row]:
    return sorted(
        (u for u in _latest(landing, "User").values() if u["Title"] == "Account Executive"),
        key=lambda u: u["Id"],
    )


def _sample(rng: random.Random, items: Iterable[str], share: float, at_least: int) -> list[str]:
    pool = sorted(items)
    return sorted(rng.sample(pool, min(len(pool), max(at_least, round(share * len(pool))))))


def _repeat_some(rows: list, rng: random.Random, count: int) -> tuple[list, int]:
    """The rows with ``count`` of them (drawn by ``rng``; all when fewer) repeated right after
    themselves, as exact duplicates; and how many were repeated."""
    rows = list(rows)
    picks = sorted(rng.sample(range(len(rows)), min(count, len(rows))))
    for offset, index in enumerate(picks):
        rows.insert(index + offset + 1, rows[index + offset])
    return rows, len(picks)


# ------------------------------------------------------------------------------ the shapes


def crm_only(landing: Path, ctx: Context) -> ShapeRecord:
    """No ERP at all: every ERP extract file is gone (the company sets PILOTAGE_SOURCES=crm)."""
    removed = sum(len(_files(landing, e.object_name)) for e in ALL_EXTRACTS if e.system == "erp")
    shutil.rmtree(Path(landing) / "erp", ignore_errors=True)
    return ShapeRecord("crm_only", f"removed the {removed} ERP files", {"removed_files": removed})


def erp_only(landing: Path, ctx: Context) -> ShapeRecord:
    """No CRM at all: every CRM extract file is gone (the company sets PILOTAGE_SOURCES=erp).
    Revenue then belongs to ``erp:<salesperson email>`` members outside any team."""
    removed = sum(len(_files(landing, e.object_name)) for e in ALL_EXTRACTS if e.system == "crm")
    shutil.rmtree(Path(landing) / "crm", ignore_errors=True)
    return ShapeRecord("erp_only", f"removed the {removed} CRM files", {"removed_files": removed})


def no_stage_history(landing: Path, ctx: Context) -> ShapeRecord:
    """The CRM does not export stage history: no OpportunityHistory file."""
    folder = EXTRACTS["OpportunityHistory"].folder(landing)
    removed = len(_files(landing, "OpportunityHistory"))
    shutil.rmtree(folder, ignore_errors=True)
    return ShapeRecord(
        "no_stage_history", f"removed {removed} OpportunityHistory file(s)", {"removed": removed}
    )


def no_hire_dates(landing: Path, ctx: Context) -> ShapeRecord:
    """Users exported without timestamps: HireDate__c and CreatedDate empty on every User row,
    and each User row's LastModifiedDate the day of its file's drop (midnight UTC), as exports
    that stamp rows with the drop time do. One version per user and file is kept (its latest),
    so that ids stay unique per cursor."""
    kept = 0
    for path in _files(landing, "User"):
        latest: dict[str, Row] = {}
        for row in _read(path):
            if (
                row["Id"] not in latest
                or row["LastModifiedDate"] >= latest[row["Id"]]["LastModifiedDate"]
            ):
                latest[row["Id"]] = row
        stamp = _at(_drop_day(path, "User"), 0)
        rows = [
            {**row, "HireDate__c": "", "CreatedDate": "", "LastModifiedDate": stamp}
            for row in latest.values()
        ]
        kept += len(rows)
        write_extract_file(path, "User", rows)
    return ShapeRecord(
        "no_hire_dates",
        f"{kept} user rows without hire or created date, stamped with their drop day",
        {"user_rows": kept},
    )


def old_deals(landing: Path, ctx: Context) -> ShapeRecord:
    """A batch of opportunities (won, lost and open) created and closed months before the
    first activity of the extract (a CRM migrated with its history), with their stage history
    when the OpportunityHistory file exists."""
    rng = ctx.rng("old_deals")
    reps, accounts = _reps(landing), sorted(_latest(landing, "Account"))
    activity_days = [
        row["ActivityDate"] for obj in ("Task", "Event") for row in _rows(landing, obj)
    ]
    if not reps or not accounts or not activity_days:
        return ShapeRecord("old_deals", "nothing to add: no rep, account or activity")
    first_activity = dt.date.fromisoformat(min(activity_days))
    with_history = bool(_files(landing, "OpportunityHistory"))
    opportunities, history, outcomes = [], [], defaultdict(list)
    for n, outcome in enumerate(("won", "lost", "open") * 3, start=1):
        created_day = first_activity - dt.timedelta(days=rng.randrange(150, 400))
        created = _at(created_day, rng.randrange(8, 18))
        close_day = created_day + dt.timedelta(days=rng.randrange(20, 90))
        stage = {"won": "Closed Won", "lost": "Closed Lost", "open": "Qualification"}[outcome]
        closed = outcome != "open"
        opp_id = f"006OLD{n:012d}"
        modified = _at(close_day, 16) if closed else created
        opportunities.append(
            {
                "Id": opp_id,
                "Name": f"Legacy deal {n}",
                "AccountId": rng.choice(accounts),
                "OwnerId": rng.choice(reps)["Id"],
                "StageName": stage,
                "Amount": f"{rng.randrange(20, 150) * 100}.00",
                "Probability": {"won": "100", "lost": "0", "open": "20"}[outcome],
                "CloseDate": close_day.isoformat(),
                "IsClosed": str(closed).lower(),
                "IsWon": str(outcome == "won").lower(),
                "ForecastCategoryName": {"won": "Closed", "lost": "Omitted"}.get(
                    outcome, "Pipeline"
                ),
                "IsDeleted": "false",
                "CreatedDate": created,
                "LastModifiedDate": modified,
            }
        )
        outcomes[outcome].append(opp_id)
        steps = [("Prospecting", created)] + ([(stage, modified)] if closed else [])
        for step, (step_stage, when) in enumerate(steps):
            history.append(
                {
                    "Id": f"008OLD{n:010d}{step:02d}",
                    "OpportunityId": opp_id,
                    "StageName": step_stage,
                    "Amount": opportunities[-1]["Amount"],
                    "Probability": "10"
                    if step_stage == "Prospecting"
                    else opportunities[-1]["Probability"],
                    "CloseDate": close_day.isoformat(),
                    "CreatedDate": when,
                }
            )
    _append(landing, "Opportunity", opportunities, ctx.as_of)
    if with_history:
        _append(landing, "OpportunityHistory", history, ctx.as_of)
    return ShapeRecord(
        "old_deals",
        f"{len(opportunities)} opportunities created and closed before {first_activity} "
        f"(the first activity){', with stage history' if with_history else ''}",
        {"first_activity": first_activity, **outcomes},
    )


def empty_activity_types(landing: Path, ctx: Context) -> ShapeRecord:
    """Activities the CRM did not type: some Task rows with an empty TaskSubtype, some Event
    rows with an empty Type (they count as activities, in no type)."""
    rng = ctx.rng("empty_activity_types")
    tasks = _sample(rng, _latest(landing, "Task"), 0.04, 3)
    events = _sample(rng, _latest(landing, "Event"), 0.04, 2)
    _set(landing, "Task", {key: {"TaskSubtype": ""} for key in tasks})
    _set(landing, "Event", {key: {"Type": ""} for key in events})
    return ShapeRecord(
        "empty_activity_types",
        f"{len(tasks)} tasks without TaskSubtype, {len(events)} events without Type",
        {"tasks": tasks, "events": events},
    )


def duplicates(landing: Path, ctx: Context) -> ShapeRecord:
    """Deliveries that repeat themselves: exact duplicate rows inside the Task, Opportunity and
    invoice_lines files, and the Event and invoices files delivered again under another drop
    name."""
    rng = ctx.rng("duplicates")
    copied: dict[str, int] = {}
    for object_name in ("Task", "Opportunity", "invoice_lines"):
        files = _files(landing, object_name)
        if not files:
            continue
        rows, copied[object_name] = _repeat_some(_read(files[0]), rng, 3)
        write_extract_file(files[0], object_name, rows)
    again = []
    for object_name in ("Event", "invoices"):
        files = _files(landing, object_name)
        if files:
            target = files[0].with_name(f"{files[0].stem}_redelivered.csv")
            shutil.copyfile(files[0], target)
            again.append(target.name)
    return ShapeRecord(
        "duplicates",
        f"duplicated rows {copied}, files delivered again {again}",
        {"rows": copied, "files": again},
    )


def unattributed(landing: Path, ctx: Context) -> ShapeRecord:
    """Revenue and activity nobody in the sales force owns: invoices whose salesperson_email
    matches no CRM user (a departed rep, a reseller) or is empty; invoices whose email differs
    from the CRM's only by case and spaces (still the rep's); tasks and events with an empty
    OwnerId, tasks owned by a user id the User extract does not have; a sales manager owning
    some deals and activities."""
    rng = ctx.rng("unattributed")
    details: dict[str, object] = {}
    invoices = _latest(landing, "invoices")
    dated = sorted(
        key
        for key, row in invoices.items()
        if row["state"] == "posted" and row["invoice_date"] <= ctx.as_of.isoformat()
    )
    rng.shuffle(dated)
    values: dict[str, dict[str, str]] = {}
    for email, keys in zip(UNKNOWN_EMAILS, (dated[0:3], dated[3:5]), strict=True):
        values.update({key: {"salesperson_email": email} for key in keys})
    values.update({key: {"salesperson_email": ""} for key in dated[5:7]})
    for key in dated[7:9]:
        values[key] = {"salesperson_email": f"  {invoices[key]['salesperson_email'].upper()} "}
    _set(landing, "invoices", values)
    details["invoices"] = {key: v["salesperson_email"] for key, v in sorted(values.items())}

    managers = sorted(
        u["Id"] for u in _latest(landing, "User").values() if u["Title"] == "Sales Manager"
    )
    tasks, events = sorted(_latest(landing, "Task")), sorted(_latest(landing, "Event"))
    rng.shuffle(tasks)
    rng.shuffle(events)
    owners: dict[str, dict[str, dict[str, str]]] = {"Task": {}, "Event": {}, "Opportunity": {}}
    owners["Task"].update({key: {"OwnerId": ""} for key in tasks[0:6]})
    owners["Task"].update({key: {"OwnerId": UNKNOWN_OWNER} for key in tasks[6:9]})
    owners["Event"].update({key: {"OwnerId": ""} for key in events[0:2]})
    if managers:
        manager = managers[0]
        opportunities = sorted(_latest(landing, "Opportunity"))
        rng.shuffle(opportunities)
        owners["Task"].update({key: {"OwnerId": manager} for key in tasks[9:14]})
        owners["Event"].update({key: {"OwnerId": manager} for key in events[2:4]})
        owners["Opportunity"].update({key: {"OwnerId": manager} for key in opportunities[:3]})
        details["manager"] = manager
    for object_name, by_key in owners.items():
        _set(landing, object_name, by_key)
        details[object_name] = {key: v["OwnerId"] for key, v in sorted(by_key.items())}
    return ShapeRecord(
        "unattributed",
        f"{len(values)} invoices re-attributed (unknown, empty or re-cased emails); "
        + ", ".join(f"{len(v)} {k} owners changed" for k, v in owners.items()),
        details,
    )


def no_team(landing: Path, ctx: Context) -> ShapeRecord:
    """Reps outside any team: one rep's UserRoleId points at a region role, another's is
    empty, on every version of the user."""
    rng = ctx.rng("no_team")
    reps = [u["Id"] for u in _reps(landing)]
    regions = sorted(
        r["Id"] for r in _latest(landing, "UserRole").values() if r["RollupDescription"] == "Region"
    )
    if len(reps) < 2 or not regions:
        return ShapeRecord("no_team", "nothing to change: fewer than two reps or no region")
    in_region, without = rng.sample(reps, 2)
    region = rng.choice(regions)
    _set(landing, "User", {in_region: {"UserRoleId": region}, without: {"UserRoleId": ""}})
    return ShapeRecord(
        "no_team",
        f"rep {in_region} in region role {region}, rep {without} without role",
        {"in_region": in_region, "region": region, "without_role": without},
    )


def future_events(landing: Path, ctx: Context) -> ShapeRecord:
    """Planned work: meetings (Meeting_Status__c Planned) and posted invoices dated after the
    as-of day, up to a year ahead, booked on the as-of day."""
    rng = ctx.rng("future_events")
    reps = _reps(landing)
    accounts = sorted(_latest(landing, "Account"))
    booked = _at(ctx.as_of, 9)
    meetings = []
    if reps and accounts:
        for n in range(1, 7):
            day = ctx.as_of + dt.timedelta(days=rng.randrange(1, 366))
            start = dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC)
            meetings.append(
                {
                    "Id": f"00UFUT{n:012d}",
                    "OwnerId": rng.choice(reps)["Id"],
                    "WhatId": rng.choice(accounts),
                    "Subject": "Quarterly business review",
                    "Type": "Meeting",
                    "StartDateTime": utc_stamp(start),
                    "EndDateTime": utc_stamp(start + dt.timedelta(hours=1)),
                    "ActivityDate": day.isoformat(),
                    "DurationInMinutes": "60",
                    "Meeting_Status__c": "Planned",
                    "IsDeleted": "false",
                    "CreatedDate": booked,
                    "LastModifiedDate": booked,
                }
            )
        _append(landing, "Event", meetings, ctx.as_of)
    invoices, lines = _future_invoices(landing, ctx, rng)
    _append(landing, "invoices", invoices, ctx.as_of)
    _append(landing, "invoice_lines", lines, ctx.as_of)
    return ShapeRecord(
        "future_events",
        f"{len(meetings)} planned meetings and {len(invoices)} invoices after {ctx.as_of}",
        {
            "meetings": [m["ActivityDate"] for m in meetings],
            "invoices": [i["invoice_date"] for i in invoices],
        },
    )


def _future_invoices(landing: Path, ctx: Context, rng: random.Random) -> tuple[list, list]:
    posted = [i for i in _latest(landing, "invoices").values() if i["state"] == "posted"]
    products = sorted(_latest(landing, "products").values(), key=lambda p: p["product_id"])
    if not posted or not products:
        return [], []
    invoices, lines = [], []
    for n in range(1, 4):
        template = rng.choice(sorted(posted, key=lambda i: i["invoice_id"]))
        day = ctx.as_of + dt.timedelta(days=rng.randrange(1, 366))
        invoice_id = f"FUT{n}"
        invoices.append(
            {
                **template,
                "invoice_id": invoice_id,
                "invoice_number": f"INV/{day.year}/FUT{n}",
                "move_type": "out_invoice",
                "reversed_invoice_id": "",
                "invoice_date": day.isoformat(),
                "state": "posted",
                "updated_at": _at(ctx.as_of, 10),
            }
        )
        for m, product in enumerate(rng.sample(products, 2), start=1):
            quantity = Decimal(rng.randrange(1, 4))
            price = Decimal(product["list_price"])
            lines.append(
                {
                    "invoice_line_id": f"FUT{n}-{m}",
                    "invoice_id": invoice_id,
                    "product_id": product["product_id"],
                    "quantity": f"{quantity:.3f}",
                    "unit_price": product["list_price"],
                    "discount_pct": "0",
                    "net_amount": str(net_amount(quantity, price, Decimal(0))),
                    "unit_cost": product["unit_cost"],
                    "updated_at": _at(ctx.as_of, 10),
                }
            )
    return invoices, lines


def credit_heavy_month(landing: Path, ctx: Context) -> ShapeRecord:
    """A month where credit notes outweigh sales: for one rep and one closed month, posted
    credit notes reversing the rep's earlier invoices (every line, costs included) exceed the
    rep's net revenue of the month, which turns negative."""
    rng = ctx.rng("credit_heavy_month")
    invoices = _latest(landing, "invoices")
    lines_by_invoice: dict[str, list[Row]] = defaultdict(list)
    for line in _latest(landing, "invoice_lines").values():
        lines_by_invoice[line["invoice_id"]].append(line)
    posted = [i for i in invoices.values() if i["state"] == "posted"]
    month_revenue: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for invoice in posted:
        sign = -1 if invoice["move_type"] == "out_refund" else 1
        amount = sum(
            Decimal(line["net_amount"]) for line in lines_by_invoice[invoice["invoice_id"]]
        )
        month_revenue[(invoice["salesperson_email"], invoice["invoice_date"][:7])] += sign * amount
    this_month = ctx.as_of.strftime("%Y-%m")
    candidates = []
    for (email, month), revenue in sorted(month_revenue.items()):
        earlier = sorted(
            (
                i
                for i in posted
                if i["salesperson_email"] == email
                and i["move_type"] == "out_invoice"
                and i["invoice_date"][:7] < month
            ),
            key=lambda i: i["invoice_id"],
        )
        reversal = _reversal(earlier, lines_by_invoice, revenue)
        if email and month < this_month and revenue > 0 and reversal:
            candidates.append((email, month, revenue, reversal))
    if not candidates:
        return ShapeRecord("credit_heavy_month", "no rep-month with enough earlier invoices")
    email, month, revenue, reversal = rng.choice(candidates)
    day = dt.date.fromisoformat(f"{month}-20")
    credit_notes, credit_lines = [], []
    for n, original in enumerate(reversal, start=1):
        credit_id = f"CN{n}"
        stamp = _at(day, 15, n)
        credit_notes.append(
            {
                **original,
                "invoice_id": credit_id,
                "invoice_number": f"RINV/{day.year}/CN{n}",
                "move_type": "out_refund",
                "reversed_invoice_id": original["invoice_id"],
                "invoice_date": day.isoformat(),
                "updated_at": stamp,
            }
        )
        for m, line in enumerate(lines_by_invoice[original["invoice_id"]], start=1):
            credit_lines.append(
                {
                    **line,
                    "invoice_line_id": f"CN{n}-{m}",
                    "invoice_id": credit_id,
                    "updated_at": stamp,
                }
            )
    _append(landing, "invoices", credit_notes, ctx.as_of)
    _append(landing, "invoice_lines", credit_lines, ctx.as_of)
    credited = sum(Decimal(line["net_amount"]) for line in credit_lines)
    return ShapeRecord(
        "credit_heavy_month",
        f"{len(credit_notes)} credit notes of {credited} on {day} for {email}, whose revenue "
        f"of {month} was {revenue}",
        {"email": email, "month": month, "revenue": revenue, "credited": credited, "day": day},
    )


def _reversal(
    earlier: list[Row], lines_by_invoice: dict[str, list[Row]], revenue: Decimal
) -> list[Row]:
    """The fewest earlier invoices (largest first) whose lines add up to more than ``revenue``."""

    def total(invoice: Row) -> Decimal:
        return sum(Decimal(line["net_amount"]) for line in lines_by_invoice[invoice["invoice_id"]])

    chosen, credited = [], Decimal(0)
    for invoice in sorted(earlier, key=lambda i: (-total(i), i["invoice_id"])):
        chosen.append(invoice)
        credited += total(invoice)
        if credited > revenue:
            return chosen
    return []


def drops(landing: Path, ctx: Context) -> ShapeRecord:
    """The full extract followed by three daily drops after the as-of day
    (``ingestion.demo.drops.generate_drops``: new and changed records, deletions, a team change,
    a revised target; delivered out of order, late, twice and under another name)."""
    sequence = generate_drops(seed=ctx.seed, scale=ctx.scale, as_of=ctx.as_of, days=3)
    base = ctx.as_of.strftime("%Y%m%d")
    written = []
    for delivery in sequence.deliveries:
        if delivery.name != base:  # the full extract is the landing folder already
            delivery.write(landing)
            written.append(f"{delivery.name} ({delivery.kind})")
    return ShapeRecord(
        "drops", f"{len(written)} deliveries after {ctx.as_of}: {', '.join(written)}"
    )


# ------------------------------------------------------------------------------ a foreign export

FOREIGN_ZONE = "Europe/Paris"
FOREIGN_ENCODING = "cp1252"
FOREIGN_NULL = "N/A"
NBSP = "\u00a0"
FOREIGN_DATE = "%d/%m/%Y"
FOREIGN_TIMESTAMP = "%d/%m/%Y %H:%M:%S"
FOREIGN_DROP_TAG = "_mapped"  # delivery <suffix> comes back as the drop <suffix>_mapped
FOREIGN_REPEATS = {"Account": 2, "Opportunity": 2, "Task": 2, "Event": 2}  # exact duplicate rows
TOTAL_LABEL = "total line"  # skipped:<file>:total line in the conversion's counts
# How the export is written: the `format` section of its mapping.
FOREIGN_FORMAT = {
    "encoding": FOREIGN_ENCODING,
    "delimiter": ";",
    "decimal": ",",
    "thousands": ["nbsp"],
    "date_format": FOREIGN_DATE,
    "timestamp_format": FOREIGN_TIMESTAMP,
    "timezone": FOREIGN_ZONE,
    "null_values": [FOREIGN_NULL],
}
# Per object: the export file (its key in the mapping, and <key>.csv) and its column names.
FOREIGN_FILES: dict[str, tuple[str, dict[str, str]]] = {
    "UserRole": (
        "roles",
        {
            "Id": "Identifiant",
            "Name": "Nom du rôle",
            "ParentRoleId": "Rôle parent (ID)",
            "RollupDescription": "Niveau",
            "LastModifiedDate": "Modifié le",
        },
    ),
    "User": (
        "utilisateurs",
        {
            "Id": "Identifiant",
            "FirstName": "Prénom",
            "LastName": "Nom",
            "Email": "E-mail",
            "Title": "Fonction",
            "UserRoleId": "Rôle (ID)",
            "ManagerId": "Manager (ID)",
            "IsActive": "Actif",
            "HireDate__c": "Date d'embauche",
            "CreatedDate": "Créé le",
            "LastModifiedDate": "Modifié le",
        },
    ),
    "Account": (
        "comptes",
        {
            "Id": "Identifiant",
            "Name": "Raison sociale",
            "AccountNumber": "N° client",
            "Industry": "Secteur",
            "BillingCity": "Ville",
            "BillingCountry": "Pays",
            "OwnerId": "Propriétaire (ID)",
            "IsDeleted": "Supprimé",
            "CreatedDate": "Créé le",
            "LastModifiedDate": "Modifié le",
        },
    ),
    "Opportunity": (
        "opportunites",
        {
            "Id": "N° opportunité",
            "Name": "Intitulé",
            "AccountId": "Compte (ID)",
            "OwnerId": "Propriétaire (ID)",
            "StageName": "Étape",
            "Amount": "Montant (€)",
            "Probability": "Probabilité (%)",
            "CloseDate": "Date de clôture",
            "IsClosed": "Clôturée",
            "IsWon": "Gagnée",
            "ForecastCategoryName": "Catégorie de prévision",
            "IsDeleted": "Supprimée",
            "CreatedDate": "Créée le",
            "LastModifiedDate": "Modifiée le",
        },
    ),
    "OpportunityHistory": (
        "historique_etapes",
        {
            "Id": "Identifiant",
            "OpportunityId": "N° opportunité",
            "StageName": "Étape",
            "Amount": "Montant (€)",
            "Probability": "Probabilité (%)",
            "CloseDate": "Date de clôture",
            "CreatedDate": "Entrée dans l'étape le",
        },
    ),
    "Task": (
        "taches",
        {
            "Id": "Identifiant",
            "OwnerId": "Attribuée à (ID)",
            "WhatId": "Associée à (ID)",
            "Subject": "Objet",
            "TaskSubtype": "Type",
            "Status": "Statut",
            "ActivityDate": "Date",
            "CallDurationInSeconds": "Durée de l'appel (s)",
            "IsDeleted": "Supprimée",
            "CreatedDate": "Créée le",
            "LastModifiedDate": "Modifiée le",
        },
    ),
    "Event": (
        "evenements",
        {
            "Id": "Identifiant",
            "OwnerId": "Organisateur (ID)",
            "WhatId": "Associé à (ID)",
            "Subject": "Objet",
            "Type": "Type",
            "StartDateTime": "Début",
            "EndDateTime": "Fin",
            "ActivityDate": "Date",
            "DurationInMinutes": "Durée (min)",
            "Meeting_Status__c": "Statut du rendez-vous",
            "IsDeleted": "Supprimé",
            "CreatedDate": "Créé le",
            "LastModifiedDate": "Modifié le",
        },
    ),
}
FOREIGN_OBJECTS = tuple(FOREIGN_FILES)
FOREIGN_STAGES = {
    "Prospecting": "Prospection",
    "Qualification": "Qualification",
    "Proposal": "Proposition",
    "Negotiation": "Négociation",
    "Closed Won": "Gagnée",
    "Closed Lost": "Perdue",
}
# The export's labels of canonical values (the mapping maps them back); booleans are Oui/Non.
FOREIGN_LABELS: dict[tuple[str, str], dict[str, str]] = {
    ("UserRole", "RollupDescription"): {"Region": "Région", "Team": "Équipe"},
    ("User", "Title"): {
        "Account Executive": "Commercial",
        "Sales Manager": "Responsable des ventes",
        "Sales Director": "Directeur commercial",
    },
    ("Opportunity", "StageName"): FOREIGN_STAGES,
    ("Opportunity", "ForecastCategoryName"): {
        "Pipeline": "Pipeline",
        "Best Case": "Meilleur cas",
        "Commit": "Engagé",
        "Closed": "Conclu",
        "Omitted": "Exclu",
    },
    ("OpportunityHistory", "StageName"): FOREIGN_STAGES,
    ("Task", "TaskSubtype"): {"Call": "Appel", "Email": "E-mail"},
    ("Task", "Status"): {"Completed": "Terminée", "Open": "Ouverte"},
    ("Event", "Type"): {"Meeting": "Rendez-vous"},
    ("Event", "Meeting_Status__c"): {
        "Held": "Tenu",
        "No-show": "Non honoré",
        "Planned": "Planifié",
    },
}
BOOLEAN_LABELS = {"true": "Oui", "false": "Non"}


def foreign_export_dir(landing: Path) -> Path:
    """Where ``foreign_export`` writes the export and its mapping: beside the landing folder."""
    landing = Path(landing)
    return landing.with_name(f"{landing.name}_export")


def _labels(object_name: str, column: str) -> dict[str, str] | None:
    """The export's label of each canonical value of a column, if it has labels."""
    if pa.types.is_boolean(EXTRACTS[object_name].columns[column]):
        return BOOLEAN_LABELS
    return FOREIGN_LABELS.get((object_name, column))


def _paris_time(value: str) -> str:
    """An instant as the export writes it: zone-less Paris wall-clock time, whole seconds. The
    second pass of the hour the autumn DST change repeats reads back as the first: an error."""
    instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = (instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)).astimezone(
        ZoneInfo(FOREIGN_ZONE)
    )
    if local.microsecond or local.fold:
        why = "has a fraction of a second" if local.microsecond else "is in the repeated hour"
        raise ValueError(f"{value} {why} of {FOREIGN_ZONE} time: written zone-less, it changes")
    return local.strftime(FOREIGN_TIMESTAMP)


def _amount(value: str | Decimal) -> str:
    """An amount with a decimal comma and no-break-space thousands: -1234567.50 -> -1 234 567,50."""
    return f"{Decimal(value):,f}".replace(",", NBSP).replace(".", ",")


def _foreign_value(object_name: str, column: str, value: str) -> str:
    """How the export writes a canonical value; a ValueError when the mapping could not read it
    back unchanged (surrounding spaces are trimmed, the null token reads empty)."""
    if value == "":
        return FOREIGN_NULL
    where = f"{object_name}.{column} {value!r}"
    if value != value.strip() or value == FOREIGN_NULL:
        raise ValueError(f"{where}: the export would read back trimmed or empty")
    labels = _labels(object_name, column)
    data_type = EXTRACTS[object_name].columns[column]
    if labels is not None:
        label = labels.get(value.lower() if labels is BOOLEAN_LABELS else value)
        if label is None:
            raise ValueError(f"{where}: the export has no label for it ({', '.join(labels)})")
        return label
    if pa.types.is_timestamp(data_type):
        try:
            return _paris_time(value)
        except ValueError as exc:
            raise ValueError(f"{object_name}.{column}: {exc}") from None
    if pa.types.is_date(data_type):
        return dt.date.fromisoformat(value).strftime(FOREIGN_DATE)
    if pa.types.is_decimal(data_type):
        return _amount(value)
    if pa.types.is_floating(data_type) or pa.types.is_integer(data_type):
        return f"{Decimal(value):f}".replace(".", ",")
    return value


def _total_line(rows: list[Row]) -> list[str]:
    """The line a spreadsheet's opportunities end with: Total, the sum of the amounts shown."""
    columns = list(EXTRACTS["Opportunity"].columns)
    line = [""] * len(columns)
    line[columns.index("Id")] = "Total"
    amounts = (Decimal(row["Amount"]) for row in rows if row["Amount"])
    line[columns.index("Amount")] = _amount(sum(amounts, Decimal("0.00")))
    return line


def _write_export(path: Path, header: list[str], lines: list[list[str]]) -> None:
    """A CSV file as Excel saves it on a French Windows: Windows-1252, ``;``, CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(lines)
    try:
        data = buffer.getvalue().encode(FOREIGN_ENCODING)
    except UnicodeEncodeError as exc:
        shown = exc.object[exc.start : exc.end]
        message = f"{path.name}: {shown!r} cannot be written in {FOREIGN_ENCODING}"
        raise ValueError(message) from None
    path.write_bytes(data)


def _column_spec(object_name: str, column: str) -> str | dict[str, object]:
    """The mapping of one canonical column: its export column, and its labels mapped back."""
    header = FOREIGN_FILES[object_name][1][column]
    labels = _labels(object_name, column)
    if labels is None:
        return header
    return {"from": header, "map": {label: value for value, label in labels.items()}}


def foreign_mapping(objects: Iterable[str]) -> dict[str, object]:
    """The mapping file (``docs/crm_mappings.md``) that reads the export of these objects."""
    files: dict[str, object] = {}
    specs: dict[str, object] = {}
    for object_name in objects:
        key, headers = FOREIGN_FILES[object_name]
        files[key] = {"glob": f"{key}.csv"}
        if object_name == "Opportunity":  # the total line is not an opportunity
            rule = {"column": headers["Id"], "matches": "^Total$", "label": TOTAL_LABEL}
            files[key]["format"] = {"skip_rows_where": rule}
        columns = {c: _column_spec(object_name, c) for c in EXTRACTS[object_name].columns}
        specs[object_name] = {"from": key, "columns": columns}
    return {
        "name": "foreign_export",
        "description": "A French Excel export of the demo's CRM (ingestion.demo.shapes).",
        "format": FOREIGN_FORMAT,
        "on_bad_value": "quarantine",
        "files": files,
        "objects": specs,
    }


def _deliveries(landing: Path) -> dict[str, dict[str, Path]]:
    """The canonical files of the foreign objects by delivery: name suffix -> object -> file.
    Renamed ``<suffix>_mapped``, the deliveries must load in the same order (an error if not)."""
    deliveries: dict[str, dict[str, Path]] = defaultdict(dict)
    for object_name in FOREIGN_OBJECTS:
        for path in _files(landing, object_name):
            if path.suffix.lower() != ".csv":
                raise ValueError(f"{path}: foreign_export renders CSV extracts only")
            deliveries[path.stem[len(object_name) + 1 :]][object_name] = path
    suffixes = sorted(deliveries)
    if sorted(suffixes, key=lambda s: s + FOREIGN_DROP_TAG) != suffixes:
        raise ValueError(f"deliveries {suffixes}: renamed, they would load in another order")
    return {suffix: deliveries[suffix] for suffix in suffixes}


def _render_delivery(
    folder: Path, files: dict[str, Path], objects: tuple[str, ...], rng: random.Random
) -> dict[str, dict[str, int]]:
    """One delivery as export files (header-only for an object it does not hold), with a few
    exact duplicate rows and a total line ending the opportunities; returns the data rows
    written and repeated per object."""
    folder.mkdir(parents=True)
    written, repeated = {}, {}
    for object_name in objects:
        key, headers = FOREIGN_FILES[object_name]
        rows = _read(files[object_name]) if object_name in files else []
        rows, repeated[object_name] = _repeat_some(rows, rng, FOREIGN_REPEATS.get(object_name, 0))
        columns = EXTRACTS[object_name].columns
        lines = [[_foreign_value(object_name, c, row[c] or "") for c in columns] for row in rows]
        if object_name == "Opportunity":
            lines.append(_total_line(rows))
        _write_export(folder / f"{key}.csv", [headers[c] for c in columns], lines)
        written[object_name] = len(rows)
    return {"rows": written, "repeated": repeated}


def foreign_export(landing: Path, ctx: Context) -> ShapeRecord:
    """A CRM of another vendor, read through a mapping: the files of UserRole, User, Account,
    Opportunity, OpportunityHistory, Task and Event become, one delivery (file name suffix) at a
    time, a French Excel export in ``<landing>_export/<suffix>/`` (Windows-1252, ``;``, decimal
    comma and no-break-space thousands for amounts, dd/mm/yyyy dates, dd/mm/yyyy HH:MM:SS
    Europe/Paris times, N/A for empty values, French column names, stages, types and statuses,
    Oui/Non booleans, two exact duplicate rows in the accounts, opportunities, tasks and events,
    a total line ending the opportunities), with the mapping that reads it, written from the
    same tables (``<landing>_export/mapping.yaml``). ``ingestion.mapping.convert`` brings each
    delivery back as the drop ``<suffix>_mapped`` (header-only files for the CRM objects it does
    not fill) and the canonical files go: the same records, typed value for typed value. The
    other objects and the ERP stay canonical. A value the export cannot write so that it reads
    back unchanged (a time of the hour the autumn DST change repeats, a character outside
    Windows-1252) or a row the conversion quarantines is an error."""
    rng = ctx.rng("foreign_export")
    deliveries = _deliveries(landing)
    objects = tuple(o for o in FOREIGN_OBJECTS if any(o in files for files in deliveries.values()))
    if not objects:
        return ShapeRecord("foreign_export", "nothing to render: no file of the CRM objects")
    export = foreign_export_dir(landing)
    shutil.rmtree(export, ignore_errors=True)
    export.mkdir(parents=True)
    mapping_path = export / "mapping.yaml"
    mapping_path.write_text(
        yaml.safe_dump(foreign_mapping(objects), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    details: dict[str, object] = {"export": export, "mapping": mapping_path, "deliveries": {}}
    for suffix, files in deliveries.items():
        rendered = _render_delivery(export / suffix, files, objects, rng)
        drop = f"{suffix}{FOREIGN_DROP_TAG}"
        conversion = convert(mapping_path, export / suffix, landing, drop)
        if conversion.bad_rows:
            first = conversion.bad_rows[0].message
            raise ValueError(f"{len(conversion.bad_rows)} bad value(s) in the export: {first}")
        details["deliveries"][suffix] = {"drop": drop, **rendered, "counts": conversion.counts}
    for files in deliveries.values():
        for path in files.values():
            path.unlink()
    return ShapeRecord("foreign_export", _foreign_summary(details["deliveries"]), details)


def _foreign_summary(deliveries: dict[str, dict]) -> str:
    """Rows rendered, and the conversions' counts summed over the deliveries."""

    def total(prefix: str) -> int:
        return sum(
            n for d in deliveries.values() for k, n in d["counts"].items() if k.startswith(prefix)
        )

    rows = sum(n for d in deliveries.values() for n in d["rows"].values())
    written = sum(d["counts"].get(o, 0) for d in deliveries.values() for o in FOREIGN_OBJECTS)
    return (
        f"{rows} rows in French Excel deliveries {', '.join(deliveries)}, converted back "
        f"through their mapping: {written} rows written, {total('collapsed:')} duplicates "
        f"collapsed, {total('skipped:')} total lines skipped, {total('quarantined:')} quarantined"
    )


SHAPE_ORDER = (
    "drops",
    "old_deals",
    "future_events",
    "unattributed",
    "credit_heavy_month",
    "no_team",
    "empty_activity_types",
    "no_hire_dates",
    "no_stage_history",
    "duplicates",
    "foreign_export",
    "crm_only",
    "erp_only",
)
SHAPES: dict[str, Shape] = {
    "drops": Shape("drops", drops),
    "old_deals": Shape("old_deals", old_deals),
    "future_events": Shape("future_events", future_events),
    "unattributed": Shape("unattributed", unattributed),
    "credit_heavy_month": Shape("credit_heavy_month", credit_heavy_month),
    "no_team": Shape("no_team", no_team),
    "empty_activity_types": Shape("empty_activity_types", empty_activity_types),
    "no_hire_dates": Shape("no_hire_dates", no_hire_dates),
    "no_stage_history": Shape("no_stage_history", no_stage_history),
    "duplicates": Shape("duplicates", duplicates),
    "foreign_export": Shape("foreign_export", foreign_export),
    "crm_only": Shape("crm_only", crm_only, sources="crm"),
    "erp_only": Shape("erp_only", erp_only, sources="erp"),
}


def _check(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        raise ValueError(f"unknown shape(s) {', '.join(unknown)}: expected {', '.join(SHAPES)}")
    if {"crm_only", "erp_only"} <= set(names):
        raise ValueError("crm_only and erp_only together leave no data at all")
    return sorted(names, key=SHAPE_ORDER.index)


def sources_for(names: Iterable[str]) -> str | None:
    """The PILOTAGE_SOURCES of a company of these shapes (None: both systems)."""
    found = [SHAPES[name].sources for name in _check(names) if SHAPES[name].sources]
    return found[0] if found else None


def apply_shapes(
    landing: Path, names: Iterable[str], *, seed: int, scale: float, as_of: dt.date
) -> list[ShapeRecord]:
    """Apply the shapes (in ``SHAPE_ORDER``) to a landing folder written by
    ``generate(landing, seed=seed, scale=scale, as_of=as_of)``; returns what each did."""
    ctx = Context(seed, scale, as_of)
    return [SHAPES[name].apply(Path(landing), ctx) for name in _check(names)]
