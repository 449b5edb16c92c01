"""Import time of the Lambda entry points, each in a fresh interpreter (a cold start).

A program, not a test: it prints a table and the command that reproduces it. Each
row imports one module in a new ``python -c`` process and times the import alone
(interpreter start-up excluded), ``--runs`` times, in a rotating order.

Usage::

    python benchmarks/lambda_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys

MODULES = (
    ("json (a floor)", "json"),
    ("boto3 (shipped by the runtime)", "boto3"),
    ("gtconsensus (the core)", "gtconsensus"),
    ("gtconsensus.adapters.pre_annotation", "gtconsensus.adapters.pre_annotation"),
    ("gtconsensus.adapters.aws_lambda", "gtconsensus.adapters.aws_lambda"),
)
_CHILD = (
    "import time; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t); import sys; print(len(sys.modules))"
)


def time_import(module: str) -> tuple[float, int]:
    """Seconds to import ``module`` in a fresh interpreter, and the modules then loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD.format(module=module)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds, count = done.stdout.split()
    return float(seconds), int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {m: [] for _, m in MODULES}
    loaded: dict[str, int] = {}
    for run in range(runs):
        order = MODULES[run % len(MODULES) :] + MODULES[: run % len(MODULES)]
        for _, module in order:
            seconds, loaded[module] = time_import(module)
            times[module].append(seconds)
    print(
        f"`python benchmarks/lambda_import.py --runs {runs}`: Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| import | median ms | min ms | max ms | modules loaded |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, module in MODULES:
        values = sorted(t * 1000 for t in times[module])
        print(f"| `{label}` | {statistics.median(values):.0f} | {values[0]:.0f} | "
              f"{values[-1]:.0f} | {loaded[module]} |")  # fmt: skip


if __name__ == "__main__":
    main()
