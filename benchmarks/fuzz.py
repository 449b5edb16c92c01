"""Long fuzz run of the line reader: mutated corpus lines through ``consolidate_line``.

A program to launch by hand (CI runs the short Hypothesis fuzz tests instead)::

    python benchmarks/fuzz.py --inputs 100000            # about 3 minutes on 2 cores
    python benchmarks/fuzz.py --inputs 1000 --seed 7     # another stream of inputs

Seeds are the malformed-input corpus (``tests/corpus/*.jsonl``, written by
``scripts/make_corpus.py``). Each input is one seed put through one to three
mutations, drawn from:

- ``flip``: flip random bits of the line's bytes;
- ``truncate``: cut the line at a random byte;
- ``splice``: the head of one seed and the tail of another;
- ``insert``/``delete``: random bytes in, a random span out;
- ``json``: parse the line (and each answer's ``content`` JSON string inside it),
  then swap a random value for another type (null, a number, a huge or empty
  string, a list, an object, ``1e308``), delete a key, or duplicate a list item;
- ``content``: byte-level damage (flips, cuts, junk, base64 damage) inside one
  answer's ``content`` string, the line itself staying JSON;
- ``base64``: junk (``=``, ``*``, ``-``, ``\\n``, ``\\u003d``...) written into a
  ``pngImageData`` where it stands;
- ``content``: byte-level damage (flips, cuts, junk, base64 damage) inside one
  answer's ``content`` string, the line itself staying JSON;
- ``base64``: junk (``=``, ``*``, ``-``, ``\\n``, ``\\u003d``...) written into a
  ``pngImageData`` where it stands;
- ``png``: decode a ``pngImageData``, flip or cut its bytes (fixing the chunk
  CRCs half the time, so the damage reaches zlib and Pillow), encode it back.

A failure is any exception escaping ``consolidate_line`` (it must never raise),
an input taking more than ``--timeout`` seconds, a code missing from
``gtconsensus.exceptions.CODES``, an output line that is not a JSON object, or
a message longer than 2,000 characters (messages must not carry payloads).
Failing inputs are written to ``--failures`` (default ``benchmarks/fuzz-failures/``)
with the traceback. The table printed at the end (inputs tried, failures,
outcomes by code, speed) is what ``benchmarks/FUZZ.md`` records.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import platform
import random
import resource
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import gtconsensus
from gtconsensus import consolidate_line
from gtconsensus.exceptions import CODES
from gtconsensus.testing.synthetic import refresh_png_crcs

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
MAX_MESSAGE = 2_000
_SWAPS: tuple[Any, ...] = (None, 0, -1, 1e308, 2**70, "", "x" * 5_000, [], {}, True, [[[]]],
                           {"a": {"b": None}}, "#zzzzzz", "iVBORw0KGgo=")  # fmt: skip


class _InputTimeoutError(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _InputTimeoutError


# --- mutations: bytes in, bytes out ---


def _flip(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _splice(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    other = rng.choice(seeds)
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def _insert(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = rng.choice([b"{", b"}", b"[", b'"', b"\\", b"\x00", b"\xff", b",", b"null",
                       bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))])  # fmt: skip
    return data[:at] + junk + data[at:]


def _delete(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 64) :]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested lists and dicts (root excluded)."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()  # fmt: skip
    for key, item in items:
        found.append((*path, key))
        found.extend(_paths(item, (*path, key)))
    return found


def _mutate_tree(rng: random.Random, tree: Any) -> Any:
    paths = _paths(tree)
    if not paths:
        return rng.choice(_SWAPS)
    path = rng.choice(paths)
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rng.random()
    if action < 0.6:
        parent[key] = rng.choice(_SWAPS)
    elif action < 0.8:
        del parent[key]
    elif isinstance(parent, list):
        parent.insert(key, parent[key])  # the same item twice (a worker answering twice)
    else:
        parent[f"{key}-extra"] = parent[key]
    return tree


def _contents(tree: Any) -> list[tuple[Any, Any]]:
    """``(holder, key)`` of every ``annotationData.content`` string in the line."""
    found = []
    for path in _paths(tree):
        if path and path[-1] == "content":
            holder = tree
            for key in path[:-1]:
                holder = holder[key]
            if isinstance(holder.get("content"), str):
                found.append((holder, "content"))
    return found


def _json(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    try:
        tree = json.loads(data)
    except (ValueError, RecursionError):
        return _flip(rng, data, seeds)
    contents = _contents(tree)
    if contents and rng.random() < 0.6:  # mutate inside an answer's JSON string
        holder, key = rng.choice(contents)
        try:
            inner = json.loads(holder[key])
            holder[key] = json.dumps(_mutate_tree(rng, inner))
        except (ValueError, RecursionError):
            holder[key] = holder[key][: rng.randrange(len(holder[key]) + 1)]
    else:
        tree = _mutate_tree(rng, tree)
    return json.dumps(tree).encode()


def _png(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    try:
        tree = json.loads(data)
    except (ValueError, RecursionError):
        return _truncate(rng, data, seeds)
    contents = _contents(tree)
    if not contents:
        return _flip(rng, data, seeds)
    holder, key = rng.choice(contents)
    try:
        inner = json.loads(holder[key])
        answer = next(iter(inner.values()))
        png = base64.b64decode(answer["labeledImage"]["pngImageData"])
    except (ValueError, RecursionError, StopIteration, TypeError, KeyError, AttributeError):
        return _flip(rng, data, seeds)
    png = _truncate(rng, png, seeds) if rng.random() < 0.3 else _flip(rng, png, seeds)
    if rng.random() < 0.5:
        png = refresh_png_crcs(png)
    answer["labeledImage"]["pngImageData"] = base64.b64encode(png).decode()
    holder[key] = json.dumps(inner)
    return json.dumps(tree).encode()


def _content(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """Byte-level damage inside one answer's ``content`` string; the line stays JSON."""
    try:
        tree = json.loads(data)
    except (ValueError, RecursionError):
        return _delete(rng, data, seeds)
    contents = _contents(tree)
    if not contents:
        return _json(rng, data, seeds)
    holder, key = rng.choice(contents)
    damage = rng.choice([_flip, _truncate, _insert, _delete, _base64])
    text = damage(rng, holder[key].encode(), seeds)
    holder[key] = text.decode("utf-8", errors="replace")
    return json.dumps(tree).encode()


