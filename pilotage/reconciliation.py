"""Reconciliations: the warehouse's numbers agree with each other, month by month.

Two checks, plain functions over the warehouse (opened read-only), each returning a
:class:`Reconciliation` with ``passed``, summary ``metrics`` and the per-month ``rows`` (the
offending ones flagged):

- :func:`mart_vs_facts`: ``marts.kpi_rep_month`` totals per month (revenue, cost, gross margin,
  quantity and every activity count) equal the totals of ``marts.fct_revenue`` and
  ``marts.fct_activities`` over the rows the mart attributes to an account executive. Exact: the
  mart is a group-by of the facts, any difference is a bug (a lost join, a double count).
- :func:`crm_vs_erp`: the CRM's won amount (``Opportunity.Amount`` of won, not deleted
  opportunities, by month of ``CloseDate``) against the ERP's net invoiced revenue (posted
  invoices minus credit notes, ``marts.fct_revenue``, by month of the invoice date), over the whole
  period and per closed month, within :data:`CRM_VS_ERP_MONTH_TOLERANCE` and
  :data:`CRM_VS_ERP_PERIOD_TOLERANCE`.

Dagster runs both as asset checks (dagster_project/quality.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

# --- The declared tolerances of the CRM-vs-ERP reconciliation (the only place they are set) ----
# Won deals are booked and invoiced within the month of their close (order within 3 days, invoice
# within 10, both held to the month end), so the two sides should agree month by month, except:
#   - quantity rounding: the ERP invoices whole units (or packs), so an invoice is its deal's CRM
#     amount give or take up to half a unit per line;
#   - credit notes: about 5 % of invoices are partly credited 5 to 40 days later, lowering the net
#     revenue of a later month;
#   - cancelled orders (about 1 %): won in the CRM, never invoiced.
# Measured on the demo extracts (as of 2026-11-15, seeds 1, 2, 3, 7, 42, 99): at scale 1.0 (about
# 100 invoices a month) the worst closed month is 2.8 to 9.6 % apart and the whole period 0.4 to
# 1.1 %; at scale 0.1 (about 12 invoices a month, where one credit note or one cancelled order
# weighs 5 to 15 % of a month) the worst month is 7.5 to 20.4 % apart (seed 42: April 2026, a
# cancelled won order and three credit notes) and the whole period 0.7 to 6.6 %.
# Hence 25 % per closed month and 10 % over the period: no alert on the normal noise of a small
# sales force, an alert when a month's won deals go uninvoiced (or invoices appear without a won
# deal) or when amounts are edited on one side only. The current (as-of) month is shown, not
# judged: deals won in its last days are invoiced after the as-of day. Tighten them for a large
# sales force: the noise shrinks with the number of deals a month.
CRM_VS_ERP_MONTH_TOLERANCE = Decimal("0.25")  # |ERP - CRM| / CRM, per closed month
CRM_VS_ERP_PERIOD_TOLERANCE = Decimal("0.10")  # |ERP - CRM| / CRM, all closed months together

ACTIVITY_MEASURES = (
    "calls",
    "emails",
    "meetings",
    "proposals",
    "quotes",
    "contracts",
    "activities",
)
REVENUE_MEASURES = ("quantity", "revenue", "cost", "gross_margin")


@dataclass(frozen=True)
class MonthRow:
    """One month of a reconciliation: the two sides of every measure and whether it is off."""

    month: dt.date
    values: dict[str, Decimal]
    offending: bool
    reason: str = ""


@dataclass(frozen=True)
class Reconciliation:
    name: str
    passed: bool
    summary: str
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    rows: list[MonthRow] = field(default_factory=list)

    @property
    def offending(self) -> list[MonthRow]:
        return [r for r in self.rows if r.offending]

    @property
    def offending_months(self) -> list[dt.date]:
        return [r.month for r in self.offending]

    def markdown(self, only_offending: bool = False, limit: int = 40) -> str:
        """The months as a markdown table (offending ones marked), for Dagster's metadata."""
        rows = self.offending if only_offending else self.rows
        if not rows:
            return "no rows"
        columns = list(rows[0].values)
        lines = [
            "| month | " + " | ".join(columns) + " | status |",
            "|---" * (len(columns) + 2) + "|",
        ]
        for row in rows[-limit:]:
            cells = " | ".join(_fmt(row.values[c]) for c in columns)
            status = f"**OFF** {row.reason}" if row.offending else (row.reason or "ok")
            lines.append(f"| {row.month.isoformat()[:7]} | {cells} | {status} |")
        if len(rows) > limit:
            lines.append(f"\n(the last {limit} months of {len(rows)})")
        return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        # counts (integral Decimals from integers) without cents, amounts with them
        return f"{value:,.0f}" if value.as_tuple().exponent >= 0 else f"{value:,.2f}"
    return str(value)


