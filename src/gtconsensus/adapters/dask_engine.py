# mypy: disable-error-code="no-untyped-call"
"""Consolidating a job on a Dask cluster: the job-level method's two passes as bag maps.

A manifest too large for one machine is read as a :class:`dask.bag.Bag` of lines
(``dask.bag.read_text``: local, ``s3://`` or anything fsspec reads, split in
blocks at line ends). Then:

1. :func:`number_lines` gives each line its 1-based physical line number (a
   cheap count per partition, then offsets);
2. pass 1 maps each partition to the :class:`~gtconsensus.evidence.EvidenceTable`
   of its lines (no pixel in it); the tables of consecutive partitions merge
   (:meth:`EvidenceTable.concat`) into the job's table on the client;
3. the worker model is fitted once, on the client (:func:`gtconsensus.fit_worker_model`);
4. pass 2 maps each partition again, deciding every line with the model (the PNGs
   are decoded again rather than spooled: the cluster holds nothing between passes).

The result is the same output, error records and worker table as the local engine
(:func:`gtconsensus.adapters.manifest.consolidate_manifest`), byte for byte.

Several inputs (:func:`consolidate_with_dask` given a list) are read and merged on the
client as the local engine merges them (:func:`gtconsensus.adapters.merge.merged_inputs`),
staged as part files every worker reads (a shared folder or ``s3://``), and consolidated
as one bag of those parts; the error records keep their provenance fields (``file``,
``line``, ``sources``), which stay on the client.

With ``resume`` (:func:`consolidate_with_dask`, the CLI's ``--resume``) the client keeps
the local engine's checkpoint (:mod:`gtconsensus.adapters.checkpoint`) as it writes; a
run that finds one of the same input and options leaves out the partitions written
whole, and, when the checkpoint holds the fitted model, pass 1 (:func:`_resumable`).

Examples
--------
The Python API (needs the ``dask`` extra)::

    import dask.bag as db
    from distributed import Client
    from gtconsensus.adapters.dask_engine import consolidate_bag, write_outcomes
    from gtconsensus.adapters.manifest import ManifestOptions

    client = Client("tcp://scheduler:8786")
    lines = db.read_text("s3://bucket/job/output.manifest", blocksize="64MiB")
    run = consolidate_bag(lines, ManifestOptions(method="auto"))
    run.outputs()        # a bag of output lines, in input order (or .to_textfiles(...))
    summary = write_outcomes(run, "s3://bucket/job/consensus.manifest",
                             errors_path="s3://bucket/job/errors.jsonl")
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import dask.bag as db
import fsspec  # type: ignore[import-untyped]
import numpy as np
from dask.delayed import Delayed, delayed
from dask.utils import parse_bytes

from gtconsensus.adapters import checkpoint
from gtconsensus.adapters import manifest as local
from gtconsensus.adapters.checkpoint import Sink
from gtconsensus.adapters.manifest import (
    LineOutcome,
    ManifestOptions,
    ProgressCallback,
    Record,
    RunSummary,
)
from gtconsensus.adapters.merge import dump_record, input_key, load_records, merged_inputs
from gtconsensus.consensus import METHOD_MAJORITY
from gtconsensus.evidence import EvidenceTable, TableBuilder
from gtconsensus.exceptions import OptionsError
from gtconsensus.gold import GOLD_WORKER
from gtconsensus.job import METHOD_JOB, fit_worker_model
from gtconsensus.worker_model import WorkerModel

__all__ = ["BagRun", "consolidate_bag", "consolidate_with_dask", "number_lines", "write_outcomes"]


def _count(lines: Iterable[str]) -> list[int]:
    return [sum(1 for _ in lines)]


def _numbered(lines: Iterable[str], first: int) -> list[Record]:
    records = []
    for number, line in enumerate(lines, start=first):
        raw = line.rstrip("\r\n")
        if raw.strip():
            records.append((number, raw, len(line.encode("utf-8"))))
    return records


def number_lines(lines: db.Bag) -> db.Bag:
    """A bag of ``(line number, text, bytes)`` records from a bag of lines, blanks dropped.

    Numbers are 1-based physical lines of the whole bag (blank lines counted), as
    in the local engine's error file.
    """
    return _bag([part for part, _ in _numbered_parts(lines)])


def _numbered_parts(lines: db.Bag) -> list[tuple[Delayed, int]]:
    """Each partition of :func:`number_lines`'s bag and the number of its last physical
    line (what a resumed run looks at to leave out the partitions written whole)."""
    counts = lines.map_partitions(_count).compute()
    offsets = np.concatenate([[1], np.cumsum(counts)[:-1] + 1]).tolist()
    return [
        (delayed(_numbered)(part, int(first)), int(first) + int(count) - 1)
        for part, first, count in zip(lines.to_delayed(), offsets, counts, strict=True)
    ]


def _bag(parts: Sequence[Delayed]) -> db.Bag:
    """A bag of the partitions ``parts`` (none: one empty partition)."""
    bag: db.Bag = db.from_delayed(list(parts)) if parts else db.from_sequence([], npartitions=1)
    return bag


def _table(records: Iterable[Record], options: ManifestOptions, attribute: str | None) -> list[Any]:
    """Pass 1 on one partition: its evidence table, lines and bytes (in a list: one item
    per partition)."""
    local._setup(options, attribute, None)
    builder = TableBuilder()
    lines = nbytes = 0
    for number, raw, size in records:
        lines, nbytes = lines + 1, nbytes + size
        evidence = local._prepare_record(number, raw).evidence
        if evidence is not None:
            builder.add(evidence)
    return [(builder.build(), lines, nbytes)]


def _finish(
    records: Iterable[Record], options: ManifestOptions, attribute: str | None,
    model: WorkerModel | None, after: int = -1,
) -> list[LineOutcome]:  # fmt: skip
    """Pass 2 on one partition: every line after line ``after`` decided (with the model
    when given), each outcome noting its input line's bytes for the progress bar."""
    local._setup(options, attribute, model)
    records = [record for record in records if record[0] > after]
    outcomes = local.one_pass_chunk(records)
    return [dataclasses.replace(o, nbytes=r[2]) for o, r in zip(outcomes, records, strict=True)]


