"""One local SparkSession for the whole suite, from the runtime's own pytest plugin."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["lakeforge.testing"]

# Copies, commits and `copier update` run git; a fresh machine may have no git identity.
for _var, _value in {
    "GIT_AUTHOR_NAME": "Lakeforge Tests",
    "GIT_AUTHOR_EMAIL": "tests@lakeforge.invalid",
    "GIT_COMMITTER_NAME": "Lakeforge Tests",
    "GIT_COMMITTER_EMAIL": "tests@lakeforge.invalid",
}.items():
    os.environ.setdefault(_var, _value)


def pytest_configure(config: pytest.Config) -> None:
    """Write the JVM class-data archive first (once per machine, ~1 min): every local Spark start
    maps it, including scaffold's sandboxed rounds, which can read the cache but not write it."""
    from lakeforge.jvm import prepare_archive

    prepare_archive()


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's template in a tagged git repo, shared by the template and scaffold tests."""
    from tests.template.conftest import make_template_repo

    return make_template_repo(tmp_path_factory.mktemp("template") / "lakeforge-template")
