"""How fast is ``gtconsensus.consolidate_line``, against the decode floor, a naive
reference and the peers (crowd-kit, SimpleITK STAPLE)?

A program, not a test. For each setting (image size, workers, instances per image) it
times, per image and in one process, on the same synthetic lines
(``gtconsensus.testing.synthetic``) and in a rotating order, the methods of
``speed_methods.py``: the decode floor, ``consolidate_line``, the straightforward
reference, and the four peers on one matched instance per image. Slow methods run on
evenly spaced subsets of the images; every ratio compares medians over the same images.

The PNGs are the tool's kind (palette, filter None on every row). Unless
``--tool-pngs-only``, it also times the floor and ``consolidate_line`` on the same
scenes written by Pillow (adaptive row filters, as third-party PNGs may be), and
``consolidate_line`` with the standard library's zlib inflating the PNGs and deflating
the consensus (a core-only install, without the ``fast`` extra's zlib-ng).

It prints, per setting, a markdown table (median and p90 per image, ratio to the floor
measured in the same run, ratio to gtconsensus, peak memory), the issue-6 targets it
checks, and a cProfile top 15 of ``consolidate_line``; first the exact command.

    python benchmarks/speed.py                    # all four settings, several minutes
    python benchmarks/speed.py --setting default  # 1280x960, 3 workers, 300 images
    python benchmarks/speed.py --quick            # smoke run, seconds
    python benchmarks/speed.py --rest 120         # each setting in its own process, after a rest

The peers come from the ``bench`` extra (``pip install -e '.[bench]'``); without it their
rows say so. Run ``python benchmarks/speed.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import gc
import io
import os
import platform
import pstats
import re
import resource
import shlex
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import PIL

import gtconsensus
import gtconsensus.zlibs as zlibs
from gtconsensus import consolidate_line
from gtconsensus.testing.synthetic import DEFAULT_POOL, WorkerProfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_methods import (
    ATTRIBUTE,
    PEERS,
    Case,
    decode_floor,
    make_cases,
    peers,
    reference_line,
    run_gtconsensus,
    run_gtconsensus_stdlib_zlib,
)

Method = Callable[[Case], object]


@dataclass(frozen=True)
class Setting:
    """One table: the images, and on how many of them each slow method runs."""

    name: str
    width: int
    height: int
    workers: int
    instances: tuple[int, int]
    images: int
    reference: int  # images timed by the reference
    mv: int  # images timed by crowd-kit's majority vote
    slow: int  # images timed by RASA, EM and STAPLE
    memory: int  # images whose peak memory is measured (slow methods: 1)
    profile: int  # images profiled

    def title(self) -> str:
        low, high = self.instances
        objects = f"{high}" if low == high else f"{low} to {high}"
        return f"{self.width}x{self.height}, {self.workers} workers, {objects} instances"


SETTINGS = {
    "default": Setting("default", 1280, 960, 3, (0, 10), 300, 300, 300, 30, 5, 60),
    "hd5": Setting("hd5", 1920, 1080, 5, (0, 10), 150, 60, 150, 10, 3, 30),
    "12mp5": Setting("12mp5", 4000, 3000, 5, (0, 10), 20, 5, 20, 3, 2, 10),
    "dense50": Setting("dense50", 1280, 960, 3, (50, 50), 60, 6, 60, 10, 3, 20),
}
QUICK = {"images": 12, "reference": 3, "mv": 12, "slow": 2, "memory": 1, "profile": 4}

LABELS = {
    "floor": "decode floor (JSON, base64, PNG to array)",
    "gtconsensus": "`gtconsensus.consolidate_line`",
    "stdlib_zlib": "`consolidate_line`, the standard library's zlib (no `fast` extra)",
    "floor_adaptive": "Pillow-filtered PNGs: decode floor",
    "gtconsensus_adaptive": "Pillow-filtered PNGs: `consolidate_line`",
    "reference": "reference (full masks, pairwise IoU, majority)",
    **{key: f"{label}, 1 instance" for key, label, _ in PEERS},
}
SLOW = ("rasa", "em", "staple")
# Rows timed on the same scenes written with Pillow's adaptive row filters (the others:
# the tool's PNGs, filter None on every row); their ratios are to these rows' floor.
ADAPTIVE = ("floor_adaptive", "gtconsensus_adaptive")


def _floor_of(key: str) -> str:
    return "floor_adaptive" if key in ADAPTIVE else "floor"


def _gtconsensus_of(key: str) -> str:
    return "gtconsensus_adaptive" if key in ADAPTIVE else "gtconsensus"


# --- measurement ----------------------------------------------------------------------------


def _pool(workers: int) -> list[WorkerProfile]:
    """The synthetic pool, repeated with fresh ids when more workers are asked for."""
    pool = list(DEFAULT_POOL)
    for k in range(len(pool), workers):
        base = DEFAULT_POOL[k % len(DEFAULT_POOL)]
        pool.append(
            replace(base, worker_id=f"{base.worker_id[:-2]}{k:02d}", name=f"{base.name}{k}")
        )
    return pool


def _spread(total: int, count: int) -> set[int]:
    """``count`` evenly spaced indices in ``range(total)``."""
    if count >= total:
        return set(range(total))
    return {int(i) for i in np.linspace(0, total - 1, max(count, 0)).round()}


def _time(fn: Method, case: Case) -> float:
    start = time.perf_counter()
    fn(case)
    return (time.perf_counter() - start) * 1000.0


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _trim() -> None:
    """Give free heap memory back to the OS (glibc), so that the next call's peak shows."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _peak_mb(fn: Method, case: Case) -> tuple[float, float]:
    """Peaks of one call: tracemalloc's (numpy arrays and Python objects) and the resident
    high-water mark above the resident size before the call (Linux; NaN elsewhere)."""
    gc.collect()
    _trim()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")  # resets the high-water mark to the current RSS
        before = _status_kb("VmRSS")
    except OSError:
        before = -1
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn(case)
        traced = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        tracemalloc.stop()
    rss = (_status_kb("VmHWM") - before) / 1024 if before >= 0 else float("nan")
    return traced, rss