@dataclass(frozen=True, slots=True)
class BagRun:
    """A planned run: the outcomes (a lazy bag, in input order) and what the client decided.

    ``method`` is the ``consensus.method`` used; ``model`` the worker model fitted
    (``None`` with a per-image run that fitted none); ``objects_per_worker`` the
    median number of objects a worker answered; ``passes`` 2 when pass 1 ran (then
    the outcomes are pass 2), else 1.
    """

    outcomes: db.Bag
    method: str
    model: WorkerModel | None
    objects_per_worker: float
    passes: int = 1

    def outputs(self) -> db.Bag:
        """The output lines (no newline), in input order."""
        bag: db.Bag = self.outcomes.filter(lambda o: o.output is not None).map(lambda o: o.output)
        return bag


def consolidate_bag(
    lines: db.Bag,
    options: ManifestOptions | None = None,
    *,
    numbered: bool = False,
    progress: ProgressCallback | None = None,
) -> BagRun:
    """Plan the consolidation of a bag of manifest lines; pass 1 and the fit run now.

    Parameters
    ----------
    lines : dask.bag.Bag
        Lines of one manifest in order (``dask.bag.read_text``), or, with
        ``numbered=True``, ``(number, text, bytes)`` records.
    options : ManifestOptions
        As for the local engine (``fetch`` must be picklable).
    progress : callable, optional
        ``progress("pass 1", lines, bytes)`` as each partition's pass 1 ends (as
        the local engine's ``progress``; pass 2 reports in :func:`write_outcomes`).

    Returns
    -------
    BagRun
        Pass 2 is lazy: compute ``run.outcomes`` or use :func:`write_outcomes`.
    """
    options = options or ManifestOptions()
    records = lines if numbered else number_lines(lines)
    return _plan(records, options, _attribute(records, options), progress)


