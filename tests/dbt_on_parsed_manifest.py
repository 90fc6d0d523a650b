"""dbt on a manifest the test session parsed once: ``python -m tests.dbt_on_parsed_manifest
<partial_parse.msgpack> <dbt arguments>``.

dbt parses the whole project again (about 7 s here) whenever the vars, the warehouse path or the
environment differ from its last parse: nearly every dbt run of the tests. The project's nodes
do not depend on those values (vars and environment are read when a node compiles, at run time,
not when it is parsed), so ``run_dbt`` of tests/pipeline_helpers.py parses once per database name
and hands the manifest to dbt's programmatic runner, as dbt documents for repeated invocations.
The pipeline itself always parses: the session's Dagster refresh and tests/e2e cover that path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest


def main(argv: list[str]) -> int:
    manifest_path, *args = argv
    manifest = Manifest.from_msgpack(Path(manifest_path).read_bytes())
    result = dbtRunner(manifest=manifest).invoke(args)
    if result.exception is not None:
        print(f"dbt failed: {result.exception}", file=sys.stderr)
        return 2
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
