"""Scoring: agreement counts, PQ, exact comparison, leave-one-out, job-level tallies."""

from __future__ import annotations

import dataclasses
from itertools import combinations
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gtconsensus import Agreement, WorkerAnnotation, WorkerTally, consolidate, scoring
from gtconsensus.consensus import gather
from gtconsensus.fusion import (
    Candidate,
    FusionResult,
    fuse_class,
    fuse_instances,
    fused_mask,
    gather_candidate,
    mask_iou,
    weighted_votes,
    without_member,
)
from gtconsensus.matching import instance_stats
from gtconsensus.scoring import (
    compare_label_images,
    score_against_fusion,
    score_leave_one_out,
)
from gtconsensus.testing.strategies import panels
from support import bar

agreements = st.builds(
    Agreement,
    tp=st.integers(0, 5),
    fp=st.integers(0, 5),
    fn=st.integers(0, 5),
    iou_sum=st.integers(0, 5).map(float),
    class_agreed=st.integers(0, 5),
)

WORKER_TABLE_COLUMNS = [
    "worker_id", "score", "reliability", "objects", "instances", "tp", "fp", "fn",
    "precision", "recall", "mean_iou", "class_accuracy", "pq",
]  # fmt: skip


def test_pq_is_sq_times_rq() -> None:
    agreement = Agreement(tp=3, fp=1, fn=2, iou_sum=2.4)
    assert agreement.sq == pytest.approx(0.8)
    assert agreement.rq == pytest.approx(3 / 4.5)
    assert agreement.pq == pytest.approx(agreement.sq * agreement.rq)


def test_pq_is_one_when_both_sides_are_empty() -> None:
    empty = Agreement()
    assert (empty.pq, empty.rq, empty.precision, empty.recall) == (1.0, 1.0, 1.0, 1.0)
    assert empty.sq is None
    assert empty.class_accuracy is None


def test_pq_is_zero_when_nothing_matches() -> None:
    assert Agreement(fp=1, fn=2).pq == 0.0


def test_precision_recall_and_class_accuracy_count_matches() -> None:
    agreement = Agreement(tp=2, fp=2, fn=6, iou_sum=1.0, class_agreed=1)
    assert (agreement.precision, agreement.recall, agreement.class_accuracy) == (0.5, 0.25, 0.5)


@given(agreements, agreements, agreements)
def test_agreements_add_up_associatively_with_an_identity(
    a: Agreement, b: Agreement, c: Agreement
) -> None:
    assert (a + b) + c == a + (b + c)
    assert a + Agreement() == a


@given(st.builds(WorkerTally, objects=st.integers(0, 3), compared=st.integers(0, 3),
                 instances=st.integers(0, 3), versus_others=agreements,
                 versus_consensus=agreements))  # fmt: skip
def test_worker_tallies_add_up_with_an_identity(tally: WorkerTally) -> None:
    assert tally + WorkerTally() == tally
    doubled = tally + tally
    assert doubled.versus_others == tally.versus_others + tally.versus_others
    assert doubled.objects == 2 * tally.objects


def test_worker_table_row_has_the_documented_columns_in_order() -> None:
    row = WorkerTally(objects=2, compared=2, instances=3,
                      versus_others=Agreement(tp=2, fp=1, iou_sum=1.7)).row("w1", 0.9)  # fmt: skip
    assert list(row) == WORKER_TABLE_COLUMNS
    assert (row["worker_id"], row["score"], row["reliability"]) == ("w1", 0.6800, 0.9)


def test_worker_table_row_rounds_floats_to_four_places() -> None:
    row = WorkerTally(objects=1, compared=1, versus_others=Agreement(tp=3, iou_sum=2.0)).row("w")
    assert row["score"] == 0.6667
    assert row["mean_iou"] == 0.6667


def test_worker_table_row_has_no_score_for_a_worker_never_compared() -> None:
    row = WorkerTally(objects=4, compared=0).row("alone")
    assert (row["score"], row["precision"], row["recall"]) == (None, None, None)


# --- exact comparison ---