def _attribute(records: db.Bag, options: ManifestOptions) -> str | None:
    """The label attribute: the option's, or the one the first partition's first lines hold."""
    if options.label_attribute is not None:
        return options.label_attribute
    return local._infer_attribute(records.take(local._PEEK_LINES, npartitions=1, warn=False))


def _one_pass(options: ManifestOptions) -> bool:
    """Whether the options leave nothing to learn (no pass 1), as in the local engine."""
    return options.worker_model is not None or (options.method == "image" and not options.fit_model)


def _plan(
    records: db.Bag, options: ManifestOptions, attribute: str | None,
    progress: ProgressCallback | None,
) -> BagRun:  # fmt: skip
    """:func:`consolidate_bag` once the label attribute is known (``None``: each line's own)."""
    one_pass = _one_pass(options)
    # One graph key for the options: a worker fetches them (gold answers included) once,
    # rather than with every partition's task.
    shared = delayed(options, pure=False, traverse=False)
    if one_pass:
        model = options.worker_model if options.method != "image" else None
        method = METHOD_MAJORITY if model is None else METHOD_JOB
        outcomes = records.map_partitions(_finish, shared, attribute, model)
        return BagRun(outcomes, method, model, 0.0)
    tables = []
    report = progress or _silent
    for part_table, count, nbytes in _pass_one(records.map_partitions(_table, shared, attribute)):
        tables.append(part_table)
        report("pass 1", count, nbytes)
    table = EvidenceTable.concat(tables) if tables else EvidenceTable.empty()
    objects_per_worker = local.median_objects_per_worker(table)
    fitted = fit_worker_model(table, gold_worker=GOLD_WORKER if options.gold else None)
    use_job = options.method == "job" or (
        options.method == "auto" and objects_per_worker >= options.min_objects
    )
    model = fitted if use_job else None
    outcomes = records.map_partitions(_finish, shared, attribute, model)
    method = METHOD_JOB if use_job else METHOD_MAJORITY
    return BagRun(outcomes, method, fitted, objects_per_worker, passes=2)


def _silent(phase: str, lines: int, nbytes: int) -> None:
    """No progress report."""


def _pass_one(tables: db.Bag) -> Iterator[Any]:
    """Each partition's pass-1 result, in order, as soon as it and those before it end.

    Every partition computes at once (the tables hold no pixel); without a
    distributed client, Dask's default scheduler computes them all first.
    """
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        yield from tables.compute()
        return
    futures = client.compute(tables.to_delayed())
    for future in futures:
        yield from future.result()
        future.release()


def _in_order(outcomes: db.Bag, window: int) -> Iterator[list[LineOutcome]]:
    """The outcomes partition by partition, in order, at most ``window`` partitions computing."""
    parts = iter(outcomes.to_delayed())
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        for part in parts:
            yield part.compute()
        return
    pending = [client.compute(p) for p in itertools.islice(parts, window)]
    while pending:
        future = pending.pop(0)
        following = next(parts, None)
        if following is not None:
            pending.append(client.compute(following))
        yield future.result()
        future.release()


def write_outcomes(
    run: BagRun,
    output_path: str | None,
    *,
    errors_path: str | None = None,
    window: int = 8,
    progress: ProgressCallback | None = None,
    error_fields: Callable[[int], Mapping[str, Any]] | None = None,
) -> RunSummary:
    """Compute pass 2 and write the output manifest and the error file, in input order.

    The files are written by the client, atomically (as the local engine does),
    from at most ``window`` partitions at a time. ``progress(phase, lines, bytes)``
    follows each partition written, as the local engine's: phase ``"pass 2"`` after
    a pass 1, else ``"consolidating"``. ``error_fields(number)``, as the local
    engine's, gives fields that replace or extend the error record of line
    ``number`` (asked in increasing order): the provenance of merged lines.
    """
    summary = _summary(run)
    with contextlib.ExitStack() as stack:
        sink = Sink(stack, output_path, errors_path, resume=False, fingerprint={},
                    summary=summary)  # fmt: skip
        _drain(run.outcomes, sink, _phase(run), window=window, progress=progress,
               error_fields=error_fields)  # fmt: skip
    return summary


