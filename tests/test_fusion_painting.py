"""Fusion's painting, renumbering and statistics equal a plain full-size version exactly.

The module paints only where windows meet and keeps per-candidate masks instead of
re-reading the label image; these tests hold it to the obvious version of the same rule
(best vote share per pixel in full-size arrays, ties to the earlier candidate, numbers
in raster order of first pixel), bit for bit, including the label image's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtconsensus import WorkerAnnotation
from gtconsensus.consensus import gather
from gtconsensus.fusion import (
    Candidate,
    FusedInstance,
    FusionResult,
    fuse_class,
    fuse_instances,
    fused_mask,
    mask_iou,
    weighted_votes,
    without_member,
)
from gtconsensus.matching import instance_stats
from gtconsensus.testing.strategies import panels
from support import existence_lists


def _owners(
    candidates: Sequence[Candidate],
    shape: tuple[int, int],
    weights: list[float],
    existence: list[float] | None,
) -> np.ndarray:
    """Each pixel's candidate (index + 1, 0 for none), painted with full-size shares."""
    total = sum(weights)
    owner = np.zeros(shape, dtype=np.int64)  # candidate index + 1
    best = np.zeros(shape)
    for index, candidate in enumerate(candidates):
        votes, support = weighted_votes(candidate, weights)
        exists = support * 2 > total * (1 + 1e-12) if existence is None else existence[index] > 0.5
        fused = fused_mask(votes, support)
        if not exists or not fused.any():
            continue
        r0, r1, c0, c1 = candidate.window
        share = np.where(fused, votes / support, 0.0)
        wins = share > best[r0:r1, c0:c1]
        best[r0:r1, c0:c1][wins] = share[wins]
        owner[r0:r1, c0:c1][wins] = index + 1
    return owner


def _reference(
    candidates: Sequence[Candidate],
    shape: tuple[int, int],
    weights: list[float],
    existence: list[float] | None,
) -> tuple[np.ndarray, list[int]]:
    """The consensus labels and the candidate behind each label, with full-size shares."""
    owner = _owners(candidates, shape, weights, existence)
    flat = owner.ravel()
    present = np.unique(flat[flat > 0])
    order = sorted(present.tolist(), key=lambda i: int(np.argmax(flat == i)))
    dtype = np.uint8 if len(order) <= 255 else np.uint16
    labels = np.zeros(shape, dtype=dtype)
    for number, index in enumerate(order, start=1):
        labels[owner == index] = number
    return labels, [index - 1 for index in order]


def _assert_exact(fusion: FusionResult, expected: np.ndarray, behind: list[int]) -> None:
    assert fusion.labels.dtype == expected.dtype
    assert np.array_equal(fusion.labels, expected)
    assert [f.candidate for f in fusion.instances] == behind
    fresh = instance_stats(expected, len(behind))
    assert fusion.stats.n_instances == len(behind)
    assert fusion.stats.areas.tolist() == fresh.areas.tolist()
    assert fusion.stats.boxes.tolist() == fresh.boxes.tolist()
    assert fusion.stats.first_pixels.tolist() == fresh.first_pixels.tolist()
    assert fusion.stats.window == fresh.window


def _assert_canvas_exact(
    candidates: Sequence[Candidate], shape: tuple[int, int], weights: list[float]
) -> None:
    """Paint the candidates that exist (majority) on a canvas: before any renumbering,
    its image, held masks and areas are the full-size painting's, in painting order."""
    from gtconsensus.painting import Canvas

    total = sum(weights)
    canvas = Canvas(shape, len(candidates))
    painted = [0]  # candidate index + 1 behind each painting number
    for index, candidate in enumerate(candidates):
        votes, support = weighted_votes(candidate, weights)
        fused = fused_mask(votes, support)
        area = int(np.count_nonzero(fused))
        if support * 2 > total * (1 + 1e-12) and area:
            fused.flags.writeable = False
            canvas.paint(fused, area, votes, support, candidate.window)
            painted.append(index + 1)
    numbers = np.zeros(len(candidates) + 1, dtype=np.int64)
    numbers[painted] = np.arange(len(painted))
    expected = numbers[_owners(candidates, shape, weights, None)]
    assert np.array_equal(canvas.owner, expected)
    for number, index in enumerate(painted[1:], start=1):
        r0, r1, c0, c1 = candidates[index - 1].window
        assert np.array_equal(canvas.held[number - 1], expected[r0:r1, c0:c1] == number)
        assert canvas.areas[number - 1] == int(np.count_nonzero(expected == number))