def _connect(warehouse_path: Path):
    return duckdb.connect(str(warehouse_path), read_only=True)


def _dec(value) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --- mart vs facts ------------------------------------------------------------------------------
# The rep-months the mart should cover, rebuilt from the dimensions (not read from the mart, so a
# rep-month row missing from the mart shows as a difference): account executives (dim_rep role_type
# rep) hired by the end of the month, every month of dim_date up to the mart's as-of month.
_SPINE_CTES = """
with
as_of as (
    select max(as_of_date) as as_of_date from marts.kpi_rep_month
),
months as (
    select distinct dim_date.month_start
    from marts.dim_date, as_of
    where dim_date.month_start <= date_trunc('month', as_of.as_of_date)
),
reps as (
    select rep_id, hire_date from marts.dim_rep where role_type = 'rep'
),
spine as (
    select months.month_start, reps.rep_id
    from months
    cross join reps
    where reps.hire_date is null or reps.hire_date < months.month_start + interval 1 month
)
"""

_MART_VS_FACTS_SQL = (
    _SPINE_CTES
    + """,
all_months as (
    select month_start from months
    union
    select month_start from marts.kpi_rep_month
),
mart as (
    select
        month_start,
        {mart_sums}
    from marts.kpi_rep_month
    group by month_start
),
revenue as (
    select
        f.month_start,
        {revenue_sums}
    from marts.fct_revenue as f
    inner join spine on f.rep_id = spine.rep_id and f.month_start = spine.month_start
    group by f.month_start
),
activities as (
    select
        f.month_start,
        {activity_sums}
    from marts.fct_activities as f
    inner join spine on f.rep_id = spine.rep_id and f.month_start = spine.month_start
    group by f.month_start
)
select
    all_months.month_start,
    {selected}
from all_months
left join mart on all_months.month_start = mart.month_start
left join revenue on all_months.month_start = revenue.month_start
left join activities on all_months.month_start = activities.month_start
order by all_months.month_start
"""
)

_OUTSIDE_SQL = (
    _SPINE_CTES
    + """
select
    (select count(*) from marts.fct_revenue as f
     where not exists (select 1 from spine as s
                       where s.rep_id = f.rep_id and s.month_start = f.month_start)),
    (select coalesce(sum(revenue), 0) from marts.fct_revenue as f
     where not exists (select 1 from spine as s
                       where s.rep_id = f.rep_id and s.month_start = f.month_start)),
    (select count(*) from marts.fct_activities as f
     where not exists (select 1 from spine as s
                       where s.rep_id = f.rep_id and s.month_start = f.month_start))
"""
)

_ACTIVITY_TYPE = {
    "calls": "call",
    "emails": "email",
    "meetings": "meeting",
    "proposals": "proposal",
    "quotes": "quote",
    "contracts": "contract",
}


def _mart_vs_facts_sql() -> str:
    measures = (*REVENUE_MEASURES, *ACTIVITY_MEASURES)
    mart_sums = ",\n        ".join(f"sum({m}) as {m}" for m in measures)
    revenue_sums = ",\n        ".join(f"sum(f.{m}) as {m}" for m in REVENUE_MEASURES)
    activity_sums = [
        f"count(*) filter (where f.activity_type = '{t}') as {m}" for m, t in _ACTIVITY_TYPE.items()
    ]
    activity_sums.append("count(*) as activities")
    selected = []
    for m in REVENUE_MEASURES:
        selected += [f"mart.{m} as mart_{m}", f"revenue.{m} as fact_{m}"]
    for m in ACTIVITY_MEASURES:
        selected += [f"mart.{m} as mart_{m}", f"activities.{m} as fact_{m}"]
    return _MART_VS_FACTS_SQL.format(
        mart_sums=mart_sums,
        revenue_sums=revenue_sums,
        activity_sums=",\n        ".join(activity_sums),
        selected=",\n    ".join(selected),
    )


