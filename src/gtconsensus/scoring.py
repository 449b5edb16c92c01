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

from gtconsensus._typing import LabelImage, VoteArray
from gtconsensus.fusion import (
    Candidate,
    FusedInstance,
    FusionResult,
    _threshold,
    candidate_votes,
    fuse_class,
    fused_mask,
    is_counted,
    mask_iou,
    member_area,
    member_areas,
    without_member,
)
from gtconsensus.matching import (
    InstanceStats,
    instance_stats,
    intersections,
    iou_from_intersections,
    match_pairs,
)
from gtconsensus.patterns import (
    MOST_PATTERNED,
    PatternVotes,
    Votes,
    free_of_all,
    pattern_pixels,
    pattern_votes,
    reaching,
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


class _Tally:
    """Plain per-worker counters, turned into :class:`Agreement` objects once."""

    __slots__ = ("agreed", "fn", "fp", "iou_sum", "tp")

    def __init__(self, n_workers: int) -> None:
        self.tp = [0] * n_workers
        self.fp = [0] * n_workers
        self.fn = [0] * n_workers
        self.iou_sum = [0.0] * n_workers  # summed in candidate order, as `Agreement.__add__`
        self.agreed = [0] * n_workers

    def match(self, worker: int, iou: float, same_class: bool, threshold: float) -> None:
        """One instance against one reference shape of the same candidate, from their IoU."""
        if iou > threshold:
            self.tp[worker] += 1
            self.iou_sum[worker] += iou
            self.agreed[worker] += same_class
        else:
            self.fp[worker] += 1
            self.fn[worker] += 1

    def agreements(self) -> list[Agreement]:
        return [
            Agreement(tp, fp, fn, iou_sum, agreed)
            for tp, fp, fn, iou_sum, agreed in zip(
                self.tp, self.fp, self.fn, self.iou_sum, self.agreed, strict=True
            )
        ]


def _counted_loo(
    candidate: Candidate, counts: VoteArray, support: float, fused_inters: tuple[int, ...] = ()
) -> list[tuple[int, int, bool]]:
    """Per member, ``(inter, union, kept)`` against the others' fused shape, from counts.

    ``counts`` are the members' counted votes (every member weighs 1) and ``support``
    the others' number, so the others' shape is ``counts - own >= t``: where ``own`` is
    set that is ``counts >= t + 1``, elsewhere ``counts >= t``. With ``c_t`` the pixels
    reaching ``t`` and ``x`` those of them in ``own``::

        inter = |own & (counts >= t + 1)|
        area  = c_t - x + inter
        union = |own| + area - inter = |own| + c_t - x

    and ``kept`` says the area is not 0. When ``t`` is 1, ``x`` is ``|own|``: the union
    is the members' union ``c_1``, and only an ``inter`` of 0 can leave an empty area.

    ``fused_inters``: each member's pixels in the fusion of all of them from these
    counts (:attr:`~gtconsensus.fusion.FusedInstance.inters`), or empty. With an odd
    number ``n`` of members the fusion's threshold ``ceil(n / 2)`` is ``t + 1``, so
    those are the ``inter`` above and are not counted again.

    Examples
    --------
    >>> a = np.array([True, True, False, False]); b = np.array([False, True, True, False])
    >>> candidate = Candidate(((0, 1), (1, 1), (2, 1)), (0, 1, 0, 4), (a, b, b), ("C",) * 3)
    >>> counts, _ = candidate_votes(candidate, [1.0] * 3)
    >>> _counted_loo(candidate, counts, 2.0)  # the others' union: a's IoU 1/3, b's 2/3
    [(1, 3, True), (2, 3, True), (2, 3, True)]
    """
    t = _threshold(support)
    masks = candidate.masks
    if not (fused_inters and _threshold(float(len(masks))) == t + 1):
        above = counts >= t + 1
        fused_inters = tuple(int(np.count_nonzero(own & above)) for own in masks)
    found = []
    if t == 1:
        union = int(np.count_nonzero(counts))
        for slot, inter in enumerate(fused_inters):  # the area only when an overlap is 0
            found.append((inter, union, inter > 0 or union > member_area(candidate, slot)))
        return found
    reach = counts >= t
    c_t = int(np.count_nonzero(reach))
    for own, area, inter in zip(masks, member_areas(candidate), fused_inters, strict=True):
        held = int(np.count_nonzero(own & reach))
        found.append((inter, area + c_t - held, c_t - held + inter > 0))
    return found


def _nonempty(votes: Votes, support: float) -> bool:
    """``fused_mask(votes, support).any()``, counting pixels for counted votes."""
    if is_counted(votes) and support > 0:
        t = _threshold(support)
        return bool(np.count_nonzero(votes if t == 1 else votes >= t))
    return bool(fused_mask(votes, support).any())


def _weighted_loo(
    candidate: Candidate, votes: Votes, slot: int, own_weight: float, support: float
) -> tuple[int, int, bool]:
    """``(inter, union, kept)`` of one member against the others' fused shape (any votes)."""
    own = candidate.masks[slot]
    array = votes.array() if isinstance(votes, PatternVotes) else votes
    reference = fused_mask(without_member(array, own, own_weight), support)
    area = int(np.count_nonzero(reference))
    if not area:
        return 0, 0, False
    inter = int(np.count_nonzero(own & reference))
    return inter, member_area(candidate, slot) + area - inter, True  # the area counted once


@dataclass(frozen=True, slots=True)
class _Patterns:
    """The membership patterns (bit ``i``: member ``i``'s mask holds the pixel) that
    fused shapes hold, by member set: the pixels of a pattern share one vote.

    Attributes
    ----------
    fused : tuple of int
        The patterns of the fusion of all the members.
    others : tuple of (tuple of int, tuple of int)
        Per compared member of the plan, the patterns of the others' fused shape,
        and those of them that the member's own mask holds.
    by_all, fused_by_all : bool
        Whether the sums over the patterns of ``others``, of ``fused``, need the
        pixels that three members share (see :func:`~gtconsensus.patterns.pattern_pixels`).
    """

    fused: tuple[int, ...]
    others: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    by_all: bool = True
    fused_by_all: bool = True


def _pattern_pixels(candidate: Candidate, *, by_all: bool = True) -> list[int]:
    """:func:`~gtconsensus.patterns.pattern_pixels` of a candidate's members."""
    return pattern_pixels(candidate.masks, candidate.areas, candidate.overlaps, by_all=by_all)


def _held_patterns(
    workers: tuple[int, ...],
    weights: Sequence[float],
    support: float,
    compared: Sequence[tuple[int, int, float]],
) -> _Patterns:
    """The patterns that the fused shapes of a member set hold (:class:`_Patterns`).

    A pixel's votes depend only on which members' masks hold it: per pattern, the
    float that :func:`~gtconsensus.fusion.weighted_votes` holds there is summed as it
    sums it (``0.0``, then ``mask * weight`` member by member), and less a member's
    as :func:`~gtconsensus.fusion.without_member` takes it (``votes - mask * weight``),
    so each pattern's votes are the very floats that the pixels hold, and the fused
    shape holds a pattern's pixels all or none.

    Examples
    --------
    >>> held = _held_patterns((0, 1, 2), [1.0, 1.5, 2.0], 4.5, [(0, 0, 3.5), (2, 2, 2.5)])
    >>> held.fused  # any two of the three members
    (3, 5, 6, 7)
    >>> held.others  # without member 0, member 2 (bit 4) alone; without 2, member 1 (bit 2)
    (((4, 5, 6, 7), (5, 7)), ((2, 3, 6, 7), (6, 7)))
    """
    votes = pattern_votes([float(weights[worker]) for worker in workers])
    others = []
    for slot, worker, others_support in compared:
        own_weight = float(weights[worker])
        theirs = reaching(
            [
                vote - (1.0 if bits >> slot & 1 else 0.0) * own_weight
                for bits, vote in enumerate(votes)
            ],
            others_support,
        )
        others.append((theirs, tuple(bits for bits in theirs if bits >> slot & 1)))
    fused = reaching(votes, support)
    by_all = not all(free_of_all(patterns) for pair in others for patterns in pair)
    return _Patterns(fused, tuple(others), by_all, not free_of_all(fused))


_Plan = tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int, float], ...]]


