"""The pipeline's commands: generate demo extracts, parse dbt, refresh (the Dagster job), check
the gates, publish the serving file, and `demo`, all of it on demo data."""

from __future__ import annotations

import dataclasses
import getpass
import re
import sys
import time

import click

from pilotage.settings import Settings, as_of_pinned
from pilotage_cli.app import (
    AS_OF,
    DATA_DIR,
    fail,
    prepare_dagster_home,
    prepare_dbt,
    settings_for,
    step,
)


@click.command()
@click.option("--seed", default=42, show_default=True, help="Random seed: same seed, same files.")
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    help="Size multiplier: 1 is a few dozen reps and tens of thousands of activities.",
)
@click.option("--clean", is_flag=True, help="Delete the extract files already landed first.")
@click.option(
    "--profile",
    type=click.Choice(["demo", "large"]),
    default="demo",
    show_default=True,
    help="Volumes per rep and per order: 'large' (busier reps, long orders) at --scale 67 is "
    "2,000 reps, 10 million activities, 2 million invoice lines (docs/scale.md).",
)
@click.option(
    "--drops",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Also write N daily drops after the as-of date, each holding only that day's changes "
    "(new records, stage moves, amount revisions, a team change, a revised target, deletions, "
    "cancelled invoices), in an adversarial delivery order: a drop late after a newer one, a "
    "drop delivered twice, the last one again under another name (ingestion/demo/drops.py).",
)
@AS_OF
@DATA_DIR
def generate(
    seed: int,
    scale: float,
    clean: bool,
    profile: str,
    drops: int,
    as_of: str | None,
    data_dir: str | None,
) -> None:
    """Write deterministic demo CRM and ERP extracts into the landing folder.

    Twelve months of activity ending with the as-of month, in the shapes Salesforce-style CRMs
    and ERPs export (see ingestion/README.md). With --drops N, N daily drops of changes follow.
    """
    settings = settings_for(as_of, data_dir)
    if drops:
        _generate_drops(settings, seed, scale, drops, clean, profile)
    else:
        _generate(settings, seed, scale, clean, profile)


def _generate_drops(
    settings: Settings, seed: int, scale: float, days: int, clean: bool, profile: str
) -> None:
    from ingestion.demo.drops import generate_drops
    from ingestion.extracts import ALL_EXTRACTS

    step(
        f"generating the demo and {days} daily drops (seed {seed}, scale {scale}) into "
        f"{settings.landing_dir}"
    )
    sequence = generate_drops(
        seed=seed, scale=scale, as_of=settings.as_of, days=days, profile=profile
    )
    if clean:
        for extract in ALL_EXTRACTS:
            for path in extract.files(settings.landing_dir):
                path.unlink()
    for delivery in sequence.deliveries:
        files = delivery.write(settings.landing_dir)
        rows = sum(len(r) for r in delivery.files.values())
        click.echo(
            f"    drop {delivery.drop} as *_{delivery.name}: {delivery.kind}, "
            f"{len(files)} files, {rows:,} rows"
        )
    current = sum(len(rows) for rows in sequence.truth.values())
    click.echo(f"    final state: {current:,} current records (deleted ones excluded)")


def _generate(
    settings: Settings, seed: int, scale: float, clean: bool = False, profile: str = "demo"
) -> None:
    from ingestion.demo.generator import generate as generate_extracts

    step(f"generating demo extracts (seed {seed}, scale {scale}) into {settings.landing_dir}")
    started = time.monotonic()
    counts = generate_extracts(
        settings.landing_dir,
        seed=seed,
        scale=scale,
        as_of=settings.as_of,
        clean=clean,
        profile=profile,
    )
    total = sum(counts.values())
    click.echo(f"    {total:,} rows in {len(counts)} files ({time.monotonic() - started:.1f} s)")


@click.command("dbt-parse")
@click.option("--quiet", is_flag=True, help="Only print errors.")
def dbt_parse(quiet: bool) -> None:
    """Parse the dbt project into dbt/target/manifest.json (Dagster and sqlfluff read it)."""
    prepare_dbt(settings_for(), quiet)


