"""Entry point of the bundle's test_job: runs tests/integration on the workspace's compute.

`--set KEY=VALUE` carries what only the deployed bundle knows (the schema names, prefixed in
development mode); the tests read it back through `LAKEFORGE_INTEGRATION_SET`.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

SET_VAR = "LAKEFORGE_INTEGRATION_SET"


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{item!r}: use KEY=VALUE, e.g. catalog.schemas.bronze=my_schema")
    return key, value


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="dev")
    parser.add_argument("--set", action="append", default=[], type=_key_value, metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ["LAKEFORGE_ENV"] = args.env
    os.environ[SET_VAR] = json.dumps(dict(args.set))
    root = Path(__file__).resolve().parents[2]
    os.chdir(root)
    sys.dont_write_bytecode = True  # workspace files are read-only for bytecode caches
    sys.exit(pytest.main([str(root / "tests" / "integration"), "-m", "integration", "-p", "no:cacheprovider"]))
