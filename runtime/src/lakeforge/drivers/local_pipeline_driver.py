"""The Python side of `python -m lakeforge.local_pipeline run`: the layer schemas, then spark-pipelines' CLI.

`spark-pipelines` runs its CLI script under spark-submit; the CLI's session starts a local Spark
Connect server, and a pipeline may not run `CREATE SCHEMA`. Run as that script instead, this
creates the layer schemas through that same session first and then hands over to the CLI as it
is (its getOrCreate returns the session), so the schemas no longer need a Spark session, a JVM
and a metastore opening of their own before the pipeline starts.
"""

from __future__ import annotations

import os

SCHEMAS_VAR = "LAKEFORGE_PIPELINE_SCHEMAS"


def main() -> None:
    from pyspark.pipelines import cli
    from pyspark.sql import SparkSession

    schemas = [s for s in os.environ.get(SCHEMAS_VAR, "").split(",") if s]
    if schemas:
        # The session the CLI then gets (getOrCreate returns it): the schemas exist in its catalog.
        spark = SparkSession.builder.getOrCreate()
        for schema in schemas:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    cli.main()


if __name__ == "__main__":
    main()
