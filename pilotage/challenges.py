"""Challenges as code: challenges/*.yml (one file per challenge) and the dbt seeds they generate.

A challenge names its participants (reps, teams or the whole company towards one goal), a period
cut into rounds, a scoring rule, one or more weighted (and optionally capped) metrics and badges
(docs/challenges.md). This module validates the files (errors name the file and the field) and
compiles them into the seeds dbt scores from (dbt/seeds/challenges/*.csv), the same "YAML source
of truth -> generated files + drift check" as the KPI catalogue (pilotage/generated_files.py).
A valid file is read into a typed, immutable ``Challenge``, which the seeds and replays are made
from.

``pilotage challenges validate | check | write | replay`` is the command line
(pilotage_cli/challenges.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from pilotage.generated_files import Drift, relative, sync_file
from pilotage.kpi_catalogue import NAME
from pilotage.settings import DBT_PROJECT_DIR, PROJECT_ROOT, Settings

CHALLENGES_DIR = PROJECT_ROOT / "challenges"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds" / "challenges"
# The warehouse schema a replay writes to (dbt_project.yml switches the challenge models there
# when the var challenge_replay is set): the published marts are never touched by a replay.
REPLAY_SCHEMA = "challenge_replay"


@dataclass(frozen=True)
class Metric:
    """A metric a challenge can count: what qualifies (the quality rule, applied in
    int_challenges__qualifying_events) and the sales target it is compared with, if any."""

    description: str
    target_metric: str | None


METRICS = {
    # Named after the KPI they count (dbt/kpis.yml): "calls" counts every logged call, so the
    # challenge metric of completed calls is calls_completed, one word for one number.
    "calls_completed": Metric("calls completed (a call still open does not count)", "calls"),
    "meetings_held": Metric("meetings held (planned or no-show meetings do not count)", "meetings"),
    "standing_quotes": Metric(
        "quotes created, except those cancelled or denied within a day of their creation", None
    ),
    "new_opportunities": Metric("opportunities created", "new_opportunities"),
    "revenue": Metric("net invoiced revenue (credit notes count negative)", "revenue"),
}
PARTICIPANTS = ("reps", "teams", "company")
SCORINGS = ("absolute", "percent_of_target", "improvement")
ROUNDS = ("day", "week", "month", "quarter", "period")
TARGET_ROUNDS = ("month", "quarter")  # the period types of the CRM's sales targets
MAX_DAYS = 366
FIELDS = {
    "name",
    "label",
    "description",
    "participants",
    "period",
    "scoring",
    "baseline",
    "metrics",
    "goal",
    "badges",
}
REQUIRED = ("name", "label", "description", "participants", "period", "scoring", "metrics")

SEED_COLUMNS = {
    "challenge_definitions": (
        "challenge_id",
        "label",
        "description",
        "participant_type",
        "scoring",
        "round_grain",
        "period_start",
        "period_end",
        "baseline_start",
        "baseline_end",
        "goal_points",
    ),
    "challenge_metrics": ("challenge_id", "metric", "target_metric", "weight", "cap"),
    "challenge_badges": ("challenge_id", "badge", "label", "min_points"),
}


class ChallengeError(ValueError):
    """A challenge file is invalid; the message names the file and every faulty field."""


@dataclass(frozen=True)
class Span:
    """The days from ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class ChallengeMetric:
    """A metric a challenge scores: per round, points = the score (capped at ``cap``, if any) x
    ``weight``. Its fields are the file's keys."""

    metric: str  # a key of METRICS
    weight: float
    cap: float | None

    @property
    def target_metric(self) -> str | None:
        return METRICS[self.metric].target_metric


@dataclass(frozen=True)
class Badge:
    """Earned by a participant with at least ``min_points``. Its fields are the file's keys."""

    name: str
    label: str
    min_points: float


@dataclass(frozen=True)
class Challenge:
    """A valid challenge file, normalised: dates as dates, defaults filled in, the label
    stripped and the description on one line."""

    name: str
    label: str
    description: str
    participants: str  # one of PARTICIPANTS
    scoring: str  # one of SCORINGS
    period: Span
    rounds: str  # one of ROUNDS (`period.rounds`): the calendar rounds the period is cut into
    baseline: Span | None  # scoring improvement: the span the period is compared with
    metrics: tuple[ChallengeMetric, ...]
    goal_points: float | None  # participants company: the collective goal (`goal.points`)
    badges: tuple[Badge, ...]


# ------------------------------------------------------------------------------------- loading