def mart_vs_facts(warehouse_path: Path) -> Reconciliation:
    """``kpi_rep_month`` totals per month equal the fact totals of the rep-months it covers.

    "Rep-attributed" fact rows are those of an account executive (dim_rep role_type rep) hired by
    the end of the month, in a month up to the mart's as-of month: the rep-months the mart should
    have, rebuilt from the dimensions, so a rep-month dropped from the mart is caught too. The
    other fact rows (managers' deals, unattributed invoices, meetings planned after as-of) are
    counted in the metrics, not compared."""
    con = _connect(warehouse_path)
    try:
        cursor = con.execute(_mart_vs_facts_sql())
        names = [d[0] for d in cursor.description]
        records = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        outside = con.execute(_OUTSIDE_SQL).fetchone()
    finally:
        con.close()
    rows = []
    totals = {m: [Decimal(0), Decimal(0)] for m in (*REVENUE_MEASURES, *ACTIVITY_MEASURES)}
    for rec in records:
        values: dict[str, Decimal] = {}
        off = []
        for m in (*REVENUE_MEASURES, *ACTIVITY_MEASURES):
            mart, fact = _dec(rec[f"mart_{m}"]), _dec(rec[f"fact_{m}"])
            if m in REVENUE_MEASURES:  # amounts keep their cents, even when a side is empty
                mart, fact = mart + Decimal("0.00"), fact + Decimal("0.00")
            totals[m][0] += mart
            totals[m][1] += fact
            if m in ("revenue", "cost", "gross_margin", "activities"):
                values[f"mart {m}"] = mart
                values[f"fact {m}"] = fact
            if mart != fact:
                off.append(f"{m} {_fmt(mart - fact)}")
        rows.append(MonthRow(rec["month_start"], values, bool(off), "; ".join(off)))
    offending = [r for r in rows if r.offending]
    metrics: dict[str, float | int | str] = {
        "months": len(rows),
        "offending_months": len(offending),
        "mart_revenue": float(totals["revenue"][0]),
        "fact_revenue": float(totals["revenue"][1]),
        "mart_activities": int(totals["activities"][0]),
        "fact_activities": int(totals["activities"][1]),
        "fact_revenue_rows_outside_mart": int(outside[0]),
        "fact_revenue_outside_mart": float(_dec(outside[1])),
        "fact_activity_rows_outside_mart": int(outside[2]),
    }
    if not rows:
        summary = "kpi_rep_month is empty: nothing to reconcile"
        return Reconciliation("mart_vs_facts", False, summary, metrics, rows)
    if offending:
        summary = (
            f"kpi_rep_month differs from the facts in {len(offending)} of {len(rows)} months: "
            + ", ".join(f"{r.month.isoformat()[:7]} ({r.reason})" for r in offending[:6])
        )
    else:
        summary = (
            f"kpi_rep_month equals fct_revenue and fct_activities in all {len(rows)} months "
            f"(revenue {_fmt(totals['revenue'][0])}, "
            f"{int(totals['activities'][0])} activities)"
        )
    return Reconciliation("mart_vs_facts", not offending, summary, metrics, rows)


# --- CRM vs ERP ---------------------------------------------------------------------------------
_CRM_VS_ERP_SQL = """
with
won as (
    select date_trunc('month', close_date)::date as month_start, sum(amount) as crm_won
    from staging.stg_crm__opportunities
    where is_won and not coalesce(is_deleted, false)
    group by 1
),
invoiced as (
    select
        month_start,
        sum(revenue) as erp_revenue,
        sum(case when document_type = 'credit_note' then revenue else 0 end) as erp_credit_notes
    from marts.fct_revenue
    group by 1
),
months as (
    select month_start from won
    union
    select month_start from invoiced
)
select months.month_start, won.crm_won, invoiced.erp_revenue, invoiced.erp_credit_notes
from months
left join won on months.month_start = won.month_start
left join invoiced on months.month_start = invoiced.month_start
order by months.month_start
"""


