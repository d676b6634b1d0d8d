"""Where the prompts, examples and Copier template live, installed or in a checkout.

A wheel carries them under `scaffolder/_resources/`; an editable install reads them from the
repository root, so both layouts resolve through this one module.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_resources"
_CHECKOUT = _PACKAGE.parent


def prompts_dir() -> Path:
    return _first(_BUNDLED / "prompts", _CHECKOUT / "prompts")


def examples_dir() -> Path:
    return _first(_BUNDLED / "examples", _CHECKOUT / "examples")


def template_dir() -> Path:
    """The folder holding `copier.yml` (pass it to `copier copy`)."""
    bundled = _BUNDLED / "template"
    return bundled if (bundled / "copier.yml").is_file() else _CHECKOUT


def _first(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]