def _memory(fn: Method, cases: Sequence[Case]) -> tuple[float, float]:
    peaks = [_peak_mb(fn, case) for case in cases]
    return max(p[0] for p in peaks), max(p[1] for p in peaks)


def _profile(cases: Sequence[Case], top: int) -> str:
    """cProfile of ``consolidate_line``: top ``top`` by cumulative, then by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for case in cases:
        consolidate_line(case.line, label_attribute=ATTRIBUTE)
    profiler.disable()
    parts = []
    for order, count in (("cumulative", top), ("tottime", top // 2 + 3)):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(count)
        text = out.getvalue()
        for prefix in sorted({p for p in sys.path if p}, key=len, reverse=True):
            text = text.replace(prefix + os.sep, "")
        rows = text.strip().splitlines()
        start = next(i for i, row in enumerate(rows) if "ncalls" in row)
        parts.append("\n".join([f"{rows[0].strip()}, by {order}", "", *rows[start:]]))
    return "\n\n".join(parts)


# --- facts about the run -------------------------------------------------------------------


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
    """The commit of the gtconsensus that is imported, and whether its ``src/`` has
    uncommitted changes (other people's edits count: the install is editable)."""
    root = Path(gtconsensus.__file__).resolve().parents[2]

    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return f"no git checkout at {root}"
    return f"{commit}{' + uncommitted src/ changes' if dirty else ', src/ clean'}"


def _where() -> str:
    return str(Path(gtconsensus.__file__).resolve().parents[1])


def _versions() -> str:
    found = [
        f"gtconsensus {gtconsensus.__version__} (git {_git_state()}) from {_where()}",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"Pillow {PIL.__version__}",
        f"zlib {zlibs.NAME}",
    ]
    for name in ("crowd-kit", "SimpleITK", "pandas"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


# --- the report -----------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def _p90(values: Sequence[float]) -> float:
    return float(np.percentile(values, 90)) if len(values) else float("nan")


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if np.isnan(value) else f"{value:.{digits}f}"


def _cases(setting: Setting, seed: int, filters: str) -> list[Case]:
    return list(
        make_cases(
            seed, setting.images, workers=setting.workers, height=setting.height,
            width=setting.width, instances=setting.instances, pool=_pool(setting.workers),
            filters=filters,
        )
    )  # fmt: skip


def run_setting(
    setting: Setting, methods: dict[str, Method | str], args: argparse.Namespace
) -> str:
    """Time one setting; return its markdown section."""
    started = time.perf_counter()
    kinds = ("none", "adaptive") if "floor_adaptive" in methods else ("none",)
    variants = {kind: _cases(setting, args.seed, kind) for kind in kinds}
    cases = variants["none"]
    generated = time.perf_counter() - started
    n = len(cases)
    runnable = {k: fn for k, fn in methods.items() if not isinstance(fn, str)}
    cases_of = {key: variants["adaptive" if key in ADAPTIVE else "none"] for key in runnable}
    subsets = {
        "floor": set(range(n)),
        "gtconsensus": set(range(n)),
        "stdlib_zlib": set(range(n)),
        **{key: set(range(n)) for key in ADAPTIVE},
        "reference": _spread(n, setting.reference),
        "mv": _spread(n, setting.mv),
        **{key: _spread(n, setting.slow) for key in SLOW},
    }
    warm = next(
        make_cases(1, 1, workers=setting.workers, height=96, width=128, instances=(2, 2),
                   pool=_pool(setting.workers))
    )  # fmt: skip
    for fn in runnable.values():  # imports, caches, first allocations
        fn(warm)
    for key in ("floor", "gtconsensus", "mv", *ADAPTIVE):
        if key in runnable:
            runnable[key](cases_of[key][0])
    times: dict[str, dict[int, float]] = {key: {} for key in runnable}
    for index in range(n):
        gc.collect()
        order = [key for key in runnable if index in subsets[key]]
        shift = index % len(order)
        for key in order[shift:] + order[:shift]:  # rotate who goes first
            times[key][index] = _time(runnable[key], cases_of[key][index])
    timed = time.perf_counter() - started - generated
    memory = {
        key: _memory(
            fn, cases_of[key][: 1 if key in SLOW or key == "reference" else setting.memory]
        )
        for key, fn in runnable.items()
    }
    profiled = cases[: setting.profile]
    profile = _profile(profiled, 15)

    def on(key: str, other: str) -> tuple[float, float, float]:
        """Medians of ``key`` and ``other`` over the images both ran, and of the ratios."""
        shared = sorted(set(times[key]) & set(times[other]))
        a = [times[key][i] for i in shared]
        b = [times[other][i] for i in shared]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        return _median(a), _median(b), _median(ratios)

    out = [f"## {setting.title()}\n"]
    quick = " --quick" if args.quick else ""
    out.append(
        f"Setting `{setting.name}`, alone: `python benchmarks/speed.py --setting {setting.name}"
        f"{quick}` (add the command's overrides, if any).\n"
    )
    out.append(
        f"{n} images, generated in {generated:.1f} s, timed in {timed:.1f} s; load average "
        f"at the end {os.getloadavg()[0]:.2f}; git {_git_state()}.\n"
    )
    out.append(
        "| per image | n | median ms | p90 ms | x floor (medians) | x floor (per image) "
        "| x gtconsensus | peak traced MB | peak RSS rise MB |"
    )
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, label in LABELS.items():
        if key not in methods:
            continue
        if isinstance(methods[key], str):
            out.append(f"| {label} | 0 | {methods[key]} | | | | | | |")
            continue
        values = list(times[key].values())
        m_key, m_floor, per_image = on(key, _floor_of(key))
        m_self, m_gtc, _ = on(key, _gtconsensus_of(key))
        traced, rss = memory[key]
        out.append(
            f"| {label} | {len(values)} | {_fmt(_median(values))} | {_fmt(_p90(values))} | "
            f"{_fmt(m_key / m_floor)} | {_fmt(per_image)} | {_fmt(m_self / m_gtc)} | "
            f"{_fmt(traced, 1)} | {_fmt(rss, 1)} |"
        )
    out.append("")
    out.append(
        "x floor (medians): the method's median over its images / the floor's median over "
        "the same images; x floor (per image): median over those images of method / floor; "
        "x gtconsensus: the method's median / gtconsensus's median over the same images. "
        'PNGs: the tool\'s (filter None on every row), except the "Pillow-filtered PNGs" '
        "rows: the same scenes written by Pillow (a filter picked per row, as third-party "
        "PNGs may be), whose ratios are to their own floor and `consolidate_line` rows. "
        f"Peak memory: the largest of {setting.memory} image(s) (1 for the reference and the "
        "slow peers); traced = tracemalloc (numpy and Python objects), RSS rise = resident "
        "high-water mark above the resident size before the call (also Pillow's and ITK's "
        "buffers; memory the process already holds is reused, so this can read low)."
    )
    _, _, gtc_floor = on("gtconsensus", "floor")
    checks = [f"gtconsensus / floor {_fmt(gtc_floor)} per image (target <= 1.5: "
              f"{'met' if gtc_floor <= 1.5 else 'not met'})"]  # fmt: skip
    for key, target in (("reference", 5.0), ("mv", 2.0)):
        if times.get(key):
            ratio = on(key, "gtconsensus")[2]
            checks.append(
                f"{key} / gtconsensus {_fmt(ratio)} per image over {len(times[key])} images "
                f"(target >= {target:g}: {'met' if ratio >= target else 'not met'})"
            )
    if times.get("gtconsensus_adaptive"):
        ratio = on("gtconsensus_adaptive", "floor_adaptive")[2]
        checks.append(f"on Pillow-filtered PNGs gtconsensus / floor {_fmt(ratio)} per image")
    if times.get("stdlib_zlib"):
        ratio = on("stdlib_zlib", "floor")[2]
        checks.append(f"with the standard library's zlib: gtconsensus / floor {_fmt(ratio)}")
    out.append("\nTargets (issue 6): " + "; ".join(checks) + ".")
    out.append(f"\n### cProfile of consolidate_line, {len(profiled)} images\n")
    out.append("```\n" + profile + "\n```\n")
    return "\n".join(out)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def _instances(text: str) -> tuple[int, int]:
    try:
        low, _, high = text.rpartition(":")
        return (int(low) if low else 0), int(high)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"instances must be K or LOW:HIGH, got {text!r}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,  # --rest gives its children the command without --rest, spelt so
        description="Time gtconsensus.consolidate_line against the decode floor, a "
        "straightforward reference and the peers, per image, one table per setting.",
    )
    parser.add_argument(
        "--setting", action="append", choices=sorted(SETTINGS),
        help="setting(s) to run (repeatable; default all four, or 'default' with --quick)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK}")
    parser.add_argument("--images", type=int, help="images per setting (overrides)")
    parser.add_argument("--size", type=_size, help="WxH (overrides the setting's)")
    parser.add_argument("--workers", type=int, help="workers per image (overrides)")
    parser.add_argument("--instances", type=_instances, help="K (0 to K) or LOW:HIGH")
    parser.add_argument("--seed", type=int, default=0, help="synthetic data seed (0)")
    parser.add_argument("--no-peers", action="store_true", help="skip crowd-kit and STAPLE")
    parser.add_argument(
        "--tool-pngs-only", action="store_true",
        help="skip the rows on Pillow-filtered PNGs and the row with the standard library's zlib",
    )  # fmt: skip
    parser.add_argument(
        "--rest", type=float, metavar="SECONDS",
        help="run each setting in its own process, resting SECONDS before each but the "
        "first (on a shared virtual machine a setting reads slower after minutes of load)",
    )  # fmt: skip
    return parser


def settings_for(args: argparse.Namespace) -> list[Setting]:
    """The settings the options ask for, with their overrides applied."""
    names = args.setting or (["default"] if args.quick else list(SETTINGS))
    chosen = []
    for name in names:
        setting = SETTINGS[name]
        if args.quick:
            setting = replace(setting, **QUICK)
        if args.size:
            setting = replace(setting, width=args.size[0], height=args.size[1])
        if args.workers:
            setting = replace(setting, workers=args.workers)
        if args.instances:
            setting = replace(setting, instances=args.instances)
        if args.images:
            setting = replace(setting, images=args.images)
        chosen.append(setting)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report (markdown) on stdout."""
    args = _parser().parse_args(argv)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if args.rest is not None:
        return _isolated(args, arguments)
    print(f"Command: `{' '.join(['python benchmarks/speed.py', shlex.join(arguments)]).strip()}`\n")
    print(
        f"{_versions()}; {platform.machine()}, {os.cpu_count()} CPUs ({_cpu()}), "
        f"started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.\n"
    )
    methods: dict[str, Method | str] = {
        "floor": decode_floor,
        "gtconsensus": run_gtconsensus,
        "reference": reference_line,
    }
    if not args.tool_pngs_only:
        methods.update(
            stdlib_zlib=run_gtconsensus_stdlib_zlib,
            floor_adaptive=decode_floor,
            gtconsensus_adaptive=run_gtconsensus,
        )
    if not args.no_peers:
        methods.update(peers())
    with warnings.catch_warnings():
        # RASA and EM on empty masks; the benchmark is about time, not their numerics.
        warnings.simplefilter("ignore", RuntimeWarning)
        for setting in settings_for(args):
            print(run_setting(setting, methods, args), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Process max RSS: {peak:.0f} MB.")
    return 0


def _isolated(args: argparse.Namespace, arguments: list[str]) -> int:
    """Each setting in a child process of its own, after ``args.rest`` seconds of rest."""
    names = args.setting or (["default"] if args.quick else list(SETTINGS))
    shared = _without_option(_without_option(arguments, "--setting"), "--rest")
    print(f"Command: `{shlex.join(['python', 'benchmarks/speed.py', *arguments])}`: "
          f"one process per setting, {args.rest:g} s of rest before each but the first.\n",
          flush=True)  # fmt: skip
    for index, name in enumerate(names):
        if index:
            time.sleep(args.rest)
        child = [sys.executable, str(Path(__file__).resolve()), *shared, "--setting", name]
        code = subprocess.run(child, check=False).returncode
        if code:
            return code
    return 0


def _without_option(arguments: list[str], option: str) -> list[str]:
    """``arguments`` without ``option`` and its value (``--opt V`` or ``--opt=V``)."""
    kept: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == option:
            skip = True
        elif not argument.startswith(option + "="):
            kept.append(argument)
    return kept


if __name__ == "__main__":
    sys.exit(main())
