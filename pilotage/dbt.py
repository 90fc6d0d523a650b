"""Running dbt on the project: one place that knows the command line and the project paths."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from pilotage.settings import DBT_PROJECT_DIR, PROJECT_ROOT


class DbtError(RuntimeError):
    """dbt failed: the message carries the command and dbt's output."""


def run_dbt(args: list[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """``dbt <args>`` with this environment's dbt on the repository's dbt project."""
    cmd = [sys.executable, "-m", "dbt.cli.main", *args]
    cmd += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    done = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=dict(env or os.environ), capture_output=True, text=True
    )
    if done.returncode:
        raise DbtError(
            f"`dbt {' '.join(args)}` failed (exit {done.returncode}):\n"
            f"{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
        )
    return done


def parse_project() -> None:
    """A fresh dbt/target/manifest.json: Dagster reads it, and a stale one misses new models
    (the run then fails with a KeyError on the model)."""
    run_dbt(["parse", "--quiet"])