@given(
    panel=panels(max_workers=5),
    weighting=st.sampled_from(["counts", "weights"]),
    data=st.data(),
)
def test_fusion_equals_painting_with_full_size_shares_exactly(
    panel: list[WorkerAnnotation], weighting: str, data: st.DataObject
) -> None:
    evidence = gather(panel)
    n = len(panel)
    weights = [1.0] * n if weighting == "counts" else [1.0 + 0.5 * (i % 3) for i in range(n)]
    candidates = evidence.candidates
    n_candidates = len(candidates)
    existence = data.draw(existence_lists(n_candidates))
    fusion = fuse_instances(candidates, shape=evidence.shape, weights=weights, existence=existence)
    _assert_exact(fusion, *_reference(candidates, evidence.shape, weights, existence))
    for fused in fusion.kept.values():
        candidate = candidates[fused.candidate]
        ious = [mask_iou(mask, fused.mask) for mask in candidate.masks]
        assert fused.ious == tuple(ious)
        assert fused.mean_iou == float(np.mean(ious))
        _assert_inters(candidate, fused, weights)
        assert fused.label == fuse_class(candidate.classes, [weights[w] for w in candidate.workers])


def _assert_inters(candidate: Candidate, fused: FusedInstance, weights: list[float]) -> None:
    """Recorded intersections (counted votes only) are the members' pixels in the fusion."""
    counted = all(weights[w] == 1.0 for w in candidate.workers)
    expected = tuple(int(np.count_nonzero(mask & fused.mask)) for mask in candidate.masks)
    assert fused.inters == (expected if counted else ())


def _random_candidates(
    seed: int,
    *,
    n_candidates: int,
    n_workers: int,
    shape: tuple[int, int],
    recorded: bool = False,
) -> list[Candidate]:
    """Candidates with random windows and random member masks (dense enough to meet);
    ``recorded``: with each member's area and each pair's overlap on the candidate, as
    gathering records them."""
    rng = np.random.default_rng(seed)
    height, width = shape
    candidates = []
    for _ in range(n_candidates):
        r0, c0 = int(rng.integers(0, height)), int(rng.integers(0, width))
        r1 = int(rng.integers(r0 + 1, min(height, r0 + 6) + 1))
        c1 = int(rng.integers(c0 + 1, min(width, c0 + 6) + 1))
        size = int(rng.integers(1, n_workers + 1))
        workers = sorted(rng.choice(n_workers, size=size, replace=False).tolist())
        masks = []
        for _ in workers:
            mask = rng.random((r1 - r0, c1 - c0)) < 0.7
            mask.flags.writeable = False
            masks.append(mask)
        members = tuple((w, 1) for w in workers)
        areas = tuple(int(mask.sum()) for mask in masks) if recorded else ()
        overlaps = tuple(int(np.sum(a & b)) for a, b in combinations(masks, 2)) if recorded else ()
        window = (r0, r1, c0, c1)
        candidates.append(
            Candidate(members, window, tuple(masks), ("Car",) * size, areas, overlaps)
        )
    return candidates


@given(
    seed=st.integers(0, 2**32 - 1),
    n_candidates=st.integers(1, 30),
    n_workers=st.integers(1, 4),
    weighting=st.sampled_from(["counts", "weights"]),
    decided_by=st.sampled_from(["majority", "existence"]),
    recorded=st.booleans(),
)
def test_fusion_of_overlapping_candidates_equals_full_size_painting_exactly(
    seed: int, n_candidates: int, n_workers: int, weighting: str, decided_by: str, recorded: bool
) -> None:
    # Windows up to 5x5 in a 10x10 image: many candidates meet, with every kind of share.
    shape = (10, 10)
    candidates = _random_candidates(
        seed, n_candidates=n_candidates, n_workers=n_workers, shape=shape, recorded=recorded
    )
    rng = np.random.default_rng(seed)
    weights = (
        rng.uniform(0.5, 3, n_workers).tolist() if weighting == "weights" else [1.0] * n_workers
    )
    existence = None if decided_by == "majority" else rng.random(n_candidates).tolist()
    fusion = fuse_instances(candidates, shape=shape, weights=weights, existence=existence)
    _assert_exact(fusion, *_reference(candidates, shape, weights, existence))
    for fused in fusion.kept.values():  # the IoUs read the recorded areas, or count them
        candidate = candidates[fused.candidate]
        assert fused.ious == tuple(mask_iou(mask, fused.mask) for mask in candidate.masks)
        _assert_inters(candidate, fused, weights)


