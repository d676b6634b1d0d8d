"""Entry point of the bundle's test_job: runs tests/integration on the workspace's cluster."""

import argparse
import os
import sys
from pathlib import Path

import pytest

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="dev")
    args = parser.parse_args()
    os.environ["LAKEFORGE_ENV"] = args.env
    root = Path(__file__).resolve().parents[2]
    os.chdir(root)
    sys.dont_write_bytecode = True  # workspace files are read-only for bytecode caches
    sys.exit(pytest.main([str(root / "tests" / "integration"), "-m", "integration", "-p", "no:cacheprovider"]))
