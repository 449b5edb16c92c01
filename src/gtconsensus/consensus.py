"""The pipeline for one data object: workers' label images in, one consensus out.

:func:`consolidate` runs matching, fusion and scoring on decoded answers. It is
pure: arrays in, a frozen :class:`Consensus` out, no I/O. Workers are processed
in the order of their ids, and every tie is broken by geometry (first pixel in
raster order), so the result does not depend on the order of the answers or on
the colours and order of each worker's instances.

Confidence (Ground Truth's convention: in [0, 1], 0.0 with a single worker):

- per instance: ``support share x mean IoU`` of the members with the fused shape,
  where the support share is the members' weight over all answering workers'
  weight;
- per image: the mean over workers of their leave-one-out PQ (agreement with the
  consensus of the others); 1.0 when every worker agrees exactly.

Examples
--------
>>> import numpy as np
>>> labels = np.zeros((4, 4), np.uint8); labels[1:3, 1:3] = 1
>>> answers = [WorkerAnnotation(w, labels, ("Car",)) for w in ("a", "b", "c")]
>>> result = consolidate(answers)
>>> [i.label for i in result.instances], result.instances[0].confidence, result.confidence
(['Car'], 1.0, 1.0)
>>> [w.score for w in result.workers]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gtconsensus._typing import IntArray, LabelImage
from gtconsensus.exceptions import InputError, OptionsError
from gtconsensus.fusion import Candidate, candidate_votes, fuse_instances, gather_candidate
from gtconsensus.matching import (
    InstanceStats,
    cluster_instances,
    instance_stats,
    intersections,
    iou_from_intersections,
    match_pairs,
)
from gtconsensus.scoring import (
    Agreement,
    WorkerTally,
    score_against_fusion,
    score_leave_one_out,
)

__all__ = [
    "METHOD_MAJORITY",
    "Consensus",
    "ConsensusInstance",
    "ObjectEvidence",
    "WorkerAnnotation",
    "WorkerScore",
    "consolidate",
    "decide",
    "decoded_annotation",
    "gather",
    "parse_min_area",
    "without_specks",
]

#: ``consensus.method`` of the per-image method.
METHOD_MAJORITY = "per-image-majority"


@dataclass(frozen=True, slots=True, eq=False)
class WorkerAnnotation:
    """One worker's decoded answer.

    Attributes
    ----------
    worker_id : str
    labels : ndarray, shape (H, W)
        Unsigned ints, 0 background, label ``k`` is instance ``k - 1``.
    classes : tuple of str
        Class name per instance.
    stray_pixels : int
        Painted pixels of colours not listed in the answer (a diagnostic).
    """

    worker_id: str
    labels: LabelImage
    classes: tuple[str, ...]
    stray_pixels: int = 0

    def __post_init__(self) -> None:
        labels = self.labels
        if labels.ndim != 2 or labels.dtype.kind != "u":
            raise OptionsError(
                "bad_option",
                f"`labels` must be a 2-D unsigned int array, got {labels.ndim}-D {labels.dtype}",
            )
        if int(labels.max(initial=0)) > len(self.classes):
            raise OptionsError(
                "bad_option",
                f"`labels` of worker {self.worker_id!r} reach {int(labels.max())} "
                f"but only {len(self.classes)} classes are given",
            )
        if labels.flags.writeable:
            frozen = labels.view()
            frozen.flags.writeable = False
            object.__setattr__(self, "labels", frozen)


def decoded_annotation(
    worker_id: str, labels: LabelImage, classes: tuple[str, ...], stray_pixels: int
) -> WorkerAnnotation:
    """A :class:`WorkerAnnotation` of labels that :func:`gtconsensus.masks.decode_label_png`
    returned for these ``classes``: read-only, 2-D, unsigned and at most ``len(classes)``
    by construction, so the constructor's pass over every pixel to check them is skipped.

    Examples
    --------
    >>> from gtconsensus.masks import decode_label_png, encode_label_png
    >>> png = encode_label_png(np.array([[0, 1]], np.uint8))
    >>> labels = decode_label_png(png, ["#1f77b4"]).labels
    >>> decoded_annotation("w", labels, ("Car",), 0).labels.tolist()
    [[0, 1]]
    """
    annotation: WorkerAnnotation = object.__new__(WorkerAnnotation)
    for name, value in (
        ("worker_id", worker_id), ("labels", labels), ("classes", classes),
        ("stray_pixels", stray_pixels),
    ):  # fmt: skip
        object.__setattr__(annotation, name, value)
    return annotation


@dataclass(frozen=True, slots=True, eq=False)
class ConsensusInstance:
    """One instance of the consensus (label ``i + 1`` of ``Consensus.labels``)."""

    label: str
    confidence: float
    support: tuple[str, ...]
    mean_iou: float


@dataclass(frozen=True, slots=True, eq=False)
class WorkerScore:
    """How one worker agrees, on this object.

    Attributes
    ----------
    versus_others : Agreement or None
        Against the consensus of the other workers; ``None`` when alone.
    versus_consensus : Agreement
        Against the final consensus.
    instances : int
        Instances the worker drew (with at least one pixel).
    stray_pixels : int
    """

    worker_id: str
    versus_others: Agreement | None
    versus_consensus: Agreement
    instances: int
    stray_pixels: int

    @property
    def score(self) -> float | None:
        """Leave-one-out PQ, the headline quality; ``None`` when alone."""
        return None if self.versus_others is None else self.versus_others.pq

    def tally(self) -> WorkerTally:
        """This object's contribution to the worker's job-level tally."""
        return WorkerTally(
            objects=1,
            compared=int(self.versus_others is not None),
            instances=self.instances,
            versus_others=self.versus_others or Agreement(),
            versus_consensus=self.versus_consensus,
        )


@dataclass(frozen=True, slots=True, eq=False)
class Consensus:
    """The consensus of one data object.

    Attributes
    ----------
    labels : ndarray, shape (H, W)
        Read-only; instance ``i`` is label ``i + 1``, in raster order of first pixel.
    instances : tuple of ConsensusInstance
    confidence : float
        Image confidence in [0, 1].
    workers : tuple of WorkerScore
        Sorted by worker id.
    method : str
    iou_threshold : float
    """

    labels: LabelImage
    instances: tuple[ConsensusInstance, ...]
    confidence: float
    workers: tuple[WorkerScore, ...]
    method: str
    iou_threshold: float


def _check(annotations: Sequence[WorkerAnnotation], iou_threshold: float) -> None:
    if not 0.0 < iou_threshold < 1.0:
        raise OptionsError("bad_option", f"`iou_threshold` must be in (0, 1), got {iou_threshold}")
    if not annotations:
        raise InputError("no_answers", "no worker answer to consolidate")
    shapes = {a.labels.shape for a in annotations}
    if len(shapes) > 1:
        raise InputError(
            "size_disagreement", f"answers have different sizes (H, W): {sorted(shapes)}"
        )
    ids = [a.worker_id for a in annotations]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError("duplicate_worker", f"worker {duplicate!r} answered twice")


def _weights_for(ids: Sequence[str], weights: Mapping[str, float] | None) -> list[float]:
    values = [1.0 if weights is None else float(weights.get(i, 1.0)) for i in ids]
    bad = [(i, v) for i, v in zip(ids, values, strict=True) if not (math.isfinite(v) and v > 0)]
    if bad:
        raise OptionsError("bad_option", f"worker weights must be finite and > 0, got {bad[0]}")
    return values


def _matched(
    annotations: Sequence[WorkerAnnotation],
    stats: Sequence[InstanceStats],
    iou_threshold: float,
    class_aware: bool = False,
) -> tuple[list[tuple[tuple[int, int], ...]], dict[tuple[int, int], IntArray]]:
    """Cluster the drawn instances of all workers (members are (worker, label)), and
    give the intersections of every worker pair's instances (keys ``(w1, w2)``, ``w1 < w2``)."""
    matches = {}
    inters = {}
    for w1 in range(len(annotations)):
        for w2 in range(w1 + 1, len(annotations)):
            s1, s2 = stats[w1], stats[w2]
            inter = inters[w1, w2] = intersections(
                annotations[w1].labels, s1, annotations[w2].labels, s2
            )
            iou = iou_from_intersections(inter, s1.areas[1:], s2.areas[1:])
            if class_aware:  # instances of different classes never match
                c1 = np.array(annotations[w1].classes[: iou.shape[0]], dtype=object)
                c2 = np.array(annotations[w2].classes[: iou.shape[1]], dtype=object)
                iou = np.where(c1[:, None] == c2[None, :], iou, 0.0)
            matches[(w1, w2)] = match_pairs(iou, threshold=iou_threshold)
    keys = [s.first_pixels[1:].tolist() for s in stats]
    clusters = cluster_instances([s.n_instances for s in stats], matches, keys)
    # An instance without pixels matches nothing (its IoU is 0): it is alone or drawn.
    areas = [s.areas.tolist() for s in stats]
    return [
        tuple([(w, i + 1) for w, i in members])
        for members in clusters
        if len(members) > 1 or areas[members[0][0]][members[0][1] + 1]
    ], inters


