"""The generated bundle and CI deploy as they are: read from the rendered YAML of a few variants.

Each test names one deploy-time promise: the runtime travels with every workload, one Databricks
Runtime is named in one place, CI signs in without a stored secret and deploys only after CI
passes, prod data is protected, and the integration tests find the deployed schemas.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeforge.runner import PACKAGED_PROJECT

from .conftest import ROOT, SCHEMA_FILE, copy_project

RUN_AS = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
INDEX = "https://pkgs.example.com/api/pypi/simple"
LAYERS = ("bronze", "silver", "gold")

VARIANTS: dict[str, dict[str, Any]] = {
    # defaults: lakeflow, serverless, github, self-contained, oidc, no run_as
    "lakeflow-serverless": {"project_name": "dep_a"},
    "lakeflow-classic-gitlab-run-as": {
        "project_name": "dep_b",
        "compute": "classic",
        "ci_provider": "gitlab",
        "run_as": RUN_AS,
        "include_examples": False,
    },
    "jobs-serverless-index-token": {
        "project_name": "dep_c",
        "orchestration": "jobs",
        "lakeforge_index": INDEX,
        "ci_auth": "token",
        "include_examples": False,
    },
    "jobs-classic-run-as-own-readers": {
        "project_name": "dep_d",
        "orchestration": "jobs",
        "compute": "classic",
        "cloud": "azure",
        "run_as": RUN_AS,
        "readers_group": "analysts",
        "include_examples": False,
    },
    "jobs-serverless-github-dev-only": {
        "project_name": "dep_f",
        "orchestration": "jobs",
        "environments": ["local", "dev"],
        "include_examples": False,
    },
    "lakeflow-classic-index-gitlab-token-two-envs": {
        "project_name": "dep_e",
        "compute": "classic",
        "ci_provider": "gitlab",
        "ci_auth": "token",
        "lakeforge_index": INDEX,
        "environments": ["local", "dev"],
        "include_examples": False,
    },
}


def _copier_defaults() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "copier.yml").read_text())


COPIER = _copier_defaults()
DBR = COPIER["databricks_runtime"]["default"]
VERSION = COPIER["lakeforge_version"]["default"]
WHEEL = f"../vendor/lakeforge-{VERSION}-py3-none-any.whl"


class Repo:
    """One rendered repo, its answers and its parsed bundle and CI files."""

    def __init__(self, path: Path, answers: dict[str, Any]) -> None:
        self.path = path
        self.answers = answers
        self.name = answers["project_name"]
        self.bundle = yaml.safe_load((path / "databricks.yml").read_text())
        self.resources = {p.name: yaml.safe_load(p.read_text()) for p in sorted((path / "resources").glob("*.yml"))}

    def get(self, key: str) -> Any:
        defaults = {
            "orchestration": "lakeflow",
            "compute": "serverless",
            "ci_provider": "github",
            "ci_auth": "oidc",
            "lakeforge_index": "",
            "run_as": "",
            "environments": ["local", "lab", "dev", "prod"],
            "readers_group": "account users",
        }
        return self.answers.get(key, defaults.get(key))

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {k: v for doc in self.resources.values() for k, v in doc["resources"].get("jobs", {}).items()}

    def pipelines(self) -> dict[str, dict[str, Any]]:
        return {k: v for doc in self.resources.values() for k, v in doc["resources"].get("pipelines", {}).items()}

    def text(self) -> str:
        files = [self.path / "databricks.yml", *sorted((self.path / "resources").glob("*.yml"))]
        return "\n".join(p.read_text() for p in files)


@pytest.fixture(scope="module")
def repos(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Repo]:
    root = tmp_path_factory.mktemp("deploys")
    return {
        name: Repo(copy_project(template_repo, root / name, **answers), answers) for name, answers in VARIANTS.items()
    }


def _workload_dependencies(repo: Repo) -> dict[str, list[str]]:
    """What each deployed workload installs: pipeline environments, and per job task its
    libraries (whl paths, pypi packages) or its serverless environment's dependencies."""
    found = {}
    for key, pipeline in repo.pipelines().items():
        found[f"pipeline {key}"] = pipeline["environment"]["dependencies"]
    for key, job in repo.jobs().items():
        environments = {env["environment_key"]: env["spec"] for env in job.get("environments", [])}
        for task in job["tasks"]:
            if "pipeline_task" in task:
                continue
            shipped = [lib.get("whl") or lib["pypi"]["package"] for lib in task.get("libraries", [])]
            shipped += environments.get(task.get("environment_key"), {}).get("dependencies", [])
            found[f"job {key} task {task['task_key']}"] = shipped
    return found


