"""Running dbt on the project: one place that knows the command line, the project paths and the
vars a run passes (the as-of day and the company's source systems). dbt's profile reads the
warehouse path from PILOTAGE_WAREHOUSE_PATH: a run with settings gets it through
``Settings.subprocess_env()``, never through this process's ``os.environ``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pilotage.settings import DBT_PROJECT_DIR, PROJECT_ROOT

if TYPE_CHECKING:
    from pilotage.settings import Settings


# dbt's partial-parsing state, next to the manifest in the target folder.
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


class DbtError(RuntimeError):
    """dbt failed: the message carries the command and dbt's output."""


def dbt_vars(settings: Settings) -> dict[str, str]:
    """The dbt vars of a run: the as-of day and the company's source systems (PILOTAGE_SOURCES).
    The same vars for parse and build, so that dbt's partial parsing holds between them."""
    return {"as_of_date": settings.as_of.isoformat(), "sources": ",".join(settings.sources)}


def vars_args(settings: Settings | None) -> list[str]:
    return ["--vars", json.dumps(dbt_vars(settings))] if settings is not None else []


# dbt through pilotage.dbt_child: it dies with the process that started it.
DBT_PROGRAM = (sys.executable, "-m", "pilotage.dbt_child")


def run_dbt(
    args: list[str],
    env: Mapping[str, str] | None = None,
    program: Sequence[str] = DBT_PROGRAM,
) -> subprocess.CompletedProcess:
    """``dbt <args>`` with this environment's dbt on the repository's dbt project. ``program``:
    the command that runs dbt (the tests run it on a manifest they parsed once)."""
    cmd = [*program, *args]
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


def parse_project(settings: Settings | None = None) -> None:
    """A fresh dbt/target/manifest.json: Dagster reads it, and a stale one misses new models
    (the run then fails with a KeyError on the model).

    dbt parses into a target folder of this run's own, and the manifest then replaces the shared
    one in one atomic rename: two refreshes starting together both read a whole manifest (they
    failed with a JSON decode error when each wrote the shared file as the other read it). The
    partial-parse state goes along, so that the next parse only re-reads what changed."""
    env = settings.subprocess_env() if settings else None
    shared = DBT_PROJECT_DIR / "target"
    shared.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="parse-", dir=shared) as own:
        own = Path(own)
        state = shared / PARTIAL_PARSE_FILE
        if state.exists():
            shutil.copyfile(state, own / PARTIAL_PARSE_FILE)
        run_dbt(["parse", "--quiet", "--target-path", str(own), *vars_args(settings)], env)
        for name in (PARTIAL_PARSE_FILE, "manifest.json"):  # the manifest last: it is read
            if (own / name).exists():
                os.replace(own / name, shared / name)


def check_project(settings: Settings) -> subprocess.CompletedProcess:
    """``dbt test`` on the warehouse: every gate (blocking) and warning. Raises DbtError when a
    blocking test fails; the output lists each test's outcome."""
    return run_dbt(["test", *vars_args(settings)], settings.subprocess_env())
