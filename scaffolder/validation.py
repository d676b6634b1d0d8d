"""Run the candidates' tests on local Spark: one pytest process (one JVM) for the whole round.

The candidates are laid over a shadow copy of the repo, so nothing in the repo changes until a
table has passed. Every test runs twice (pytest-repeat: a flaky test is rejected), each under a
time limit (pytest-timeout: an endless loop fails that test, not the round), and a mutant copy
of each table's tests runs with `transform` replaced by one returning its first input: if every
mutant test still passes, the tests cannot catch a broken transform and are rejected.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakeforge.tables import TableSpec

SECRET_PATTERNS = re.compile(r"(_TOKEN|_KEY|_SECRET|_PASSWORD)$|^(DATABRICKS_|OPENAI_|AZURE_|SCAFFOLD_)")
MUTANT_FIXTURE = '''

import pytest as _scaffold_pytest

_scaffold_marks = globals().get("pytestmark", [])
pytestmark = [  # the mutant runs once: flakiness is judged on the real tests
    *(_scaffold_marks if isinstance(_scaffold_marks, list) else [_scaffold_marks]),
    _scaffold_pytest.mark.repeat(1),
]

@_scaffold_pytest.fixture(autouse=True)
def _scaffold_mutant(monkeypatch):
    """Mutation check: transform returns its first input unchanged."""
    import importlib

    module = importlib.import_module({module!r})
    original = module.transform

    def mutant(*frames, **named):
        return frames[0] if frames else next(iter(named.values()))

    monkeypatch.setattr(module, "transform", mutant)
    for name, value in list(globals().items()):
        if value is original:
            monkeypatch.setitem(globals(), name, mutant)
'''


@dataclass
class Candidate:
    spec: TableSpec
    files: dict[str, str]  # repo-relative path -> text (module and generated tests)
    extra_tests: list[str] = field(default_factory=list)  # the module's existing tests, repo-relative


@dataclass
class Verdict:
    passed: bool
    errors: list[str]
    tests_run: int = 0


@dataclass
class RoundResult:
    verdicts: dict[str, Verdict]
    jvm_starts: int
    seconds: float


def clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for generated code: no tokens, keys, secrets or cloud credentials."""
    return {k: v for k, v in environ.items() if not SECRET_PATTERNS.search(k)}


def run_round(
    root: Path,
    package: str,
    candidates: list[Candidate],
    test_timeout: float,
    round_timeout: float,
    environ: Mapping[str, str] | None = None,
) -> RoundResult:
    import time

    start = time.perf_counter()
    if not candidates:
        return RoundResult({}, 0, 0.0)
    with tempfile.TemporaryDirectory(prefix="scaffold-round-") as tmp:
        shadow = Path(tmp) / "repo"
        _lay_out(root, shadow, package, candidates)
        junit = Path(tmp) / "junit.xml"
        paths = []
        for c in candidates:
            paths += [p for p in c.files if p.startswith("tests/")] + c.extra_tests
            paths.append(_mutant_path(c.spec))
        env = clean_environment(os.environ if environ is None else environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shadow / "src"), env.get("PYTHONPATH")]))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        args = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "lakeforge.testing",
            "--noconftest",
            "--import-mode=importlib",
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "--count=2",
            "--repeat-scope=function",
            f"--timeout={test_timeout:g}",
            "--timeout-method=signal",
            "-o",
            "timeout_func_only=true",  # the shared Spark start belongs to no single test
            f"--rootdir={shadow}",
            f"--junitxml={junit}",
            "-q",
            "--continue-on-collection-errors",
            *dict.fromkeys(paths),
        ]
        try:
            run = subprocess.run(args, cwd=shadow, env=env, capture_output=True, text=True, timeout=round_timeout)
            output = run.stdout + run.stderr
        except subprocess.TimeoutExpired:
            seconds = time.perf_counter() - start
            message = f"tests: the validation round hit its {round_timeout:g}s limit (a test hangs outside Python?)"
            return RoundResult({c.spec.name: Verdict(False, [message]) for c in candidates}, 1, seconds)
        verdicts = _verdicts(candidates, junit, output)
        return RoundResult(verdicts, 1, time.perf_counter() - start)


