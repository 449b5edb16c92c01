"""A batch of data objects that share workers: the post-annotation Lambda's unit of work.

Ground Truth hands the Lambda many objects at once, and the same workers answer
many of them, so the batch says more about each worker than any one image does.
:func:`consolidate_batch` picks one method for the whole batch:

1. ``job-level``: a worker model learned on the job by
   :func:`gtconsensus.job.fit_worker_model` (:class:`~gtconsensus.worker_model.WorkerModel`):
   its reliabilities weigh the votes and its existence posteriors decide the
   candidates, as in the offline job-level pass 2;
   ``worker-model``: plain per-worker weights given by the caller
   (:func:`model_weights`); a worker they do not list weighs their median.
2. ``batch-weighted``: when the median worker of the batch answered at least
   ``min_median_objects`` objects (default 20, as for the job-level method).
   Pass 1 reads every object and decides it per image; each worker's leave-one-out
   agreement is summed over the batch into a PQ, shrunk towards the batch's PQ
   (:func:`batch_weights`); pass 2 decides every object again with those weights,
   from the evidence kept in pass 1 (no PNG is decoded twice; member masks are
   kept bit-packed, 1/8 of a byte per pixel).
3. ``per-image-majority`` otherwise, one object at a time.

Pure apart from the ``fetch`` callable that reads answers given by ``s3Uri`` and
the optional ``remaining`` callable that says how much time is left: when the
time runs short the batch stops deciding, and every object not yet decided
comes out failed with the code ``deadline``, its raw answers kept.

Examples
--------
>>> from gtconsensus.scoring import Agreement
>>> batch_weights({"good": (Agreement(tp=40, iou_sum=36.0), 40),
...                "spammer": (Agreement(fp=40, fn=40), 40)})
{'good': 0.85, 'spammer': 0.05}
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gtconsensus.answers import Answers, Fetch, Rejection
from gtconsensus.consensus import METHOD_MAJORITY, ObjectEvidence, decide
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import ConsolidationError, GtConsensusError, OptionsError
from gtconsensus.fusion import Candidate
from gtconsensus.job import METHOD_JOB
from gtconsensus.masks import DEFAULT_MAX_PIXELS
from gtconsensus.objects import (
    ObjectResult,
    PreparedObject,
    failed_object,
    finish_object,
    prepare_object,
)
from gtconsensus.scoring import Agreement
from gtconsensus.worker_model import WorkerModel

__all__ = [
    "DEADLINE",
    "METHOD_BATCH",
    "METHOD_MODEL",
    "BatchResult",
    "Remaining",
    "answers_per_worker",
    "batch_weights",
    "consolidate_batch",
    "each_in_time",
    "model_weights",
]

#: ``consensus.method`` when workers are weighted by their agreement over the batch.
METHOD_BATCH = "batch-weighted"
#: ``consensus.method`` when weights come from a job-level worker model.
METHOD_MODEL = "worker-model"
#: Weights never go below this, so that no worker is silenced entirely.
MIN_WEIGHT = 0.05
#: Objects' worth of the batch's own PQ mixed into each worker's (shrinkage).
PRIOR_OBJECTS = 5
#: ``consensus.error.code`` of an object left undecided because the time ran out.
DEADLINE = "deadline"
#: Seconds left for the batch's work, asked before each object (``consolidate_batch``).
Remaining = Callable[[], float]
#: Pass 2 of the batch method costs at most this share of pass 1 per object (measured:
#: 7 to 41 %, fetching from S3 excluded), so pass 1 keeps that much time for each
#: object it reads.
PASS2_SHARE = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class BatchResult:
    """The objects of a batch, consolidated, and how.

    Attributes
    ----------
    results : tuple of ObjectResult
        One per input object, in input order.
    method : str
        The method used for every object.
    weights : dict of str to float, or None
        The per-worker weights used (``None`` for the per-image method).
    workers : int
        Distinct workers in the batch (by the ``workerId`` of the raw answers).
    """

    results: tuple[ObjectResult, ...]
    method: str
    weights: dict[str, float] | None
    workers: int


def answers_per_worker(objects: Sequence[Sequence[object]]) -> Counter[str]:
    """How many objects each worker answered, from the raw answers' ``workerId``.

    Examples
    --------
    >>> answers_per_worker([[{"workerId": "a"}, {"workerId": "b"}], [{"workerId": "a"}], [5]])
    Counter({'a': 2, 'b': 1})
    """
    counts: Counter[str] = Counter()
    for raws in objects:
        ids = {r.get("workerId", r.get("worker_id")) for r in raws if isinstance(r, dict)}
        counts.update(i for i in ids if isinstance(i, str))
    return counts


def batch_weights(
    tallies: Mapping[str, tuple[Agreement, int]], *, prior_objects: int = PRIOR_OBJECTS
) -> dict[str, float]:
    """Per-worker weights from their leave-one-out agreement summed over a batch.

    Parameters
    ----------
    tallies : mapping of str to (Agreement, int)
        Per worker: the summed agreement with the consensus of the others, and the
        number of objects on which it was compared.
    prior_objects : int, default 5
        The worker's PQ is mixed with the batch's PQ as if the worker had that many
        more objects at the batch's level: ``(n * pq + k * pq_batch) / (n + k)``.

    Returns
    -------
    dict of str to float
        In ``[0.05, 1]``, rounded to 4 decimals, sorted by worker id.
    """
    total = sum((agreement for agreement, _ in tallies.values()), Agreement())
    prior = total.pq
    weights = {}
    for worker_id in sorted(tallies):
        agreement, n = tallies[worker_id]
        shrunk = (n * agreement.pq + prior_objects * prior) / (n + prior_objects)
        weights[worker_id] = round(min(max(shrunk, MIN_WEIGHT), 1.0), 4)
    return weights


def model_weights(document: object) -> dict[str, float]:
    """Per-worker weights from a worker-model document.

    The accepted shape is ``{"workers": {"<workerId>": {"reliability": float}}}``
    (other keys are ignored); reliabilities are clipped to ``[0.05, 1]``.

    Raises
    ------
    OptionsError
        ``bad_worker_model`` when the shape or a reliability is wrong.

    Examples
    --------
    >>> model_weights({"workers": {"a": {"reliability": 0.9}, "b": {"reliability": 0.0}}})
    {'a': 0.9, 'b': 0.05}
    """
    workers = document.get("workers") if isinstance(document, dict) else None
    if not isinstance(workers, dict):
        raise OptionsError(
            "bad_worker_model", 'worker model must be {"workers": {"<workerId>": {...}}}'
        )
    weights = {}
    for worker_id, entry in workers.items():
        value = entry.get("reliability") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionsError(
                "bad_worker_model",
                f"`workers.{worker_id}.reliability` must be a number, got {value!r:.40}",
            )
        if not math.isfinite(value):
            raise OptionsError(
                "bad_worker_model", f"`workers.{worker_id}.reliability` must be finite"
            )
        weights[str(worker_id)] = min(max(float(value), MIN_WEIGHT), 1.0)
    return weights


@dataclass(frozen=True, slots=True, eq=False)
class _Kept:
    """A prepared object held between the passes: no label images, masks bit-packed."""

    prepared: PreparedObject
    packed: tuple[tuple[Any, ...], ...]  # per candidate, per member: packbits array


def _keep(prepared: PreparedObject) -> _Kept:
    answers, evidence = prepared.answers, prepared.evidence
    if answers is not None:  # the decoded label images are not needed any more
        answers = Answers((), answers.rejected, answers.element, answers.size)
    packed: tuple[tuple[Any, ...], ...] = ()
    if evidence is not None:
        packed = tuple(tuple(np.packbits(m) for m in c.masks) for c in evidence.candidates)
        emptied = tuple(dataclasses.replace(c, masks=()) for c in evidence.candidates)
        evidence = dataclasses.replace(evidence, candidates=emptied)
    slim = dataclasses.replace(prepared, answers=answers, evidence=evidence)
    return _Kept(slim, packed)


def _unpack_candidate(candidate: Candidate, packed: tuple[Any, ...]) -> Candidate:
    r0, r1, c0, c1 = candidate.window
    shape = (r1 - r0, c1 - c0)
    masks = []
    for bits in packed:
        mask = np.unpackbits(bits, count=shape[0] * shape[1]).view(np.bool_).reshape(shape)
        mask.flags.writeable = False
        masks.append(mask)
    return dataclasses.replace(candidate, masks=tuple(masks))


def _restore(kept: _Kept) -> PreparedObject:
    evidence: ObjectEvidence | None = kept.prepared.evidence
    if evidence is None:
        return kept.prepared
    candidates = tuple(
        _unpack_candidate(c, p) for c, p in zip(evidence.candidates, kept.packed, strict=True)
    )
    return dataclasses.replace(
        kept.prepared, evidence=dataclasses.replace(evidence, candidates=candidates)
    )


def _object_weights(
    prepared: PreparedObject, weights: Mapping[str, float], default: float
) -> dict[str, float]:
    ids = () if prepared.evidence is None else prepared.evidence.worker_ids
    return {w: weights.get(w, default) for w in ids}


def _leave_one_out(prepared: PreparedObject) -> list[tuple[str, Agreement]]:
    """Each worker's agreement with the others on one object, under the per-image method."""
    if prepared.evidence is None:
        return []
    try:
        workers = decide(prepared.evidence).workers
    except GtConsensusError:  # the object fails again in pass 2, with its error
        return []
    return [(s.worker_id, s.versus_others) for s in workers if s.versus_others is not None]


