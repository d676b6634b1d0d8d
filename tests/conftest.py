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


# The longest stories (minutes each), started first: spread over pytest-xdist's workers from the
# start instead of leaving one worker running a long story alone at the end. Order only: every
# test still runs. `pytest --durations=20` (in addopts) shows when this list is out of date.
LONGEST_FIRST = (
    "tests/test_printed_commands.py::test_the_readme_then",
    "tests/scaffolder/test_escape_corpus.py::test_a_persons_tests",
    "tests/scaffolder/test_probe_corpus.py",
    "tests/template/test_local_pipeline.py",
    "tests/scaffolder/test_reward_hacks.py",
    "tests/scaffolder/test_proven_keep.py",
    "tests/scaffolder/test_server_archive.py::test_the_first_fill",
    "tests/runtime/test_runner_rerun.py",
    "tests/scaffolder/test_demo.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_configure(config: pytest.Config) -> None:
    """Write the JVM class-data archives first (once per machine, ~30 s each): the local sessions'
    and the round server's (a JVM maps only an archive written for its own classpath). scaffold's
    sandboxed rounds read the cache but cannot write it."""
    from lakeforge.jvm import prepare_archive
    from scaffolder import server_archive

    paths = _selected_paths(config)
    runtime_only = bool(paths) and all(path.is_relative_to(RUNTIME_TESTS) for path in paths)
    if not (runtime_only and all(path.is_file() for path in paths)):
        # A few runtime test files start at most one session per worker, and the first one writes
        # the archive as it exits: no ~30 s wait first (e.g. README's `nox -s tests` story in a new venv).
        prepare_archive()
    if not runtime_only:
        server_archive.prepare_archive()  # the round server's own (its classpath differs); runtime tests run no round


RUNTIME_TESTS = Path(__file__).parent / "runtime"


def _selected_paths(config: pytest.Config) -> list[Path]:
    """The paths the command line asked for (pytest puts the folder it runs from when none are)."""
    return [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's template in a tagged git repo, shared by the template and scaffold tests."""
    from tests.template.conftest import make_template_repo

    return make_template_repo(tmp_path_factory.mktemp("template") / "lakeforge-template")
