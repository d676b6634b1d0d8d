"""The fast, session-scoped `spark` fixture and DataFrame helpers come from the runtime."""

pytest_plugins = ["lakeforge.testing"]
