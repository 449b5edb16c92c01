"""How fast is ``gtconsensus.consolidate_line``, against the decode floor and a naive peer?

A program, not a test: it times, per image and in one process,

- **floor**: the decode floor of DESIGN.md (JSON parse of the line and of each
  ``content``, base64 decode, Pillow decode to a numpy array), which any
  consolidation must pay;
- **gtconsensus**: ``gtconsensus.consolidate_line`` end to end (parse, decode,
  match, fuse, score, encode the consensus PNG, write the output line);
- **reference**: a straightforward implementation written here: full-image
  boolean mask per instance (RGBA colour compare), IoU of every pair of
  instances of two workers by ``logical_and``/``logical_or``, greedy clustering
  at IoU > 0.5, strict-majority existence and pixel vote, majority class; the
  output PNG is written with ``gtconsensus.encode_label_png`` so that encoding
  costs the same on both sides.

The images are synthetic (``gtconsensus.testing.synthetic``): street-like scenes
with 0 to ``--instances`` objects, answered by ``--workers`` workers from a pool
of mixed quality. The three are timed on the same line, one after the other,
in a rotating order. It prints a markdown table (median and p90 per image,
ratios to the floor measured in the same run), the peak memory, the command
that reproduces it, and a cProfile top 15 of ``consolidate_line``.

Run ``python benchmarks/speed.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import resource
import shlex
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import Image

import gtconsensus
from gtconsensus import consolidate_line, encode_label_png
from gtconsensus.testing.synthetic import DEFAULT_POOL, WorkerProfile, make_manifest

ATTRIBUTE = "gt-label"
RAW_KEY = "annotationsFromAllWorkers"
ELEMENT = "annotatedResult"


# --- the decode floor ---------------------------------------------------------------------


def decode_floor(line: str) -> list[np.ndarray]:
    """What every consolidation pays: parse, base64, PNG to array (nothing else)."""
    parsed = json.loads(line)
    arrays = []
    for raw in parsed[ATTRIBUTE][RAW_KEY]:
        content = json.loads(raw["annotationData"]["content"])
        png = base64.b64decode(content[ELEMENT]["labeledImage"]["pngImageData"])
        with Image.open(io.BytesIO(png)) as image:
            arrays.append(np.asarray(image))
    return arrays


# --- the straightforward reference ---------------------------------------------------------


def _reference_masks(answer: dict[str, Any]) -> list[np.ndarray]:
    png = base64.b64decode(answer["labeledImage"]["pngImageData"])
    with Image.open(io.BytesIO(png)) as image:
        rgba = np.asarray(image.convert("RGBA"))
    masks = []
    for instance in answer["instances"]:
        code = int(instance["color"][1:], 16)
        red, green, blue = code >> 16, (code >> 8) & 0xFF, code & 0xFF
        masks.append(
            (rgba[..., 0] == red)
            & (rgba[..., 1] == green)
            & (rgba[..., 2] == blue)
            & (rgba[..., 3] > 0)
        )
    return masks


def _reference_clusters(masks: list[list[np.ndarray]]) -> list[dict[int, int]]:
    """Greedy clustering by descending IoU > 0.5, at most one instance per worker."""
    edges = []
    for w1 in range(len(masks)):
        for w2 in range(w1 + 1, len(masks)):
            for i, a in enumerate(masks[w1]):
                for j, b in enumerate(masks[w2]):
                    union = int(np.logical_or(a, b).sum())
                    iou = int(np.logical_and(a, b).sum()) / union if union else 0.0
                    if iou > 0.5:
                        edges.append((-iou, (w1, i), (w2, j)))
    clusters = [{w: i} for w in range(len(masks)) for i in range(len(masks[w]))]
    owner = {(w, i): k for k, c in enumerate(clusters) for w, i in c.items()}
    for _, first, second in sorted(edges):
        ka, kb = owner[first], owner[second]
        if ka == kb or set(clusters[ka]) & set(clusters[kb]):
            continue
        clusters[ka].update(clusters[kb])
        for member in clusters[kb].items():
            owner[member] = ka
        clusters[kb] = {}
    return [c for c in clusters if c]


def reference_line(line: str) -> str:
    """A straightforward consolidation: per-instance full-image masks, majority vote."""
    parsed = json.loads(line)
    raws = parsed[ATTRIBUTE][RAW_KEY]
    answers = [json.loads(raw["annotationData"]["content"])[ELEMENT] for raw in raws]
    masks = [_reference_masks(answer) for answer in answers]
    height = answers[0]["inputImageProperties"]["height"]
    width = answers[0]["inputImageProperties"]["width"]
    need = len(answers) // 2 + 1
    consensus = np.zeros((height, width), dtype=np.uint8)
    classes: list[str] = []
    for cluster in _reference_clusters(masks):
        if len(cluster) < need:
            continue
        votes = sum(masks[w][i].astype(np.uint8) for w, i in cluster.items())
        fused = (np.asarray(votes) >= need) & (consensus == 0)
        if not fused.any():
            continue
        consensus[fused] = len(classes) + 1
        names = [answers[w]["instances"][i]["label"] for w, i in cluster.items()]
        classes.append(Counter(names).most_common(1)[0][0])
    png = base64.b64encode(encode_label_png(consensus)).decode("ascii")
    result = {
        "inputImageProperties": {"height": height, "width": width},
        "instances": [{"label": name} for name in classes],
        "labeledImage": {"pngImageData": png},
    }
    parsed[ATTRIBUTE] = {ELEMENT: result, RAW_KEY: raws}
    return json.dumps(parsed, separators=(",", ":"))


# --- measurement ----------------------------------------------------------------------------


def _gtconsensus(line: str) -> object:
    result = consolidate_line(line, label_attribute=ATTRIBUTE)
    if result.error is not None:
        raise RuntimeError(f"consolidate_line failed: {result.error}")
    return result


def _pool(workers: int) -> list[WorkerProfile]:
    """The synthetic pool, repeated with fresh ids when more workers are asked for."""
    pool = list(DEFAULT_POOL)
    for k in range(len(pool), workers):
        base = DEFAULT_POOL[k % len(DEFAULT_POOL)]
        pool.append(
            replace(base, worker_id=f"{base.worker_id[:-2]}{k:02d}", name=f"{base.name}{k}")
        )
    return pool


def _time(fn: Callable[[str], object], line: str) -> float:
    start = time.perf_counter()
    fn(line)
    return (time.perf_counter() - start) * 1000.0


def _peak_mb(fn: Callable[[str], object], lines: Sequence[str]) -> float:
    """Largest traced allocation peak of one call (numpy arrays and Python objects)."""
    peak = 0
    tracemalloc.start()
    try:
        for line in lines:
            gc.collect()
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            fn(line)
            peak = max(peak, tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    return peak / 2**20


def _profile(lines: Sequence[str], top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for line in lines:
        consolidate_line(line, label_attribute=ATTRIBUTE)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    text = out.getvalue()
    for prefix in sorted({p for p in sys.path if p}, key=len, reverse=True):
        text = text.replace(prefix + os.sep, "")
    lines_out = text.strip().splitlines()
    start = next(i for i, row in enumerate(lines_out) if "ncalls" in row)
    return "\n".join([lines_out[0].strip(), "", *lines_out[start:]])


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for row in info:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _git_state() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
            text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return described


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time gtconsensus.consolidate_line against the decode floor and a "
        "straightforward reference, per image.",
    )
    parser.add_argument("--images", type=int, default=300, help="images to time (300)")
    parser.add_argument("--size", type=_size, default=(1280, 960), help="WxH (1280x960)")
    parser.add_argument("--workers", type=int, default=3, help="workers per image (3)")
    parser.add_argument("--instances", type=int, default=10, help="up to K objects (10)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic data seed (0)")
    parser.add_argument(
        "--reference-every", type=int, default=1,
        help="time the slow reference on every n-th image only (default 1: all)",
    )  # fmt: skip
    parser.add_argument("--memory-images", type=int, default=10, help="images traced (10)")
    parser.add_argument("--profile-images", type=int, default=60, help="images profiled (60)")
    return parser


def _stats(values: Sequence[float]) -> tuple[float, float]:
    return float(np.median(values)), float(np.percentile(values, 90))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report (markdown) on stdout."""
    args = _parser().parse_args(argv)
    width, height = args.size
    command = " ".join(
        ["python benchmarks/speed.py", shlex.join(sys.argv[1:] if argv is None else argv)]
    ).strip()
    started = time.perf_counter()
    lines = list(
        make_manifest(
            args.seed, args.images, workers=args.workers, height=height, width=width,
            instances=(0, args.instances), pool=_pool(args.workers),
        )
    )  # fmt: skip
    generated = time.perf_counter() - started
    methods: dict[str, Callable[[str], object]] = {
        "floor": decode_floor,
        "gtconsensus": _gtconsensus,
        "reference": reference_line,
    }
    for line in lines[:3]:  # warm-up: imports, caches, first allocations
        for fn in methods.values():
            fn(line)
    times: dict[str, list[float]] = {name: [] for name in methods}
    paired: list[tuple[float, float, float]] = []  # floor, gtconsensus, reference on one image
    names = list(methods)
    for index, line in enumerate(lines):
        gc.collect()
        with_reference = index % args.reference_every == 0
        row: dict[str, float] = {}
        for k in range(len(names)):
            name = names[(index + k) % len(names)]  # rotate who goes first
            if name == "reference" and not with_reference:
                continue
            row[name] = _time(methods[name], line)
            times[name].append(row[name])
        if with_reference:
            paired.append((row["floor"], row["gtconsensus"], row["reference"]))
    timed = time.perf_counter() - started - generated
    memory_lines = lines[: args.memory_images]
    peaks = {name: _peak_mb(fn, memory_lines) for name, fn in methods.items()}
    profile = _profile(lines[: args.profile_images], 15)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    floor_median, _ = _stats(times["floor"])
    pairs = np.array(paired)
    print(f"## {width}x{height}, {args.workers} workers, 0 to {args.instances} instances\n")
    print(f"Command: `{command}`\n")
    print(
        f"gtconsensus {gtconsensus.__version__} (git {_git_state()}), Python "
        f"{platform.python_version()}, numpy {np.__version__}, Pillow {PIL.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu()}); "
        f"{args.images} images, generated in {generated:.1f} s, timed in {timed:.1f} s; "
        f"load average at the end {os.getloadavg()[0]:.2f}.\n"
    )
    print(
        "| per image | n | median ms | p90 ms | median / floor median "
        "| median of per-image ratios | peak traced MB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {
        "floor": "decode floor (JSON, base64, PNG to array)",
        "gtconsensus": "`gtconsensus.consolidate_line`",
        "reference": "reference (full masks, pairwise IoU, majority)",
    }
    for name in names:
        median, p90 = _stats(times[name])
        if name == "reference":
            per_image = float(np.median(pairs[:, 2] / pairs[:, 0]))
        else:
            per_image = float(np.median(np.array(times[name]) / np.array(times["floor"])))
        print(
            f"| {labels[name]} | {len(times[name])} | {median:.2f} | {p90:.2f} | "
            f"{median / floor_median:.2f} | {per_image:.2f} | {peaks[name]:.1f} |"
        )
    if len(paired) < len(lines):
        f, g, r = (float(np.median(pairs[:, c])) for c in range(3))
        print(
            f"\nOn the {len(paired)} images that also ran the reference: floor {f:.2f} ms, "
            f"gtconsensus {g:.2f} ms ({g / f:.2f}x floor), reference {r:.2f} ms "
            f"({r / f:.2f}x floor, {r / g:.1f}x gtconsensus) (medians)."
        )
    print(
        f"\nPeak traced MB: the largest tracemalloc peak of one call over {len(memory_lines)} "
        "images (numpy arrays and Python objects; Pillow's own buffers are not traced). "
        f"Process max RSS: {rss:.0f} MB (all {args.images} lines held in memory)."
    )
    profiled = len(lines[: args.profile_images])
    print(f"\n### cProfile of consolidate_line, {profiled} images, top 15 cumulative\n")
    print("```\n" + profile + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
