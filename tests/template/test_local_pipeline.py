"""The lakeflow variant's declarative pipeline runs end to end on local Spark (spark-pipelines)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import copy_project, pip_install, venv_python

READ_GOLD = """
from pathlib import Path
from lakeforge.local_pipeline import hive_conf
from lakeforge.session import SparkSessionFactory
spark = SparkSessionFactory.create_local(conf=hive_conf(Path.cwd()))
for row in spark.table("spark_catalog.shop_lf_gold.customer_revenue").orderBy("customer_id").collect():
    print(row.customer_id, row.order_count, row.total_revenue)
"""


@pytest.mark.slow
def test_spark_pipelines_runs_the_example_pipeline(template_repo: Path, project_venv: Path, tmp_path: Path) -> None:
    project = copy_project(template_repo, tmp_path / "shop_lf", project_name="shop_lf")
    assert pip_install(project_venv, project).returncode == 0
    python = str(venv_python(project_venv))

    run = subprocess.run(
        [python, "-m", "lakeforge.local_pipeline", "run"], cwd=project, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # Spark's own verdict is in the log; the summary says it in one line, with one line per flow.
    assert "Run is COMPLETED." in (project / ".spark-pipelines/run.log").read_text()
    assert re.search(r"^Run COMPLETED in \d+s; tables in spark_catalog", run.stdout, re.M), run.stdout
    summary = dict(re.findall(r"^  (\w+\.\w+) +(\w+) ", run.stdout, re.M))
    assert summary.get("gold.customer_revenue") == "COMPLETED" and set(summary.values()) == {"COMPLETED"}, run.stdout
    assert re.search(r"^  gold\.customer_revenue +COMPLETED +3 rows", run.stdout, re.M), run.stdout

    gold = subprocess.run([python, "-c", READ_GOLD], cwd=project, capture_output=True, text=True, timeout=600)
    assert gold.returncode == 0, gold.stderr[-3000:]
    # Ada: o-1 + o-2; Linus: o-3 (latest version, refunded); Grace: only a negative order, dropped.
    assert gold.stdout.split("\n")[:3] == ["1 2 150.50", "2 1 89.99", "3 0 None"]