@dataclass(frozen=True, slots=True, eq=False)
class ObjectEvidence:
    """What one object's answers say, before any weighting: the output of :func:`gather`.

    Holds no full-size image: only each candidate's member masks cropped to its
    window, so it is small enough to keep or spool for a second pass.

    Attributes
    ----------
    worker_ids : tuple of str
        The workers who answered, sorted; candidates refer to them by index.
    shape : (int, int)
        ``(H, W)`` of the image.
    candidates : tuple of Candidate
        Clusters of matched instances, in raster order of their first pixel.
    instances : tuple of int
        Instances drawn (with at least one pixel), per worker.
    stray_pixels : tuple of int
        Per worker.
    iou_threshold : float
    """

    worker_ids: tuple[str, ...]
    shape: tuple[int, int]
    candidates: tuple[Candidate, ...]
    instances: tuple[int, ...]
    stray_pixels: tuple[int, ...]
    iou_threshold: float


def without_specks(
    annotation: WorkerAnnotation, min_area: int | Mapping[str, int]
) -> WorkerAnnotation:
    """``annotation`` with its instances smaller than ``min_area`` pixels erased.

    ``min_area`` is one number for every class, or a number per class name (classes
    not listed keep every instance). An erased instance keeps its place in
    ``classes`` with no pixel, so it is not drawn (as an instance listed but not
    painted). The area is the instance's whole area, all its pieces together.

    Examples
    --------
    >>> labels = np.array([[1, 1, 0, 2]], np.uint8)
    >>> without_specks(WorkerAnnotation("a", labels, ("Car", "Car")), 2).labels.tolist()
    [[1, 1, 0, 0]]
    >>> without_specks(WorkerAnnotation("a", labels, ("Car", "Bus")), {"Car": 3}).labels.tolist()
    [[0, 0, 0, 2]]
    """
    k = len(annotation.classes)
    values = list(min_area.values()) if isinstance(min_area, Mapping) else [min_area]
    if any(int(v) < 0 for v in values):
        raise OptionsError("bad_option", f"`min_area` must be >= 0 pixels, got {min_area!r}")
    if isinstance(min_area, Mapping):
        limits = np.array([int(min_area.get(c, 0)) for c in annotation.classes], dtype=np.int64)
    else:
        limits = np.full(k, int(min_area), dtype=np.int64)
    if k == 0 or not limits.any():
        return annotation
    areas = np.bincount(annotation.labels.ravel(), minlength=k + 1)[1 : k + 1]
    small = (areas > 0) & (areas < limits)
    if not small.any():
        return annotation
    lut = np.arange(k + 1, dtype=annotation.labels.dtype)
    lut[1:][small] = 0
    return WorkerAnnotation(
        annotation.worker_id, lut[annotation.labels], annotation.classes, annotation.stray_pixels
    )


