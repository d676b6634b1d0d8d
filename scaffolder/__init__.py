"""Lakeforge scaffolder: the `scaffold` CLI and the engines behind it."""

__version__ = "0.1.0"
