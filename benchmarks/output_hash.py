"""Hash ``consolidate_line``'s output over synthetic lines: did a speed change alter a byte?

A program, not a test. For each setting of ``speed.py`` (and the default setting on
Pillow-filtered PNGs) it consolidates the same synthetic output-manifest lines, hashes
the output lines (SHA-256, first 16 hex digits) and, in a second column, the result of
``consolidate`` with unequal worker weights (labels, instances and worker agreements),
so that both the majority and the weighted paths are covered. Run it before and after a
change that must not change results: the printed lines must be identical.

    python benchmarks/output_hash.py                 # 460 lines, about 40 s
    python benchmarks/output_hash.py --images 5      # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gtconsensus import consolidate_line
from gtconsensus.answers import read_answers
from gtconsensus.consensus import consolidate
from speed import SETTINGS, _pool
from speed_methods import ATTRIBUTE, make_cases

# (setting, images, PNG row filters): what session 3 hashed before and after each change.
RUNS = (("default", 300, "none"), ("dense50", 40, "none"), ("hd5", 60, "none"),
        ("default", 60, "adaptive"))  # fmt: skip


def hashes(name: str, images: int, filters: str, size: tuple[int, int] | None) -> str:
    """One line: setting, filters, images, output hash, weighted-result hash."""
    setting = SETTINGS[name]
    width, height = size or (setting.width, setting.height)
    lines, weighted = hashlib.sha256(), hashlib.sha256()
    cases = make_cases(
        1, images, workers=setting.workers, height=height, width=width,
        instances=setting.instances, pool=_pool(setting.workers), filters=filters,
    )  # fmt: skip
    for case in cases:
        result = consolidate_line(case.line, label_attribute=ATTRIBUTE)
        lines.update((result.output or "").encode())
        raws = json.loads(case.line)[ATTRIBUTE]["annotationsFromAllWorkers"]
        answers = read_answers(raws).annotations
        ids = sorted(a.worker_id for a in answers)
        consensus = consolidate(answers, weights={w: 1.0 + 0.37 * i for i, w in enumerate(ids)})
        weighted.update(consensus.labels.tobytes())
        weighted.update(repr([(i.label, i.confidence, i.support, i.mean_iou)
                              for i in consensus.instances]).encode())  # fmt: skip
        weighted.update(repr([(w.worker_id, w.versus_others, w.versus_consensus)
                              for w in consensus.workers]).encode())  # fmt: skip
    return f"{name} {filters} {images} {lines.hexdigest()[:16]} {weighted.hexdigest()[:16]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, help="images per run (default: 300/40/60/60)")
    parser.add_argument("--size", help="WxH for every run (default: each setting's)")
    args = parser.parse_args(argv)
    size = None
    if args.size:
        width, height = (int(v) for v in args.size.lower().split("x"))
        size = (width, height)
    for name, images, filters in RUNS:
        print(hashes(name, args.images or images, filters, size), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
