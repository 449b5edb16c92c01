"""The checkpoint of a resumable run (``--resume``): partial files and how far they go.

A resumable run writes its output and error file to ``<name>.partial`` (:func:`partial_path`)
and saves, every second or so, a checkpoint ``<output>.partial.json``: the run's
:func:`fingerprint` (what identifies the input and the options), the last input line
written, the partial files' sizes, the counts and per-worker tallies so far, the classes
seen and, with the job-level method, the fitted worker model. A run that finds a
checkpoint of the same fingerprint truncates the partial files to the sizes and skips the
lines written (:class:`Sink`, :func:`skip_done`); with a fitted model it skips pass 1 too
(:func:`fitted_before`). The driver is :func:`gtconsensus.adapters.manifest.consolidate_manifest`;
the Dask engine keeps the same checkpoint (:mod:`gtconsensus.adapters.dask_engine`), so
either engine resumes the other's run. ``docs/scale.md`` describes the behaviour.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gtconsensus.adapters.spool import Blob
from gtconsensus.adapters.storage import atomic_writer, identity, is_remote, is_stream, local_path
from gtconsensus.answers import Fetch
from gtconsensus.exceptions import OptionsError
from gtconsensus.lines import dumps
from gtconsensus.objects import GoldLabels
from gtconsensus.privacy import pseudonym
from gtconsensus.scoring import Agreement, WorkerTally
from gtconsensus.worker_model import WorkerModel

if TYPE_CHECKING:  # the manifest adapter imports this module: its types only, for annotations
    from gtconsensus.adapters.manifest import LineOutcome, ManifestOptions, RunSummary

__all__ = [
    "CHECKPOINT_S",
    "Sink",
    "fingerprint",
    "fitted_before",
    "gold_digest",
    "options_key",
    "partial_path",
    "save_on_error",
    "skip_done",
]

#: Seconds between checkpoints (``GTCONSENSUS_CHECKPOINT_S``).
CHECKPOINT_S = float(os.environ.get("GTCONSENSUS_CHECKPOINT_S", "1.0"))


def fingerprint(
    input_path: str,
    options: ManifestOptions,
    attribute: str | None,
    *,
    input_key: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed from (JSON values).

    The input (``input_key``, or ``input_path`` with its size and version,
    :func:`~gtconsensus.adapters.storage.identity`: an input edited since, even to the
    same size, starts the run over rather than mixing two versions), the options
    (:func:`options_key`) and the label attribute used; the driver adds the
    method of pass 2 (``"method"``) once it is known.

    Examples
    --------
    >>> from gtconsensus.adapters.manifest import ManifestOptions
    >>> key = fingerprint("no/such.manifest", ManifestOptions(), "gt-label")
    >>> key["input"], key["size"], key["attribute"]
    ('no/such.manifest', None, 'gt-label')
    >>> key == fingerprint("no/such.manifest", ManifestOptions(iou_threshold=0.6), "gt-label")
    False
    """
    return {
        **(input_key or _input_identity(input_path)),
        "options": options_key(options), "attribute": attribute,
    }  # fmt: skip


def _input_identity(path: str) -> dict[str, Any]:
    """One input in a checkpoint: its path, and its size and version from one ``stat``
    (:func:`~gtconsensus.adapters.storage.identity`)."""
    found_size, version = identity(path)
    return {"input": path, "size": found_size, "version": version}


#: What the checkpoint records of ``--pseudonymize``: the pseudonym of this id.
_CHECKPOINT_ID = "gtconsensus:checkpoint"


def options_key(options: ManifestOptions) -> list[Any]:
    """The options that shape the output lines, as JSON values (a gold set by its digest)."""
    model = options.worker_model
    return [
        options.label_attribute,
        options.element,
        options.iou_threshold,
        options.max_pixels,
        repr(options.limits),
        options.method,
        options.min_objects,
        None if model is None else model.to_json(),
        options.class_aware,
        _min_area_key(options.min_area),
        None if options.gold is None else gold_digest(options.gold),
        # Lines written before an interruption carry that run's worker ids: a run
        # with another secret (or none) must not resume from them. The checkpoint
        # keeps a keyed hash, never the secret.
        None if options.pseudonymize is None else pseudonym(_CHECKPOINT_ID, options.pseudonymize),
        # Lines that followed references and lines that did not (--no-follow) must not mix.
        fetch_key(options.fetch),
    ]


def fetch_key(fetch: Fetch | None) -> str | None:
    """A fetch as a checkpoint records it: by its name (``None``: the default).

    Examples
    --------
    >>> fetch_key(None), fetch_key(len)
    (None, 'len')
    """
    return None if fetch is None else getattr(fetch, "__qualname__", "custom")