# 1. What deploys carries what it needs -------------------------------------------------------


def test_lakeforge_version_is_the_runtimes_version() -> None:
    init = (ROOT / "runtime" / "src" / "lakeforge" / "__init__.py").read_text()
    assert re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1) == VERSION
    assert COPIER["lakeforge_version"]["when"] is False


@pytest.mark.parametrize("variant", [v for v in VARIANTS if "index" not in v])
def test_self_contained_workloads_ship_the_vendored_runtime(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    workloads = _workload_dependencies(repo)
    expected = {"pipeline " + repo.name} if repo.get("orchestration") == "lakeflow" else set()
    expected |= {f"job {repo.name} task {layer}" for layer in LAYERS} if repo.get("orchestration") == "jobs" else set()
    expected.add("job test_job task integration_tests")
    assert expected <= set(workloads), workloads
    for workload, shipped in workloads.items():
        # the runtime first, so the project's wheel finds its requirement already installed
        assert shipped[:2] == [WHEEL, "../dist/*.whl"], f"{workload}: {shipped}"
    assert "--extra-index-url" not in repo.text() and "pypi.example" not in repo.text()
    # the copy task put that very wheel in vendor/ (the path is relative to resources/)
    vendored = sorted(p.name for p in (repo.path / "vendor").glob("*"))
    assert (repo.path / "resources" / WHEEL).resolve().is_file(), vendored


@pytest.mark.parametrize("variant", [v for v in VARIANTS if "index" in v])
def test_index_mode_installs_the_pinned_runtime_from_the_index(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    for workload, shipped in _workload_dependencies(repo).items():
        assert f"lakeforge=={VERSION}" in shipped and "../dist/*.whl" in shipped, f"{workload}: {shipped}"
    for pipeline in repo.pipelines().values():
        assert pipeline["environment"]["dependencies"][:2] == [f"--extra-index-url {INDEX}", f"lakeforge=={VERSION}"]
    for job in repo.jobs().values():
        for task in job["tasks"]:
            for lib in task.get("libraries", []):
                if lib.get("pypi", {}).get("package", "").startswith("lakeforge"):
                    assert lib["pypi"] == {"package": f"lakeforge=={VERSION}", "repo": INDEX}
        for env in job.get("environments", []):
            assert env["spec"]["dependencies"][:2] == [f"--extra-index-url {INDEX}", f"lakeforge=={VERSION}"]
    assert "vendor/" not in repo.text()


# 2. One Databricks Runtime, named in one place ----------------------------------------------


def test_the_runtime_is_one_derived_value() -> None:
    assert "python_version" in COPIER and COPIER["python_version"]["when"] is False
    assert COPIER["databricks_runtime"]["when"] is False
    assert DBR["spark_version"].startswith(DBR["lts"] + ".x-scala" + DBR["scala"])
    assert DBR["spark_version"] == "17.3.x-scala2.13" and DBR["environment_version"] == "4"
    assert DBR["python"] == "3.12" and DBR["spark"] == "4.0"
    # every other file reads the derived value instead of spelling a version
    for path in (ROOT / "template").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not re.search(r"\d+\.\d+\.x-scala", text), f"{path} names a spark_version"
            assert not re.search(r'environment_version: "\d', text), f"{path} names an environment_version"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_resource_and_tool_reads_the_same_runtime(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    for key, job in repo.jobs().items():
        for cluster in job.get("job_clusters", []):
            assert cluster["new_cluster"]["spark_version"] == DBR["spark_version"], key
            assert cluster["new_cluster"]["data_security_mode"] == "DATA_SECURITY_MODE_AUTO", key
        for env in job.get("environments", []):
            assert env["spec"]["environment_version"] == DBR["environment_version"], key
    serverless = repo.get("compute") == "serverless"
    assert any(job.get("environments") for job in repo.jobs().values()) == serverless
    assert any(job.get("job_clusters") for job in repo.jobs().values()) == (not serverless)

    pyproject = (repo.path / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.10,<3.13"' in pyproject
    assert 'target-version = "py310"' in pyproject
    if repo.get("ci_provider") == "github":
        for workflow in (repo.path / ".github" / "workflows").glob("*.yml"):
            versions = re.findall(r'python-version: "([^"]+)"', workflow.read_text())
            assert versions and set(versions) == {DBR["python"]}, workflow.name
    else:
        assert (
            yaml.safe_load((repo.path / ".gitlab-ci.yml").read_text())["default"]["image"] == f"python:{DBR['python']}"
        )


# 3. CI without long-lived secrets, deploy gated on CI ---------------------------------------


def _deploy_steps(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("variant", [v for v, a in VARIANTS.items() if a.get("ci_provider", "github") == "github"])
def test_github_deploys_after_ci_with_oidc_or_a_token(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    workflows = repo.path / ".github" / "workflows"
    deploy = yaml.safe_load((workflows / "deploy.yml").read_text())
    ci = yaml.safe_load((workflows / "ci.yml").read_text())
    trigger = deploy[True]  # YAML 1.1 reads the key `on` as True
    deployed = [env for env in repo.get("environments") if env != "local"]
    branches = ["main" if env == "prod" else env for env in deployed]
    assert trigger == {"workflow_run": {"workflows": [ci["name"]], "types": ["completed"], "branches": branches}}
    assert set(ci[True]["push"]["branches"]) == {"main", *branches} and "pull_request" in ci[True]
    for text in (workflows / "ci.yml").read_text(), (workflows / "deploy.yml").read_text():
        pins = re.findall(r"databricks/setup-cli@(\S+)", text)
        assert pins and set(pins) == {"v1.13.0"}, pins  # a release, never @main
    oidc = repo.get("ci_auth") == "oidc"
    assert set(deploy["jobs"]) == {f"deploy-{target}" for target in deployed}
    for target in deployed:
        job = deploy["jobs"][f"deploy-{target}"]
        branch = "main" if target == "prod" else target
        assert "github.event.workflow_run.conclusion == 'success'" in job["if"]
        assert "github.event.workflow_run.event == 'push'" in job["if"]
        assert f"github.event.workflow_run.head_branch == '{branch}'" in job["if"]
        assert job["environment"] == ("production" if target == "prod" else target)
        assert job["steps"][0]["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
        if oidc:
            assert job["permissions"] == {"contents": "read", "id-token": "write"}
            assert job["env"]["DATABRICKS_AUTH_TYPE"] == "github-oidc"
            assert job["env"]["DATABRICKS_CLIENT_ID"] == "${{ vars.DATABRICKS_CLIENT_ID }}"
            assert not any("secrets." in str(v) for v in job["env"].values())
        else:
            assert "permissions" not in job and "DATABRICKS_AUTH_TYPE" not in job["env"]
            assert job["env"]["DATABRICKS_TOKEN"] == "${{ secrets.DATABRICKS_TOKEN }}"
        host = repo.bundle["targets"][target]["workspace"]["host"]
        assert job["env"]["DATABRICKS_HOST"] == host
    validate = ci["jobs"]["validate"]
    assert validate["needs"] == "test" and validate["environment"] == "dev"
    assert ("id-token" in validate.get("permissions", {})) == oidc
    if oidc:
        assert "secrets." not in (workflows / "ci.yml").read_text() + (workflows / "deploy.yml").read_text()


@pytest.mark.parametrize("variant", [v for v, a in VARIANTS.items() if a.get("ci_provider") == "gitlab"])
def test_gitlab_deploys_after_tests_with_id_tokens_or_a_token(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    text = (repo.path / ".gitlab-ci.yml").read_text()
    gitlab = yaml.safe_load(text)
    assert gitlab["stages"].index("test") < gitlab["stages"].index("deploy")
    assert "/setup-cli/main/" not in text
    assert "setup-cli/v${DATABRICKS_CLI_VERSION}/install.sh" in gitlab[".databricks"]["before_script"][0]
    assert gitlab["variables"]["DATABRICKS_CLI_VERSION"] == "1.13.0"
    oidc = repo.get("ci_auth") == "oidc"
    if oidc:
        assert gitlab[".databricks"]["id_tokens"] == {"DATABRICKS_OIDC_TOKEN": {"aud": "$DATABRICKS_ACCOUNT_ID"}}
        assert gitlab[".databricks"]["variables"] == {"DATABRICKS_AUTH_TYPE": "env-oidc"}
        assert "DATABRICKS_TOKEN" not in text
    else:
        assert "id_tokens" not in gitlab[".databricks"] and "DATABRICKS_TOKEN" in text
    deployed = [env for env in repo.get("environments") if env != "local"]
    for target in deployed:
        job = gitlab[f"deploy-{target}"]
        assert job["extends"] == ".databricks" and job["stage"] == "deploy"
        assert job["environment"] == ("production" if target == "prod" else target)
        assert job["variables"]["DATABRICKS_HOST"] == repo.bundle["targets"][target]["workspace"]["host"]
        branch = "main" if target == "prod" else target
        assert job["rules"][0]["if"] == f'$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "{branch}"'
        assert job["rules"][0].get("when") == ("manual" if target == "prod" else None)


# 4. Deploys that would work on a real workspace ---------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_deploy_runs_the_pipeline_then_the_integration_tests(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    runner = f"{repo.name}_refresh" if repo.get("orchestration") == "lakeflow" else repo.name
    assert runner in repo.jobs()
    if repo.get("ci_provider") == "github":
        jobs = yaml.safe_load((repo.path / ".github" / "workflows" / "deploy.yml").read_text())["jobs"]
        scripts = {name.removeprefix("deploy-"): _deploy_steps(job) for name, job in jobs.items()}
    else:
        gitlab = yaml.safe_load((repo.path / ".gitlab-ci.yml").read_text())
        scripts = {k.removeprefix("deploy-"): v["script"] for k, v in gitlab.items() if k.startswith("deploy-")}
    for target, script in scripts.items():
        assert script[:2] == [f"databricks bundle validate -t {target}", f"databricks bundle deploy -t {target}"]
        if target == "prod":
            assert len(script) == 2, script  # prod runs on its schedule, not on every deploy
        else:
            assert script[2:] == [
                f"databricks bundle run {runner} -t {target}",
                f"databricks bundle run test_job -t {target}",
            ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_integration_tests_get_the_deployed_schema_names(
    repos: dict[str, Repo], variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = repos[variant]
    task = repo.jobs()["test_job"]["tasks"][0]
    params = task["spark_python_task"]["parameters"]
    sets = dict(params[i + 1].split("=", 1) for i, p in enumerate(params) if p == "--set")
    assert params[:2] == ["--env", "${var.environment}"]
    for layer in LAYERS:
        assert sets[f"catalog.schemas.{layer}"] == f"${{resources.schemas.{layer}.name}}"
    # the same names the pipeline (or the wheel tasks) get
    if repo.get("orchestration") == "lakeflow":
        configuration = repo.pipelines()[repo.name]["configuration"]
        assert {configuration[f"lakeforge.schema.{layer}"] for layer in LAYERS} == {
            sets[f"catalog.schemas.{layer}"] for layer in LAYERS
        }
    else:
        wheel_params = repo.jobs()[repo.name]["tasks"][0]["python_wheel_task"]["parameters"]
        for layer in LAYERS:
            assert f"catalog.schemas.{layer}={sets[f'catalog.schemas.{layer}']}" in wheel_params

    # run_tests.py hands them to the tests, which then name tables in the dev-prefixed schemas
    prefixed = {f"catalog.schemas.{layer}": f"dev_someone_{repo.name}_{layer}" for layer in LAYERS}
    argv = ["run_tests.py", "--env", "dev", *[a for k, v in prefixed.items() for a in ("--set", f"{k}={v}")]]
    for name in ("LAKEFORGE_ENV", "LAKEFORGE_INTEGRATION_SET"):
        monkeypatch.setenv(name, "")  # restored afterwards; run_tests.py sets them
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    monkeypatch.setattr(pytest, "main", lambda args: 0)  # the workspace run; here only the hand-over
    monkeypatch.chdir(repo.path)
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(repo.path / "tests" / "integration" / "run_tests.py"), run_name="__main__")
    assert done.value.code == 0
    assert json.loads(os.environ["LAKEFORGE_INTEGRATION_SET"]) == prefixed

    spec = importlib.util.spec_from_file_location(
        f"{repo.name}_it", repo.path / "tests" / "integration" / "test_pipeline.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from lakeforge import CatalogHelper

    helper = CatalogHelper(module.deployed_config())
    assert helper.table_name("silver", "orders") == f"dev_analytics.dev_someone_{repo.name}_silver.orders"


@pytest.mark.parametrize("variant", VARIANTS)
def test_dev_deploys_a_new_wheel_version_every_time(repos: dict[str, Repo], variant: str) -> None:
    """`databricks bundle init`'s dev preset: the project's wheel gets a new version per deploy, so a
    cluster never runs the wheel it cached from the last deploy."""
    assert repos[variant].bundle["targets"]["dev"]["presets"] == {"artifacts_dynamic_version": True}


@pytest.mark.parametrize("variant", VARIANTS)
def test_claude_code_reads_agents_md(repos: dict[str, Repo], variant: str) -> None:
    """What `databricks bundle init` writes now: AGENTS.md, and a CLAUDE.md that imports it."""
    repo = repos[variant]
    assert (repo.path / "CLAUDE.md").read_text() == "@AGENTS.md\n"
    assert (repo.path / "AGENTS.md").read_text().startswith("# Conventions for coding agents")


@pytest.mark.parametrize("variant", VARIANTS)
def test_lab_and_prod_deploy_under_a_user_folder(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    assert "/Workspace/Shared" not in repo.text()
    for target in ("lab", "prod"):
        if target not in repo.get("environments"):
            continue
        root = repo.bundle["targets"][target]["workspace"]["root_path"]
        owner = repo.get("run_as") if target == "prod" and repo.get("run_as") else "${workspace.current_user.userName}"
        assert root == f"/Workspace/Users/{owner}/.bundle/${{bundle.name}}/${{bundle.target}}"
    if "prod" in repo.get("environments"):
        assert repo.bundle["targets"]["prod"]["mode"] == "production"


@pytest.mark.parametrize("variant", VARIANTS)
def test_workspace_permissions_name_workspace_groups(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    for name, target in repo.bundle["targets"].items():
        groups = [p["group_name"] for p in target.get("permissions", []) if "group_name" in p]
        assert "account users" not in groups, name
    if "prod" in repo.get("environments"):
        viewers = [p for p in repo.bundle["targets"]["prod"]["permissions"] if p["level"] == "CAN_VIEW"]
        expected = "users" if repo.get("readers_group") == "account users" else repo.get("readers_group")
        assert viewers == [{"group_name": expected, "level": "CAN_VIEW"}]
    # Unity Catalog grants keep the account group
    schemas = repo.resources["schemas.yml"]["resources"]["schemas"]
    assert all(schema["grants"][0]["principal"] == "${var.readers_group}" for schema in schemas.values())
    assert repo.bundle["variables"]["readers_group"]["default"] == repo.get("readers_group")


@pytest.mark.parametrize("variant", VARIANTS)
def test_prod_protects_its_data_and_grants_the_run_as_principal(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    base = repo.resources["schemas.yml"]["resources"]
    assert all("lifecycle" not in s for s in base["schemas"].values()) and "lifecycle" not in base["volumes"]["landing"]
    for name, target in repo.bundle["targets"].items():
        if name != "prod":
            assert "resources" not in target, f"target {name} overrides resources"
    if "prod" not in repo.get("environments"):
        return
    prod = repo.bundle["targets"]["prod"]
    schemas, volume = prod["resources"]["schemas"], prod["resources"]["volumes"]["landing"]
    assert set(schemas) == set(LAYERS)
    for layer, schema in schemas.items():
        assert schema["lifecycle"] == {"prevent_destroy": True}
        # the same schema as resources/schemas.yml, so the override merges into it
        assert (schema["name"], schema["catalog_name"]) == (
            base["schemas"][layer]["name"],
            base["schemas"][layer]["catalog_name"],
        )
    assert volume["lifecycle"] == {"prevent_destroy": True}
    assert (volume["name"], volume["schema_name"]) == (
        base["volumes"]["landing"]["name"],
        base["volumes"]["landing"]["schema_name"],
    )
    run_as = repo.get("run_as")
    if not run_as:
        assert "run_as" not in prod and all("grants" not in s for s in schemas.values()) and "grants" not in volume
        return
    assert prod["run_as"] == {"service_principal_name": run_as}
    assert {"service_principal_name": run_as, "level": "CAN_MANAGE"} in prod["permissions"]
    writes = {"USE_SCHEMA", "CREATE_TABLE", "MODIFY", "SELECT"}
    if repo.get("orchestration") == "lakeflow":
        writes.add("CREATE_MATERIALIZED_VIEW")
    for schema in schemas.values():
        (grant,) = schema["grants"]
        assert grant["principal"] == run_as and set(grant["privileges"]) == writes
    assert volume["grants"] == [{"principal": run_as, "privileges": ["READ_VOLUME", "WRITE_VOLUME"]}]


@pytest.mark.parametrize("variant", ["jobs-classic-run-as-own-readers", "lakeflow-serverless"])
def test_the_wheel_carries_config_and_tables(repos: dict[str, Repo], variant: str, tmp_path: Path) -> None:
    """Wheel tasks run far from the repo: config/ and tables.yml ride in <package>/_project/."""
    repo = repos[variant]
    pyproject = (repo.path / "pyproject.toml").read_text()
    assert f'"config" = "{repo.name}/{PACKAGED_PROJECT}/config"' in pyproject
    assert f'"tables.yml" = "{repo.name}/{PACKAGED_PROJECT}/tables.yml"' in pyproject
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(repo.path),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob(f"{repo.name}-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"{repo.name}/{PACKAGED_PROJECT}/tables.yml" in names
    assert f"{repo.name}/{PACKAGED_PROJECT}/config/defaults.yaml" in names
    assert f"{repo.name}/{PACKAGED_PROJECT}/config/prod.yaml" in names
    assert f"{repo.name}/main.py" in names


# Every rendered bundle stays valid, every workflow actionlint-clean ---------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_bundle_matches_the_schema_and_workflows_lint(repos: dict[str, Repo], variant: str) -> None:
    repo = repos[variant]
    if repo.get("ci_provider") == "github":
        workflows = sorted((repo.path / ".github" / "workflows").glob("*.yml"))
        lint = subprocess.run(
            [str(Path(sys.executable).parent / "actionlint"), "-no-color", *map(str, workflows)],
            capture_output=True,
            text=True,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
    if not SCHEMA_FILE.is_file():
        pytest.skip(f"bundle JSON schema not found at {SCHEMA_FILE} (it lives in shared/schemas, not in this repo)")
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text()))
    problems = [
        f"{path.name} at /{'/'.join(map(str, error.instance_path))}: {error.message[:200]}"
        for path in [repo.path / "databricks.yml", *sorted((repo.path / "resources").glob("*.yml"))]
        for error in validator.iter_errors(yaml.safe_load(path.read_text()))
    ]
    assert not problems, "\n".join(problems)
