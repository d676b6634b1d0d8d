"""Copier task: write the new repo's Monte Carlo monitors-as-code (`monitors/<env>/`).

The generated CI runs `scaffold monitors --check`, so a repo made with `monte_carlo` must carry
the files its own rules produce from the first commit, and every `copier update` must refresh
them when the template changes the rules or their format. The export is scaffold's own engine
(`scaffolder.monitors`), imported from the template's source: copier's interpreter has pydantic
and PyYAML, all the engine needs, and it never imports the repo's code or starts Spark.

A rule the engine rejects (a person's typo in a decorator) does not fail the copy or the update:
the repo is written, the error is printed with its fix, and CI's check says the same until fixed.

Usage (copier runs it in the new repo): python export_monitors.py <template source> <repo>
"""

from __future__ import annotations

import sys
from pathlib import Path


def import_paths(source: Path) -> tuple[list[Path], list[Path]]:
    """Where `lakeforge` and `scaffolder` live, as (put first, put last) on sys.path.

    A checkout holds both: its source goes first, so the engine is the template version's own. An
    installed scaffold's bundled template (scaffolder/_resources/template) carries the runtime's
    source and sits inside the scaffolder package: that package's site-packages goes last, so it
    never shadows the libraries copier itself runs on."""
    first = [source / "runtime" / "src"]
    last: list[Path] = []
    if (source / "scaffolder" / "monitors.py").is_file():
        first.append(source)
    elif source.parent.name == "_resources" and source.parent.parent.name == "scaffolder":
        last.append(source.parent.parent.parent)
    return first, last


def main(source: Path, repo: Path) -> int:
    first, last = import_paths(source)
    sys.path[:0] = [str(path) for path in first]
    sys.path.extend(str(path) for path in last)
    # Never fail the copy or the update: the repo is already written, and CI's check says the same.
    try:
        from scaffolder.monitors import export_monitors
        from scaffolder.project import load_project
    except Exception as exc:
        print(f"export_monitors: cannot load scaffold from {source} ({exc}); run `scaffold monitors`", file=sys.stderr)
        return 0
    try:
        report = export_monitors(load_project(repo))
    except Exception as exc:
        print(f"export_monitors: {exc}; then run `scaffold monitors`", file=sys.stderr)
        return 0
    for note in report.notes:
        print(f"export_monitors: note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
