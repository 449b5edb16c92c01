"""Matching: IoU from contingency tables and box-local intersections, assignment, clusters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gtconsensus import OptionsError
from gtconsensus.matching import (
    InstanceStats,
    Runs,
    cluster_instances,
    contingency,
    instance_stats,
    intersections,
    iou_from_intersections,
    iou_matrix,
    linear_sum_assignment,
    match_pairs,
)
from gtconsensus.testing import strategies as gts


@st.composite
def label_image_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Two label images of one size (up to 24x24, up to 6 instances each)."""
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    a = draw(gts.label_images(height=height, width=width))
    b = draw(gts.label_images(height=height, width=width))
    return a, b


def naive_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU from one boolean mask per instance: slow, obviously right."""
    m, n = int(a.max(initial=0)), int(b.max(initial=0))
    iou = np.zeros((m, n))
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            union = np.count_nonzero((a == i) | (b == j))
            iou[i - 1, j - 1] = np.count_nonzero((a == i) & (b == j)) / union if union else 0.0
    return iou


def naive_contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m, n = int(a.max(initial=0)), int(b.max(initial=0))
    table = np.zeros((m + 1, n + 1), dtype=np.int64)
    for i in range(m + 1):
        for j in range(n + 1):
            table[i, j] = np.count_nonzero((a == i) & (b == j))
    return table


def foreground_window(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero((a > 0) | (b > 0))
    if len(rows) == 0:
        return (0, 0, 0, 0)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


# --- IoU ---


@given(label_image_pairs())
def test_iou_matrix_equals_the_naive_per_instance_computation(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    a, b = pair
    np.testing.assert_allclose(iou_matrix(a, b), naive_iou(a, b), rtol=0, atol=1e-12)


@given(label_image_pairs())
def test_contingency_equals_naive_counts(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    assert contingency(a, b).tolist() == naive_contingency(a, b).tolist()


@given(label_image_pairs())
def test_contingency_inside_the_foreground_window_equals_the_full_table(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    a, b = pair
    windowed = contingency(a, b, window=foreground_window(a, b))
    assert windowed.tolist() == naive_contingency(a, b).tolist()


@given(label_image_pairs())
def test_box_local_intersections_equal_the_naive_counts(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    a, b = pair
    sa, sb = instance_stats(a, int(a.max(initial=0))), instance_stats(b, int(b.max(initial=0)))
    inter = intersections(a, sa, b, sb)
    assert inter.tolist() == naive_contingency(a, b)[1:, 1:].tolist()
    iou = iou_from_intersections(inter, sa.areas[1:], sb.areas[1:])
    np.testing.assert_allclose(iou, naive_iou(a, b), rtol=0, atol=1e-12)


def _stats_with_runs(a: np.ndarray, b: np.ndarray) -> tuple[InstanceStats, InstanceStats]:
    stats = instance_stats(a, int(a.max(initial=0))), instance_stats(b, int(b.max(initial=0)))
    assert all(s.runs is not None for s in stats)  # what instance_stats keeps
    return stats


@given(label_image_pairs())
def test_run_and_box_intersections_both_equal_the_naive_counts(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    """With runs (what ``instance_stats`` gives) and without (stats built elsewhere)."""
    a, b = pair
    sa, sb = _stats_with_runs(a, b)
    bare = [replace(s, runs=None) for s in (sa, sb)]
    naive = naive_contingency(a, b)[1:, 1:].tolist()
    assert intersections(a, sa, b, sb).tolist() == naive
    assert intersections(a, bare[0], b, bare[1]).tolist() == naive


@given(label_image_pairs())
def test_int64_runs_of_large_images_count_as_the_int32_ones(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    """Runs are int32 below 2**31 pixels; larger images' int64 runs give the same counts."""
    a, b = pair
    sa, sb = _stats_with_runs(a, b)
    assert sa.runs is not None
    assert sa.runs.starts.dtype == sa.runs.stops.dtype == np.int32
    wide = [
        replace(s, runs=Runs(r.starts.astype(np.int64), r.stops.astype(np.int64), r.labels))
        for s, r in ((sa, sa.runs), (sb, sb.runs))
    ]
    assert intersections(a, wide[0], b, wide[1]).tolist() == intersections(a, sa, b, sb).tolist()