class _Pace:
    """Whether there is time for more objects: the time left against the cost so far.

    The time is asked once before each object. An object is taken to cost the
    mean of those done since the first question (one pace per pass); before the
    first one, any time left is enough.

    Examples
    --------
    >>> clock = iter([10.0, 9.0, 8.0])  # seconds left, at each question
    >>> pace = _Pace(lambda: next(clock))
    >>> pace.allows(), pace.tick(), pace.allows(), pace.tick(), pace.allows(8)
    (True, None, True, None, False)
    """

    def __init__(self, remaining: Remaining | None) -> None:
        self._remaining = remaining
        self._start: float | None = None
        self._done = 0

    def tick(self) -> None:
        """One more object done."""
        self._done += 1

    def allows(self, objects: float = 1.0) -> bool:
        """Whether ``objects`` more objects, at the mean cost so far, fit in the time left."""
        if self._remaining is None:
            return True
        left = self._remaining()
        if self._start is None:
            self._start = left
        mean = (self._start - left) / self._done if self._done else 0.0
        return left > mean * objects


def _late(
    original: Mapping[str, Any] | None,
    method: str,
    rejected: tuple[Rejection, ...] = (),
) -> ObjectResult:
    """An object the time did not allow to decide: its raw answers and ``deadline``."""
    error = ConsolidationError(
        "deadline",
        "the batch's time ran out before this object was consolidated; its answers are "
        "kept (consolidate it offline, or give the batch more time)",
    )
    return failed_object(original, error, rejected, method=method)


