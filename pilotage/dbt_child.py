"""dbt as a child that dies with the refresh that started it.

A refresh runs dbt as a subprocess (dagster-dbt's ``DbtCliResource``, or ``pilotage.dbt``).
Killed with ``kill -9``, the refresh cannot stop it, and dbt went on writing the warehouse for
minutes. So dbt is started through this module (the ``pilotage-dbt`` command): it asks Linux
to send it SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), then runs dbt's command line.
The refresh lock's cleanup (pilotage/refresh_lock.py) stops whatever escapes this.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux; elsewhere, nothing)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died in between: nobody would signal
        os._exit(1)


def main() -> None:
    die_with_parent()
    from dbt.cli.main import cli  # what the `dbt` command runs

    sys.exit(cli())


if __name__ == "__main__":
    main()
