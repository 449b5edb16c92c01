"""Several inputs at scale: time and peak memory, merged against one manifest of every answer.

A program, not a test. For each of ``--lines`` image counts it writes a job of simulated
1280x960 images answered by 3 workers (``gtconsensus.testing.crowd``; ``--distinct``
different drawings cycled, each line given its own ``source-ref``) as two manifests: the
first holds each image's first two answers, in order; the second the third answer, in
reverse order, under another label attribute (a re-labeling round). It runs

- ``gtconsensus consolidate first second`` (merged, bucket files on disk), and
- ``gtconsensus consolidate all`` (one manifest holding every answer, in the merged
  output's order),

each in a subprocess, job-level, and prints wall-clock seconds and the peak resident
memory of the largest process (``ru_maxrss`` of the command and its worker processes).
It checks that the two outputs hold the same consensus. It prints a Markdown table and
the command that reproduces it.

Usage::

    python benchmarks/merge_scale.py [--lines 1000 10000] [--distinct 24] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gtconsensus.testing.crowd import STYLES, simulate_job

PANEL = ("good", "average", "poor", "spammer")
ATTR = "gt-label"
RAW = "annotationsFromAllWorkers"


def run(inputs: list[Path], out: Path, *args: str) -> tuple[float, int, int]:
    """Seconds, peak RSS in MiB of the largest process, exit status."""
    command = [sys.executable, "-m", "gtconsensus", "consolidate", *map(str, inputs),
               "-o", str(out), "-q", *args]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    return elapsed, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def write_inputs(folder: Path, lines: list[dict[str, object]], count: int) -> list[Path]:
    """The two split manifests and the one holding every answer; returns their paths."""
    first, second, combined = folder / "first", folder / "second", folder / "all"
    with first.open("w") as a, combined.open("w") as c:
        for i in range(count):
            line = lines[i % len(lines)]
            answers = line[ATTR][RAW]  # type: ignore[index]
            ref = f"s3://bench/images/{i:08d}.jpg"
            a.write(json.dumps({"source-ref": ref, ATTR: {RAW: answers[:2]}}) + "\n")
            c.write(json.dumps({"source-ref": ref, ATTR: {RAW: answers}}) + "\n")
    with second.open("w") as b:
        for i in reversed(range(count)):
            answers = lines[i % len(lines)][ATTR][RAW]  # type: ignore[index]
            ref = f"s3://bench/images/{i:08d}.jpg"
            b.write(json.dumps({"source-ref": ref, "relabel": {RAW: answers[2:]}}) + "\n")
    return [first, second, combined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--distinct", type=int, default=24)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    job = simulate_job(
        7, [STYLES[n] for n in PANEL], n_images=args.distinct, height=960, width=1280,
        instances=(2, 12), workers_per_image=3,
    )  # fmt: skip
    lines = [json.loads(line) for line in job.manifest_lines()]
    command = "python benchmarks/merge_scale.py " + " ".join(sys.argv[1:])
    print(f"1280x960, 3 workers per image, {args.distinct} distinct drawings cycled; "
          f"{os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}, --jobs {args.jobs}, --method job\n")  # fmt: skip
    print("| images | input | input MiB | seconds | peak RSS of the largest process (MiB) |")
    print("|---:|---|---:|---:|---:|")
    for count in args.lines:
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            first, second, combined = write_inputs(base, lines, count)
            runs = [("two files, merged", [first, second]), ("one file, every answer", [combined])]
            values = []
            for name, inputs in runs:
                out = base / f"out-{len(inputs)}"
                seconds, peak, code = run(inputs, out, "--method", "job", "--jobs", str(args.jobs))
                assert code == 0, code
                mib = sum(p.stat().st_size for p in inputs) / (1 << 20)
                print(f"| {count:,} | {name} | {mib:.0f} | {seconds:.1f} | {peak} |")
                with out.open() as handle:
                    values.append([json.loads(x)[ATTR]["consensus"] for x in handle])
            assert values[0] == values[1], "merged consensus differs from the single manifest's"
    print(f"\ncommand: {command}")


if __name__ == "__main__":
    main()
