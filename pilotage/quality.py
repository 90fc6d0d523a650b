"""Great Expectations suites on the fact tables: the gate in front of publishing.

GX 1.x SQL datasources fail on DuckDB (``MetricResolutionError``, known upstream), so each suite
validates the table pulled through DuckDB as a pandas dataframe (fast at these sizes). The suites
are defined here once; Dagster runs them as blocking asset checks and ``pilotage publish`` runs them
before it swaps the serving file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

ACTIVITY_TYPES = ["call", "email", "meeting", "proposal", "quote", "contract"]
KPI_STATUSES = ["on track", "at risk", "off track", "no target"]
# dtypes pandas gives DuckDB columns (pandas 2 and 3 spell text differently).
TEXT = ["object", "str", "string", "StringDtype"]
DATE = ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]", "object"]
NUMBER = ["float64", "Float64", "int64", "Int64", "int32", "Int32"]


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list


@dataclass(frozen=True)
class SuiteResult:
    table: str
    success: bool
    rows: int
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        if self.success:
            return f"{self.table}: {len(self.outcomes)} expectations passed on {self.rows} rows"
        lines = [f"{self.table}: {len(self.failures)} of {len(self.outcomes)} expectations failed"]
        for o in self.failures:
            where = f" on {o.column}" if o.column else ""
            count = f", {o.unexpected_count} rows" if o.unexpected_count else ""
            lines.append(f"  - {o.expectation}{where}{count}, e.g. {o.sample[:5]}")
        return "\n".join(lines)


def _suite_fct_activities(gx, con, as_of: dt.date) -> list:
    e = gx.expectations
    rep_ids = [r[0] for r in con.execute("select rep_id from marts.dim_rep").fetchall()]
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1, max_value=500_000_000),
        e.ExpectColumnValuesToBeUnique(column="activity_id"),
        e.ExpectColumnValuesToNotBeNull(column="activity_id"),
        e.ExpectColumnValuesToBeInSet(column="activity_type", value_set=ACTIVITY_TYPES),
        # Plausible volume: a working sales force logs every kind of activity.
        e.ExpectColumnDistinctValuesToContainSet(column="activity_type", value_set=ACTIVITY_TYPES),
        e.ExpectColumnValuesToNotBeNull(column="activity_date"),
        e.ExpectColumnValuesToBeInTypeList(column="activity_date", type_list=DATE),
        # Nothing dated after the as-of day: a future date is a wrong extract or a wrong clock.
        e.ExpectColumnMaxToBeBetween(column="activity_date", max_value=_ts(as_of)),
        e.ExpectColumnValuesToNotBeNull(column="rep_id"),
        e.ExpectColumnValuesToBeInSet(column="rep_id", value_set=rep_ids),
    ]


def _suite_fct_revenue(gx, con, as_of: dt.date) -> list:
    e = gx.expectations
    rep_ids = [r[0] for r in con.execute("select rep_id from marts.dim_rep").fetchall()]
    products = [r[0] for r in con.execute("select product_id from marts.dim_product").fetchall()]
    customers = [r[0] for r in con.execute("select customer_id from marts.dim_customer").fetchall()]
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1, max_value=500_000_000),
        e.ExpectColumnValuesToBeUnique(column="invoice_line_id"),
        e.ExpectColumnValuesToNotBeNull(column="invoice_line_id"),
        e.ExpectColumnValuesToBeInSet(column="document_type", value_set=["invoice", "credit_note"]),
        e.ExpectColumnValuesToBeInTypeList(column="invoice_date", type_list=DATE),
        e.ExpectColumnMaxToBeBetween(column="invoice_date", max_value=_ts(as_of)),
        *(
            e.ExpectColumnValuesToBeInTypeList(column=c, type_list=NUMBER)
            for c in ("quantity", "revenue", "cost", "gross_margin")
        ),
        # Quantities are never negative on invoices, never positive on credit notes.
        e.ExpectColumnValuesToBeBetween(
            column="quantity",
            min_value=0,
            row_condition='document_type=="invoice"',
            condition_parser="pandas",
        ),
        e.ExpectColumnValuesToBeBetween(
            column="quantity",
            max_value=0,
            row_condition='document_type=="credit_note"',
            condition_parser="pandas",
        ),
        e.ExpectColumnValuesToBeInSet(column="rep_id", value_set=rep_ids),
        e.ExpectColumnValuesToNotBeNull(column="rep_id"),
        e.ExpectColumnValuesToBeInSet(column="product_id", value_set=products),
        e.ExpectColumnValuesToBeInSet(column="customer_id", value_set=customers),
    ]


def _suite_kpi_rep_month(gx, con, as_of: dt.date) -> list:
    e = gx.expectations
    return [
        e.ExpectTableRowCountToBeBetween(min_value=1, max_value=50_000_000),
        e.ExpectCompoundColumnsToBeUnique(column_list=["month_start", "rep_id"]),
        e.ExpectColumnValuesToBeInSet(column="status", value_set=KPI_STATUSES),
        *(
            e.ExpectColumnValuesToBeBetween(column=c, min_value=0)
            for c in ("calls", "emails", "meetings", "proposals", "quotes", "contracts")
        ),
        e.ExpectColumnValuesToBeBetween(column="attainment", min_value=-1, max_value=100),
        e.ExpectColumnMaxToBeBetween(column="month_start", max_value=_ts(as_of)),
    ]


def _ts(day: dt.date):
    import pandas as pd

    return pd.Timestamp(day)


# Table in schema marts -> the suite's expectations. One entry per checked table.
SUITES: dict[str, Callable] = {
    "fct_activities": _suite_fct_activities,
    "fct_revenue": _suite_fct_revenue,
    "kpi_rep_month": _suite_kpi_rep_month,
}


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return gx, context


def validate_table(warehouse_path: Path, table: str, as_of: dt.date) -> SuiteResult:
    """Run the suite of ``marts.<table>`` against the warehouse (opened read-only)."""
    gx, context = _context()
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        frame = con.execute(f'select * from marts."{table}"').df()
        expectations = SUITES[table](gx, con, as_of)
    finally:
        con.close()
    # DuckDB decimals arrive as Python Decimals: compare them as numbers.
    for column in frame.columns:
        if frame[column].dtype == object and len(frame) and _is_decimal(frame[column]):
            frame[column] = frame[column].astype("float64")
    source = context.data_sources.add_pandas(f"pilotage_{table}")
    batch = (
        source.add_dataframe_asset(name=table)
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=f"{table}_suite")
    for expectation in expectations:
        suite.add_expectation(expectation)
    result = batch.validate(suite)
    outcomes = [
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=r.result.get("unexpected_count"),
            sample=list(r.result.get("partial_unexpected_list") or [])[:10],
        )
        for r in result.results
    ]
    return SuiteResult(table, bool(result.success), len(frame), outcomes)


def _is_decimal(series) -> bool:
    import decimal

    first = series.dropna()
    return len(first) > 0 and isinstance(first.iloc[0], decimal.Decimal)


def validate_all(warehouse_path: Path, as_of: dt.date) -> list[SuiteResult]:
    return [validate_table(warehouse_path, table, as_of) for table in SUITES]