def test_compare_counts_matches_misses_and_extras() -> None:
    labels = bar(10, (0, 3), (4, 6), (8, 10))
    reference = bar(10, (0, 3), (5, 6), (7, 10))  # IoUs: 1, 1/2 (not above 1/2), 2/3
    agreement = compare_label_images(labels, ["Car", "Car", "Bus"], reference, ["Car", "X", "Bus"])
    assert (agreement.tp, agreement.fp, agreement.fn) == (2, 1, 1)
    assert agreement.iou_sum == pytest.approx(1.0 + 2 / 3)
    assert agreement.class_agreed == 2


def test_compare_ignores_listed_instances_without_pixels() -> None:
    labels = bar(4, (0, 2))
    agreement = compare_label_images(labels, ["Car", "Car"], labels, ["Car", "Car", "Car"])
    assert (agreement.tp, agreement.fp, agreement.fn) == (1, 0, 0)


def test_compare_two_empty_images_scores_one() -> None:
    assert compare_label_images(bar(3), [], bar(3), []).pq == 1.0


def test_compare_below_one_half_matches_one_to_one() -> None:
    whole, halves = bar(10, (0, 10)), bar(10, (0, 5), (5, 10))
    agreement = compare_label_images(whole, ["Car"], halves, ["Car", "Car"], threshold=0.3)
    assert (agreement.tp, agreement.fp, agreement.fn) == (1, 0, 1)


# --- leave-one-out ---


def _leave_one_out(labels: list[np.ndarray], threshold: float = 0.5) -> list[Agreement | None]:
    answers = [WorkerAnnotation(f"w{i}", x, ("Car",) * int(x.max(initial=0)))
               for i, x in enumerate(labels)]  # fmt: skip
    return [w.versus_others for w in consolidate(answers, iou_threshold=threshold).workers]


def test_leave_one_out_of_a_single_worker_is_none() -> None:
    labels = bar(4, (0, 2))
    stats = [instance_stats(labels, 1)]
    candidates = [gather_candidate([labels], stats, [("Car",)], ((0, 1),))]
    assert score_leave_one_out(candidates, weights=[1.0]) == [None]


def test_leave_one_out_charges_an_extra_instance_to_its_author_only() -> None:
    shared = bar(10, (0, 4))
    extra = bar(10, (0, 4), (6, 9))
    scores = _leave_one_out([shared, shared, extra])
    assert [(s.tp, s.fp, s.fn) for s in scores if s] == [(1, 0, 0), (1, 0, 0), (1, 1, 0)]


def test_leave_one_out_charges_a_miss_to_the_worker_who_missed() -> None:
    drawn = bar(10, (0, 4))
    scores = _leave_one_out([drawn, drawn, drawn, bar(10)])
    assert [(s.tp, s.fp, s.fn) for s in scores if s] == [(1, 0, 0)] * 3 + [(0, 0, 1)]


def test_leave_one_out_uses_the_others_fused_shape() -> None:
    scores = _leave_one_out([bar(10, (0, 4)), bar(10, (0, 4)), bar(10, (0, 5))])
    last = scores[2]
    assert last is not None
    assert last.tp == 1
    assert last.iou_sum == pytest.approx(4 / 5)


def test_leave_one_out_ignores_a_cluster_on_which_the_others_split_evenly() -> None:
    # w0's partner w1 missed the object that w2 drew as well: the others of w0 are split.
    scores = _leave_one_out([bar(10, (0, 4)), bar(10), bar(10, (0, 4))])
    first = scores[0]
    assert first is not None
    assert (first.tp, first.fp, first.fn) == (0, 0, 0)


