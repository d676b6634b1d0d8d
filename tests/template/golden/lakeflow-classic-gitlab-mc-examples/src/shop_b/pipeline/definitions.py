"""Pipeline source: one materialized view per table of tables.yml.

Runs on Databricks (Lakeflow Declarative Pipelines) and locally with
`python -m lakeforge.local_pipeline run`. `spark` is provided by the pipeline runtime.
"""

from lakeforge.pipelines import define_pipeline

define_pipeline(spark, package="shop_b")  # noqa: F821