def _summary(run: BagRun) -> RunSummary:
    """The summary of ``run`` before any line is written."""
    return RunSummary(method=run.method, model=run.model,
                      objects_per_worker=run.objects_per_worker)  # fmt: skip


def _phase(run: BagRun) -> str:
    """The progress phase of the lines written: ``"pass 2"`` after a pass 1."""
    return "pass 2" if run.passes == 2 else "consolidating"


def _drain(
    outcomes: db.Bag, sink: Sink, phase: str, *, window: int,
    progress: ProgressCallback | None,
    error_fields: Callable[[int], Mapping[str, Any]] | None,
) -> None:  # fmt: skip
    """Write the outcomes to ``sink`` in order (its checkpoint saved if the run stops), then
    put the files in place."""
    report = progress or _silent
    with checkpoint.save_on_error(sink):
        for part in _in_order(outcomes, window):
            local._write(sink, sink.summary, part, error_fields)
            report(phase, len(part), sum(o.nbytes for o in part))
    sink.commit()


def consolidate_with_dask(
    input_path: str | Sequence[str],
    output_path: str | None,
    *,
    scheduler: str | None,
    errors_path: str | None = None,
    options: ManifestOptions | None = None,
    blocksize: str | int = "64MiB",
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    staging: str | None = None,
    resume: bool = False,
) -> RunSummary:
    """The CLI's ``--engine dask``: read the input as a bag, run, write on the client.

    ``input_path`` is one manifest (read as a bag of ``blocksize`` partitions), or
    several, merged as :func:`~gtconsensus.adapters.merge.consolidate_manifests`
    merges them (see :func:`_consolidate_merged`): the output, the error file
    (with its ``file``, ``line`` and ``sources`` fields) and the worker table are
    the local engine's, byte for byte.
    ``scheduler`` is the address of a running Dask scheduler (``tcp://host:8786``);
    ``None`` uses the current client, or Dask's default scheduler when there is none.
    ``progress(phase, lines, bytes)`` follows each partition, as the local engine's.
    ``jobs`` and ``staging`` serve several inputs only: the processes that group
    the inputs on the client, and the folder (local path or URL, ``s3://``) where
    the merged lines are written for the workers to read; every worker must read
    it (default: the system's temporary folder, which a cluster on this machine
    shares).
    ``resume`` keeps the local engine's checkpoint beside the output and continues
    from the one an interrupted run left, with either engine (see :func:`_resumable`).
    An output or error file that cannot be written (a folder, an ``s3://`` bucket that
    does not exist) is refused first, ``OptionsError`` ``bad_option``
    (:func:`~gtconsensus.adapters.manifest.check_outputs`).
    """
    options = options or ManifestOptions()
    paths = [input_path] if isinstance(input_path, str) else list(input_path)
    local.check_outputs(output_path, errors_path)  # now, not after pass 1

    def run() -> RunSummary:
        if len(paths) != 1:
            return _consolidate_merged(
                paths, output_path, errors_path=errors_path, options=options,
                part_bytes=parse_bytes(blocksize), progress=progress, jobs=jobs,
                staging=staging, resume=resume,
            )  # fmt: skip
        lines = db.read_text(paths[0], blocksize=blocksize)
        if not resume:
            planned = consolidate_bag(lines, options, progress=progress)
            return write_outcomes(planned, output_path, errors_path=errors_path, progress=progress)
        parts = _numbered_parts(lines)
        attribute = _attribute(_bag([part for part, _ in parts]), options)

        def after(done_through: int) -> list[Delayed]:  # partitions written whole: left out
            return [part for part, last in parts if last > done_through]

        return _resumable(
            after, options, attribute, output_path, errors_path=errors_path,
            fingerprint=checkpoint.fingerprint(paths[0], options, attribute), progress=progress,
        )  # fmt: skip

    if scheduler is None:
        return run()
    from distributed import Client

    with Client(scheduler) as client, client.as_current():
        return run()


