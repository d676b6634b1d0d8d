"""One local SparkSession for the whole suite, from the runtime's own pytest plugin."""

pytest_plugins = ["lakeforge.testing"]
