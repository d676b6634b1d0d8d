"""Files and records a careful first user relies on: modes, tables.yml's style, stubs that always
parse, a manifest that merges and locks, a cache that takes any model name, a ruff that fails loud."""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from lakeforge.tables import TableSpec
from scaffolder.audit import ReplyCache
from scaffolder.checks import ruff_fix_and_format
from scaffolder.errors import ScaffoldError
from scaffolder.stubs import stub_module
from scaffolder.writer import MANIFEST, Manifest, atomic_write, load_manifest, save_manifest

from .conftest import bronze_table, good_reply, scaffold, scaffold_loopback, scaffold_started, write_tables
from .llm_server import Action, ScriptedLLM


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_keep_the_mode_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    existing = tmp_path / "script.sh"
    existing.write_text("old")
    existing.chmod(0o755)
    atomic_write(existing, "new")
    assert existing.read_text() == "new" and mode(existing) == 0o755
    old = os.umask(0o027)
    try:
        fresh = tmp_path / "fresh.txt"
        atomic_write(fresh, "x")
        assert mode(fresh) == 0o640
    finally:
        os.umask(old)


def test_add_keeps_tables_yml_mode_comments_and_style(template_repo: Path, tmp_path: Path) -> None:
    from ..template.conftest import copy_project

    project = copy_project(template_repo, tmp_path / "shop", project_name="shop")
    tables = project / "tables.yml"
    tables.chmod(0o644)
    before = tables.read_text()
    result = scaffold(
        project,
        "add",
        "silver",
        "refunds",
        "-c",
        "refund_id:string!",
        "-c",
        "amount:decimal(10,2)",
        "--input",
        "raw_orders",
        "--description",
        "Refunds: one per id, #1 source.",
    )
    assert result.returncode == 0, result.stderr
    after = tables.read_text()
    assert mode(tables) == 0o644
    assert after.startswith(before.rstrip("\n") + "\n")  # comments and entries untouched
    assert after[len(before.rstrip("\n")) + 1 :] == (
        "\n"
        "  - name: refunds\n"
        "    layer: silver\n"
        '    description: "Refunds: one per id, #1 source."\n'
        "    inputs: [raw_orders]\n"
        "    schema:\n"
        "      - {name: refund_id, type: string, nullable: false}\n"
        '      - {name: amount, type: "decimal(10,2)"}\n'
    )
    entry = yaml.safe_load(after)["tables"][-1]
    assert entry["description"] == "Refunds: one per id, #1 source."
    assert mode(project / "src/shop/transformations/silver/refunds.py") == 0o666 & ~_umask()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@pytest.mark.parametrize(
    "description",
    ['He said """hi"""', "C:\\x\\Users \\N{x} \\u12", "café 😀 — naïve", 'ends with a quote"', "a backslash\\"],
)
def test_a_stub_parses_whatever_the_description(description: str) -> None:
    spec = TableSpec.model_validate(
        {
            "name": "t",
            "layer": "bronze",
            "description": description,
            "source": {"path": "p", "format": "csv"},
            "schema": [{"name": "id", "type": "int"}],
        }
    )
    tree = ast.parse(stub_module(spec))
    assert ast.get_docstring(tree).startswith(f"t (bronze): {description}")


