"""Consolidating a whole manifest file: stream lines in, write lines out, lose nothing.

Lines are read one at a time (a local path, ``file://``, ``s3://`` or standard
input; a JSON list is a consolidation-request payload, each entry a line) and
written in input order. Chunks of lines go to ``jobs`` worker processes, at most
``4 * jobs`` chunks in flight; every count is summed here in input order, so the
output does not depend on ``jobs``. Output files appear under their names only
when complete (:func:`gtconsensus.adapters.storage.atomic_writer`); with
``resume`` a checkpoint lets an interrupted run continue
(:mod:`gtconsensus.adapters.checkpoint`).
Referenced files (worker-response files, ``annotationData.s3Uri``, the Lambda's
``-ref`` keys) are read with ``ManifestOptions.fetch``. See ``docs/scale.md``.

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
import dataclasses
import hashlib
import io
import itertools
import json
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from gtconsensus.adapters import checkpoint
from gtconsensus.adapters.bounded import bounded_lines
from gtconsensus.adapters.checkpoint import Sink, gold_digest
from gtconsensus.adapters.preflight import not_json_lines, output_problem, remote_output_problem
from gtconsensus.adapters.spool import Blob, Spool, pack_records, unpack_records
from gtconsensus.adapters.storage import (
    atomic_writer,
    fetch,
    open_read,
)
from gtconsensus.answers import Fetch
from gtconsensus.consensus import METHOD_MAJORITY
from gtconsensus.contract import RAW_KEY
from gtconsensus.evidence import EvidenceTable, TableBuilder
from gtconsensus.exceptions import GtConsensusError, OptionsError
from gtconsensus.forms import lines_from_payload
from gtconsensus.gold import GOLD_WORKER, METHOD_GOLD
from gtconsensus.job import METHOD_JOB, fit_worker_model
from gtconsensus.limits import Limits, resolve_limits
from gtconsensus.lines import (
    LineResult,
    PreparedLine,
    dumps,
    finish_line,
    infer_label_attribute,
    prepare_line,
    source_ref_of,
)
from gtconsensus.masks import DEFAULT_MAX_PIXELS
from gtconsensus.objects import GoldLabels
from gtconsensus.privacy import pseudonymize_line, worker_ids_in
from gtconsensus.references import RAW_REF_KEY, value_ref_key
from gtconsensus.scoring import WorkerTally
from gtconsensus.worker_model import WorkerModel

__all__ = [
    "METHODS",
    "WORKER_COLUMNS",
    "LineOutcome",
    "ManifestOptions",
    "ProgressCallback",
    "RunSummary",
    "check_outputs",
    "consolidate_manifest",
    "error_record",
    "finish_chunk",
    "gold_digest",
    "median_objects_per_worker",
    "one_pass_chunk",
    "prepare_chunk",
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
    label_attribute, element, iou_threshold, max_pixels, limits
        Passed through to :func:`gtconsensus.lines.prepare_line` for every line
        (``max_pixels`` wins over ``limits.max_pixels``).
    method : {"auto", "job", "image"}, default "auto"
        See the module docstring.
    worker_model : WorkerModel, optional
        A saved model: decide job-level with it, fitting nothing.
    fit_model : bool, default False
        Fit the model even when ``method="image"`` (to save it).
    min_objects : int, default 20
        ``auto`` picks the job-level method when the median worker answered at
        least this many objects.
    fetch : callable, optional
        Reads worker-response files, answers given by ``annotationData.s3Uri``
        and the Lambda's ``-ref`` keys (default
        :func:`gtconsensus.adapters.storage.fetch`: ``s3://`` and local paths).
        It must be picklable (a module-level function) to run with ``jobs > 1``.
    pseudonymize : str, optional
        A secret: every worker id in the output lines and the error file is
        replaced by its keyed pseudonym (:mod:`gtconsensus.privacy`); the caller
        renames the worker table and the model
        (:func:`~gtconsensus.privacy.pseudonymize_worker_rows`).
    class_aware, min_area
        Passed to :func:`gtconsensus.consensus.gather` for every line.
    gold : mapping, optional
        ``{source-ref: (labels, classes)}``: gold answers
        (:func:`gtconsensus.review.gold_answers.read_gold_answers`). A line whose
        ``source-ref`` has one is decided by it (``consensus.method`` ``"gold"``,
        workers scored against it) and the job-level model is fitted with gold
        as the truth on those lines (:mod:`gtconsensus.gold`).
    """

    label_attribute: str | None = None
    element: str | None = None
    iou_threshold: float = 0.5
    max_pixels: int = DEFAULT_MAX_PIXELS
    limits: Limits = field(default_factory=Limits)
    method: str = "auto"
    worker_model: WorkerModel | None = None
    fit_model: bool = False
    min_objects: int = 20
    fetch: Fetch | None = None
    pseudonymize: str | None = None
    class_aware: bool = False
    min_area: int | Mapping[str, int] = 0
    gold: Mapping[str, GoldLabels] | None = None


