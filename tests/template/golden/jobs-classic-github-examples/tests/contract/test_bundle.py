"""The bundle files parse, reference files that exist, and agree with config/."""

from pathlib import Path

import pytest
import yaml
from lakeforge import ConfigLoader

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = yaml.safe_load((ROOT / "databricks.yml").read_text())
RESOURCES = {path.name: yaml.safe_load(path.read_text()) for path in sorted((ROOT / "resources").glob("*.yml"))}

# How every deployed workload gets the lakeforge runtime: the wheel shipped in vendor/.
RUNTIME = "../vendor/lakeforge-0.1.0-py3-none-any.whl"

pytestmark = pytest.mark.contract


def test_bundle_includes_resources():
    assert BUNDLE["bundle"]["name"] == "shop_d"
    assert BUNDLE["include"] == ["resources/*.yml"]
    assert RESOURCES, "resources/ holds no *.yml file"


def test_every_deployed_target_has_a_config():
    known = set(ConfigLoader.known_environments(ROOT / "config"))
    for name, target in BUNDLE["targets"].items():
        assert target["variables"]["environment"] in known, f"target {name} has no config/{name}.yaml"
        config = ConfigLoader.load(target["variables"]["environment"], ROOT / "config", environ={})
        assert config.catalog.name == target["variables"]["catalog"], f"target {name}: catalog differs from config"


def test_paths_in_resources_exist():
    for name, document in RESOURCES.items():
        for value in _strings(document):
            if value.startswith("../") and "*" not in value and "${" not in value:
                assert (ROOT / "resources" / value).resolve().exists(), f"resources/{name} points at missing {value}"


def test_every_deployed_workload_ships_the_runtime():
    """Pipelines and wheel/Python tasks list lakeforge next to the project's wheel."""
    for name, document in RESOURCES.items():
        resources = (document or {}).get("resources", {})
        for key, pipeline in resources.get("pipelines", {}).items():
            dependencies = pipeline.get("environment", {}).get("dependencies", [])
            assert RUNTIME in dependencies, f"resources/{name}: pipeline {key} does not install {RUNTIME}"
            assert "../dist/*.whl" in dependencies, f"resources/{name}: pipeline {key} does not install the project"
        for key, job in resources.get("jobs", {}).items():
            environments = {env["environment_key"]: env["spec"] for env in job.get("environments", [])}
            for task in job.get("tasks", []):
                if "pipeline_task" in task:
                    continue
                where = f"resources/{name}: job {key}, task {task['task_key']}"
                shipped = [lib.get("whl") or lib.get("pypi", {}).get("package") for lib in task.get("libraries", [])]
                shipped += environments.get(task.get("environment_key"), {}).get("dependencies", [])
                assert RUNTIME in shipped, f"{where} does not install {RUNTIME}"
                assert "../dist/*.whl" in shipped, f"{where} does not install the project"


def test_layer_schemas_are_declared():
    schemas = RESOURCES["schemas.yml"]["resources"]["schemas"]
    assert set(schemas) == {"bronze", "silver", "gold"}


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node