def _leave_one_out_naively(
    candidates: list[Candidate], weights: list[float], threshold: float = 0.5
) -> list[Agreement]:
    """The leave-one-out rule, the others' shape fused afresh from their own masks."""
    totals = []
    for worker in range(len(weights)):
        total = sum(weights) - weights[worker]
        agreement = Agreement()
        for candidate in candidates:
            everyone = fused_mask(*weighted_votes(candidate, weights))
            keep = [i for i, w in enumerate(candidate.workers) if w != worker]
            support = sum(weights[candidate.workers[i]] for i in keep)
            if abs(support * 2 - total) <= 1e-9 * total:
                continue
            if worker not in candidate.workers:
                if support * 2 > total and everyone.any():
                    agreement += Agreement(fn=1)
                continue
            own = candidate.masks[candidate.workers.index(worker)]
            reference = np.zeros(own.shape, dtype=bool)
            if keep and support * 2 > total:
                others = Candidate(
                    tuple(candidate.members[i] for i in keep),
                    candidate.window,
                    tuple(candidate.masks[i] for i in keep),
                    tuple(candidate.classes[i] for i in keep),
                )
                reference = fused_mask(*weighted_votes(others, weights))
            if not reference.any():
                agreement += Agreement(fp=1)
                continue
            label = fuse_class(
                [candidate.classes[i] for i in keep], [weights[candidate.workers[i]] for i in keep]
            )
            iou = mask_iou(own, reference)
            own_class = candidate.classes[candidate.workers.index(worker)]
            agreement += (
                Agreement(tp=1, iou_sum=iou, class_agreed=int(own_class == label))
                if iou > threshold
                else Agreement(fp=1, fn=1)
            )
        totals.append(agreement)
    return totals


@given(panel=panels(max_workers=5), heavy=st.integers(0, 4))
def test_leave_one_out_equals_fusing_the_others_afresh(
    panel: list[WorkerAnnotation], heavy: int
) -> None:
    # The votes less one member's (counts, or floats when one worker weighs 2) decide
    # as fusing the other members' masks from scratch.
    evidence = gather(panel)
    weights = [2.0 if i == heavy else 1.0 for i in range(len(panel))]
    got = score_leave_one_out(evidence.candidates, weights=weights)
    want = _leave_one_out_naively(list(evidence.candidates), weights)
    if len(panel) < 2:
        assert got == [None] * len(panel)
    else:
        assert got == want
    # Handed the fusion of everyone, it reads the intersections fusion counted.
    fusion = fuse_instances(evidence.candidates, shape=evidence.shape, weights=weights)
    assert score_leave_one_out(evidence.candidates, weights=weights, fusion=fusion) == got


@st.composite
def candidate_sets(draw: st.DrawFn) -> tuple[list[Candidate], list[float], float]:
    """Random candidates on a small window: any members (masks may be empty or equal),
    counted weights (all 1) or mixed ones, and a threshold."""
    n_workers = draw(st.integers(2, 7))
    weights = draw(
        st.one_of(
            st.just([1.0] * n_workers),
            st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=n_workers, max_size=n_workers),
        )
    )
    height, width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    recorded = draw(st.booleans())  # member areas on the candidate, or counted when asked
    candidates = []
    for _ in range(draw(st.integers(1, 6))):
        workers = sorted(draw(st.sets(st.integers(0, n_workers - 1), min_size=1)))
        pixels = st.lists(st.booleans(), min_size=height * width, max_size=height * width)
        masks = tuple(np.array(draw(pixels)).reshape(height, width) for _ in workers)
        classes = tuple(draw(st.sampled_from(["Bus", "Car"])) for _ in workers)
        members = tuple((worker, 1) for worker in workers)
        areas = tuple(int(mask.sum()) for mask in masks) if recorded else ()
        candidates.append(Candidate(members, (0, height, 0, width), masks, classes, areas))
    return candidates, weights, draw(st.sampled_from([0.1, 0.5, 0.75]))


