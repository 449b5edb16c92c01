"""Consolidating several manifests at once: one data object per image across jobs.

``gtconsensus consolidate A B C`` merges the answers given for the same image
(the same ``source-ref``) in several output manifests (a job, its re-labeling
round, an adjustment job) into one data object, and consolidates those objects
in one run, so the job-level worker model spans every input: a worker id seen in
two jobs is one worker. The rules are in ``docs/merging.md``; in short:

- **order**: by first appearance, file by file (in the order given), line by
  line; a merged object takes the place of its first line;
- **answers**: in the same order, file by file; the same worker twice keeps the
  later answer (the core's rule), so list the inputs oldest first;
- **label attribute**: each input's own (given, or inferred per file); the output
  uses the first input's, and answers found under another name move under it;
- **provenance**: ``<attr>-metadata.gtconsensus-merged`` of each output line says
  which input line each answer came from and, when the input says so, when it
  was submitted (:func:`gtconsensus.merging.merge_lines`);
- lines without a ``source-ref`` (``source`` instead), and lines whose answers
  cannot be read (not JSON, a reference that cannot be fetched...) are not
  merged: they go through on their own, in their place, and fail or consolidate
  as they would alone; a reference that could not be fetched while merging
  fails again with the same error when the line is consolidated (it is not
  fetched a second time, so a passing glitch cannot make one image two lines).

With one input, :func:`consolidate_manifests` is
:func:`~gtconsensus.adapters.manifest.consolidate_manifest`, byte for byte.
With ``resume``, the checkpoint names every input in order (path, size and version), the
options and the references that failed while merging (:func:`input_key`); an
interrupted run merges the inputs again and consolidates only the merged lines
not written yet, and ends with the same bytes as an uninterrupted run.

How it scales (``docs/scale.md``): a first pass reads every input once and
writes each line to one of up to 512 bucket files on local disk, chosen by a
hash of its ``source-ref`` (so every line of an image lands in the same bucket);
each bucket is then grouped on its own (in ``jobs`` worker processes) into its
merged lines, sorted by first appearance; the sorted buckets are read back in
one k-way merge, which feeds the usual pipeline record by record. Memory holds
one bucket's input lines per process and one merged line (referenced answers
read in), not the inputs. :func:`merged_inputs` does the reading and grouping
for both engines: the Dask engine stages the merged lines for its workers
(:mod:`gtconsensus.adapters.dask_engine`).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import math
import multiprocessing
import tempfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from gtconsensus.adapters.checkpoint import fetch_key
from gtconsensus.adapters.manifest import (
    ManifestOptions,
    ProgressCallback,
    Record,
    RunSummary,
    _records,
    check_outputs,
    consolidate_manifest,
    ignore_interrupts,
)
from gtconsensus.adapters.storage import fetch as storage_fetch
from gtconsensus.adapters.storage import identity, open_read, size
from gtconsensus.answers import Fetch
from gtconsensus.exceptions import CODES, FetchError, GtConsensusError, OptionsError
from gtconsensus.lines import dumps, infer_label_attribute
from gtconsensus.merging import Source, merge_answers, parse_object, read_answers_of

__all__ = ["consolidate_manifests"]

_BUCKET_BYTES = 32 << 20  # input bytes per bucket, about: what one process holds at a time
_MAX_BUCKETS = 512  # open files while partitioning and while merging back
_UNKNOWN_SIZE_BUCKETS = 64


# ----------------------------------------------------------------------------------------------
# References that failed while merging fail again, with the same error, when consolidated.


@dataclass(frozen=True)
class _Recording:
    """A fetch that notes each reference it could not read, and why."""

    fetch: Fetch
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __call__(self, uri: str) -> str | bytes:
        try:
            return self.fetch(uri)
        except GtConsensusError as exc:
            self.failed[uri] = (exc.code, exc.message)
            raise


@dataclass(frozen=True)
class _Remembered:
    """A fetch that raises the merge's error again for a reference that failed then.

    Without it a line whose reference failed while merging went through alone and
    was fetched again: if that worked, its image came out twice (the merged line
    of its other answers, and this one), with no error recorded.
    """

    fetch: Fetch
    failed: Mapping[str, tuple[str, str]]

    def __call__(self, uri: str) -> str | bytes:
        if uri in self.failed:
            code, message = self.failed[uri]
            raise CODES.get(code, FetchError)(code, message)
        return self.fetch(uri)


# ----------------------------------------------------------------------------------------------
# Pass 0: every input line to its bucket, by a hash of its source-ref.

#: A line in a bucket: (order, input index, line number, source-ref or None, label attribute
#: or None (passed through as read), text, bytes read).
_Entry = tuple[int, int, int, "str | None", "str | None", str, int]


def _route(
    parsed: dict[str, Any] | None, attribute: str | None, output: str | None
) -> tuple[str | None, str | None]:
    """(source-ref, label attribute) of a line; ``(None, None)`` passes it through as read."""
    if parsed is None:
        return None, None
    if attribute is None:
        try:
            attribute = infer_label_attribute(parsed)
        except GtConsensusError:
            return None, None
    if output is not None and attribute != output and output in parsed:
        return None, None  # another job's answers under the output's name: not ours to move
    key = parsed.get("source-ref")
    return (key if isinstance(key, str) else None), attribute


def _bucket_count(paths: Sequence[str], bucket_bytes: int) -> int:
    sizes = [size(p) for p in paths]
    if any(s is None for s in sizes):
        return _UNKNOWN_SIZE_BUCKETS
    total = sum(s for s in sizes if s is not None)
    return max(1, min(_MAX_BUCKETS, math.ceil(total / bucket_bytes)))


def _partition(
    streams: Sequence[Iterator[Record]],
    attributes: Sequence[str | None],
    output: str | None,
    buckets: Sequence[IO[bytes]],
    report: ProgressCallback,
) -> int:
    """Write every line of every input to its bucket; the number of lines."""
    order = 0
    lines = nbytes = 0
    for index, (records, attribute) in enumerate(zip(streams, attributes, strict=True)):
        for number, raw, read in records:
            key, own = _route(parse_object(raw), attribute, output)
            where = zlib.crc32(key.encode("utf-8")) if key is not None else order
            entry: _Entry = (order, index, number, key, own, raw, read)
            dump_record(buckets[where % len(buckets)], [*list(entry[:5]), entry[6]], raw)
            order += 1
            lines, nbytes = lines + 1, nbytes + read
            if lines >= 64:
                report("reading", lines, nbytes)
                lines = nbytes = 0
    if lines:
        report("reading", lines, nbytes)
    return order


# ----------------------------------------------------------------------------------------------
# Pass 0 continued: each bucket grouped into its merged lines, sorted by first appearance.

#: A merged line: (order of its first line, text, error-file fields, bytes read).
_Merged = tuple[int, str, dict[str, Any], int]


def dump_record(handle: IO[bytes], header: list[Any], text: str) -> None:
    """One record of a bucket or sorted file: a JSON header line, then the text's bytes.

    Nothing is pickled: the files are parsed back as JSON and UTF-8 only. ``surrogatepass``
    keeps the bytes of a line that is not UTF-8 (read with ``surrogateescape``) as they were.
    """
    data = text.encode("utf-8", errors="surrogatepass")
    handle.write(json.dumps([*header, len(data)]).encode("ascii") + b"\n")
    handle.write(data)


def _load(path: str) -> Iterator[tuple[list[Any], str]]:
    """The records :func:`dump_record` wrote: (header, text)."""
    with open(path, "rb") as handle:
        yield from load_records(handle)


def load_records(handle: IO[bytes]) -> Iterator[tuple[list[Any], str]]:
    """The records :func:`dump_record` wrote to ``handle``: (header, text).

    Examples
    --------
    >>> import io
    >>> buffer = io.BytesIO()
    >>> text = "caf" + chr(0xE9) + chr(0xDCFF)  # a byte that was not UTF-8, kept as read
    >>> dump_record(buffer, [7, "a"], text)
    >>> _ = buffer.seek(0)
    >>> list(load_records(buffer)) == [([7, "a"], text)]
    True
    """
    while header := handle.readline():
        *fields, length = json.loads(header)
        yield fields, handle.read(length).decode("utf-8", errors="surrogatepass")


def _entries(path: str) -> Iterator[_Entry]:
    for (order, index, number, key, own, nbytes), raw in _load(path):
        yield order, index, number, key, own, raw, nbytes


def _group_bucket(
    bucket: str, out: str, files: Sequence[str], attribute: str | None, fetch: Fetch
) -> tuple[int, int, dict[str, tuple[str, str]]]:
    """Merge the lines of one bucket; write them to ``out`` in order.

    A merged line holds its referenced answers (worker-response files, ``-ref``
    keys) read in, so it can be many times its input lines: each is spooled to
    disk as soon as it is made and only its place is kept in memory, which
    holds the bucket's input lines and one merged line, not every merged line.

    Returns the number of lines written, the input bytes they hold, and the
    references that could not be fetched (URI to error code and message).
    """
    recording = _Recording(fetch)
    groups: dict[str | None, list[_Entry]] = {}
    places: list[tuple[int, int, int, dict[str, Any], int]] = []  # order, offset, length...
    spool_path = Path(f"{out}.spool")
    with open(spool_path, "w+b") as spool:

        def keep(item: _Merged) -> None:
            order, text, fields, read = item
            data = text.encode("utf-8", errors="surrogatepass")
            places.append((order, spool.tell(), len(data), fields, read))
            spool.write(data)

        for entry in _entries(bucket):
            order, index, number, key, own, raw, read = entry
            if own is None:  # not a line we can read: through as it is
                keep((order, raw, _fields([(files[index], number)]), read))
            elif key is None:  # no source-ref: on its own
                for item in _merged_group([entry], files, attribute, recording):
                    keep(item)
            else:
                groups.setdefault(key, []).append(entry)
        for group in groups.values():
            for item in _merged_group(group, files, attribute, recording):
                keep(item)
        places.sort(key=lambda p: p[0])
        with open(out, "wb") as handle:
            for order, offset, length, fields, read in places:
                spool.seek(offset)
                text = spool.read(length).decode("utf-8", errors="surrogatepass")
                dump_record(handle, [order, fields, read], text)
    spool_path.unlink()
    Path(bucket).unlink()
    return len(places), sum(p[4] for p in places), recording.failed


def _fields(where: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """The error-file fields of a merged line: its first input line, and every one."""
    fields: dict[str, Any] = {"line": where[0][1], "file": where[0][0]}
    if len(where) > 1:
        fields["sources"] = [{"file": f, "line": n} for f, n in where]
    return fields


def _merged_group(
    group: Sequence[_Entry], files: Sequence[str], attribute: str | None, fetch: Fetch
) -> list[_Merged]:
    """The merged line of one image, and the lines whose answers cannot be read, alone."""
    sources: list[Source] = []
    read: list[tuple[list[Any], list[dict[str, Any]]]] = []
    firsts: list[tuple[int, int]] = []  # (order, bytes read) of each merged source
    alone: list[_Merged] = []
    for order, index, number, _, own, raw, nbytes in group:
        parsed = parse_object(raw)
        if parsed is None or own is None:  # routed as readable: cannot happen
            alone.append((order, raw, _fields([(files[index], number)]), nbytes))
            continue
        source = Source(files[index], number, own, parsed)
        try:
            read.append(read_answers_of(source, fetch=fetch))
        except GtConsensusError:  # fails alone, in its place, with its own reason
            text = _renamed(raw, source, attribute)
            alone.append((order, text, _fields([(source.file, number)]), nbytes))
            continue
        sources.append(source)
        firsts.append((order, nbytes))
    if sources:
        line = merge_answers(sources, read, attribute=attribute or sources[0].attribute)
        where = [(s.file, s.line) for s in sources]
        alone.append((firsts[0][0], dumps(line), _fields(where), sum(n for _, n in firsts)))
    return alone


def _renamed(raw: str, source: Source, attribute: str | None) -> str:
    """A line that goes through alone, its label attribute under the output's name."""
    if attribute is None or source.attribute == attribute:
        return raw
    line = {(attribute if k == source.attribute else k): v for k, v in source.parsed.items()}
    return dumps(line)


