"""Fusion: decide which candidate clusters exist, fuse their shapes and classes.

Everything happens inside each cluster's window (the union of its members'
boxes); no ``(K, H, W)`` stack is built.

- **Existence**: a cluster is kept when the summed weight of its members is a
  strict majority of the summed weight of the workers who answered.
- **Shape**: a pixel belongs to the fused instance when the weighted votes of
  the members cover at least half of the members' weight (ties included).
- **Contested pixels** (claimed by two kept clusters) go to the higher vote
  share; equal shares go to the cluster whose first member pixel comes first in
  raster order, a label-free and worker-order-free rule.
- **Class**: weighted vote of the members' classes; ties go to the class name
  that sorts first.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.matching import instance_stats
>>> a = np.array([[1, 1, 0]], np.uint8); b = np.array([[1, 1, 1]], np.uint8)
>>> stats = [instance_stats(x, 1) for x in (a, b)]
>>> votes = cluster_votes([a, b], stats, ((0, 1), (1, 1)), [1.0, 1.0])
>>> fused_mask(votes.votes, votes.support).astype(int).tolist()
[[1, 1, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gtconsensus._typing import BoolMask, FloatArray, LabelImage
from gtconsensus.matching import InstanceStats, Window, instance_stats

__all__ = [
    "ClusterVotes",
    "FusedInstance",
    "FusionResult",
    "cluster_votes",
    "fuse_class",
    "fuse_instances",
    "fused_mask",
    "mask_iou",
]

Member = tuple[int, int]  # (worker index, label 1..K)


@dataclass(frozen=True, slots=True, eq=False)
class ClusterVotes:
    """The pixel votes of one cluster inside its window.

    Attributes
    ----------
    members : tuple of (int, int)
        ``(worker index, label)`` per member, sorted by worker.
    window : Window
        Union of the members' boxes.
    masks : tuple of ndarray
        Each member's boolean mask inside ``window``.
    weights : tuple of float
        Each member's worker weight.
    votes : ndarray
        Weighted vote count per pixel of ``window``.
    support : float
        Summed weight of the members.
    """

    members: tuple[Member, ...]
    window: Window
    masks: tuple[BoolMask, ...]
    weights: tuple[float, ...]
    votes: FloatArray
    support: float


@dataclass(frozen=True, slots=True, eq=False)
class FusedInstance:
    """One kept cluster after fusion (before contested pixels are settled)."""

    members: tuple[Member, ...]
    label: str
    support: float
    mean_iou: float


@dataclass(frozen=True, slots=True, eq=False)
class FusionResult:
    """The consensus label image and its instances, in raster order of first pixel.

    ``labels`` uses 1..K for ``instances[0..K-1]``; it is read-only.
    """

    labels: LabelImage
    instances: tuple[FusedInstance, ...]
    stats: InstanceStats


def _union_box(boxes: Sequence[np.ndarray]) -> Window:
    stacked = np.stack(boxes)
    return (int(stacked[:, 0].min()), int(stacked[:, 1].max()),
            int(stacked[:, 2].min()), int(stacked[:, 3].max()))  # fmt: skip


def cluster_votes(
    labels: Sequence[LabelImage],
    stats: Sequence[InstanceStats],
    members: tuple[Member, ...],
    weights: Sequence[float],
) -> ClusterVotes:
    """Masks and weighted votes of one cluster's members inside its window."""
    r0, r1, c0, c1 = window = _union_box([stats[w].boxes[k] for w, k in members])
    masks = tuple(labels[w][r0:r1, c0:c1] == k for w, k in members)
    member_weights = tuple(float(weights[w]) for w, _ in members)
    votes = np.zeros((r1 - r0, c1 - c0), dtype=np.float64)
    for mask, weight in zip(masks, member_weights, strict=True):
        votes += mask * weight
    return ClusterVotes(members, window, masks, member_weights, votes, sum(member_weights))


def fused_mask(votes: FloatArray, support: float) -> BoolMask:
    """Pixels whose votes reach half of ``support`` (ties included)."""
    if support <= 0:
        return np.zeros(votes.shape, dtype=bool)
    return votes * 2 >= support * (1 - 1e-12)


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
    labels: Sequence[LabelImage],
    classes: Sequence[Sequence[str]],
    stats: Sequence[InstanceStats],
    votes: Sequence[ClusterVotes],
    *,
    weights: Sequence[float],
) -> FusionResult:
    """Keep the clusters with a majority, fuse them and paint the consensus.

    Parameters
    ----------
    labels : sequence of ndarray, shape (H, W)
        One label image per worker.
    classes : sequence of sequences of str
        Per worker, the class of label ``k`` at index ``k - 1``.
    stats : sequence of InstanceStats
        Per worker (gives the image shape when there is no cluster).
    votes : sequence of ClusterVotes
        Per cluster, in canonical order (earlier wins equal shares).
    weights : sequence of float
        Per worker; the strict majority is of their sum.

    Returns
    -------
    FusionResult
    """
    shape = labels[0].shape
    total = float(sum(weights))
    owner = np.zeros(shape, dtype=_smallest_uint(len(votes)))  # 1-based index into `kept`
    best = np.zeros(shape, dtype=np.float64)
    kept: list[FusedInstance] = []
    for cluster in votes:
        if not cluster.support * 2 > total * (1 + 1e-12):
            continue
        fused = fused_mask(cluster.votes, cluster.support)
        if not fused.any():
            continue
        kept.append(FusedInstance(
            members=cluster.members,
            label=fuse_class([classes[w][k - 1] for w, k in cluster.members], cluster.weights),
            support=cluster.support,
            mean_iou=float(np.mean([mask_iou(m, fused) for m in cluster.masks])),
        ))  # fmt: skip
        r0, r1, c0, c1 = cluster.window
        share = np.where(fused, cluster.votes / cluster.support, 0.0)  # in (0, 1] where fused
        region_best = best[r0:r1, c0:c1]
        wins = share > region_best
        region_best[wins] = share[wins]
        owner[r0:r1, c0:c1][wins] = len(kept)
    return _ordered(owner, kept)


def _smallest_uint(n: int) -> type[np.unsignedinteger]:
    return np.uint8 if n <= 255 else np.uint16 if n <= 65_535 else np.uint32


def _ordered(owner: LabelImage, kept: list[FusedInstance]) -> FusionResult:
    """Relabel the painted clusters 1..K in raster order of their first pixel."""
    stats = instance_stats(owner, len(kept))
    survivors = [i for i in range(1, len(kept) + 1) if stats.areas[i] > 0]
    survivors.sort(key=lambda i: int(stats.first_pixels[i]))
    consensus = np.zeros(owner.shape, dtype=_smallest_uint(len(survivors)))
    for new, old in enumerate(survivors, start=1):  # relabel box by box: cost follows objects
        r0, r1, c0, c1 = stats.boxes[old]
        consensus[r0:r1, c0:c1][owner[r0:r1, c0:c1] == old] = new
    consensus.flags.writeable = False
    order = [0, *survivors]
    relabelled = InstanceStats(
        n_instances=len(survivors),
        areas=stats.areas[order],
        boxes=stats.boxes[order],
        first_pixels=stats.first_pixels[order],
        window=stats.window,
    )
    return FusionResult(consensus, tuple(kept[i - 1] for i in survivors), relabelled)