def _min_area_key(min_area: int | Mapping[str, int]) -> Any:
    """``min_area`` as JSON gives it back: the saved fingerprint is compared to this one
    (``[class, n]`` lists; tuples would come back as lists and never match).

    Examples
    --------
    >>> _min_area_key({"person": 5, "car": 10}), _min_area_key(12)
    ([['car', 10], ['person', 5]], 12)
    """
    if not isinstance(min_area, Mapping):
        return min_area
    return [[name, area] for name, area in sorted(min_area.items())]


def gold_digest(gold: Mapping[str, GoldLabels]) -> str:
    """sha256 of a set of gold answers (what a resumed run checks it was given again)."""
    digest = hashlib.sha256()
    for ref in sorted(gold):
        labels, classes = gold[ref]
        digest.update(json.dumps([ref, list(labels.shape), str(labels.dtype), list(classes)],
                                 ensure_ascii=False).encode())  # fmt: skip
        digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def partial_path(target: str) -> str:
    """Where a resumable run writes ``target`` until it is complete.

    ``<target>.partial`` beside a local file; for an ``s3://`` target, a local
    file named after the URI in the temporary folder (uploaded at the end).

    Examples
    --------
    >>> partial_path("out/consensus.manifest")
    'out/consensus.manifest.partial'
    """
    if not is_remote(target):
        return f"{local_path(target)}.partial"
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "gtconsensus-resume"
    folder.mkdir(mode=0o700, exist_ok=True)
    return str(folder / f"{digest}.partial")


def fitted_before(
    output_path: str | None, fingerprint: dict[str, Any]
) -> tuple[WorkerModel, str, float] | None:
    """The worker model, method and median objects per worker of an interrupted run's
    checkpoint, when it is of this input and these options (``None`` otherwise)."""
    if output_path is None or output_path == "-":
        return None
    checkpoint = Path(f"{partial_path(output_path)}.json")
    try:
        saved = json.loads(checkpoint.read_text(encoding="utf-8"))
        previous = dict(saved["fingerprint"])
        method = previous.pop("method")
        if previous != fingerprint or not saved.get("fitted"):
            return None
        text, fitted_method, objects = saved["fitted"]
        if fitted_method != method:
            return None
        return WorkerModel.from_json(text), str(method), float(objects)
    except (OSError, ValueError, KeyError, TypeError, OptionsError):
        return None


@contextlib.contextmanager
def save_on_error(sink: Sink) -> Iterator[None]:
    """Save the checkpoint when an exception (Ctrl-C included) leaves the block."""
    try:
        yield
    except BaseException:
        sink.interrupted()
        raise


def skip_done(blobs: Iterator[Blob], done_through: int) -> Iterator[Blob]:
    """Blobs holding lines not written yet (a resumed run's pass 2).

    Examples
    --------
    >>> blobs = [[(1, None, {}), (2, None, {})], [(3, None, {})]]
    >>> [blob[0][0] for blob in skip_done(iter(blobs), 2)]
    [3]
    """
    for blob in blobs:
        if done_through < 0 or blob[-1][0] > done_through:
            yield blob