def parse_min_area(entries: Sequence[str]) -> int | dict[str, int]:
    """``min_area`` from text: one ``"N"`` for every class, or ``"CLASS=N"`` entries per class.

    A class name may hold ``=`` (the number follows the last one). Giving both a
    number for every class and per-class numbers is refused: say what each class
    needs.

    Raises
    ------
    OptionsError
        ``bad_option``: not a whole number >= 0, an empty class name, a class
        given twice, or both forms.

    Examples
    --------
    >>> parse_min_area(["20"]), parse_min_area(["Person=50", "Traffic light=10"])
    (20, {'Person': 50, 'Traffic light': 10})
    >>> parse_min_area([])
    0
    """
    every: int | None = None
    per_class: dict[str, int] = {}
    for entry in entries:
        name, equals, number = entry.rpartition("=")
        try:
            value = int(number.strip())
        except ValueError:
            value = -1
        if value < 0:
            raise OptionsError(
                "bad_option", f"min area {entry!r}: give N or CLASS=N, N a whole number >= 0"
            )
        if equals and not name:
            raise OptionsError(
                "bad_option", f"min area {entry!r}: the class name before `=` is empty"
            )
        if not equals:
            if every is not None:
                raise OptionsError("bad_option", f"min area given twice: {every} and {value}")
            every = value
        elif name in per_class:
            raise OptionsError("bad_option", f"min area of class {name!r} given twice")
        else:
            per_class[name] = value
    if every is not None and per_class:
        raise OptionsError(
            "bad_option",
            "min area: give one number for every class, or CLASS=N for each class, not both",
        )
    return per_class if per_class else (every or 0)


