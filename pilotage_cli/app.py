"""The root group and what every command shares: the --as-of and --data-dir options, the settings
they override (never written back into the environment), progress and error output."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import NoReturn

import click

from pilotage.settings import PROJECT_ROOT, Settings, load_settings, parse_as_of, private_data

log = logging.getLogger("pilotage")


def step(message: str) -> None:
    click.secho(f"==> {message}", fg="cyan", bold=True)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"    {line}")


def settings_for(as_of: str | None = None, data_dir: str | None = None) -> Settings:
    """The settings of the environment (pilotage/settings.py), with this command's options
    winning. Subprocesses get them through ``Settings.subprocess_env()``."""
    if as_of:
        try:
            parse_as_of(as_of)
        except ValueError:
            fail(f"--as-of {as_of!r} is not a date: use YYYY-MM-DD")
    try:
        settings = load_settings(data_dir=data_dir, as_of=as_of)
    except ValueError as exc:
        fail(str(exc))
    context = click.get_current_context(silent=True)
    if context is not None and (context.find_root().obj or {}).get("verbose"):
        settings = dataclasses.replace(settings, verbose=True)
    private_data(settings)
    return settings


def prepare_dagster_home(settings: Settings) -> Path:
    """$DAGSTER_HOME (default <data dir>/dagster_home) with the instance config of
    dagster_project/dagster.yaml."""
    home = settings.dagster_home_dir
    home.mkdir(parents=True, exist_ok=True)
    template = PROJECT_ROOT / "dagster_project" / "dagster.yaml"
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != template.read_bytes():
        shutil.copyfile(template, target)
    return home


def prepare_dbt(settings: Settings, quiet: bool = False) -> None:
    """A fresh dbt/target/manifest.json: Dagster builds the dbt assets from it."""
    from pilotage.dbt import DbtError, parse_project

    if not quiet:
        step("parsing the dbt project")
    try:
        parse_project(settings)
    except DbtError as exc:
        fail(str(exc))


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
@click.option(
    "-v", "--verbose", is_flag=True, help="Show debug logs (and every line of Superset's setup)."
)
@click.pass_context
def main(context: click.Context, verbose: bool) -> None:
    """pilotage: sales-performance warehouse and dashboards from your CRM and ERP extracts.

    Settings come from the PILOTAGE_* environment variables (every one is described in
    .env.example); --as-of and --data-dir override them for one command.

    \b
    Typical use:
      pilotage demo              everything on demo data, then serve the dashboards
      pilotage demo --no-serve   the same without starting the servers (scripts, cron)
      pilotage refresh           load new extracts, rebuild, check and publish
      pilotage kpis --check      the files generated from the KPI catalogue are up to date
      pilotage COMMAND --help    what a command does and its options
    """
    context.obj = {"verbose": verbose}
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Libraries' chatter stays out of the progress log unless asked for.
    for noisy in ("great_expectations", "dlt"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