@dataclass(slots=True)
class RunSummary:
    """Counts of one run; ``tallies`` holds each worker's job-level evidence.

    ``method`` is the ``consensus.method`` used; ``model`` the worker model fitted
    or loaded (``None`` when none was); ``objects_per_worker`` the median number
    of objects a worker answered (what ``auto`` looks at); ``gold_lines`` the
    lines decided by a gold answer and ``gold_seen`` the ``source-ref`` of every
    line that has one (``ManifestOptions.gold``); ``classes_seen`` the class names
    in the answers read (all of them unless ``classes_known`` is false: a run resumed
    from a checkpoint that did not record them).
    """

    lines: int = 0
    consolidated: int = 0
    failed: int = 0
    rejected_answers: int = 0
    tallies: dict[str, WorkerTally] = field(default_factory=dict)
    resumed_after: int | None = None
    method: str = METHOD_MAJORITY
    model: WorkerModel | None = None
    objects_per_worker: float = 0.0
    gold_lines: int = 0
    gold_seen: set[str] = field(default_factory=set)
    classes_seen: set[str] = field(default_factory=set)
    classes_known: bool = True

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
    encoded = raw.encode("utf-8", errors="surrogateescape")  # the bytes as read
    shown = encoded.decode("utf-8", errors="replace")
    return {
        "line": number,
        "code": error.code if error else "unknown",
        "message": error.message if error else "",
        "raw": shown[:_RAW_LIMIT],
        "rawLength": len(encoded),
        "rawSha256": hashlib.sha256(encoded).hexdigest(),
        "truncated": len(shown) > _RAW_LIMIT,
    }


# ----------------------------------------------------------------------------------------------
# Reading the input: JSON Lines or a payload file, as (number, text, bytes) records.

#: A record of the input: line number (array index for a payload file), text, bytes read.
Record = tuple[int, str, int]
#: Where the records come from instead of ``input_path``: ``reader(options)`` gives the
#: records and the label attribute (:mod:`gtconsensus.adapters.merge`).
RecordReader = Callable[["ManifestOptions"], tuple[Iterator[Record], "str | None"]]

_PEEK_LINES = 100  # lines looked at to infer the manifest's label attribute


def _stream(source: IO[bytes], limits: Limits) -> Iterator[Record]:
    """Non-blank lines with their 1-based physical line numbers (bounded memory per line)."""
    for line in bounded_lines(source, max_line_bytes=limits.max_line_bytes):
        # surrogateescape keeps bytes that are not UTF-8, so prepare_line refuses the
        # line (bad_json) instead of consolidating replacement characters
        raw = line.data.decode("utf-8", errors="surrogateescape")
        if line.cut:  # refused by its size before parsing; keep it over the limit
            raw = raw + "\ufffd" * 4
        if raw.strip():
            yield line.number, raw, line.size + 1


