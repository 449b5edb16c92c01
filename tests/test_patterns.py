"""Votes by membership pattern equal the per-pixel float votes they stand for.

Fusion keeps the float votes of at most 8 members as a byte of pattern per pixel and a
float per pattern (:class:`~gtconsensus.patterns.PatternVotes`); these tests hold that
path to the per-pixel float arrays of :func:`~gtconsensus.fusion.weighted_votes`: the
same votes, fused masks, consensus and scores, ties at exactly half the support included.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from gtconsensus import WorkerAnnotation
from gtconsensus.consensus import Consensus, decide, gather
from gtconsensus.fusion import (
    Candidate,
    FusionResult,
    candidate_votes,
    fuse_instances,
    fused_mask,
    weighted_votes,
)
from gtconsensus.patterns import PatternVotes, pattern_codes, reaching, votes_at
from gtconsensus.scoring import score_leave_one_out
from gtconsensus.testing.strategies import panels
from support import existence_lists

# Float weights: some make ties, some round, most are arbitrary.
float_weights = st.one_of(
    st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.5, 0.1, 0.2, 0.3, 1 / 3, 1.37]),
    st.floats(0.01, 10.0),
)
# Dyadic weights make exact ties (0.25 + 0.25 is half of 1.0).
tie_making_weights = st.sampled_from([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
# Per worker: most of them make ties (two values: many subsets weigh half the total).
weight_lists = st.one_of(
    st.lists(st.sampled_from([0.25, 0.5]), min_size=6, max_size=6),
    st.lists(tie_making_weights, min_size=6, max_size=6),
    st.lists(float_weights, min_size=6, max_size=6),
)


@st.composite
def patterned_masks(draw: st.DrawFn) -> tuple[tuple[np.ndarray, ...], list[float]]:
    """1 to 8 random masks of one small shape, a float weight each."""
    n_masks = draw(st.integers(1, 8))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pixels = st.lists(st.booleans(), min_size=height * width, max_size=height * width)
    masks = tuple(np.array(draw(pixels)).reshape(height, width) for _ in range(n_masks))
    return masks, draw(st.lists(float_weights, min_size=n_masks, max_size=n_masks))


@given(case=patterned_masks())
def test_pattern_codes_set_bit_i_where_mask_i_holds_the_pixel(
    case: tuple[tuple[np.ndarray, ...], list[float]],
) -> None:
    masks, _ = case
    want = sum((mask.astype(np.int64) << slot for slot, mask in enumerate(masks)), np.int64(0))
    codes = pattern_codes(masks)
    assert codes.dtype == np.uint8
    assert codes.tolist() == np.broadcast_to(want, masks[0].shape).tolist()


@given(case=patterned_masks(), data=st.data())
@example(case=((np.array([[True, False]]),) * 3, [0.1, 0.2, 0.3]), data=None)  # rounds
@example(case=((np.array([[True, False]]),) * 3, [0.5, 0.25, 0.25]), data=None)  # ties
def test_pattern_votes_are_the_float_votes_and_fuse_as_they_do(
    case: tuple[tuple[np.ndarray, ...], list[float]], data: st.DataObject | None
) -> None:
    masks, weights = case
    votes = PatternVotes.of(masks, weights)
    want = np.zeros(masks[0].shape)
    for mask, weight in zip(masks, weights, strict=True):
        want += mask * weight
    assert votes.array().tobytes() == want.tobytes()
    assert votes.shape == want.shape
    total = sum(weights)
    # The members' summed weight, or the weight of a subset of them: a tie at half.
    supports = [total, 2 * sum(weights[: len(weights) // 2]), 2 * weights[0], 0.0]
    for support in supports:
        fused = fused_mask(votes, support)
        assert fused.dtype == np.bool_
        assert fused.tolist() == fused_mask(want, support).tolist()
    pixels = np.arange(want.size)
    if data is not None:
        pixels = np.array(data.draw(st.lists(st.integers(0, want.size - 1))), dtype=np.intp)
    assert votes_at(votes, pixels).tobytes() == want.ravel()[pixels].tobytes()


@given(case=patterned_masks())
def test_holding_takes_the_pixels_of_the_patterns_given(
    case: tuple[tuple[np.ndarray, ...], list[float]],
) -> None:
    masks, weights = case
    votes = PatternVotes.of(masks, weights)
    codes = pattern_codes(masks)
    for patterns in [(), tuple(range(0, 1 << len(masks), 3)), reaching(votes.votes, 1.0)]:
        want = np.isin(codes, np.array(patterns, dtype=np.int64))
        assert votes.holding(patterns).tolist() == want.tolist()


def _assert_same_fusion(got: FusionResult, want: FusionResult) -> None:
    assert got.labels.dtype == want.labels.dtype
    assert got.labels.tobytes() == want.labels.tobytes()
    assert got.kept.keys() == want.kept.keys()
    for index, fused in got.kept.items():
        other = want.kept[index]
        assert fused.mask.tolist() == other.mask.tolist()
        assert (fused.label, fused.support, fused.mean_iou, fused.existence, fused.ious) == (
            other.label, other.support, other.mean_iou, other.existence, other.ious,
        )  # fmt: skip
    assert [f.candidate for f in got.instances] == [f.candidate for f in want.instances]
    assert got.stats.areas.tolist() == want.stats.areas.tolist()
    assert got.stats.boxes.tolist() == want.stats.boxes.tolist()


@given(
    panel=panels(min_workers=2, max_workers=6),
    weights=weight_lists,
    data=st.data(),
)
def test_fusion_and_scores_by_pattern_equal_those_of_float_arrays(
    panel: list[WorkerAnnotation], weights: list[float], data: st.DataObject
) -> None:
    evidence = gather(panel)
    worker_weights = weights[: len(evidence.worker_ids)]
    candidates = evidence.candidates
    n = len(candidates)
    existence = data.draw(existence_lists(n))
    patterned = [candidate_votes(c, worker_weights) for c in candidates]
    arrays = [weighted_votes(c, worker_weights) for c in candidates]
    for (votes, _), candidate in zip(patterned, candidates, strict=True):
        weighed = any(worker_weights[w] != 1.0 for w in candidate.workers)
        assert isinstance(votes, PatternVotes) == weighed  # (at most 6 members here)
    fusions = [
        fuse_instances(
            candidates,
            shape=evidence.shape,
            weights=worker_weights,
            existence=existence,
            votes=votes,
        )
        for votes in (patterned, arrays)
    ]
    _assert_same_fusion(*fusions)
    scores = [
        score_leave_one_out(candidates, weights=worker_weights, votes=votes, fusion=fusion)
        for votes, fusion in zip((patterned, arrays), fusions, strict=True)
    ]
    assert scores[0] == scores[1]


def _as_bytes(consensus: Consensus) -> bytes:
    return consensus.labels.tobytes() + repr((consensus.instances, consensus.workers)).encode()


@given(
    panel=panels(min_workers=2, max_workers=5),
    weights=weight_lists,
    data=st.data(),
)
def test_decide_by_pattern_equals_decide_on_float_arrays(
    panel: list[WorkerAnnotation], weights: list[float], data: st.DataObject
) -> None:
    evidence = gather(panel)
    n = len(evidence.candidates)
    existence = data.draw(existence_lists(n))
    by_worker = dict(zip(evidence.worker_ids, weights, strict=False))
    got = decide(evidence, weights=by_worker, existence=existence)
    with mock.patch("gtconsensus.consensus.candidate_votes", weighted_votes):
        want = decide(evidence, weights=by_worker, existence=existence)
    assert _as_bytes(got) == _as_bytes(want)


def test_a_candidate_of_one_member_keeps_its_mask_as_codes() -> None:
    mask = np.array([[True, False, True]])
    candidate = Candidate(((0, 1),), (0, 1, 0, 3), (mask,), ("Car",))
    votes, support = candidate_votes(candidate, [0.5])
    assert isinstance(votes, PatternVotes)
    assert (votes.votes, support) == ((0.0, 0.5), 0.5)
    assert fused_mask(votes, support).tolist() == mask.tolist()


def test_pixels_at_exactly_half_the_support_are_fused_by_pattern() -> None:
    a, b = np.array([[True, True, False]]), np.array([[False, True, True]])
    candidate = Candidate(((0, 1), (1, 1)), (0, 1, 0, 3), (a, b), ("Car", "Car"))
    votes, support = candidate_votes(candidate, [0.5, 0.5])  # one member: half of 1.0
    assert isinstance(votes, PatternVotes)
    assert fused_mask(votes, support).tolist() == [[True, True, True]]
    votes, support = candidate_votes(candidate, [0.5, 0.75])  # a alone is below half
    assert fused_mask(votes, support).tolist() == [[False, True, True]]