@click.command()
@AS_OF
@DATA_DIR
@click.option(
    "--wait",
    "wait_seconds",
    type=click.IntRange(min=0),
    metavar="SECONDS",
    help="How long to wait for a refresh of the same warehouse already running (started by "
    "the schedule, the landing sensor or someone else) before giving up. "
    "Default: $PILOTAGE_REFRESH_WAIT_SECONDS, else 3600; 0 gives up at once.",
)
def refresh(as_of: str | None, data_dir: str | None, wait_seconds: int | None) -> None:
    """Run the full refresh as a Dagster job: load extracts (dlt), build the models and run their
    tests (dbt: the gates and the warnings), validate the deliveries (Great Expectations, warnings
    only) and publish the serving file. The source systems read are $PILOTAGE_SOURCES (crm,erp).

    One refresh at a time per warehouse: if another is running, this one waits for it (saying
    which run it waits for), up to --wait seconds. Killing a refresh stops its dbt too; the
    next refresh cleans up what a crashed one left.

    The run is recorded in $DAGSTER_HOME (default: <data dir>/dagster_home), so it shows in the
    Dagster UI. A failing blocking check stops the run before publishing: dashboards keep the
    last good data.
    """
    settings = settings_for(as_of, data_dir)
    if wait_seconds is not None:
        settings = dataclasses.replace(settings, refresh_wait_seconds=wait_seconds)
    run_refresh(settings)


def has_extracts(settings: Settings) -> bool:
    """Whether the company's sources have something to load: extract files of any declared format
    under the landing folder, or the ERP's live database."""
    from ingestion.extracts import ALL_EXTRACTS

    if "erp" in settings.sources and settings.erp_database_url:
        return True
    return any(
        extract.files(settings.landing_dir)
        for extract in ALL_EXTRACTS
        if extract.system in settings.sources
    )


