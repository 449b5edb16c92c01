"""A temporary spool of prepared lines between the two passes of the job-level method.

Pass 1 writes each line's :class:`~gtconsensus.lines.PreparedLine` here, without
its decoded label images: candidates keep their member masks cropped to their
windows, bit-packed (one bit per pixel), and the members' recorded areas and overlaps.
Pass 2 reads the records back in order, so no PNG is decoded twice and memory holds
one line at a time.

The file is a pickle stream written and read by the same process, in a private
temporary file (mode 0600) deleted on close; nothing from the input is ever
unpickled, only what this module wrote.

Examples
--------
>>> from gtconsensus.lines import prepare_line
>>> with Spool() as spool:
...     spool.write(7, "{oops", prepare_line("{oops"))
...     [(n, raw, p.error.code) for n, raw, p in spool.replay()]
[(7, '{oops', 'bad_json')]
"""

from __future__ import annotations

import dataclasses
import pickle
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any

import numpy as np

from gtconsensus.answers import Answers
from gtconsensus.consensus import ObjectEvidence
from gtconsensus.exceptions import GtConsensusError
from gtconsensus.fusion import Candidate
from gtconsensus.lines import PreparedLine
from gtconsensus.objects import PreparedObject

__all__ = ["Blob", "Spool", "pack_records", "unpack_records"]


def _pack_error(error: GtConsensusError | None) -> tuple[type[GtConsensusError], str, str] | None:
    # The exception classes take (code, message); pickle would call them with the message only.
    return None if error is None else (type(error), error.code, error.message)


def _unpack_error(
    packed: tuple[type[GtConsensusError], str, str] | None,
) -> GtConsensusError | None:
    if packed is None:
        return None
    kind, code, message = packed
    return kind(code, message)


def _pack_candidate(candidate: Candidate) -> tuple[Any, ...]:
    # The recorded areas and overlaps travel too (a few numbers): pass 2 then fuses as a
    # one-pass run does, without counting the members' pixels again.
    r0, r1, c0, c1 = candidate.window
    bits = np.packbits(np.stack(candidate.masks).ravel()) if candidate.masks else b""
    shape = (r1 - r0, c1 - c0)
    return (candidate.members, candidate.window, candidate.classes, shape, bits,
            candidate.areas, candidate.overlaps)  # fmt: skip


def _unpack_candidate(packed: tuple[Any, ...]) -> Candidate:
    members, window, classes, (rows, cols), bits, areas, overlaps = packed
    count = len(members) * rows * cols
    flat = np.unpackbits(bits, count=count).astype(bool) if count else np.zeros(0, bool)
    stack = flat.reshape(len(members), rows, cols)
    stack.flags.writeable = False
    masks = tuple(stack[i] for i in range(len(members)))
    return Candidate(members, window, masks, classes, areas, overlaps)


def _pack_evidence(evidence: ObjectEvidence) -> dict[str, Any]:
    fields = {f.name: getattr(evidence, f.name) for f in dataclasses.fields(evidence)}
    fields["candidates"] = [_pack_candidate(c) for c in evidence.candidates]
    return fields


def _unpack_evidence(fields: dict[str, Any]) -> ObjectEvidence:
    candidates = tuple(_unpack_candidate(c) for c in fields["candidates"])
    return ObjectEvidence(**{**fields, "candidates": candidates})


def _pack_line(prepared: PreparedLine) -> dict[str, Any]:
    obj = prepared.obj
    packed_obj = None
    if obj is not None:
        answers = obj.answers
        packed_obj = {
            "original": obj.original,
            # The decoded label images are not needed any more: pass 2 uses the evidence.
            "answers": None
            if answers is None
            else (answers.rejected, answers.element, answers.size),
            "evidence": None if obj.evidence is None else _pack_evidence(obj.evidence),
            "error": _pack_error(obj.error),
            "gold": obj.gold,
            "classes": obj.classes,
        }
    return {
        "parsed": prepared.parsed,
        "attribute": prepared.attribute,
        "obj": packed_obj,
        "error": _pack_error(prepared.error),
    }


def _unpack_line(packed: dict[str, Any]) -> PreparedLine:
    obj = None
    if packed["obj"] is not None:
        o = packed["obj"]
        answers = None if o["answers"] is None else Answers((), *o["answers"])
        evidence = None if o["evidence"] is None else _unpack_evidence(o["evidence"])
        error = _unpack_error(o["error"])
        obj = PreparedObject(o["original"], answers, evidence, error, o["gold"], o["classes"])
    return PreparedLine(packed["parsed"], packed["attribute"], obj, _unpack_error(packed["error"]))


#: Consecutive records in packed form (no decoded image, masks bit-packed): what a worker
#: process sends the parent in pass 1, and the parent sends a worker in pass 2.
Blob = list[tuple[int, "str | None", dict[str, Any]]]


def pack_records(records: list[tuple[int, str | None, PreparedLine]]) -> Blob:
    """One spool blob of consecutive records."""
    return [(n, raw, _pack_line(p)) for n, raw, p in records]


def unpack_records(blob: Blob) -> list[tuple[int, str | None, PreparedLine]]:
    """The records of a blob made by :func:`pack_records`."""
    return [(n, raw, _unpack_line(packed)) for n, raw, packed in blob]


class Spool:
    """Records ``(line number, raw text or None, PreparedLine)`` in a temporary file.

    Use as a context manager; :meth:`replay` reads the records back in the order
    they were written.
    """

    def __init__(self, directory: str | None = None) -> None:
        # Closed by __exit__: the spool lives across the two passes, not one block.
        self._file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="gtconsensus-spool-", dir=directory
        )
        self.records = 0
        self.blobs = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    def write(self, number: int, raw: str | None, prepared: PreparedLine) -> None:
        """Append one line's record (``raw`` is kept only when it may be needed)."""
        self.write_blob(pack_records([(number, raw, prepared)]), 1)

    def write_blob(self, blob: Blob, count: int) -> None:
        """Append a blob of ``count`` records made by :func:`pack_records`."""
        pickle.dump(blob, self._file, protocol=5)
        self.blobs += 1
        self.records += count

    def replay_blobs(self) -> Iterator[Blob]:
        """The blobs, in order (for pass 2 in worker processes)."""
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.blobs):
            blob: Blob = pickle.load(self._file)  # our own records
            yield blob

    def replay(self) -> Iterator[tuple[int, str | None, PreparedLine]]:
        """The records, in order (the spool can be replayed again afterwards)."""
        for blob in self.replay_blobs():
            yield from unpack_records(blob)