def _base64(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """Damage a ``pngImageData`` string where it stands: padding, alphabet, line breaks."""
    at = data.find(b"iVBOR")
    if at < 0:
        return _flip(rng, data, seeds)
    end = data.find(b'"', at)
    end = len(data) if end < 0 else end
    where = rng.randrange(at, end + 1)
    junk = rng.choice([b"=", b"==", b"*", b"-", b"_", b"\\n", b" ", b"\\u003d", b"A", b""])
    cut = rng.choice([0, 0, 1, 2])
    return data[:where] + junk + data[where + cut :]


MUTATIONS: dict[str, Callable[[random.Random, bytes, list[bytes]], bytes]] = {
    "flip": _flip, "truncate": _truncate, "splice": _splice, "insert": _insert,
    "delete": _delete, "json": _json, "png": _png, "content": _content, "base64": _base64,
}  # fmt: skip
_WEIGHTS = {"flip": 1, "truncate": 1, "splice": 1, "insert": 1, "delete": 1, "json": 4, "png": 4,
            "content": 3, "base64": 2}  # fmt: skip


# --- one input ---


def _check(data: bytes, attribute: str | None, timeout: float) -> tuple[str, str | None]:
    """Run one input; return (outcome, failure description or None)."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = consolidate_line(data, label_attribute=attribute)
    except _InputTimeoutError:
        return "timeout", f"no answer after {timeout} s"
    except BaseException:  # anything escaping is the finding
        return "exception", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    codes = [r.code for r in result.rejected] + ([result.error.code] if result.error else [])
    messages = [r.message for r in result.rejected] + (
        [result.error.message] if result.error else []
    )
    unknown = [c for c in codes if c not in CODES]
    if unknown:
        return "unregistered", f"codes not in CODES: {unknown}"
    if any(len(m) > MAX_MESSAGE for m in messages):
        return "long_message", f"a message of {max(map(len, messages)):,} characters"
    if result.output is not None:
        try:
            if not isinstance(json.loads(result.output), dict):
                return "bad_output", "output line is not a JSON object"
        except ValueError:
            return "bad_output", "output line is not JSON"
    if result.error is not None:
        return f"line:{result.error.code}", None
    if result.rejected:
        return f"answer:{result.rejected[0].code}", None
    return "consolidated", None


def _record_failure(folder: Path, index: int, data: bytes, kind: str, detail: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{index:07d}-{kind}.jsonl").write_bytes(data)
    (folder / f"{index:07d}-{kind}.txt").write_text(detail, encoding="utf-8")


def _git() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True, timeout=10)  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True, check=True, timeout=10)  # fmt: skip
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run(inputs: int, seed: int, timeout: float, failures: Path) -> int:
    """Fuzz ``inputs`` inputs; print the summary; return the number of failures."""
    seeds = [p.read_bytes() for p in sorted(CORPUS.glob("*.jsonl"))]
    if not seeds:
        raise SystemExit(f"no seeds in {CORPUS}: run scripts/make_corpus.py")
    rng = random.Random(seed)
    names, weights = list(_WEIGHTS), list(_WEIGHTS.values())
    outcomes: collections.Counter[str] = collections.Counter()
    used: collections.Counter[str] = collections.Counter()
    failed: collections.Counter[str] = collections.Counter()
    slowest = 0.0
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    for index in range(inputs):
        data = rng.choice(seeds)
        for name in rng.choices(names, weights, k=rng.randint(1, 3)):
            data = MUTATIONS[name](rng, data, seeds)
            used[name] += 1
        attribute = "gt-label" if rng.random() < 0.8 else None
        begun = time.perf_counter()
        outcome, failure = _check(data, attribute, timeout)
        slowest = max(slowest, time.perf_counter() - begun)
        outcomes[outcome] += 1
        if failure is not None:
            failed[outcome] += 1
            _record_failure(failures, index, data, outcome, failure)
        if (index + 1) % 10_000 == 0:
            print(f"  {index + 1:,} inputs, {sum(failed.values())} failures", file=sys.stderr)
    elapsed = time.perf_counter() - started
    _print_summary(inputs, seed, elapsed, slowest, outcomes, used, failed)
    return sum(failed.values())


def _print_summary(
    inputs: int,
    seed: int,
    elapsed: float,
    slowest: float,
    outcomes: collections.Counter[str],
    used: collections.Counter[str],
    failed: collections.Counter[str],
) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"gtconsensus {gtconsensus.__version__} (git {_git()}), Python "
          f"{platform.python_version()}, {platform.machine()}; seed {seed}; "
          f"{len(list(CORPUS.glob('*.jsonl')))} corpus seeds")  # fmt: skip
    print()
    print("| inputs tried | failures | elapsed s | inputs/s | slowest input s | max RSS MB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {inputs:,} | {sum(failed.values())} | {elapsed:.1f} | {inputs / elapsed:,.0f} | "
          f"{slowest:.3f} | {peak:.0f} |")  # fmt: skip
    print()
    print("Failures by kind: " + (", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
                                  or "none"))  # fmt: skip
    print("Mutations applied: " + ", ".join(f"{k} {v:,}" for k, v in sorted(used.items())))
    print()
    print("| outcome | inputs |")
    print("| --- | ---: |")
    for outcome, count in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"| {outcome} | {count:,} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz consolidate_line with mutated corpus lines.")
    parser.add_argument("--inputs", type=int, default=10_000, help="inputs to try (default 10,000)")
    parser.add_argument("--seed", type=int, default=20261125, help="random seed")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per input")
    parser.add_argument("--failures", type=Path, default=ROOT / "benchmarks" / "fuzz-failures",
                        help="folder for failing inputs (created only when one fails)")  # fmt: skip
    args = parser.parse_args(argv)
    print(f"$ python benchmarks/fuzz.py --inputs {args.inputs} --seed {args.seed}")
    return 1 if run(args.inputs, args.seed, args.timeout, args.failures) else 0


if __name__ == "__main__":
    sys.exit(main())
