"""dlt: one multi-asset per source system, keyed like the dbt sources that read it."""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MetadataValue
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from dagster_project.resources import WAREHOUSE_POOL
from ingestion.pipeline import SYSTEMS, make_pipeline, source_for
from ingestion.quarantine import list_quarantine, quarantine_counts
from pilotage.settings import Settings


class PilotageDltTranslator(DagsterDltTranslator):
    """Key each raw table ``[system, table]``, the key dagster-dbt gives the matching dbt source,
    so the lineage runs from dlt through dbt without a gap."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=AssetKey([data.resource.source_name, data.resource.name]),
            deps=[],
            group_name="ingestion",
        )


def build_dlt_assets(settings: Settings) -> list:
    return [_dlt_load(system, settings) for system in SYSTEMS]


def _dlt_load(system: str, settings: Settings):
    @dlt_assets(
        dlt_source=source_for(system, settings),
        dlt_pipeline=make_pipeline(system, settings.warehouse_path, settings.dlt_pipelines_dir),
        name=f"load_{system}",
        dagster_dlt_translator=PilotageDltTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def _load(context: AssetExecutionContext, dlt: DagsterDltResource):
        # A fresh source every run: dagster-dlt alters the schema of the source object it ran
        # (dagster-io/dagster#34052), so a second run of the same object would fail.
        for event in dlt.run(context=context, dlt_source=source_for(system, settings)):
            if event.asset_key == AssetKey([system, "quarantine"]):
                event = _with_quarantine_metadata(event, system, settings)
            yield event

    return _load


def _with_quarantine_metadata(event, system: str, settings: Settings):
    """Bad rows set aside by this load, where a data engineer looks first: the run's metadata."""
    counts = quarantine_counts(settings.warehouse_path, system)
    preview = list_quarantine(settings.warehouse_path, system, limit=20)
    lines = ["| file | line | field | value | reason |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {r['source_file']} | {r['line']} | {r['field']} | {r['value']} | {r['reason']} |"
        for r in preview
    ]
    return event._replace(
        metadata={
            **(event.metadata or {}),
            "quarantined_rows": MetadataValue.int(sum(counts.values())),
            "quarantined_by_object": MetadataValue.json(counts),
            "quarantine_preview": MetadataValue.md("\n".join(lines) if preview else "none"),
        }
    )
