"""Great Expectations at the door: each delivery is validated as it lands, with a report per run.

The blocking gates are dbt tests (dbt/tests, the models' YAML; docs/data_quality.md lists them
with the business rule each protects): a failing one stops the publish. Great Expectations does
what it does best here: it looks at every delivery (the rows the latest load added to each raw
table) and warns about what is possible but suspicious - a date years ahead of the delivery, an
amount a hundred times its column's median, a negative amount - and keeps a human-readable
report of every run (Data Docs, ``<data_dir>/quality/gx/uncommitted/data_docs/local_site``),
linked from the Dagster run. It never blocks: a legitimate but unusual value must reach the
dashboards, and someone should look at it.

GX 1.x SQL datasources fail on DuckDB (``MetricResolutionError``, known upstream), so each
delivery is pulled through DuckDB as a pandas dataframe; only the columns the expectations read,
and only the latest delivery's rows, are pulled.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ingestion.contracts import LOAD_ID_COLUMN, column_name
from ingestion.extracts import Extract, extracts_of
from pilotage.warehouse import Warehouse, connect

log = logging.getLogger(__name__)

# What counts as suspicious (a warning in the delivery report, never a block).
YEARS_AHEAD = 2  # a date more than this many years after the delivery day
OUTLIER_FACTOR = 100  # an amount more than this many times its column's median
MIN_ROWS_FOR_MEDIAN = 20  # a median of fewer non-zero amounts says nothing
# Dates that legitimately lie ahead are still bounded: a planned meeting, a close date, a
# contract start, an objective's period. Timestamps of record keeping (CreatedDate, cursors) are
# never ahead of the delivery by more than a day of clock skew.
RECORD_TIMESTAMPS = ("CreatedDate", "LastModifiedDate", "created_at", "updated_at")
# An objective's value is an amount or a count depending on its metric: its median says nothing.
NO_MEDIAN_COLUMNS = ("Target_Value__c",)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list


@dataclass(frozen=True)
class DeliveryResult:
    """The validation of one raw table's latest delivery."""

    table: str  # raw_<system>.<table>
    load_id: str | None
    rows: int
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        if not self.rows:
            return f"{self.table}: nothing delivered"
        if self.success:
            return f"{self.table}: {len(self.outcomes)} expectations met by {self.rows} rows"
        lines = [f"{self.table}: {len(self.warnings)} of {len(self.outcomes)} expectations warn"]
        for o in self.warnings:
            where = f" on {o.column}" if o.column else ""
            count = f", {o.unexpected_count} rows" if o.unexpected_count else ""
            lines.append(f"  - {o.expectation}{where}{count}, e.g. {o.sample[:5]}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DeliveryReport:
    results: list[DeliveryResult]
    data_docs: Path | None  # index.html of the Data Docs site

    @property
    def warnings(self) -> int:
        return sum(len(r.warnings) for r in self.results)

    def summary(self) -> str:
        checked = [r for r in self.results if r.rows]
        head = f"{len(checked)} deliveries validated, {self.warnings} warning(s)" + (
            f"; report: {self.data_docs}" if self.data_docs else ""
        )
        return "\n".join([head, *(r.summary() for r in checked if not r.success)])


def _is_temporal(data_type: pa.DataType) -> bool:
    return pa.types.is_date(data_type) or pa.types.is_timestamp(data_type)


def _medians(con, table: str, columns: list[str]) -> dict[str, float]:
    """Each money column's median over every row of the raw table (non-zero values): one scan."""
    if not columns:
        return {}
    # PostgreSQL has no median(): the same continuous median as an ordered-set aggregate.
    median_sql = (
        'percentile_cont(0.5) within group (order by abs("{c}"))'
        if getattr(con, "dialect", "duckdb") == "postgres"
        else 'median(abs("{c}"))'
    )
    parts = [
        f'count("{c}") filter (where "{c}" != 0), '
        + median_sql.format(c=c)
        + f' filter (where "{c}" != 0)'
        for c in columns
    ]
    values = con.execute(f"select {', '.join(parts)} from {table}").fetchone()
    medians = {}
    for index, column in enumerate(columns):
        count, median = values[2 * index], values[2 * index + 1]
        if count >= MIN_ROWS_FOR_MEDIAN and median:
            medians[column] = float(median)
    return medians


def delivery_expectations(
    gx, extract: Extract, delivered_on: dt.date, medians: dict[str, float]
) -> list:
    """The suspicious-value expectations of one extract's delivery (all warnings)."""
    import pandas as pd

    e = gx.expectations
    expectations = []
    for name, data_type in extract.columns.items():
        column = column_name(name)
        if _is_temporal(data_type):
            ahead = dt.timedelta(days=1) if name in RECORD_TIMESTAMPS else None
            limit = delivered_on + (ahead or dt.timedelta(days=366 * YEARS_AHEAD))
            zone = "UTC" if getattr(data_type, "tz", None) else None
            expectations.append(
                e.ExpectColumnValuesToBeBetween(
                    column=column,
                    max_value=pd.Timestamp(limit, tz=zone),
                    severity="warning",
                    notes=f"suspicious: {name} later than {limit.isoformat()}",
                )
            )
        elif name in extract.money_columns:
            expectations.append(
                e.ExpectColumnValuesToBeBetween(
                    column=column,
                    min_value=0,
                    severity="warning",
                    notes=f"suspicious: a negative {name}",
                )
            )
            if column in medians:
                expectations.append(
                    e.ExpectColumnValuesToBeBetween(
                        column=column,
                        max_value=OUTLIER_FACTOR * medians[column],
                        severity="warning",
                        notes=f"suspicious: {name} over {OUTLIER_FACTOR} x its median",
                    )
                )
    return expectations


def _context(quality_dir: Path):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # Great Expectations imports PySpark when it is installed (the Spark test's dependency), and
    # PySpark's Connect module then calls sys.exit(0) in a process whose __main__ has no file
    # (it takes it for doctests): a Dagster run worker. These checks never use Spark: hide
    # Spark Connect from GX, which then treats it as absent.
    sys.modules.setdefault("pyspark.sql.connect", None)
    import great_expectations as gx

    quality_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(quality_dir))
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return gx, context


