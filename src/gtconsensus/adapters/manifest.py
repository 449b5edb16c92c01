"""Consolidating a whole manifest file: stream lines in, write lines out, lose nothing.

Lines are read one at a time and written in input order. Output files are
written to a temporary name beside the target and renamed at the end, so a
partial run never leaves a file that looks complete.

Methods (``ManifestOptions.method``):

- ``image``: one pass, each line decided on its own (per-image majority);
- ``job``: two passes. Pass 1 reads every line once (decoding each PNG once),
  gathers its evidence, adds a few numbers per candidate to the job's
  :class:`~gtconsensus.evidence.EvidenceTable` and writes the prepared line to a
  temporary :class:`~gtconsensus.adapters.spool.Spool` (masks cropped and
  bit-packed). The worker model is fitted on the table; pass 2 replays the spool
  in order and decides each line with the learned weights and existence
  posteriors. Memory holds the table and one line; the input is read once, so
  standard input works as well as a file;
- ``auto`` (default): pass 1 as for ``job``, then the job-level method when the
  median worker answered at least ``min_objects`` (20) objects, else per-image.

With a saved model (``worker_model``) there is nothing to learn: one pass,
job-level.

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

import numpy as np

from gtconsensus.adapters.spool import Spool
from gtconsensus.consensus import METHOD_MAJORITY
from gtconsensus.evidence import TableBuilder
from gtconsensus.exceptions import OptionsError
from gtconsensus.job import METHOD_JOB, fit_worker_model
from gtconsensus.lines import LineResult, PreparedLine, dumps, finish_line, prepare_line
from gtconsensus.masks import DEFAULT_MAX_PIXELS
from gtconsensus.scoring import WorkerTally
from gtconsensus.worker_model import WorkerModel

__all__ = [
    "METHODS",
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
#: Values of ``ManifestOptions.method``.
METHODS = ("auto", "job", "image")


@dataclass(frozen=True, slots=True)
class ManifestOptions:
    """How to consolidate a manifest.

    Attributes
    ----------
    label_attribute, element, iou_threshold, max_pixels
        Passed through to :func:`gtconsensus.lines.prepare_line` for every line.
    method : {"auto", "job", "image"}, default "auto"
        See the module docstring.
    worker_model : WorkerModel, optional
        A saved model: decide job-level with it, fitting nothing.
    fit_model : bool, default False
        Fit the model even when ``method="image"`` (to save it).
    min_objects : int, default 20
        ``auto`` picks the job-level method when the median worker answered at
        least this many objects.
    """

    label_attribute: str | None = None
    element: str | None = None
    iou_threshold: float = 0.5
    max_pixels: int = DEFAULT_MAX_PIXELS
    method: str = "auto"
    worker_model: WorkerModel | None = None
    fit_model: bool = False
    min_objects: int = 20


@dataclass(slots=True)
class RunSummary:
    """Counts of one run; ``tallies`` holds each worker's job-level evidence.

    ``method`` is the ``consensus.method`` used; ``model`` the worker model fitted
    or loaded (``None`` when none was); ``objects_per_worker`` the median number
    of objects a worker answered (what ``auto`` looks at).
    """

    lines: int = 0
    consolidated: int = 0
    failed: int = 0
    rejected_answers: int = 0
    tallies: dict[str, WorkerTally] = field(default_factory=dict)
    method: str = METHOD_MAJORITY
    model: WorkerModel | None = None
    objects_per_worker: float = 0.0

    def worker_rows(self) -> list[dict[str, object]]:
        """One worker-table row per worker, sorted by worker id.

        ``reliability`` is the weight the method used: the learned one with the
        job-level method, 1.0 with the per-image method.
        """
        weights = self.model.weights() if self.model and self.method == METHOD_JOB else {}
        return [self.tallies[w].row(w, weights.get(w, 1.0)) for w in sorted(self.tallies)]


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
        Called with the number of bytes read after each line (pass 1).

    Returns
    -------
    RunSummary
    """
    if options.method not in METHODS:
        raise OptionsError(
            "bad_option", f"`method` must be one of {METHODS}, got {options.method!r}"
        )
    summary = RunSummary()
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(_open_input(input_path))
        lines = _read_lines(source, progress)
        one_pass = options.worker_model is not None or (
            options.method == "image" and not options.fit_model
        )
        if one_pass:
            model = options.worker_model if options.method != "image" else None
            summary.model = model
            summary.method = METHOD_MAJORITY if model is None else METHOD_JOB
            records: Iterator[tuple[int, str | None, PreparedLine]] = (
                (number, text, _prepare(text, options)) for number, text in lines
            )
        else:
            spool = stack.enter_context(Spool())
            builder = TableBuilder()
            for number, text in lines:
                prepared = _prepare(text, options)
                if prepared.evidence is not None:
                    builder.add(prepared.evidence)
                spool.write(number, text if prepared.error is not None else None, prepared)
            table = builder.build()
            counts = table.objects_per_worker()
            summary.objects_per_worker = float(np.median(counts)) if len(counts) else 0.0
            summary.model = fit_worker_model(table)
            use_job = options.method == "job" or (
                options.method == "auto" and summary.objects_per_worker >= options.min_objects
            )
            summary.method = METHOD_JOB if use_job else METHOD_MAJORITY
            records = spool.replay()
        out = stack.enter_context(_atomic_writer(output_path))
        errors = stack.enter_context(_atomic_writer(errors_path)) if errors_path else None
        model = summary.model if summary.method == METHOD_JOB else None
        for number, raw, prepared in records:
            summary.lines += 1
            result = _finish(prepared, model)
            _account(summary, result)
            if result.output is not None:
                out.write(result.output + "\n")
            if result.error is not None and errors is not None:
                text = raw if raw is not None else dumps(prepared.parsed)
                errors.write(dumps(error_record(number, result, text)) + "\n")
    return summary


def _read_lines(
    source: IO[bytes], progress: Callable[[int], None] | None
) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based physical line numbers."""
    for number, raw_bytes in enumerate(source, start=1):
        if progress is not None:
            progress(len(raw_bytes))
        raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\r\n")
        if raw.strip():
            yield number, raw


def _prepare(raw: str, options: ManifestOptions) -> PreparedLine:
    return prepare_line(
        raw,
        label_attribute=options.label_attribute,
        element=options.element,
        iou_threshold=options.iou_threshold,
        max_pixels=options.max_pixels,
    )


def _finish(prepared: PreparedLine, model: WorkerModel | None) -> LineResult:
    if model is None:
        return finish_line(prepared)
    evidence = prepared.evidence
    existence = None if evidence is None else model.existence(evidence)
    return finish_line(prepared, weights=model.weights(), existence=existence, method=METHOD_JOB)


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
