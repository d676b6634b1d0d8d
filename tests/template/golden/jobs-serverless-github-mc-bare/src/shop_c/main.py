"""Entry point of the Databricks wheel tasks: builds one layer's tables from tables.yml."""

from __future__ import annotations

import sys

from lakeforge.runner import main as run_pipeline


def run() -> None:
    """`run --layer silver --env dev` (the bundle passes the deployed schema names with --set)."""
    run_pipeline(["--package", "shop_c", *sys.argv[1:]])


if __name__ == "__main__":
    run()