# ----------------------------------------------------------------------------------------------
# The driver.


class _Provenance:
    """The error-file fields of each merged line, looked up in increasing order.

    The merged lines' fields are logged to a file as the lines are fed to the
    pipeline; the pipeline asks for a line's fields (only of a failed line) in
    increasing order, so one forward read serves every lookup.
    """

    def __init__(self, path: Path) -> None:
        self._writer = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._reader = open(path, encoding="utf-8")  # noqa: SIM115
        self._last: tuple[int, dict[str, Any]] = (0, {})

    def log(self, number: int, fields: Mapping[str, Any]) -> None:
        self._writer.write(json.dumps([number, fields]) + "\n")

    def __call__(self, number: int) -> dict[str, Any]:
        self._writer.flush()
        while self._last[0] < number:
            line = self._reader.readline()
            if not line:
                return {}
            found, fields = json.loads(line)
            self._last = (found, fields)
        return self._last[1] if self._last[0] == number else {}

    def close(self) -> None:
        self._writer.close()
        self._reader.close()


def _replay(path: str) -> Iterator[_Merged]:
    for (order, fields, nbytes), text in _load(path):
        yield order, text, fields, nbytes


def _group_all(
    folder: Path,
    count: int,
    files: Sequence[str],
    attribute: str | None,
    *,
    fetch: Fetch,
    jobs: int,
    report: ProgressCallback,
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Group every bucket (in ``jobs`` processes).

    Returns the sorted files, one per bucket, and the references that failed.
    """
    tasks = [(str(folder / f"bucket-{i}"), str(folder / f"sorted-{i}")) for i in range(count)]
    failed: dict[str, tuple[str, str]] = {}
    if jobs == 1 or count == 1:
        for bucket, out in tasks:
            lines, nbytes, errors = _group_bucket(bucket, out, files, attribute, fetch)
            failed.update(errors)
            report("merging", lines, nbytes)
        return [out for _, out in tasks], failed
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        min(jobs, count), mp_context=context, initializer=ignore_interrupts
    ) as pool:
        futures = [pool.submit(_group_bucket, b, o, files, attribute, fetch) for b, o in tasks]
        for future in futures:
            lines, nbytes, errors = future.result()
            failed.update(errors)
            report("merging", lines, nbytes)
    return [out for _, out in tasks], failed


def input_key(
    paths: Sequence[str],
    attributes: Sequence[str | None],
    fetch: Fetch | None,
    failed: Mapping[str, tuple[str, str]],
) -> dict[str, Any]:
    """What identifies the merged lines in a ``--resume`` checkpoint (JSON values).

    The merged lines, and so the line numbers a checkpoint counts, follow from
    every input in order (path, size and version, as one input's checkpoint has them),
    each input's label attribute, the fetch given (the merged run replaces it
    with a :class:`_Remembered` when references failed) and the references that
    could not be read while merging: a reference that failed in one run and not
    in the other makes another line of its image, so that run starts over.

    Examples
    --------
    >>> paths = ["no/such/a.manifest", "-"]  # sizes unknown: None
    >>> key = input_key(paths, ["x", None], None, {"s3://r": ("fetch_failed", "503")})
    >>> key["attributes"], key["fetch"], len(key["unread"])
    (['x', None], None, 64)
    >>> input_key(paths[::-1], ["x", None], None, {}) == key
    False
    """
    unread = None
    if failed:
        text = json.dumps(sorted([uri, *error] for uri, error in failed.items()))
        unread = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {
        "inputs": [[p, *identity(p)] for p in paths],
        "attributes": list(attributes),
        "fetch": fetch_key(fetch),
        "unread": unread,
    }


@dataclass(frozen=True)
class MergedInputs:
    """Several inputs read and grouped: their merged lines, ready to be consolidated.

    Made by :func:`merged_inputs`; valid inside its ``with`` block (the sorted
    buckets are temporary files in ``folder``).
    """

    folder: Path
    sorted_files: list[str]
    attribute: str | None  # the output's label attribute
    attributes: list[str | None]  # each input's own
    fetch: Fetch  # the fetch used while merging
    failed: dict[str, tuple[str, str]]  # references that could not be read while merging
    error_fields: _Provenance  # error_fields(number): the fields of a merged line read

    def records(self) -> Iterator[Record]:
        """``(number, text, bytes read)`` of each merged line, in order (read once).

        ``number`` counts merged lines from 1. Each line's error-file fields
        (``file``, ``line`` and, for a merged object, ``sources``) are kept for
        ``error_fields(number)``, which gives them back (in increasing order)
        to replace those of the line's error record.
        """
        streams = [_replay(p) for p in self.sorted_files]
        for number, (_, text, fields, nbytes) in enumerate(
            heapq.merge(*streams, key=lambda m: m[0]), start=1
        ):
            self.error_fields.log(number, fields)
            yield number, text, nbytes

    def run_options(self, options: ManifestOptions) -> ManifestOptions:
        """The options to consolidate the merged lines with: the output's label
        attribute, and a fetch that fails again for a reference that failed while merging."""
        return replace(
            options, label_attribute=self.attribute,
            fetch=_Remembered(self.fetch, self.failed) if self.failed else options.fetch,
        )  # fmt: skip


@contextlib.contextmanager
def merged_inputs(
    input_paths: Sequence[str],
    options: ManifestOptions,
    *,
    jobs: int = 1,
    bucket_bytes: int = _BUCKET_BYTES,
    progress: ProgressCallback | None = None,
) -> Iterator[MergedInputs]:
    """Read several inputs and group their lines by image, in a temporary folder.

    The reading and merging phases of :func:`consolidate_manifests` (which
    report ``"reading"`` and ``"merging"`` to ``progress``); the Dask engine
    uses them too (:mod:`gtconsensus.adapters.dask_engine`).

    Raises
    ------
    OptionsError
        ``bad_option`` with no input, ``-`` twice, or ``jobs`` or ``bucket_bytes``
        not positive.
    """
    paths = list(input_paths)
    if not paths or paths.count("-") > 1:
        raise OptionsError("bad_option", "give one input or more, standard input (-) once")
    if jobs < 1 or bucket_bytes < 1:
        raise OptionsError("bad_option", "`jobs` and `bucket_bytes` must be positive")
    report = progress or (lambda phase, lines, nbytes: None)
    fetch = options.fetch or storage_fetch
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gtconsensus-merge-")))
        opened = [_records(stack.enter_context(open_read(p)), options, p) for p in paths]
        attributes = [attribute for _, attribute in opened]
        attribute = next((a for a in attributes if a is not None), None)
        count = _bucket_count(paths, bucket_bytes)
        with contextlib.ExitStack() as buckets:
            handles = [
                buckets.enter_context(open(folder / f"bucket-{i}", "wb")) for i in range(count)
            ]
            _partition([r for r, _ in opened], attributes, attribute, handles, report)
        sorted_files, failed = _group_all(
            folder, count, paths, attribute, fetch=fetch, jobs=jobs, report=report
        )
        provenance = _Provenance(folder / "provenance.jsonl")
        stack.callback(provenance.close)
        yield MergedInputs(folder, sorted_files, attribute, attributes, fetch, failed, provenance)


def consolidate_manifests(
    input_paths: Sequence[str],
    output_path: str | None,
    *,
    errors_path: str | None = None,
    options: ManifestOptions | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    chunk_lines: int = 8,
    resume: bool = False,
    bucket_bytes: int = _BUCKET_BYTES,
) -> RunSummary:
    """Consolidate several manifests at once, merging the answers given for one image.

    Parameters
    ----------
    input_paths : sequence of str
        Manifests or payload files (paths, ``file://`` or ``s3://`` URIs, ``-``
        once for standard input), oldest first: the same worker's later answer
        wins.
    output_path, errors_path, options, progress, jobs, chunk_lines
        As for :func:`~gtconsensus.adapters.manifest.consolidate_manifest`;
        ``progress`` sees two more phases first, ``"reading"`` (bytes of the
        inputs) and ``"merging"`` (lines grouped). An error record carries
        ``file`` and ``line`` (its first input line) and, for a merged object,
        ``sources`` (every input line).
    resume : bool, default False
        As for one input: a checkpoint beside the output, of every input (in
        order, with its size) and the options; a run that finds one of the same
        inputs and options continues after the last merged line written (the
        inputs are read and merged again, then only the lines not written yet
        are consolidated); with other inputs or options it starts over.
    bucket_bytes : int, default 32 MiB
        Input bytes per bucket, about (at most 512 buckets): what one process
        holds while grouping.

    Returns
    -------
    RunSummary
        ``lines`` counts objects (a merged object once) and lines that are not JSON.

    Raises
    ------
    OptionsError
        ``bad_option`` with no input, or ``-`` twice; before any input is read, an
        output or error file that cannot be written
        (:func:`~gtconsensus.adapters.manifest.check_outputs`).
    """
    paths = list(input_paths)
    options = options or ManifestOptions()
    if len(paths) == 1:
        return consolidate_manifest(
            paths[0], output_path, errors_path=errors_path, options=options, progress=progress,
            jobs=jobs, chunk_lines=chunk_lines, resume=resume,
        )  # fmt: skip
    check_outputs(output_path, errors_path)  # now, not after every input is read and merged
    with merged_inputs(
        paths, options, jobs=jobs, bucket_bytes=bucket_bytes, progress=progress
    ) as merge:

        def merged(_: ManifestOptions) -> tuple[Iterator[Record], str | None]:
            return merge.records(), merge.attribute

        return consolidate_manifest(
            " ".join(paths), output_path, errors_path=errors_path,
            options=merge.run_options(options),
            progress=progress, jobs=jobs, chunk_lines=chunk_lines, resume=resume,
            reader=merged, error_fields=merge.error_fields,
            input_key=input_key(paths, merge.attributes, options.fetch, merge.failed),
        )  # fmt: skip