def _latest_delivery(con, table: str, columns: list[str]):
    """The rows of the latest load that delivered rows to ``table``, as a dataframe."""
    load_id = con.execute(f"select max({LOAD_ID_COLUMN}) from {table}").fetchone()[0]
    selected = ", ".join(f'"{c}"' for c in columns) or "1 as _row"
    cursor = con.execute(f"select {selected} from {table} where {LOAD_ID_COLUMN} = ?", [load_id])
    if hasattr(cursor, "df"):  # DuckDB
        return load_id, cursor.df()
    import pandas as pd

    names = [d[0] for d in cursor.description]
    frame = pd.DataFrame(cursor.fetchall(), columns=names)
    for name, column in frame.items():  # dates and timestamps as DuckDB's .df() gives them
        values = column.dropna()
        if len(values) and isinstance(values.iloc[0], dt.date):
            frame[name] = pd.to_datetime(column, utc=isinstance(values.iloc[0], dt.datetime))
    return load_id, frame


def _latest_delivery_batch(source, asset_name: str):
    """The batch definition "latest delivery" of a table's dataframe asset (made once)."""
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("latest delivery")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("latest delivery")


def _as_numbers(frame):
    """DuckDB decimals arrive as Python Decimals: compare them as numbers."""
    import decimal

    for column in frame.columns:
        values = frame[column].dropna()
        if len(values) and isinstance(values.iloc[0], decimal.Decimal):
            frame[column] = frame[column].astype("float64")
    return frame


def validate_deliveries(
    warehouse_path: Warehouse,
    system: str,
    quality_dir: Path,
    run_name: str,
    as_of: dt.date | None = None,
) -> DeliveryReport:
    """Validate the latest delivery of every raw table of ``system`` and update the Data Docs.

    ``run_name`` names the validation run in the report (the Dagster run id). Dates are judged
    from the later of today and ``as_of`` (a refresh run as of a day ahead delivers that day's
    records)."""
    delivered_on = max(as_of or dt.date.today(), dt.date.today())
    gx, context = _context(Path(quality_dir))
    source = context.data_sources.add_or_update_pandas(f"{system}_deliveries")
    definitions, frames, load_ids = [], {}, {}
    with connect(warehouse_path) as con:
        existing = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [f"raw_{system}"],
            ).fetchall()
        }
        for extract in extracts_of(system):
            if extract.table not in existing:
                continue
            table = f"raw_{system}.{extract.table}"
            money = [column_name(c) for c in extract.money_columns if c not in NO_MEDIAN_COLUMNS]
            medians = _medians(con, table, money)
            expectations = delivery_expectations(gx, extract, delivered_on, medians)
            columns = sorted({x.column for x in expectations})
            load_id, frame = _latest_delivery(con, table, columns)
            load_ids[table], frames[table] = load_id, _as_numbers(frame)
            asset_name = f"{system}.{extract.table}"
            suite = context.suites.add_or_update(
                gx.ExpectationSuite(name=asset_name, expectations=expectations)
            )
            definition = gx.ValidationDefinition(
                data=_latest_delivery_batch(source, asset_name), suite=suite, name=asset_name
            )
            definitions.append((table, context.validation_definitions.add_or_update(definition)))
    results = []
    for table, definition in definitions:
        frame = frames[table]
        if frame.empty:
            results.append(DeliveryResult(table, load_ids[table], 0))
            continue
        result = definition.run(
            batch_parameters={"dataframe": frame},
            result_format="SUMMARY",
            run_id=gx.RunIdentifier(run_name=run_name),
        )
        outcomes = [
            ExpectationOutcome(
                expectation=r.expectation_config.type,
                column=r.expectation_config.kwargs.get("column"),
                success=bool(r.success),
                unexpected_count=r.result.get("unexpected_count"),
                sample=[str(v) for v in (r.result.get("partial_unexpected_list") or [])][:10],
            )
            for r in result.results
        ]
        results.append(DeliveryResult(table, load_ids[table], len(frame), outcomes))
    context.build_data_docs()
    docs = Path(quality_dir) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return DeliveryReport(results, docs if docs.exists() else None)