@given(case=candidate_sets())
def test_leave_one_out_equals_fusing_the_others_afresh_on_any_candidates(
    case: tuple[list[Candidate], list[float], float],
) -> None:
    # Counted votes read each member's IoU from counts shared by the candidate (any
    # number of members, so any threshold); mixed weights subtract the member's votes.
    candidates, weights, threshold = case
    got = score_leave_one_out(candidates, weights=weights, threshold=threshold)
    assert got == _leave_one_out_naively(candidates, weights, threshold)
    # The fusion's intersections (recorded when its votes are counted) give the same.
    r0, r1, c0, c1 = candidates[0].window
    fusion = fuse_instances(candidates, shape=(r1 - r0, c1 - c0), weights=weights)
    fused = score_leave_one_out(candidates, weights=weights, threshold=threshold, fusion=fusion)
    assert fused == got
    # Kept by existence instead of the majority: its kept shapes are still the votes'.
    existence = [0.2 + 0.15 * (i % 5) for i in range(len(candidates))]
    fusion = fuse_instances(
        candidates, shape=(r1 - r0, c1 - c0), weights=weights, existence=existence
    )
    fused = score_leave_one_out(candidates, weights=weights, threshold=threshold, fusion=fusion)
    assert fused == got


@given(case=candidate_sets())
def test_fusion_records_intersections_only_from_counted_votes(
    case: tuple[list[Candidate], list[float], float],
) -> None:
    candidates, weights, _ = case
    r0, r1, c0, c1 = candidates[0].window
    fusion = fuse_instances(candidates, shape=(r1 - r0, c1 - c0), weights=weights)
    for fused in fusion.kept.values():
        candidate = candidates[fused.candidate]
        if all(weights[w] == 1.0 for w in candidate.workers):
            want = tuple(int(np.count_nonzero(m & fused.mask)) for m in candidate.masks)
            assert fused.inters == want
        else:
            assert fused.inters == ()


def _against_fusion_naively(
    candidates: list[Candidate], fusion: FusionResult, n_workers: int, threshold: float
) -> list[Agreement]:
    """Each worker against the fused shapes, the IoU counted afresh from the masks."""
    totals = []
    for worker in range(n_workers):
        agreement = Agreement()
        for index, candidate in enumerate(candidates):
            fused = fusion.kept.get(index)
            if worker not in candidate.workers:
                agreement += Agreement(fn=int(fused is not None))
                continue
            if fused is None:
                agreement += Agreement(fp=1)
                continue
            slot = candidate.workers.index(worker)
            iou = mask_iou(candidate.masks[slot], fused.mask)
            same = int(candidate.classes[slot] == fused.label)
            agreement += (
                Agreement(tp=1, iou_sum=iou, class_agreed=same)
                if iou > threshold
                else Agreement(fp=1, fn=1)
            )
        totals.append(agreement)
    return totals


@given(case=candidate_sets(), recorded=st.booleans())
def test_against_fusion_equals_counting_each_iou_afresh(
    case: tuple[list[Candidate], list[float], float], recorded: bool
) -> None:
    # With the fusion's recorded IoUs, or without them (then counted from the masks).
    candidates, weights, threshold = case
    shape = candidates[0].masks[0].shape
    fusion = fuse_instances(candidates, shape=shape, weights=weights)
    if not recorded:
        kept = {i: dataclasses.replace(f, ious=()) for i, f in fusion.kept.items()}
        fusion = dataclasses.replace(fusion, kept=kept)
    got = score_against_fusion(candidates, fusion, n_workers=len(weights), threshold=threshold)
    assert got == _against_fusion_naively(candidates, fusion, len(weights), threshold)


# Weights whose sums round (0.1 + 0.2 > 0.3), tie (1 + 2 == 3), are zero, tiny or huge.
awkward_weights = st.one_of(
    st.sampled_from([0.0, 0.1, 0.2, 0.3, 1 / 3, 0.7, 1.0, 1.37, 2.0, 3.0, 5e-324, 1e308]),
    st.floats(0.0, 10.0),
)


@st.composite
def weighted_candidates(draw: st.DrawFn) -> tuple[Candidate, list[float]]:
    """One candidate of 1 to 9 members on a small window, with or without its areas and
    overlaps recorded, and float weights for its workers."""
    n_members = draw(st.one_of(st.integers(2, 3), st.integers(1, 9)))  # 2, 3: arithmetic
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    pixels = st.lists(st.booleans(), min_size=height * width, max_size=height * width)
    masks = tuple(np.array(draw(pixels)).reshape(height, width) for _ in range(n_members))
    recorded = draw(st.booleans())
    candidate = Candidate(
        tuple((worker, 1) for worker in range(n_members)),
        (0, height, 0, width),
        masks,
        ("Car",) * n_members,
        tuple(int(m.sum()) for m in masks) if recorded else (),
        tuple(int((a & b).sum()) for a, b in combinations(masks, 2)) if recorded else (),
    )
    weights = draw(st.lists(awkward_weights, min_size=n_members, max_size=n_members))
    return candidate, weights


