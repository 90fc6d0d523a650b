"""Checks on the marts that dashboards read, run by Dagster after the models are built.

- Great Expectations suites (pilotage/quality.py): blocking, one per fact and KPI mart.
- Reconciliations (pilotage/reconciliation.py):
  - ``marts/kpi_rep_month`` ``reconciles_with_facts``: the mart's monthly totals equal the facts'.
    Blocking, severity ERROR: a difference is a bug in the models (a lost join, a double count),
    and a dashboard that disagrees with its own detail rows must not be published.
  - ``marts/fct_revenue`` ``crm_won_vs_erp_invoiced``: the CRM's won amount against the ERP's net
    invoiced revenue per month, within the tolerance declared in pilotage/reconciliation.py.
    Not blocking, severity WARN: the two systems drift apart for business reasons (a won deal not
    invoiced yet, a credit note, an amount edited in the CRM only), not because the warehouse is
    wrong. The published numbers are still the right numbers of each system, so the drift should
    alert someone (it shows as a warning in Dagster, with the months) rather than stop the
    dashboards.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from dagster_project.resources import WAREHOUSE_POOL
from pilotage.quality import SUITES, SuiteResult, validate_table
from pilotage.reconciliation import Reconciliation, crm_vs_erp, mart_vs_facts
from pilotage.settings import Settings


def build_quality_checks(settings: Settings) -> list:
    return [_suite_check(settings, table) for table in SUITES]


def build_reconciliation_checks(settings: Settings) -> list:
    return [_mart_vs_facts_check(settings), _crm_vs_erp_check(settings)]


def _failures_markdown(result: SuiteResult) -> str:
    lines = [
        f"- `{o.expectation}` {o.column or ''}: {o.unexpected_count} rows, e.g. {o.sample[:5]}"
        for o in result.failures
    ]
    return "\n".join(lines) or "none"


def _suite_check(settings: Settings, table: str):
    @asset_check(
        asset=AssetKey(["marts", table]),
        name="great_expectations",
        description=f"Great Expectations suite of marts.{table} (pilotage/quality.py).",
        blocking=True,
        pool=WAREHOUSE_POOL,
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        result = validate_table(settings.warehouse_path, table, settings.as_of)
        context.log.info(result.summary())
        return AssetCheckResult(
            passed=result.success,
            severity=AssetCheckSeverity.ERROR,
            description=result.summary(),
            metadata={
                "rows": result.rows,
                "expectations": len(result.outcomes),
                "failed_expectations": len(result.failures),
                "failures": MetadataValue.md(_failures_markdown(result)),
            },
        )

    return _check


def _reconciliation_result(
    context: AssetCheckExecutionContext, result: Reconciliation, severity: AssetCheckSeverity
) -> AssetCheckResult:
    if result.passed:
        context.log.info(result.summary)
    else:
        context.log.warning(result.summary)
    return AssetCheckResult(
        passed=result.passed,
        severity=severity,
        description=result.summary,
        metadata={
            **result.metrics,
            "offending": MetadataValue.md(
                ", ".join(m.isoformat()[:7] for m in result.offending_months) or "none"
            ),
            "months": MetadataValue.md(result.markdown()),
        },
    )


def _mart_vs_facts_check(settings: Settings):
    @asset_check(
        asset=AssetKey(["marts", "kpi_rep_month"]),
        name="reconciles_with_facts",
        description=(
            "Monthly totals of kpi_rep_month (revenue, cost, gross margin, quantity, activity "
            "counts) equal fct_revenue and fct_activities over the rep-months it covers "
            "(pilotage/reconciliation.py). Blocking: a difference is a modelling bug."
        ),
        blocking=True,
        additional_deps=[AssetKey(["marts", "fct_revenue"]), AssetKey(["marts", "fct_activities"])],
        pool=WAREHOUSE_POOL,
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        result = mart_vs_facts(settings.warehouse_path)
        return _reconciliation_result(context, result, AssetCheckSeverity.ERROR)

    return _check


def _crm_vs_erp_check(settings: Settings):
    @asset_check(
        asset=AssetKey(["marts", "fct_revenue"]),
        name="crm_won_vs_erp_invoiced",
        description=(
            "CRM won amount (won opportunities by close month) against ERP net invoiced revenue "
            "(by invoice month), per closed month and over the period, within the tolerance "
            "declared in pilotage/reconciliation.py. A warning, not blocking: business drift "
            "alerts, it does not stop the dashboards."
        ),
        blocking=False,
        additional_deps=[AssetKey(["staging", "stg_crm__opportunities"])],
        pool=WAREHOUSE_POOL,
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        result = crm_vs_erp(settings.warehouse_path, settings.as_of)
        return _reconciliation_result(context, result, AssetCheckSeverity.WARN)

    return _check