def test_runs_of_touching_instances_cut_between_them() -> None:
    a = np.array([[1, 1, 2, 2, 0, 3], [3, 0, 0, 0, 0, 0]], np.uint8)
    b = np.array([[0, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], np.uint8)
    runs = instance_stats(a, 3).runs
    assert runs is not None
    assert (runs.starts.tolist(), runs.stops.tolist(), runs.labels.tolist()) == (
        [0, 2, 5, 6],
        [2, 4, 6, 7],
        [1, 2, 3, 3],
    )
    inter = intersections(a, instance_stats(a, 3), b, instance_stats(b, 1))
    assert inter.tolist() == [[1], [2], [2]]


def test_contingency_counts_listed_instances_without_pixels() -> None:
    a = np.array([[1, 0]], np.uint8)
    b = np.array([[0, 1]], np.uint8)
    assert contingency(a, b, m=2, n=1).tolist() == [[0, 1], [1, 0], [0, 0]]


def test_contingency_refuses_images_of_different_shapes() -> None:
    with pytest.raises(OptionsError, match="one shape") as caught:
        contingency(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    assert caught.value.code == "bad_option"


def test_iou_of_an_instance_without_pixels_is_zero() -> None:
    a = np.array([[1, 1]], np.uint8)
    assert iou_matrix(a, np.zeros_like(a), m=1, n=1).tolist() == [[0.0]]


# --- instance statistics ---


@given(gts.label_images())
def test_instance_stats_equal_naive_areas_boxes_and_first_pixels(labels: np.ndarray) -> None:
    k = int(labels.max(initial=0))
    stats = instance_stats(labels, k + 1)  # one listed instance more than drawn: never painted
    for label in range(1, k + 2):
        mask = labels == label
        assert stats.areas[label] == np.count_nonzero(mask)
        if not mask.any():
            assert stats.first_pixels[label] == -1
            assert stats.boxes[label].tolist() == [0, 0, 0, 0]
            continue
        rows, cols = np.nonzero(mask)
        box = [rows.min(), rows.max() + 1, cols.min(), cols.max() + 1]
        assert stats.boxes[label].tolist() == box
        assert stats.first_pixels[label] == int(np.flatnonzero(mask.ravel())[0])
    assert stats.areas[0] == np.count_nonzero(labels == 0)
    assert stats.window == foreground_window(labels, labels)


# --- assignment ---


@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 7), st.integers(0, 7)),
        elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False),
    )
)
def test_assignment_total_cost_equals_scipy(cost: np.ndarray) -> None:
    rows, cols = linear_sum_assignment(cost)
    ref_rows, ref_cols = scipy.optimize.linear_sum_assignment(cost)
    assert len(rows) == len(ref_rows) == min(cost.shape)
    assert len(set(rows.tolist())) == len(rows)
    assert len(set(cols.tolist())) == len(cols)
    assert rows.tolist() == sorted(rows.tolist())
    assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum(), abs=1e-9)


@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)),
               elements=st.integers(0, 3).map(float))
)  # fmt: skip
def test_assignment_is_optimal_on_matrices_full_of_ties(cost: np.ndarray) -> None:
    rows, cols = linear_sum_assignment(cost)
    ref_rows, ref_cols = scipy.optimize.linear_sum_assignment(cost)
    assert cost[rows, cols].sum() == cost[ref_rows, ref_cols].sum()


def test_assignment_of_an_empty_matrix_is_empty() -> None:
    rows, cols = linear_sum_assignment(np.zeros((0, 3)))
    assert (rows.tolist(), cols.tolist()) == ([], [])


def test_assignment_refuses_a_matrix_that_is_not_2d() -> None:
    with pytest.raises(OptionsError) as caught:
        linear_sum_assignment(np.zeros(3))
    assert caught.value.code == "bad_option"
    assert "`cost`" in caught.value.message


