"""Checks around the models, run by Dagster in the refresh.

- The blocking gates are dbt tests: dagster-dbt runs them in ``dbt build`` as asset checks of
  the models they test (the conservation tests of dbt/tests/conservation are attached to the
  marts they check). A failing one fails the build, so the publish does not run and the
  dashboards keep the last good data. docs/data_quality.md lists every gate and its rule.
- Each delivery is validated at the door by Great Expectations (pilotage/quality.py): one
  non-blocking check per raw table, severity WARN, with the Data Docs report of the run linked
  in its metadata. Suspicious-but-possible values warn; they never stop the dashboards.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from dagster_project.resources import WAREHOUSE_POOL, RefreshLockResource
from ingestion.extracts import extracts_of
from ingestion.pipeline import SYSTEMS
from pilotage.quality import DeliveryResult, validate_deliveries
from pilotage.settings import Settings
from pilotage.warehouse import warehouse_of

CHECK_NAME = "delivery_validation"


def build_delivery_checks(settings: Settings) -> list:
    """One check per source system the company has (a system it does not have is not read)."""
    return [_delivery_check(settings, system) for system in SYSTEMS if system in settings.sources]


def _warnings_markdown(result: DeliveryResult) -> str:
    lines = [
        f"- `{o.expectation}` {o.column or ''}: {o.unexpected_count} rows, e.g. {o.sample[:5]}"
        for o in result.warnings
    ]
    return "\n".join(lines) or "none"


def _delivery_check(settings: Settings, system: str):
    specs = [
        AssetCheckSpec(
            CHECK_NAME,
            asset=AssetKey([system, extract.table]),
            blocking=False,
            description=(
                f"Great Expectations on the latest delivery of raw_{system}.{extract.table}: "
                "dates years ahead, negative amounts, amounts 100x their median warn "
                "(pilotage/quality.py). Never blocks."
            ),
        )
        for extract in extracts_of(system)
    ]

    @multi_asset_check(specs=specs, name=f"{system}_{CHECK_NAME}", pool=WAREHOUSE_POOL)
    def _check(context: AssetCheckExecutionContext, refresh_lock: RefreshLockResource):
        report = validate_deliveries(
            warehouse_of(settings),
            system,
            settings.data_dir / "quality",
            run_name=context.run.run_id,
            as_of=settings.as_of,
        )
        context.log.info(report.summary())
        docs = {"data_docs": MetadataValue.path(str(report.data_docs))} if report.data_docs else {}
        for result in report.results:
            yield AssetCheckResult(
                asset_key=AssetKey([system, result.table.split(".", 1)[1]]),
                check_name=CHECK_NAME,
                passed=result.success,
                severity=AssetCheckSeverity.WARN,
                description=result.summary(),
                metadata={
                    "rows": result.rows,
                    "load_id": result.load_id or "",
                    "warnings": MetadataValue.md(_warnings_markdown(result)),
                    **docs,
                },
            )

    return _check