def each_in_time(
    objects: Sequence[Sequence[object]],
    one: Callable[[Sequence[object]], ObjectResult],
    *,
    remaining: Remaining | None = None,
    method: str = METHOD_MAJORITY,
) -> list[ObjectResult]:
    """``one`` on each object while there is time; the others come out failed (``deadline``).

    Parameters
    ----------
    objects : sequence of sequence
        Per object, its raw answers.
    one : callable
        Consolidates one object's raw answers.
    remaining : callable, optional
        Seconds left, asked before each object; ``None``: no deadline. An object
        is started only while the time left exceeds the mean cost of those done.
    method : str
        ``consensus.method`` of the objects left undecided.

    Examples
    --------
    >>> done = lambda raws: ObjectResult({"answers": list(raws)}, None, None, ())
    >>> clock = iter([1.0, 0.2])  # seconds left, before each object
    >>> results = each_in_time([["a"], ["b"]], done, remaining=clock.__next__)
    >>> results[0].value, results[1].value["consensus"]["error"]["code"]
    ({'answers': ['a']}, 'deadline')
    """
    pace = _Pace(remaining)
    results: list[ObjectResult] = []
    for raws in objects:
        if not pace.allows():
            break
        results.append(one(raws))
        pace.tick()
    late = objects[len(results) :]
    return results + [_late({RAW_KEY: list(raws)}, method) for raws in late]


