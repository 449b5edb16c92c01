"""The offline tool at scale: lines per second with --jobs 1 and 2, and peak memory in the lines.

A program, not a test. It writes manifests of simulated 1280x960 images answered by
3 workers (``gtconsensus.testing.crowd``; ``--distinct`` different images, cycled,
to keep generation short), then runs ``gtconsensus consolidate`` in a subprocess:

- speed: ``--lines`` lines with ``--jobs 1`` and ``--jobs 2``, per method, in
  lines per second (wall clock of the whole command, start-up included);
- memory: the job-level method (two passes: evidence table + spool) on each of
  ``--memory`` line counts, peak resident memory of the largest process
  (``ru_maxrss`` of the command and its worker processes).

It prints a Markdown table and the command that reproduces it.

Usage::

    python benchmarks/scale.py [--lines 400] [--memory 1000 10000] [--distinct 24]
        [--width 1280] [--height 960] [--workers 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gtconsensus.testing.crowd import STYLES, simulate_job

PANEL = ("good", "average", "poor", "spammer")


def write_manifest(path: Path, lines: list[str], count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(lines[i % len(lines)] + "\n")


def run(source: Path, out: Path, *args: str) -> tuple[float, int, int]:
    """Seconds, peak RSS in MiB of the largest process, exit status."""
    command = [sys.executable, "-m", "gtconsensus", "consolidate", str(source), "-o", str(out),
               "-q", *args]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    return elapsed, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--memory", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--distinct", type=int, default=24)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    job = simulate_job(
        7, [STYLES[n] for n in PANEL], n_images=args.distinct, height=args.height,
        width=args.width, instances=(2, 12), workers_per_image=args.workers,
    )  # fmt: skip
    lines = list(job.manifest_lines())
    command = "python benchmarks/scale.py " + " ".join(sys.argv[1:])
    print(f"{args.width}x{args.height}, {args.workers} workers per image, {args.distinct} "
          f"distinct images cycled; {os.cpu_count()} cores, {platform.processor() or 'cpu'}, "
          f"Python {platform.python_version()}\n")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        source = base / "speed.manifest"
        write_manifest(source, lines, args.lines)
        print("| method | lines | --jobs 1 (lines/s) | --jobs 2 (lines/s) | speed-up |")
        print("|---|---:|---:|---:|---:|")
        for method in ("image", "job"):
            rates = []
            outputs = []
            for jobs in ("1", "2"):
                out = base / f"out-{method}-{jobs}"
                seconds, _, code = run(source, out, "--method", method, "--jobs", jobs)
                assert code == 0, code
                rates.append(args.lines / seconds)
                outputs.append(out.read_bytes())
            assert outputs[0] == outputs[1], "--jobs 2 output differs from --jobs 1"
            print(f"| {method} | {args.lines:,} | {rates[0]:.1f} | {rates[1]:.1f} | "
                  f"{rates[1] / rates[0]:.2f} |")  # fmt: skip
        print("\n| lines | method | --jobs | seconds | peak RSS of the largest process (MiB) |")
        print("|---:|---|---:|---:|---:|")
        for count in args.memory:
            source = base / f"memory-{count}.manifest"
            write_manifest(source, lines, count)
            seconds, peak, code = run(source, base / "out", "--method", "job", "--jobs", "2")
            assert code == 0, code
            print(f"| {count:,} | job | 2 | {seconds:.1f} | {peak} |")
            source.unlink()
    print(f"\ncommand: {command}")


if __name__ == "__main__":
    main()
