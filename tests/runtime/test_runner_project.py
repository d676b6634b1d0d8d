"""`_project_root` finds config/ and tables.yml for a checkout, an installed wheel, and neither.

Each test lays out a package on disk and imports it from there; nothing is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lakeforge.runner import PACKAGED_PROJECT, _project_root
from lakeforge.tables import TABLES_FILE


def _package(parent: Path, name: str) -> Path:
    package = parent / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    return package


def _project_files(folder: Path) -> Path:
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "defaults.yaml").write_text("catalog:\n  schema: shop\n")
    (folder / TABLES_FILE).write_text("tables: []\n")
    return folder


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch):
    """Puts a folder on sys.path and forgets the test packages afterwards."""
    names: list[str] = []

    def add(folder: Path, name: str) -> None:
        monkeypatch.syspath_prepend(str(folder))
        names.append(name)

    yield add
    for name in names:
        sys.modules.pop(name, None)


def test_wheel_install_finds_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable) -> None:
    site = tmp_path / "venv" / "lib" / "python3.12" / "site-packages"
    package = _package(site, "shop_wheel_pkg")
    packaged = _project_files(package / PACKAGED_PROJECT)
    monkeypatch.chdir(tmp_path)  # a cluster's working directory: no tables.yml there
    importable(site, "shop_wheel_pkg")

    assert _project_root("shop_wheel_pkg") == packaged.resolve()


def test_checkout_wins_over_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable) -> None:
    repo = _project_files(tmp_path / "repo")
    package = _package(repo / "src", "shop_src_pkg")
    _project_files(package / PACKAGED_PROJECT)  # a stale copy must not shadow the live files
    monkeypatch.chdir(tmp_path)
    importable(repo / "src", "shop_src_pkg")

    assert _project_root("shop_src_pkg") == repo.resolve()


def test_working_directory_wins_over_the_packaged_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable
) -> None:
    site = tmp_path / "site-packages"
    package = _package(site, "shop_cwd_pkg")
    _project_files(package / PACKAGED_PROJECT)
    repo = _project_files(tmp_path / "repo")  # `pip install .` elsewhere, run from the repo
    monkeypatch.chdir(repo)
    importable(site, "shop_cwd_pkg")

    assert _project_root("shop_cwd_pkg") == repo.resolve()


def test_no_project_anywhere_falls_back_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable
) -> None:
    site = tmp_path / "site-packages"
    _package(site, "shop_bare_pkg")
    monkeypatch.chdir(tmp_path)
    importable(site, "shop_bare_pkg")

    assert _project_root("shop_bare_pkg") == tmp_path