def gather(
    annotations: Sequence[WorkerAnnotation],
    *,
    iou_threshold: float = 0.5,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
) -> ObjectEvidence:
    """Match the workers' instances and crop every candidate (the weight-free pass).

    Parameters
    ----------
    annotations : sequence of WorkerAnnotation
        One per worker, all of one size; any order.
    iou_threshold : float, default 0.5
        Instances match when their IoU is above it.
    class_aware : bool, default False
        When true, instances of different classes never match (they become
        separate candidates, each judged on its own). By default matching looks
        at shapes only and the class is voted among the matched instances.
    min_area : int or mapping of str to int, default 0
        Instances of fewer pixels are ignored, as if not drawn (see
        :func:`without_specks`); a mapping sets it per class name.

    Returns
    -------
    ObjectEvidence

    Raises
    ------
    InputError
        ``no_answers``, ``size_disagreement``, ``duplicate_worker``.
    OptionsError
        A threshold outside (0, 1).

    Examples
    --------
    >>> labels = np.zeros((3, 3), np.uint8); labels[0, :2] = 1
    >>> evidence = gather([WorkerAnnotation("b", labels, ("Car",)),
    ...                    WorkerAnnotation("a", labels, ("Car",))])
    >>> evidence.worker_ids, [c.members for c in evidence.candidates]
    (('a', 'b'), [((0, 1), (1, 1))])
    """
    _check(annotations, iou_threshold)
    if isinstance(min_area, Mapping) or min_area:
        annotations = [without_specks(a, min_area) for a in annotations]
    ordered = sorted(annotations, key=lambda a: a.worker_id)
    labels = [a.labels for a in ordered]
    classes = [a.classes for a in ordered]
    stats = [instance_stats(a.labels, len(a.classes)) for a in ordered]
    clusters, inters = _matched(ordered, stats, iou_threshold, class_aware)
    candidates = tuple(
        gather_candidate(labels, stats, classes, members, intersections=inters)
        for members in clusters
    )
    height, width = ordered[0].labels.shape
    return ObjectEvidence(
        worker_ids=tuple(a.worker_id for a in ordered),
        shape=(height, width),
        candidates=candidates,
        instances=tuple(int(np.count_nonzero(s.areas[1:])) for s in stats),
        stray_pixels=tuple(a.stray_pixels for a in ordered),
        iou_threshold=iou_threshold,
    )


