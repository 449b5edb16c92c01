"""The consensus PNG's compression: zlib level and strategy, size against time.

A program, not a test. On the default setting's consensus label images (the same
synthetic lines as ``speed.py``), it encodes each image as ``encode_label_png`` does
(palette rows packed, blank rows from cached deflate blocks) with each zlib strategy
and level for the foreground rows, and prints one markdown row per choice: the median
encode time (best of 3 per image), its ratio to the median decode floor of the same
lines, and the PNGs' total and median size. It checks that every choice decodes to the
same labels, and that level 1 with ``Z_RLE`` gives ``encode_label_png``'s bytes.

    python benchmarks/speed_png_levels.py --images 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gtconsensus import decode_label_png, masks
from gtconsensus.answers import read_answers
from gtconsensus.consensus import decide, gather

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import SETTINGS, _pool
from speed_methods import ATTRIBUTE, decode_floor, make_cases

STRATEGIES = {
    "Z_RLE": zlib.Z_RLE,
    "Z_DEFAULT_STRATEGY": zlib.Z_DEFAULT_STRATEGY,
    "Z_FILTERED": zlib.Z_FILTERED,
    "Z_HUFFMAN_ONLY": zlib.Z_HUFFMAN_ONLY,
    "Z_FIXED": zlib.Z_FIXED,
}


def encode(labels: np.ndarray, level: int, strategy: int) -> bytes:
    """``encode_label_png`` with the foreground rows deflated at ``level`` and ``strategy``."""
    height, width = labels.shape
    k = int(labels.max(initial=0))
    bits = 1 if k <= 1 else 2 if k <= 3 else 4 if k <= 15 else 8
    colours = masks.instance_colours(k)
    palette = b"\x00\x00\x00" + b"".join(bytes.fromhex(c[1:]) for c in colours)
    rows, first = masks._pack_rows(labels, bits)
    idat = masks._zlib_rows(rows, first, height, level, strategy)
    header = struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)
    return b"".join([
        masks._PNG_SIGNATURE, masks._chunk(b"IHDR", header), masks._chunk(b"PLTE", palette),
        masks._chunk(b"tRNS", b"\x00"), masks._chunk(b"IDAT", idat), masks._chunk(b"IEND", b""),
    ])  # fmt: skip


def _best_ms(labels: np.ndarray, level: int, strategy: int) -> tuple[float, bytes]:
    best, png = float("inf"), b""
    for _ in range(3):
        start = time.perf_counter()
        png = encode(labels, level, strategy)
        best = min(best, time.perf_counter() - start)
    return best * 1000.0, png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="images (100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", help="WxH (overrides the default setting's 1280x960)")
    args = parser.parse_args(argv)
    setting = SETTINGS["default"]
    width, height = (
        map(int, args.size.lower().split("x")) if args.size else (setting.width, setting.height)
    )
    cases = list(
        make_cases(
            args.seed, args.images, workers=setting.workers, height=height, width=width,
            instances=setting.instances, pool=_pool(setting.workers),
        )
    )  # fmt: skip
    labels, floors = [], []
    for case in cases:
        raws = json.loads(case.line)[ATTRIBUTE]["annotationsFromAllWorkers"]
        labels.append(decide(gather(read_answers(raws).annotations)).labels)
        start = time.perf_counter()
        decode_floor(case)
        floors.append((time.perf_counter() - start) * 1000.0)
    floor = statistics.median(floors)
    print(f"Command: `python benchmarks/speed_png_levels.py {' '.join(argv or sys.argv[1:])}`\n")
    print(f"{len(cases)} consensus label images ({width}x{height}); decode floor {floor:.2f} ms.\n")
    print("| strategy | level | median encode ms | x floor | total KB | median PNG bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, strategy in STRATEGIES.items():
        for level in range(1, 10):
            times, sizes = [], []
            for image in labels:
                ms, png = _best_ms(image, level, strategy)
                colours = masks.instance_colours(int(image.max(initial=0)))
                if not np.array_equal(decode_label_png(png, colours).labels, image):
                    raise AssertionError(f"{name} at level {level}: the labels differ")
                if (level, strategy) == (1, zlib.Z_RLE) and png != masks.encode_label_png(image):
                    raise AssertionError("Z_RLE at level 1 differs from encode_label_png")
                times.append(ms)
                sizes.append(len(png))
            median = statistics.median(times)
            print(
                f"| {name} | {level} | {median:.3f} | {median / floor:.2f} "
                f"| {sum(sizes) / 1024:.0f} | {statistics.median(sizes):.0f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
