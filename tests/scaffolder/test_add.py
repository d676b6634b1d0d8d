"""`scaffold add`: the README's commands work as printed, free text is data, the contract is declared.

A user adds a bronze table and the silver table the README shows (`refund_id:string!`, a decimal,
an input, a description), with keys, NOT NULL columns and named checks; a description can be any
text (Hypothesis writes arbitrary ones through the engine and reads them back from tables.yml);
bad input is one line naming the flag and the fix, and leaves tables.yml as it was.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from lakeforge.contract import check_violations
from lakeforge.tables import load_tables
from scaffolder.add import Contract, add_table
from scaffolder.errors import ScaffoldError
from scaffolder.project import load_project

from ..template.conftest import copy_project
from .conftest import scaffold

README_DESCRIPTION = "@refunds: `x` * %! #1, issued by support (see 'Refunds')"


@pytest.fixture(scope="module")
def pristine(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copier copy (package `shop`, no tables); each test works on a copy of it."""
    return copy_project(
        template_repo, tmp_path_factory.mktemp("add") / "shop", project_name="shop", include_examples=False
    )


@pytest.fixture
def bare_project(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "shop", symlinks=True))


def test_the_readme_example_with_its_contract_through_the_real_cli(bare_project: Path) -> None:
    bronze = scaffold(
        bare_project, "add", "bronze", "raw_refunds", "-c", "refund_id:string", "-c", "amount:decimal(10,2)",
        "-c", "refunded_at:timestamp", "--source", "refunds", "--description", "Refunds landed as CSV.",
    )  # fmt: skip
    assert bronze.returncode == 0, bronze.stdout + bronze.stderr
    silver = scaffold(
        bare_project, "add", "silver", "refunds", "-c", "refund_id:string!", "-c", "amount:decimal(10,2)",
        "-c", "refunded_at:timestamp", "--input", "raw_refunds", "--description", README_DESCRIPTION,
        "--key", "refund_id", "--not-null", "refunded_at", "--check", "amount_positive=amount >= 0",
        "--check", "recent=refunded_at >= '2020-01-01'", "--on-violation", "drop",
    )  # fmt: skip
    assert silver.returncode == 0, silver.stdout + silver.stderr
    assert "added silver table refunds to tables.yml" in silver.stdout
    spec = load_tables(bare_project / "tables.yml").get("refunds")
    assert spec.description == README_DESCRIPTION
    assert spec.keys == ["refund_id"] and spec.not_null == ["refunded_at"]
    assert spec.not_null_columns() == ["refund_id", "refunded_at"]  # `!` and --not-null both
    assert spec.checks == {"amount_positive": "amount >= 0", "recent": "refunded_at >= '2020-01-01'"}
    assert spec.on_violation == "drop"
    text = (bare_project / "tables.yml").read_text()
    assert "    checks:\n      amount_positive: amount >= 0\n" in text  # the template's style, one key a line
    assert (bare_project / "src/shop/transformations/silver/refunds.py").is_file()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--check", "amount_positive"], "--check 'amount_positive': use NAME=SQL"),
        (["--check", "Bad Name=amount > 0"], "check name 'Bad Name' is not a valid Unity Catalog identifier"),
        (["--check", "x= "], "check 'x' is empty"),
        (["--check", "x=reflect('java.lang.Runtime', 'getRuntime')"], "check 'x' calls Java or a UDF"),
        (["--check", "x=a > 0", "--check", "x=a < 9"], "check 'x' is given twice"),
        (["--key", "nope"], "keys: ['nope'] not in the table's schema columns"),
        (["--not-null", "nope"], "not_null: ['nope'] not in the table's schema columns"),
        (["--on-violation", "skip"], "--on-violation 'skip': use one of fail, drop, warn"),
        (["-c", "id:!"], "--column 'id:!': use NAME:TYPE"),
    ],
)
def test_bad_contract_flags_are_one_line_and_write_nothing(bare_project: Path, flags: list[str], message: str) -> None:
    before = (bare_project / "tables.yml").read_text()
    result = scaffold(
        bare_project, "add", "bronze", "raw_refunds", "-c", "refund_id:string", "-c", "amount:int",
        "--source", "refunds", "--description", "x", *flags,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip()
    assert error.startswith("error: ") and "\n" not in error and "Traceback" not in error, error
    assert message in error
    assert (bare_project / "tables.yml").read_text() == before
    assert not (bare_project / "src/shop/transformations/bronze/raw_refunds.py").exists()


_names = (f"t{n}" for n in itertools.count())
# What YAML reads as something other than text when it starts a plain scalar, and friends.
INDICATORS = ["@", "`", "*", "%", "!", "&", "|", ">", "'", '"', "#", "- ", "? ", ": ", "{", "[", "---", "true"]
descriptions = st.one_of(
    st.text(min_size=1, max_size=80),
    st.builds(lambda a, b: a + b, st.sampled_from(INDICATORS), st.text(max_size=40)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=descriptions)
@example(description=README_DESCRIPTION)
@example(description="two\nlines, a tab\t, a NUL \x00, a form feed \x0c, \u2028 and an emoji 🦆")
def test_any_description_reads_back_unchanged(bare_project: Path, description: str) -> None:
    project = load_project(bare_project)
    name = next(_names)
    comments = (bare_project / "tables.yml").read_text().splitlines()[:3]
    result = add_table(
        project, "bronze", name, description, ["id:int!", "amount:double"], source=name,
        contract=Contract(keys=["id"], checks=["positive=amount > 0"]),
    )  # fmt: skip
    assert result.spec.description == description
    assert load_tables(bare_project / "tables.yml").get(name).description == description
    assert yaml.safe_load((bare_project / "tables.yml").read_text())["tables"][-1]["description"] == description
    assert (bare_project / "tables.yml").read_text().splitlines()[:3] == comments  # the file's own lines stay
    compile((bare_project / f"src/shop/transformations/bronze/{name}.py").read_text(), name, "exec")  # a valid stub


def test_a_bad_contract_through_the_engine_is_a_scaffold_error(bare_project: Path) -> None:
    project = load_project(bare_project)
    with pytest.raises(
        ScaffoldError, match=r"keys: \['x'\] not in the table's schema columns .*\(nothing was written\)"
    ):
        add_table(project, "bronze", "t", "d", ["id:int"], source="t", contract=Contract(keys=["x"]))


def test_what_add_declares_the_offline_fill_keeps_and_the_docstring_says(bare_project: Path, spark: Any) -> None:
    """The issue's example: `refund_id:string!` alone used to give code that kept null ids and a docstring
    claiming otherwise. Now the kept transform does what the contract declares, and says only that."""
    assert scaffold(
        bare_project, "add", "bronze", "raw_refunds", "-c", "refund_id:string", "-c", "amount:decimal(10,2)",
        "--source", "refunds", "--description", "Refunds as landed.",
    ).returncode == 0  # fmt: skip
    assert scaffold(
        bare_project, "add", "silver", "refunds", "-c", "refund_id:string!", "-c", "amount:decimal(10,2)",
        "--input", "raw_refunds", "--key", "refund_id", "--check", "amount_positive=amount >= 0",
        "--description", "One row per refund.",
    ).returncode == 0  # fmt: skip
    fill = scaffold(bare_project, "fill", "all", "--provider", "offline")
    assert fill.returncode == 0, fill.stdout + fill.stderr
    path = bare_project / "src/shop/transformations/silver/refunds.py"
    source = path.read_text()
    docstring = ast.get_docstring(next(n for n in ast.parse(source).body if getattr(n, "name", "") == "transform"))
    assert docstring is not None and " ".join(docstring.split()) == (
        "Cast the columns to the declared types and trim text; drop rows with a null refund_id; drop rows that "
        "break check amount_positive (amount >= 0); keep one row per refund_id."
    )
    loaded = importlib.util.spec_from_file_location("kept_refunds", path)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    raw = spark.createDataFrame(
        [("r1", Decimal("1.00")), (None, Decimal("2.00")), ("r1", Decimal("1.00")), ("r2", Decimal("-3.00"))],
        "refund_id string, amount decimal(10,2)",
    ).select("*", F.current_timestamp().alias("_ingested_at"), F.lit("f.csv").alias("_source_file"))
    spec = load_tables(bare_project / "tables.yml").get("refunds")
    assert check_violations(module.transform(raw), spec) == {
        "refund_id_not_null": 0,
        "amount_positive": 0,
        "unique_keys": 0,
    }
    assert [tuple(r) for r in module.transform(raw).collect()] == [("r1", Decimal("1.00"))]
