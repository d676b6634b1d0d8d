"""Remove what a round left on disk, whatever shape model code gave it.

`shutil.rmtree` recurses once per folder level (a 1,200-deep tree raises RecursionError) and
stops at the first folder it may not read. This walks with its own stack, never follows a link,
makes folders writable before it empties them, and never raises: what it could not remove is
returned for the caller to report.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path


def remove_tree(root: Path) -> list[str]:
    """Delete `root` and everything under it; returns the paths it could not delete."""
    failed: list[str] = []
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        return failed
    except OSError as exc:
        return [f"{root}: {exc.strerror}"]
    if not stat.S_ISDIR(info.st_mode):
        _remove(os.unlink, str(root), failed)
        return failed
    folders: list[str] = []  # every folder, parents before children
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        with contextlib.suppress(OSError):
            os.chmod(folder, stat.S_IRWXU)
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            failed.append(f"{folder}: {exc.strerror}")
            continue
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder:
                stack.append(entry.path)
            else:
                _remove(os.unlink, entry.path, failed)
    for folder in reversed(folders):
        _remove(os.rmdir, folder, failed)
    return failed


def _remove(remove: Callable[[str], None], path: str, failed: list[str]) -> None:
    """`remove(path)`; a path already gone is fine, any other failure is noted in `failed`."""
    try:
        remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        failed.append(f"{path}: {exc.strerror}")
