"""The job-level evidence table: what every candidate says about the workers, without pixels.

Pass 1 of the job-level method turns each object's :class:`~gtconsensus.ObjectEvidence`
into a few rows of an :class:`EvidenceTable`:

- per object: the workers who answered it;
- per candidate group (:func:`candidate_groups`: candidates that are drawings of
  one object which failed to match, most often a single candidate): the object it
  belongs to and its members;
- per member: the worker and its class;
- per pair of members of a candidate: their IoU.

A table holds no pixel, so a job of a million objects fits in memory. Tables
merge: :meth:`EvidenceTable.concat` of the tables of consecutive chunks is equal,
array for array, to the table of the whole (worker ids and class names are kept
in sorted vocabularies, rows in input order), so pass 1 can run on partitions.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.consensus import WorkerAnnotation, gather
>>> labels = np.zeros((4, 4), np.uint8); labels[1:3, 1:3] = 1
>>> evidence = gather([WorkerAnnotation(w, labels, ("Car",)) for w in ("b", "a")])
>>> table = EvidenceTable.from_evidence([evidence])
>>> table.worker_ids, table.n_objects, table.n_candidates, table.pair_iou.tolist()
(('a', 'b'), 1, 1, [1.0])
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from gtconsensus._typing import FloatArray, IntArray
from gtconsensus.consensus import ObjectEvidence
from gtconsensus.exceptions import OptionsError
from gtconsensus.fusion import Candidate, mask_iou, member_areas

__all__ = ["GROUP_IOU", "EvidenceTable", "TableBuilder", "candidate_groups", "pair_ious"]


def pair_ious(candidate: Candidate) -> list[tuple[int, int, float]]:
    """IoU of every pair of a candidate's members, as ``(slot, slot, iou)``: from the
    members' areas and overlaps when the candidate records them, else from the masks.

    Examples
    --------
    >>> from gtconsensus.fusion import Candidate
    >>> a = np.array([[True, True, False]]); b = np.array([[True, False, False]])
    >>> pair_ious(Candidate(((0, 1), (1, 1)), (0, 1, 0, 3), (a, b), ("Car", "Car")))
    [(0, 1, 0.5)]
    >>> pair_ious(Candidate(((0, 1), (1, 1)), (0, 1, 0, 3), (a, b), ("Car", "Car"), (2, 1), (1,)))
    [(0, 1, 0.5)]
    """
    masks = candidate.masks
    pairs = combinations(range(len(masks)), 2)
    if candidate.overlaps:
        areas = member_areas(candidate)
        return [
            (i, j, inter / union if (union := areas[i] + areas[j] - inter) else 0.0)
            for (i, j), inter in zip(pairs, candidate.overlaps, strict=True)
        ]
    return [(i, j, mask_iou(masks[i], masks[j])) for i, j in pairs]


#: Candidates whose members overlap above this IoU (below the matching threshold)
#: are taken as drawings of one object: sloppy drawings that missed the match.
GROUP_IOU = 0.2


def _cross_iou(first: Candidate, second: Candidate, areas: tuple[list[int], list[int]]) -> float:
    """The largest IoU between a member of ``first`` and a member of ``second``."""
    a0, a1, b0, b1 = first.window
    c0, c1, d0, d1 = second.window
    r0, r1, q0, q1 = max(a0, c0), min(a1, c1), max(b0, d0), min(b1, d1)
    if r1 <= r0 or q1 <= q0:
        return 0.0
    best = 0.0
    for mask, area in zip(first.masks, areas[0], strict=True):
        mine = mask[r0 - a0 : r1 - a0, q0 - b0 : q1 - b0]
        for other, other_area in zip(second.masks, areas[1], strict=True):
            inter = int(np.count_nonzero(mine & other[r0 - c0 : r1 - c0, q0 - d0 : q1 - d0]))
            if inter:
                best = max(best, inter / (area + other_area - inter))
    return best


def candidate_groups(
    evidence: ObjectEvidence, *, min_iou: float = GROUP_IOU
) -> list[tuple[int, ...]]:
    """Group candidates that are drawings of one object which failed to match.

    Two candidates with no worker in common join when some member of one
    overlaps some member of the other with an IoU above ``min_iou``; pairs are
    taken by descending IoU, and a group never holds two instances of one worker.
    Most groups are single candidates.

    Returns
    -------
    list of tuples of int
        Candidate indices, sorted within a group; groups sorted by first index.

    Examples
    --------
    >>> from gtconsensus.consensus import WorkerAnnotation, gather
    >>> a = np.zeros((1, 8), np.uint8); a[0, :4] = 1
    >>> b = np.zeros((1, 8), np.uint8); b[0, 2:8] = 1
    >>> evidence = gather([WorkerAnnotation("a", a, ("Car",)), WorkerAnnotation("b", b, ("Car",))])
    >>> len(evidence.candidates), candidate_groups(evidence)
    (2, [(0, 1)])
    """
    candidates = evidence.candidates
    areas = [list(member_areas(c)) for c in candidates]  # recorded, else counted
    edges = []
    for i in range(len(candidates)):
        for j in range(i + 1, len(candidates)):
            if set(candidates[i].workers) & set(candidates[j].workers):
                continue
            iou = _cross_iou(candidates[i], candidates[j], (areas[i], areas[j]))
            if iou > min_iou:
                edges.append((-iou, i, j))
    parent = list(range(len(candidates)))
    workers = [set(c.workers) for c in candidates]

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for _, i, j in sorted(edges):
        ri, rj = root(i), root(j)
        if ri != rj and not workers[ri] & workers[rj]:
            parent[max(ri, rj)] = min(ri, rj)
            workers[min(ri, rj)] |= workers[max(ri, rj)]
    groups: dict[int, list[int]] = {}
    for index in range(len(candidates)):
        groups.setdefault(root(index), []).append(index)
    return sorted(tuple(g) for g in groups.values())


_ARRAYS = (
    "object_offsets", "object_workers", "candidate_object", "member_offsets",
    "member_worker", "member_class", "pair_first", "pair_second", "pair_iou",
)  # fmt: skip


def _readonly(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, eq=False)
class EvidenceTable:
    """Compact per-candidate evidence of a job (ragged arrays, CSR style).

    Attributes
    ----------
    worker_ids : tuple of str
        Sorted; other arrays refer to workers by index into it.
    class_names : tuple of str
        Sorted; ``member_class`` indexes it.
    object_offsets : ndarray, shape (n_objects + 1,)
        Object ``o`` was answered by ``object_workers[object_offsets[o]:object_offsets[o + 1]]``.
    object_workers : ndarray
        Worker indices, sorted within each object.
    candidate_object : ndarray, shape (n_candidates,)
        The object of each candidate (non-decreasing).
    member_offsets : ndarray, shape (n_candidates + 1,)
        Candidate ``c``'s members are rows ``member_offsets[c]:member_offsets[c + 1]``.
    member_worker, member_class : ndarray, shape (n_members,)
    pair_first, pair_second : ndarray, shape (n_pairs,)
        Member rows of each pair (of one candidate), first < second.
    pair_iou : ndarray, shape (n_pairs,)
        The pair's IoU.
    """

    worker_ids: tuple[str, ...]
    class_names: tuple[str, ...]
    object_offsets: IntArray
    object_workers: IntArray
    candidate_object: IntArray
    member_offsets: IntArray
    member_worker: IntArray
    member_class: IntArray
    pair_first: IntArray
    pair_second: IntArray
    pair_iou: FloatArray

    def __post_init__(self) -> None:
        if self.object_offsets[-1] != len(self.object_workers) or (
            self.member_offsets[-1] != len(self.member_worker)
        ):
            raise OptionsError("bad_option", "evidence table offsets do not match its rows")
        for name in _ARRAYS:
            _readonly(getattr(self, name))

    @property
    def n_objects(self) -> int:
        """Objects in the table."""
        return len(self.object_offsets) - 1

    @property
    def n_candidates(self) -> int:
        """Candidates in the table."""
        return len(self.candidate_object)

    @property
    def member_candidate(self) -> IntArray:
        """The candidate of each member row."""
        sizes = np.diff(self.member_offsets)
        return np.repeat(np.arange(self.n_candidates, dtype=np.int64), sizes)

    @property
    def object_of_answer(self) -> IntArray:
        """The object of each ``object_workers`` entry."""
        sizes = np.diff(self.object_offsets)
        return np.repeat(np.arange(self.n_objects, dtype=np.int64), sizes)

    def objects_per_worker(self) -> IntArray:
        """How many objects each worker answered, shape ``(len(worker_ids),)``."""
        return np.bincount(self.object_workers, minlength=len(self.worker_ids)).astype(np.int64)

    def equals(self, other: EvidenceTable) -> bool:
        """Same vocabularies and the same arrays."""
        return (
            self.worker_ids == other.worker_ids
            and self.class_names == other.class_names
            and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _ARRAYS)
        )

    @classmethod
    def empty(cls) -> EvidenceTable:
        """A table of no object (the identity of :meth:`concat`)."""
        zero = np.zeros(1, dtype=np.int64)
        none = np.zeros(0, dtype=np.int64)
        return cls((), (), zero, none, none.copy(), zero.copy(), none.copy(), none.copy(),
                   none.copy(), none.copy(), np.zeros(0, dtype=np.float64))  # fmt: skip

    @classmethod
    def from_evidence(cls, evidences: Iterable[ObjectEvidence]) -> EvidenceTable:
        """The table of a sequence of objects (in order).

        Parameters
        ----------
        evidences : iterable of ObjectEvidence
            From :func:`gtconsensus.gather`; consumed once, streaming.
        """
        builder = TableBuilder()
        for evidence in evidences:
            builder.add(evidence)
        return builder.build()

    @classmethod
    def concat(cls, tables: Sequence[EvidenceTable]) -> EvidenceTable:
        """Merge tables of consecutive chunks into the table of the whole.

        Examples
        --------
        >>> EvidenceTable.concat([EvidenceTable.empty()] * 2).n_objects
        0
        """
        workers = tuple(sorted({w for t in tables for w in t.worker_ids}))
        names = tuple(sorted({n for t in tables for n in t.class_names}))
        worker_index = {w: i for i, w in enumerate(workers)}
        class_index = {n: i for i, n in enumerate(names)}
        parts: dict[str, list[npt.NDArray[np.generic]]] = {k: [] for k in _ARRAYS}
        objects = answers = candidates = members = 0
        for t in tables:
            w_map = np.array([worker_index[w] for w in t.worker_ids], dtype=np.int64)
            c_map = np.array([class_index[n] for n in t.class_names], dtype=np.int64)
            parts["object_offsets"].append(t.object_offsets[:-1] + answers)
            parts["object_workers"].append(w_map[t.object_workers] if len(w_map) else
                                           t.object_workers.copy())  # fmt: skip
            parts["candidate_object"].append(t.candidate_object + objects)
            parts["member_offsets"].append(t.member_offsets[:-1] + members)
            parts["member_worker"].append(w_map[t.member_worker] if len(w_map) else
                                          t.member_worker.copy())  # fmt: skip
            parts["member_class"].append(c_map[t.member_class] if len(c_map) else
                                         t.member_class.copy())  # fmt: skip
            parts["pair_first"].append(t.pair_first + members)
            parts["pair_second"].append(t.pair_second + members)
            parts["pair_iou"].append(t.pair_iou)
            objects += t.n_objects
            answers += len(t.object_workers)
            candidates += t.n_candidates
            members += len(t.member_worker)
        parts["object_offsets"].append(np.array([answers], dtype=np.int64))
        parts["member_offsets"].append(np.array([members], dtype=np.int64))

        def joined(name: str) -> IntArray:
            return np.concatenate(parts[name]).astype(np.int64, copy=False)

        return cls(
            workers, names,
            joined("object_offsets"), joined("object_workers"), joined("candidate_object"),
            joined("member_offsets"), joined("member_worker"), joined("member_class"),
            joined("pair_first"), joined("pair_second"),
            np.concatenate(parts["pair_iou"]).astype(np.float64, copy=False),
        )  # fmt: skip


def _ints(values: array[int]) -> IntArray:
    ints: IntArray = np.frombuffer(values, dtype=np.int64).copy()
    return ints


def _offsets(sizes: array[int]) -> IntArray:
    return np.concatenate([[0], np.cumsum(_ints(sizes))]).astype(np.int64)


class TableBuilder:
    """Accumulates objects one at a time (pass 1) and builds the table once.

    Memory is a few 8-byte numbers per candidate member (``array`` buffers, not
    Python lists); pixels never enter it.
    """

    def __init__(self) -> None:
        self._workers: dict[str, int] = {}
        self._classes: dict[str, int] = {}
        self._object_sizes = array("q")
        self._object_workers = array("q")
        self._candidate_object = array("q")
        self._member_sizes = array("q")
        self._member_worker = array("q")
        self._member_class = array("q")
        self._pair_first = array("q")
        self._pair_second = array("q")
        self._pair_iou = array("d")

    def add(self, evidence: ObjectEvidence) -> None:
        """Append one object's rows."""
        local = [self._workers.setdefault(w, len(self._workers)) for w in evidence.worker_ids]
        obj = len(self._object_sizes)
        self._object_sizes.append(len(local))
        self._object_workers.extend(local)
        for group in candidate_groups(evidence):
            self._candidate_object.append(obj)
            size = 0
            for candidate in (evidence.candidates[i] for i in group):
                base = len(self._member_worker)
                for i, j, iou in pair_ious(candidate):
                    self._pair_first.append(base + i)
                    self._pair_second.append(base + j)
                    self._pair_iou.append(iou)
                size += len(candidate.members)
                self._member_worker.extend(local[w] for w in candidate.workers)
                self._member_class.extend(
                    self._classes.setdefault(n, len(self._classes)) for n in candidate.classes
                )
            self._member_sizes.append(size)

    def build(self) -> EvidenceTable:
        """The table, with sorted vocabularies (so it equals any merge of its chunks)."""
        workers = sorted(self._workers)
        names = sorted(self._classes)
        w_map = np.zeros(len(workers), dtype=np.int64)
        for new, w in enumerate(workers):
            w_map[self._workers[w]] = new
        c_map = np.zeros(len(names), dtype=np.int64)
        for new, n in enumerate(names):
            c_map[self._classes[n]] = new
        object_workers = w_map[_ints(self._object_workers)]
        object_offsets = _offsets(self._object_sizes)
        # Keep each object's workers sorted by (new) index: ids are sorted already per object.
        return EvidenceTable(
            tuple(workers), tuple(names),
            object_offsets, object_workers,
            _ints(self._candidate_object),
            _offsets(self._member_sizes),
            w_map[_ints(self._member_worker)],
            c_map[_ints(self._member_class)],
            _ints(self._pair_first),
            _ints(self._pair_second),
            np.frombuffer(self._pair_iou, dtype=np.float64).copy(),
        )  # fmt: skip