def consolidate_batch(
    objects: Sequence[Sequence[object]],
    *,
    element: str | None = None,
    iou_threshold: float = 0.5,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fetch: Fetch | None = None,
    worker_weights: Mapping[str, float] | None = None,
    worker_model: WorkerModel | None = None,
    min_median_objects: int = 20,
    keep_consensus: bool = True,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
    remaining: Remaining | None = None,
) -> BatchResult:
    """Consolidate the objects of one batch, weighting workers by the whole batch.

    Parameters
    ----------
    objects : sequence of sequence
        Per object, its raw answers (``annotations`` of the payload).
    element, iou_threshold, max_pixels, fetch
        As for :func:`gtconsensus.consolidate_line`.
    worker_weights : mapping of str to float, optional
        Per-worker weights (method ``worker-model``).
    worker_model : WorkerModel, optional
        A job-level worker model (method ``job-level``); it wins over
        ``worker_weights``.
    min_median_objects : int, default 20
        The batch method is used when the median worker answered at least this
        many objects of the batch.
    keep_consensus : bool, default True
        False drops each result's :class:`~gtconsensus.Consensus` (a full-size
        label image) once its value is built: a batch of 1,000 images of
        1920x1080 would otherwise hold 2 GB of label images.
    class_aware, min_area
        As for :func:`gtconsensus.consensus.gather`.
    remaining : callable, optional
        Seconds left for the batch, asked before each object (``None``: no
        deadline). An object is started only while the time left exceeds the mean
        cost of the objects done so far; once one is not, every object not yet
        decided comes out failed with the code ``deadline`` (:data:`DEADLINE`),
        its raw answers kept. The batch method's pass 1 keeps time for pass 2
        (:data:`PASS2_SHARE` of its own cost per object read); should it stop
        early, the method is chosen again from the objects it read, and these are
        decided as a batch of their own would be. An object pass 1 already found
        unusable keeps its own error. A batch that finishes in time comes out
        exactly as without ``remaining``.

    Returns
    -------
    BatchResult
        The value of each object is the output contract's, with the raw answers
        under ``annotationsFromAllWorkers``.
    """
    counts = answers_per_worker(objects)

    def finish(prepared: PreparedObject, **options: Any) -> ObjectResult:
        result = finish_object(prepared, **options)
        return result if keep_consensus else dataclasses.replace(result, consensus=None)

    def prepare(raws: Sequence[object]) -> PreparedObject:
        return prepare_object(
            raws, original={RAW_KEY: list(raws)}, element=element,
            iou_threshold=iou_threshold, max_pixels=max_pixels, fetch=fetch,
            class_aware=class_aware, min_area=min_area,
        )  # fmt: skip

    if worker_model is not None:
        weights = worker_model.weights()

        def by_model(raws: Sequence[object]) -> ObjectResult:
            prepared = prepare(raws)
            evidence = prepared.evidence
            existence = None if evidence is None else worker_model.existence(evidence)
            return finish(prepared, weights=weights, existence=existence, method=METHOD_JOB)

        results = each_in_time(objects, by_model, remaining=remaining, method=METHOD_JOB)
        return BatchResult(tuple(results), METHOD_JOB, weights, len(counts))
    if worker_weights is not None:
        known = dict(worker_weights)
        default = statistics.median(known.values()) if known else 1.0

        def by_weights(raws: Sequence[object]) -> ObjectResult:
            prepared = prepare(raws)
            weights = _object_weights(prepared, known, default)
            return finish(prepared, weights=weights, method=METHOD_MODEL)

        results = each_in_time(objects, by_weights, remaining=remaining, method=METHOD_MODEL)
        return BatchResult(tuple(results), METHOD_MODEL, known, len(counts))
    if not counts or statistics.median(counts.values()) < min_median_objects:
        results = each_in_time(objects, lambda raws: finish(prepare(raws)), remaining=remaining)
        return BatchResult(tuple(results), METHOD_MAJORITY, None, len(counts))
    kept: list[_Kept] = []
    tallies: dict[str, tuple[Agreement, int]] = {}
    pace = _Pace(remaining)
    for raws in objects:
        if not pace.allows(1 + PASS2_SHARE * (len(kept) + 1)):
            break
        prepared = prepare(raws)
        for worker_id, agreement in _leave_one_out(prepared):
            total, n = tallies.get(worker_id, (Agreement(), 0))
            tallies[worker_id] = (total + agreement, n + 1)
        kept.append(_keep(prepared))
        pace.tick()
    method = METHOD_BATCH
    learned: dict[str, float] | None = batch_weights(tallies)
    if len(kept) < len(objects):  # cut short: the method the objects read call for
        read = answers_per_worker(objects[: len(kept)])
        if not read or statistics.median(read.values()) < min_median_objects:
            method, learned = METHOD_MAJORITY, None
    results = []
    pace = _Pace(remaining)
    for item in kept:
        if not pace.allows():
            break
        prepared = _restore(item)
        if learned is None:
            results.append(finish(prepared))
        else:
            chosen = _object_weights(prepared, learned, 1.0)
            results.append(finish(prepared, weights=chosen, method=METHOD_BATCH))
        pace.tick()
    for k in kept[len(results) :]:
        if k.prepared.evidence is None or k.prepared.answers is None:  # failed in pass 1
            results.append(finish(k.prepared, method=method))  # its own error, at no cost
        else:
            results.append(_late(k.prepared.original, method, k.prepared.rejected))
    results += [_late({RAW_KEY: list(raws)}, method) for raws in objects[len(kept) :]]
    return BatchResult(tuple(results), method, learned, len(counts))
