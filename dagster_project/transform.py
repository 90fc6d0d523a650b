"""dbt: the whole project as one @dbt_assets, its tests as asset checks."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from dagster_project.resources import WAREHOUSE_POOL, RefreshLockResource, dbt_environment
from pilotage.dbt import vars_args
from pilotage.settings import DBT_PROJECT_DIR, Settings

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class PilotageDbtTranslator(DagsterDbtTranslator):
    """Models are keyed ``[schema, model]`` (e.g. ``marts/fct_revenue``) and grouped by layer;
    sources keep dagster-dbt's ``[source, table]`` key, the one the dlt assets carry."""

    def get_asset_spec(
        self,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if node is None or node["resource_type"] not in ("model", "seed", "snapshot"):
            return spec
        schema = node["config"].get("schema") or node["schema"]
        return spec.replace_attributes(key=AssetKey([schema, node["alias"]]), group_name=schema)


def build_dbt_assets(settings: Settings):
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=PilotageDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, refresh_lock: RefreshLockResource
    ):
        # Unit tests check the models' SQL on fixed inputs, not the data: they run in CI (make
        # test builds the project with them on DuckDB and PostgreSQL), not on every refresh.
        with dbt_environment(settings):
            invocation = dbt.cli(
                ["build", "--exclude-resource-type", "unit_test", *vars_args(settings)],
                context=context,
            )
        yield from invocation.stream()

    return dbt_models