def _plan(
    workers: tuple[int, ...], all_support: float, weights: Sequence[float], totals: Sequence[float]
) -> _Plan:
    """What a candidate drawn by ``workers`` says about each worker, before any pixel.

    Returns ``(missed, extra, compared)``: the workers who did not draw it and whose
    others keep it (a false negative if the fusion of everyone is not empty), the
    members whose others drop it (a false positive), and ``(slot, worker, support)``
    of the members whose others keep it, fused from ``support`` of weight. Workers
    whose others are split evenly are in none (no evidence either way).

    Examples
    --------
    >>> _plan((0, 1), 2.0, [1.0, 1.0, 1.0], [2.0, 2.0, 2.0])  # 1 of 2 for w0 and w1
    ((2,), (), ())
    >>> _plan((0,), 1.0, [1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    ((), (0,), ())
    """
    missed, extra, compared = [], [], []
    for worker, total in enumerate(totals):
        slot = workers.index(worker) if worker in workers else None
        support = all_support - (float(weights[worker]) if slot is not None else 0.0)
        balance = support * 2 - total  # > 0: the others keep it; < 0: they drop it
        if abs(balance) <= 1e-9 * total:
            continue  # the others are split evenly: no evidence either way
        if slot is None:
            if balance > 0:
                missed.append(worker)
        elif not balance > 0:
            extra.append(worker)
        else:
            compared.append((slot, worker, support))
    return tuple(missed), tuple(extra), tuple(compared)


