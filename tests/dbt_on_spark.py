"""dbt on a local Spark in one process: ``python -m tests.dbt_on_spark <raw folder> <dbt
arguments>``.

dbt-spark's session method starts PySpark inside the dbt process (one JVM, local[2]); with
Spark's in-memory catalog (PILOTAGE_SPARK_CATALOG=in-memory, no Derby metastore to create) the
tables live as long as that process. So the raw tables are registered
(``dbt run-operation spark_register_raw_tables``, dbt/macros/spark.sql) and dbt then runs in the
same process and Spark session; the tables' parquet files stay in the Spark warehouse folder
(<PILOTAGE_DATA_DIR>/spark/warehouse/<schema>.db/<table>) for the test to read.
"""

from __future__ import annotations

import json
import sys

from dbt.cli.main import dbtRunner

# the options of the dbt command line that the registration needs too
SHARED_OPTIONS = ("--project-dir", "--profiles-dir", "--target-path", "--vars")


def main(argv: list[str]) -> int:
    folder, *args = argv
    shared = []
    for index, arg in enumerate(args[:-1]):
        if arg in SHARED_OPTIONS:
            shared += [arg, args[index + 1]]
    runner = dbtRunner()
    register = ["run-operation", "spark_register_raw_tables", "--args"]
    for step in ([*register, json.dumps({"folder": folder}), *shared], args):
        result = runner.invoke(step)
        if result.exception is not None:
            print(f"dbt {step[0]} failed: {result.exception}", file=sys.stderr)
            return 2
        if not result.success:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