@given(
    seed=st.integers(0, 2**32 - 1),
    n_candidates=st.integers(1, 30),
    n_workers=st.integers(1, 4),
    weighting=st.sampled_from(["counts", "weights"]),
)
def test_painting_equals_full_size_painting_before_renumbering(
    seed: int, n_candidates: int, n_workers: int, weighting: str
) -> None:
    # The renumbering rewrites every moved candidate from its held mask, which can hide
    # a pixel left unpainted in the image: here the image is compared as painted.
    shape = (10, 10)
    candidates = _random_candidates(
        seed, n_candidates=n_candidates, n_workers=n_workers, shape=shape
    )
    rng = np.random.default_rng(seed)
    weights = (
        rng.uniform(0.5, 3, n_workers).tolist() if weighting == "weights" else [1.0] * n_workers
    )
    _assert_canvas_exact(candidates, shape, weights)


@given(panel=panels(max_workers=5))
def test_gathered_candidates_record_each_members_area_and_overlaps(
    panel: list[WorkerAnnotation],
) -> None:
    # The areas come from instance_stats of the whole label image: each member's mask
    # lies wholly inside the window, so its pixels there are all of them. The overlaps
    # come from matching's intersections.
    evidence = gather(panel)
    labels = {a.worker_id: a.labels for a in panel}
    for candidate in evidence.candidates:
        assert candidate.areas == tuple(int(np.count_nonzero(m)) for m in candidate.masks)
        pairs = combinations(candidate.masks, 2)
        assert candidate.overlaps == tuple(int(np.count_nonzero(a & b)) for a, b in pairs)
        for (worker, label), area in zip(candidate.members, candidate.areas, strict=True):
            image = labels[evidence.worker_ids[worker]]
            assert area == int(np.count_nonzero(image == label))


@pytest.mark.parametrize("kept_share", [1.0, 0.5])
def test_more_than_255_candidates_are_painted_and_numbered_exactly(kept_share: float) -> None:
    # 400 candidates: the painting needs 16-bit numbers; with about half of them kept
    # the consensus fits 8 bits again.
    shape = (40, 40)
    candidates = _random_candidates(3, n_candidates=400, n_workers=3, shape=shape)
    rng = np.random.default_rng(5)
    existence = [0.9 if rng.random() < kept_share else 0.1 for _ in candidates]
    weights = [1.0, 1.5, 2.5]
    fusion = fuse_instances(candidates, shape=shape, weights=weights, existence=existence)
    expected, behind = _reference(candidates, shape, weights, existence)
    assert expected.dtype == (np.uint16 if kept_share == 1.0 else np.uint8)
    _assert_exact(fusion, expected, behind)
    assert len(fusion.kept) > len(fusion.instances)  # some lost every pixel