def _peek(source: IO[bytes]) -> bytes:
    peek = getattr(source, "peek", None)
    return bytes(peek(4096)) if peek is not None else b""


def _records(
    source: IO[bytes], options: ManifestOptions, name: str = "-"
) -> tuple[Iterator[Record], str | None]:
    """The records of the input and the label attribute to use (given or inferred).

    A file whose first non-blank character is ``[`` and that parses as a JSON
    list is a consolidation-request payload: each entry becomes a line in
    recipe form (:func:`gtconsensus.forms.lines_from_payload`), numbered by its
    array index (DESIGN.md). A compressed or UTF-16 input (``name`` in the
    message) is refused whole (``bad_option``), not line by line as ``bad_json``.
    """
    limits = _limits(options)
    if not hasattr(source, "peek"):
        source = io.BufferedReader(source)  # type: ignore[type-var]
    head = _peek(source)
    problem = not_json_lines(head, name, "gtconsensus consolidate -")
    if problem is not None:
        raise OptionsError("bad_option", problem)
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        data = source.read()
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, list):
            attribute = options.label_attribute
            if attribute is None:
                raise OptionsError(
                    "bad_option",
                    "the input is a consolidation-request payload (a JSON list), which names "
                    "no label attribute: pass --label-attribute",
                )
            lines = lines_from_payload(payload, label_attribute=attribute)
            return ((i, dumps(line), 0) for i, line in enumerate(lines)), attribute
        source = io.BufferedReader(io.BytesIO(data))  # JSON Lines after all
    records = _stream(source, limits)
    if options.label_attribute is not None:
        return records, options.label_attribute
    first = list(itertools.islice(records, _PEEK_LINES))
    return itertools.chain(first, records), _infer_attribute(first)


def _answer_keys(line: Mapping[str, Any]) -> set[str]:
    """Keys of a line whose value holds answers or a reference to them."""
    keys = set()
    for key, value in line.items():
        if (
            isinstance(value, Mapping)
            and not key.endswith("-metadata")
            and (RAW_KEY in value or RAW_REF_KEY in value or value_ref_key(key) in value)
        ):
            keys.add(key)
    if not keys:
        with contextlib.suppress(GtConsensusError):
            keys.add(infer_label_attribute(line))
    return keys


def _infer_attribute(records: Sequence[Record]) -> str | None:
    """The label attribute of the manifest when its first lines agree on one candidate.

    ``None`` when no line names one (each line then fails with its own reason).

    Raises
    ------
    OptionsError
        ``ambiguous_label_attribute``, naming the candidates seen.
    """
    seen: dict[str, None] = {}
    for _, raw, _ in records:
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(parsed, dict):
            seen.update(dict.fromkeys(sorted(_answer_keys(parsed))))
    if len(seen) > 1:
        raise OptionsError(
            "bad_option",
            f"the manifest's lines hold answers under {len(seen)} keys: "
            f"{', '.join(sorted(seen))}; pass --label-attribute",
        )
    return next(iter(seen), None)


def _limits(options: ManifestOptions) -> Limits:
    return resolve_limits(options.limits, max_pixels=options.max_pixels)


# ----------------------------------------------------------------------------------------------
# Work on chunks of lines: the same functions run in-process (--jobs 1) or in worker processes.


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """What the parent needs of one finished line (small and picklable)."""

    number: int
    output: str | None
    error: dict[str, Any] | None
    rejected: int
    tallies: tuple[tuple[str, WorkerTally], ...] | None  # None: the line failed
    gold_ref: str | None = None  # the source-ref, when it has a gold answer
    by_gold: bool = False  # decided by its gold answer
    nbytes: int = 0  # the input line's bytes, when noted (the Dask engine's progress)
    classes: tuple[str, ...] = ()  # class names in the line's readable answers, sorted


