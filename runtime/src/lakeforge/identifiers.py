"""Unity Catalog identifier rules, shared by the config models and `CatalogHelper`.

Unity Catalog accepts almost anything inside backticks, but names with dashes, spaces or mixed
case force every SQL user to quote them forever; Lakeforge only emits names that need no quoting.
"""

from __future__ import annotations

import re

from lakeforge.errors import IdentifierError

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")
MAX_IDENTIFIER_LENGTH = 255
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def check_identifier(value: object, what: str) -> str:
    """Return `value` if it is a safe Unity Catalog identifier, else raise `IdentifierError`."""
    if not isinstance(value, str) or value == "":
        raise IdentifierError(f"{what} is empty: give a name of lowercase letters, digits and underscores")
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise IdentifierError(
            f"{what} {value[:40]!r}... is {len(value)} characters long: "
            f"Unity Catalog allows at most {MAX_IDENTIFIER_LENGTH}"
        )
    if not _IDENTIFIER.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_") or "name"
        if suggestion[0].isdigit():
            suggestion = f"t_{suggestion}"
        raise IdentifierError(
            f"{what} {value!r} is not a valid Unity Catalog identifier: use lowercase letters, "
            f"digits and underscores, not starting with a digit (e.g. {suggestion!r})"
        )
    return value


def check_layer(layer: object) -> str:
    """Return `layer` if it is one of the medallion layers, else raise `IdentifierError`."""
    if layer not in LAYERS:
        raise IdentifierError(f"layer {layer!r} is unknown: use one of {', '.join(LAYERS)}")
    return layer