def test_a_module_that_does_not_parse_is_broken_not_filled(bare_project: Path) -> None:
    write_tables(bare_project, [bronze_table("orders")])
    module = bare_project / "src/shop/transformations/bronze/orders.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text("def transform(raw:\n")
    result = scaffold(bare_project, "fill", "bronze")
    assert result.returncode == 1
    assert "refused" in result.stdout and "orders.py does not parse" in result.stdout
    assert "already filled" not in result.stdout
    assert module.read_text() == "def transform(raw:\n"


def test_a_manifest_with_conflict_markers_gets_one_line(bare_project: Path) -> None:
    (bare_project / MANIFEST).parent.mkdir(exist_ok=True)
    (bare_project / MANIFEST).write_text(
        '{\n  "version": 1,\n  "files": {\n<<<<<<< HEAD\n    "a.py": "1"\n=======\n    "b.py": "2"\n>>>>>>> feature\n  }\n}\n'
    )
    write_tables(bare_project, [bronze_table("orders")])
    result = scaffold(bare_project, "fill", "bronze")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert ".scaffold/manifest.json has merge-conflict markers" in " ".join(result.stderr.split())


def test_the_manifest_is_one_sorted_key_per_line_and_merges_concurrent_writers(tmp_path: Path) -> None:
    def writer(names: list[str]) -> None:
        for name in names:
            manifest = load_manifest(tmp_path)
            manifest.record(name, name)
            save_manifest(tmp_path, manifest)

    threads = [threading.Thread(target=writer, args=([f"{t}-{i}.py" for i in range(20)],)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = (tmp_path / MANIFEST).read_text()
    files = json.loads(text)["files"]
    assert len(files) == 60, "a concurrent save lost entries"
    assert list(files) == sorted(files)
    assert all(line.strip().startswith(('"', "{", "}")) for line in text.splitlines())
    assert text.count("\n") == 60 + 5  # one line per entry: git merges it line by line


def test_manifest_from_another_process_is_not_lost(tmp_path: Path) -> None:
    ours = Manifest()
    ours.record("ours.py", "x")
    other = load_manifest(tmp_path)
    other.record("theirs.py", "y")
    save_manifest(tmp_path, other)  # another scaffold saved meanwhile
    save_manifest(tmp_path, ours)
    assert set(load_manifest(tmp_path).files) == {"ours.py", "theirs.py"}


def test_a_model_name_with_slash_and_colon_is_cached(bare_project: Path) -> None:
    assert "/" not in ReplyCache.key("ollama", "org/model:v1", "abc")
    write_tables(bare_project, [bronze_table("orders")])
    reply = good_reply(bare_project, "orders")
    with ScriptedLLM(lambda request: Action(content=reply)) as llm:
        result = scaffold_loopback(bare_project, llm.base_url, "fill", "bronze", "--model", "org/model:v1", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((bare_project / ".scaffold" / "cache").glob("*.json"))) == 1


def test_ruff_crashing_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = "long"\n')
    with pytest.raises(ScaffoldError, match="ruff check failed with exit code 2"):
        ruff_fix_and_format({"src/m.py": "x = 1\n"}, tmp_path)


def test_ruff_missing_is_an_error_not_a_pass(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.modules['ruff'] = None\n"
        "from pathlib import Path\nfrom scaffolder.checks import ruff_fix_and_format\n"
        "ruff_fix_and_format({'m.py': 'x = 1\\n'}, Path('.'))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1
    assert "ruff is not installed: `pip install ruff`" in run.stderr


@pytest.mark.slow
def test_a_persons_edit_during_a_fill_is_not_overwritten(bare_project: Path) -> None:
    """The model is slow; meanwhile a person edits the stub: the fill writes nothing over it."""
    write_tables(bare_project, [bronze_table("orders")])
    reply = good_reply(bare_project, "orders")
    module = bare_project / "src/shop/transformations/bronze/orders.py"
    scaffold(bare_project, "fill", "bronze", "--dry-run")  # writes the stub first, like a fill does
    with ScriptedLLM(lambda request: Action(content=reply, delay=3)) as llm:
        process = scaffold_started(bare_project, llm.base_url, "fill", "bronze")
        deadline = time.monotonic() + 120
        while not llm.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        edited = module.read_text().replace('"""Not written yet."""', '"""Started by hand while the fill ran."""')
        module.write_text(edited)
        output, _ = process.communicate(timeout=900)
    assert process.returncode == 1, output
    assert "changed while the fill ran" in " ".join(output.split())
    assert module.read_text() == edited


def test_the_offline_generator_says_why_and_is_asked_once(bare_project: Path) -> None:
    write_tables(
        bare_project,
        [
            bronze_table("orders"),
            {
                "name": "summary",
                "layer": "gold",
                "description": "Needs a model: no group_by or measures.",
                "inputs": ["orders"],
                "schema": [{"name": "id", "type": "int"}],
            },
        ],
    )
    result = scaffold(bare_project, "fill", "gold", "--provider", "offline", "--max-attempts", "3")
    output = " ".join(result.stdout.split())
    assert result.returncode == 1
    assert "the offline generator cannot write summary: gold tables need group_by and measures hints" in output
    assert "no code blocks" not in output
    assert re.search(r"^summary\s+gold\s+failed\s+-/1\s", result.stdout, re.M), result.stdout
