"""What a person sees while `scaffold fill` works, at 80 columns: each table's progress as it moves,
whole table names in the summary, the files written and the estimated cost.

Once piped (a log, CI: one plain line per event) and once in a terminal (a pty: rich's live lines).
Real CLI, the real openai client against the loopback model, real sandboxed rounds.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from scaffolder.prices import DEFAULT_PRICES

from .conftest import bronze_table, good_reply, write_tables
from .llm_server import Action, ScriptedLLM, table_of

NAMES = ("raw_loyalty_member_events", "raw_pos")  # 25 characters: whole at 80 columns
MODEL = "gpt-4.1-mini"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|[\x07\x0e\x0f]")


def run_fill(project: Path, base_url: str, terminal: bool) -> tuple[int, str]:
    argv = [sys.executable, "-m", "scaffolder", "fill", "bronze", "--provider", "openai", "--model", MODEL]
    argv += ["--project", str(project)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCAFFOLD_", "DATABRICKS_"))}
    env |= {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-loopback", "COLUMNS": "80", "LINES": "50"}
    env |= {"TERM": "xterm-256color"}
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        return done.returncode, done.stdout + done.stderr
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(sys.executable, argv, env)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def screen_text(raw: str) -> str:
    """What stays readable of a terminal session: escapes gone, each carriage-returned line's last state."""
    text = ESCAPES.sub("", raw).replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def assert_the_report(output: str, project: Path) -> None:
    lines = output.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith(f"scaffold fill — openai ({MODEL})"))
    summary = lines[title : title + 2 + len(NAMES)]
    assert all(len(line) <= 80 for line in summary), summary
    assert "…" not in output, "a name or number was cut"
    for name in NAMES:
        row = re.search(rf"^{name}\s+bronze\s+filled\s+1/1\s+(\d+)/\1\s+\d+/\d+\s+(\d+\.\d)$", output, re.M)
        assert row, (name, summary)
        assert float(row.group(2)) > 0, "the table's own seconds"
    package = project / "src" / "shop" / "transformations" / "bronze"
    written = [f"src/shop/transformations/bronze/{n}.py" for n in NAMES]
    written += [f"tests/unit/bronze/test_{n}.py" for n in NAMES]
    assert f"wrote {len(written)} file(s):" in output
    for rel in written:
        assert re.search(rf"^  {re.escape(rel)}$", output, re.M), rel
        assert (project / rel).is_file()
    assert package.is_dir()
    cost = re.search(r"^tokens (\d+) in / (\d+) out; estimated cost \$(\d+\.\d{4}) \(list prices\)$", output, re.M)
    assert cost, output[-2000:]
    expected = DEFAULT_PRICES.cost(MODEL, int(cost.group(1)), int(cost.group(2)))
    assert expected is not None and Decimal(cost.group(3)) == round(expected, 4)


@pytest.mark.slow
def test_fill_shows_each_table_move_then_files_and_cost_piped_and_in_a_terminal(bare_project: Path) -> None:
    write_tables(bare_project, [bronze_table(n) for n in NAMES])
    replies = {n: good_reply(bare_project, n) for n in NAMES}
    in_terminal = bare_project.parent / "shop-terminal"
    shutil.copytree(bare_project, in_terminal, symlinks=True)

    with ScriptedLLM(lambda request: Action(content=replies[table_of(request)])) as llm:
        code, piped = run_fill(bare_project, llm.base_url, terminal=False)
        assert code == 0, piped[-3000:]
        code, raw = run_fill(in_terminal, llm.base_url, terminal=True)
        assert code == 0, raw[-3000:]

    # Piped: no escape sequence, one plain line per event, in the order they happened.
    assert "\x1b" not in piped and "\r" not in piped
    for name in NAMES:
        events = [line.removeprefix(f"{name}: ") for line in piped.splitlines() if line.startswith(f"{name}: ")]
        moves = [
            e for e in events if e.startswith(("asking", "checking", "in the round", "running", "proven", "filled"))
        ]
        assert moves[0] == "asking openai (attempt 1)", events
        assert moves.index("checking the reply (ruff, safe subset)") < moves.index(
            "in the round: tests twice, probes, mutants"
        )
        assert moves.index("in the round: tests twice, probes, mutants") < moves.index("proven") < moves.index("filled")
    assert_the_report(piped, bare_project)

    # In a terminal: rich's live lines (spinner, elapsed time), then the same report.
    shown = screen_text(raw)
    assert "\x1b[" in raw, "a terminal gets rich's live display"
    for name in NAMES:
        assert re.search(rf"{name}: filled\s+\d:\d\d:\d\d", shown), shown[-3000:]
    assert_the_report(shown, in_terminal)
