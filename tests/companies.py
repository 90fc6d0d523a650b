"""Building a generated company and comparing its marts with the oracle.

A company is the demo generated at a seed and as-of date (``ingestion.demo.generator``), changed
by shapes of other companies' data (``ingestion.demo.shapes``), loaded with dlt and built with
``dbt build`` (its data tests are blocking gates), with what the oracle (tests/oracle/measures.py)
computes from its landing files. The comparisons return problems, each naming the company (its
shapes, seed and as-of date), the level and member, the period and the measure, so that a test
reports them all at once. Used by tests/warehouse/test_any_company.py (the as-of sweep, other
companies' shapes) and tests/warehouse/test_foreign_export.py (another CRM's export to the marts).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from unittest import mock

import duckdb

from ingestion.demo.generator import generate
from ingestion.demo.shapes import ShapeRecord, apply_shapes, sources_for
from tests.oracle.measures import (
    ACTIVITY_TYPES,
    MEASURES,
    UNCLASSIFIED,
    Expected,
    Key,
    expect,
)
from tests.pipeline_helpers import load_landing, run_dbt

SCALE = 0.05  # six reps in two teams: the smallest demo
BUILD = ["build", "--exclude-resource-type", "unit_test"]
WORKERS = int(os.environ.get("PILOTAGE_TEST_BUILD_WORKERS", "2"))


# --------------------------------------------------------------------------- building companies


@dataclass(frozen=True)
class Case:
    seed: int
    as_of: dt.date
    shapes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        shapes = ", ".join(self.shapes) or "the demo"
        return f"[{shapes}; seed {self.seed}; as of {self.as_of}]"

    @property
    def sources(self) -> str:
        return sources_for(self.shapes) or "crm,erp"


@dataclass
class Company:
    """A built company: its landing folder and warehouse, what the shapes did, the build's
    failure (dbt's output) if any, and the oracle's expectations."""

    case: Case
    landing: Path
    warehouse: Path
    records: list[ShapeRecord]
    expected: Expected
    build_error: str | None = None


# generation, shapes, the dlt load (under the company's PILOTAGE_SOURCES) and the oracle: one
# build at a time in this process
_IN_PROCESS = threading.Lock()


def build_company(root: Path, case: Case) -> Company:
    """Generate the demo at ``case.as_of``, apply the shapes, load with dlt, ``dbt build``."""
    name = f"{case.as_of:%Y%m%d}_{case.seed}_{'_'.join(case.shapes) or 'demo'}"
    tmp_dir = Path(root) / name
    landing = tmp_dir / "landing"
    with _IN_PROCESS, mock.patch.dict(os.environ, {"PILOTAGE_SOURCES": case.sources}):
        generate(landing, seed=case.seed, scale=SCALE, as_of=case.as_of)
        records = apply_shapes(landing, case.shapes, seed=case.seed, scale=SCALE, as_of=case.as_of)
        warehouse = load_landing(tmp_dir, landing)
        expected = expect(landing, case.as_of, case.sources.split(","))
    company = Company(case, landing, warehouse, records, expected)
    # the sources go to dbt explicitly (other builds run at the same time); one dbt thread per
    # build: dbt's threads share one core, the builds share the machine's
    env = {"PILOTAGE_SOURCES": case.sources, "PILOTAGE_DBT_THREADS": "1"}
    try:
        run_dbt(BUILD, warehouse, case.as_of, tmp_dir / "dbt_target", extra_env=env)
    except AssertionError as exc:
        company.build_error = _dbt_failures(str(exc))
    return company


def _dbt_failures(output: str) -> str:
    """The lines of dbt's output that say what failed (else its end)."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if any(word in line for word in ("FAIL", "ERROR", "Error", "Failure", "Got "))
        and "SKIP" not in line
    ]
    return "\n".join(lines[:40]) if lines else output[-3000:]