_state: dict[str, Any] = {}


def _setup(options: ManifestOptions, attribute: str | None, model: WorkerModel | None) -> None:
    """Initialise a worker process (or the parent with --jobs 1)."""
    _state.update(options=options, attribute=attribute, model=model)


def ignore_interrupts() -> None:
    """In a worker process: leave Ctrl-C (SIGINT, sent to the whole process group) to the parent.

    A worker killed by it mid-task breaks the pool while the parent cancels its
    futures, and Python's pool then hangs on exit; the parent stops the run instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _setup_worker(*setup: Any) -> None:
    ignore_interrupts()
    _setup(*setup)


def _prepare_record(number: int, raw: str) -> PreparedLine:
    options: ManifestOptions = _state["options"]
    return prepare_line(
        raw,
        label_attribute=_state["attribute"],
        element=options.element,
        iou_threshold=options.iou_threshold,
        limits=_limits(options),
        fetch=options.fetch or fetch,
        class_aware=options.class_aware,
        min_area=options.min_area,
        gold=options.gold,
    )


def _outcome(number: int, raw: str | None, prepared: PreparedLine) -> LineOutcome:
    result = _finish(prepared, _state["model"])
    error = None
    if result.error is not None:
        text = raw if raw is not None else dumps(prepared.parsed)
        error = error_record(number, result, text)
    secret = _state["options"].pseudonymize
    if secret is not None:
        outcome = _pseudonymized(number, result, error, prepared, secret)
    else:
        tallies = None
        if result.consensus is not None:
            tallies = tuple((s.worker_id, s.tally()) for s in result.consensus.workers)
        outcome = LineOutcome(number, result.output, error, len(result.rejected), tallies)
    if prepared.obj is not None and prepared.obj.classes:
        outcome = dataclasses.replace(outcome, classes=tuple(sorted(prepared.obj.classes)))
    return _with_gold(outcome, prepared, result)


def _with_gold(outcome: LineOutcome, prepared: PreparedLine, result: LineResult) -> LineOutcome:
    """The outcome with its gold answer noted (whether the line has one, whether it decided)."""
    gold = _state["options"].gold
    ref = None if gold is None or prepared.parsed is None else source_ref_of(prepared.parsed)
    if ref is None or ref not in gold:
        return outcome
    by_gold = result.consensus is not None and result.consensus.method == METHOD_GOLD
    return dataclasses.replace(outcome, gold_ref=ref, by_gold=by_gold)


def _pseudonymized(
    number: int,
    result: LineResult,
    error: dict[str, Any] | None,
    prepared: PreparedLine,
    secret: str,
) -> LineOutcome:
    """A line's outcome with every worker id replaced by its keyed pseudonym.

    The error record's ``raw`` becomes the pseudonymised line when the line was
    a JSON object, and is withheld (empty, with ``rawWithheld``) otherwise; its
    length and hash stay those of the line as read.
    """
    ids = worker_ids_in(prepared.parsed) if prepared.parsed is not None else set()
    output = None
    if result.output is not None:
        output = dumps(pseudonymize_line(json.loads(result.output), secret, also=ids))
    if error is not None:
        shown = "" if prepared.parsed is None else dumps(pseudonymize_line(prepared.parsed, secret))
        error = pseudonymize_line(
            {**error, "raw": shown[:_RAW_LIMIT], "rawWithheld": prepared.parsed is None},
            secret,
            also=ids,
        )
    tallies = None  # kept under the real ids: the worker model knows those; rows are renamed last
    if result.consensus is not None:
        tallies = tuple((s.worker_id, s.tally()) for s in result.consensus.workers)
    return LineOutcome(number, output, error, len(result.rejected), tallies)


def one_pass_chunk(records: Sequence[Record]) -> list[LineOutcome]:
    """Prepare and finish each line (per-image method, or a saved worker model)."""
    return [_outcome(n, raw, _prepare_record(n, raw)) for n, raw, _ in records]


def prepare_chunk(records: Sequence[Record]) -> tuple[EvidenceTable, Blob, int]:
    """Pass 1 of the job-level method: the chunk's evidence table and its spool blob."""
    builder = TableBuilder()
    prepared = []
    for number, raw, _ in records:
        line = _prepare_record(number, raw)
        if line.evidence is not None:
            builder.add(line.evidence)
        prepared.append((number, raw if line.error is not None else None, line))
    return builder.build(), pack_records(prepared), len(prepared)


