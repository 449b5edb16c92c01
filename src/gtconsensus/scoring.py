"""Scoring workers: detection counts, matched IoU, class agreement and PQ.

Two comparisons are made for every worker of an object:

- :func:`compare_label_images` matches a worker's label image against a reference
  (the consensus, or a ground truth) at an IoU threshold, exactly;
- :func:`score_leave_one_out` compares each worker with the consensus of the
  *other* workers, cluster by cluster, so that with three workers nobody is
  rewarded for agreeing with a consensus they helped to make.

Panoptic Quality is ``PQ = SQ x RQ = sum(IoU of matches) / (TP + FP/2 + FN/2)``,
and 1.0 when both sides are empty.

Examples
--------
>>> Agreement(tp=2, fp=0, fn=2, iou_sum=1.8).pq
0.6
>>> Agreement().pq
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gtconsensus._typing import BoolMask, LabelImage, VoteArray
from gtconsensus.fusion import (
    Candidate,
    FusionResult,
    fuse_class,
    fused_mask,
    mask_iou,
    weighted_votes,
    without_member,
)
from gtconsensus.matching import (
    InstanceStats,
    instance_stats,
    intersections,
    iou_from_intersections,
    match_pairs,
)

__all__ = [
    "Agreement",
    "WorkerTally",
    "compare_label_images",
    "score_against_fusion",
    "score_leave_one_out",
]


@dataclass(frozen=True, slots=True)
class Agreement:
    """Counts from comparing one worker with a reference; they add up (a monoid).

    Attributes
    ----------
    tp, fp, fn : int
        Matched instances, the worker's unmatched ones, the reference's unmatched ones.
    iou_sum : float
        Summed IoU of the matched pairs.
    class_agreed : int
        Matched pairs whose classes agree.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_sum: float = 0.0
    class_agreed: int = 0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
            self.iou_sum + other.iou_sum, self.class_agreed + other.class_agreed,
        )  # fmt: skip

    @property
    def pq(self) -> float:
        """Panoptic Quality in [0, 1]; 1.0 when both sides are empty."""
        denominator = self.tp + 0.5 * (self.fp + self.fn)
        return self.iou_sum / denominator if denominator else 1.0

    @property
    def rq(self) -> float:
        """Recognition quality (detection F1); 1.0 when both sides are empty."""
        denominator = self.tp + 0.5 * (self.fp + self.fn)
        return self.tp / denominator if denominator else 1.0

    @property
    def sq(self) -> float | None:
        """Segmentation quality: mean IoU of matches; ``None`` without a match."""
        return self.iou_sum / self.tp if self.tp else None

    @property
    def precision(self) -> float:
        """Share of the worker's instances that match; 1.0 when it drew none."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Share of the reference's instances matched; 1.0 when there were none."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def class_accuracy(self) -> float | None:
        """Share of matches with the same class; ``None`` without a match."""
        return self.class_agreed / self.tp if self.tp else None


def compare_label_images(
    labels: LabelImage,
    classes: Sequence[str],
    reference: LabelImage,
    reference_classes: Sequence[str],
    *,
    threshold: float = 0.5,
    stats: tuple[InstanceStats, InstanceStats] | None = None,
) -> Agreement:
    """Match a label image against a reference and count the agreement.

    Parameters
    ----------
    labels, reference : ndarray, shape (H, W)
        Dense label images; ``classes[k - 1]`` is the class of label ``k``.
    threshold : float, default 0.5
        A pair matches when its IoU is above it.
    stats : (InstanceStats, InstanceStats), optional
        The two images' instance statistics, when already computed.

    Examples
    --------
    >>> a = np.array([[1, 1, 0, 2]], np.uint8); b = np.array([[1, 1, 1, 0]], np.uint8)
    >>> compare_label_images(a, ["Car", "Car"], b, ["Bus"])
    Agreement(tp=1, fp=1, fn=0, iou_sum=0.6666666666666666, class_agreed=0)
    """
    if stats is None:
        stats = (
            instance_stats(labels, len(classes)),
            instance_stats(reference, len(reference_classes)),
        )
    own, ref = stats
    inter = intersections(labels, own, reference, ref)
    pairs = match_pairs(
        iou_from_intersections(inter, own.areas[1:], ref.areas[1:]), threshold=threshold
    )
    tp = len(pairs)
    return Agreement(
        tp=tp,
        fp=int(np.count_nonzero(own.areas[1:])) - tp,
        fn=int(np.count_nonzero(ref.areas[1:])) - tp,
        iou_sum=float(sum(iou for _, _, iou in pairs)),
        class_agreed=sum(classes[i] == reference_classes[j] for i, j, _ in pairs),
    )


def _match_member(
    own: BoolMask, own_class: str, reference: BoolMask, reference_class: str, threshold: float
) -> Agreement:
    """One worker instance against one reference shape of the same candidate."""
    return _match_iou(mask_iou(own, reference), own_class, reference_class, threshold)


def _match_iou(iou: float, own_class: str, reference_class: str, threshold: float) -> Agreement:
    """One worker instance against one reference shape, from their IoU."""
    if iou > threshold:
        return Agreement(tp=1, iou_sum=iou, class_agreed=int(own_class == reference_class))
    return Agreement(fp=1, fn=1)


def _score_one(
    worker: int,
    candidates: Sequence[Candidate],
    votes: Sequence[tuple[VoteArray, float]],
    kept_by_all: Sequence[bool],
    weights: Sequence[float],
    threshold: float,
) -> Agreement:
    total = float(sum(weights)) - float(weights[worker])
    own_weight = float(weights[worker])
    agreement = Agreement()
    for candidate, (all_votes, all_support), nonempty in zip(
        candidates, votes, kept_by_all, strict=True
    ):
        slot = candidate.workers.index(worker) if worker in candidate.workers else None
        support = all_support - (own_weight if slot is not None else 0.0)
        balance = support * 2 - total  # > 0: the others keep it; < 0: they drop it
        if abs(balance) <= 1e-9 * total:
            continue  # the others are split evenly: no evidence either way
        if slot is None:
            if balance > 0 and nonempty:
                agreement += Agreement(fn=1)
            continue
        if not balance > 0:
            agreement += Agreement(fp=1)
            continue
        own = candidate.masks[slot]
        reference = fused_mask(without_member(all_votes, own, own_weight), support)
        area = int(np.count_nonzero(reference))
        if not area:
            agreement += Agreement(fp=1)
            continue
        others = [i for i in range(len(candidate.members)) if i != slot]
        reference_class = fuse_class(
            [candidate.classes[i] for i in others], [weights[candidate.workers[i]] for i in others]
        )
        inter = int(np.count_nonzero(own & reference))
        union = int(np.count_nonzero(own)) + area - inter  # as mask_iou, the area counted once
        iou = inter / union if union else 0.0
        agreement += _match_iou(iou, candidate.classes[slot], reference_class, threshold)
    return agreement


def score_leave_one_out(
    candidates: Sequence[Candidate],
    *,
    weights: Sequence[float],
    threshold: float = 0.5,
    votes: Sequence[tuple[VoteArray, float]] | None = None,
) -> list[Agreement | None]:
    """Compare each worker with the consensus of the others, candidate by candidate.

    For worker ``w`` and each candidate, the others' consensus keeps the candidate
    when the other members' weight is a strict majority of the other workers'
    weight, drops it when it is a strict minority, and fuses it from their votes
    alone. ``w``'s instance in a kept candidate is a true positive when its IoU
    with that fused shape is above ``threshold``. A candidate on which the others
    are split evenly (one of two, say) is no evidence about ``w`` and is not
    counted: with three workers, a strict majority of the other two would
    otherwise need both, and a good worker paired with a poor one would be
    charged with the poor one's misses.

    Parameters
    ----------
    candidates : sequence of Candidate
    weights : sequence of float
        Per worker (its length is the number of workers who answered).
    threshold : float, default 0.5
    votes : sequence of (ndarray, float), optional
        Per candidate, :func:`~gtconsensus.fusion.weighted_votes`, when already computed.

    Returns
    -------
    list of Agreement or None
        Per worker; ``None`` when the worker answered alone (nobody to compare with).
    """
    n_workers = len(weights)
    if n_workers < 2:
        return [None] * n_workers
    if votes is None:
        votes = [weighted_votes(c, weights) for c in candidates]
    nonempty = [bool(fused_mask(v, support).any()) for v, support in votes]
    return [
        _score_one(w, candidates, votes, nonempty, weights, threshold) for w in range(n_workers)
    ]


def score_against_fusion(
    candidates: Sequence[Candidate],
    fusion: FusionResult,
    *,
    n_workers: int,
    threshold: float = 0.5,
) -> list[Agreement]:
    """Compare each worker with the fused consensus, candidate by candidate.

    A worker's instance in a kept candidate is a true positive when its IoU with
    the fused shape is above ``threshold`` (else a false positive and a false
    negative); in a dropped candidate, a false positive; a kept candidate the
    worker did not draw is a false negative.
    """
    totals = [Agreement() for _ in range(n_workers)]
    for index, candidate in enumerate(candidates):
        fused = fusion.kept.get(index)
        drew = set(candidate.workers)
        for slot, worker in enumerate(candidate.workers):
            if fused is None:
                totals[worker] += Agreement(fp=1)
            elif len(fused.ious) == len(candidate.members):  # recorded by the fusion
                totals[worker] += _match_iou(
                    fused.ious[slot], candidate.classes[slot], fused.label, threshold
                )
            else:
                totals[worker] += _match_member(
                    candidate.masks[slot],
                    candidate.classes[slot],
                    fused.mask,
                    fused.label,
                    threshold,
                )
        if fused is not None:
            for worker in range(n_workers):
                if worker not in drew:
                    totals[worker] += Agreement(fn=1)
    return totals


@dataclass(frozen=True, slots=True)
class WorkerTally:
    """A worker's evidence summed over objects (merges with ``+``).

    Attributes
    ----------
    objects : int
        Objects the worker answered (validly).
    compared : int
        Objects with another worker to compare with.
    instances : int
        Instances the worker drew.
    versus_others : Agreement
        Leave-one-out counts (the headline ``score``).
    versus_consensus : Agreement
        Counts against the final consensus (``pq``).
    """

    objects: int = 0
    compared: int = 0
    instances: int = 0
    versus_others: Agreement = field(default_factory=Agreement)
    versus_consensus: Agreement = field(default_factory=Agreement)

    def __add__(self, other: WorkerTally) -> WorkerTally:
        return WorkerTally(
            self.objects + other.objects,
            self.compared + other.compared,
            self.instances + other.instances,
            self.versus_others + other.versus_others,
            self.versus_consensus + other.versus_consensus,
        )

    def row(self, worker_id: str, reliability: float = 1.0) -> dict[str, object]:
        """The worker-table row (snake_case columns of DESIGN.md), floats to 4 places.

        Examples
        --------
        >>> tally = WorkerTally(objects=1, compared=1, instances=1,
        ...                     versus_others=Agreement(tp=1, iou_sum=0.9))
        >>> tally.row("w")["score"], tally.row("w")["recall"]
        (0.9, 1.0)
        """
        loo = self.versus_others

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "worker_id": worker_id,
            "score": rounded(loo.pq) if self.compared else None,
            "reliability": rounded(reliability),
            "objects": self.objects,
            "instances": self.instances,
            "tp": loo.tp,
            "fp": loo.fp,
            "fn": loo.fn,
            "precision": rounded(loo.precision) if self.compared else None,
            "recall": rounded(loo.recall) if self.compared else None,
            "mean_iou": rounded(loo.sq),
            "class_accuracy": rounded(loo.class_accuracy),
            "pq": rounded(self.versus_consensus.pq),
        }