def decide(
    evidence: ObjectEvidence,
    *,
    weights: Mapping[str, float] | None = None,
    existence: Sequence[float] | None = None,
    method: str = METHOD_MAJORITY,
) -> Consensus:
    """Fuse an object's candidates into the consensus and score the workers.

    Parameters
    ----------
    evidence : ObjectEvidence
        From :func:`gather`.
    weights : mapping of str to float, optional
        Per worker id; workers not listed weigh 1.0. Default: all 1.0 (majority).
    existence : sequence of float, optional
        Per candidate, the probability that it exists (from a job-level model);
        it replaces the majority rule and the support share in the confidence.
    method : str
        Recorded as ``Consensus.method``.

    Returns
    -------
    Consensus
    """
    ids = evidence.worker_ids
    worker_weights = _weights_for(ids, weights)
    if existence is not None and len(existence) != len(evidence.candidates):
        raise OptionsError(
            "bad_option",
            f"`existence` needs one probability per candidate "
            f"({len(evidence.candidates)}), got {len(existence)}",
        )
    threshold = evidence.iou_threshold
    votes = [candidate_votes(c, worker_weights) for c in evidence.candidates]
    fusion = fuse_instances(
        evidence.candidates,
        shape=evidence.shape,
        weights=worker_weights,
        existence=existence,
        votes=votes,
    )
    alone = len(ids) == 1
    total = sum(worker_weights)
    supports: dict[tuple[int, ...], tuple[str, ...]] = {}  # a few member sets recur
    instances = []
    for f in fusion.instances:
        drew = evidence.candidates[f.candidate].workers  # the workers of f.members
        support = supports.get(drew)
        if support is None:
            support = supports[drew] = tuple(ids[w] for w in drew)
        share = f.support / total if f.existence is None else f.existence
        instances.append(
            ConsensusInstance(f.label, 0.0 if alone else share * f.mean_iou, support, f.mean_iou)
        )
    others = score_leave_one_out(
        evidence.candidates,
        weights=worker_weights,
        threshold=threshold,
        votes=votes,
        fusion=fusion,
    )
    against = score_against_fusion(
        evidence.candidates, fusion, n_workers=len(ids), threshold=threshold
    )
    workers = tuple(
        WorkerScore(
            worker_id=ids[w],
            versus_others=others[w],
            versus_consensus=against[w],
            instances=evidence.instances[w],
            stray_pixels=evidence.stray_pixels[w],
        )
        for w in range(len(ids))
    )
    scores = [s.score for s in workers if s.score is not None]
    return Consensus(
        labels=fusion.labels,
        instances=tuple(instances),
        confidence=0.0 if alone else float(np.mean(scores)),
        workers=workers,
        method=method,
        iou_threshold=threshold,
    )


def consolidate(
    annotations: Sequence[WorkerAnnotation],
    *,
    weights: Mapping[str, float] | None = None,
    iou_threshold: float = 0.5,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
) -> Consensus:
    """Consolidate several workers' answers for one image: :func:`gather` then :func:`decide`.

    Parameters
    ----------
    annotations : sequence of WorkerAnnotation
        One per worker, all of one size; any order.
    weights : mapping of str to float, optional
        Per worker id; workers not listed weigh 1.0. Default: all 1.0 (majority).
    iou_threshold : float, default 0.5
        Instances match when their IoU is above it.
    class_aware, min_area
        Matching by class too, and instances too small to count: see :func:`gather`.

    Returns
    -------
    Consensus

    Raises
    ------
    InputError
        ``no_answers``, ``size_disagreement``, ``duplicate_worker``.
    OptionsError
        A threshold outside (0, 1) or a weight that is not positive.
    """
    evidence = gather(
        annotations, iou_threshold=iou_threshold, class_aware=class_aware, min_area=min_area
    )
    return decide(evidence, weights=weights)
