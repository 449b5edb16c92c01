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

from gtconsensus._typing import LabelImage
from gtconsensus.exceptions import InputError, OptionsError
from gtconsensus.fusion import cluster_votes, fuse_instances
from gtconsensus.matching import (
    InstanceStats,
    cluster_instances,
    instance_stats,
    intersections,
    iou_from_intersections,
    match_pairs,
)
from gtconsensus.scoring import Agreement, WorkerTally, compare_label_images, score_leave_one_out

__all__ = [
    "METHOD_MAJORITY",
    "Consensus",
    "ConsensusInstance",
    "WorkerAnnotation",
    "WorkerScore",
    "consolidate",
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


def _clusters(
    annotations: Sequence[WorkerAnnotation], stats: Sequence[InstanceStats], iou_threshold: float
) -> list[tuple[tuple[int, int], ...]]:
    """Cluster the drawn instances of all workers (members are (worker, label))."""
    matches = {}
    for w1 in range(len(annotations)):
        for w2 in range(w1 + 1, len(annotations)):
            s1, s2 = stats[w1], stats[w2]
            inter = intersections(annotations[w1].labels, s1, annotations[w2].labels, s2)
            iou = iou_from_intersections(inter, s1.areas[1:], s2.areas[1:])
            matches[(w1, w2)] = match_pairs(iou, threshold=iou_threshold)
    keys = [s.first_pixels[1:].tolist() for s in stats]
    clusters = cluster_instances([s.n_instances for s in stats], matches, keys)
    return [
        tuple((w, i + 1) for w, i in members)
        for members in clusters
        if any(stats[w].areas[i + 1] > 0 for w, i in members)
    ]


def consolidate(
    annotations: Sequence[WorkerAnnotation],
    *,
    weights: Mapping[str, float] | None = None,
    iou_threshold: float = 0.5,
) -> Consensus:
    """Consolidate several workers' answers for one image.

    Parameters
    ----------
    annotations : sequence of WorkerAnnotation
        One per worker, all of one size; any order.
    weights : mapping of str to float, optional
        Per worker id; workers not listed weigh 1.0. Default: all 1.0 (majority).
    iou_threshold : float, default 0.5
        Instances match when their IoU is above it.

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
    _check(annotations, iou_threshold)
    ordered = sorted(annotations, key=lambda a: a.worker_id)
    ids = [a.worker_id for a in ordered]
    worker_weights = _weights_for(ids, weights)
    labels = [a.labels for a in ordered]
    classes = [a.classes for a in ordered]
    stats = [instance_stats(a.labels, len(a.classes)) for a in ordered]
    votes = [
        cluster_votes(labels, stats, members, worker_weights)
        for members in _clusters(ordered, stats, iou_threshold)
    ]
    fusion = fuse_instances(labels, classes, stats, votes, weights=worker_weights)
    consensus_classes = [f.label for f in fusion.instances]
    alone = len(ordered) == 1
    total = sum(worker_weights)
    instances = tuple(
        ConsensusInstance(
            label=f.label,
            confidence=0.0 if alone else f.support / total * f.mean_iou,
            support=tuple(ids[w] for w, _ in f.members),
            mean_iou=f.mean_iou,
        )
        for f in fusion.instances
    )
    others = score_leave_one_out(votes, classes, weights=worker_weights, threshold=iou_threshold)
    workers = tuple(
        WorkerScore(
            worker_id=ids[w],
            versus_others=others[w],
            versus_consensus=compare_label_images(
                labels[w],
                classes[w],
                fusion.labels,
                consensus_classes,
                threshold=iou_threshold,
                stats=(stats[w], fusion.stats),
            ),
            instances=int(np.count_nonzero(stats[w].areas[1:])),
            stray_pixels=ordered[w].stray_pixels,
        )
        for w in range(len(ordered))
    )
    scores = [s.score for s in workers if s.score is not None]
    return Consensus(
        labels=fusion.labels,
        instances=instances,
        confidence=0.0 if alone else float(np.mean(scores)),
        workers=workers,
        method=METHOD_MAJORITY,
        iou_threshold=iou_threshold,
    )
