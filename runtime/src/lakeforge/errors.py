"""Errors the runtime raises on bad input.

Every message is one line that names the input (file, key path, table) and says what to do,
because these surface in job logs where nobody can step through a debugger.
"""

from __future__ import annotations


class LakeforgeError(Exception):
    """Base class: catch this to report any Lakeforge input problem in one line."""


class ConfigError(LakeforgeError, ValueError):
    """A config file, key or environment name is wrong."""


class IdentifierError(LakeforgeError, ValueError):
    """A catalog, schema, table or layer name breaks Unity Catalog's naming rules."""


class EnvironmentIsolationError(LakeforgeError):
    """A configuration would let one environment touch another's data."""


class RuleError(LakeforgeError, ValueError):
    """A Monte Carlo rule was declared with arguments that cannot become a monitor."""
