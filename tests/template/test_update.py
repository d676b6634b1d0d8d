"""copier update: template upgrades arrive, the team's and scaffold's work stays, drift is zero."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import copier
import pytest

from .conftest import commit_all, copy_project, git, make_template_repo

MARKERS = ("<<<<<<< ", ">>>>>>> ")
NEW_TABLE = """
  - name: raw_refunds
    layer: bronze
    description: Refunds from the payment provider.
    source: {path: refunds, format: json}
    schema:
      - {name: refund_id, type: string, nullable: false}
      - {name: _ingested_at, type: timestamp, nullable: false}
      - {name: _source_file, type: string}
"""
USER_MODULE = '''"""raw_refunds (bronze): written by the team."""

from lakeforge.io import add_ingestion_metadata
from pyspark.sql import DataFrame
from pyspark.sql import types as T

SCHEMA = T.StructType(
    [
        T.StructField("refund_id", T.StringType(), False),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_source_file", T.StringType(), True),
    ]
)


def transform(raw: DataFrame) -> DataFrame:
    return add_ingestion_metadata(raw).select(*SCHEMA.fieldNames())
'''


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def release(template: Path, tag: str) -> None:
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", f"release {tag}")
    git(template, "tag", tag)


def update(project: Path) -> None:
    copier.run_update(project, defaults=True, overwrite=True, unsafe=True, quiet=True)


def markers_in(project: Path) -> list[str]:
    found = []
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith(MARKERS):
                    found.append(str(path.relative_to(project)))
    return found


def start_from_v1(tmp_path: Path, **answers: str) -> tuple[Path, Path]:
    """A template tagged v1 and a committed project copied from it."""
    template = make_template_repo(tmp_path / "template", tag="v1")
    project = copy_project(template, tmp_path / "shop", vcs_ref=None, project_name="shop", **answers)
    commit_all(project, "start from v1")
    return template, project


@pytest.mark.slow
def test_update_brings_template_changes_and_keeps_every_user_line(tmp_path: Path) -> None:
    template, project = start_from_v1(tmp_path)

    # The team tunes dev and adds a table the way `scaffold add` + `scaffold fill` would.
    edit(
        project / "config" / "dev.yaml",
        "table_format: delta\n",
        "table_format: delta\nallow_outside_databricks: false\n",
    )
    with (project / "tables.yml").open("a") as handle:
        handle.write(NEW_TABLE)
    module = project / "src" / "shop" / "transformations" / "bronze" / "raw_refunds.py"
    module.write_text(USER_MODULE)
    edit(
        project / "src" / "shop" / "transformations" / "silver" / "customers.py",
        '"""customers',
        '"""Team note.\n\ncustomers',
    )
    commit_all(project, "team work")
    before = {p: p.read_text() for p in (module, project / "tables.yml")}
    silver_before = (project / "src" / "shop" / "transformations" / "silver" / "customers.py").read_text()
    seed = project / "src" / "shop" / "transformations" / "bronze" / "raw_orders.py"
    seed_before = seed.read_text()

    # Template v2: a new default setting, a new resource file, and a rewritten example module.
    edit(
        template / "template" / "config" / "defaults.yaml.jinja",
        "    spark.sql.ansi.enabled: true\n",
        "    spark.sql.ansi.enabled: true\n    spark.sql.adaptive.enabled: true\n",
    )
    (template / "template" / "resources" / "alerts.yml.jinja").write_text(
        "# alerts for {{ project_name }}\nresources: {}\n"
    )
    example = next((template / "template" / "src").rglob("*customers.py*"))
    example.write_text(example.read_text().replace("one row per customer", "ONE ROW PER CUSTOMER (v2)"))
    untouched_example = next((template / "template" / "src").rglob("*raw_orders.py*"))
    untouched_example.write_text(untouched_example.read_text().replace("web shop orders", "WEB SHOP ORDERS (v2)"))
    release(template, "v2")

    update(project)

    assert "spark.sql.adaptive.enabled: true" in (project / "config" / "defaults.yaml").read_text()
    assert "allow_outside_databricks: false" in (project / "config" / "dev.yaml").read_text()
    assert (project / "resources" / "alerts.yml").read_text().startswith("# alerts for shop")
    assert {p: p.read_text() for p in before} == before
    assert (project / "src" / "shop" / "transformations" / "silver" / "customers.py").read_text() == silver_before
    assert seed.read_text() == seed_before, "seed code is copied once; updates never rewrite it"
    assert "v2" in (project / ".copier-answers.yml").read_text()
    assert markers_in(project) == []


@pytest.mark.slow
def test_a_forced_conflict_is_caught_by_the_repos_own_check(tmp_path: Path) -> None:
    template, project = start_from_v1(tmp_path)
    edit(project / "config" / "local.yaml", "master: local[1]", "master: local[2]")
    commit_all(project, "two cores locally")
    edit(template / "template" / "config" / "local.yaml.jinja", "master: local[1]", "master: local[4]")
    release(template, "v2")

    update(project)  # copier exits cleanly and leaves markers behind

    assert "config/local.yaml" in markers_in(project)
    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/contract/test_repo_hygiene.py"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    assert "config/local.yaml" in check.stdout


@pytest.mark.slow
def test_updating_is_the_same_as_copying_fresh(tmp_path: Path) -> None:
    template, updated = start_from_v1(tmp_path, orchestration="jobs")
    prod_config = next((template / "template" / "config").glob("*prod.yaml*"))
    edit(prod_config, "table_format: delta", "table_format: delta\nallow_outside_databricks: false")
    release(template, "v2")
    update(updated)
    commit_all(updated, "update to v2")
    fresh = copy_project(template, tmp_path / "fresh", vcs_ref=None, project_name="shop", orchestration="jobs")

    assert _differences(updated, fresh) == []

    update(updated)  # the same version again: nothing changes
    assert git(updated, "status", "--porcelain") == ""


def _differences(left: Path, right: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}

    names = files(left) | files(right)
    return sorted(
        name
        for name in names
        if not (left / name).is_file()
        or not (right / name).is_file()
        or not filecmp.cmp(left / name, right / name, shallow=False)
    )