def run_refresh(settings: Settings) -> None:
    """The full_refresh job of dagster_project, in this process, recorded in $DAGSTER_HOME."""
    if not has_extracts(settings):
        fail(
            f"No extract files under {settings.landing_dir}. Generate demo data with "
            "`pilotage generate`, or drop your CRM/ERP extracts there (see ingestion/README.md)."
        )
    home = prepare_dagster_home(settings)
    prepare_dbt(settings)
    step(
        f"running the full_refresh Dagster job (as of {settings.as_of}, sources: "
        f"{', '.join(settings.sources)})"
    )
    from dagster import DagsterInstance

    from dagster_project.definitions import build_definitions
    from dagster_project.resources import TRIGGER_TAG

    started = time.monotonic()
    defs = build_definitions(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        result = defs.resolve_job_def("full_refresh").execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={TRIGGER_TAG: f"pilotage refresh by {getpass.getuser()}"},
            # Step progress, not Dagster's debug event stream (the full log is in the UI).
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    elapsed = time.monotonic() - started
    if not result.success:
        refused = _refusal(result.all_events)
        if refused:
            fail(f"{refused} Nothing was refreshed (run id {result.run_id}).")
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        fail(
            f"The refresh failed after {elapsed:.0f} s (steps: {', '.join(failed) or 'see log'}). "
            "Nothing was published: dashboards keep the last good data. The log above says what "
            f"failed; the run is also in the Dagster UI (run id {result.run_id})."
        )
    served = (
        f"serving database {settings.postgres.serving_database}"
        if settings.on_postgres
        else settings.serving_path
    )
    click.secho(f"    refresh done in {elapsed:.0f} s, published {served}", fg="green")


def _refusal(events) -> str | None:
    """The message of a run that never got the warehouse: another refresh held it too long, or
    another program holds the DuckDB file (pilotage/refresh_lock.py)."""
    for event in events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            if error.cls_name in ("RefreshBusy", "WarehouseLocked"):
                return error.message.split(": ", 1)[-1].strip()
            error = error.cause
    return None


@click.command()
@AS_OF
@DATA_DIR
def check(as_of: str | None, data_dir: str | None) -> None:
    """Run the gates (every dbt test: blocking business rules, conservation from the extracts
    to the marts, and the warnings) and validate the latest deliveries (Great Expectations,
    warnings only, with a Data Docs report). Exit 1 when a gate fails (docs/data_quality.md)."""
    settings = settings_for(as_of, data_dir)
    gates_pass = _checks_pass(settings)
    step("validating the latest deliveries (Great Expectations, warnings only)")
    from pilotage.quality import validate_deliveries
    from pilotage.warehouse import warehouse_of

    for system in settings.sources:
        report = validate_deliveries(
            warehouse_of(settings),
            system,
            settings.data_dir / "quality",
            "pilotage-check",
            as_of=settings.as_of,
        )
        click.secho(f"    {system}: {report.summary()}", fg="yellow" if report.warnings else None)
    if not gates_pass:
        sys.exit(1)


# dbt test's lines worth showing: each failed or warning test, where its rows are kept, totals
_TEST_OUTCOME = re.compile(
    r"(Failure|Warning) in test (\S+)|select \* from \S*dbt_test__audit\S*|Done\. PASS=.*"
)


def _checks_pass(settings: Settings) -> bool:
    """The gates, as Dagster runs them before publishing: every dbt test of the project."""
    from pilotage.dbt import DbtError, check_project
    from pilotage.warehouse import describe, exists, warehouse_of

    warehouse = warehouse_of(settings)
    if not exists(warehouse):
        fail(f"No warehouse at {describe(warehouse)}: run `pilotage refresh` first.")
    step(f"gates on {describe(warehouse)} (dbt tests, docs/data_quality.md)")
    try:
        output, passed = check_project(settings).stdout, True
    except DbtError as exc:
        output, passed = str(exc), False
    failures = 0
    for match in _TEST_OUTCOME.finditer(output):
        failed = match.group(1) == "Failure"
        failures += failed
        click.secho(
            f"    {match.group(0)}", fg="red" if failed else "yellow" if match.group(1) else None
        )
    if not passed and not failures:  # dbt itself failed (compilation, a missing relation)
        click.secho(output[-3000:], fg="red", err=True)
    return passed


@click.command()
@AS_OF
@DATA_DIR
def publish(as_of: str | None, data_dir: str | None) -> None:
    """Run the quality checks, then swap the marts into the serving file Superset reads (on
    PILOTAGE_WAREHOUSE_ENGINE=postgres: into the idle blue/green schema of the serving database,
    then the serving views onto it).

    Use after a manual dbt run; `pilotage refresh` already publishes. Refuses when a check fails.
    """
    from pilotage.publish import PublishError, publish_warehouse

    settings = settings_for(as_of, data_dir)
    if not _checks_pass(settings):
        fail("Quality checks failed: nothing published, the previous serving file stays.")
    try:
        result = publish_warehouse(settings)
    except PublishError as exc:
        fail(str(exc))
    click.secho(f"published {len(result.row_counts)} tables to {result.served_at}", fg="green")


@click.command()
@click.option("--no-serve", is_flag=True, help="Build and publish, but start no server.")
@click.option("--seed", default=42, show_default=True, help="Demo data seed.")
@click.option("--scale", default=1.0, show_default=True, help="Demo data size multiplier.")
@click.option(
    "--regenerate", is_flag=True, help="Rewrite the demo extracts even if some already exist."
)
@AS_OF
@DATA_DIR
def demo(
    no_serve: bool,
    seed: int,
    scale: float,
    regenerate: bool,
    as_of: str | None,
    data_dir: str | None,
) -> None:
    """The whole thing on demo data: extracts, warehouse, checks, publish, Superset, Dagster.

    Safe to run again: existing extracts are kept (unless --regenerate), loads merge on primary
    keys, the dashboards are re-imported in place.
    """
    from pilotage_cli.servers import bootstrap_superset, run_servers

    settings = settings_for(as_of, data_dir)
    started = time.monotonic()
    if regenerate or not has_extracts(settings):
        _generate(settings, seed, scale, clean=regenerate)
    else:
        click.echo(f"    keeping the extracts already in {settings.landing_dir}")
    run_refresh(settings)
    bootstrap_superset(settings)
    click.secho(f"demo ready in {time.monotonic() - started:.0f} s", fg="green", bold=True)
    if not no_serve:
        run_servers(settings, 8088, 3000, pin_as_of=as_of_pinned(as_of))
