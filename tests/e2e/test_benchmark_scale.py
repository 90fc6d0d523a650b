"""scripts/benchmark_scale.py runs end to end at a tiny multiple, and the generator's "large"
profile has the shape docs/scale.md relies on. Speed itself is measured by the script, not here."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from ingestion.demo.generator import generate
from ingestion.extracts import ALL_EXTRACTS
from tests.conftest import AS_OF, SEED

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_scale.py"


def _file_rows(landing: Path) -> dict[str, int]:
    """Data rows of every extract, counted with the csv module (not by the code under test)."""
    rows = {}
    for extract in ALL_EXTRACTS:
        total = 0
        for path in extract.files(landing):
            with path.open(encoding="utf-8", newline="") as handle:
                total += sum(1 for _ in csv.reader(handle)) - 1  # the header
        rows[f"raw_{extract.system}.{extract.table}"] = total
    return rows


def test_benchmark_runs_and_both_loads_hold_every_row(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--multiples", "0.05", "--work-dir", str(tmp_path), "--keep"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    (run,) = report["runs"]
    expected = _file_rows(tmp_path / "x0.05" / "landing")
    assert run["duckdb_read_csv"]["loaded_rows"] == expected
    dlt_rows = run["dlt_load"]["loaded_rows"]
    assert {table: dlt_rows[table] for table in expected} == expected
    assert run["rows_differ"] == {}
    for step in ("generate", "dlt_load", "duckdb_read_csv"):
        assert run[step]["seconds"] > 0
        assert run[step]["peak_rss_mib"] > 20  # a Python process, measured in MiB
    assert set(run["dlt_load"]["dlt_steps"]) == {"crm", "erp"}
    assert run["dlt_to_read_csv"] > 0
    users = next((tmp_path / "x0.05" / "landing" / "crm" / "User").glob("User_*.csv"))
    with users.open(encoding="utf-8", newline="") as handle:
        reps = {row["Id"] for row in csv.DictReader(handle) if row["Title"] == "Account Executive"}
    assert run["duckdb_read_csv"]["reps"] == len(reps)
    table = (tmp_path / "results.md").read_text()
    assert f"| x0.05 | {len(reps):,} | " in table


def test_large_profile_has_busier_reps_and_longer_orders(tmp_path):
    demo = generate(tmp_path / "demo", seed=SEED, scale=0.2, as_of=AS_OF)
    large = generate(tmp_path / "large", seed=SEED, scale=0.2, as_of=AS_OF, profile="large")
    assert large["users"] == demo["users"]  # the same organisation
    per_rep = {
        name: (counts["tasks"] + counts["events"]) / counts["users"]
        for name, counts in (("demo", demo), ("large", large))
    }
    assert per_rep["large"] > 2 * per_rep["demo"]
    lines = {
        name: counts["invoice_lines"] / counts["invoices"]
        for name, counts in (("demo", demo), ("large", large))
    }
    assert lines["demo"] < 3 < 8 < lines["large"]
