"""The lakeflow variant's declarative pipeline runs end to end on local Spark (spark-pipelines).

One story: the example pipeline with a contract of the team's own, run, read back, failed, stubbed.
(The unmodified example runs in tests/test_printed_commands.py, as README.md prints it.)
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .conftest import copy_project, pip_install, venv_python

READ_GOLD = """
from pathlib import Path
from lakeforge.local_pipeline import hive_conf
from lakeforge.session import SparkSessionFactory
spark = SparkSessionFactory.create_local(conf=hive_conf(Path.cwd()))
for row in spark.table("spark_catalog.shop_ex_gold.customer_revenue").orderBy("customer_id").collect():
    print(row.customer_id, row.order_count, row.total_revenue)
"""


def _set_contract(project: Path, table: str, **fields: object) -> None:
    tables_path = project / "tables.yml"
    data = yaml.safe_load(tables_path.read_text())
    entry = next(t for t in data["tables"] if t["name"] == table)
    entry.update(fields)
    tables_path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
def test_the_local_pipeline_applies_the_contract_and_prints_each_expectation(
    template_repo: Path, project_venv: Path, tmp_path: Path
) -> None:
    project = copy_project(template_repo, tmp_path / "shop_ex", project_name="shop_ex")
    assert pip_install(project_venv, project).returncode == 0
    python = str(venv_python(project_venv))

    def run_pipeline() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "lakeforge.local_pipeline", "run"], cwd=project, capture_output=True, text=True, timeout=900
        )

    # The landed orders hold o-5 with a negative amount; the team declares that bronze drops such rows.
    _set_contract(project, "raw_orders", checks={"amount_non_negative": "amount >= 0"}, on_violation="drop")
    dropped = run_pipeline()
    assert dropped.returncode == 0, dropped.stdout[-3000:] + dropped.stderr[-3000:]
    # Spark's own verdict is in the log; the summary says it in one line, with one line per flow.
    assert "Run is COMPLETED." in (project / ".spark-pipelines/run.log").read_text()
    assert re.search(r"^Run COMPLETED in \d+s; tables in spark_catalog", dropped.stdout, re.M), dropped.stdout
    flows = dict(re.findall(r"^  (\w+\.\w+) +(\w+) ", dropped.stdout, re.M))
    assert flows.get("gold.customer_revenue") == "COMPLETED" and set(flows.values()) == {"COMPLETED"}, dropped.stdout
    gold = subprocess.run([python, "-c", READ_GOLD], cwd=project, capture_output=True, text=True, timeout=600)
    assert gold.returncode == 0, gold.stderr[-3000:]
    # Ada: o-1 + o-2; Linus: o-3 (latest version, refunded); Grace: only a negative order, dropped.
    assert gold.stdout.split("\n")[:3] == ["1 2 150.50", "2 1 89.99", "3 0 None"]
    summary = dropped.stdout.split("\n\n", 1)[1]
    assert re.search(r"^  bronze\.raw_orders +COMPLETED +5 rows", summary, re.M), summary  # 6 landed, 1 dropped
    assert "\n    expectation amount_non_negative (amount >= 0): 1 row dropped\n" in summary
    assert "\n    expectations passed: order_id_not_null, _ingested_at_not_null\n" in summary
    assert "\n    expectations passed: customer_id_not_null, unique_keys\n" in summary  # silver customers
    assert "__expectations" not in dropped.stdout  # the shim's counting views are not the user's tables
    assert re.search(r"^  gold\.customer_revenue +COMPLETED +3 rows", summary, re.M), summary

    # The same row under `fail`: the flow stops, naming the expectation and the count; nothing downstream runs.
    _set_contract(project, "raw_orders", on_violation="fail")
    failed = run_pipeline()
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert re.search(
        r"^Run FAILED in \d+s: flow bronze\.raw_orders: .*expectation amount_non_negative \(amount >= 0\) "
        r"failed: 1 row\(s\); on_violation: fail",
        failed.stdout,
        re.M,
    ), failed.stdout
    assert not re.search(r"^  silver\.orders +COMPLETED", failed.stdout, re.M), failed.stdout

    # A stub is reported at once, before any JVM starts.
    module = project / "src/shop_ex/transformations/silver/orders.py"
    module.write_text("def transform(raw_orders):\n    raise NotImplementedError('orders: run scaffold fill')\n")
    started = time.perf_counter()
    stub = run_pipeline()
    assert stub.returncode == 2 and time.perf_counter() - started < 20
    assert stub.stderr.strip() == (
        "error: table 'orders': src/shop_ex/transformations/silver/orders.py is still a stub; write its transform "
        "with `scaffold fill silver --table orders` (or by hand)"
    )
