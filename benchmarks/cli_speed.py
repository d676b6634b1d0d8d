"""`scaffold --help` against the floor any Typer + rich CLI pays, from one run.

Prints the median wall time of `scaffold --help` and of `python -c "import typer, rich"` over a
few runs each, and their ratio (target <= 4): the CLI must not import openai, copier, pyspark,
mcp or pydantic before a command needs them.

Run: python benchmarks/cli_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 7


def median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    floor = median_seconds([sys.executable, "-c", "import typer, rich"])
    help_ = median_seconds([sys.executable, "-m", "scaffolder", "--help"])
    print(f"scaffold --help {help_:.2f}s, import typer+rich {floor:.2f}s (median of {RUNS})")
    print(f"ratio help/floor = {help_ / floor:.2f}  (target <= 4)")


if __name__ == "__main__":
    main()
