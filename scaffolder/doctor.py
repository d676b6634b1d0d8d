"""`scaffold doctor`: what is wrong with a pipeline repo, each finding with its fix.

Doctor fails only on what breaks the repo or the next `copier update`; a change a team made on
purpose is information. Copier's own conventions say which files are whose (copier.yml documents
them, and the generated README): `_skip_if_exists` files (tables.yml, README.md, data/landing/)
are the team's from the first copy; the seed tables in `_exclude` on update are the team's too;
every other file is the template's, and `copier update` three-way merges a team's edits to it
(config/*.yaml, databricks.yml's variables and targets, resources/*.yml are meant to be edited).

Checks, in order:

- tables and modules: tables.yml loads; every table has a module and every module under
  `src/<pkg>/transformations/<layer>/` a table; stubs still to fill; modules that do not parse;
  SCHEMA against tables.yml (read from the syntax tree, like `scaffold fill`: nothing is run);
- merge leftovers: conflict markers in the repo's text files (git's tracked and untracked ones),
  `*.rej` / `*.orig` files that `copier update` leaves when it cannot apply a change;
- the team's edits: the template rendered at the commit and with the answers `.copier-answers.yml`
  records, compared with the files it renders (the team-owned ones left out: `_skip_if_exists`
  and `_exclude` of copier.yml, the vendored wheels, the answers). An edited or deleted file is
  an `Edit` (information, with its diff stat and the patch `--diff` prints to propose upstream);
  a deleted file that the repo still needs is a finding: a module the code imports or an entry
  point names, a file the bundle or spark-pipeline.yml points at, a `conftest.py` pytest loads;
- a newer template version (`copier check-update`; `git ls-remote --tags` when copier has no
  such command). Reaching the template can fail (offline, no access): that is a note, not a
  finding, and the other checks still run;
- configuration: every `config/<env>.yaml` through `ConfigLoader.load` (without the process's
  LAKEFORGE__* variables: the files are checked, not this shell), including the isolation rule
  (a non-prod environment naming a prod catalog); `databricks.yml`, `resources/*.yml` and
  `spark-pipeline.yml` parse as YAML.

The report is a list of pydantic `Finding`s, the team's `Edit`s and notes; the CLI prints them
and exits 1 when a finding is a problem.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import filecmp
import fnmatch
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from lakeforge.errors import ConfigError, EnvironmentIsolationError, LakeforgeError
from lakeforge.identifiers import LAYERS
from lakeforge.tables import TablesFile, load_tables
from scaffolder.checks import compare_schema
from scaffolder.errors import first_line
from scaffolder.project import Project
from scaffolder.schema_ast import find_schema
from scaffolder.stubs import is_stub

ANSWERS_FILE = ".copier-answers.yml"
# What copier treats as the team's (copier.yml: `_skip_if_exists`, and `_exclude` on update),
# plus what is not rendered text: the wheels the vendor task builds and the answers file.
# tests/scaffolder/test_doctor.py checks these against copier.yml.
TEAM_OWNED = (
    "tables.yml",
    "data/landing/**",
    "README.md",
    "src/*/transformations/*/*.py",
    "tests/unit/*/test_*.py",
    "tests/unit/*/fixtures/**",
    "vendor/**",
    ANSWERS_FILE,
)
# Folders never searched for merge leftovers: tools' caches, virtual environments, Spark's output.
SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    ".nox",
    ".tox",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "spark-warehouse",
    "metastore_db",
    ".spark-pipelines",
    ".databricks",
    "build",
    "dist",
}
# pre-commit's check-merge-conflict patterns: `<<<<<<< `, `>>>>>>> `, and a line that is only `=======`.
CONFLICT = re.compile(r"^(<{7} |>{7} |={7}[ \t]*$)")
MAX_TEXT_BYTES = 2_000_000
NETWORK_SECONDS = 120
MAX_DIFF_CHARS = 20_000
# Files that point at others by path (globs allowed), relative to their own folder.
REFERRING_YAML = ("databricks.yml", "resources/*.yml", "resources/*.yaml", "spark-pipeline.yml")


class FindingKind(str, Enum):
    TABLES = "tables"  # tables.yml does not load
    MISSING_MODULE = "missing-module"
    ORPHAN_MODULE = "orphan-module"
    STUB = "stub"
    SYNTAX = "syntax"
    SCHEMA = "schema"
    CONFLICT = "conflict"
    LEFTOVER = "leftover"  # *.rej, *.orig
    DELETED = "deleted"  # a template file the repo still needs (imported, referenced, loaded by pytest)
    UPDATE = "update"
    CONFIG = "config"
    ISOLATION = "isolation"


class Finding(BaseModel):
    kind: FindingKind
    path: str = Field(description="repo-relative path the finding is about")
    message: str
    fix: str


class Edit(BaseModel):
    """A team's change to a file the template renders: information, never a problem."""

    path: str = Field(description="repo-relative path")
    change: Literal["edited", "deleted"]
    added: int = 0
    removed: int = 0
    diff: str = Field(default="", description="unified diff from the template's file to the repo's (capped)")

    @property
    def stat(self) -> str:
        if self.change == "deleted":
            return "deleted"
        return f"edited, +{self.added} -{self.removed} lines" if self.added or self.removed else "edited, whitespace"


class DoctorReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    edits: list[Edit] = Field(
        default_factory=list, description="the team's edits to files the template renders (information)"
    )
    template: str = Field(default="", description="the template the edits are compared with: '<source> at <commit>'")
    notes: list[str] = Field(default_factory=list, description="checks that could not run, and why")

    @property
    def problems(self) -> list[Finding]:
        """What makes the repo unhealthy. A newer template version is advice: CI stays green the
        day the template is tagged, and the finding still says how to update."""
        return [f for f in self.findings if f.kind is not FindingKind.UPDATE]

    @property
    def clean(self) -> bool:
        return not self.problems

    def of(self, kind: FindingKind) -> list[Finding]:
        return [f for f in self.findings if f.kind is kind]

    def add(self, kind: FindingKind, path: str, message: str, fix: str) -> None:
        self.findings.append(Finding(kind=kind, path=path, message=message, fix=fix))


def run_doctor(project: Project) -> DoctorReport:
    report = DoctorReport()
    check_tables(project, report)
    check_merge_leftovers(project.root, report)
    answers = _answers(project.root, report)
    if answers is not None:
        check_drift(project.root, answers, report)
        check_update(project.root, answers, report)
    check_config(project.root, report)
    check_bundle_yaml(project.root, report)
    return report


# tables.yml and modules -----------------------------------------------------------------------


def check_tables(project: Project, report: DoctorReport) -> None:
    try:
        tables = load_tables(project.tables_path)
    except (LakeforgeError, yaml.YAMLError) as exc:
        report.add(FindingKind.TABLES, "tables.yml", first_line(exc), "fix the entry it names")
        tables = None
    modules = _modules(project)
    specs = {t.name: t for t in tables.tables} if tables else {}
    parsed: dict[str, tuple[str, ast.Module] | None] = {}
    for rel in modules:
        path = project.root / rel
        try:
            source = path.read_text(encoding="utf-8")
            parsed[rel] = source, ast.parse(source, filename=rel)
        except SyntaxError as exc:
            parsed[rel] = None
            report.add(
                FindingKind.SYNTAX,
                rel,
                f"does not parse: line {exc.lineno}: {exc.msg}",
                f"fix the syntax (`python -m py_compile {rel}` shows it), or restore it from git",
            )
        except (OSError, UnicodeDecodeError) as exc:
            parsed[rel] = None
            report.add(FindingKind.SYNTAX, rel, f"cannot be read: {exc}", "restore it from git")
    if tables is not None:
        _table_findings(project, tables, parsed, report)
        for rel in modules:
            layer, name = rel.split("/")[-2], Path(rel).stem
            spec = specs.get(name)
            if spec is not None and spec.layer == layer:
                continue
            if spec is not None:
                message = f"is under transformations/{layer}/ but tables.yml puts {name} in {spec.layer}"
                fix = f"move it to {spec.module_path(project.package)}, or correct the layer in tables.yml"
            else:
                message = f"has no table {name!r} in tables.yml"
                fix = (
                    f"add the table (`scaffold add {layer} {name} ...`), or delete the module "
                    f"and tests/unit/{layer}/test_{name}.py"
                )
            report.add(FindingKind.ORPHAN_MODULE, rel, message, fix)