def _score_candidate(
    candidate: Candidate,
    votes: Votes,
    all_support: float,
    plan: _Plan,
    weights: Sequence[float],
    threshold: float,
    tally: _Tally,
    finite: bool,
    fused: FusedInstance | None = None,
    held: _Patterns | None = None,
) -> None:
    """Add one candidate's leave-one-out evidence to every worker's tally.

    ``finite``: the workers' summed weight is a number, so is every part of it.
    ``fused``: the candidate as the fusion kept it from these votes, or ``None``.
    ``held``: :func:`_held_patterns` of the members and the plan, or ``None`` (then
    the votes are fused pixel by pixel).
    """
    missed, extra, compared = plan
    for worker in extra:
        tally.fp[worker] += 1
    pixels: list[int] | None = None  # per pattern, counted once when `held` is given
    if missed:
        if fused is not None:  # kept: its fused shape is the votes' at `all_support`, not empty
            drawn = True
        elif held is not None:
            pixels = _pattern_pixels(candidate, by_all=held.by_all or held.fused_by_all)
            drawn = any(pixels[bits] for bits in held.fused)
        else:
            drawn = _nonempty(votes, all_support)
        if drawn:
            for worker in missed:
                tally.fn[worker] += 1
    if not compared:
        return
    workers, classes = candidate.workers, candidate.classes
    # One class among the members: every fuse_class of the others gives it.
    uniform = finite and classes.count(classes[0]) == len(classes)
    counts = votes if is_counted(votes) else None
    counted: list[tuple[int, int, bool]] | None = None
    for index, (slot, worker, support) in enumerate(compared):
        own_weight = float(weights[worker])
        if counts is not None and own_weight == 1.0:  # counts less one: same support
            if counted is None:
                counted = _counted_loo(candidate, counts, support, fused.inters if fused else ())
            inter, union, kept = counted[slot]
        elif held is not None:  # the others' shape pattern by pattern
            if pixels is None:
                pixels = _pattern_pixels(candidate, by_all=held.by_all)
            theirs, shared = held.others[index]
            area = sum(pixels[bits] for bits in theirs)
            inter = sum(pixels[bits] for bits in shared)
            union, kept = member_area(candidate, slot) + area - inter, area > 0
        else:
            inter, union, kept = _weighted_loo(candidate, votes, slot, own_weight, support)
        if not kept:
            tally.fp[worker] += 1
            continue
        if uniform:
            same_class = True
        else:
            others = [i for i in range(len(workers)) if i != slot]
            same_class = classes[slot] == fuse_class(
                [classes[i] for i in others], [weights[workers[i]] for i in others]
            )
        tally.match(worker, inter / union if union else 0.0, same_class, threshold)


