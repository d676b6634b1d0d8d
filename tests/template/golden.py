"""Golden outputs of the template: the rendered repo of every answer variant of the matrix.

`tests/template/golden/<variant>/` holds what `copier copy` writes for that variant's answers
(`test_matrix.VARIANTS`), tasks included (`monitors/` with Monte Carlo), so a reviewer reads what
a template change does to a generated repo in the pull request's diff, as the Databricks CLI's
acceptance tests show for `bundle init`. `test_golden.py` renders each variant and fails with
a unified diff when the rendering changes.

Left out: `.git/` and `vendor/` (the wheels the copier task builds: binary, rebuilt per version).
The template's path in `.copier-answers.yml` (`_src_path`, a temporary folder) reads
`<template>`. Everything else is deterministic by design (`bundle_uuid` is a uuid5 of
`project_name@catalog`; no dates are rendered).

Update them after a deliberate template change, then commit what changed:

    nox -s golden                       # or: .venv/bin/python -m tests.template.golden
"""

from __future__ import annotations

import difflib
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .conftest import copy_project, make_template_repo
from .test_matrix import VARIANTS

GOLDEN = Path(__file__).resolve().parent / "golden"
LEFT_OUT = {".git", "vendor", "__pycache__"}
TEMPLATE_PLACEHOLDER = "<template>"
DIFF_LINES_PER_FILE = 40
DIFF_LINES = 400
UPDATE_COMMAND = "nox -s golden"


def render(template: Path, dest: Path, answers: Mapping[str, Any]) -> dict[str, str]:
    """The variant's rendered repo as {repo-relative path: text}, normalised."""
    copy_project(template, dest, **answers)
    return tree(dest, template)


def tree(root: Path, template: Path | None = None) -> dict[str, str]:
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or LEFT_OUT.intersection(rel.parts):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise AssertionError(
                f"{rel} is not UTF-8 text: the golden trees hold text only; add it to LEFT_OUT in {__file__}"
            ) from None
        if template is not None:
            text = text.replace(str(template), TEMPLATE_PLACEHOLDER)
        files[rel.as_posix()] = text
    return files


def golden(variant: str) -> dict[str, str]:
    return tree(GOLDEN / variant)


def write(variant: str, files: Mapping[str, str]) -> None:
    folder = GOLDEN / variant
    shutil.rmtree(folder, ignore_errors=True)
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def differences(variant: str, expected: Mapping[str, str], actual: Mapping[str, str]) -> str:
    """A readable report of how `actual` differs from the golden tree: files gone, files new, and a
    unified diff per changed file (each and all of them capped); empty when they are the same."""
    out: list[str] = []
    base = f"tests/template/golden/{variant}"
    for rel in sorted(expected.keys() - actual.keys()):
        out.append(f"--- {base}/{rel}: no longer rendered")
    for rel in sorted(actual.keys() - expected.keys()):
        lines = actual[rel].splitlines()
        shown = "".join(f"\n+{line}" for line in lines[:10])
        more = f"\n  ... {len(lines) - 10} more lines" if len(lines) > 10 else ""
        out.append(f"+++ {base}/{rel}: newly rendered ({len(lines)} lines){shown}{more}")
    for rel in sorted(expected.keys() & actual.keys()):
        if expected[rel] == actual[rel]:
            continue
        diff = list(
            difflib.unified_diff(
                expected[rel].splitlines(),
                actual[rel].splitlines(),
                f"{base}/{rel}",
                f"rendered/{rel}",
                lineterm="",
            )
        )
        if len(diff) > DIFF_LINES_PER_FILE:
            diff = [*diff[:DIFF_LINES_PER_FILE], f"... {len(diff) - DIFF_LINES_PER_FILE} more diff lines in {rel}"]
        out.append("\n".join(diff))
    report = "\n".join(out)
    lines = report.splitlines()
    if len(lines) > DIFF_LINES:
        report = "\n".join([*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more lines"])
    return report


def update(variants: Mapping[str, Mapping[str, Any]] = VARIANTS) -> list[str]:
    """Render every variant from this checkout and write its golden tree; the variants that changed."""
    changed = []
    with tempfile.TemporaryDirectory(prefix="lakeforge-golden-") as scratch:
        template = make_template_repo(Path(scratch) / "lakeforge-template")
        for variant, answers in variants.items():
            files = render(template, Path(scratch) / variant, answers)
            if not (GOLDEN / variant).is_dir() or golden(variant) != files:
                write(variant, files)
                changed.append(variant)
    for stale in sorted(p for p in GOLDEN.iterdir() if p.is_dir() and p.name not in variants):
        shutil.rmtree(stale)
        changed.append(f"{stale.name} (removed: no longer a variant)")
    return changed


def main() -> int:
    GOLDEN.mkdir(exist_ok=True)
    changed = update()
    for variant in changed:
        print(f"updated tests/template/golden/{variant}")
    if not changed:
        print("the golden trees already match the template")
    return 0


if __name__ == "__main__":
    sys.exit(main())