def _candidate(window: tuple[int, int, int, int], halves: Sequence[bool]) -> Candidate:
    """Workers 0, 1, ... over ``window``: each member's mask is the whole window, or its
    left half when the matching entry of ``halves`` is true."""
    r0, r1, c0, c1 = window
    masks = []
    for half in halves:
        mask = np.ones((r1 - r0, c1 - c0), dtype=bool)
        if half:
            mask[:, (c1 - c0) // 2 :] = False
        mask.flags.writeable = False
        masks.append(mask)
    members = tuple((worker, 1) for worker in range(len(halves)))
    return Candidate(members, window, tuple(masks), ("Car",) * len(halves))


@pytest.mark.parametrize("columns", [(1, 7), (0, 4), (2, 10)])
def test_rows_no_earlier_window_reaches_are_painted_and_the_rows_met_contested_exactly(
    columns: tuple[int, int],
) -> None:
    # The last candidate's window is taller than the rows the earlier windows reach
    # (3 to 8): its rows above and below are written without being read. In the rows
    # met it claims pixels from two owners, one in each of two earlier windows (of its
    # width or not), with higher, equal and lower shares.
    shape = (12, 10)
    candidates = [
        _candidate((3, 6, 0, 4), [False, True]),
        _candidate((6, 8, 2, 10), [False, True]),
        _candidate((0, 12, *columns), [False, False, True]),
    ]
    fusion = fuse_instances(candidates, shape=shape, weights=[1.0, 1.0, 1.0])
    expected, behind = _reference(candidates, shape, [1.0, 1.0, 1.0], None)
    _assert_exact(fusion, expected, behind)
    assert len(fusion.instances) == 3  # each keeps some pixels
    last = behind.index(2) + 1
    assert np.all(expected[[0, 1, 2, 8, 9, 10, 11], columns[0] : columns[1]] == last)
    _assert_canvas_exact(candidates, shape, [1.0, 1.0, 1.0])  # unmasked by the renumbering


@given(seed=st.integers(0, 2**32 - 1), n_workers=st.integers(1, 5))
def test_counted_votes_are_the_number_of_members_on_each_pixel(seed: int, n_workers: int) -> None:
    candidates = _random_candidates(seed, n_candidates=3, n_workers=n_workers, shape=(8, 8))
    for candidate in candidates:
        votes, support = weighted_votes(candidate, [1.0] * n_workers)
        expected = np.sum([mask.astype(np.int64) for mask in candidate.masks], axis=0)
        assert votes.dtype == np.uint8
        assert support == len(candidate.masks)
        assert np.array_equal(votes, expected)
        for mask in candidate.masks:
            less = without_member(votes, mask, 1.0)
            assert less.dtype == np.uint8
            assert np.array_equal(less, expected - mask)


@pytest.mark.parametrize("n", range(1, 13))
def test_mean_iou_is_numpys_mean_bit_for_bit(n: int) -> None:
    # numpy adds fewer than 8 values in order and sums 8 or more pairwise; both differ
    # from other orders in the last bit for many of these draws.
    from gtconsensus.fusion import _mean

    for values in np.random.default_rng(n).random((500, n)).tolist():
        assert _mean(tuple(values)) == float(np.mean(values))


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "weights", [[1.0, 2.0], [NAN, 1.0], [INF, 1.0], [INF, -INF], [-1.0, 0.5], [1e308, 1e308]]
)
@pytest.mark.parametrize("classes", [("Car", "Car"), ("Car", "Bus")])
def test_class_of_agreeing_members_is_the_class_vote(
    weights: list[float], classes: tuple[str, str]
) -> None:
    # The shortcut for members that agree answers as the tally does, errors included.
    from gtconsensus.fusion import _fused_class

    mask = np.ones((1, 1), dtype=bool)
    candidate = Candidate(((0, 1), (1, 1)), (0, 1, 0, 1), (mask, mask), classes)
    try:
        expected: object = fuse_class(classes, weights)
    except ValueError as error:
        expected = type(error)
    try:
        got: object = _fused_class(candidate, weights)
    except ValueError as error:
        got = type(error)
    assert got == expected


@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(1, 30),
    width=st.integers(1, 30),
    density=st.sampled_from([0.002, 0.02, 0.3, 1.0]),
)
def test_held_box_is_the_span_of_the_held_rows_and_columns(
    seed: int, height: int, width: int, density: float
) -> None:
    # Sparse masks put sides far from the window's (past the lines counted one by one).
    from gtconsensus.painting import held_box

    rng = np.random.default_rng(seed)
    held = rng.random((height, width)) < density
    held[rng.integers(height), rng.integers(width)] = True
    rows = np.flatnonzero(held.any(axis=1))
    cols = np.flatnonzero(held.any(axis=0))
    first = int(np.flatnonzero(held.ravel())[0])
    expected = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1, first % width)
    assert held_box(held) == tuple(int(v) for v in expected)