class Sink:
    """The output and error files of a run; with ``resume``, checkpointed for a restart.

    Without ``resume`` both files are written atomically (temporary name,
    renamed at the end). With ``resume`` they are written to ``<name>.partial``
    (for an ``s3://`` target, a local file uploaded at the end: see
    :func:`partial_path`) with a checkpoint ``<output>.partial.json`` saved
    every ``every`` seconds (after the files are flushed to disk): the last
    input line written, the files' sizes and the counts so far. A run that
    finds a checkpoint of the same :func:`fingerprint` (and of the same files)
    truncates the partial files to the checkpointed sizes and skips the lines
    already written. An error file that is ``-``, a pipe or a device is written in
    place as the run goes, not checkpointed (a partial file renamed over it would
    replace it); an output that is one keeps no checkpoint at all.
    """

    def __init__(
        self, stack: contextlib.ExitStack, output: str | None, errors: str | None, *,
        resume: bool, fingerprint: dict[str, Any], summary: RunSummary,
        every: float = CHECKPOINT_S,
    ) -> None:  # fmt: skip
        self.summary = summary
        self._every = every
        self.done_through = -1  # every input line up to this number is written
        self.resume = resume and _rewritable(output)
        self._last_save = time.monotonic()
        if not self.resume:
            self.out = stack.enter_context(atomic_writer(output))
            self.err = stack.enter_context(atomic_writer(errors)) if errors else None
            return
        assert output is not None
        checkpointed = errors if _rewritable(errors) else None
        self._targets = [output] + ([checkpointed] if checkpointed else [])
        self._partials = [partial_path(p) for p in self._targets]
        self._checkpoint = Path(f"{partial_path(output)}.json")
        self._fingerprint = fingerprint
        sizes = self._restore()
        handles = []
        for partial, offset in zip(self._partials, sizes, strict=True):
            Path(partial).parent.mkdir(parents=True, exist_ok=True)
            handle = open(partial, "a+b")  # noqa: SIM115 - closed by the stack
            stack.callback(handle.close)
            handle.truncate(offset)
            handle.seek(offset)
            handles.append(io.TextIOWrapper(handle, encoding="utf-8", newline="\n"))
        self._handles = handles
        self.out = handles[0]
        self.err = handles[1] if checkpointed else None
        if errors and not checkpointed:  # written as the run goes
            self.err = stack.enter_context(atomic_writer(errors))

    def _restore(self) -> list[int]:
        zero = [0] * len(self._partials)
        try:
            saved = json.loads(self._checkpoint.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return zero
        if not isinstance(saved, dict) or saved.get("fingerprint") != self._fingerprint:
            return zero
        if len(saved["sizes"]) != len(self._partials):  # of other files (no error file)
            return zero
        if any(not Path(p).is_file() or Path(p).stat().st_size < n
               for p, n in zip(self._partials, saved["sizes"], strict=True)):  # fmt: skip
            return zero
        self.done_through = int(saved["line"])
        self.summary.resumed_after = self.done_through
        s = self.summary
        s.lines, s.consolidated, s.failed, s.rejected_answers = saved["counts"]
        s.tallies = {w: _tally_from_json(t) for w, t in saved["tallies"]}
        s.gold_lines, seen = saved["gold"]
        s.gold_seen = set(seen)
        if "classes" in saved:
            s.classes_seen = set(saved["classes"])
        else:  # a checkpoint of an older version: the classes seen before are unknown
            s.classes_known = False
        return [int(n) for n in saved["sizes"]]

    def write(self, outcome: LineOutcome) -> None:
        if outcome.output is not None:
            self.out.write(outcome.output + "\n")
        if outcome.error is not None and self.err is not None:
            self.err.write(dumps(outcome.error) + "\n")
        self.done_through = outcome.number
        if self.resume and time.monotonic() - self._last_save > self._every:
            self.save()

    def save(self) -> None:
        """Flush the partial files to disk, then record how far they go."""
        sizes = []
        for handle in self._handles:
            handle.flush()
            os.fsync(handle.buffer.fileno())
            sizes.append(handle.buffer.tell())
        s = self.summary
        state = {
            "fingerprint": self._fingerprint,
            "line": self.done_through,
            "sizes": sizes,
            "counts": [s.lines, s.consolidated, s.failed, s.rejected_answers],
            "tallies": [[w, _tally_to_json(t)] for w, t in s.tallies.items()],
            "gold": [s.gold_lines, sorted(s.gold_seen)],
            "classes": sorted(s.classes_seen),
            "fitted": None
            if s.model is None
            else [s.model.to_json(), s.method, s.objects_per_worker],
        }
        temporary = self._checkpoint.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self._checkpoint)
        self._last_save = time.monotonic()

    def interrupted(self) -> None:
        """Record how far the files go before an exception leaves the run."""
        if self.resume:
            self.save()

    def commit(self) -> None:
        """Put the finished files in place (the atomic writers do it on their own)."""
        if not self.resume:
            return
        for handle in (self.out, self.err):
            if handle is not None:
                handle.flush()
        for partial, target in zip(self._partials, self._targets, strict=True):
            if is_remote(target):  # uploaded whole, atomically, then the local copy goes
                with (
                    open(partial, encoding="utf-8", newline="") as done,
                    atomic_writer(target) as upload,
                ):
                    for piece in iter(lambda: done.read(1 << 22), ""):
                        upload.write(piece)
                os.unlink(partial)
            else:
                os.replace(partial, local_path(target))
        self._checkpoint.unlink(missing_ok=True)


def _rewritable(path: str | None) -> bool:
    """Whether a resumed run can truncate ``path`` back to a checkpoint and replace it:
    not standard output (``-``), a pipe or a device (``/dev/stderr``), written in place.

    Examples
    --------
    >>> _rewritable("out.manifest"), _rewritable("-"), _rewritable("/dev/null"), _rewritable(None)
    (True, False, False, False)
    """
    return path is not None and path != "-" and not is_stream(local_path(path))


def _tally_to_json(tally: WorkerTally) -> list[Any]:
    return [tally.objects, tally.compared, tally.instances,
            list(astuple(tally.versus_others)), list(astuple(tally.versus_consensus))]  # fmt: skip


def _tally_from_json(data: list[Any]) -> WorkerTally:
    objects, compared, instances, others, consensus = data
    return WorkerTally(objects, compared, instances, Agreement(*others), Agreement(*consensus))
