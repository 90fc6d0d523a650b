"""The `pilotage` command line: every step of the pipeline, and the whole demo in one command.

Paths and the as-of date come from the environment (see .env.example and pilotage/settings.py);
options override them for one command.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from pilotage.settings import (
    PROJECT_ROOT,
    SERVED_SCHEMAS,
    Settings,
    load_settings,
    parse_as_of,
)

log = logging.getLogger("pilotage")


def _step(message: str) -> None:
    click.secho(f"==> {message}", fg="cyan", bold=True)


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _apply_options(as_of: str | None = None, data_dir: str | None = None) -> Settings:
    """Options win over the environment; the result is exported for subprocesses (dbt, Dagster)."""
    if data_dir:
        os.environ["PILOTAGE_DATA_DIR"] = str(Path(data_dir).resolve())
    if as_of:
        try:
            parse_as_of(as_of)
        except ValueError as exc:
            _fail(str(exc))
        os.environ["PILOTAGE_AS_OF"] = as_of
    try:
        settings = load_settings()
    except ValueError as exc:
        _fail(str(exc))
    os.environ["PILOTAGE_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    os.environ["PILOTAGE_SERVING_PATH"] = str(settings.serving_path)
    os.environ["PILOTAGE_LANDING_DIR"] = str(settings.landing_dir)
    os.environ["PILOTAGE_AS_OF"] = settings.as_of.isoformat()
    os.environ.setdefault("DAGSTER_HOME", str(settings.data_dir / "dagster_home"))
    # This environment's tools (dbt, dagster) for every subprocess, even when run without `uv run`.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return settings


AS_OF = click.option(
    "--as-of",
    metavar="YYYY-MM-DD",
    help="The day pacing is computed for ('today'). Default: $PILOTAGE_AS_OF, else today.",
)
DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Folder for extracts, warehouse, serving file and service homes. "
    "Default: $PILOTAGE_DATA_DIR, else ./data.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
def main(verbose: bool) -> None:
    """pilotage: sales-performance warehouse and dashboards from your CRM and ERP extracts.

    \b
    Typical use:
      pilotage demo              everything on demo data, then serve the dashboards
      pilotage demo --no-serve   the same without starting the servers (scripts, cron)
      pilotage refresh           load new extracts, rebuild, check and publish
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Libraries' chatter stays out of the progress log unless asked for.
    for noisy in ("great_expectations", "dlt"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.command()
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
    settings = _apply_options(as_of, data_dir)
    if drops:
        _generate_drops(settings, seed, scale, drops, clean, profile)
    else:
        _generate(settings, seed, scale, clean, profile)


def _generate_drops(
    settings: Settings, seed: int, scale: float, days: int, clean: bool, profile: str
) -> None:
    from ingestion.demo.drops import generate_drops
    from ingestion.extracts import ALL_EXTRACTS

    _step(
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

    _step(f"generating demo extracts (seed {seed}, scale {scale}) into {settings.landing_dir}")
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


@main.command("map-crm")
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
    settings = _apply_options(as_of, data_dir)
    drop = drop or settings.as_of.strftime("%Y%m%d")
    try:
        _map_crm(mapping, Path(export_dir), settings.landing_dir, drop)
    except (ValueError, OSError) as exc:  # MappingError, ExportError: located messages
        _fail(str(exc))
    except Exception as exc:  # never a bare traceback
        log.debug("map-crm failed", exc_info=True)
        _fail(f"{type(exc).__name__}: {exc} (pilotage -v map-crm ... shows the traceback)")


def _map_crm(name: str, export_dir: Path, landing_dir: Path, drop: str) -> None:
    from ingestion.mapping import convert, coverage_report, load_mapping, resolve_mapping

    mapping = load_mapping(resolve_mapping(name))
    _step(f"what the KPIs need (dbt/kpis.yml) and what mapping {mapping.name} fills")
    before = coverage_report(mapping)
    _echo_lines(before.lines())
    _step(f"converting the export in {export_dir} into {landing_dir} (drop {drop})")
    result = convert(mapping, export_dir, landing_dir, drop)
    for count_name, rows in result.counts.items():
        click.echo(f"    {count_name}: {rows:,}")
    if result.bad_rows:
        _echo_quarantine(result)
    after = coverage_report(mapping, result.filled)
    if after.lines() != before.lines():
        _step("coverage of this export (mapped columns that came out empty count as missing)")
        _echo_lines(after.lines())
    click.secho(
        "    next: `pilotage refresh` loads the landing folder, builds, checks and publishes",
        fg="green",
    )


def _echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"    {line}")


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


@main.command()
@click.option("--system", type=click.Choice(["crm", "erp"]), help="Only this source system.")
@click.option("--limit", default=100, show_default=True, help="Rows to show, newest load first.")
@DATA_DIR
def quarantine(system: str | None, limit: int, data_dir: str | None) -> None:
    """List the extract rows set aside by the loads, with file, line, field, value and reason.

    Fix the source and send a new drop: corrected rows load, the quarantine keeps the history.
    """
    from ingestion.quarantine import list_quarantine

    settings = _apply_options(data_dir=data_dir)
    rows = list_quarantine(settings.warehouse_path, system, limit)
    if not rows:
        click.secho(f"No quarantined rows in {settings.warehouse_path}.", fg="green")
        return
    for r in rows:
        click.echo(
            f"{r['system']}  {r['source_file']}:{r['line']}  {r['object']}.{r['field']}"
            f"={r['value']!r}  {r['reason']}"
        )
    click.echo(f"({len(rows)} rows shown; --limit shows more)")


@main.command()
@click.option(
    "--check/--write",
    "check",
    default=True,
    help="Check (default) or regenerate what dbt/kpis.yml derives.",
)
def kpis(check: bool) -> None:
    """The KPI catalogue (dbt/kpis.yml): check or regenerate the dbt macros, the Superset
    metrics and docs/kpis.md that derive from it. Change a formula there, then run --write."""
    from pilotage import kpi_catalogue

    if kpi_catalogue.run(write=not check, echo=click.echo):
        raise SystemExit(1)


@main.command("dbt-parse")
@click.option("--quiet", is_flag=True, help="Only print errors.")
def dbt_parse(quiet: bool) -> None:
    """Parse the dbt project into dbt/target/manifest.json (Dagster and sqlfluff read it)."""
    _prepare_dbt(_apply_options(), quiet)


def _prepare_dbt(settings: Settings, quiet: bool = False) -> None:
    from pilotage.dbt import DbtError, parse_project

    if not quiet:
        _step("parsing the dbt project")
    try:
        parse_project(settings)
    except DbtError as exc:
        _fail(str(exc))


def _prepare_dagster_home() -> Path:
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    template = PROJECT_ROOT / "dagster_project" / "dagster.yaml"
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != template.read_bytes():
        shutil.copyfile(template, target)
    return home


@main.command()
@AS_OF
@DATA_DIR
def refresh(as_of: str | None, data_dir: str | None) -> None:
    """Run the full refresh as a Dagster job: load extracts (dlt), build the models and run their
    tests (dbt: the gates and the warnings), validate the deliveries (Great Expectations, warnings
    only) and publish the serving file. The source systems read are $PILOTAGE_SOURCES (crm,erp).

    The run is recorded in $DAGSTER_HOME, so it shows in the Dagster UI. A failing blocking
    check stops the run before publishing: dashboards keep the last good data.
    """
    settings = _apply_options(as_of, data_dir)
    _refresh(settings)


def _refresh(settings: Settings) -> None:
    if not any(settings.landing_dir.glob("*/*/*.csv")):
        _fail(
            f"No extract files under {settings.landing_dir}. Generate demo data with "
            "`pilotage generate`, or drop your CRM/ERP extracts there (see ingestion/README.md)."
        )
    _prepare_dagster_home()
    _prepare_dbt(settings)
    _step(
        f"running the full_refresh Dagster job (as of {settings.as_of}, sources: "
        f"{', '.join(settings.sources)})"
    )
    from dagster import DagsterInstance

    from dagster_project.definitions import build_definitions

    started = time.monotonic()
    defs = build_definitions(settings)
    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def("full_refresh").execute_in_process(
            instance=instance,
            raise_on_error=False,
            # Step progress, not Dagster's debug event stream (the full log is in the UI).
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    elapsed = time.monotonic() - started
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        _fail(
            f"The refresh failed after {elapsed:.0f} s (steps: {', '.join(failed) or 'see log'}). "
            "Nothing was published: dashboards keep the last good data. The log above says what "
            f"failed; the run is also in the Dagster UI (run id {result.run_id})."
        )
    click.secho(
        f"    refresh done in {elapsed:.0f} s, published {settings.serving_path}", fg="green"
    )


@main.command()
@AS_OF
@DATA_DIR
def check(as_of: str | None, data_dir: str | None) -> None:
    """Run the gates (every dbt test: blocking business rules, conservation from the extracts
    to the marts, and the warnings) and validate the latest deliveries (Great Expectations,
    warnings only, with a Data Docs report). Exit 1 when a gate fails (docs/data_quality.md)."""
    settings = _apply_options(as_of, data_dir)
    gates_pass = _checks_pass(settings)
    _step("validating the latest deliveries (Great Expectations, warnings only)")
    from pilotage.quality import validate_deliveries

    for system in settings.sources:
        report = validate_deliveries(
            settings.warehouse_path,
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

    if not settings.warehouse_path.exists():
        _fail(f"No warehouse at {settings.warehouse_path}: run `pilotage refresh` first.")
    _step(f"gates on {settings.warehouse_path} (dbt tests, docs/data_quality.md)")
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


@main.command()
@AS_OF
@DATA_DIR
def publish(as_of: str | None, data_dir: str | None) -> None:
    """Run the quality checks, then swap the marts into the serving file Superset reads.

    Use after a manual dbt run; `pilotage refresh` already publishes. Refuses when a check fails.
    """
    from pilotage.publish import PublishError
    from pilotage.publish import publish as publish_serving

    settings = _apply_options(as_of, data_dir)
    if not _checks_pass(settings):
        _fail("Quality checks failed: nothing published, the previous serving file stays.")
    try:
        result = publish_serving(
            settings.warehouse_path, settings.serving_path, SERVED_SCHEMAS, settings.as_of
        )
    except PublishError as exc:
        _fail(str(exc))
    click.secho(f"published {len(result.row_counts)} tables to {result.serving_path}", fg="green")


@main.group()
def superset() -> None:
    """Superset: bootstrap (metadata, admin, roles, dashboards) and serve."""


@superset.command("bootstrap")
@DATA_DIR
def superset_bootstrap(data_dir: str | None) -> None:
    """Create or upgrade Superset's metadata, admin and roles; import the dashboards."""
    settings = _apply_options(data_dir=data_dir)
    _superset_bootstrap(settings)


def _superset_bootstrap(settings: Settings) -> None:
    from pilotage import superset_admin

    _step("bootstrapping Superset (metadata database, admin, roles, dashboards)")
    superset_admin.ensure_demo_secrets(settings)
    started = time.monotonic()
    superset_admin.bootstrap(settings)
    click.echo(f"    Superset ready ({time.monotonic() - started:.0f} s)")


@superset.command("serve")
@click.option("--port", default=8088, show_default=True)
@DATA_DIR
def superset_serve(port: int, data_dir: str | None) -> None:
    """Start only the Superset web server (Ctrl-C stops it)."""
    settings = _apply_options(data_dir=data_dir)
    _serve(settings, superset_port=port, dagster_port=None)


@main.command()
@click.option("--superset-port", default=8088, show_default=True)
@click.option("--dagster-port", default=3000, show_default=True)
@DATA_DIR
def serve(superset_port: int, dagster_port: int, data_dir: str | None) -> None:
    """Start Superset and the Dagster UI (with its daemon: schedule and landing sensor).

    Ctrl-C stops both.
    """
    settings = _apply_options(data_dir=data_dir)
    _serve(settings, superset_port, dagster_port)


@main.command()
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
    settings = _apply_options(as_of, data_dir)
    started = time.monotonic()
    if regenerate or not any(settings.landing_dir.glob("*/*/*.csv")):
        _generate(settings, seed, scale, clean=regenerate)
    else:
        click.echo(f"    keeping the extracts already in {settings.landing_dir}")
    _refresh(settings)
    _superset_bootstrap(settings)
    click.secho(f"demo ready in {time.monotonic() - started:.0f} s", fg="green", bold=True)
    if not no_serve:
        _serve(settings, 8088, 3000)


def _wait_http(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(1)
    return False


def _serve(settings: Settings, superset_port: int, dagster_port: int | None) -> None:
    from pilotage import superset_admin, superset_api

    superset_admin.ensure_demo_secrets(settings)
    processes: list[tuple[str, subprocess.Popen]] = []

    def stop(*_args) -> None:
        for _name, proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def terminated(*_args) -> None:
        raise KeyboardInterrupt  # `kill` stops the servers as cleanly as Ctrl-C does

    signal.signal(signal.SIGTERM, terminated)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        _step(f"starting Superset on http://127.0.0.1:{superset_port} (log: {logs}/superset.log)")
        superset_log = open(logs / "superset.log", "ab")  # noqa: SIM115 - lives as long as serve
        superset_proc = subprocess.Popen(
            superset_admin.serve_command(settings, port=superset_port),
            env={**os.environ, **superset_admin.superset_env(settings)},
            stdout=superset_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(("Superset", superset_proc))
        if dagster_port:
            _prepare_dagster_home()
            _prepare_dbt(settings, quiet=True)
            _step(f"starting Dagster on http://127.0.0.1:{dagster_port} (log: {logs}/dagster.log)")
            dagster_log = open(logs / "dagster.log", "ab")  # noqa: SIM115
            dagster_cmd = [str(Path(sys.executable).with_name("dagster")), "dev"]
            dagster_cmd += ["-m", "dagster_project.definitions"]
            dagster_cmd += ["-h", "127.0.0.1", "-p", str(dagster_port)]
            processes.append(
                (
                    "Dagster",
                    subprocess.Popen(
                        dagster_cmd,
                        cwd=PROJECT_ROOT,
                        stdout=dagster_log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ),
                )
            )
        if not _wait_http(f"http://127.0.0.1:{superset_port}/health", superset_proc, 180):
            _fail(f"Superset did not start: see {logs}/superset.log")
        if dagster_port and not _wait_http(
            f"http://127.0.0.1:{dagster_port}/server_info", processes[1][1], 180
        ):
            _fail(f"Dagster did not start: see {logs}/dagster.log")
        user, password = superset_admin.admin_credentials(settings)
        click.secho("\npilotage is running:", fg="green", bold=True)
        for i, slug in enumerate(superset_api.DASHBOARD_SLUGS):
            label = "  Dashboards  " if i == 0 else " " * 14
            click.echo(f"{label}http://127.0.0.1:{superset_port}/superset/dashboard/{slug}/")
        click.echo(f"              log in as {user!r} with password {password!r}")
        if dagster_port:
            click.echo(f"  Dagster     http://127.0.0.1:{dagster_port}  (runs, checks, sensor)")
        click.echo("Press Ctrl-C to stop.")
        while all(proc.poll() is None for _name, proc in processes):
            time.sleep(1)
        dead = [name for name, proc in processes if proc.poll() is not None]
        _fail(f"{', '.join(dead)} stopped unexpectedly: see the logs in {logs}")
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        stop()


# `pilotage challenges ...`: challenges as code (pilotage/challenges.py, docs/challenges.md).
from pilotage.challenges import cli as challenges_cli  # noqa: E402 - registered after main

main.add_command(challenges_cli)


if __name__ == "__main__":
    main()