def _modules(project: Project) -> list[str]:
    base = project.root / "src" / project.package / "transformations"
    found = []
    for layer in LAYERS:
        folder = base / layer
        if folder.is_dir():
            found += [
                p.relative_to(project.root).as_posix() for p in sorted(folder.glob("*.py")) if p.stem != "__init__"
            ]
    return found


def _table_findings(
    project: Project, tables: TablesFile, parsed: dict[str, tuple[str, ast.Module] | None], report: DoctorReport
) -> None:
    for spec in tables.tables:
        rel = spec.module_path(project.package)
        fill = f"scaffold fill {spec.layer} --table {spec.name}"
        if rel not in parsed:
            report.add(
                FindingKind.MISSING_MODULE,
                rel,
                f"table {spec.name} ({spec.layer}) in tables.yml has no module",
                f"`{fill}` writes it (stub first), or remove the table from tables.yml",
            )
            continue
        module = parsed[rel]
        if module is None:
            continue  # reported as syntax
        source, tree = module
        stub = is_stub(source)
        if stub:
            report.add(
                FindingKind.STUB,
                rel,
                f"table {spec.name} is still a stub (transform raises NotImplementedError)",
                f"`{fill}`, or write transform by hand and run `scaffold validate {spec.layer} --table {spec.name}`",
            )
        value, lines = find_schema(tree)
        if value is None:
            problems = ["defines no top-level SCHEMA"]
        elif len(lines) > 1:
            problems = [f"assigns SCHEMA {len(lines)} times (lines {', '.join(map(str, lines))})"]
        else:
            problems = compare_schema(spec, value)
        for problem in problems:
            report.add(
                FindingKind.SCHEMA,
                rel,
                f"{problem} (table {spec.name})",
                f"`{fill}` rewrites the stub from tables.yml"
                if stub
                else "make SCHEMA match tables.yml, or correct tables.yml if the code is right",
            )


# Merge leftovers ------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            yield Path(folder) / name


