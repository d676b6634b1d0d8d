"""The examples a model copies obey the rules beside them: the gate proves them like any reply.

Models copy examples before they follow rules, so the library exemplars, the template's example
tables and what a prompt shows are held to the same bar as generated code: in-memory tests that
pass twice, kill every mutant and honour the output contract, each exemplar shown once.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml

from lakeforge.tables import parse_tables
from scaffolder.project import load_project
from scaffolder.prompts import PromptBuilder
from scaffolder.resources import examples_dir

from ..template.conftest import ROOT, copy_project
from .conftest import scaffold

FEWSHOT = sorted((examples_dir() / "fewshot").glob("*_*.md"))


def exemplar(path: Path) -> tuple[dict, dict[str, str]]:
    """The spec and the files (path -> text) of one library exemplar."""
    text = path.read_text()
    spec = yaml.safe_load(re.search(r"# spec\n```yaml\n(.*?)```", text, flags=re.S).group(1))
    files = dict(re.findall(r"^(\S+\.py)\n```python\n(.*?)```", text, flags=re.S | re.M))
    return spec, files


def test_exemplars_test_in_memory_with_exact_rows() -> None:
    assert len(FEWSHOT) >= 6
    for path in FEWSHOT:
        _, files = exemplar(path)
        tests = next(text for rel, text in files.items() if rel.startswith("tests/"))
        assert "read_source" not in tests and "data/landing" not in tests and "open(" not in tests, path.name
        assert "make_df(" in tests and "assert_df_equal(" in tests, path.name


def test_exemplars_of_template_tables_are_the_templates_own_code() -> None:
    """One source of truth: the template's examples; the library shows exactly them."""
    tables = yaml.safe_load(
        jinja2.Template((ROOT / "template" / "tables.yml.jinja").read_text()).render(include_examples=True)
    )
    by_name = {t["name"]: t for t in tables["tables"]}
    checked = 0
    for path in FEWSHOT:
        spec, files = exemplar(path)
        if spec["name"] not in by_name:
            continue
        checked += 1
        assert spec == by_name[spec["name"]], path.name
        layer, name = spec["layer"], spec["name"]
        module = next(
            (ROOT / "template/src/{{ package_name }}/transformations" / layer).glob(f"*{name}.py*")
        ).read_text()
        test = next((ROOT / "template/tests/unit" / layer).glob(f"*test_{name}.py*")).read_text()
        assert files[f"src/shop/transformations/{layer}/{name}.py"] == module, path.name
        rendered = jinja2.Template(test, keep_trailing_newline=True).render(package_name="shop")
        assert files[f"tests/unit/{layer}/test_{name}.py"] == rendered, path.name
    assert checked == 5


@pytest.mark.slow
def test_every_library_exemplar_is_proven_by_the_gate(bare_project: Path) -> None:
    specs, files = [], {}
    for path in FEWSHOT:
        spec, exemplar_files = exemplar(path)
        specs.append(spec)
        files.update(exemplar_files)
    order = {"bronze": 0, "silver": 1, "gold": 2}
    specs.sort(key=lambda s: order[s["layer"]])
    (bare_project / "tables.yml").write_text(yaml.safe_dump({"version": 1, "tables": specs}, sort_keys=False))
    for rel, text in files.items():
        (bare_project / rel).parent.mkdir(parents=True, exist_ok=True)
        (bare_project / rel).write_text(text)
    result = scaffold(bare_project, "validate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count(": proven —") == len(specs), output  # the verdict lines, not the progress


@pytest.mark.slow
def test_the_template_examples_are_proven_by_the_gate(template_repo: Path, tmp_path: Path) -> None:
    project = copy_project(template_repo, tmp_path / "shop", project_name="shop")
    result = scaffold(project, "validate")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output
    for table in ("raw_customers", "raw_orders", "customers", "orders", "customer_revenue"):
        assert re.search(rf"{table}: proven — (\d+)/\1 mutants killed", output), output


def test_a_prompt_shows_each_exemplar_once(template_repo: Path, tmp_path: Path) -> None:
    """A repo made from the template holds the library's raw_orders: the prompt shows it once."""
    project_dir = copy_project(template_repo, tmp_path / "shop", project_name="shop")
    text = (project_dir / "tables.yml").read_text()
    text += (
        "\n  - name: raw_order_lines\n    layer: bronze\n    description: Web shop order lines, JSON.\n"
        "    source: {path: order_lines, format: json}\n    schema:\n"
        '      - {name: order_id, type: string}\n      - {name: amount, type: "decimal(10,2)"}\n'
    )
    (project_dir / "tables.yml").write_text(text)
    project = load_project(project_dir)
    tables = parse_tables(yaml.safe_load(text))
    prompt = PromptBuilder(project.root, project.package, tables).build(tables.get("raw_order_lines"))
    names = [e.split(":", 1)[1] for e in prompt.exemplars]
    assert prompt.exemplars[0].startswith("repo:")
    assert len(names) == len(set(names)) >= 2, prompt.exemplars
    user = prompt.messages[1]["content"]
    for name in names:
        assert user.count(f"src/shop/transformations/bronze/{name}.py\n") == 1, name
    assert "assert_df_equal" in user and "no reads of `data/`" in user