def _relative(crm: Decimal, erp: Decimal) -> Decimal | None:
    if crm == 0:
        return None if erp == 0 else Decimal("Infinity")
    return abs(erp - crm) / abs(crm)


def crm_vs_erp(
    warehouse_path: Path,
    as_of: dt.date,
    tolerance: Decimal = CRM_VS_ERP_MONTH_TOLERANCE,
    period_tolerance: Decimal = CRM_VS_ERP_PERIOD_TOLERANCE,
) -> Reconciliation:
    """CRM won amount vs ERP net invoiced revenue, per closed month within ``tolerance`` and over
    all closed months within ``period_tolerance`` (both relative to the CRM side). Months after
    the as-of month are ignored; the as-of month is shown, not judged (its last won deals are not
    invoiced yet)."""
    as_of_month = as_of.replace(day=1)
    con = _connect(warehouse_path)
    try:
        records = con.execute(_CRM_VS_ERP_SQL).fetchall()
    finally:
        con.close()
    rows = []
    total_crm = total_erp = Decimal(0)
    for month, crm_raw, erp_raw, credit_raw in records:
        if month > as_of_month:
            continue
        crm, erp = _dec(crm_raw), _dec(erp_raw)
        rel = _relative(crm, erp)
        judged = month < as_of_month
        off = judged and (rel is None or rel > tolerance) and not (crm == 0 and erp == 0)
        if judged:
            total_crm += crm
            total_erp += erp
        values = {
            "CRM won": crm,
            "ERP net invoiced": erp,
            "difference": erp - crm,
            "difference %": (
                (rel * 100).quantize(Decimal("0.01"))
                if rel is not None and rel.is_finite()
                else None
            ),
            "of which credit notes": _dec(credit_raw),
        }
        reason = "" if judged else "not judged (as-of month)"
        if off and values["difference %"] is None:
            reason = "invoiced revenue without any won deal"
        elif off:
            reason = f"{_fmt(values['difference %'])} % > {tolerance * 100:.0f} %"
        rows.append(MonthRow(month, values, off, reason))
    total_rel = _relative(total_crm, total_erp)
    total_off = total_rel is None or total_rel > period_tolerance
    offending = [r for r in rows if r.offending]
    metrics: dict[str, float | int | str] = {
        "month_tolerance_pct": float(tolerance * 100),
        "period_tolerance_pct": float(period_tolerance * 100),
        "months_judged": sum(1 for r in rows if r.month < as_of_month),
        "offending_months": len(offending),
        "crm_won_total": float(total_crm),
        "erp_net_invoiced_total": float(total_erp),
        "difference_total": float(total_erp - total_crm),
        "difference_total_pct": (
            float(total_rel * 100) if total_rel is not None and total_rel.is_finite() else -1.0
        ),
        "worst_month_pct": max(
            (
                float(r.values["difference %"])
                for r in rows
                if r.month < as_of_month and r.values["difference %"] is not None
            ),
            default=0.0,
        ),
    }
    passed = bool(rows) and not offending and not total_off
    if not rows:
        summary = "no won deal and no invoice up to the as-of month: nothing to reconcile"
    elif passed:
        summary = (
            f"CRM won {_fmt(total_crm)} vs ERP net invoiced {_fmt(total_erp)} over "
            f"{metrics['months_judged']} closed months ({metrics['difference_total_pct']:.2f} % "
            f"apart, tolerance {period_tolerance * 100:.0f} %), every month within "
            f"{tolerance * 100:.0f} % (worst {metrics['worst_month_pct']:.2f} %)"
        )
    else:
        parts = [f"{r.month.isoformat()[:7]} ({r.reason})" for r in offending[:6]]
        if total_off:
            parts.insert(
                0,
                f"whole period {metrics['difference_total_pct']:.2f} % > "
                f"{period_tolerance * 100:.0f} %",
            )
        summary = "CRM won amount and ERP net invoiced revenue are out of tolerance: " + ", ".join(
            parts
        )
    return Reconciliation("crm_vs_erp", passed, summary, metrics, rows)
