"""A corpus of bad model replies: each one leaves its stub untouched and is reported with a reason.

All cases are tables of one repo filled in one `scaffold fill` run against the loopback model,
so the ones that reach the tests share one pytest process (one JVM).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from scaffolder.stubs import stub_module

from .conftest import bronze_table, good_reply, scaffold_loopback, write_tables
from .llm_server import Action, ScriptedLLM, table_of

MODULE = "src/shop/transformations/bronze/{t}.py"
TESTS = "tests/unit/bronze/test_{t}.py"


def _blocks(reply: str) -> tuple[str, str]:
    blocks = re.findall(r"```python\n(.*?)```", reply, flags=re.S)
    return blocks[0], blocks[1]


def _files(t: str, module: str, tests: str | None) -> str:
    text = f"Here you go.\n\n{MODULE.format(t=t)}\n```python\n{module}```\n"
    if tests is not None:
        text += f"\n{TESTS.format(t=t)}\n```python\n{tests}```\n"
    return text + "\nLet me know if you need changes."


def _edit_module(old: str, new: str) -> Callable[[str, str], str]:
    def build(t: str, good: str) -> str:
        module, tests = _blocks(good)
        assert old in module, (old, module)
        return _files(t, module.replace(old, new, 1), tests)

    return build


def _edit_tests(transform: Callable[[str], str]) -> Callable[[str, str], str]:
    def build(t: str, good: str) -> str:
        module, tests = _blocks(good)
        return _files(t, module, transform(tests))

    return build


def _only_test(body: str) -> Callable[[str, str], str]:
    """Replace the generated tests with one test of the given body."""
    header = (
        "import pytest\nfrom lakeforge.testing import make_df\n\n"
        "from shop.transformations.bronze.{t} import transform\n\n"
        "pytestmark = pytest.mark.unit\n\n"
        'RAW = "id int, name string"\n\n\n'
    )

    def build(t: str, good: str) -> str:
        module, _ = _blocks(good)
        return _files(t, module, header.replace("{t}", t) + body)

    return build


def _raw(text: str) -> Callable[[str, str], str]:
    return lambda t, good: text.replace("{t}", t)


CASES: dict[str, tuple[Callable[[str, str], str], str, dict]] = {
    "syntax_error": (_edit_module("-> DataFrame:", "-> DataFrame"), "syntax:", {}),
    "missing_transform": (_edit_module("def transform(", "def build("), "defines no top-level transform()", {}),
    "renamed_transform": (_edit_module("def transform(", "def transform_table("), "no top-level transform()", {}),
    "changed_signature": (
        _edit_module("def transform(raw: DataFrame)", "def transform(raw, spark)"),
        "keep the stub's signature",
        {},
    ),
    "wrong_schema": (
        _edit_module('T.StructField("id", T.IntegerType(), False)', 'T.StructField("id", T.LongType(), False)'),
        "SCHEMA column 0",
        {},
    ),
    "no_tests": (lambda t, good: _files(t, _blocks(good)[0], None), "no tests", {}),
    "tests_assert_nothing": (
        _only_test("def test_runs(spark):\n    transform(make_df(spark, [(1, 'a')], RAW))\n"),
        "asserts nothing",
        {},
    ),
    "tests_fail": (
        _only_test("def test_count(spark):\n    assert transform(make_df(spark, [(1, 'a')], RAW)).count() == 999\n"),
        "failed",
        {},
    ),
    "order_dependent": (
        _only_test(
            "RUNS = []\n\n\ndef test_first(spark):\n    RUNS.append(1)\n"
            "    assert len(transform(make_df(spark, [(1, 'a')], RAW)).columns) == 4\n\n\n"
            "def test_second(spark):\n    assert RUNS == [1]\n"
            "    assert len(transform(make_df(spark, [(1, 'a')], RAW)).columns) == 4\n"
        ),
        "test_second|mutants:",  # the order is drawn per run: flaky, failed, or (1 in 4) proves nothing
        {},
    ),
    "passes_on_mutant": (
        _only_test("def test_rows(spark):\n    assert transform(make_df(spark, [(1, 'a')], RAW)).count() == 1\n"),
        "input unchanged",
        {},
    ),
    "endless_loop": (
        _only_test("def test_forever(spark):\n    n = 0\n    while n >= 0:\n        n += 1\n    assert n < 0\n"),
        "timed out",
        {},
    ),
    "all_tests_skipped": (
        _edit_tests(lambda tests: tests.replace("def test_", '@pytest.mark.skip(reason="later")\ndef test_')),
        "policy: no-skip",
        {},
    ),
    "test_import_error": (
        _edit_tests(lambda tests: tests + "\nRATE = 1 / len([])\n"),
        "could not import tests/unit/bronze/test_case_test_import_error.py: ZeroDivisionError",
        {},
    ),
    "forbidden_subprocess": (
        # used, so ruff's fix (which drops unused imports) leaves it for the subset to refuse
        _edit_module("import logging\n", "import logging\nimport subprocess\n\nRUN = subprocess.run\n"),
        "policy: import-not-allowed",
        {},
    ),
    "os_system": (
        _edit_module("    typed = raw.select(", "    __import__('os').system('true')\n    typed = raw.select("),
        "policy: no-dunder",
        {},
    ),
    "eval_call": (
        _edit_module("    typed = raw.select(", "    eval('1 + 1')\n    typed = raw.select("),
        "policy: name-not-allowed",
        {},
    ),
    "network_import": (
        _edit_module("import logging\n", "import logging\nimport requests\n\nGET = requests.get\n"),
        "policy: import-not-allowed",
        {},
    ),
    "file_delete": (
        _edit_module(
            "    typed = raw.select(",
            "    __file__ and None\n    import os\n    os.remove('x')\n    typed = raw.select(",
        ),
        "policy: no-dunder",
        {},
    ),
    "file_write": (
        _edit_module("    typed = raw.select(", "    open('x.txt', 'w')\n    typed = raw.select("),
        "policy: name-not-allowed",
        {},
    ),
    "io_in_transform": (
        _edit_module(
            "    return add_ingestion_metadata", "    raw.write.saveAsTable('x')\n    return add_ingestion_metadata"
        ),
        "policy: attribute-not-allowed",
        {},
    ),
    "path_traversal": (
        lambda t, good: good.replace(MODULE.format(t=t), f"../{MODULE.format(t=t)}"),
        "leaves the repository",
        {},
    ),
    "extra_file": (lambda t, good: good + "\nsrc/shop/helpers.py\n```python\nX = 1\n```\n", "not one of the files", {}),
    "no_path": (lambda t, good: good.replace(MODULE.format(t=t) + "\n", "\n"), "no file path", {}),
    "prose_only": (_raw("I would read the CSV, cast the columns and add metadata."), "no code blocks", {}),
    "empty_reply": (_raw(""), "empty", {}),
    "cut_off": (lambda t, good: good[: len(good) // 2], "cut off", {"finish_reason": "length"}),
    "huge_reply": (lambda t, good: good + "\n" + ("# padding\n" * 25_000), "over the", {}),
    "lint_error": (
        _edit_module("    typed = raw.select(", "    unknown_helper()\n    typed = raw.select("),
        "ruff:",
        {},
    ),
}


@pytest.mark.slow
def test_every_bad_reply_keeps_the_stub_and_says_why(bare_project: Path) -> None:
    names = [f"case_{name}" for name in CASES]
    write_tables(bare_project, [bronze_table(n) for n in names])
    good = {n: good_reply(bare_project, n) for n in names}

    def respond(request: dict) -> Action:
        table = table_of(request)
        build, _, extra = CASES[table.removeprefix("case_")]
        return Action(content=build(table, good[table]), **extra)

    with ScriptedLLM(respond) as llm:
        result = scaffold_loopback(
            bare_project, llm.base_url, "fill", "bronze", "--max-attempts", "1", SCAFFOLD_TEST_TIMEOUT_SECONDS="5"
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert len(CASES) >= 25
    from lakeforge.tables import load_tables

    tables = load_tables(bare_project / "tables.yml")
    for name, (_, reason, _) in CASES.items():
        table = f"case_{name}"
        module = bare_project / MODULE.format(t=table)
        assert module.read_text() == stub_module(tables.get(table)), f"{table}: the stub was changed"
        lines = [line for line in output.splitlines() if line.startswith(f"{table}:")]
        assert lines, f"{table}: no reason printed\n{output[-3000:]}"
        assert any(r in line for line in lines for r in reason.split("|")), f"{table}: expected {reason!r} in {lines}"
    assert "1 validation round(s), 1 JVM start(s)" in output