@given(case=weighted_candidates())
def test_pattern_pixels_count_each_membership_pattern(case: tuple[Candidate, list[float]]) -> None:
    candidate, _ = case
    if len(candidate.masks) > scoring.MOST_PATTERNED:
        return
    codes = sum(mask.astype(np.int64) << slot for slot, mask in enumerate(candidate.masks))
    want = np.bincount(codes.ravel(), minlength=1 << len(candidate.masks)).tolist()
    assert scoring._pattern_pixels(candidate) == want


def _three_recorded_members() -> Candidate:
    """Three members whose masks all share a pixel, areas and overlaps recorded."""
    masks = tuple(np.array([row], bool) for row in ([1, 1, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0]))
    overlaps = tuple(int((a & b).sum()) for a, b in combinations(masks, 2))
    members = ((0, 1), (1, 1), (2, 1))
    return Candidate(members, (0, 1, 0, 4), masks, ("Car",) * 3, (3, 3, 2), overlaps)


@given(case=weighted_candidates())
@example(case=(_three_recorded_members(), [1.0, 1.37, 1.74]))  # the others: no shared count
@example(case=(_three_recorded_members(), [1.0, 1.0, 1.5]))  # tied others: counted
def test_held_patterns_fuse_as_the_votes_do_pixel_by_pixel(
    case: tuple[Candidate, list[float]],
) -> None:
    # Every member left out (not only those a plan compares), at the support the plan
    # gives it: the patterns' counts give the fused shapes' areas and intersections.
    candidate, weights = case
    if len(candidate.masks) > scoring.MOST_PATTERNED:
        return
    with np.errstate(over="ignore", invalid="ignore"):  # huge weights: inf and nan votes
        votes, support = weighted_votes(candidate, weights)
    compared = [(slot, w, support - float(weights[w])) for slot, w in enumerate(candidate.workers)]
    held = scoring._held_patterns(candidate.workers, weights, support, compared)
    # Counted without the pixels that three members share when the sums do not need them.
    pixels = scoring._pattern_pixels(candidate, by_all=held.by_all)
    with np.errstate(over="ignore", invalid="ignore"):
        fused = fused_mask(votes, support)
    fused_pixels = scoring._pattern_pixels(candidate, by_all=held.fused_by_all)
    assert sum(fused_pixels[bits] for bits in held.fused) == np.count_nonzero(fused)
    for (slot, worker, others), (theirs, shared) in zip(compared, held.others, strict=True):
        own = candidate.masks[slot]
        with np.errstate(over="ignore", invalid="ignore"):
            reference = fused_mask(without_member(votes, own, float(weights[worker])), others)
        assert sum(pixels[bits] for bits in theirs) == np.count_nonzero(reference)
        assert sum(pixels[bits] for bits in shared) == np.count_nonzero(reference & own)


@given(case=candidate_sets(), weights=st.lists(awkward_weights, min_size=7, max_size=7))
def test_leave_one_out_by_patterns_equals_fusing_pixel_by_pixel(
    case: tuple[list[Candidate], list[float], float], weights: list[float]
) -> None:
    candidates, counted, threshold = case
    weights = weights[: len(counted)]
    with np.errstate(over="ignore", invalid="ignore"):  # huge weights: inf and nan votes
        got = score_leave_one_out(candidates, weights=weights, threshold=threshold)
        with mock.patch.object(scoring, "MOST_PATTERNED", 0):  # every pixel fused from votes
            want = score_leave_one_out(candidates, weights=weights, threshold=threshold)
    assert got == want