@dataclass
class Builds:
    """Companies built in the background (``WORKERS`` at a time), each once."""

    root: Path
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(WORKERS))
    futures: dict[Case, Future] = field(default_factory=dict)

    def submit(self, case: Case) -> None:
        if case not in self.futures:
            self.futures[case] = self.pool.submit(build_company, self.root, case)

    def get(self, case: Case) -> Company:
        self.submit(case)
        return self.futures[case].result()


# --------------------------------------------------------------------------- comparing


def _same(got: object, want: object) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return Decimal(str(got)) == Decimal(str(want))


def _where(label: str, key: Key) -> str:
    level, member, grain, start = key
    return f"{label} {level} {member}, {grain} {start}"


def read_performance(con: duckdb.DuckDBPyConnection) -> dict[Key, dict[str, object]]:
    cursor = con.execute(
        "select * from marts.kpi_performance where period_grain in ('month', 'quarter')"
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    return {(r["level"], r["member_id"], r["period_grain"], r["period_start"]): r for r in rows}


def performance_problems(
    actual: dict[Key, dict[str, object]], expected: Expected, label: str
) -> list[str]:
    """Every (level, member, period, measure) of the oracle against the mart; any other row of
    the mart up to the as-of date must be 0 (NULL for an unavailable measure)."""
    problems = []
    columns = next(iter(actual.values()), {})
    missing_columns = [m for m in MEASURES if actual and m not in columns]
    if missing_columns:
        problems.append(f"{label} kpi_performance has no column {', '.join(missing_columns)}")
    measures = [m for m in MEASURES if m not in missing_columns]
    for key, want in sorted(expected.performance.items(), key=str):
        got = actual.get(key)
        if got is None:
            shown = {m: v for m, v in want.items() if v}
            problems.append(f"{_where(label, key)}: row missing from kpi_performance ({shown})")
            continue
        for measure in measures:
            if not _same(got[measure], want[measure]):
                problems.append(
                    f"{_where(label, key)}, {measure}: expected {want[measure]}, got {got[measure]}"
                )
    zero = {m: (0 if expected.available[m] else None) for m in MEASURES}
    for key, got in sorted(actual.items(), key=str):
        if key in expected.performance or key[3] > expected.as_of:
            continue
        wrong = {m: got[m] for m in measures if not _same(got[m], zero[m])}
        if wrong:
            problems.append(f"{_where(label, key)}: expected no fact ({zero}), got {wrong}")
    return problems


def additivity_problems(actual: dict[Key, dict[str, object]], label: str) -> list[str]:
    """Reps, teams and regions each add up to the company, per period and measure."""
    sums: dict[tuple[str, str, dt.date], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    company = {}
    for (level, _, grain, start), row in actual.items():
        if level == "company":
            company[(grain, start)] = row
            continue
        for measure in MEASURES:
            if row.get(measure) is not None:
                sums[(level, grain, start)][measure] += Decimal(str(row[measure]))
    problems = []
    for (level, grain, start), by_measure in sorted(sums.items(), key=str):
        row = company.get((grain, start), {})
        for measure, total in by_measure.items():
            if not _same(row.get(measure), total):
                problems.append(
                    f"{label} {level}s of {grain} {start}, {measure}: add up to {total}, "
                    f"the company row says {row.get(measure)}"
                )
    return problems


def company_total_problems(
    actual: dict[Key, dict[str, object]], expected: Expected, label: str
) -> list[str]:
    """The company's months add up to the company's total over every date up to the as-of."""
    problems = []
    months = [row for key, row in actual.items() if key[0] == "company" and key[2] == "month"]
    for measure, want in expected.company_total.items():
        values = [row.get(measure) for row in months]
        got = None if all(v is None for v in values) else sum(Decimal(str(v or 0)) for v in values)
        if not _same(got, want):
            problems.append(
                f"{label} company, all months to date, {measure}: expected {want}, got {got}"
            )
    return problems


def fact_problems(con: duckdb.DuckDBPyConnection, expected: Expected, label: str) -> list[str]:
    """Conservation: the facts hold every record of the files, whatever its date or owner."""
    want = expected.facts
    problems = []
    by_type = dict(
        con.execute(
            "select activity_type, count(*) from marts.fct_activities group by activity_type"
        ).fetchall()
    )
    for kind in ACTIVITY_TYPES:
        if by_type.get(kind, 0) != want.activities[kind]:
            problems.append(
                f"{label} fct_activities, {kind} rows: expected {want.activities[kind]}, "
                f"got {by_type.get(kind, 0)}"
            )
    if sum(by_type.values()) != sum(want.activities.values()):
        problems.append(
            f"{label} fct_activities, all rows: expected {sum(want.activities.values())} "
            f"(of which {want.activities[UNCLASSIFIED]} unclassified), got {sum(by_type.values())} "
            f"{by_type}"
        )
    (revenue,) = con.execute("select coalesce(sum(revenue), 0) from marts.fct_revenue").fetchone()
    if not _same(revenue, want.revenue):
        problems.append(f"{label} fct_revenue, revenue: expected {want.revenue}, got {revenue}")
    (opportunities,) = con.execute("select count(*) from marts.fct_opportunities").fetchone()
    if opportunities != want.opportunities:
        problems.append(
            f"{label} fct_opportunities, rows: expected {want.opportunities}, got {opportunities}"
        )
    return problems


def availability_problems(
    con: duckdb.DuckDBPyConnection, expected: Expected, label: str
) -> list[str]:
    """marts.kpi_availability: unavailable exactly for the KPIs one of whose data requirements
    (dbt/kpis.yml) the delivered data lacks."""
    from pilotage.kpi_catalogue import load_catalogue

    try:
        rows = con.execute(
            "select kpi_name, is_available, reason from marts.kpi_availability"
        ).fetchall()
    except duckdb.Error as exc:
        return [f"{label} marts.kpi_availability cannot be read: {exc}".splitlines()[0]]
    requirements = {kpi.name: kpi.requires for kpi in load_catalogue().kpis}
    unknown = sorted({r for names in requirements.values() for r in names} - set(expected.presence))
    if unknown:
        return [f"{label} the oracle does not know the data requirement(s) {unknown}"]
    want = {kpi: all(expected.presence[r] for r in names) for kpi, names in requirements.items()}
    got = {name: (available, reason) for name, available, reason in rows}
    problems = [
        f"{label} kpi_availability has no row for KPI {k}" for k in sorted(set(want) - set(got))
    ]
    for kpi in sorted(set(want) & set(got)):
        available, reason = got[kpi]
        if available != want[kpi]:
            missing = [r for r in requirements[kpi] if not expected.presence[r]]
            problems.append(
                f"{label} kpi_availability, {kpi}: expected is_available {want[kpi]} "
                f"(missing: {missing or 'nothing'}), got {available} ({reason})"
            )
    return problems


def company_problems(company: Company) -> list[str]:
    label = company.case.label
    problems = []
    if company.build_error:
        problems.append(f"{label} dbt build failed:\n{company.build_error}")
    try:
        con = duckdb.connect(str(company.warehouse), read_only=True)
    except duckdb.Error as exc:
        return [*problems, f"{label} the warehouse cannot be opened: {exc}"]
    try:
        try:
            actual = read_performance(con)
        except duckdb.Error as exc:
            problems.append(f"{label} kpi_performance cannot be read: {exc}".splitlines()[0])
        else:
            problems += performance_problems(actual, company.expected, label)
            problems += additivity_problems(actual, label)
            problems += company_total_problems(actual, company.expected, label)
        try:
            problems += fact_problems(con, company.expected, label)
        except duckdb.Error as exc:
            problems.append(f"{label} the facts cannot be read: {exc}".splitlines()[0])
        problems += availability_problems(con, company.expected, label)
    finally:
        con.close()
    return problems


def assert_no_problems(problems: list[str], company: Company) -> None:
    done = "\n".join(f"  {record}" for record in company.records)
    assert not problems, (
        f"{len(problems)} problem(s) for {company.case.label}"
        + (f"\nshapes applied:\n{done}" if done else "")
        + "\n"
        + "\n".join(problems[:60])
    )
