"""`pilotage kpis`: the KPI catalogue (dbt/kpis.yml) and the files generated from it."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--check/--write",
    "check",
    default=True,
    help="--check (default): exit 1 when a generated file differs from the catalogue. "
    "--write: regenerate them.",
)
def kpis(check: bool) -> None:
    """The KPI catalogue (dbt/kpis.yml): check or regenerate what derives from it.

    The dbt macros kpi() and kpi_threshold(), the dbt doc blocks of the KPI columns, the
    Superset datasets' metrics and docs/kpis.md are generated from the catalogue. Change a
    formula there, then run `pilotage kpis --write`.
    """
    from pilotage import kpi_catalogue

    if kpi_catalogue.run(write=not check, echo=click.echo):
        raise SystemExit(1)
