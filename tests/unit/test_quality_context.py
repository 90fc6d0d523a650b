"""The delivery checks start Great Expectations in any process, a Dagster run worker included.

With PySpark installed (the Spark test's dependency), importing Great Expectations silently ended
a process whose ``__main__`` has no file (``python -c``, Dagster's run worker): PySpark's
Connect module took it for a doctest run and called sys.exit(0), and the production profile's
refresh failed at its delivery checks with "SystemExit: 0".
"""

from __future__ import annotations

import subprocess
import sys


def test_the_checks_context_starts_in_a_process_without_a_main_file(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",  # no __main__ file, like a Dagster run worker
            "import sys; from pathlib import Path; from pilotage.quality import _context;"
            " _gx, context = _context(Path(sys.argv[1])); print('started', type(context).__name__)",
            str(tmp_path / "quality"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "started" in done.stdout, f"the process ended early: {done.stderr[-2000:]}"
