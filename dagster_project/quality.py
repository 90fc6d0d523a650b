"""Great Expectations suites as blocking asset checks on the marts that dashboards read."""

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
from pilotage.settings import Settings


def build_quality_checks(settings: Settings) -> list:
    return [_suite_check(settings, table) for table in SUITES]


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
