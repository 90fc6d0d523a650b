"""`pilotage kpis`: the KPI catalogue (dbt/kpis.yml) and the files generated from it."""

from __future__ import annotations

import click

from pilotage_cli.app import prepare_dbt, settings_for


@click.command()
@click.option(
    "--check/--write",
    "check",
    default=True,
    help="--check (default): exit 1 when a generated file differs from the catalogue or the "
    "dbt models. --write: regenerate them.",
)
def kpis(check: bool) -> None:
    """The KPI catalogue (dbt/kpis.yml) and the dbt marts: check or regenerate what derives.

    The dbt macros kpi() and kpi_threshold(), the dbt doc blocks of the KPI columns, the
    Superset datasets' metrics and docs/kpis.md are generated from the catalogue; the Superset
    datasets' columns from the dbt models (parsed first) and the catalogue's labels. Change a
    formula there, or a model's columns, then run `pilotage kpis --write`.
    """
    from pilotage import kpi_catalogue, superset_columns

    # a fresh manifest: a model's columns changed without a parse are still seen
    prepare_dbt(settings_for(), quiet=True)
    manifest = superset_columns.load_manifest()
    if kpi_catalogue.run(write=not check, echo=click.echo, manifest=manifest):
        raise SystemExit(1)
