"""Consolidating a whole manifest file: stream lines in, write lines out, lose nothing.

Lines are read one at a time and written in input order, so memory does not grow
with the number of lines (only with the number of workers, for the job table).
Output files are written to a temporary name beside the target and renamed at
the end, so a partial run never leaves a file that looks complete.

Every non-blank input line ends up in the output (consolidated, or with
``consensus.error``) or, when it is not a JSON object, only in the error file;
every failure is also a record of the error file. Line numbers are 1-based
physical lines; blank lines are skipped but counted.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gtconsensus.lines import LineResult, consolidate_line, dumps
from gtconsensus.masks import DEFAULT_MAX_PIXELS
from gtconsensus.scoring import WorkerTally

__all__ = [
    "WORKER_COLUMNS",
    "ManifestOptions",
    "RunSummary",
    "consolidate_manifest",
    "error_record",
    "write_worker_table",
]

#: Columns of the worker table, in order (DESIGN.md).
WORKER_COLUMNS = (
    "worker_id", "score", "reliability", "objects", "instances", "tp", "fp", "fn",
    "precision", "recall", "mean_iou", "class_accuracy", "pq",
)  # fmt: skip
_RAW_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ManifestOptions:
    """Options passed through to :func:`gtconsensus.consolidate_line` for every line."""

    label_attribute: str | None = None
    element: str | None = None
    iou_threshold: float = 0.5
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(slots=True)
class RunSummary:
    """Counts of one run; ``tallies`` holds each worker's job-level evidence."""

    lines: int = 0
    consolidated: int = 0
    failed: int = 0
    rejected_answers: int = 0
    tallies: dict[str, WorkerTally] = field(default_factory=dict)

    def worker_rows(self) -> list[dict[str, object]]:
        """One worker-table row per worker, sorted by worker id."""
        return [self.tallies[w].row(w) for w in sorted(self.tallies)]


def error_record(number: int, result: LineResult, raw: str) -> dict[str, Any]:
    """The error-file record of a failed line (raw text cut at 10 KB).

    Examples
    --------
    >>> from gtconsensus.lines import consolidate_line
    >>> record = error_record(3, consolidate_line("{oops"), "{oops")
    >>> record["line"], record["code"], record["rawLength"]
    (3, 'bad_json', 5)
    """
    error = result.error
    encoded = raw.encode("utf-8", errors="replace")
    return {
        "line": number,
        "code": error.code if error else "unknown",
        "message": error.message if error else "",
        "raw": raw[:_RAW_LIMIT],
        "rawLength": len(encoded),
        "rawSha256": hashlib.sha256(encoded).hexdigest(),
        "truncated": len(raw) > _RAW_LIMIT,
    }


@contextlib.contextmanager
def _atomic_writer(path: str | None) -> Iterator[IO[str]]:
    """Write to a temporary file beside ``path`` and rename it at the end.

    ``None`` or ``"-"`` writes to standard output instead.
    """
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _open_input(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


def consolidate_manifest(
    input_path: str,
    output_path: str | None,
    *,
    errors_path: str | None = None,
    options: ManifestOptions = ManifestOptions(),
    progress: Callable[[int], None] | None = None,
) -> RunSummary:
    """Consolidate every line of a manifest file.

    Parameters
    ----------
    input_path : str
        A local manifest (JSON Lines); ``-`` reads standard input.
    output_path : str or None
        Where the output manifest goes; ``None`` or ``-`` is standard output.
    errors_path : str, optional
        JSON Lines file with one record per failed line (written only when given).
    options : ManifestOptions
    progress : callable, optional
        Called with the number of bytes read after each line.

    Returns
    -------
    RunSummary
    """
    summary = RunSummary()
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(_open_input(input_path))
        out = stack.enter_context(_atomic_writer(output_path))
        errors = stack.enter_context(_atomic_writer(errors_path)) if errors_path else None
        for number, raw_bytes in enumerate(source, start=1):
            if progress is not None:
                progress(len(raw_bytes))
            raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\r\n")
            if not raw.strip():
                continue
            summary.lines += 1
            result = consolidate_line(
                raw,
                label_attribute=options.label_attribute,
                element=options.element,
                iou_threshold=options.iou_threshold,
                max_pixels=options.max_pixels,
            )
            _account(summary, result)
            if result.output is not None:
                out.write(result.output + "\n")
            if result.error is not None and errors is not None:
                errors.write(dumps(error_record(number, result, raw)) + "\n")
    return summary


def _account(summary: RunSummary, result: LineResult) -> None:
    summary.rejected_answers += len(result.rejected)
    if result.consensus is None:
        summary.failed += 1
        return
    summary.consolidated += 1
    for score in result.consensus.workers:
        previous = summary.tallies.get(score.worker_id, WorkerTally())
        summary.tallies[score.worker_id] = previous + score.tally()


def write_worker_table(rows: Sequence[Mapping[str, object]], path: str) -> None:
    """Write the worker table as CSV (``.csv``) or JSON (``.json``), atomically."""
    with _atomic_writer(path) as handle:
        if path.endswith(".json"):
            handle.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
            return
        writer = csv.DictWriter(handle, fieldnames=WORKER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in WORKER_COLUMNS})