def _repo_files(root: Path) -> list[Path]:
    """git's tracked and untracked (not ignored) files; every file when this is no git repo."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8", errors="surrogateescape")
    except (OSError, subprocess.SubprocessError):
        return list(_walk(root))
    return [root / name for name in listed.split("\0") if name]


def check_merge_leftovers(root: Path, report: DoctorReport) -> None:
    for path in _repo_files(root):
        rel = path.relative_to(root).as_posix()
        if path.suffix in (".rej", ".orig"):
            continue  # below, from the file system: .gitignore usually hides them from git
        try:
            if not path.is_file() or path.stat().st_size > MAX_TEXT_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        lines = data.decode("utf-8", errors="replace").splitlines()
        marked = [n for n, line in enumerate(lines, 1) if CONFLICT.match(line)]
        if marked:
            shown = ", ".join(map(str, marked[:6])) + (" ..." if len(marked) > 6 else "")
            report.add(
                FindingKind.CONFLICT,
                rel,
                f"conflict markers on line(s) {shown}",
                "keep the right side of each conflict, delete the <<<<<<< / ======= / >>>>>>> lines, then commit",
            )
    for path in _walk(root):
        if path.suffix in (".rej", ".orig"):
            rel = path.relative_to(root).as_posix()
            target = rel[: -len(path.suffix)]
            report.add(
                FindingKind.LEFTOVER,
                rel,
                f"a change copier update could not apply to {target}",
                f"apply what it holds to {target} by hand (or drop it), then delete {rel}",
            )


# Template: drift and updates ------------------------------------------------------------------


def _answers(root: Path, report: DoctorReport) -> dict[str, Any] | None:
    path = root / ANSWERS_FILE
    if not path.is_file():
        report.notes.append(f"no {ANSWERS_FILE}: not made with copier, so template drift and updates were not checked")
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        answers = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if any(CONFLICT.match(line) for line in text.splitlines()):
            report.notes.append(f"{ANSWERS_FILE} has conflict markers: template drift and updates were not checked")
        else:
            report.add(
                FindingKind.CONFIG,
                ANSWERS_FILE,
                f"is not valid YAML ({first_line(exc)})",
                "restore it from git (copier writes it; never edit it by hand)",
            )
        return None
    if not isinstance(answers, dict) or not answers.get("_src_path"):
        report.notes.append(f"{ANSWERS_FILE} records no _src_path: template drift and updates were not checked")
        return None
    if not answers.get("_commit"):
        report.notes.append(
            f"{ANSWERS_FILE} records no _commit (the template was not a git repo when copied): "
            "template drift and updates were not checked"
        )
        return None
    return answers


def _source(root: Path, src: str) -> str:
    """The template source as copier resolves it: a relative local path is relative to the repo."""
    if "://" in src or src.startswith(("gh:", "gl:", "git@")) or Path(src).is_absolute():
        return src
    return str((root / src).resolve())


@contextlib.contextmanager
def _no_prompts() -> Iterator[None]:
    """git must fail, not wait for a password nobody will type (doctor runs in CI)."""
    saved = os.environ.get("GIT_TERMINAL_PROMPT")
    os.environ["GIT_TERMINAL_PROMPT"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("GIT_TERMINAL_PROMPT", None)
        else:
            os.environ["GIT_TERMINAL_PROMPT"] = saved


def _team_owned(rel: str) -> bool:
    return any(_glob(pattern).fullmatch(rel) for pattern in TEAM_OWNED)


def _glob(pattern: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\*\*|\*|\?)", pattern):
        out += {"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(out)


def render_template(src: str, commit: str, answers: dict[str, Any], dest: Path) -> None:
    """The template at `commit`, rendered with the recorded answers (tasks skipped: no wheels, no git init)."""
    import copier

    data = {k: v for k, v in answers.items() if not k.startswith("_")}
    with _no_prompts(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copier's DirtyLocalWarning and friends: not the repo's problem
        copier.run_copy(src, dest, data=data, vcs_ref=commit, defaults=True, unsafe=True, quiet=True, skip_tasks=True)


def check_drift(root: Path, answers: dict[str, Any], report: DoctorReport) -> None:
    """The team's edits to template files (information); deleted ones the repo needs (findings)."""
    src, commit = _source(root, str(answers["_src_path"])), str(answers["_commit"])
    with tempfile.TemporaryDirectory(prefix="scaffold-doctor-") as tmp:
        rendered = Path(tmp) / "template"
        try:
            render_template(src, commit, answers, rendered)
        except Exception as exc:  # copier's and git's errors: unreachable, unknown commit, bad answers
            report.notes.append(f"template drift not checked: rendering {src} at {commit} failed ({first_line(exc)})")
            return
        report.template = f"{src} at {commit}"
        deleted: list[str] = []
        for path in sorted(p for p in rendered.rglob("*") if p.is_file()):
            rel = path.relative_to(rendered).as_posix()
            if _team_owned(rel) or ".git" in Path(rel).parts:
                continue
            mine = root / rel
            if not mine.is_file():
                deleted.append(rel)
                report.edits.append(Edit(path=rel, change="deleted", diff=_diff(path, None, rel)))
            elif not filecmp.cmp(path, mine, shallow=False):
                diff = _diff(path, mine, rel)
                added, removed = _stat(diff)
                report.edits.append(Edit(path=rel, change="edited", added=added, removed=removed, diff=diff))
    if deleted:
        needs = _needs(root)
        for rel in deleted:
            reason = needs(rel)
            if reason is None:
                continue
            report.add(
                FindingKind.DELETED,
                rel,
                f"the template's file is gone, but {reason}",
                f"restore it (`git log --diff-filter=D -- {rel}` finds the commit that deleted it; "
                f"`git checkout <that commit>~1 -- {rel}`), or remove what still needs it",
            )


def _diff(template: Path, mine: Path | None, rel: str) -> str:
    try:
        left = template.read_text(encoding="utf-8").splitlines(keepends=True)
        right = mine.read_text(encoding="utf-8").splitlines(keepends=True) if mine is not None else []
    except (OSError, UnicodeDecodeError):
        return ""
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(left, right, f"a/{rel}", "/dev/null" if mine is None else f"b/{rel}")
    )
    return (
        text if len(text) <= MAX_DIFF_CHARS else text[:MAX_DIFF_CHARS] + f"... (cut at {MAX_DIFF_CHARS} characters)\n"
    )


def _stat(diff: str) -> tuple[int, int]:
    lines = diff.splitlines()[2:]
    added = sum(1 for line in lines if line.startswith("+"))
    removed = sum(1 for line in lines if line.startswith("-"))
    return added, removed


