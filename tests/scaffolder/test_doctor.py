"""`scaffold doctor`: clean on a fresh copy, each problem found (with its fix) in a broken one, and
the team's intended edits to template files told apart from breakage (information, exit 0).

Real copier copies of the tagged test template, real git, and the template rendered again at the
recorded `_commit` for drift; the broken repo is copied from a clone of the template so that a
newer version can be tagged there without touching the shared template.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scaffolder.doctor import TEAM_OWNED, FindingKind, newer_tag, run_doctor
from scaffolder.project import load_project
from scaffolder.stubs import stub_module

from ..template.conftest import ROOT, commit_all, copy_project, git
from .conftest import scaffold

GHOST = """
  - name: ghost
    layer: silver
    description: Declared, never written.
    inputs: [raw_customers]
    schema:
      - {name: customer_id, type: int}
"""
PENDING = """
  - name: pending
    layer: gold
    description: Added, not filled yet.
    inputs: [customers]
    schema:
      - {name: customer_id, type: int}
"""
BROKEN = """
  - name: broken
    layer: silver
    description: Half-edited.
    inputs: [raw_orders]
    schema:
      - {name: order_id, type: string}
"""


def test_a_fresh_copy_is_clean_and_an_unreachable_template_is_only_a_note(template_repo: Path, tmp_path: Path) -> None:
    project = copy_project(template_repo, tmp_path / "shop", project_name="shop", vcs_ref="HEAD")
    commit_all(project, "start")
    result = scaffold(project, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout and "note:" not in result.stdout  # drift and updates were checked

    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(f"_src_path: {template_repo}", f"_src_path: {tmp_path / 'gone'}"))
    report = run_doctor(load_project(project))
    assert report.clean, report.findings
    assert [n.split(":")[0] for n in report.notes] == ["template drift not checked", "template updates not checked"]


def test_doctor_finds_each_problem_and_says_how_to_fix_it(template_repo: Path, tmp_path: Path) -> None:
    template = tmp_path / "template"
    git(tmp_path, "clone", "-q", str(template_repo), str(template))
    project = copy_project(template, tmp_path / "shop", project_name="shop", vcs_ref="HEAD")
    commit_all(project, "start")
    pkg = project / "src" / "shop" / "transformations"

    # tables and modules: no module, a module without a table, a stub, one that does not parse, SCHEMA drift
    (project / "tables.yml").write_text((project / "tables.yml").read_text() + GHOST + PENDING + BROKEN)
    (pkg / "silver" / "leftover.py").write_text("def transform(x):\n    return x\n")
    (pkg / "gold" / "pending.py").write_text(stub_module(load_project(project).tables().get("pending")))
    (pkg / "silver" / "broken.py").write_text("def transform(raw_orders:\n")
    raw_customers = pkg / "bronze" / "raw_customers.py"
    raw_customers.write_text(
        raw_customers.read_text().replace(
            'T.StructField("customer_id", T.IntegerType(), True)', 'T.StructField("customer_id", T.LongType(), True)'
        )
    )
    # merge leftovers: markers in a tracked file (the team's README: not drift), a .rej and an .orig
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "<<<<<<< before updating\nold\n=======\nnew\n>>>>>>> after updating\n")
    (project / "databricks.yml.rej").write_text("@@ -1 +1 @@\n-a\n+b\n")
    (project / "pyproject.toml.orig").write_text("[project]\n")
    # the team's edits: an edited template file and a deleted one (information), a deleted one the
    # bundle still points at (a problem), a resource file that no longer parses (a problem)
    (project / ".pre-commit-config.yaml").write_text(
        (project / ".pre-commit-config.yaml").read_text() + "# skip hooks\n"
    )
    (project / ".mcp.json").unlink()
    (project / "src" / "shop" / "pipeline" / "definitions.py").unlink()
    (project / "src" / "shop" / "main.py").unlink()
    (project / "conftest.py").unlink()
    test_job = project / "resources" / "test_job.job.yml"
    test_job.write_text(test_job.read_text() + "  jobs: [unclosed\n")
    # configuration: an unknown key, and lab pointing at prod's catalog
    (project / "config" / "dev.yaml").write_text(
        (project / "config" / "dev.yaml").read_text() + "tabel_format: delta\n"
    )
    lab = project / "config" / "lab.yaml"
    lab.write_text(lab.read_text().replace("name: lab_analytics", "name: prod_analytics"))
    # a newer template version
    local = template / "template" / "config" / "local.yaml.jinja"
    local.write_text(local.read_text() + "# v2\n")
    git(template, "commit", "-qam", "v2")
    git(template, "tag", "v2")

    report = run_doctor(load_project(project))
    found = {(f.kind, f.path) for f in report.findings}
    expected = {
        (FindingKind.MISSING_MODULE, "src/shop/transformations/silver/ghost.py"),
        (FindingKind.ORPHAN_MODULE, "src/shop/transformations/silver/leftover.py"),
        (FindingKind.STUB, "src/shop/transformations/gold/pending.py"),
        (FindingKind.SYNTAX, "src/shop/transformations/silver/broken.py"),
        (FindingKind.SCHEMA, "src/shop/transformations/bronze/raw_customers.py"),
        (FindingKind.CONFLICT, "README.md"),
        (FindingKind.LEFTOVER, "databricks.yml.rej"),
        (FindingKind.LEFTOVER, "pyproject.toml.orig"),
        (FindingKind.DELETED, "src/shop/pipeline/definitions.py"),
        (FindingKind.DELETED, "src/shop/main.py"),
        (FindingKind.DELETED, "conftest.py"),
        (FindingKind.CONFIG, "resources/test_job.job.yml"),
        (FindingKind.UPDATE, ".copier-answers.yml"),
        (FindingKind.CONFIG, "config/dev.yaml"),
        (FindingKind.ISOLATION, "config/lab.yaml"),
    }
    assert found == expected, sorted(found ^ expected)
    assert report.notes == []
    by = {(f.kind, f.path): f for f in report.findings}
    schema = by[FindingKind.SCHEMA, "src/shop/transformations/bronze/raw_customers.py"]
    assert "SCHEMA column 0 is ('customer_id', 'bigint', True), tables.yml says ('customer_id', 'int', True)" in (
        schema.message
    )
    assert by[FindingKind.STUB, "src/shop/transformations/gold/pending.py"].fix.startswith(
        "`scaffold fill gold --table pending`"
    )
    assert by[FindingKind.CONFLICT, "README.md"].message.endswith(f"line(s) {_marker_lines(readme)}")
    assert by[FindingKind.UPDATE, ".copier-answers.yml"].message == (
        "the template has a newer version: 2 (this repo is at 1)"
    )
    assert "tabel_format: unknown setting" in by[FindingKind.CONFIG, "config/dev.yaml"].message
    assert "names the prod catalog 'prod_analytics'" in by[FindingKind.ISOLATION, "config/lab.yaml"].message
    assert by[FindingKind.DELETED, "src/shop/pipeline/definitions.py"].message == (
        "the template's file is gone, but resources/shop.pipeline.yml points at src/shop/pipeline/**"
    )
    assert by[FindingKind.DELETED, "src/shop/main.py"].message == (
        "the template's file is gone, but pyproject.toml's entry point run = 'shop.main:run' runs it"
    )
    assert "pytest loads it" in by[FindingKind.DELETED, "conftest.py"].message
    assert "is not valid YAML (line " in by[FindingKind.CONFIG, "resources/test_job.job.yml"].message
    assert all(f.fix and f.message for f in report.findings)
    edits = {e.path: e.stat for e in report.edits}
    assert edits == {
        ".mcp.json": "deleted",
        "conftest.py": "deleted",
        "src/shop/main.py": "deleted",
        ".pre-commit-config.yaml": "edited, +1 -0 lines",
        "config/dev.yaml": "edited, +1 -0 lines",
        "config/lab.yaml": "edited, +1 -1 lines",
        "resources/test_job.job.yml": "edited, +1 -0 lines",
        "src/shop/pipeline/definitions.py": "deleted",
    }
    assert report.template == f"{template} at v1"

    result = scaffold(project, "doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    for finding in report.findings:
        assert f"{finding.kind.value} {finding.path}: {finding.message}" in result.stdout
        assert f"  fix: {finding.fix}" in result.stdout
    assert f"{len(expected) - 1} problem(s)" in result.stdout  # the newer template version is advice


def test_intended_edits_are_notes_and_merge_leftovers_fail(template_repo: Path, tmp_path: Path) -> None:
    """Editing config, the bundle and resources on purpose (what `scaffold monitors` asks for, what each
    team does) keeps doctor at exit 0 with a note, committed or not; a conflict marker or a .rej fails."""
    project = copy_project(template_repo, tmp_path / "shop", project_name="shop", vcs_ref="HEAD")
    commit_all(project, "start")
    defaults = project / "config" / "defaults.yaml"
    defaults.write_text(defaults.read_text() + "monte_carlo:\n  namespace: shop\n")
    dev = project / "config" / "dev.yaml"
    dev.write_text(dev.read_text().replace("table_format: delta", "table_format: delta\nlanding_root: /Volumes/x/y/z"))
    bundle = project / "databricks.yml"
    bundle.write_text(bundle.read_text().replace("default: bi_analysts", "default: bi_readers"))
    for committed in (False, True):
        if committed:
            commit_all(project, "our settings")
        result = scaffold(project, "doctor")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "note: 3 file(s) the template renders differ from it: your edits, kept by copier update" in (
            result.stdout
        )
        assert re.search(r"config/defaults\.yaml +edited, \+2 -0 lines", result.stdout), result.stdout
        assert re.search(r"databricks\.yml +edited, \+1 -1 lines", result.stdout), result.stdout
        assert "scaffold doctor --diff" in result.stdout and "no problems found" in result.stdout
    patch = scaffold(project, "doctor", "--diff")
    assert patch.returncode == 0, patch.stdout + patch.stderr
    assert "--- a/config/defaults.yaml\n+++ b/config/defaults.yaml\n" in patch.stdout
    assert "+monte_carlo:\n+  namespace: shop\n" in patch.stdout

    # What breaks the next `copier update` (or the repo) fails: a conflict marker, then a .rej
    dev.write_text(dev.read_text() + "<<<<<<< before updating\ncatalog: {name: dev_a}\n=======\n>>>>>>> after\n")
    result = scaffold(project, "doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "conflict config/dev.yaml: conflict markers on line(s)" in result.stdout
    git(project, "checkout", "--", "config/dev.yaml")
    (project / "config" / "dev.yaml.rej").write_text("@@ -1 +1 @@\n-a\n+b\n")
    result = scaffold(project, "doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "leftover config/dev.yaml.rej: a change copier update could not apply to config/dev.yaml" in result.stdout
    assert "1 problem(s)" in result.stdout


def _marker_lines(path: Path) -> str:
    lines = path.read_text().splitlines()
    return ", ".join(str(n) for n, line in enumerate(lines, 1) if re.match(r"<{7} |={7}$|>{7} ", line))


def test_the_tag_check_without_copier(template_repo: Path, tmp_path: Path) -> None:
    """The fallback for a copier with no `check-update`: the template's tags, over git."""
    template = tmp_path / "template"
    git(tmp_path, "clone", "-q", str(template_repo), str(template))
    assert newer_tag(str(template), "v1") == (False, "1", "1")
    (template / "README.md").write_text("v1.1\n")
    git(template, "commit", "-qam", "v1.1")
    git(template, "tag", "v1.1.0")
    git(template, "tag", "v2.0.0rc1")  # a pre-release is not offered
    assert newer_tag(str(template), "v1-3-gabc1234") == (True, "1", "1.1.0")
    try:
        newer_tag(str(tmp_path / "gone"), "v1")
    except RuntimeError as exc:
        assert str(exc).startswith(f"git ls-remote {tmp_path / 'gone'} failed")
    else:
        raise AssertionError("an unreachable template must raise (doctor turns it into a note)")


def test_what_doctor_leaves_to_the_team_is_what_copier_yml_leaves_to_it() -> None:
    copier_yml = yaml.safe_load((ROOT / "copier.yml").read_text())
    patterns = list(copier_yml["_skip_if_exists"])
    for item in copier_yml["_exclude"]:
        conditional = re.fullmatch(r"\{%\s*if _copier_operation == 'update'\s*%\}(.+?)\{%\s*endif\s*%\}", item)
        patterns.append(conditional.group(1) if conditional else item)
    assert set(patterns) <= set(TEAM_OWNED), sorted(set(patterns) - set(TEAM_OWNED))
