"""The rendered repo of every matrix variant equals its golden tree (`tests/template/golden/`).

A template change that alters a generated repo fails here with the diff, file by file; when the
change is meant, `nox -s golden` writes the new golden trees and the pull request shows them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from . import golden
from .conftest import copy_project, git
from .test_matrix import VARIANTS


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendering_equals_the_golden_tree(template_repo: Path, tmp_path: Path, variant: str) -> None:
    expected = golden.golden(variant)
    assert expected, f"no golden tree for {variant}: run `{golden.UPDATE_COMMAND}` and commit tests/template/golden/"
    actual = golden.render(template_repo, tmp_path / variant, VARIANTS[variant])
    report = golden.differences(variant, expected, actual)
    if report:
        pytest.fail(
            f"the template renders {variant} differently from its golden tree:\n\n{report}\n\n"
            f"If the change is meant, run `{golden.UPDATE_COMMAND}` and commit tests/template/golden/.",
            pytrace=False,
        )


def test_every_variant_and_only_they_have_a_golden_tree() -> None:
    folders = {p.name for p in golden.GOLDEN.iterdir() if p.is_dir()}
    assert folders == set(VARIANTS), f"run `{golden.UPDATE_COMMAND}`"


def test_a_changed_template_line_fails_with_a_readable_diff(template_repo: Path, tmp_path: Path) -> None:
    """What a reviewer and a developer see: the file, the line that went and the line that came."""
    changed = Path(shutil.copytree(template_repo, tmp_path / "template", symlinks=True))
    readme = next((changed / "template").glob("README.md*"))
    old = "bronze → silver → gold layers"
    text = readme.read_text(encoding="utf-8")
    assert old in text
    readme.write_text(text.replace(old, "bronze → silver → gold → platinum layers"), encoding="utf-8")
    git(changed, "commit", "-qam", "a template change")
    git(changed, "tag", "-f", "v1")  # the same version: only the change shows
    variant = next(iter(VARIANTS))
    copy_project(changed, tmp_path / "rendered", **VARIANTS[variant])
    report = golden.differences(variant, golden.golden(variant), golden.tree(tmp_path / "rendered", changed))
    assert report.splitlines()[:2] == [
        f"--- tests/template/golden/{variant}/README.md",
        "+++ rendered/README.md",
    ], report
    assert any(line.startswith("-") and old in line for line in report.splitlines()), report
    assert any(line.startswith("+") and "gold → platinum layers" in line for line in report.splitlines()), report
    assert len(report.splitlines()) < 15, report  # that change, and nothing else


def test_the_report_is_capped_and_names_every_kind_of_change() -> None:
    expected = {"gone.txt": "a\n", "same.txt": "x\n", "long.txt": "".join(f"{i}\n" for i in range(200))}
    actual = {"new.txt": "n\n", "same.txt": "x\n", "long.txt": "".join(f"{i}!\n" for i in range(200))}
    report = golden.differences("v", expected, actual)
    lines = report.splitlines()
    assert "--- tests/template/golden/v/gone.txt: no longer rendered" in lines
    assert "+++ tests/template/golden/v/new.txt: newly rendered (1 lines)" in lines
    assert "--- tests/template/golden/v/long.txt" in lines
    assert lines[-1].startswith("... ") and "more diff lines in long.txt" in lines[-1]
    assert len(lines) <= golden.DIFF_LINES_PER_FILE + 4
    assert golden.differences("v", expected, expected) == ""
