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


# Test files by how long each took in the last full run (seconds, 2 workers), longest first.
# pytest-xdist hands out whole files (`--dist loadfile`: a module's fixtures are built once) in
# this order as workers free up, so the last files to start are short ones and neither worker
# runs alone at the end. Order only: every test still runs; a file not listed runs after these.
# `pytest --durations=20` (in addopts) shows when this list is out of date.
LONGEST_FIRST = (
    "tests/test_printed_commands.py",  # 498
    "tests/scaffolder/test_escape_corpus.py",  # 132
    "tests/scaffolder/test_probe_corpus.py",  # 118
    "tests/scaffolder/test_reward_hacks.py",  # 110
    "tests/scaffolder/test_fill_story.py",  # 103
    "tests/template/test_fresh_install.py",  # 82
    "tests/template/test_local_pipeline.py",  # 70
    "tests/scaffolder/test_bench.py",  # 62
    "tests/scaffolder/test_exemplars.py",  # 61
    "tests/scaffolder/test_proven_keep.py",  # 47
    "tests/scaffolder/test_profile.py",  # 45
    "tests/scaffolder/test_records.py",  # 42
    "tests/template/test_update.py",  # 42
    "tests/template/test_bad_answers.py",  # 38
    "tests/runtime/test_runner_rerun.py",  # 38
    "tests/scaffolder/test_server_archive.py",  # 37
    "tests/scaffolder/test_testagent.py",  # 37
    "tests/scaffolder/test_sandbox.py",  # 35
    "tests/scaffolder/test_demo.py",  # 33
    "tests/scaffolder/test_bad_replies.py",  # 31
    "tests/template/test_matrix.py",  # 30
    "tests/test_packaging.py",  # 25
    "tests/scaffolder/test_add.py",  # 24
    "tests/scaffolder/test_providers.py",  # 23
    "tests/scaffolder/test_fill_output.py",  # 21
    "tests/scaffolder/test_mcp_server.py",  # 21
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