# --- pairs ---


def test_match_pairs_above_one_half_keeps_every_pair_over_the_threshold() -> None:
    iou = np.array([[0.9, 0.0], [0.0, 0.51], [0.5, 0.0]])
    assert match_pairs(iou) == [(0, 0, 0.9), (1, 1, 0.51)]


def test_match_pairs_below_one_half_is_one_to_one() -> None:
    iou = np.array([[0.5, 0.5]])  # one instance half-covered by each of two others
    assert len(match_pairs(iou, threshold=0.3)) == 1
    assert (iou > 0.3).sum() == 2  # so a plain threshold would have matched both


def test_match_pairs_below_one_half_maximises_total_iou() -> None:
    iou = np.array([[0.45, 0.40], [0.44, 0.0]])  # greedy would take 0.45 and strand row 1
    assert match_pairs(iou, threshold=0.3) == [(0, 1, 0.40), (1, 0, 0.44)]


def test_match_pairs_below_one_half_drops_weak_assigned_pairs() -> None:
    assert match_pairs(np.array([[0.35, 0.0], [0.0, 0.2]]), threshold=0.3) == [(0, 0, 0.35)]


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5])
def test_match_pairs_refuses_a_threshold_outside_zero_one(threshold: float) -> None:
    with pytest.raises(OptionsError) as caught:
        match_pairs(np.ones((1, 1)), threshold=threshold)
    assert caught.value.code == "bad_option"
    assert "`threshold`" in caught.value.message


def test_match_pairs_of_an_empty_matrix_is_empty() -> None:
    assert match_pairs(np.zeros((0, 2))) == []


# --- clusters ---


def test_clusters_never_hold_two_instances_of_one_worker() -> None:
    matches = {
        (0, 1): [(0, 0, 0.9)],
        (0, 2): [(0, 0, 0.8)],
        (1, 2): [(0, 1, 0.95)],  # strongest edge, to the other instance of worker 2
    }
    clusters = cluster_instances([1, 1, 2], matches, [[0], [0], [0, 5]])
    for members in clusters:
        workers = [w for w, _ in members]
        assert len(workers) == len(set(workers))
    # The w0-w2 edge would bring a second instance of worker 2 into the cluster: refused.
    assert clusters == [((0, 0), (1, 0), (2, 1)), ((2, 0),)]


def test_clusters_keep_unmatched_instances_as_singletons() -> None:
    clusters = cluster_instances([2, 1], {(0, 1): [(1, 0, 0.7)]}, [[3, 8], [9]])
    assert clusters == [((0, 0),), ((0, 1), (1, 0))]


def test_clusters_are_ordered_by_their_first_pixel() -> None:
    clusters = cluster_instances([2, 2], {(0, 1): []}, [[40, 10], [30, 20]])
    assert clusters == [((0, 1),), ((1, 1),), ((1, 0),), ((0, 0),)]


def test_clusters_join_through_the_strongest_edges_first() -> None:
    matches = {(0, 1): [(0, 0, 0.6), (0, 1, 0.9)]}  # not one-to-one: the stronger wins
    assert cluster_instances([1, 2], matches, [[0], [0, 4]]) == [((0, 0), (1, 1)), ((1, 0),)]


