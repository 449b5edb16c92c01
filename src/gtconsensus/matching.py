"""Matching instances across workers: IoU from contingency tables, clusters.

All pairwise IoUs between two workers come from one contingency table, a single
``np.bincount`` over the pixels of the two workers' foreground window; no
per-instance boolean masks are built. Clusters across N workers hold at most one
instance per worker (a worker's instances are disjoint, so two of them are never
the same object).

Examples
--------
>>> import numpy as np
>>> a = np.array([[1, 1, 0, 2]], dtype=np.uint8)
>>> b = np.array([[1, 1, 1, 0]], dtype=np.uint8)
>>> iou_matrix(a, b).round(3).tolist()
[[0.667], [0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gtconsensus._typing import FloatArray, IntArray, LabelImage
from gtconsensus.exceptions import OptionsError

__all__ = [
    "InstanceStats",
    "Runs",
    "Window",
    "cluster_instances",
    "contingency",
    "foreground_rows",
    "instance_stats",
    "intersections",
    "iou_from_contingency",
    "iou_from_intersections",
    "iou_matrix",
    "linear_sum_assignment",
    "match_pairs",
]

#: A window of an image: ``(row_start, row_stop, col_start, col_stop)``, stops exclusive.
Window = tuple[int, int, int, int]
_EMPTY_WINDOW: Window = (0, 0, 0, 0)


@dataclass(frozen=True, slots=True, eq=False)
class Runs:
    """A label image's horizontal runs of one non-zero label, in raster order.

    Attributes
    ----------
    starts, stops : ndarray, shape (R,)
        Raster index (``row * width + column``) of each run's first pixel and one
        past its last; a run never crosses a row. int32 for images under 2**31
        pixels, else int64.
    labels : ndarray, shape (R,)
        Each run's label (intp).
    """

    starts: npt.NDArray[np.signedinteger]
    stops: npt.NDArray[np.signedinteger]
    labels: npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class InstanceStats:
    """Per-instance geometry of one label image, computed in one sweep.

    Attributes
    ----------
    n_instances : int
        K; labels run 1..K.
    areas : ndarray, shape (K + 1,)
        Pixel count per label (index 0 is background).
    boxes : ndarray, shape (K + 1, 4)
        ``(row_start, row_stop, col_start, col_stop)`` per label; zeros when empty.
    first_pixels : ndarray, shape (K + 1,)
        Raster index of each instance's first pixel; ``-1`` when empty. Used as a
        label-free identity for deterministic tie-breaks.
    window : Window
        Bounding box of all foreground.
    runs : Runs or None
        The image's horizontal runs of equal labels (``None`` when not computed),
        from which :func:`intersections` counts overlaps without touching pixels.
    """

    n_instances: int
    areas: IntArray
    boxes: IntArray
    first_pixels: IntArray
    window: Window
    runs: Runs | None = None


def _span(flags: object) -> tuple[int, int]:
    hits = np.flatnonzero(np.asarray(flags))
    return (int(hits[0]), int(hits[-1]) + 1) if len(hits) else (0, 0)


def _rows_drawn(labels: LabelImage) -> np.ndarray:
    """Per row, non-zero when the row has a non-zero label: an OR over 8-byte words
    when the rows are whole words (about twice as fast as ``any(axis=1)``)."""
    if labels.flags.c_contiguous and labels.size and labels.shape[1] * labels.itemsize % 8 == 0:
        return np.asarray(np.bitwise_or.reduce(labels.view(np.uint64), axis=1))
    return np.asarray(labels.any(axis=1))


def foreground_rows(labels: LabelImage) -> tuple[int, int]:
    """The span ``(first, stop)`` of the rows holding a non-zero label; ``(0, 0)`` when none.

    Examples
    --------
    >>> foreground_rows(np.array([[0, 0], [0, 3], [0, 0]], np.uint8))
    (1, 2)
    """
    return _span(_rows_drawn(labels))


def _runs(labels: LabelImage) -> tuple[IntArray, IntArray, np.ndarray]:
    """Horizontal runs of equal non-zero labels in the rows that hold foreground.

    Returns the raster index of each run's first pixel (in image coordinates), its
    length and its label. Finding runs costs one comparison over the foreground
    rows, read as one contiguous line (a run boundary forced at each row's start),
    and a sparse ``flatnonzero``; everything after works on the (few thousand) runs
    rather than on the pixels.
    """
    width = labels.shape[1]
    r0, r1 = foreground_rows(labels)
    if r1 == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=labels.dtype)
    line = np.ascontiguousarray(labels[r0:r1]).reshape(-1)
    size = line.size
    boundary = np.empty(-(-size // 8) * 8, dtype=bool)  # whole 8-byte words, zero padded
    boundary[size:] = False
    boundary[0] = True
    np.not_equal(line[1:], line[:-1], out=boundary[1:size])
    boundary[:size:width] = True  # every row starts a run, so a run ends where the next begins
    # Boundaries are sparse: find the 8-byte words holding one, then the bytes in them
    # (about twice as fast as one ``flatnonzero`` over every byte).
    words = boundary.view(np.uint64)
    hit_words = np.flatnonzero(words != 0)
    hits = np.flatnonzero(words[hit_words].view(bool))
    starts = hit_words[hits >> 3] * 8 + (hits & 7)
    lengths = np.empty_like(starts)  # up to the next run's start: never past the row
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
    lengths[-1:] = size - starts[-1:]
    run_labels = line[starts]
    drawn = np.flatnonzero(run_labels != 0)  # indices: cheaper than three boolean masks
    starts = starts[drawn]
    if r0:
        starts += r0 * width
    return starts, lengths[drawn], run_labels[drawn]


def instance_stats(labels: LabelImage, n_instances: int) -> InstanceStats:
    """Areas, boxes and first pixels of every instance of a label image.

    Parameters
    ----------
    labels : ndarray, shape (H, W)
        Dense labels 0..K.
    n_instances : int
        K, the number of listed instances (some may have no pixels).

    Examples
    --------
    >>> labels = np.array([[0, 0, 0], [0, 1, 1], [2, 0, 0]], dtype=np.uint8)
    >>> stats = instance_stats(labels, 2)
    >>> stats.areas.tolist(), stats.boxes[1].tolist(), stats.first_pixels.tolist()
    ([6, 2, 1], [1, 2, 1, 3], [-1, 4, 6])
    """
    k = n_instances
    areas = np.zeros(k + 1, dtype=np.int64)
    boxes = np.zeros((k + 1, 4), dtype=np.int64)
    first_pixels = np.full(k + 1, -1, dtype=np.int64)
    starts, lengths, run_labels = _runs(labels)
    # Raster indices fit int32 below 2**31 pixels: the merges in `intersections` then
    # move half the bytes.
    position = np.int32 if labels.size < 2**31 else np.int64
    run_starts = starts.astype(position)
    runs = Runs(run_starts, run_starts + lengths.astype(position), run_labels.astype(np.intp))
    if len(starts) == 0:
        areas[0] = labels.size
        return InstanceStats(k, areas, boxes, first_pixels, _EMPTY_WINDOW, runs)
    width = labels.shape[1]
    rows = starts // width
    col_starts = starts - rows * width
    # Runs sorted by label (a radix sort of small ints), raster order kept within a
    # label: each label's runs are one segment, its first run the segment's head.
    order = np.argsort(run_labels, kind="stable")
    ordered = run_labels[order]
    heads = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    present = ordered[heads].astype(np.intp)
    firsts, lasts = order[heads], order[np.append(heads[1:], len(order)) - 1]
    lengths = lengths[order]
    areas[present] = np.add.reduceat(lengths, heads)
    areas[0] = labels.size - int(areas[1:].sum())
    boxes[present, 0] = rows[firsts]
    boxes[present, 1] = rows[lasts] + 1
    col_starts = col_starts[order]
    boxes[present, 2] = np.minimum.reduceat(col_starts, heads)
    col_starts += lengths  # the runs' column stops
    boxes[present, 3] = np.maximum.reduceat(col_starts, heads)
    first_pixels[present] = starts[firsts]
    window: Window = (
        int(rows[0]), int(rows[-1]) + 1,
        int(boxes[present, 2].min()), int(boxes[present, 3].max()),
    )  # fmt: skip
    return InstanceStats(k, areas, boxes, first_pixels, window, runs)


def _overlaps(
    holder: IntArray, outer_stops: npt.NDArray[np.signedinteger], inner: Runs
) -> npt.NDArray[np.signedinteger]:
    """Overlap length of each inner run with the outer run ``holder`` holding its start
    (0 when the outer run ends at or before that start, or there is none)."""
    before = int(np.searchsorted(holder, 0))  # holder rises with the start: a prefix
    holder[:before] = 0
    lengths = outer_stops[holder]
    np.minimum(lengths, inner.stops, out=lengths)
    lengths -= inner.starts
    lengths[:before] = 0
    np.maximum(lengths, 0, out=lengths)
    return lengths


def _run_intersections(a: Runs, b: Runs, m: int, n: int) -> IntArray:
    """Intersections ``(m, n)`` from two images' runs, costing the runs, not the pixels.

    Each image's runs are disjoint and in raster order. Two runs overlap exactly
    when one of them holds the other's start: either the run of ``b`` holding the
    start of a run of ``a`` (``b`` starts first or together; at most one per run of
    ``a``), or the run of ``a`` holding the start of a run of ``b`` (``a`` starts
    strictly first; at most one per run of ``b``). Both come from one stable merge
    of the two lists of starts (``b``'s first on ties), so every overlapping pair is
    counted once, with its overlap's length, without enumerating pairs.
    """
    na, nb = len(a.starts), len(b.starts)
    if na == 0 or nb == 0:
        return np.zeros((m, n), dtype=np.int64)
    from_b = np.argsort(np.concatenate([b.starts, a.starts]), kind="stable") < nb
    in_b = np.flatnonzero(~from_b) - np.arange(1, na + 1)  # b run holding a's start
    in_a = np.flatnonzero(from_b) - np.arange(1, nb + 1)  # a run holding b's start (strictly)
    b_first = _overlaps(in_b, b.stops, a)
    a_first = _overlaps(in_a, a.stops, b)
    size = (m + 1) * n + 1  # codes label_a * n + label_b, labels from 1
    table = np.bincount(a.labels * n + b.labels[in_b], weights=b_first, minlength=size)
    table += np.bincount(a.labels[in_a] * n + b.labels, weights=a_first, minlength=size)
    return table[n + 1 :].astype(np.int64).reshape(m, n)


def intersections(
    a: LabelImage, a_stats: InstanceStats, b: LabelImage, b_stats: InstanceStats
) -> IntArray:
    """Pixel counts of every instance pair's intersection, shape ``(m, n)``.

    From the two images' runs when both stats hold them (:func:`instance_stats`
    keeps them): a sweep over the runs, whatever the number of instances. Otherwise
    only pairs whose boxes overlap are counted, each inside the overlap of the
    two boxes, so the cost follows the objects, not the image. When boxes
    overlap so much that this would cost more than one pass over the two images'
    foreground window, one contingency table is used instead.

    Examples
    --------
    >>> a = np.array([[1, 1, 0, 2]], np.uint8); b = np.array([[1, 1, 1, 0]], np.uint8)
    >>> intersections(a, instance_stats(a, 2), b, instance_stats(b, 1)).tolist()
    [[2], [0]]
    """
    m, n = a_stats.n_instances, b_stats.n_instances
    inter = np.zeros((m, n), dtype=np.int64)
    if m == 0 or n == 0:
        return inter
    if a_stats.runs is not None and b_stats.runs is not None:
        return _run_intersections(a_stats.runs, b_stats.runs, m, n)
    box_a, box_b = a_stats.boxes[1:, None, :], b_stats.boxes[None, 1:, :]
    r0 = np.maximum(box_a[..., 0], box_b[..., 0])
    r1 = np.minimum(box_a[..., 1], box_b[..., 1])
    c0 = np.maximum(box_a[..., 2], box_b[..., 2])
    c1 = np.minimum(box_a[..., 3], box_b[..., 3])
    cost = np.clip(r1 - r0, 0, None) * np.clip(c1 - c0, 0, None)
    window = _union_window(a_stats.window, b_stats.window)
    if int(cost.sum()) > 2 * (window[1] - window[0]) * (window[3] - window[2]):
        return contingency(a, b, m=m, n=n, window=window)[1:, 1:]
    for i, j in zip(*np.nonzero(cost), strict=True):
        rows, cols = slice(r0[i, j], r1[i, j]), slice(c0[i, j], c1[i, j])
        inter[i, j] = np.count_nonzero((a[rows, cols] == i + 1) & (b[rows, cols] == j + 1))
    return inter


def iou_from_intersections(inter: IntArray, a_areas: IntArray, b_areas: IntArray) -> FloatArray:
    """IoU of every instance pair from intersections and areas (without background).

    Examples
    --------
    >>> iou_from_intersections(np.array([[2]]), np.array([3]), np.array([2])).tolist()
    [[0.6666666666666666]]
    """
    union = a_areas[:, None] + b_areas[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _union_window(a: Window, b: Window) -> Window:
    if a[1] == 0:
        return b
    if b[1] == 0:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def contingency(
    a: LabelImage,
    b: LabelImage,
    *,
    m: int | None = None,
    n: int | None = None,
    window: Window | None = None,
) -> IntArray:
    """Joint pixel counts of two label images, shape ``(m + 1, n + 1)``.

    Parameters
    ----------
    a, b : ndarray, shape (H, W)
        Label images of the same shape.
    m, n : int, optional
        Number of instances in ``a`` and ``b`` (default: their maxima).
    window : Window, optional
        Count only inside this window, which must hold all foreground of both;
        pixels outside are added to the background cell.

    Examples
    --------
    >>> a = np.array([[1, 1, 0]], dtype=np.uint8); b = np.array([[0, 1, 1]], dtype=np.uint8)
    >>> contingency(a, b).tolist()
    [[0, 1], [1, 1]]
    """
    if a.shape != b.shape:
        raise OptionsError(
            "bad_option", f"label images must have one shape, got {a.shape} and {b.shape}"
        )
    m = int(a.max(initial=0)) if m is None else m
    n = int(b.max(initial=0)) if n is None else n
    full_size = a.size
    if window is not None:
        r0, r1, c0, c1 = window
        a, b = a[r0:r1, c0:c1], b[r0:r1, c0:c1]
    code_type = np.uint16 if (m + 1) * (n + 1) <= 65_536 else np.int64
    codes = a.astype(code_type) * code_type(n + 1) + b
    table = np.bincount(codes.ravel(), minlength=(m + 1) * (n + 1)).reshape(m + 1, n + 1)
    table[0, 0] += full_size - a.size  # background outside the window
    return table.astype(np.int64, copy=False)


def iou_from_contingency(table: IntArray) -> FloatArray:
    """IoU of every instance pair, shape ``(m, n)``, from a contingency table.

    Examples
    --------
    >>> iou_from_contingency(np.array([[5, 1], [1, 2]])).tolist()
    [[0.5]]
    """
    inter = table[1:, 1:].astype(np.float64)
    area_a = table[1:, :].sum(axis=1)
    area_b = table[:, 1:].sum(axis=0)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return iou


def iou_matrix(
    a: LabelImage, b: LabelImage, *, m: int | None = None, n: int | None = None
) -> FloatArray:
    """IoU of every instance of ``a`` with every instance of ``b``, shape ``(m, n)``."""
    return iou_from_contingency(contingency(a, b, m=m, n=n))


def linear_sum_assignment(cost: FloatArray) -> tuple[IntArray, IntArray]:
    """Minimum-cost assignment of rows to columns (Hungarian method, O(n^3)).

    A short numpy/Python version for the small problems of one image (tens of
    instances), so the core needs no scipy. Same contract as
    :func:`scipy.optimize.linear_sum_assignment` for finite costs.

    Examples
    --------
    >>> rows, cols = linear_sum_assignment(np.array([[4.0, 1, 3], [2, 0, 5], [3, 2, 2]]))
    >>> rows.tolist(), cols.tolist()
    ([0, 1, 2], [1, 0, 2])
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise OptionsError("bad_option", f"`cost` must be 2-D, got shape {cost.shape}")
    transposed = cost.shape[0] > cost.shape[1]
    c = cost.T if transposed else cost
    n_rows, n_cols = c.shape
    if n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    # Shortest augmenting paths with potentials (1-based, column 0 is a sentinel).
    u = np.zeros(n_rows + 1)
    v = np.zeros(n_cols + 1)
    owner = np.zeros(n_cols + 1, dtype=np.int64)  # owner[j]: row assigned to column j
    for row in range(1, n_rows + 1):
        owner[0] = row
        j0 = 0
        min_to = np.full(n_cols + 1, np.inf)
        way = np.zeros(n_cols + 1, dtype=np.int64)
        used = np.zeros(n_cols + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            reduced = c[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < min_to[1:])
            min_to[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, min_to[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            min_to[1:][free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    assigned = np.flatnonzero(owner[1:]) + 1
    rows = owner[assigned] - 1
    cols = assigned - 1
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def match_pairs(iou: FloatArray, *, threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(row, col, iou)`` with IoU above ``threshold``.

    Above 0.5 a match is unique by construction (instances of one image are
    disjoint), so no solver runs; below it the assignment maximising total IoU is
    solved first and weak pairs are dropped after.

    Examples
    --------
    >>> match_pairs(np.array([[0.9, 0.1], [0.0, 0.4]]))
    [(0, 0, 0.9)]
    """
    if not 0.0 < threshold < 1.0:
        raise OptionsError("bad_option", f"`threshold` must be in (0, 1), got {threshold}")
    if iou.size == 0:
        return []
    if threshold >= 0.5:
        rows, cols = np.nonzero(iou > threshold)
    else:
        rows, cols = linear_sum_assignment(-iou)
        keep = iou[rows, cols] > threshold
        rows, cols = rows[keep], cols[keep]
    return list(zip(rows.tolist(), cols.tolist(), iou[rows, cols].tolist(), strict=True))


def cluster_instances(
    sizes: Sequence[int],
    matches: Mapping[tuple[int, int], Sequence[tuple[int, int, float]]],
    keys: Sequence[Sequence[int]],
) -> list[tuple[tuple[int, int], ...]]:
    """Group instances of N workers into clusters, at most one per worker.

    Kruskal-style: pairwise matches are taken by descending IoU and join two
    clusters unless that would put two instances of one worker together.
    Unmatched instances stay as singleton clusters.

    Parameters
    ----------
    sizes : sequence of int
        Number of instances per worker.
    matches : mapping
        ``(w1, w2) -> [(i, j, iou), ...]`` with 0-based instance indices, ``w1 < w2``.
    keys : sequence of sequences of int
        A label-free key per instance (its first pixel), for deterministic ties.

    Returns
    -------
    list of tuples of (worker, instance)
        Members sorted by worker; clusters sorted by their first member's key.

    Examples
    --------
    >>> cluster_instances([1, 1, 1], {(0, 1): [(0, 0, 0.9)], (1, 2): [(0, 0, 0.7)]},
    ...                   [[5], [5], [6]])
    [((0, 0), (1, 0), (2, 0))]
    """
    # Nodes are numbered worker by worker (so node order is (worker, instance) order);
    # each root keeps the set of its cluster's workers as a bit mask.
    offsets = [0]
    for size in sizes:
        offsets.append(offsets[-1] + size)
    owner = [w for w, size in enumerate(sizes) for _ in range(size)]
    parent = list(range(offsets[-1]))
    masks = [1 << w for w in owner]

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    edges = sorted(
        (-iou, keys[w1][i], keys[w2][j], w1, i, w2, j)
        for (w1, w2), pairs in matches.items()
        for i, j, iou in pairs
    )
    for _, _, _, w1, i, w2, j in edges:
        ra, rb = root(offsets[w1] + i), root(offsets[w2] + j)
        if ra == rb or masks[ra] & masks[rb]:
            continue
        parent[rb] = ra
        masks[ra] |= masks[rb]
    groups: dict[int, list[tuple[int, int]]] = {}
    firsts: dict[int, tuple[int, int]] = {}  # per cluster, its least (key, worker)
    for node, w in enumerate(owner):  # in (worker, instance) order: members come sorted
        top = parent[node]
        if parent[top] != top:  # most nodes hang from their root: no call
            top = root(node)
        i = node - offsets[w]
        first = (keys[w][i], w)
        members = groups.get(top)
        if members is None:
            groups[top] = [(w, i)]
            firsts[top] = first
        else:
            members.append((w, i))
            if first < firsts[top]:
                firsts[top] = first
    return [tuple(groups[top]) for top in sorted(groups, key=firsts.__getitem__)]
