"""Fusion: decide which candidates exist, fuse their shapes and classes.

A *candidate* is one cluster of matched instances (at most one per worker),
kept as its members' boolean masks cropped to the cluster's window (the union
of the members' boxes). Candidates carry no weights, so the same candidates can
be fused again with other worker weights (the job-level method's second pass)
without decoding any PNG. No ``(K, H, W)`` stack is ever built.

- **Existence**: a candidate is kept when the summed weight of its members is a
  strict majority of the summed weight of the workers who answered, or, when
  existence probabilities are given, when its probability is above 0.5.
- **Shape**: a pixel belongs to the fused instance when the weighted votes of
  the members cover at least half of the members' weight (ties included).
- **Contested pixels** (claimed by two kept candidates) go to the higher vote
  share; equal shares go to the candidate that comes first (candidates are in
  raster order of their first member pixel, a label-free and worker-order-free
  rule); :mod:`gtconsensus.painting` paints them.
- **Class**: weighted vote of the members' classes; ties go to the class name
  that sorts first.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.matching import instance_stats
>>> a = np.array([[1, 1, 0]], np.uint8); b = np.array([[1, 1, 1]], np.uint8)
>>> stats = [instance_stats(x, 1) for x in (a, b)]
>>> candidate = gather_candidate([a, b], stats, [("Car",), ("Car",)], ((0, 1), (1, 1)))
>>> votes, support = candidate_votes(candidate, [1.0, 1.0])
>>> fused_mask(votes, support).astype(int).tolist()
[[1, 1, 1]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TypeGuard, cast

import numpy as np

from gtconsensus._typing import BoolMask, IntArray, LabelImage, VoteArray
from gtconsensus.exceptions import OptionsError
from gtconsensus.matching import InstanceStats, Window
from gtconsensus.painting import Canvas
from gtconsensus.patterns import (
    MOST_PATTERNED,
    PatternVotes,
    Votes,
    all_three,
    pattern_pixels,
    reaching,
    sign_of_all_three,
)

__all__ = [
    "Candidate",
    "FusedInstance",
    "FusionResult",
    "candidate_votes",
    "fuse_class",
    "fuse_instances",
    "fused_mask",
    "gather_candidate",
    "is_counted",
    "mask_iou",
    "member_area",
    "member_areas",
    "weighted_votes",
]

Member = tuple[int, int]  # (worker index, label 1..K)


@dataclass(frozen=True, slots=True, eq=False)
class Candidate:
    """One cluster of matched instances, cropped to its window.

    Attributes
    ----------
    members : tuple of (int, int)
        ``(worker index, label)`` per member, sorted by worker.
    window : Window
        Union of the members' boxes, ``(row_start, row_stop, col_start, col_stop)``.
    masks : tuple of ndarray
        Each member's boolean mask inside ``window`` (read-only).
    classes : tuple of str
        Each member's class.
    areas : tuple of int
        Each member's pixel count (its whole mask lies in ``window``), or empty when
        not recorded (then :func:`member_areas` counts them).
    overlaps : tuple of int
        The pixels common to each pair of members, pairs in the order of
        ``itertools.combinations`` (``(0, 1), (0, 2), ..., (1, 2), ...``), or empty when
        not recorded (then fusion counts what it needs on the masks).
    workers : tuple of int
        The worker index of each member (derived from ``members``).
    """

    members: tuple[Member, ...]
    window: Window
    masks: tuple[BoolMask, ...]
    classes: tuple[str, ...]
    areas: tuple[int, ...] = ()
    overlaps: tuple[int, ...] = ()
    workers: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Derived once: scoring and fusion ask for it per worker and candidate.
        object.__setattr__(self, "workers", tuple(w for w, _ in self.members))
        m = len(self.members)
        if self.areas and len(self.areas) != m:
            raise OptionsError("bad_option", f"{len(self.areas)} areas for {m} members")
        if self.overlaps and len(self.overlaps) != m * (m - 1) // 2:
            message = f"{len(self.overlaps)} overlaps for {m} members (one per pair)"
            raise OptionsError("bad_option", message)


@dataclass(frozen=True, slots=True, eq=False)
class FusedInstance:
    """One kept candidate after fusion (before contested pixels are settled).

    ``mask`` is the fused shape inside the candidate's window; ``support`` the
    members' summed weight; ``existence`` the probability used to keep it
    (``None`` under the majority rule); ``ious`` each member's IoU with ``mask``,
    in the order of ``members`` (empty when not recorded); ``inters`` each member's
    pixels in ``mask``, recorded only when the votes were counted (every member
    weighing 1: then ``mask`` is the members' masks summed, at least half of them).
    """

    candidate: int
    members: tuple[Member, ...]
    label: str
    support: float
    mean_iou: float
    mask: BoolMask
    existence: float | None = None
    ious: tuple[float, ...] = ()
    inters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class FusionResult:
    """The consensus label image and its instances, in raster order of first pixel.

    ``labels`` uses 1..K for ``instances[0..K-1]``; it is read-only. ``kept``
    holds every kept candidate by index, including any that lost all its pixels
    to its neighbours.
    """

    labels: LabelImage
    instances: tuple[FusedInstance, ...]
    stats: InstanceStats
    kept: dict[int, FusedInstance]


def _union_box(boxes: Sequence[Sequence[int]]) -> Window:
    """The union of boxes ``(row_start, row_stop, col_start, col_stop)`` (at least one).

    Examples
    --------
    >>> _union_box([[2, 5, 1, 4], [0, 3, 2, 6]])
    (0, 5, 1, 6)
    """
    if len(boxes) == 1:
        r0, r1, c0, c1 = boxes[0]
        return (r0, r1, c0, c1)
    row_starts, row_stops, col_starts, col_stops = zip(*boxes, strict=True)
    return (min(row_starts), max(row_stops), min(col_starts), max(col_stops))


def gather_candidate(
    labels: Sequence[LabelImage],
    stats: Sequence[InstanceStats],
    classes: Sequence[Sequence[str]],
    members: tuple[Member, ...],
    *,
    intersections: Mapping[tuple[int, int], IntArray] | None = None,
) -> Candidate:
    """Crop the members of one cluster to the cluster's window.

    ``intersections``: per worker pair ``(w1, w2)`` with ``w1 < w2``, the pixel counts
    of every pair of their instances (:func:`gtconsensus.matching.intersections`),
    to record the members' overlaps; without them none are recorded.
    """
    r0, r1, c0, c1 = window = _union_box([stats[w].boxes[k].tolist() for w, k in members])
    masks = []
    for w, k in members:
        mask = labels[w][r0:r1, c0:c1] == k
        mask.flags.writeable = False
        masks.append(mask)
    areas = tuple(int(stats[w].areas.item(k)) for w, k in members)  # counted by instance_stats
    overlaps: tuple[int, ...] = ()
    if intersections is not None:  # members are sorted by worker: w1 < w2
        overlaps = tuple(
            intersections[w1, w2].item(k1 - 1, k2 - 1)
            for (w1, k1), (w2, k2) in combinations(members, 2)
        )
    return Candidate(
        members,
        window,
        tuple(masks),
        tuple(classes[w][k - 1] for w, k in members),
        areas,
        overlaps,
    )


def member_area(candidate: Candidate, slot: int) -> int:
    """Member ``slot``'s pixel count: as recorded on the candidate, else counted.

    Examples
    --------
    >>> mask = np.array([[True, False, True]])
    >>> member_area(Candidate(((0, 1),), (0, 1, 0, 3), (mask,), ("Car",)), 0)
    2
    >>> member_area(Candidate(((0, 1),), (0, 1, 0, 3), (mask,), ("Car",), (2,)), 0)
    2
    """
    if candidate.areas:
        return candidate.areas[slot]
    return int(np.count_nonzero(candidate.masks[slot]))


def member_areas(candidate: Candidate) -> tuple[int, ...]:
    """Every member's pixel count (:func:`member_area`).

    Examples
    --------
    >>> mask = np.array([[True, False, True]])
    >>> member_areas(Candidate(((0, 1),), (0, 1, 0, 3), (mask,), ("Car",)))
    (2,)
    """
    if candidate.areas:
        return candidate.areas
    return tuple(member_area(candidate, slot) for slot in range(len(candidate.masks)))


def candidate_votes(candidate: Candidate, weights: Sequence[float]) -> tuple[Votes, float]:
    """:func:`weighted_votes`, but float votes of at most
    :data:`~gtconsensus.patterns.MOST_PATTERNED` members kept by membership pattern.

    Those are a :class:`~gtconsensus.patterns.PatternVotes`: a byte of pattern per
    pixel and the very floats of :func:`weighted_votes` per pattern, which every later
    step reads as it reads the floats. Counted votes, and the float votes of more
    members, are :func:`weighted_votes`' arrays.

    Examples
    --------
    >>> mask = np.array([[True, False]])
    >>> candidate = Candidate(((0, 1), (1, 1)), (0, 1, 0, 2), (mask, mask), ("Car", "Car"))
    >>> votes, support = candidate_votes(candidate, [1.0, 2.0])
    >>> votes.codes.tolist(), votes.votes, support
    ([[3, 0]], (0.0, 1.0, 2.0, 3.0), 3.0)
    >>> votes, support = candidate_votes(candidate, [1.0, 1.0])
    >>> votes.dtype.name, votes.tolist(), support
    ('uint8', [[2, 0]], 2.0)
    """
    member_weights = [float(weights[w]) for w in candidate.workers]
    support = float(sum(member_weights))
    masks = candidate.masks
    if member_weights.count(1.0) == len(member_weights):  # every weight == 1.0
        if support < 128 and len(masks) > 1:  # uint8 sums of the masks' bytes
            counts = np.add(masks[0].view(np.uint8), masks[1].view(np.uint8))
            for mask in masks[2:]:
                counts += mask.view(np.uint8)
            return counts, support
        counts = np.zeros(masks[0].shape, dtype=np.uint8 if support < 128 else np.uint32)
        for mask in masks:
            counts += mask
        return counts, support
    if len(masks) <= MOST_PATTERNED:  # a byte per pixel, not two float passes per member
        return PatternVotes.of(masks, member_weights), support
    votes = np.zeros(masks[0].shape, dtype=np.float64)
    for mask, weight in zip(masks, member_weights, strict=True):
        votes += mask * weight
    return votes, support


def weighted_votes(candidate: Candidate, weights: Sequence[float]) -> tuple[VoteArray, float]:
    """Per-pixel weighted votes of a candidate's members, and their summed weight.

    ``weights`` is indexed by worker. When every member weighs exactly 1 (the
    majority method), the votes are plain counts in the smallest unsigned type,
    which every later step handles in integer arithmetic. Fusion reads them as
    :func:`candidate_votes` keeps them.

    Examples
    --------
    >>> mask = np.array([[True, False]])
    >>> candidate = Candidate(((0, 1), (1, 1)), (0, 1, 0, 2), (mask, mask), ("Car", "Car"))
    >>> votes, support = weighted_votes(candidate, [1.0, 2.0])
    >>> votes.tolist(), support
    ([[3.0, 0.0]], 3.0)
    >>> votes, support = weighted_votes(candidate, [1.0, 1.0])
    >>> votes.dtype.name, votes.tolist(), support
    ('uint8', [[2, 0]], 2.0)
    """
    votes, support = candidate_votes(candidate, weights)
    return (votes.array() if isinstance(votes, PatternVotes) else votes), support


def is_counted(votes: Votes) -> TypeGuard[VoteArray]:
    """Whether ``votes`` are counts (every member weighing 1), not floats.

    Examples
    --------
    >>> is_counted(np.array([2, 0], np.uint8)), is_counted(np.array([2.0, 0.0]))
    (True, False)
    """
    return not isinstance(votes, PatternVotes) and votes.dtype.kind == "u"


def without_member(votes: VoteArray, mask: BoolMask, weight: float) -> VoteArray:
    """The votes less one member's (counts stay counts when the weight is 1).

    Examples
    --------
    >>> without_member(np.array([2, 1], np.uint8), np.array([True, False]), 1.0).tolist()
    [1, 1]
    """
    if votes.dtype.kind == "u" and weight == 1.0:
        return votes - mask.view(np.uint8)  # the counts' type, without a cast from bool
    return cast(VoteArray, votes - mask * weight)


def fused_mask(votes: Votes, support: float) -> BoolMask:
    """Pixels whose votes reach half of ``support`` (ties included).

    Votes by membership pattern are tested once per pattern, with the same test on the
    same floats (:func:`~gtconsensus.patterns.reaching`).

    Examples
    --------
    >>> fused_mask(np.array([0, 1, 2, 3], np.uint8), 4.0).tolist()
    [False, False, True, True]
    """
    if isinstance(votes, PatternVotes):
        return votes.holding(reaching(votes.votes, support))
    if support <= 0:
        return np.zeros(votes.shape, dtype=bool)
    if votes.dtype.kind == "u":  # counts: at least half of the members, in integers
        return votes >= _threshold(support)
    limit = support * (1 - 1e-12)
    half = limit / 2
    if math.isfinite(half) and half * 2 == limit:  # exact half: one pass, no temporary
        return votes >= half  # (doubling is exact, or overflows where votes > any half)
    return votes * 2 >= limit


def _threshold(support: float) -> int:
    """The fewest counted votes that make half of ``support`` members (``support > 0``)."""
    return math.ceil(support / 2 - 1e-9)


def mask_iou(a: BoolMask, b: BoolMask) -> float:
    """IoU of two boolean masks of one shape (0.0 when both are empty).

    Examples
    --------
    >>> mask_iou(np.array([True, True, False]), np.array([True, False, False]))
    0.5
    """
    inter = int(np.count_nonzero(a & b))
    union = int(np.count_nonzero(a)) + int(np.count_nonzero(b)) - inter
    return inter / union if union else 0.0


def _fused_area_and_inters(
    candidate: Candidate,
    fused: BoolMask,
    support: float,
    *,
    counted: bool,
    held: _HeldPatterns | None = None,
) -> tuple[int, tuple[int, ...]]:
    """The fused shape's area and each member's pixels in it (nothing when it is empty).

    From the members' areas and overlaps when :func:`_counted_fusion` (counted votes)
    or :func:`_pattern_fusion` (float votes whose fused shape holds the patterns
    ``held``) can; counted votes needing a single vote make the members' union, which
    covers each member. Otherwise each member's pixels in the fused shape are counted.
    """
    known = None
    if counted:
        known = _counted_fusion(candidate, fused)
    elif held is not None:
        known = _pattern_fusion(candidate, fused, held)
    if known is not None:
        return known
    area = int(np.count_nonzero(fused))
    if not area:
        return 0, ()
    if counted and _threshold(support) <= 1:
        return area, member_areas(candidate)
    return area, tuple(int(np.count_nonzero(mask & fused)) for mask in candidate.masks)


def _ious(areas: Sequence[int], inters: Sequence[int], fused_area: int) -> tuple[float, ...]:
    """Each member's :func:`mask_iou` with the fused shape, from its area, the fused
    area and their intersection.

    Examples
    --------
    >>> _ious((2, 4), (2, 3), 4)
    (0.5, 0.6)
    """
    return tuple(
        inter / union if (union := area + fused_area - inter) else 0.0
        for area, inter in zip(areas, inters, strict=True)
    )


@dataclass(frozen=True, slots=True)
class _HeldPatterns:
    """The membership patterns that the fused shape of float votes holds, and how the
    sums of their pixels hold ``t`` (see :func:`~gtconsensus.patterns.pattern_pixels`).

    Attributes
    ----------
    patterns : tuple of int
        The patterns :func:`~gtconsensus.patterns.reaching` the support.
    by_member : tuple of (tuple of int)
        Per member, those of them that its mask holds.
    sign, member_signs : int, tuple of int
        With three members, the sign with which the fused area, and each member's
        pixels in it, hold ``t`` (:func:`~gtconsensus.patterns.sign_of_all_three`
        summed); else 0.

    Examples
    --------
    >>> _HeldPatterns.of((0.0, 1.0, 1.5, 2.5, 2.0, 3.0, 3.5, 4.5), 4.5)  # any two of three
    _HeldPatterns(patterns=(3, 5, 6, 7), by_member=((3, 5, 7), (3, 6, 7), (5, 6, 7)), \
sign=-2, member_signs=(-1, -1, -1))
    """

    patterns: tuple[int, ...]
    by_member: tuple[tuple[int, ...], ...]
    sign: int
    member_signs: tuple[int, ...]

    @classmethod
    def of(cls, votes: Sequence[float], support: float) -> _HeldPatterns:
        """From the votes of each pattern (:attr:`PatternVotes.votes`) and the support."""
        patterns = reaching(votes, support)  # fused_mask's test, on the same floats
        n_members = len(votes).bit_length() - 1
        by_member = tuple(
            tuple(bits for bits in patterns if bits >> slot & 1) for slot in range(n_members)
        )

        def sign(held: tuple[int, ...]) -> int:
            return sum(sign_of_all_three(bits) for bits in held) if n_members == 3 else 0

        return cls(patterns, by_member, sign(patterns), tuple(sign(held) for held in by_member))


def _pattern_fusion(
    candidate: Candidate, fused: BoolMask, held: _HeldPatterns
) -> tuple[int, tuple[int, ...]] | None:
    """The fused area and each member's pixels in it, for float votes whose fused shape
    holds the patterns ``held``, of one member, or of two or three members whose
    overlaps are recorded; else ``None``.

    A pixel's votes depend only on its membership pattern (:mod:`gtconsensus.patterns`), so
    the fused shape holds a pattern's pixels all or none, and its area and each
    member's pixels in it are sums of the patterns' pixels. Those follow from the
    areas and overlaps but for ``t``, the pixels all three members share, which comes
    from one count of the fused shape when its area holds ``t`` (as in
    :func:`_counted_fusion`), from a count of ``t`` when only the intersections hold
    it, and is not needed otherwise.

    Examples
    --------
    >>> a, b, c = (np.array(row, bool) for row in ([1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 0]))
    >>> candidate = Candidate(((0, 1), (1, 1), (2, 1)), (0, 1, 0, 4), (a, b, c), ("C",) * 3,
    ...                       (3, 3, 1), (2, 1, 1))
    >>> held = _HeldPatterns.of((0.0, 1.0, 1.5, 2.5, 2.0, 3.0, 3.5, 4.5), 4.5)  # 1, 1.5, 2
    >>> _pattern_fusion(candidate, np.array([False, True, True, False]), held)
    (2, (2, 2, 1))
    """
    masks, areas, overlaps = candidate.masks, candidate.areas, candidate.overlaps
    if not areas or len(masks) > 3 or (len(masks) > 1 and not overlaps):
        return None
    pixels = pattern_pixels(masks, areas, overlaps, by_all=False)  # (t left out)
    area = sum(pixels[bits] for bits in held.patterns)
    inters = [sum(pixels[bits] for bits in patterns) for patterns in held.by_member]
    if held.sign:
        t = (int(np.count_nonzero(fused)) - area) // held.sign
    elif any(held.member_signs):
        t = all_three(masks)
    else:
        t = 0
    return area + held.sign * t, tuple(
        n + sign * t for n, sign in zip(inters, held.member_signs, strict=True)
    )


def _counted_fusion(candidate: Candidate, fused: BoolMask) -> tuple[int, tuple[int, ...]] | None:
    """The fused area and each member's pixels in it, for counted votes (every member
    weighing 1) of at most three members whose overlaps are recorded; else ``None``.

    With ``n_k`` the pixels that ``k`` members cover, ``a_i`` the members' areas and
    ``o_ij`` their overlaps: one or two members fuse to their union (``a_0``, or
    ``a_0 + a_1 - o_01``), which covers each. Three fuse to the pixels of two or more
    votes, ``n_2 + n_3``; the overlaps add up to ``n_2 + 3 n_3``, so one count of the
    fused shape gives ``n_3``, and member ``i``'s pixels in it are those it shares
    with another, ``o_ij + o_ik - n_3``.

    Examples
    --------
    >>> a, b, c = (np.array(row, bool) for row in ([1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 0]))
    >>> candidate = Candidate(((0, 1), (1, 1), (2, 1)), (0, 1, 0, 4), (a, b, c), ("C",) * 3,
    ...                       (3, 3, 1), (2, 1, 1))
    >>> _counted_fusion(candidate, np.array([False, True, True, False]))
    (2, (2, 2, 1))
    """
    areas = member_areas(candidate)
    if len(areas) == 1:
        return areas[0], areas
    overlaps = candidate.overlaps
    if not overlaps or len(areas) > 3:
        return None
    if len(areas) == 2:
        return areas[0] + areas[1] - overlaps[0], areas
    o01, o02, o12 = overlaps
    area = int(np.count_nonzero(fused))
    all_three = (o01 + o02 + o12 - area) // 2
    return area, (o01 + o02 - all_three, o01 + o12 - all_three, o02 + o12 - all_three)


def fuse_class(classes: Sequence[str], weights: Sequence[float]) -> str:
    """Weighted vote of class names; a tie goes to the name that sorts first.

    Examples
    --------
    >>> fuse_class(["Car", "Bus", "Bus", "Car"], [1, 1, 1, 1])
    'Bus'
    """
    totals: dict[str, float] = {}
    for name, weight in zip(classes, weights, strict=True):
        totals[name] = totals.get(name, 0.0) + float(weight)
    best = max(totals.values())
    return min(name for name, total in totals.items() if total >= best - 1e-12)


def fuse_instances(
    candidates: Sequence[Candidate],
    *,
    shape: tuple[int, int],
    weights: Sequence[float],
    existence: Sequence[float] | None = None,
    votes: Sequence[tuple[Votes, float]] | None = None,
) -> FusionResult:
    """Keep the candidates that exist, fuse them and paint the consensus.

    Parameters
    ----------
    candidates : sequence of Candidate
        In canonical order (earlier wins equal shares of a contested pixel).
    shape : (int, int)
        ``(H, W)`` of the image.
    weights : sequence of float
        Per worker; the strict majority is of their sum.
    existence : sequence of float, optional
        Per candidate, the probability that it exists; when given it replaces
        the majority rule (kept when above 0.5).
    votes : sequence of (votes, float), optional
        Per candidate, :func:`candidate_votes` (or :func:`weighted_votes`) with these
        weights, when already computed.

    Returns
    -------
    FusionResult
    """
    total = float(sum(weights))
    canvas = Canvas(shape, len(candidates))
    kept: list[FusedInstance] = []
    reached: dict[tuple[tuple[float, ...], float], _HeldPatterns] = {}  # a few member sets recur
    for index, candidate in enumerate(candidates):
        if votes is None:
            pixel_votes, support = candidate_votes(candidate, weights)
        else:
            pixel_votes, support = votes[index]
        probability = None if existence is None else float(existence[index])
        if probability is None and not support * 2 > total * (1 + 1e-12):
            continue
        if probability is not None and not probability > 0.5:
            continue
        held = None
        if isinstance(pixel_votes, PatternVotes):  # decided once per pattern and member set
            key = (pixel_votes.votes, support)
            held = reached.get(key)
            if held is None:
                held = reached[key] = _HeldPatterns.of(*key)
            fused = pixel_votes.holding(held.patterns)  # fused_mask, its patterns known
            counts = False
        else:
            fused = fused_mask(pixel_votes, support)
            counts = pixel_votes.dtype.kind == "u"  # (is_counted, known not by pattern)
        area, inters = _fused_area_and_inters(candidate, fused, support, counted=counts, held=held)
        if not area:
            continue
        fused.flags.writeable = False
        ious = _ious(member_areas(candidate), inters, area)
        kept.append(FusedInstance(
            candidate=index,
            members=candidate.members,
            label=_fused_class(candidate, weights),
            support=support,
            mean_iou=_mean(ious),
            mask=fused,
            existence=probability,
            ious=ious,
            inters=inters if counts else (),
        ))  # fmt: skip
        canvas.paint(fused, area, pixel_votes, support, candidate.window)
    consensus, survivors, stats = canvas.ordered()
    return FusionResult(
        consensus, tuple(kept[old - 1] for old in survivors), stats, {f.candidate: f for f in kept}
    )


def _fused_class(candidate: Candidate, weights: Sequence[float]) -> str:
    """:func:`fuse_class` of the members, without the tally when they all agree."""
    first = candidate.classes[0]
    if all(name == first for name in candidate.classes):
        total = 0.0  # fuse_class's tally of the one name: it wins unless the sum is NaN
        for worker in candidate.workers:
            total += float(weights[worker])
        if total == total:
            return first
    return fuse_class(candidate.classes, [weights[w] for w in candidate.workers])


def _mean(values: tuple[float, ...]) -> float:
    """``float(np.mean(values))`` bit for bit, without the array (below 8 values numpy
    adds in order; from 8 on it sums pairwise, so hand those to numpy)."""
    if len(values) >= 8:
        return float(np.mean(values))
    total = 0.0
    for value in values:
        total += value
    return total / len(values)
