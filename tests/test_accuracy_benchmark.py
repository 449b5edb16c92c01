"""The accuracy benchmark runs and prints its tables (smoke run, no peers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_prints_the_command_and_the_summary() -> None:
    completed = subprocess.run(
        [sys.executable, "benchmarks/accuracy/run.py", "--quick", "--no-peers", "--panel",
         "graded", "--panel", "two"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    out = completed.stdout
    assert out.startswith("Command: `python benchmarks/accuracy/run.py --quick --no-peers")
    assert "| gtconsensus job-level |" in out
    assert "| hindsight-best worker per image (oracle) |" in out
    assert "### Summary" in out


def test_quick_run_with_gold_prints_the_comparison() -> None:
    completed = subprocess.run(
        [sys.executable, "benchmarks/accuracy/run.py", "--quick", "--no-peers", "--panel",
         "graded", "--gold", "0.1"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert "### With 10% gold answers" in completed.stdout
    assert "| good, average, poor | 2 |" in completed.stdout
