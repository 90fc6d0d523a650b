"""`pilotage map-crm` and `pilotage quarantine`: another CRM's export into the canonical
extracts, and the extract rows the loads set aside."""

from __future__ import annotations

from pathlib import Path

import click

from pilotage_cli.app import AS_OF, DATA_DIR, echo_lines, fail, log, settings_for, step


@click.command("map-crm")
@click.option(
    "--mapping",
    required=True,
    help="A shipped mapping (hubspot, pipedrive, maven_crm) or the path of your own mapping YAML.",
)
@click.option(
    "--export-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder holding the CRM's export files.",
)
@click.option("--drop", help="Name of this drop in the landing files. Default: the as-of day.")
@AS_OF
@DATA_DIR
def map_crm(
    mapping: str, export_dir: str, drop: str | None, as_of: str | None, data_dir: str | None
) -> None:
    """Turn another CRM's export (HubSpot, Pipedrive, ...) into the canonical CRM extracts.

    The mapping YAML says how the export is written and which export columns and values become
    which canonical ones (docs/crm_mappings.md). First it reports which KPIs the mapping can
    support; then it converts. Rows with a bad value are left out and filed for the
    raw_crm.quarantine table (or stop the conversion under on_bad_value: fail). Then run
    `pilotage refresh` to load, build and publish.
    """
    settings = settings_for(as_of, data_dir)
    drop = drop or settings.as_of.strftime("%Y%m%d")
    try:
        _map_crm(mapping, Path(export_dir), settings.landing_dir, drop)
    except (ValueError, OSError) as exc:  # MappingError, ExportError: located messages
        fail(str(exc))
    except Exception as exc:  # never a bare traceback
        log.debug("map-crm failed", exc_info=True)
        fail(f"{type(exc).__name__}: {exc} (pilotage -v map-crm ... shows the traceback)")


def _map_crm(name: str, export_dir: Path, landing_dir: Path, drop: str) -> None:
    from ingestion.mapping import convert, coverage_report, load_mapping, resolve_mapping
    from pilotage.kpi_catalogue import load_catalogue

    mapping = load_mapping(resolve_mapping(name))
    catalogue = load_catalogue()
    step(f"what the KPIs need (dbt/kpis.yml) and what mapping {mapping.name} fills")
    before = coverage_report(mapping, catalogue=catalogue)
    echo_lines(before.lines())
    step(f"converting the export in {export_dir} into {landing_dir} (drop {drop})")
    result = convert(mapping, export_dir, landing_dir, drop)
    for count_name, rows in result.counts.items():
        click.echo(f"    {count_name}: {rows:,}")
    if result.bad_rows:
        _echo_quarantine(result)
    after = coverage_report(mapping, result.filled, catalogue)
    if after.lines() != before.lines():
        step("coverage of this export (mapped columns that came out empty count as missing)")
        echo_lines(after.lines())
    click.secho(
        "    next: `pilotage refresh` loads the landing folder, builds, checks and publishes",
        fg="green",
    )


def _echo_quarantine(result, shown: int = 10) -> None:
    rows = {(b.source_file, b.line) for b in result.bad_rows}
    click.secho(
        f"    {len(rows)} row(s) with {len(result.bad_rows)} bad value(s) left out, filed in "
        f"{result.quarantine_file} (loaded into raw_crm.quarantine by `pilotage refresh`):",
        fg="yellow",
    )
    for bad in result.bad_rows[:shown]:
        click.echo(f"      {bad.message}")
    if len(result.bad_rows) > shown:
        click.echo(f"      ... and {len(result.bad_rows) - shown} more (see the file)")


@click.command()
@click.option("--system", type=click.Choice(["crm", "erp"]), help="Only this source system.")
@click.option("--limit", default=100, show_default=True, help="Rows to show, newest load first.")
@DATA_DIR
def quarantine(system: str | None, limit: int, data_dir: str | None) -> None:
    """List the extract rows set aside by the loads, with file, line, field, value and reason.

    Fix the source and send a new drop: corrected rows load, the quarantine keeps the history.
    """
    from ingestion.quarantine import list_quarantine
    from pilotage.warehouse import describe, warehouse_of

    settings = settings_for(data_dir=data_dir)
    rows = list_quarantine(warehouse_of(settings), system, limit)
    if not rows:
        click.secho(f"No quarantined rows in {describe(warehouse_of(settings))}.", fg="green")
        return
    for r in rows:
        click.echo(
            f"{r['system']}  {r['source_file']}:{r['line']}  {r['object']}.{r['field']}"
            f"={r['value']!r}  {r['reason']}"
        )
    click.echo(f"({len(rows)} rows shown; --limit shows more)")
