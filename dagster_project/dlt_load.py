"""dlt: one multi-asset per source system, keyed like the dbt sources that read it.

Each asset runs ``ingestion.pipeline.load``, the one load path (the tests and scripts call it
too): the pipeline, the source, the errors that name file, line and column
(``ExtractFileError``, ``SchemaContractError``) and the checks after the load are defined there,
not here. Here: the asset specs and each materialization's metadata.
"""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from dagster_project.resources import WAREHOUSE_POOL, RefreshLockResource
from ingestion.pipeline import SYSTEMS, load, make_pipeline, source_for
from ingestion.quarantine import QUARANTINE_TABLE, list_quarantine, quarantine_counts
from pilotage.settings import Settings
from pilotage.warehouse import warehouse_of


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
    return [_load_asset(system, settings) for system in SYSTEMS]


def _load_asset(system: str, settings: Settings):
    # The source and pipeline given here only describe the assets (no file or database is read).
    @dlt_assets(
        dlt_source=source_for(system, settings),
        dlt_pipeline=make_pipeline(system, warehouse_of(settings), settings.dlt_pipelines_dir),
        name=f"load_{system}",
        dagster_dlt_translator=PilotageDltTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def _load(
        context: AssetExecutionContext,
        dlt: DagsterDltResource,
        refresh_lock: RefreshLockResource,  # held for the whole run, first step to last
    ):
        # A fresh source every run: dlt alters the schema of the source object it ran
        # (dagster-io/dagster#34052), so a second run of the same object would fail.
        source = source_for(system, settings)
        if context.is_subset:
            selected = {key.path[-1] for key in context.selected_asset_keys}
            source = source.with_resources(*(n for n in source.resources if n in selected))
        info = load(system, settings, source=source, progress=None)
        for name, resource in source.selected_resources.items():
            metadata = dlt.extract_resource_metadata(context, resource, info, info.pipeline)
            if name == QUARANTINE_TABLE:
                metadata = {**metadata, **_quarantine_metadata(system, settings)}
            yield MaterializeResult(asset_key=AssetKey([system, name]), metadata=metadata)

    return _load


def _quarantine_metadata(system: str, settings: Settings) -> dict:
    """Bad rows set aside by this load, where a data engineer looks first: the run's metadata."""
    counts = quarantine_counts(warehouse_of(settings), system)
    preview = list_quarantine(warehouse_of(settings), system, limit=20)
    lines = ["| file | line | field | value | reason |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {r['source_file']} | {r['line']} | {r['field']} | {r['value']} | {r['reason']} |"
        for r in preview
    ]
    return {
        "quarantined_rows": MetadataValue.int(sum(counts.values())),
        "quarantined_by_object": MetadataValue.json(counts),
        "quarantine_preview": MetadataValue.md("\n".join(lines) if preview else "none"),
    }