def _resumable(
    parts_after: Callable[[int], Sequence[Delayed]],
    options: ManifestOptions,
    attribute: str | None,
    output_path: str | None,
    *,
    errors_path: str | None,
    fingerprint: dict[str, Any],
    progress: ProgressCallback | None,
    error_fields: Callable[[int], Mapping[str, Any]] | None = None,
    window: int = 8,
) -> RunSummary:
    """A run with the local engine's checkpoint (``--resume``), continuing the one it finds.

    The same steps as :func:`gtconsensus.adapters.manifest.consolidate_manifest`'s,
    with the same :func:`~gtconsensus.adapters.checkpoint.fingerprint` and
    checkpoint, so either engine resumes the other's run. ``parts_after(n)`` gives
    the partitions of numbered records holding every line after line ``n``
    (``-1``: all of them), and is called once. With a method that learns,
    a checkpoint holding the fitted model skips pass 1 (the lines written were
    decided with that model); otherwise pass 1 runs over every line, as in the
    interrupted run, before the checkpoint is read. Pass 2 decides only the lines
    after the checkpoint's last: the partitions written whole are left out and
    the first partition kept drops its lines written on its worker.
    """
    one_pass = _one_pass(options)
    fitted = None if one_pass else checkpoint.fitted_before(output_path, fingerprint)
    parts: Sequence[Delayed] = []
    if fitted is not None:  # the model fitted before the interruption: no pass 1
        planned = BagRun(_bag([]), fitted[1], fitted[0], fitted[2])
        fingerprint = {**fingerprint, "method": planned.method}
    elif one_pass:  # nothing to learn: the plan only names the method and the model
        planned = _plan(_bag([]), options, attribute, progress)
    else:
        parts = parts_after(-1)
        planned = _plan(_bag(parts), options, attribute, progress)  # pass 1 and the fit: now
        fingerprint = {**fingerprint, "method": planned.method}
    summary = _summary(planned)
    with contextlib.ExitStack() as stack:
        sink = Sink(stack, output_path, errors_path, resume=True, fingerprint=fingerprint,
                    summary=summary, every=local._CHECKPOINT_S)  # fmt: skip
        if planned.passes == 1:
            parts = parts_after(sink.done_through)
        model = planned.model if planned.method == METHOD_JOB else None
        shared = delayed(options, pure=False, traverse=False)
        outcomes = _bag(parts).map_partitions(_finish, shared, attribute, model, sink.done_through)
        _drain(outcomes, sink, _phase(planned), window=window, progress=progress,
               error_fields=error_fields)  # fmt: skip
    return summary


# ----------------------------------------------------------------------------------------------
# Several inputs: merged on the client, staged as part files, consolidated on the cluster.


def _consolidate_merged(
    paths: Sequence[str],
    output_path: str | None,
    *,
    errors_path: str | None,
    options: ManifestOptions,
    part_bytes: int,
    progress: ProgressCallback | None,
    jobs: int,
    staging: str | None,
    resume: bool = False,
) -> RunSummary:
    """Several inputs on the cluster, as the local engine consolidates them merged.

    The client reads and groups the inputs (:func:`~gtconsensus.adapters.merge.merged_inputs`:
    local buckets, ``jobs`` processes) and writes the merged lines, numbered, to
    part files of about ``part_bytes`` in ``staging``; each partition of the bag
    reads one part (the workers, once per pass). The error-file fields of each
    merged line stay on the client, which writes the error records with them.
    With ``resume``, the checkpoint is the local engine's of the same inputs
    (:func:`gtconsensus.adapters.merge.consolidate_manifests`); the inputs are
    merged again and, when there is no pass 1 to run, only the merged lines not
    written yet are staged.
    """
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(_staging_folder(staging))  # a bad URL fails before reading
        merge = stack.enter_context(merged_inputs(paths, options, jobs=jobs, progress=progress))
        run_options = merge.run_options(options)

        def parts_after(done_through: int) -> list[Delayed]:
            pending = (r for r in merge.records() if r[0] > done_through)
            parts = _stage(pending, folder, part_bytes)
            _check_workers_read(parts[0])
            return [delayed(_read_part)(part) for part in parts]

        if resume:
            key = input_key(paths, merge.attributes, options.fetch, merge.failed)
            return _resumable(
                parts_after, run_options, merge.attribute, output_path,
                errors_path=errors_path, progress=progress, error_fields=merge.error_fields,
                fingerprint=checkpoint.fingerprint(" ".join(paths), run_options,
                                                   merge.attribute, input_key=key),
            )  # fmt: skip
        planned = _plan(_bag(parts_after(-1)), run_options, merge.attribute, progress)
        return write_outcomes(
            planned, output_path, errors_path=errors_path, progress=progress,
            error_fields=merge.error_fields,
        )  # fmt: skip


