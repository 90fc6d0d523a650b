"""`pilotage challenges ...`: challenges as code (challenges/*.yml, pilotage/challenges.py,
docs/challenges.md)."""

from __future__ import annotations

import datetime as dt

import click

from pilotage_cli.app import settings_for


@click.group("challenges")
def challenges() -> None:
    """Challenges as code (challenges/*.yml): validate, generate the dbt seeds, replay.

    \b
    pilotage challenges validate   every error names the file and the field
    pilotage challenges write      regenerate dbt/seeds/challenges from challenges/*.yml
    pilotage challenges check      exit 1 when the seeds have drifted from the files
    pilotage challenges replay NAME --period-start ... --period-end ...
    """


@challenges.command()
def validate() -> None:
    """Validate every challenge file; errors name the file and the field."""
    from pilotage.challenges import ChallengeError, load_challenges

    try:
        loaded = load_challenges()
    except ChallengeError as exc:
        raise click.ClickException(str(exc)) from exc
    for challenge in loaded:
        click.echo(
            f"{challenge.name}: {challenge.participants}, {challenge.scoring}, "
            f"{challenge.period.start} to {challenge.period.end} in {challenge.rounds} rounds"
        )


@challenges.command()
def check() -> None:
    """Exit 1 when dbt/seeds/challenges differs from what challenges/*.yml generates."""
    from pilotage.challenges import run

    if run(write=False, echo=click.echo):
        raise SystemExit(1)


@challenges.command()
def write() -> None:
    """Regenerate dbt/seeds/challenges from challenges/*.yml."""
    from pilotage.challenges import run

    if run(write=True, echo=click.echo):
        raise SystemExit(1)


@challenges.command("replay")
@click.argument("challenge")
@click.option("--period-start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--period-end", required=True, type=click.DateTime(["%Y-%m-%d"]))
def replay(challenge: str, period_start: dt.datetime, period_end: dt.datetime) -> None:
    """Score CHALLENGE on another period (a past one, before launch) and print the standings.

    Runs the challenge models on the warehouse (PILOTAGE_WAREHOUSE_PATH) into the schema
    challenge_replay: the published marts and dashboards are not touched.
    """
    from pilotage.challenges import ChallengeError
    from pilotage.challenges import replay as replay_challenge
    from pilotage.dbt import DbtError

    settings = settings_for()
    if not settings.warehouse_path.exists():
        raise click.ClickException(f"No warehouse at {settings.warehouse_path}: refresh first.")
    try:
        rows = replay_challenge(
            challenge,
            period_start.date(),
            period_end.date(),
            settings,
        )
    except (ChallengeError, DbtError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{challenge} replayed on {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d}:")
    for rank, name, points, badge, share in rows:
        share_text = f"{share:6.1%}" if share is not None else "     -"
        click.echo(f"{rank:>4}  {name:<30} {points:>10.1f}  {share_text}  {badge or ''}")