def finish_chunk(blob: Blob) -> list[LineOutcome]:
    """Pass 2 of the job-level method: decide the spooled lines with the worker model."""
    return [_outcome(n, raw, p) for n, raw, p in unpack_records(blob)]


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def _ordered_map(
    function: Callable[[Any], Any],
    items: Iterator[Any],
    *,
    jobs: int,
    setup: tuple[Any, ...],
) -> Iterator[tuple[Any, Any]]:
    """``(item, function(item))`` in input order, over ``jobs`` worker processes.

    At most ``4 * jobs`` items are in flight (a bounded queue: memory does not
    grow with the input). With ``jobs == 1``, or when the whole input fits in
    that window, everything runs in this process.
    """
    window = 4 * jobs
    first = list(itertools.islice(items, window + 1))
    if jobs == 1 or len(first) <= max(2, jobs):
        _setup(*setup)
        for item in itertools.chain(first, items):
            yield item, function(item)
        return
    context = multiprocessing.get_context("spawn")  # no fork of threads (S3 clients, bars)
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_setup_worker, initargs=setup
    ) as pool:
        pending: deque[tuple[Any, Future[Any]]] = deque()
        try:
            for item in itertools.chain(first, items):
                pending.append((item, pool.submit(function, item)))
                if len(pending) >= window:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


# ----------------------------------------------------------------------------------------------
# The driver.

#: Seconds between checkpoints (``GTCONSENSUS_CHECKPOINT_S``); tests lower it.
_CHECKPOINT_S = checkpoint.CHECKPOINT_S

#: ``progress(phase, lines, bytes)``: ``phase`` is "consolidating", "pass 1" or "pass 2".
ProgressCallback = Callable[[str, int, int], None]


def check_outputs(output_path: str | None, errors_path: str | None) -> None:
    """Refuse, before any input is read, an output or error file that cannot be written.

    What :func:`gtconsensus.adapters.preflight.output_problem` finds (a folder, a folder
    that cannot be written, a bucket named as a file), and an ``s3://`` bucket that does
    not exist (:func:`~gtconsensus.adapters.preflight.remote_output_problem`): found now,
    not when the file is written after the run. Every driver calls it first
    (:func:`consolidate_manifest`, :func:`gtconsensus.adapters.merge.consolidate_manifests`,
    :func:`gtconsensus.adapters.dask_engine.consolidate_with_dask`).

    Raises
    ------
    OptionsError
        ``bad_option``, naming the file and why.

    Examples
    --------
    >>> check_outputs("-", None)
    >>> check_outputs(".", None)
    Traceback (most recent call last):
    ...
    gtconsensus.exceptions.OptionsError: [bad_option] output '.' is a folder: name a file
    """
    for path, what in ((output_path, "output"), (errors_path, "error file")):
        problem = output_problem(path, what) or remote_output_problem(path, what)
        if problem is not None:
            raise OptionsError("bad_option", problem)