def _mutant_path(spec: TableSpec) -> str:
    return f"tests/scaffold_mutants/{spec.layer}/test_{spec.name}__mutant.py"


def _lay_out(root: Path, shadow: Path, package: str, candidates: list[Candidate]) -> None:
    shadow.mkdir(parents=True)
    shutil.copytree(root / "src", shadow / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("tables.yml", "pyproject.toml"):
        if (root / name).is_file():
            shutil.copy2(root / name, shadow / name)
    if (root / "config").is_dir():
        shutil.copytree(root / "config", shadow / "config")
    if (root / "data").exists():
        (shadow / "data").symlink_to((root / "data").resolve(), target_is_directory=True)
    for c in candidates:
        for rel, text in c.files.items():
            (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
            (shadow / rel).write_text(text, encoding="utf-8")
        for rel in c.extra_tests:
            (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, shadow / rel)
        tests = "".join(text for rel, text in c.files.items() if rel.startswith("tests/"))
        mutant = shadow / _mutant_path(c.spec)
        mutant.parent.mkdir(parents=True, exist_ok=True)
        mutant.write_text(tests + MUTANT_FIXTURE.format(module=c.spec.module_name(package)), encoding="utf-8")


def _verdicts(candidates: list[Candidate], junit: Path, output: str) -> dict[str, Verdict]:
    cases: list[tuple[str, str, str, str]] = []  # classname, name, outcome, message
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome, message = "passed", ""
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome, message = "failed", (child.get("message") or child.text or "")
                elif child.tag == "skipped":
                    outcome = "skipped"
            cases.append((case.get("classname") or "", case.get("name") or "", outcome, message))
    verdicts = {}
    for c in candidates:
        test_modules = [rel[:-3].replace("/", ".") for rel in [*c.files, *c.extra_tests] if rel.startswith("tests/")]
        mutant_module = _mutant_path(c.spec)[:-3].replace("/", ".")
        own = [case for case in cases if case[0] in test_modules]
        mutants = [case for case in cases if case[0] == mutant_module]
        errors: list[str] = []
        runs: dict[str, list[tuple[str, str]]] = {}
        for _, name, outcome, message in own:
            runs.setdefault(re.sub(r"\[?\d+-2\]$", "", name).rstrip("-[").rstrip("["), []).append((outcome, message))
        if not own:
            problem = _collection_problem(output, test_modules)
            errors.append(f"tests: no test ran for {c.spec.name}{': ' + problem if problem else ''}")
        for name, results in runs.items():
            outcomes = [o for o, _ in results]
            message = next((m for o, m in results if o == "failed"), "")
            if "Timeout" in message:
                errors.append(f"tests: {name} timed out (endless loop?): {_first_line(message)}")
            elif all(o == "failed" for o in outcomes):
                errors.append(f"tests: {name} failed: {_first_line(message)}")
            elif "failed" in outcomes:
                errors.append(f"tests: {name} is flaky: passed once and failed once ({_first_line(message)})")
            elif all(o == "skipped" for o in outcomes):
                errors.append(f"tests: {name} is skipped: generated tests must run")
        if own and not errors:
            if not mutants:
                errors.append("tests: the mutation check did not run")
            elif all(outcome in ("passed", "skipped") for _, _, outcome, _ in mutants):
                errors.append(
                    "tests: they still pass when transform returns its input unchanged: assert the transformed rows"
                )
        verdicts[c.spec.name] = Verdict(not errors, errors, len(own))
    return verdicts


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return (lines[0] if lines else "no message")[:300]


def _collection_problem(output: str, modules: list[str]) -> str:
    """The first error line of this table's own collection error section, if pytest printed one."""
    sections = re.split(r"_+ ERROR collecting ", output)
    for section in sections[1:]:
        header = section.splitlines()[0] if section else ""
        if any(module.replace(".", "/") + ".py" in header for module in modules):
            for line in section.splitlines():
                if line.startswith("E "):
                    return line[1:].strip()[:300]
    return ""
