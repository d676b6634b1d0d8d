"""Every command the docs print works as printed, on a fresh machine with python3 only.

Run in the order each document shows them, each line in the shell state the lines before it left
(the folder it `cd`s to, the venv it activates), with the venvs they create, on a committed
snapshot of this checkout (tracked and new files) tagged v0.1.0, with no API key:

- README.md's bash blocks: a venv for the checkout and `scaffold demo`, then the closing hint the
  demo prints, then nox, then `copier copy` into a new repo and what follows it there;
- the new repo's (a default copy's) post-copy message, in a brand-new venv (lakeforge from the
  repo's vendor/), then its README.md and AGENTS.md bash blocks;
- after a new template version, the README's `copier update --trust`, then the update message.

What does not run exactly as printed, and why:

- `databricks ...` parts (deploy, validate): they need a workspace;
- a block that first exports a model provider's key (`export OPENAI_API_KEY=sk-...`): it needs
  that provider (and `scaffold bench` takes minutes per task); its scaffold commands are checked
  like the inline ones below;
- copier's questions are answered with their defaults (`--defaults`): a test has no terminal;
- `nox -s tests` gets a narrow selection: the whole suite is what this test is part of;
- a command that already ran in the same pipeline repo with the same files is not run again
  (`pytest` twice on identical files proves nothing new), nor a `scaffold add` of a table an
  earlier `scaffold add` added there (the README and the new repo's README show the same example).

Inline commands (`scaffold ...`, `copier ...` in backticks) are checked, not run: the subcommand
and every --option they name exist (`test_inline_commands_name_real_options`, fast).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import copier
import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Lakeforge Tests",
    "GIT_AUTHOR_EMAIL": "tests@lakeforge.invalid",
    "GIT_COMMITTER_NAME": "Lakeforge Tests",
    "GIT_COMMITTER_EMAIL": "tests@lakeforge.invalid",
}
# What a fresh machine does not have: model keys, workspace settings, this test run's own state.
DROPPED_PREFIXES = ("OPENAI_", "AZURE_OPENAI", "DATABRICKS_", "OLLAMA_", "SCAFFOLD_", "SPARK_", "PYSPARK_")
DROPPED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"}
NEEDS_A_MODEL = re.compile(r"^export (OPENAI_|AZURE_OPENAI_|DATABRICKS_|OLLAMA_)")
PORT_TAKEN = re.compile(r"BindException: Failed to bind to address \S*:15002")
NOX_SELECTION = " -- -q -p no:cacheprovider tests/runtime/test_catalog.py"
# Files whose change means a repo's content changed (a rerun could differ); the rest is tools' output.
NOT_CONTENT = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "spark-warehouse",
    "metastore_db",
    ".spark-pipelines",
    "dist",
    "build",
    "audit",
    "cache",
}
NOT_CONTENT_FILES = {"derby.log", "manifest.lock", ".spark-pipeline.resolved.yml"}


# The shell a reader types into ----------------------------------------------------------------


@dataclass
class Shell:
    """Where the next line runs: its folder and its active venv, carried from line to line."""

    cwd: Path
    venv: str = ""


@dataclass
class Session:
    """Every line run (or skipped) so far, and what a pipeline repo already ran on which files."""

    log: list[str] = field(default_factory=list)
    ran: set[tuple[str, str]] = field(default_factory=set)
    added: set[tuple[str, str]] = field(default_factory=set)

    def run(self, shell: Shell, command: str, where: str, timeout: float = 1500) -> str:
        """Run one command as typed at `shell`; fail the test naming the document, line and output."""
        repo = _pipeline_repo(shell.cwd)
        state = _fingerprint(repo) if repo else ""
        key = (command, f"{repo}:{state}")
        done_before = key in self.ran or (_added_table(command), str(repo)) in self.added
        if repo and done_before and not _changes_shell(command):
            why = "an earlier scaffold add added this table" if _added_table(command) else "ran on the same files"
            self.log.append(f"  skipped ({why}) [{where}] {command}")
            return ""
        script = "\n".join(
            [
                "set -eo pipefail",
                f"cd {shlex.quote(str(shell.cwd))}",
                f". {shlex.quote(shell.venv)}/bin/activate" if shell.venv else "",
                command,
                'printf "\\n::state::%s::%s\\n" "$PWD" "${VIRTUAL_ENV:-}"',
            ]
        )
        started = time.monotonic()
        for attempt in range(1, 6):
            done = subprocess.run(
                ["bash", "-c", script], env=_fresh_env(), capture_output=True, text=True, timeout=timeout, check=False
            )
            output = done.stdout + done.stderr
            # `spark-pipelines` binds Spark Connect's fixed port 15002: another local pipeline run on
            # this machine (a developer's, another test session's) makes it fail; wait for it.
            if done.returncode == 0 or not PORT_TAKEN.search(output) or attempt == 5:
                break
            self.log.append(f"  port 15002 taken by another local pipeline: attempt {attempt + 1} [{where}] {command}")
            time.sleep(20)
        seconds = time.monotonic() - started
        self.log.append(f"{seconds:6.1f}s [{where}] {command}")
        assert done.returncode == 0, (
            f"{where}: `{command}` failed (exit {done.returncode}) in {shell.cwd}\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}\n--- so far:\n" + "\n".join(self.log)
        )
        assert "resolves to a loopback address" not in output, f"{where}: `{command}` printed Spark's hostname WARN"
        found = re.findall(r"^::state::(.*)::(.*)$", done.stdout, flags=re.M)
        shell.cwd, shell.venv = Path(found[-1][0]), found[-1][1]
        if repo:
            after = _pipeline_repo(shell.cwd) == repo and _fingerprint(repo) == state
            if after:
                self.ran.add(key)  # it changed nothing: the same command on the same files is proven
            if _added_table(command):
                self.added.add((_added_table(command), str(repo)))
        return output

    def run_lines(self, shell: Shell, lines: list[str], where: str) -> str:
        """Each line's `&&` parts in order; `databricks` parts aside; copier's questions answered
        with their defaults."""
        output = ""
        for line in lines:
            for part in command_parts(line):
                if part.startswith("databricks "):
                    self.log.append(f"  aside (needs a workspace) [{where}] {part}")
                    continue
                output += self.run(shell, non_interactive(part), where)
        return output


def non_interactive(command: str) -> str:
    """`copier copy|update ...` with `--defaults` (the questions' defaults): a test has no terminal."""
    return re.sub(r"^((?:\S*/)?copier (?:copy|update)) ", r"\1 --defaults ", command)


def _fresh_env() -> dict[str, str]:
    """This machine's environment as a new terminal has it: none of this test run's venv or keys."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and not k.startswith(DROPPED_PREFIXES)}
    env["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    env["COLUMNS"] = "200"
    return {**env, **GIT_ENV}


def _added_table(command: str) -> str:
    """`scaffold add silver refunds ...` -> "silver refunds" (two documents may show the same example)."""
    words = command.split()
    return " ".join(words[2:4]) if words[:2] == ["scaffold", "add"] and len(words) >= 4 else ""


def _changes_shell(command: str) -> bool:
    return command.startswith(("cd ", ". ", "source "))


def _pipeline_repo(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / "tables.yml").is_file() and (candidate / "databricks.yml").is_file():
            return candidate
    return None


def _fingerprint(repo: Path) -> str:
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in NOT_CONTENT and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name in NOT_CONTENT_FILES:
                continue
            path = Path(folder) / name
            digest.update(path.relative_to(repo).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# What the documents print ---------------------------------------------------------------------


def bash_blocks(markdown: str) -> list[list[str]]:
    """The lines of every ```bash block (comment-only and blank lines left out)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.S | re.M)
    return [
        [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")] for block in blocks
    ]


def runnable(blocks: list[list[str]], where: str, session: Session) -> list[list[str]]:
    """The blocks a machine with no model provider's key can run; the others are logged aside."""
    kept = []
    for block in blocks:
        if any(NEEDS_A_MODEL.match(line.strip()) for line in block):
            session.log.append(f"  aside (needs a model provider's key) [{where}] {' / '.join(block)}")
        else:
            kept.append(block)
    return kept


def command_parts(line: str) -> list[str]:
    """`a && b  # note` -> ["a", "b"]: bash runs them in turn and stops at the first failure."""
    line = re.sub(r"\s+#\s.*$", "", line.strip())
    return [part.strip() for part in re.split(r"\s+&&\s+", line) if part.strip()]


def message_commands(output: str, opening: str) -> list[str]:
    """The indented command lines of a copier message that starts with `opening`."""
    lines = output.split(opening, 1)[1].splitlines()[1:]
    found = []
    for line in lines:
        if not line.strip():
            if found:
                break
            continue
        if not line.startswith("  "):
            if found:
                break
            continue  # the message's prose
        if not line.strip().startswith("#"):
            found.append(line.strip())
    return found


def inline_commands(text: str) -> list[str]:
    return [m for m in re.findall(r"`([^`\n]+)`", text) if m.startswith(("scaffold ", "copier "))]


# The checkout a reader clones -----------------------------------------------------------------


def snapshot(dest: Path, tag: str = "v0.1.0") -> Path:
    """A clone of this checkout as it is (tracked and new files), committed and tagged."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "lakeforge"], ["tag", tag]):
        _git(dest, *args)
    return dest


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@dataclass
class Story:
    clone: Path
    session: Session
    copy_output: str = ""  # what README.md's `copier copy` printed (the message after copy)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    clone = snapshot(tmp_path_factory.mktemp("printed") / "lakeforge")
    return Story(clone, Session())


# The tests ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_readme_then_the_demo_hint_then_the_new_repos_docs_work_as_printed(story: Story) -> None:
    session, clone = story.session, story.clone
    readme = runnable(bash_blocks((clone / "README.md").read_text()), "README.md", session)
    assert len(readme) >= 2, readme
    first, *rest = readme
    shell = Shell(clone)
    for line in first:
        for part in command_parts(line):
            if part.startswith(".venv/bin/nox -s tests"):
                part += NOX_SELECTION
            output = session.run(shell, part, "README.md")
            if " demo " in f" {part} ":
                # The demo's closing hint, run as printed from where the demo ran.
                hints = re.findall(r"^run its tests again: (.+)$", output, flags=re.M)
                assert hints == ["cd lakeforge-demo && ../.venv/bin/python -m pytest"], output[-3000:]
                session.run(replace(shell), hints[0], "scaffold demo's hint")
    output = ""
    for block in rest:
        output += session.run_lines(shell, block, "README.md")
    story.copy_output = output
    repo = clone.parent / "my-pipeline"
    assert (repo / "tables.yml").is_file(), "README.md's copier copy made no ../my-pipeline"
    tables = (repo / "tables.yml").read_text()
    assert "name: raw_refunds" in tables and "name: refunds" in tables

    # The message copier printed after the copy, typed from where copier ran.
    steps = message_commands(output, "Next steps")
    assert steps and steps[0].startswith("cd ") and any(s.startswith("pytest") for s in steps), steps
    # The steps as a user who skipped README's block runs them: a brand-new venv, with no package
    # index that serves lakeforge (the repo carries it in vendor/), on a stock machine (python3 only).
    assert any("--find-links vendor" in s for s in steps), steps
    before_venv = steps[: next(i for i, s in enumerate(steps) if ".venv/bin/activate" in s)]
    assert not any(re.search(r"(^|&& )python ", s) for s in before_venv), "stock Debian has python3, not python"
    assert sorted(p.name for p in (repo / "vendor").glob("*.whl")) == [
        "lakeforge-0.1.0-py3-none-any.whl",
        "lakeforge_scaffolder-0.1.0-py3-none-any.whl",
    ]
    shutil.rmtree(repo / ".venv")
    session.run_lines(Shell(clone), steps, "copier's message after copy")
    # lakeforge came from vendor/, not from an index that has a project of that name: the runtime's own files.
    installed = subprocess.run(
        [str(repo / ".venv" / "bin" / "python"), "-c", "import lakeforge.contract; print(lakeforge.contract.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in installed, installed
    assert Path(installed).read_text() == (ROOT / "runtime/src/lakeforge/contract.py").read_text()
    # The new repo's own README, from the repo; AGENTS.md, in its venv as AGENTS.md says.
    generated = runnable(bash_blocks((repo / "README.md").read_text()), "the new repo's README.md", session)
    assert len(generated) >= 3, generated
    for block in generated:
        session.run_lines(Shell(repo), block, "the new repo's README.md")
    agents = runnable(bash_blocks((repo / "AGENTS.md").read_text()), "AGENTS.md", session)
    assert agents, "AGENTS.md shows no bash block"
    for block in agents:
        session.run_lines(Shell(repo, str(repo / ".venv")), block, "AGENTS.md")

    # A new template version: the README's `copier update --trust`, then the update message.
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "refunds")
    defaults = clone / "template" / "config" / "defaults.yaml.jinja"
    defaults.write_text(defaults.read_text() + "# v0.2.0: a template change\n")
    _git(clone, "commit", "-qam", "v0.2.0")
    _git(clone, "tag", "v0.2.0")
    (update,) = [c for c in inline_commands((repo / "README.md").read_text()) if c.startswith("copier update --")]
    shell = Shell(repo, str(repo / ".venv"))
    output = session.run(shell, non_interactive(update), "the new repo's README.md")
    assert "# v0.2.0: a template change" in (repo / "config" / "defaults.yaml").read_text()
    steps = message_commands(output, "is updated to the new template version")
    parts = [part for step in steps for part in command_parts(step)]
    assert "scaffold doctor" in parts and "pytest" in parts, output[-3000:]
    session.run_lines(shell, steps, "copier's message after update")
    print("\n".join(session.log))


def test_inline_commands_name_real_options(template_repo: Path, tmp_path: Path) -> None:
    """`scaffold X --opt` and `copier X --opt` in backticks: X exists and takes --opt."""
    copy = tmp_path / "inline"
    copier.run_copy(
        str(template_repo), copy, data={"init_git": False}, defaults=True, unsafe=True, quiet=True, skip_tasks=True
    )
    texts = {
        "README.md": (ROOT / "README.md").read_text(),
        "copier.yml": (ROOT / "copier.yml").read_text(),
        "the new repo's README.md": (copy / "README.md").read_text(),
        "AGENTS.md": (copy / "AGENTS.md").read_text(),
    }
    commands = {
        (where, command)
        for where, text in texts.items()
        for command in [
            *inline_commands(text),
            *[p for block in bash_blocks(text) for line in block for p in command_parts(line)],
        ]
        if command.startswith(("scaffold ", "copier ", ".venv/bin/copier ", ".venv/bin/scaffold "))
    }
    assert len(commands) > 20, commands
    helps: dict[tuple[str, str], str] = {}
    problems = []
    for where, command in sorted(commands):
        words = command.replace("\\|", "|").split()
        tool = Path(words[0]).name
        sub = next((w for w in words[1:] if not w.startswith("-")), "")
        if not re.fullmatch(r"[a-z][a-z-]*", sub):
            sub = ""
        options = {re.sub(r"[\[\]]|=.*$", "", w) for w in words if w.lstrip("[").startswith("--")}
        if (tool, sub) not in helps:
            binary = (
                [sys.executable, "-m", "scaffolder"]
                if tool == "scaffold"
                else [str(Path(sys.executable).parent / "copier")]
            )
            done = subprocess.run(
                [*binary, *([sub] if sub else []), "--help"],
                capture_output=True,
                text=True,
                env={**os.environ, "COLUMNS": "300"},
                check=False,
            )
            helps[tool, sub] = done.stdout if done.returncode == 0 else ""
        if not helps[tool, sub]:
            problems.append(f"{where}: `{command}`: `{tool} {sub}` is no command")
            continue
        problems += [
            f"{where}: `{command}`: {tool} {sub} has no {o}" for o in sorted(options) if o not in helps[tool, sub]
        ]
    assert not problems, "\n".join(problems)