# fsspec's protocols of object stores, where a folder is a prefix in a bucket.
_BUCKET_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az"})


@contextlib.contextmanager
def _staging_folder(staging: str | None) -> Iterator[str]:
    """A new folder (URL) under ``staging`` (default: the temporary folder), removed after.

    Under an object store's URL (``s3://``) the folder is a prefix: its bucket must exist
    (``OptionsError`` ``bad_setting`` when it does not), and is not created.
    """
    fs, root = fsspec.core.url_to_fs(staging or tempfile.gettempdir())
    folder = f"{root.rstrip('/')}/gtconsensus-merged-{uuid.uuid4().hex}"
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protocols & _BUCKET_STORES:
        # A folder there is a key prefix, written with the parts; `makedirs` would create
        # a missing (misspelt) bucket, and leave it.
        bucket = folder.split("/", 1)[0]
        if not fs.exists(bucket):
            raise OptionsError(
                "bad_setting",
                f"cannot stage the merged input in {staging}: no bucket {bucket} (or no "
                "access to it): --staging (`staging=`) must name an existing bucket",
            )
    else:
        fs.makedirs(folder, exist_ok=True)
    try:
        yield str(fs.unstrip_protocol(folder))
    finally:
        with contextlib.suppress(FileNotFoundError):
            fs.rm(folder, recursive=True)


def _stage(records: Iterable[Record], folder: str, part_bytes: int) -> list[str]:
    """Write the records to part files of about ``part_bytes`` in ``folder``; their URLs
    (one at least: an empty part when there is no record)."""
    parts: list[str] = []
    handle: IO[bytes] | None = None
    filled = 0
    try:
        for number, text, nbytes in records:
            if handle is None or filled >= part_bytes:
                if handle is not None:
                    handle.close()
                parts.append(f"{folder}/part-{len(parts):06d}")
                handle = fsspec.open(parts[-1], "wb").open()
                filled = 0
            dump_record(handle, [number, nbytes], text)
            filled += len(text)
    finally:
        if handle is not None:
            handle.close()
    if not parts:  # no line: one empty partition
        parts.append(f"{folder}/part-{0:06d}")
        with fsspec.open(parts[-1], "wb"):
            pass
    return parts


def _read_part(part: str) -> list[Record]:
    """On a worker: the records of one part file."""
    with fsspec.open(part, "rb") as handle:
        return [(number, text, nbytes) for (number, nbytes), text in load_records(handle)]


def _exists(path: str) -> bool:
    fs, inner = fsspec.core.url_to_fs(path)
    return bool(fs.exists(inner))


def _check_workers_read(part: str) -> None:
    """Stop, naming the folder, when a worker of the current client cannot read ``part``."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return  # Dask's default scheduler: processes of this machine, which see its files
    seen = client.run(_exists, part)
    blind = sorted(worker for worker, found in seen.items() if not found)
    if blind:
        folder = part.rsplit("/", 1)[0]
        raise OptionsError(
            "bad_setting",
            f"Dask workers {', '.join(blind)} cannot read the merged input staged in {folder}: "
            "stage it where every worker reads it (a shared folder in TMPDIR, or --staging "
            "(`staging=`) s3://...; see docs/scale.md)",
        )
