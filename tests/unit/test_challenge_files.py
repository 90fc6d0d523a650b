"""Challenges as code, the files (challenges/*.yml, pilotage/challenges.py): they are validated
with messages that name the file and the field; the seeds derived from them are checked for
drift and regenerated; a replay period is validated like the challenge. The standings the
pipeline builds from them: tests/warehouse/test_challenges.py."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pilotage import challenges
from pilotage_cli import main as cli_main
from tests.conftest import AS_OF

VALID = textwrap.dedent(
    """
    name: sprint
    label: Sprint
    description: A test challenge.
    participants: reps
    period: {start: 2026-10-05, end: 2026-11-01, rounds: week}
    scoring: absolute
    metrics:
      - {metric: meetings_held, weight: 5, cap: 8}
    badges:
      - {name: gold, label: Gold, min_points: 100}
    """
)


def _write(folder: Path, changes: dict, name: str = "sprint") -> Path:
    data = yaml.safe_load(VALID)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_valid_template_loads(tmp_path: Path) -> None:
    _write(tmp_path, {})
    (challenge,) = challenges.load_challenges(tmp_path)
    assert challenge.period == challenges.Span(dt.date(2026, 10, 5), dt.date(2026, 11, 1))
    assert challenge.rounds == "week"
    assert challenge.metrics == (challenges.ChallengeMetric("meetings_held", weight=5, cap=8),)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": None}, "missing field `label`"),
        ({"colour": "red"}, "unknown field `colour`"),
        ({"name": "other"}, "`name` (other) must be the file name (sprint)"),
        ({"participants": "everyone"}, "`participants` must be one of reps, teams, company"),
        (
            {"period": {"start": "2026-11-01", "end": "2026-10-01"}},
            "`period.end` (2026-10-01) is before `period.start` (2026-11-01)",
        ),
        ({"period": {"start": "2026-13-01", "end": "2026-10-01"}}, "`period.start` must be a date"),
        (
            {"period": {"start": "2026-10-01", "end": "2026-10-31", "rounds": "fortnight"}},
            "`period.rounds` must be one of",
        ),
        ({"metrics": [{"metric": "handshakes"}]}, "`metrics[0]`.metric 'handshakes' is not one"),
        (
            {"metrics": [{"metric": "calls_completed", "cap": -1}]},
            "`metrics[0]`.cap must be a positive",
        ),
        (
            {"metrics": [{"metric": "calls_completed", "weight": 0}]},
            "`metrics[0]`.weight must be a positive",
        ),
        (
            {"metrics": [{"metric": "calls_completed"}, {"metric": "calls_completed"}]},
            "`metrics[1]`.metric calls_completed is listed twice",
        ),
        ({"metrics": []}, "`metrics` must be a non-empty list"),
        ({"scoring": "improvement"}, "`baseline` (start, end) is required"),
        (
            {"baseline": {"start": "2026-09-01", "end": "2026-09-30"}},
            "`baseline` is only for scoring: improvement",
        ),
        (
            {"scoring": "percent_of_target"},
            "`period.rounds` must be month or quarter with percent_of_target",
        ),
        (
            {
                "scoring": "percent_of_target",
                "period": {"start": "2026-10-05", "end": "2026-10-31", "rounds": "month"},
            },
            "`period` must start and end on whole months with percent_of_target",
        ),
        (
            {"scoring": "percent_of_target", "metrics": [{"metric": "standing_quotes"}]},
            "`metrics[0]`.metric standing_quotes has no sales target",
        ),
        ({"participants": "company"}, "`goal` must be {points: N} for participants: company"),
        ({"goal": {"points": 10}}, "`goal` is only for participants: company"),
        (
            {"badges": [{"name": "gold", "label": "Gold"}]},
            "`badges[0]` must have exactly name, label and min_points",
        ),
    ],
)
def test_invalid_challenges_are_refused_naming_file_and_field(
    tmp_path: Path, changes: dict, message: str
) -> None:
    path = _write(tmp_path, changes)
    with pytest.raises(challenges.ChallengeError) as error:
        challenges.load_challenges(tmp_path)
    assert str(path) in str(error.value) or path.name in str(error.value)
    assert message in str(error.value)


def test_every_invalid_file_is_reported_at_once(tmp_path: Path) -> None:
    _write(tmp_path, {"scoring": "fastest"}, name="sprint")
    (tmp_path / "broken.yml").write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(challenges.ChallengeError) as error:
        challenges.load_challenges(tmp_path)
    assert "broken.yml: not valid YAML" in str(error.value)
    assert "sprint.yml is invalid" in str(error.value)
    assert "`scoring` must be one of absolute, percent_of_target, improvement" in str(error.value)


def test_the_validate_command_fails_with_the_message(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path, {"participants": "everyone"})
    monkeypatch.setattr(challenges, "CHALLENGES_DIR", tmp_path)
    result = CliRunner().invoke(cli_main, ["challenges", "validate"])
    assert result.exit_code == 1
    assert "sprint.yml is invalid" in result.output
    assert "`participants` must be one of" in result.output


def test_the_examples_cover_the_three_kinds_of_challenge() -> None:
    examples = {c.name: c for c in challenges.load_challenges()}
    kinds = {(c.participants, c.scoring) for c in examples.values()}
    assert ("reps", "absolute") in kinds
    assert ("teams", "percent_of_target") in kinds
    assert ("company", "absolute") in kinds
    assert any(c.rounds == "week" and len(c.metrics) > 1 for c in examples.values())
    assert any(c.goal_points for c in examples.values())
    live = [c for c in examples.values() if c.period.start <= AS_OF <= c.period.end]
    assert live, "one example challenge is live on the demo's as-of day"


@pytest.fixture
def seeds_copy(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "seeds"
    shutil.copytree(challenges.SEEDS_DIR, folder)
    monkeypatch.setattr(challenges, "SEEDS_DIR", folder)
    return folder


def test_the_committed_seeds_match_the_challenge_files() -> None:
    result = CliRunner().invoke(cli_main, ["challenges", "check"])
    assert result.exit_code == 0, result.output
    assert "3 challenges valid" in result.output


def test_drift_is_reported_then_fixed_by_write(seeds_copy: Path) -> None:
    metrics = seeds_copy / "challenge_metrics.csv"
    metrics.write_text(metrics.read_text().replace(",5,8", ",50,8"), encoding="utf-8")
    (seeds_copy / "challenge_badges.csv").unlink()
    lines: list[str] = []
    assert challenges.run(write=False, echo=lines.append) == 1
    output = "\n".join(lines)
    assert "challenge_metrics.csv" in output and "differs from challenges/" in output
    assert "challenge_badges.csv" in output and "missing" in output
    assert "challenge_definitions.csv" not in output
    assert challenges.run(write=True, echo=lines.append) == 0
    assert challenges.run(write=False, echo=lines.append) == 0
    with metrics.open(newline="") as f:
        rows = {(r["challenge_id"], r["metric"]): r for r in csv.DictReader(f)}
    assert rows["october_activity_sprint", "meetings_held"]["weight"] == "5"


def test_a_replay_period_is_validated_like_the_challenge() -> None:
    race = {c.name: c for c in challenges.load_challenges()}["q3_team_revenue_race"]
    with pytest.raises(challenges.ChallengeError, match="whole quarters"):
        challenges.replay_vars(race, dt.date(2026, 4, 15), dt.date(2026, 6, 30))
    replay = challenges.replay_vars(race, dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert replay["challenge_replay"]["period_start"] == "2026-04-01"
