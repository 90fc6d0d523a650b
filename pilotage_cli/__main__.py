"""``python -m pilotage_cli``: the same as the ``pilotage`` command."""

from pilotage_cli import main

main()
