"""The shapes of the CRM and ERP extract files: one declaration per extracted object.

This module is the single source of truth for what lands in the landing folder. The demo generator
writes these files, the dlt sources read them (with these column types and primary keys), and the
tests compute expected KPIs from them. dbt's raw sources are these tables after dlt's snake_case
naming (``OwnerId`` -> ``owner_id``).

Landing layout: ``<landing>/<system>/<Object>/<Object>_<drop>.csv``, one folder per object, one file
per drop. CSV files are UTF-8 with a header row, comma-delimited, ISO dates; CRM objects use
Salesforce API names, ERP documents use the ERP export's snake_case names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

MONEY = pa.decimal128(18, 2)
QTY = pa.decimal128(18, 3)
TS = pa.timestamp("us", tz="UTC")
FILE_SUFFIXES = (".csv", ".jsonl", ".parquet")
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Proposal",
    "Negotiation",
    "Closed Won",
    "Closed Lost",
)

TARGET_METRICS = ("revenue", "gross_margin", "calls", "meetings", "new_opportunities")


_ID_NAME = re.compile(r"(?:[a-z0-9]Id|_id)$")


def is_id_name(name: str) -> bool:
    """Whether a column name says it holds an id: ``Id``, ``OwnerId``, ``customer_id``."""
    return name in ("Id", "id") or bool(_ID_NAME.search(name))


@dataclass(frozen=True)
class Extract:
    """One extracted object: where its files land and how its rows are typed."""

    system: str  # "crm" or "erp": the dlt source, and raw_<system> in the warehouse
    object_name: str  # name in the source system and of its landing folder
    table: str  # dlt resource and raw table name
    primary_key: str
    cursor: str  # last-modified column: newer versions of a row win
    columns: dict[str, pa.DataType]
    # Text columns with a closed set of values: any other value is a bad row (quarantined, or an
    # error under ``on_bad_row: fail``; ingestion/README.md, "Bad input").
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Text columns that reference another object or system although their name does not say so
    # (not ``...Id`` / ``..._id``): lookups such as ``Opportunity__c``, join keys such as
    # ``AccountNumber``. Key columns, like the primary key, cursor and ``...Id`` columns.
    references: tuple[str, ...] = ()
    # Columns every row must fill besides the primary key and cursor: without them the row cannot
    # be counted where it belongs (an activity without its date, an invoice without its date or
    # type). An empty one is a bad row (quarantined, or an error under ``on_bad_row: fail``).
    required: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [
            n
            for n in (self.primary_key, self.cursor, *self.references, *self.required)
            if n not in self.columns
        ]
        if unknown:
            raise ValueError(f"{self.object_name}: undeclared column(s) {', '.join(unknown)}")

    # Schema contract (ingestion/README.md, "Schema contracts"): key and money columns are frozen
    # in raw, descriptive columns may evolve. Derived from the declaration, not hand lists.

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns that must not be empty on any row: primary key, cursor and ``required``."""
        return tuple(dict.fromkeys((self.primary_key, self.cursor, *self.required)))

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Primary key, cursor, foreign ids (``...Id``, ``..._id``) and declared references."""
        return tuple(
            name
            for name in self.columns
            if name in (self.primary_key, self.cursor)
            or name in self.references
            or is_id_name(name)
        )

    @property
    def money_columns(self) -> tuple[str, ...]:
        """Money and quantity columns: every decimal column (``MONEY``, ``QTY``)."""
        return tuple(
            name
            for name, data_type in self.columns.items()
            if pa.types.is_decimal(data_type) and name not in self.key_columns
        )

    @property
    def frozen_columns(self) -> tuple[str, ...]:
        """Key and money columns, in declaration order: their raw type never changes."""
        frozen = set(self.key_columns) | set(self.money_columns)
        return tuple(name for name in self.columns if name in frozen)

    @property
    def descriptive_columns(self) -> tuple[str, ...]:
        """Every other declared column (names, statuses, dates, flags, ratios, counts)."""
        frozen = set(self.frozen_columns)
        return tuple(name for name in self.columns if name not in frozen)

    def column_class(self, name: str) -> str:
        """``key``, ``money`` or ``descriptive`` (an undeclared extra column is descriptive)."""
        if name in self.key_columns:
            return "key"
        if name in self.money_columns:
            return "money"
        return "descriptive"

    def folder(self, landing_dir: Path) -> Path:
        return Path(landing_dir) / self.system / self.object_name

    def files(self, landing_dir: Path) -> list[Path]:
        """Extract files of this object (CSV, JSON Lines, Parquet), oldest drop first."""
        files = (
            p
            for p in self.folder(landing_dir).glob(f"{self.object_name}_*")
            if p.suffix.lower() in FILE_SUFFIXES and p.is_file()
        )
        return sorted(files, key=lambda p: (p.stem, p.name))


CRM_EXTRACTS: tuple[Extract, ...] = (
    Extract(
        "crm",
        "UserRole",
        "user_roles",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "Name": pa.string(),
            "ParentRoleId": pa.string(),  # teams point at their region; regions have none
            "RollupDescription": pa.string(),  # "Region" or "Team"
            "LastModifiedDate": TS,
        },
    ),
    Extract(
        "crm",
        "User",
        "users",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "FirstName": pa.string(),
            "LastName": pa.string(),
            "Email": pa.string(),
            "Title": pa.string(),  # "Account Executive", "Sales Manager", "Sales Director"
            "UserRoleId": pa.string(),
            "ManagerId": pa.string(),
            "IsActive": pa.bool_(),
            "HireDate__c": pa.date32(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
    ),
    Extract(
        "crm",
        "Account",
        "accounts",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "Name": pa.string(),
            "AccountNumber": pa.string(),  # the ERP customer number
            "Industry": pa.string(),
            "BillingCity": pa.string(),
            "BillingCountry": pa.string(),
            "OwnerId": pa.string(),
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        references=("AccountNumber",),
    ),
    Extract(
        "crm",
        "Opportunity",
        "opportunities",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "Name": pa.string(),
            "AccountId": pa.string(),
            "OwnerId": pa.string(),
            "StageName": pa.string(),
            "Amount": MONEY,
            "Probability": pa.float64(),
            "CloseDate": pa.date32(),
            "IsClosed": pa.bool_(),
            "IsWon": pa.bool_(),
            "ForecastCategoryName": pa.string(),
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        enums={"StageName": OPPORTUNITY_STAGES},
        required=("StageName", "CreatedDate"),
    ),
    Extract(
        "crm",
        "OpportunityHistory",
        "opportunity_history",
        "Id",
        "CreatedDate",
        {
            "Id": pa.string(),
            "OpportunityId": pa.string(),
            "StageName": pa.string(),
            "Amount": MONEY,
            "Probability": pa.float64(),
            "CloseDate": pa.date32(),
            "CreatedDate": TS,  # when the opportunity entered this stage
        },
        required=("OpportunityId", "StageName"),
    ),
    Extract(
        "crm",
        "Task",
        "tasks",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "OwnerId": pa.string(),
            "WhatId": pa.string(),  # account or opportunity
            "Subject": pa.string(),
            "TaskSubtype": pa.string(),  # "Call" or "Email"
            "Status": pa.string(),  # "Completed", "Open"
            "ActivityDate": pa.date32(),
            "CallDurationInSeconds": pa.int64(),
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        enums={"TaskSubtype": ("Call", "Email")},
        required=("ActivityDate",),
    ),
    Extract(
        "crm",
        "Event",
        "events",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "OwnerId": pa.string(),
            "WhatId": pa.string(),
            "Subject": pa.string(),
            "Type": pa.string(),  # "Meeting"
            "StartDateTime": TS,
            "EndDateTime": TS,
            "ActivityDate": pa.date32(),
            "DurationInMinutes": pa.int64(),
            "Meeting_Status__c": pa.string(),  # "Held", "No-show", "Planned"
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        enums={"Meeting_Status__c": ("Held", "No-show", "Planned")},
        required=("ActivityDate",),
    ),
    Extract(
        "crm",
        "Proposal__c",
        "proposals",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "Name": pa.string(),
            "Opportunity__c": pa.string(),
            "OwnerId": pa.string(),
            "Status__c": pa.string(),  # "Sent", "Accepted", "Rejected"
            "Sent_Date__c": pa.date32(),
            "Amount__c": MONEY,
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        references=("Opportunity__c",),
    ),
    Extract(
        "crm",
        "Quote",
        "quotes",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "Name": pa.string(),
            "OpportunityId": pa.string(),
            "OwnerId": pa.string(),
            "Status": pa.string(),  # "Presented", "Accepted", "Denied"
            "TotalPrice": MONEY,
            "ExpirationDate": pa.date32(),
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        required=("CreatedDate",),
    ),
    Extract(
        "crm",
        "Contract",
        "contracts",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "ContractNumber": pa.string(),
            "AccountId": pa.string(),
            "Opportunity__c": pa.string(),
            "OwnerId": pa.string(),
            "Status": pa.string(),  # "Draft", "Activated"
            "StartDate": pa.date32(),
            "ContractTerm": pa.int64(),  # months
            "CustomerSignedDate": pa.date32(),  # empty until signed
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        references=("Opportunity__c",),
    ),
    Extract(
        "crm",
        "Sales_Target__c",
        "sales_targets",
        "Id",
        "LastModifiedDate",
        {
            "Id": pa.string(),
            "OwnerId": pa.string(),  # the rep; for a team target, the team's manager
            "Target_Level__c": pa.string(),  # "rep" or "team"
            "Team__c": pa.string(),  # UserRole id of the team (team targets; empty for a rep's)
            "Period_Type__c": pa.string(),  # "month" or "quarter"
            "Metric__c": pa.string(),  # TARGET_METRICS
            "Period_Start__c": pa.date32(),  # first day of the month or quarter
            "Target_Value__c": MONEY,
            "IsDeleted": pa.bool_(),
            "CreatedDate": TS,
            "LastModifiedDate": TS,
        },
        enums={
            "Target_Level__c": ("rep", "team"),
            "Period_Type__c": ("month", "quarter"),
            "Metric__c": TARGET_METRICS,
        },
        references=("Team__c",),
        required=(
            "Target_Level__c",
            "Period_Type__c",
            "Metric__c",
            "Period_Start__c",
            "Target_Value__c",
        ),
    ),
)

ERP_EXTRACTS: tuple[Extract, ...] = (
    Extract(
        "erp",
        "customers",
        "customers",
        "customer_id",
        "updated_at",
        {
            "customer_id": pa.string(),
            "customer_name": pa.string(),
            "crm_account_number": pa.string(),  # Account.AccountNumber in the CRM
            "country": pa.string(),
            "city": pa.string(),
            "created_at": TS,
            "updated_at": TS,
        },
        references=("crm_account_number",),
    ),
    Extract(
        "erp",
        "products",
        "products",
        "product_id",
        "updated_at",
        {
            "product_id": pa.string(),
            "sku": pa.string(),
            "product_name": pa.string(),
            "category": pa.string(),
            "unit_cost": MONEY,
            "list_price": MONEY,
            "currency": pa.string(),
            "updated_at": TS,
        },
    ),
    Extract(
        "erp",
        "sales_orders",
        "sales_orders",
        "order_id",
        "updated_at",
        {
            "order_id": pa.string(),
            "order_number": pa.string(),
            "customer_id": pa.string(),
            "crm_opportunity_id": pa.string(),
            "salesperson_email": pa.string(),
            "order_date": pa.date32(),
            "status": pa.string(),  # "confirmed", "done", "cancel"
            "currency": pa.string(),
            "updated_at": TS,
        },
        references=("salesperson_email",),
    ),
    Extract(
        "erp",
        "sales_order_lines",
        "sales_order_lines",
        "order_line_id",
        "updated_at",
        {
            "order_line_id": pa.string(),
            "order_id": pa.string(),
            "product_id": pa.string(),
            "quantity": QTY,
            "unit_price": MONEY,
            "discount_pct": pa.float64(),
            "updated_at": TS,
        },
    ),
    Extract(
        "erp",
        "invoices",
        "invoices",
        "invoice_id",
        "updated_at",
        {
            "invoice_id": pa.string(),
            "invoice_number": pa.string(),
            "move_type": pa.string(),  # "out_invoice" or "out_refund" (credit note)
            "customer_id": pa.string(),
            "order_id": pa.string(),
            "reversed_invoice_id": pa.string(),  # the invoice a credit note reverses
            "salesperson_email": pa.string(),
            "invoice_date": pa.date32(),
            "state": pa.string(),  # "posted" or "cancel"
            "currency": pa.string(),
            "updated_at": TS,
        },
        enums={"move_type": ("out_invoice", "out_refund"), "state": ("posted", "cancel")},
        references=("salesperson_email",),
        required=("invoice_date", "move_type", "state"),
    ),
    Extract(
        "erp",
        "invoice_lines",
        "invoice_lines",
        "invoice_line_id",
        "updated_at",
        {
            "invoice_line_id": pa.string(),
            "invoice_id": pa.string(),
            "product_id": pa.string(),
            "quantity": QTY,  # positive on invoices and on credit notes
            "unit_price": MONEY,
            "discount_pct": pa.float64(),
            "net_amount": MONEY,  # quantity x unit_price x (1 - discount_pct), rounded to cents
            "unit_cost": MONEY,  # product cost when invoiced
            "updated_at": TS,
        },
        required=("invoice_id", "net_amount"),
    ),
)

ALL_EXTRACTS: tuple[Extract, ...] = CRM_EXTRACTS + ERP_EXTRACTS


def extracts_of(system: str) -> tuple[Extract, ...]:
    return tuple(e for e in ALL_EXTRACTS if e.system == system)
