"""copier copy → a repo that passes its own checks, for a matrix of answers.

Each variant is rendered, linted with its own ruff settings, validated against the bundle JSON
schema and actionlint, installed, and its own test suite run. All variants' suites run in one
pytest process (one JVM) to keep the wall time sane.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import SCHEMA_FILE, copy_project, pip_install, venv_python

VARIANTS: dict[str, dict[str, Any]] = {
    "lakeflow-serverless-github-examples": {
        "project_name": "shop_a",
    },
    "lakeflow-classic-gitlab-mc-examples": {
        "project_name": "shop_b",
        "compute": "classic",
        "ci_provider": "gitlab",
        "monte_carlo": True,
        "cloud": "azure",
        "run_as": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    },
    "jobs-serverless-github-mc-bare": {
        "project_name": "shop_c",
        "orchestration": "jobs",
        "monte_carlo": True,
        "include_examples": False,
    },
    "jobs-classic-github-examples": {
        "project_name": "shop_d",
        "orchestration": "jobs",
        "compute": "classic",
        "cloud": "gcp",
    },
    "lakeflow-serverless-gitlab-bare-two-envs": {
        "project_name": "shop_e",
        "ci_provider": "gitlab",
        "include_examples": False,
        "environments": ["local", "dev"],
    },
    "jobs-serverless-gitlab-mc-examples-no-lab": {
        "project_name": "shop_f",
        "orchestration": "jobs",
        "ci_provider": "gitlab",
        "monte_carlo": True,
        "environments": ["local", "dev", "prod"],
    },
}
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|%\}")


@dataclass
class Rendered:
    path: Path
    answers: dict[str, Any]
    install: subprocess.CompletedProcess[str] | None = None
    results: dict[str, str] = field(default_factory=dict)  # test id -> passed/failed/skipped
    output: str = ""  # the tail of the shared pytest run, for failure messages


@pytest.fixture(scope="module")
def matrix(template_repo: Path, project_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    root = tmp_path_factory.mktemp("matrix")
    rendered = {}
    for name, answers in VARIANTS.items():
        project = copy_project(template_repo, root / name, **answers)
        rendered[name] = Rendered(project, answers, install=pip_install(project_venv, project))
    _run_all_suites(rendered, project_venv, root / "junit.xml")
    return rendered


def _run_all_suites(rendered: dict[str, Rendered], venv: Path, junit: Path) -> None:
    """One pytest process for every variant's own tests; results split back per variant."""
    args = [
        str(venv_python(venv)),
        "-m",
        "pytest",
        "-p",
        "lakeforge.testing",
        "--noconftest",  # each repo's conftest.py is the same one line: `-p lakeforge.testing`
        "--import-mode=importlib",
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-q",
        "--continue-on-collection-errors",  # one broken variant must not hide the others
        f"--junitxml={junit}",
        f"--rootdir={junit.parent}",
        *[str(r.path / "tests") for r in rendered.values()],
    ]
    run = subprocess.run(args, capture_output=True, text=True, check=False, timeout=1800)
    if not junit.exists():
        raise AssertionError(f"the projects' pytest run wrote no report:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = f"failed: {(child.get('message') or '')[:300]}"
            elif child.tag == "skipped":
                outcome = "skipped"
        test_id = f"{case.get('classname')}::{case.get('name')}"
        for name, r in rendered.items():
            if test_id.startswith(f"{name}."):
                r.results[test_id] = outcome
    for r in rendered.values():
        r.output = run.stdout[-4000:] + run.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_renders_completely(matrix: dict[str, Rendered], variant: str) -> None:
    project = matrix[variant].path
    leftovers = []
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and "vendor" not in path.parts:  # vendor/: built wheels
            text = path.read_text(encoding="utf-8", errors="replace")
            leftovers += [
                f"{path.relative_to(project)}:{n}"
                for n, line in enumerate(text.splitlines(), 1)
                if UNRENDERED.search(line)
            ]
    assert not leftovers, f"unrendered Jinja in {leftovers}"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_name"] == VARIANTS[variant]["project_name"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_ruff_is_clean(matrix: dict[str, Rendered], variant: str) -> None:
    project = matrix[variant].path
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_bundle_validates_against_the_schema(matrix: dict[str, Rendered], variant: str) -> None:
    if not SCHEMA_FILE.is_file():
        pytest.skip(f"bundle JSON schema not found at {SCHEMA_FILE} (it lives in shared/schemas, not in this repo)")
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))
    project = matrix[variant].path
    files = [project / "databricks.yml", *sorted((project / "resources").glob("*.yml"))]
    problems = []
    for path in files:
        for error in validator.iter_errors(yaml.safe_load(path.read_text())):
            problems.append(f"{path.name} at /{'/'.join(map(str, error.instance_path))}: {error.message[:200]}")
    assert not problems, "\n".join(problems)
    names = {p.name for p in files}
    orchestration = VARIANTS[variant].get("orchestration", "lakeflow")
    project_name = VARIANTS[variant]["project_name"]
    expected = f"{project_name}.pipeline.yml" if orchestration == "lakeflow" else f"{project_name}.job.yml"
    assert expected in names and "schemas.yml" in names and "test_job.job.yml" in names


def test_schema_validation_catches_a_broken_bundle() -> None:
    """The negative control: the schema check above is not vacuous."""
    if not SCHEMA_FILE.is_file():
        pytest.skip(f"bundle JSON schema not found at {SCHEMA_FILE}")
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))
    broken = {"resources": {"pipelines": {"p": {"serverless": True, "librarys": []}}}}
    assert list(validator.iter_errors(broken))


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_ci_files_for_the_chosen_provider(matrix: dict[str, Rendered], variant: str) -> None:
    project = matrix[variant].path
    provider = VARIANTS[variant].get("ci_provider", "github")
    workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
    if provider == "gitlab":
        assert not workflows
        gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
        assert "test" in gitlab and any(key.startswith("deploy-") for key in gitlab)
        return
    assert not (project / ".gitlab-ci.yml").exists()
    assert [w.name for w in workflows] == ["ci.yml", "deploy.yml"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "actionlint"), "-no-color", *map(str, workflows)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"
    deploy = yaml.safe_load(workflows[1].read_text())
    if "prod" in VARIANTS[variant].get("environments", ["prod"]):
        assert deploy["jobs"]["deploy-prod"]["environment"] == "production"


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_project_installs_and_its_own_tests_pass(matrix: dict[str, Rendered], variant: str) -> None:
    rendered = matrix[variant]
    assert rendered.install is not None and rendered.install.returncode == 0, rendered.install.stderr[-2000:]
    failed = {k: v for k, v in rendered.results.items() if v.startswith("failed")}
    assert not failed, f"{failed}\n{rendered.output}"
    passed = [k for k, v in rendered.results.items() if v == "passed"]
    with_examples = VARIANTS[variant].get("include_examples", True)
    # contract tests always run; the examples add their unit tests
    assert len(passed) >= (15 if with_examples else 5), f"{rendered.results}\n{rendered.output}"
    if with_examples:
        assert any("tests/unit" in k or ".unit." in k for k in passed), rendered.results