def score_leave_one_out(
    candidates: Sequence[Candidate],
    *,
    weights: Sequence[float],
    threshold: float = 0.5,
    votes: Sequence[tuple[Votes, float]] | None = None,
    fusion: FusionResult | None = None,
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
    votes : sequence of (votes, float), optional
        Per candidate, :func:`~gtconsensus.fusion.candidate_votes` (or
        :func:`~gtconsensus.fusion.weighted_votes`), when already computed.
    fusion : FusionResult, optional
        :func:`~gtconsensus.fusion.fuse_instances` of these candidates, when already
        computed with these weights: the member intersections it recorded from
        counted votes are reused (with an odd number of members, the fusion of all of
        them is the shape each member's leave-one-out intersection is counted
        against), and a candidate it kept is known to fuse to a shape that is not
        empty (a false negative for the workers who missed it) without a count.

    Returns
    -------
    list of Agreement or None
        Per worker; ``None`` when the worker answered alone (nobody to compare with).
    """
    n_workers = len(weights)
    if n_workers < 2:
        return [None] * n_workers
    if votes is None:
        votes = [candidate_votes(c, weights) for c in candidates]
    own_weights = [float(w) for w in weights]
    weight_sum = float(sum(weights))
    totals = [weight_sum - w for w in own_weights]  # each worker's others' weight
    tally = _Tally(n_workers)
    plans: dict[tuple[tuple[int, ...], float], _Plan] = {}  # a few member sets recur
    patterns: dict[tuple[tuple[int, ...], float], _Patterns] = {}
    kept = {} if fusion is None else fusion.kept
    for index, (candidate, (pixel_votes, support)) in enumerate(
        zip(candidates, votes, strict=True)
    ):
        key = (candidate.workers, support)
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = _plan(candidate.workers, support, own_weights, totals)
        fused = kept.get(index)
        held = None  # float votes, evidence to count: the fused shapes pattern by pattern
        if (
            (isinstance(pixel_votes, PatternVotes) or pixel_votes.dtype.kind == "f")
            and len(candidate.workers) <= MOST_PATTERNED
            and (plan[2] or (plan[0] and fused is None))
        ):
            held = patterns.get(key)
            if held is None:
                held = patterns[key] = _held_patterns(
                    candidate.workers, own_weights, support, plan[2]
                )
        _score_candidate(
            candidate,
            pixel_votes,
            support,
            plan,
            own_weights,
            threshold,
            tally,
            weight_sum == weight_sum,
            fused,
            held,
        )
    return list(tally.agreements())


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
    tally = _Tally(n_workers)
    for index, candidate in enumerate(candidates):
        workers = candidate.workers
        fused = fusion.kept.get(index)
        if fused is None:
            for worker in workers:
                tally.fp[worker] += 1
            continue
        ious = fused.ious
        if len(ious) != len(workers):  # not recorded by the fusion
            ious = tuple(mask_iou(mask, fused.mask) for mask in candidate.masks)
        label = fused.label
        for worker, iou, name in zip(workers, ious, candidate.classes, strict=True):
            tally.match(worker, iou, name == label, threshold)
        if len(workers) < n_workers:
            for worker in range(n_workers):
                if worker not in workers:
                    tally.fn[worker] += 1
    return tally.agreements()


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