def _runs_naively(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, stop, label) of every horizontal run of a non-zero label, row by row."""
    width, found = labels.shape[1], []
    for row, values in enumerate(labels.tolist()):
        col = 0
        while col < width:
            end = col
            while end < width and values[end] == values[col]:
                end += 1
            if values[col]:
                found.append((row * width + col, row * width + end, values[col]))
            col = end
    return found


@given(
    st.sampled_from([np.uint8, np.uint16]).flatmap(
        lambda dtype: st.tuples(
            st.integers(1, 9), st.sampled_from([1, 3, 4, 8, 12, 16, 24])
        ).flatmap(lambda shape: hnp.arrays(dtype, shape, elements=st.integers(0, 3)))
    )
)
def test_runs_equal_a_row_by_row_scan(labels: np.ndarray) -> None:
    # Widths of whole 8-byte words take the word-wise row test, the others `any`.
    runs = instance_stats(labels, 3).runs
    assert runs is not None
    got = list(zip(runs.starts.tolist(), runs.stops.tolist(), runs.labels.tolist(), strict=True))
    assert got == _runs_naively(labels)


# --- the fast paths against their straightforward definitions ---


def _clusters_naively(
    sizes: list[int],
    matches: dict[tuple[int, int], list[tuple[int, int, float]]],
    keys: list[list[int]],
) -> list[tuple[tuple[int, int], ...]]:
    """Greedy single linkage with cannot-link per worker, on sets: slow, obviously right."""
    cluster_of = {(w, i): frozenset({(w, i)}) for w, size in enumerate(sizes) for i in range(size)}
    edges = sorted(
        (-iou, keys[w1][i], keys[w2][j], w1, i, w2, j)
        for (w1, w2), pairs in matches.items()
        for i, j, iou in pairs
    )
    for _, _, _, w1, i, w2, j in edges:
        one, other = cluster_of[(w1, i)], cluster_of[(w2, j)]
        if one == other or {w for w, _ in one} & {w for w, _ in other}:
            continue
        for node in one | other:
            cluster_of[node] = one | other
    clusters = []
    for node in cluster_of:  # (worker, instance) order: clusters by their first member
        members = tuple(sorted(cluster_of[node]))
        if members[0] == node:
            clusters.append(members)
    clusters.sort(key=lambda members: min((keys[w][i], w) for w, i in members))
    return clusters


@st.composite
def clustering_problems(
    draw: st.DrawFn,
) -> tuple[list[int], dict[tuple[int, int], list[tuple[int, int, float]]], list[list[int]]]:
    """Up to 5 workers of up to 5 instances, matches with tied IoUs, empty instances."""
    sizes = draw(st.lists(st.integers(0, 5), min_size=1, max_size=5))
    keys = [draw(st.lists(st.integers(-1, 6), min_size=s, max_size=s)) for s in sizes]
    matches = {}
    for w1 in range(len(sizes)):
        for w2 in range(w1 + 1, len(sizes)):
            pairs = [(i, j) for i in range(sizes[w1]) for j in range(sizes[w2])]
            chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
            matches[(w1, w2)] = [(i, j, draw(st.sampled_from([0.55, 0.7, 0.9]))) for i, j in chosen]
    return sizes, matches, keys


@given(clustering_problems())
def test_clusters_equal_greedy_linkage_on_sets(
    problem: tuple[list[int], dict[tuple[int, int], list[tuple[int, int, float]]], list[list[int]]],
) -> None:
    sizes, matches, keys = problem
    assert cluster_instances(sizes, matches, keys) == _clusters_naively(sizes, matches, keys)


@given(
    st.sampled_from([np.uint8, np.uint16]).flatmap(
        lambda dtype: st.tuples(st.integers(1, 6), st.integers(1, 21)).flatmap(
            lambda shape: st.tuples(
                hnp.arrays(dtype, shape, elements=st.integers(0, 4)),
                hnp.arrays(dtype, shape, elements=st.integers(0, 3)),
            )
        )
    )
)
def test_run_intersections_of_busy_images_equal_the_naive_counts(
    pair: tuple[np.ndarray, np.ndarray],
) -> None:
    """Pixel noise: runs of one pixel, runs starting together in both images, touching
    runs, runs ending at the image's last pixel, widths that are not whole words."""
    a, b = pair
    sa, sb = instance_stats(a, 4), instance_stats(b, 3)
    expected = np.zeros((5, 4), dtype=np.int64)
    for i in range(5):
        for j in range(4):
            expected[i, j] = np.count_nonzero((a == i) & (b == j))
    assert intersections(a, sa, b, sb).tolist() == expected[1:, 1:].tolist()
    assert intersections(b, sb, a, sa).tolist() == expected[1:, 1:].T.tolist()
