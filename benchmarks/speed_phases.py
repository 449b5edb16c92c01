"""Where does ``consolidate_line``'s time go? Each stage per image, against the floor.

A program, not a test. On the same synthetic lines as ``speed.py`` (one of its
settings), it times per image, in one process and in a rotating order: the decode
floor, ``consolidate_line`` end to end, and its stages called one by one (parse the
line and read the answers, ``gather``, ``decide``, encode the consensus PNG). It prints
one markdown row per setting: the median over the images of each stage's time divided
by the floor's on the same image. The stages' sum is a little below the total, which
also writes the output line.

    python benchmarks/speed_phases.py --setting default --images 150
    python benchmarks/speed_phases.py --setting dense50 --images 40
    python benchmarks/speed_phases.py --filters none --filters adaptive   # both PNG kinds
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gtconsensus import consolidate_line
from gtconsensus.answers import read_answers
from gtconsensus.consensus import decide, gather
from gtconsensus.masks import encode_label_png

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import SETTINGS, _pool
from speed_methods import ATTRIBUTE, Case, decode_floor, make_cases

STAGES = ("total", "read", "gather", "decide", "encode")


def _stages(case: Case) -> dict[str, Callable[[], object]]:
    """The stages of one line, each a call on the previous stage's result."""
    state: dict[str, object] = {}

    def read() -> None:
        raws = json.loads(case.line)[ATTRIBUTE]["annotationsFromAllWorkers"]
        state["annotations"] = read_answers(raws).annotations

    def gathered() -> None:
        state["evidence"] = gather(state["annotations"])  # type: ignore[arg-type]

    def decided() -> None:
        state["consensus"] = decide(state["evidence"])  # type: ignore[arg-type]

    def encode() -> None:
        encode_label_png(state["consensus"].labels)  # type: ignore[attr-defined]

    return {
        "total": lambda: consolidate_line(case.line, label_attribute=ATTRIBUTE),
        "read": read,
        "gather": gathered,
        "decide": decided,
        "encode": encode,
    }


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def phase_ratios(cases: Sequence[Case]) -> dict[str, float]:
    """Per stage, the median over the cases of stage time / floor time (same case)."""
    ratios: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for index, case in enumerate(cases):
        gc.collect()
        stages = _stages(case)
        floor_call = functools.partial(decode_floor, case)
        if index % 2:  # the floor first on every other image, else the stages first
            times = {stage: _ms(fn) for stage, fn in stages.items()}
            floor = _ms(floor_call)
        else:
            floor = _ms(floor_call)
            times = {stage: _ms(fn) for stage, fn in stages.items()}
        for stage, value in times.items():
            ratios[stage].append(value / floor)
    return {stage: float(np.median(values)) for stage, values in ratios.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS))
    parser.add_argument("--images", type=int, default=40, help="images per setting (40)")
    parser.add_argument("--size", help="WxH (overrides the setting's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--filters", action="append", choices=("none", "adaptive"),
        help="the PNGs' row filters: the tool's 'none' (default) or Pillow's 'adaptive' "
        "(repeatable: one row each)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    print(f"Command: `python benchmarks/speed_phases.py {' '.join(argv or sys.argv[1:])}`\n")
    print("| setting | PNG row filters | images | total | read and decode the answers | "
          "gather | decide | encode the consensus PNG |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, filters in itertools.product(args.setting or ["default"], args.filters or ["none"]):
        setting = SETTINGS[name]
        width, height = (
            map(int, args.size.lower().split("x")) if args.size else (setting.width, setting.height)
        )
        cases = list(
            make_cases(
                args.seed, args.images, workers=setting.workers, height=height, width=width,
                instances=setting.instances, pool=_pool(setting.workers), filters=filters,
            )
        )  # fmt: skip
        for fn in _stages(cases[0]).values():  # imports, caches, first allocations
            fn()
        decode_floor(cases[0])
        ratios = phase_ratios(cases)
        cells = " | ".join(f"{ratios[stage]:.2f}" for stage in STAGES)
        label = "none (the tool's)" if filters == "none" else "adaptive (Pillow's)"
        print(
            f"| `{name}` ({width}x{height} x {setting.workers}) | {label} | {len(cases)} "
            f"| {cells} |"
        )
    print("\nEach cell: median over the images of the stage's time / the decode floor's time.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
