"""Write the example job shipped with gtconsensus: ``src/gtconsensus/data/example.manifest``.

A simulated street-scene job in Ground Truth's exact output-manifest form (the
recipe's pass-through Lambda, ``annotationsFromAllWorkers``): 24 images of
640x480, 0 to 6 objects each (Car, Person, Bicycle), 3 workers per image drawn
from a pool of 5 of different quality (good, careful, average, sloppy, spammer;
see ``gtconsensus.testing.synthetic.DEFAULT_POOL``). Some images hold no
object, and their workers answer with empty answers. Two lines are edited:

- line 8: the first worker submitted an empty answer although the others drew
  objects (a valid answer: it counts as missing them);
- line 21: the first worker's PNG was cut off in transit (bad base64), so the
  demo shows one rejected answer on an object that still consolidates from the
  other two.

The output is the same bytes on every run (for a given numpy, Pillow and zlib).

Usage::

    python scripts/make_example.py            # rewrite the file
    python scripts/make_example.py --check    # exit 1 if the file is not up to date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gtconsensus.testing.synthetic import make_manifest, worker_answer

SEED = 20261125
N_LINES = 24
EMPTY_LINE = 8  # 1-based; an image with objects
BROKEN_LINE = 21  # 1-based; an image with objects
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src/gtconsensus/data/example.manifest"


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _raws(line: dict[str, Any]) -> list[dict[str, Any]]:
    raws: list[dict[str, Any]] = line["gt-label"]["annotationsFromAllWorkers"]
    return raws


def _empty_answer(text: str) -> str:
    """The first worker submitted without drawing: "nothing to label here"."""
    line = json.loads(text)
    empty = worker_answer(np.zeros((480, 640), np.uint8), [])
    _raws(line)[0]["annotationData"]["content"] = _dumps(empty)
    return _dumps(line)


def _cut_off_png(text: str) -> str:
    """The first worker's base64 PNG is truncated to an impossible length."""
    line = json.loads(text)
    raw = _raws(line)[0]
    answer = json.loads(raw["annotationData"]["content"])
    data = answer["annotatedResult"]["labeledImage"]["pngImageData"]
    cut = len(data) // 2
    cut -= (cut - 1) % 4  # 4n + 1 characters: never valid base64
    answer["annotatedResult"]["labeledImage"]["pngImageData"] = data[:cut]
    raw["annotationData"]["content"] = _dumps(answer)
    return _dumps(line)


def example_lines() -> list[str]:
    """The example job, one compact JSON line per image."""
    lines = list(make_manifest(SEED, N_LINES, workers=3, height=480, width=640, instances=(0, 6)))
    lines[EMPTY_LINE - 1] = _empty_answer(lines[EMPTY_LINE - 1])
    lines[BROKEN_LINE - 1] = _cut_off_png(lines[BROKEN_LINE - 1])
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or check) the example manifest; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    content = ("\n".join(example_lines()) + "\n").encode("utf-8")
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != content:
            print(f"{args.output} is out of date: run scripts/make_example.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({len(content):,} bytes)")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(content)
    print(f"wrote {args.output} ({N_LINES} lines, {len(content):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
