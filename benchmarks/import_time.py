"""How long does ``import gtconsensus`` take, next to numpy + PIL.Image + pydantic alone?

Each import runs in a fresh interpreter (``python -s -c``, in the temporary directory),
which times the import statement itself with ``time.perf_counter`` (interpreter
start-up excluded) and prints it. The statements run in turn, ``--runs`` times each
after one warm-up (``.pyc`` files written); the report gives medians, p90 and the
ratio to the baseline (issue 6's target: at most 1.3).
``import gtconsensus.adapters.aws_lambda`` is timed too when that module exists. Then
one ``python -X importtime`` run lists what gtconsensus imports on top of the
baseline, by self time.

    python benchmarks/import_time.py            # 15 runs each
    python benchmarks/import_time.py --json     # also a JSON line at the end
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

BASELINE = "import numpy, PIL.Image, pydantic"
STATEMENTS = {
    "baseline": BASELINE,
    # pydantic 2 imports lazily: what any pydantic user pays is BaseModel and the first
    # model class (which also loads pydantic's plugin machinery, importlib.metadata).
    "baseline_models": (
        "import numpy, PIL.Image; from pydantic import BaseModel; "
        "type('M', (BaseModel,), {'__annotations__': {'x': int}})"
    ),
    "gtconsensus": "import gtconsensus",
    # ``import gtconsensus`` imports the pipeline on first use of its names (PEP 562):
    # what a program that consolidates pays is this.
    "pipeline": "from gtconsensus import consolidate_line",
    "aws_lambda": "import gtconsensus.adapters.aws_lambda",
}
# Children start in the temporary directory (``-c`` puts the working directory first on
# sys.path) and without the user site (``-s``); PYTHONPATH is honoured, so a clean export
# can be timed with PYTHONPATH=/tmp/bench-COMMIT/src.
_NEUTRAL = tempfile.gettempdir()
_PROBE = "import time; t = time.perf_counter(); {0}; print((time.perf_counter() - t) * 1e3)"
# Bytecode caches are written (as pip writes them when it installs a wheel): with
# PYTHONDONTWRITEBYTECODE set, as on some CI machines, every run would time compiling
# each changed module again rather than importing it.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _once(statement: str) -> float:
    """Milliseconds of one import statement in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-s", "-c", _PROBE.format(statement)],
        capture_output=True, text=True, check=True, cwd=_NEUTRAL, env=_ENV,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def _extra_modules(top: int) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) that the pipeline's import adds to the baseline."""
    done = subprocess.run(
        [sys.executable, "-s", "-X", "importtime", "-c", f"{BASELINE}; {STATEMENTS['pipeline']}"],
        capture_output=True, text=True, check=True, cwd=_NEUTRAL, env=_ENV,
    )  # fmt: skip
    rows = []
    after_baseline = False
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        own, cumulative, indent, module = match.groups()
        if after_baseline:
            rows.append((module, int(own), int(cumulative)))
        if module == "pydantic" and len(indent) == 1:
            after_baseline = True
    rows.sort(key=lambda row: -row[1])
    return rows[:top]


def _origin() -> str:
    done = subprocess.run(
        [sys.executable, "-s", "-c", "import gtconsensus; print(gtconsensus.__file__)"],
        capture_output=True, text=True, check=True, cwd=_NEUTRAL, env=_ENV,
    )  # fmt: skip
    return done.stdout.strip()


def _has_aws_lambda() -> bool:
    try:
        return importlib.util.find_spec("gtconsensus.adapters.aws_lambda") is not None
    except ImportError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Time the imports and print a markdown report (and a JSON line with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per statement (15)")
    parser.add_argument("--json", action="store_true", help="print a JSON line at the end")
    args = parser.parse_args(argv)
    arguments = list(sys.argv[1:] if argv is None else argv)
    statements = {k: v for k, v in STATEMENTS.items() if k != "aws_lambda" or _has_aws_lambda()}
    for statement in statements.values():  # warm-up: .pyc files, disk cache
        _once(statement)
    times: dict[str, list[float]] = {key: [] for key in statements}
    for _ in range(args.runs):
        for key, statement in statements.items():  # interleaved, so drift hits all alike
            times[key].append(_once(statement))
    medians = {key: float(np.median(values)) for key, values in times.items()}

    command = " ".join(["python benchmarks/import_time.py", shlex.join(arguments)]).strip()
    print(f"Command: `{command}`\n")
    print(
        f"Python {platform.python_version()} ({sys.executable} -s), {os.cpu_count()} CPUs, "
        f"{args.runs} fresh interpreters per statement, interleaved, after one warm-up; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{os.getloadavg()[0]:.2f}.\n"
    )
    print(f"gtconsensus imported from {_origin()}.\n")
    print("| statement | median ms | p90 ms | min ms | x baseline (medians) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, statement in statements.items():
        values = times[key]
        print(
            f"| `{statement}` | {medians[key]:.1f} | {np.percentile(values, 90):.1f} | "
            f"{min(values):.1f} | {medians[key] / medians['baseline']:.2f} |"
        )
    ratio = medians["gtconsensus"] / medians["baseline"]
    pipeline = medians["pipeline"] / medians["baseline"]
    models = medians["pipeline"] / medians["baseline_models"]
    print(
        f"\nTarget (issue 6): `import gtconsensus` / `{BASELINE}` = {ratio:.2f} "
        f"(at most 1.3: {'met' if ratio <= 1.3 else 'not met'}; it imports the pipeline on "
        f"first use). `{STATEMENTS['pipeline']}` / `{BASELINE}` = {pipeline:.2f} "
        f"({'within' if pipeline <= 1.3 else 'over'} 1.3); against the baseline that also "
        f"defines one pydantic model: {models:.2f}.\n"
    )
    print(
        f"What `{STATEMENTS['pipeline']}` adds to the baseline (`-X importtime`, one run, "
        "top 12 by self time):\n"
    )
    print("| module | self ms | cumulative ms |")
    print("| --- | ---: | ---: |")
    for module, own, cumulative in _extra_modules(12):
        print(f"| `{module}` | {own / 1e3:.2f} | {cumulative / 1e3:.2f} |")
    if args.json:
        result = {key: {"median_ms": medians[key], "runs_ms": times[key]} for key in statements}
        extra = {"ratio": ratio, "ratio_pipeline": pipeline, "ratio_models": models}
        print(json.dumps({**result, **extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