def load_challenges(folder: Path | None = None) -> list[Challenge]:
    """Every challenge of the folder (default: challenges/), validated, sorted by name."""
    folder = Path(folder or CHALLENGES_DIR)
    files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    if not files:
        raise ChallengeError(f"{relative(folder)}: no challenge file (*.yml)")
    challenges, errors = [], []
    for path in files:
        try:
            challenges.append(load_challenge(path))
        except ChallengeError as exc:
            errors.append(str(exc))
    if errors:
        raise ChallengeError("\n".join(errors))
    return sorted(challenges, key=lambda c: c.name)


def load_challenge(path: Path) -> Challenge:
    """One challenge file, validated (raises ChallengeError)."""
    where = relative(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ChallengeError(f"{where}: not valid YAML: {exc}") from exc
    challenge, errors = parse_challenge(raw, expected_name=Path(path).stem)
    if challenge is None:
        raise ChallengeError(f"{where} is invalid:\n  " + "\n  ".join(errors))
    return challenge


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _span(raw: Any, field: str, errors: list[str]) -> Span | None:
    """A {start, end} mapping of ISO dates (end inclusive), or None with the errors added."""
    if not isinstance(raw, dict):
        errors.append(f"`{field}` must be a mapping with start and end dates")
        return None
    start, end = _date(raw.get("start")), _date(raw.get("end"))
    for key, value in (("start", start), ("end", end)):
        if value is None:
            errors.append(f"`{field}.{key}` must be a date YYYY-MM-DD, got {raw.get(key)!r}")
    if start is None or end is None:
        return None
    if end < start:
        errors.append(f"`{field}.end` ({end}) is before `{field}.start` ({start})")
    elif (end - start).days >= MAX_DAYS:
        errors.append(f"`{field}` is longer than {MAX_DAYS} days")
    return Span(start, end)


def round_bounds(grain: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the calendar round (day, ISO week, month, quarter) of ``day``."""
    if grain == "day":
        return day, day
    if grain == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=6)
    months = 1 if grain == "month" else 3
    first_month = day.month - (day.month - 1) % months
    start = day.replace(month=first_month, day=1)
    after = first_month + months - 1  # months since January of the first month after the round
    return start, dt.date(start.year + after // 12, after % 12 + 1, 1) - dt.timedelta(days=1)


def parse_challenge(
    raw: Any, expected_name: str | None = None
) -> tuple[Challenge | None, list[str]]:
    """The challenge of a file's YAML data (None unless valid), and every problem found."""
    if not isinstance(raw, dict):
        return None, ["the file must be a mapping of fields (name, label, period, metrics...)"]
    errors = [f"missing field `{field}`" for field in REQUIRED if field not in raw]
    errors += [f"unknown field `{field}`" for field in sorted(set(raw) - FIELDS)]
    if errors:
        return None, errors
    name = raw["name"]
    if not isinstance(name, str) or not NAME.match(name):
        errors.append(f"`name` must be snake_case, got {name!r}")
    elif expected_name is not None and name != expected_name:
        errors.append(f"`name` ({name}) must be the file name ({expected_name})")
    for field in ("label", "description"):
        if not isinstance(raw[field], str) or not raw[field].strip():
            errors.append(f"`{field}` must be a non-empty text")
    participants, scoring = raw["participants"], raw["scoring"]
    if participants not in PARTICIPANTS:
        errors.append(f"`participants` must be one of {', '.join(PARTICIPANTS)}")
    if scoring not in SCORINGS:
        errors.append(f"`scoring` must be one of {', '.join(SCORINGS)}")
    period = _span(raw["period"], "period", errors)
    grain = raw["period"].get("rounds", "period") if isinstance(raw["period"], dict) else None
    if isinstance(raw["period"], dict):
        unknown = sorted(set(raw["period"]) - {"start", "end", "rounds"})
        if unknown:
            errors.append(f"unknown field(s) `period.{'`, `period.'.join(unknown)}`")
        if grain not in ROUNDS:
            errors.append(f"`period.rounds` must be one of {', '.join(ROUNDS)}, got {grain!r}")
    baseline = None
    if scoring == "improvement":
        if "baseline" not in raw:
            errors.append("`baseline` (start, end) is required when scoring is improvement")
        else:
            baseline = _span(raw["baseline"], "baseline", errors)
            if baseline and period and baseline.end >= period.start:
                errors.append("`baseline.end` must be before `period.start`")
    elif "baseline" in raw:
        errors.append("`baseline` is only for scoring: improvement")
    if scoring == "percent_of_target":
        if participants == "company":
            errors.append("percent_of_target needs reps or teams (targets are set per rep/team)")
        if grain not in TARGET_ROUNDS:
            errors.append(
                "`period.rounds` must be month or quarter with percent_of_target "
                "(the periods sales targets are set for)"
            )
        elif period and (
            round_bounds(grain, period.start)[0] != period.start
            or round_bounds(grain, period.end)[1] != period.end
        ):
            errors.append(f"`period` must start and end on whole {grain}s with percent_of_target")
    metrics = _metrics(raw["metrics"], scoring, errors)
    goal = _goal(raw, participants, errors)
    badges = _badges(raw.get("badges") or [], errors)
    if errors:
        return None, errors
    return Challenge(
        name=name,
        label=raw["label"].strip(),
        description=" ".join(raw["description"].split()),
        participants=participants,
        scoring=scoring,
        period=period,
        rounds=grain,
        baseline=baseline,
        metrics=tuple(metrics),
        goal_points=goal,
        badges=tuple(badges),
    ), []


def _metrics(raw: Any, scoring: str, errors: list[str]) -> list[ChallengeMetric]:
    if not isinstance(raw, list) or not raw:
        errors.append("`metrics` must be a non-empty list of {metric, weight, cap}")
        return []
    metrics, seen = [], set()
    for index, item in enumerate(raw):
        where = f"`metrics[{index}]`"
        if not isinstance(item, dict) or "metric" not in item:
            errors.append(f"{where} must be a mapping with `metric`")
            continue
        unknown = sorted(set(item) - {"metric", "weight", "cap"})
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        metric = item["metric"]
        if metric not in METRICS:
            errors.append(f"{where}.metric {metric!r} is not one of {', '.join(METRICS)}")
            continue
        if metric in seen:
            errors.append(f"{where}.metric {metric} is listed twice")
        seen.add(metric)
        if scoring == "percent_of_target" and METRICS[metric].target_metric is None:
            errors.append(f"{where}.metric {metric} has no sales target: no percent_of_target")
        weight, cap = item.get("weight", 1), item.get("cap")
        if not _number(weight) or weight <= 0:
            errors.append(f"{where}.weight must be a positive number, got {weight!r}")
        if cap is not None and (not _number(cap) or cap <= 0):
            errors.append(f"{where}.cap must be a positive number or absent, got {cap!r}")
        metrics.append(ChallengeMetric(metric, weight, cap))
    return metrics


def _goal(raw: dict[str, Any], participants: str, errors: list[str]) -> float | None:
    goal = raw.get("goal")
    if participants != "company":
        if goal is not None:
            errors.append("`goal` is only for participants: company (a collective goal)")
        return None
    if not isinstance(goal, dict) or set(goal) != {"points"}:
        errors.append("`goal` must be {points: N} for participants: company")
        return None
    if not _number(goal["points"]) or goal["points"] <= 0:
        errors.append(f"`goal.points` must be a positive number, got {goal['points']!r}")
        return None
    return goal["points"]


def _badges(raw: Any, errors: list[str]) -> list[Badge]:
    if not isinstance(raw, list):
        errors.append("`badges` must be a list of {name, label, min_points}")
        return []
    badges, names = [], set()
    for index, item in enumerate(raw):
        where = f"`badges[{index}]`"
        if not isinstance(item, dict) or set(item) != {"name", "label", "min_points"}:
            errors.append(f"{where} must have exactly name, label and min_points")
            continue
        if not isinstance(item["name"], str) or not NAME.match(item["name"]):
            errors.append(f"{where}.name must be snake_case, got {item['name']!r}")
        elif item["name"] in names:
            errors.append(f"{where}.name {item['name']} is used twice")
        names.add(item["name"])
        if not _number(item["min_points"]) or item["min_points"] <= 0:
            errors.append(f"{where}.min_points must be a positive number")
        badges.append(Badge(**item))
    return badges


# --------------------------------------------------------------------------------------- seeds


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue()


def render_seeds(challenges: list[Challenge]) -> dict[str, str]:
    """The seed files' text, by seed name (dbt/seeds/challenges/<name>.csv)."""
    definitions, metrics, badges = [], [], []
    for c in challenges:
        definitions.append(
            (
                c.name,
                c.label,
                c.description,
                c.participants,
                c.scoring,
                c.rounds,
                c.period.start,
                c.period.end,
                c.baseline.start if c.baseline else None,
                c.baseline.end if c.baseline else None,
                c.goal_points,
            )
        )
        for m in c.metrics:
            metrics.append((c.name, m.metric, m.target_metric, m.weight, m.cap))
        for b in c.badges:
            badges.append((c.name, b.name, b.label, b.min_points))
    rows = {
        "challenge_definitions": definitions,
        "challenge_metrics": metrics,
        "challenge_badges": badges,
    }
    return {name: _csv(SEED_COLUMNS[name], rows[name]) for name in SEED_COLUMNS}


def sync_seeds(write: bool, challenges: list[Challenge] | None = None) -> list[Drift]:
    """Seeds that differ from what the challenge files generate (with ``write``: rewritten)."""
    challenges = challenges if challenges is not None else load_challenges()
    drift = [
        sync_file(SEEDS_DIR / f"{name}.csv", expected, write, "differs from challenges/")
        for name, expected in render_seeds(challenges).items()
    ]
    return [d for d in drift if d]


def run(write: bool, echo: Callable[[str], None] = print) -> int:
    """`pilotage challenges check|write`: 0 when the seeds match the challenge files."""
    try:
        challenges = load_challenges()
    except ChallengeError as exc:
        echo(str(exc))
        return 1
    drift = sync_seeds(write, challenges)
    for item in drift:
        echo(f"regenerated {relative(item.path)}" if write else f"drift: {item}")
    if drift and not write:
        echo("Run `pilotage challenges write` to regenerate the seeds from challenges/.")
        return 1
    state = "written" if write else "up to date"
    echo(f"{len(challenges)} challenges valid; the seeds in dbt/seeds/challenges are {state}.")
    return 0


# -------------------------------------------------------------------------------------- replay


def _as_raw(challenge: Challenge) -> dict[str, Any]:
    """A challenge back in the file's shape (to validate a changed copy)."""
    raw: dict[str, Any] = {
        "name": challenge.name,
        "label": challenge.label,
        "description": challenge.description,
        "participants": challenge.participants,
        "scoring": challenge.scoring,
        "period": {**asdict(challenge.period), "rounds": challenge.rounds},
        "metrics": [asdict(m) for m in challenge.metrics],
        "badges": [asdict(b) for b in challenge.badges],
    }
    if challenge.baseline:
        raw["baseline"] = asdict(challenge.baseline)
    if challenge.goal_points is not None:
        raw["goal"] = {"points": challenge.goal_points}
    return raw


def replay_vars(challenge: Challenge, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The dbt var ``challenge_replay``: the challenge scored on [start, end] instead of its
    period, its baseline (if any) moved by the same number of days, so "improvement over the
    previous month" keeps its meaning. Raises ChallengeError when the replay period is invalid."""
    shift = start - challenge.period.start
    baseline = challenge.baseline
    if baseline:
        baseline = Span(baseline.start + shift, baseline.end + shift)
    _, errors = parse_challenge(
        _as_raw(replace(challenge, period=Span(start, end), baseline=baseline))
    )
    if errors:
        raise ChallengeError(f"replay of {challenge.name}:\n  " + "\n  ".join(errors))
    return {
        "challenge_replay": {
            "challenge": challenge.name,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "baseline_start": baseline.start.isoformat() if baseline else None,
            "baseline_end": baseline.end.isoformat() if baseline else None,
        }
    }


def replay_dbt_args(challenge: Challenge, start: dt.date, end: dt.date) -> list[str]:
    """``dbt build`` arguments that score every challenge, ``challenge`` on [start, end], into
    the schema challenge_replay (seeds and models only: the published marts stay as they are)."""
    return [
        "build",
        "--select",
        "path:seeds/challenges",
        "path:models/intermediate/challenges",
        "path:models/marts/challenges",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
        "--vars",
        json.dumps(replay_vars(challenge, start, end)),
    ]


def replay(name: str, start: dt.date, end: dt.date, settings: Settings) -> list[tuple[Any, ...]]:
    """Score the challenge ``name`` on [start, end] (e.g. a past period, before its launch) in
    the settings' DuckDB warehouse; returns its standings rows (see STANDINGS_COLUMNS)."""
    import tempfile

    import duckdb

    from pilotage.dbt import run_dbt

    challenges = {c.name: c for c in load_challenges()}
    if name not in challenges:
        raise ChallengeError(f"no challenge {name!r} in challenges/ ({', '.join(challenges)})")
    args = replay_dbt_args(challenges[name], start, end)
    # Its own target folder: dbt/target/manifest.json (read by Dagster) keeps the live schemas.
    with tempfile.TemporaryDirectory(prefix="pilotage-replay-") as target:
        env = {**settings.subprocess_env(), "DBT_LOG_PATH": target}
        run_dbt([*args, "--target-path", target], env=env)
    warehouse = settings.warehouse_path
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(STANDINGS_QUERY, [name]).fetchall()


STANDINGS_COLUMNS = ("rank", "participant", "points", "badge", "contribution")
STANDINGS_QUERY = f"""
select standing_rank, participant_name, total_points, badge_label, contribution_share
from {REPLAY_SCHEMA}.fct_challenge_standings
where challenge_id = ?
order by standing_rank, participant_name
"""