def _module_name(rel: str) -> str | None:
    """`src/pkg/a/b.py` -> `pkg.a.b`; `tests/x.py` -> `tests.x`; `pkg/__init__.py` -> `pkg`."""
    if not rel.endswith(".py"):
        return None
    parts = rel.removesuffix(".py").split("/")
    if parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or None


def _imported_modules(root: Path) -> dict[str, str]:
    """Every module name a Python file of the repo imports (with its parents), and one importer."""
    found: dict[str, str] = {}
    for path in _repo_files(root):
        rel = path.relative_to(root).as_posix()
        if path.suffix != ".py" or set(Path(rel).parts) & SKIP_DIRS:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        here = (_module_name(rel) or "").split(".")
        package = here if rel.endswith("__init__.py") else here[:-1]
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                    base = ".".join([*anchor, *([base] if base else [])])
                names = [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
            for name in names:
                parts = name.split(".")
                for n in range(1, len(parts) + 1):
                    found.setdefault(".".join(parts[:n]), rel)
    return found


def _needs(root: Path) -> Callable[[str], str | None]:
    """Who still needs a deleted template file: None when nothing does."""
    imported = _imported_modules(root)
    entry_points = _entry_points(root)
    references = _path_references(root)

    def needs(rel: str) -> str | None:
        if Path(rel).name == "conftest.py":
            return "pytest loads it (the repo's fixtures and plugins come from it)"
        module = _module_name(rel)
        if module is not None:
            if module in entry_points:
                return f"pyproject.toml's entry point {entry_points[module]} runs it"
            if module in imported and imported[module] != rel:
                return f"{imported[module]} imports {module}"
        for where, pattern in references:
            if _matches(rel, pattern) and not any(
                _matches(p.relative_to(root).as_posix(), pattern) for p in _glob_all(root, pattern)
            ):
                return f"{where} points at {pattern}"
        return None

    return needs


def _entry_points(root: Path) -> dict[str, str]:
    from scaffolder.project import tomllib

    try:
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = {}
    for name, target in (pyproject.get("project", {}).get("scripts", {}) or {}).items():
        if isinstance(target, str):
            found[target.split(":")[0].strip()] = f"{name} = {target!r}"
    return found


def _path_references(root: Path) -> list[tuple[str, str]]:
    """(file, repo-relative path or glob) for every string in the bundle and pipeline files that names a path."""
    found = []
    for pattern in REFERRING_YAML:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            folder = posixpath.dirname(rel)
            for value in _strings(data):
                if "/" not in value or "$" in value or "://" in value or value.startswith("/"):
                    continue
                target = posixpath.normpath(posixpath.join(folder, value))
                if not target.startswith("../"):
                    found.append((rel, target))
    return found


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _matches(rel: str, pattern: str) -> bool:
    if not any(c in pattern for c in "*?["):
        return rel == pattern
    return fnmatch.fnmatchcase(rel, pattern) or (pattern.endswith("/**") and rel.startswith(pattern[:-2]))


def _glob_all(root: Path, pattern: str) -> list[Path]:
    if not any(c in pattern for c in "*?["):
        return [root / pattern] if (root / pattern).is_file() else []
    return [p for p in root.glob(pattern if not pattern.endswith("/**") else pattern + "/*") if p.is_file()]


def check_update(root: Path, answers: dict[str, Any], report: DoctorReport) -> None:
    src, commit = _source(root, str(answers["_src_path"])), str(answers["_commit"])
    try:
        result = copier_check_update(root)
    except _NoCheckUpdate:
        result = None
    except Exception as exc:
        report.notes.append(f"template updates not checked: {first_line(exc)}")
        return
    if result is None:
        try:
            result = newer_tag(src, commit)
        except Exception as exc:
            report.notes.append(f"template updates not checked: {first_line(exc)}")
            return
    available, current, latest = result
    if available:
        report.add(
            FindingKind.UPDATE,
            ANSWERS_FILE,
            f"the template has a newer version: {latest} (this repo is at {current})",
            "`copier update --trust` (review `git diff`, then `scaffold doctor` for conflicts)",
        )


class _NoCheckUpdate(Exception):
    """The installed copier has no `check-update` command."""


def copier_check_update(root: Path) -> tuple[bool, str, str]:
    """copier's own check: (update available, current version, latest version)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "copier", "check-update", "--output-format", "json", str(root)],
            capture_output=True,
            text=True,
            timeout=NETWORK_SECONDS,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"copier check-update gave no answer in {NETWORK_SECONDS} s (offline?)") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        if "check-update" in output and re.search(r"unknown (sub-?command|command)", output, re.I):
            raise _NoCheckUpdate
        lines = [line for line in output.splitlines() if line.strip()]
        raise RuntimeError(f"copier check-update failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    for line in reversed(done.stdout.splitlines()):
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            return bool(data["update_available"]), str(data["current_version"]), str(data["latest_version"])
    raise RuntimeError(f"copier check-update said nothing doctor can read: {output[:200]!r}")


def newer_tag(src: str, commit: str) -> tuple[bool, str, str]:
    """Without copier's check: the template repo's version tags (`git ls-remote`) against `_commit`."""
    from packaging.version import InvalidVersion, Version

    if src.startswith("gh:"):
        src = f"https://github.com/{src[3:]}.git"
    elif src.startswith("gl:"):
        src = f"https://gitlab.com/{src[3:]}.git"
    try:
        done = subprocess.run(
            ["git", "ls-remote", "--tags", src],
            capture_output=True,
            text=True,
            timeout=NETWORK_SECONDS,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"git ls-remote {src} failed ({exc})") from None
    if done.returncode != 0:
        raise RuntimeError(
            f"git ls-remote {src} failed: {first_line(RuntimeError(done.stderr.strip() or done.returncode))}"
        )
    versions: dict[Version, str] = {}
    for line in done.stdout.splitlines():
        tag = line.split("refs/tags/", 1)[-1].removesuffix("^{}")
        with contextlib.suppress(InvalidVersion):
            version = Version(tag)
            if not version.is_prerelease:
                versions[version] = tag
    # `_commit` is a tag, or `git describe` output past one (v1.2.0-3-gabc1234).
    base = re.sub(r"-\d+-g[0-9a-f]+$", "", commit)
    try:
        current = Version(base)
    except InvalidVersion:
        raise RuntimeError(f"_commit {commit!r} names no version tag to compare") from None
    if not versions:
        return False, str(current), str(current)
    latest = max(versions)
    return latest > current, str(current), str(latest)


# Configuration --------------------------------------------------------------------------------


def check_config(root: Path, report: DoctorReport) -> None:
    from lakeforge.config import ConfigLoader

    config_dir = root / "config"
    if not (config_dir / "defaults.yaml").is_file():
        report.add(
            FindingKind.CONFIG,
            "config/defaults.yaml",
            "missing: every environment's settings start from it",
            "restore it from git (or from the template: `copier recopy`)",
        )
        return
    seen: set[str] = set()  # a broken defaults.yaml fails every environment the same way: say it once
    for env in ConfigLoader.known_environments(config_dir):
        rel = f"config/{env}.yaml"
        try:
            ConfigLoader.load(env, config_dir, environ={})
        except EnvironmentIsolationError as exc:
            report.add(
                FindingKind.ISOLATION,
                rel,
                first_line(exc).removeprefix(f"{rel}: "),
                f"give {env} its own catalog (catalog.name: {env}_...) in {rel}",
            )
        except (ConfigError, LakeforgeError) as exc:
            message = first_line(exc)
            if message in seen:
                continue
            seen.add(message)
            origin = re.match(r"(config/[\w.-]+\.yaml): ", message)
            report.add(
                FindingKind.CONFIG,
                origin.group(1) if origin else rel,
                message.removeprefix(origin.group(0)) if origin else message,
                "fix the file and key it names (ConfigLoader.load must accept it)",
            )


def check_bundle_yaml(root: Path, report: DoctorReport) -> None:
    """The bundle and pipeline files must at least parse: `databricks bundle deploy` and
    `python -m lakeforge.local_pipeline` read them."""
    for pattern in REFERRING_YAML:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            try:
                yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                message = f"cannot be read: {first_line(exc)}"
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"line {mark.line + 1}: " if mark is not None else ""
                message = f"is not valid YAML ({where}{getattr(exc, 'problem', None) or first_line(exc)})"
            else:
                continue
            report.add(
                FindingKind.CONFIG,
                rel,
                message,
                f"fix the YAML (`databricks bundle validate` shows the bundle's view), or restore {rel} from git",
            )
