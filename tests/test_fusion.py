"""Fusion: existence by strict weighted majority, pixel votes, contested pixels, classes."""

from __future__ import annotations

import numpy as np
import pytest

from gtconsensus import WorkerAnnotation, consolidate
from gtconsensus.fusion import fuse_class, fuse_instances, fused_mask, gather_candidate, mask_iou
from gtconsensus.matching import instance_stats
from support import bar


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