def consolidate_manifest(
    input_path: str,
    output_path: str | None,
    *,
    errors_path: str | None = None,
    options: ManifestOptions = ManifestOptions(),
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    chunk_lines: int = 8,
    resume: bool = False,
    reader: RecordReader | None = None,
    error_fields: Callable[[int], Mapping[str, Any]] | None = None,
    input_key: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Consolidate every line of a manifest file (or a consolidation-request payload file).

    Parameters
    ----------
    input_path : str
        A manifest (JSON Lines) or a payload file (a JSON list): a local path,
        ``file://`` or ``s3://`` URI; ``-`` reads standard input.
    output_path : str or None
        Where the output manifest goes (path or URI); ``None`` or ``-`` is
        standard output.
    errors_path : str, optional
        JSON Lines file with one record per failed line (written only when given).
    options : ManifestOptions
    progress : callable, optional
        ``progress(phase, lines, bytes)`` after each chunk of lines is written
        (or, in pass 1, spooled).
    jobs : int, default 1
        Worker processes. The output is byte-identical whatever the number.
    chunk_lines : int, default 8
        Lines per task sent to a worker process.
    resume : bool, default False
        Keep a checkpoint beside the output and continue from the one a previous
        interrupted run left (:mod:`gtconsensus.adapters.checkpoint`).
    reader : callable, optional
        ``reader(options)`` gives the records and the label attribute instead
        of reading ``input_path`` (then only a name):
        :mod:`gtconsensus.adapters.merge` feeds several manifests merged.
    error_fields : callable, optional
        ``error_fields(number)``: fields that replace or extend the error
        record of the record ``number`` (written in increasing order).
    input_key : mapping, optional
        What identifies the input in a ``resume`` checkpoint (JSON values), in
        place of ``{"input": input_path, "size": <its size>}``:
        :mod:`gtconsensus.adapters.merge` names every input, in order.

    Returns
    -------
    RunSummary

    Raises
    ------
    OptionsError
        ``bad_option`` before any line is read: an output or error file that is a
        folder or cannot be written (:func:`gtconsensus.adapters.preflight.output_problem`),
        in an ``s3://`` bucket that does not exist
        (:func:`~gtconsensus.adapters.preflight.remote_output_problem`),
        a compressed or UTF-16 input; and for a bad ``method``, ``jobs`` or ``chunk_lines``.
    """
    if options.method not in METHODS:
        raise OptionsError(
            "bad_option", f"`method` must be one of {METHODS}, got {options.method!r}"
        )
    if jobs < 1 or chunk_lines < 1:
        raise OptionsError("bad_option", "`jobs` and `chunk_lines` must be positive")
    check_outputs(output_path, errors_path)
    summary = RunSummary()
    report = progress or (lambda phase, lines, nbytes: None)
    with contextlib.ExitStack() as stack:
        if reader is not None:
            records, attribute = reader(options)
        else:
            records, attribute = _records(
                stack.enter_context(open_read(input_path)), options, input_path
            )
        one_pass = options.worker_model is not None or (
            options.method == "image" and not options.fit_model
        )
        fingerprint = checkpoint.fingerprint(input_path, options, attribute, input_key=input_key)
        if one_pass:
            model = options.worker_model if options.method != "image" else None
            summary.model = model
            summary.method = METHOD_MAJORITY if model is None else METHOD_JOB
        elif resume and (fitted := checkpoint.fitted_before(output_path, fingerprint)) is not None:
            # A resumed job-level run: the model fitted before the interruption, no pass 1.
            summary.model, summary.method, summary.objects_per_worker = fitted
            model = summary.model if summary.method == METHOD_JOB else None
            fingerprint["method"] = summary.method
            one_pass = True
        if one_pass:
            sink = Sink(stack, output_path, errors_path, resume=resume,
                        fingerprint=fingerprint, summary=summary, every=_CHECKPOINT_S)  # fmt: skip
            pending = (r for r in records if r[0] > sink.done_through)
            results = _ordered_map(
                one_pass_chunk, _chunks(pending, chunk_lines), jobs=jobs,
                setup=(options, attribute, None if model is None else model),
            )  # fmt: skip
            with checkpoint.save_on_error(sink):
                for chunk, outcomes in results:
                    _write(sink, summary, outcomes, error_fields)
                    report("consolidating", len(chunk), sum(r[2] for r in chunk))
            sink.commit()
            return summary
        spool = stack.enter_context(Spool())
        tables: list[EvidenceTable] = []
        for chunk, (table, blob, count) in _ordered_map(
            prepare_chunk, _chunks(records, chunk_lines), jobs=jobs,
            setup=(options, attribute, None),
        ):  # fmt: skip
            spool.write_blob(blob, count)
            tables.append(table)
            if len(tables) >= _MERGE_TABLES:
                tables = [EvidenceTable.concat(tables)]
            report("pass 1", len(chunk), sum(r[2] for r in chunk))
        table = EvidenceTable.concat(tables) if tables else EvidenceTable.empty()
        del tables
        summary.objects_per_worker = median_objects_per_worker(table)
        summary.model = fit_worker_model(table, gold_worker=GOLD_WORKER if options.gold else None)
        del table
        use_job = options.method == "job" or (
            options.method == "auto" and summary.objects_per_worker >= options.min_objects
        )
        summary.method = METHOD_JOB if use_job else METHOD_MAJORITY
        model = summary.model if use_job else None
        fingerprint["method"] = summary.method
        sink = Sink(stack, output_path, errors_path, resume=resume,
                    fingerprint=fingerprint, summary=summary, every=_CHECKPOINT_S)  # fmt: skip
        blobs = checkpoint.skip_done(spool.replay_blobs(), sink.done_through)
        finished = _ordered_map(finish_chunk, blobs, jobs=jobs, setup=(options, attribute, model))
        with checkpoint.save_on_error(sink):
            for _blob, outcomes in finished:
                done = [o for o in outcomes if o.number > sink.done_through]
                _write(sink, summary, done, error_fields)
                report("pass 2", len(outcomes), 0)
        sink.commit()
    return summary


_MERGE_TABLES = 256


def median_objects_per_worker(table: EvidenceTable) -> float:
    """The median number of objects a worker answered (gold answers are no worker)."""
    counts = [
        int(n)
        for w, n in zip(table.worker_ids, table.objects_per_worker(), strict=True)
        if w != GOLD_WORKER
    ]
    return float(np.median(counts)) if counts else 0.0


def _write(
    sink: Sink,
    summary: RunSummary,
    outcomes: Sequence[LineOutcome],
    error_fields: Callable[[int], Mapping[str, Any]] | None = None,
) -> None:
    for outcome in outcomes:
        if outcome.error is not None and error_fields is not None:
            error = {**outcome.error, **error_fields(outcome.number)}
            outcome = dataclasses.replace(outcome, error=error)
        summary.lines += 1
        if outcome.gold_ref is not None:
            summary.gold_seen.add(outcome.gold_ref)
            summary.gold_lines += outcome.by_gold
        summary.rejected_answers += outcome.rejected
        summary.classes_seen.update(outcome.classes)
        if outcome.tallies is None:
            summary.failed += 1
        else:
            summary.consolidated += 1
            for worker, tally in outcome.tallies:
                previous = summary.tallies.get(worker, WorkerTally())
                summary.tallies[worker] = previous + tally
        sink.write(outcome)


def _finish(prepared: PreparedLine, model: WorkerModel | None) -> LineResult:
    if model is None:
        return finish_line(prepared)
    evidence = prepared.evidence
    existence = None if evidence is None else model.existence(evidence)
    return finish_line(prepared, weights=model.weights(), existence=existence, method=METHOD_JOB)


def write_worker_table(rows: Sequence[Mapping[str, object]], path: str) -> None:
    """Write the worker table as CSV (``.csv``) or JSON (``.json``), atomically."""
    with atomic_writer(path) as handle:
        if path.endswith(".json"):
            handle.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
            return
        writer = csv.DictWriter(handle, fieldnames=WORKER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in WORKER_COLUMNS})
