"""Fusion: existence by strict weighted majority, pixel votes, contested pixels, classes."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gtconsensus import WorkerAnnotation, consolidate
from gtconsensus.consensus import decide, gather
from gtconsensus.exceptions import OptionsError
from gtconsensus.fusion import (
    Candidate,
    _fused_area_and_inters,
    _HeldPatterns,
    fuse_class,
    fuse_instances,
    fused_mask,
    gather_candidate,
    mask_iou,
    weighted_votes,
)
from gtconsensus.matching import instance_stats
from gtconsensus.patterns import MOST_PATTERNED, pattern_votes
from gtconsensus.scoring import score_against_fusion
from gtconsensus.testing.strategies import panels
from support import bar, same_partition


def _fuse(labels: list[np.ndarray], members: list[tuple[tuple[int, int], ...]]) -> np.ndarray:
    """Fuse hand-picked clusters of 1-row label images with weight 1 each."""
    stats = [instance_stats(x, int(x.max(initial=0))) for x in labels]
    weights = [1.0] * len(labels)
    classes = [("Car",) * int(x.max(initial=0)) for x in labels]
    candidates = [gather_candidate(labels, stats, classes, m) for m in members]
    return fuse_instances(candidates, shape=labels[0].shape, weights=weights).labels


def test_fused_mask_includes_pixels_with_exactly_half_the_votes() -> None:
    votes = np.array([0.0, 1.0, 2.0, 3.0])
    assert fused_mask(votes, 4.0).tolist() == [False, False, True, True]


def test_fused_mask_of_zero_support_is_empty() -> None:
    assert not fused_mask(np.ones(3), 0.0).any()


# Weights whose sums round (0.1 + 0.2 > 0.3), tie (1 + 2 == 3), are zero, tiny, huge
# (1e308 + 1e308 overflows) or not numbers (0 * inf is nan where a mask is empty).
awkward_weights = st.one_of(
    st.sampled_from([0.0, -0.0, 0.1, 0.2, 0.3, 1 / 3, 1.0, 1.37, 2.0, 3.0, 5e-324, 1e308]),
    st.sampled_from([-1.0, float("inf"), float("nan")]),
    st.floats(0.0, 10.0),
)


@st.composite
def masks_and_weights(draw: st.DrawFn) -> tuple[tuple[np.ndarray, ...], list[float]]:
    """1 to 10 random masks of one small shape (past 8: no byte of patterns), a weight each."""
    n_masks = draw(st.one_of(st.integers(2, 3), st.integers(1, 10)))
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    pixels = st.lists(st.booleans(), min_size=height * width, max_size=height * width)
    masks = tuple(np.array(draw(pixels)).reshape(height, width) for _ in range(n_masks))
    return masks, draw(st.lists(awkward_weights, min_size=n_masks, max_size=n_masks))


@given(case=masks_and_weights())
@example(case=((np.array([[True, False]]),) * 3, [0.1, 0.2, 0.3]))  # 0.1 + 0.2 + 0.3 rounds
@example(case=((np.array([[True, False]]), np.array([[False, True]])), [np.nan, np.inf]))
def test_weighted_votes_are_the_per_pixel_float_sums_bit_for_bit(
    case: tuple[tuple[np.ndarray, ...], list[float]],
) -> None:
    masks, weights = case
    n = len(masks)
    candidate = Candidate(tuple((w, 1) for w in range(n)), (0, 1, 0, 1), masks, ("Car",) * n)
    want = np.zeros(masks[0].shape)
    with np.errstate(over="ignore", invalid="ignore"):
        for mask, weight in zip(masks, weights, strict=True):
            want += mask * weight
        votes, _ = weighted_votes(candidate, weights)
    if weights.count(1.0) < n:  # (all ones: counts, checked elsewhere)
        assert votes.dtype == np.float64
        # Bit for bit (zeros' signs too), but for which nan: numpy's loops may keep
        # either of two nans added (unordered either way, as fusion compares votes).
        assert _one_nan(votes).tobytes() == _one_nan(want).tobytes()


def _rows(*rows: list[int]) -> tuple[np.ndarray, ...]:
    """One-row boolean masks."""
    return tuple(np.array([row], bool) for row in rows)


@given(case=masks_and_weights())
@example(case=(_rows([1, 1, 0], [0, 1, 1], [1, 1, 1]), [1, 1.37, 1.74]))  # area holds t
@example(case=(_rows([1, 1, 0], [0, 1, 1], [1, 0, 1]), [1, 2, 4]))  # (nothing needs t)
@example(case=(_rows([1, 0, 1]), [0.5]))  # one member
def test_fused_area_and_inters_of_float_votes_equal_counting_the_fused_shape(
    case: tuple[tuple[np.ndarray, ...], list[float]],
) -> None:
    # From the recorded areas and overlaps, by membership pattern: as counted.
    masks, weights = case
    n = len(masks)
    candidate = Candidate(
        tuple((w, 1) for w in range(n)),
        (0, 1, 0, 1),
        masks,
        ("Car",) * n,
        tuple(int(m.sum()) for m in masks),
        tuple(int((a & b).sum()) for a, b in combinations(masks, 2)),
    )
    with np.errstate(over="ignore", invalid="ignore"):  # huge weights: inf and nan votes
        votes, support = weighted_votes(candidate, weights)
        fused = fused_mask(votes, support)
    if votes.dtype.kind == "u" or n > MOST_PATTERNED:  # counted, or no byte of patterns
        return
    area = int(np.count_nonzero(fused))
    want = (area, tuple(int(np.count_nonzero(m & fused)) for m in masks)) if area else (0, ())
    held = _HeldPatterns.of(tuple(pattern_votes([float(w) for w in weights])), support)
    got = _fused_area_and_inters(candidate, fused, support, counted=False, held=held)
    assert (got if got[0] else (0, ())) == want


def _one_nan(values: np.ndarray) -> np.ndarray:
    """``values`` with every nan the same nan."""
    return np.where(np.isnan(values), np.nan, values)


@given(
    votes=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20),
    support=st.one_of(
        st.floats(min_value=0.0, exclude_min=True),
        st.sampled_from(
            [5e-324, 1e-308, 2.2250738585072014e-308, 1e308, float("inf"), float("nan")]
        ),
    ),
)
def test_fused_mask_of_float_votes_is_twice_the_votes_reaching_the_limit(
    votes: list[float], support: float
) -> None:
    array = np.array(votes)
    with np.errstate(over="ignore"):  # huge votes: twice is inf
        want = array * 2 >= support * (1 - 1e-12)
        assert fused_mask(array, support).tolist() == want.tolist()


def test_mask_iou_of_two_empty_masks_is_zero() -> None:
    assert mask_iou(np.zeros(3, bool), np.zeros(3, bool)) == 0.0


def test_class_vote_follows_weights() -> None:
    assert fuse_class(["Car", "Bus", "Bus"], [3.0, 1.0, 1.0]) == "Car"


def test_class_vote_tie_goes_to_the_name_that_sorts_first() -> None:
    assert fuse_class(["Person", "Car"], [1.0, 1.0]) == "Car"


def test_cluster_drawn_by_half_the_workers_is_dropped() -> None:
    drawn, empty = bar(4, (0, 2)), bar(4)
    labels = [drawn, drawn, empty, empty]
    assert not _fuse(labels, [((0, 1), (1, 1))]).any()


def test_cluster_drawn_by_a_strict_majority_is_kept() -> None:
    drawn, empty = bar(4, (0, 2)), bar(4)
    labels = [drawn, drawn, empty]
    assert _fuse(labels, [((0, 1), (1, 1))]).tolist() == [[1, 1, 0, 0]]


def test_contested_pixel_goes_to_the_higher_vote_share() -> None:
    # Pixel 3 is in X for 2 of X's 3 members (2/3) and in Y for 1 of Y's 2 members (1/2).
    labels = [bar(6, (0, 3), (3, 6)), bar(6, (0, 4), (4, 6)), bar(6, (0, 4))]
    fused = _fuse(labels, [((0, 1), (1, 1), (2, 1)), ((0, 2), (1, 2))])
    assert fused.tolist() == [[1, 1, 1, 1, 2, 2]]


def test_contested_pixel_goes_to_a_later_cluster_with_a_higher_share() -> None:
    # Pixels 4-5: the left cluster claims them with 2 of its 4 members (1/2), the right
    # one, which starts later, with all 3 of its members (3/3): the right one wins them.
    wide, split, right = bar(10, (0, 6)), bar(10, (0, 4), (4, 10)), bar(10, (4, 10))
    answers = [
        WorkerAnnotation(w, x, ("Car",) * int(x.max()))
        for w, x in zip("abcde", [wide, wide, split, split, right], strict=True)
    ]
    assert consolidate(answers).labels.tolist() == [[1, 1, 1, 1, 2, 2, 2, 2, 2, 2]]


@pytest.mark.parametrize("flip", [False, True])
def test_contested_pixel_with_equal_shares_goes_to_the_cluster_that_starts_first(
    flip: bool,
) -> None:
    # Pixel 4 gets 2 of 4 votes from each cluster; the left cluster starts first.
    sharp, soft = bar(8, (0, 5), (5, 8)), bar(8, (0, 4), (4, 8))
    labels = [sharp, sharp, soft, soft]
    if flip:
        labels = [np.ascontiguousarray(x[:, ::-1]) for x in labels]
    answers = [WorkerAnnotation(w, x, ("Car", "Car")) for w, x in zip("abcd", labels, strict=True)]
    result = consolidate(answers)
    expected = [[1, 1, 1, 1, 1, 2, 2, 2]] if not flip else [[1, 1, 1, 1, 2, 2, 2, 2]]
    assert result.labels.tolist() == expected


def test_fused_shape_is_the_pixel_majority_of_the_members() -> None:
    labels = [bar(6, (0, 4)), bar(6, (1, 5)), bar(6, (1, 4))]
    assert _fuse(labels, [((0, 1), (1, 1), (2, 1))]).tolist() == [[0, 1, 1, 1, 0, 0]]


def test_fused_labels_are_read_only() -> None:
    labels = [bar(3, (0, 2))] * 3
    assert not _fuse(labels, [((0, 1), (1, 1), (2, 1))]).flags.writeable


def test_fused_instances_are_numbered_in_raster_order_of_their_first_pixel() -> None:
    labels = [bar(6, (4, 6), (0, 2))] * 3  # the workers numbered the right one first
    fused = _fuse(labels, [((0, 1), (1, 1), (2, 1)), ((0, 2), (1, 2), (2, 2))])
    assert fused.tolist() == [[1, 1, 0, 0, 2, 2]]


def _painted_naively(candidates: list[Candidate], shape: tuple[int, int], weights: list[float]):
    """The painting rule with full-size arrays of the best share (the obvious version)."""
    total = sum(weights)
    owner = np.zeros(shape, dtype=np.int64)
    best = np.zeros(shape)
    number = 0
    for candidate in candidates:
        votes, support = weighted_votes(candidate, weights)
        fused = fused_mask(votes, support)
        if not support * 2 > total * (1 + 1e-12) or not fused.any():
            continue
        number += 1
        r0, r1, c0, c1 = candidate.window
        share = np.where(fused, votes / support, 0.0)
        wins = share > best[r0:r1, c0:c1]
        best[r0:r1, c0:c1][wins] = share[wins]
        owner[r0:r1, c0:c1][wins] = number
    return owner


@given(panel=panels(max_workers=5))
def test_painting_by_window_overlaps_equals_painting_with_full_size_shares(
    panel: list[WorkerAnnotation],
) -> None:
    evidence = gather(panel)
    weights = [1.0 + 0.5 * (i % 3) for i in range(len(panel))]
    by_id = dict(zip(evidence.worker_ids, weights, strict=True))
    fused = fuse_instances(evidence.candidates, shape=evidence.shape, weights=weights)
    naive = _painted_naively(list(evidence.candidates), evidence.shape, weights)
    assert same_partition(fused.labels, naive)
    assert np.array_equal(decide(evidence, weights=by_id).labels, fused.labels)


@given(panel=panels(max_workers=5))
def test_counting_votes_decides_exactly_as_weighting_them(panel: list[WorkerAnnotation]) -> None:
    # Weights of 1 take the integer path; weights of 2 the float path; same decisions.
    evidence = gather(panel)
    ones = decide(evidence)
    twos = decide(evidence, weights={w: 2.0 for w in evidence.worker_ids})
    assert np.array_equal(ones.labels, twos.labels)
    assert [w.versus_others for w in ones.workers] == [w.versus_others for w in twos.workers]
    assert [w.versus_consensus for w in ones.workers] == [w.versus_consensus for w in twos.workers]


@given(panel=panels(max_workers=5))
def test_recorded_member_ious_are_each_members_iou_with_the_fused_shape(
    panel: list[WorkerAnnotation],
) -> None:
    evidence = gather(panel)
    weights = [1.0 + 0.5 * (i % 3) for i in range(len(panel))]
    fusion = fuse_instances(evidence.candidates, shape=evidence.shape, weights=weights)
    for fused in fusion.kept.values():
        masks = evidence.candidates[fused.candidate].masks
        assert fused.ious == tuple(mask_iou(mask, fused.mask) for mask in masks)
        assert fused.mean_iou == float(np.mean([mask_iou(m, fused.mask) for m in masks]))
    # Scoring against the fusion reads the recorded IoUs: the same as measuring them.
    unrecorded = replace(fusion, kept={i: replace(f, ious=()) for i, f in fusion.kept.items()})
    n = len(panel)
    assert score_against_fusion(evidence.candidates, fusion, n_workers=n) == (
        score_against_fusion(evidence.candidates, unrecorded, n_workers=n)
    )


@given(panel=panels(max_workers=5))
def test_consensus_is_numbered_by_first_pixel_with_matching_stats(
    panel: list[WorkerAnnotation],
) -> None:
    # Relabelling only the candidates whose number changes ends as numbering afresh.
    evidence = gather(panel)
    weights = [1.0 + 0.5 * (i % 2) for i in range(len(panel))]
    fusion = fuse_instances(evidence.candidates, shape=evidence.shape, weights=weights)
    labels, k = fusion.labels, len(fusion.instances)
    firsts = [int(np.flatnonzero(labels.ravel() == n)[0]) for n in range(1, k + 1)]
    assert firsts == sorted(firsts)
    assert set(np.unique(labels).tolist()) <= set(range(k + 1))
    fresh = instance_stats(labels, k)
    assert fresh.areas.tolist() == fusion.stats.areas.tolist()
    assert fresh.boxes.tolist() == fusion.stats.boxes.tolist()
    assert fresh.first_pixels.tolist() == fusion.stats.first_pixels.tolist()
    assert not labels.flags.writeable


def test_consensus_is_renumbered_when_a_fused_shape_starts_after_the_next_one() -> None:
    # Only the first worker starts the left object in row 0; its fused shape starts in
    # row 1, after the right object's: the two swap numbers.
    first = np.array([[1, 1, 0, 0, 2, 2, 2], [1, 1, 1, 1, 0, 0, 0]], np.uint8)
    other = np.array([[0, 0, 0, 0, 2, 2, 2], [1, 1, 1, 1, 0, 0, 0]], np.uint8)
    answers = zip("abc", [first, other, other], strict=True)
    panel = [WorkerAnnotation(w, x, ("Car", "Bus")) for w, x in answers]
    evidence = gather(panel)
    assert [c.classes[0] for c in evidence.candidates] == ["Car", "Bus"]
    fusion = fuse_instances(evidence.candidates, shape=evidence.shape, weights=[1.0] * 3)
    assert fusion.labels.tolist() == [[0, 0, 0, 0, 1, 1, 1], [2, 2, 2, 2, 0, 0, 0]]
    assert [f.label for f in fusion.instances] == ["Bus", "Car"]


def test_a_candidate_refuses_recorded_counts_of_the_wrong_length() -> None:
    mask = np.ones((1, 2), dtype=bool)
    members, window, masks = ((0, 1), (1, 1)), (0, 1, 0, 2), (mask, mask)
    Candidate(members, window, masks, ("Car", "Car"), (2, 2), (2,))  # one pair: fine
    with pytest.raises(OptionsError, match="1 areas for 2 members"):
        Candidate(members, window, masks, ("Car", "Car"), (2,))
    with pytest.raises(OptionsError, match="2 overlaps for 2 members"):
        Candidate(members, window, masks, ("Car", "Car"), (2, 2), (2, 2))
