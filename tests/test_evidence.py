"""Evidence rows read the members' recorded overlaps exactly as the masks would give them."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given

from gtconsensus import WorkerAnnotation
from gtconsensus.consensus import gather
from gtconsensus.evidence import pair_ious
from gtconsensus.fusion import Candidate, mask_iou
from gtconsensus.testing.strategies import panels


@given(panel=panels(max_workers=5))
def test_pair_ious_from_recorded_overlaps_equal_the_masks_ious_bit_for_bit(
    panel: list[WorkerAnnotation],
) -> None:
    for candidate in gather(panel).candidates:
        masks = candidate.masks
        pairs = combinations(range(len(masks)), 2)
        expected = [(i, j, mask_iou(masks[i], masks[j])) for i, j in pairs]
        assert len(candidate.overlaps) == len(expected)
        assert pair_ious(candidate) == expected
        unrecorded = Candidate(candidate.members, candidate.window, masks, candidate.classes)
        assert pair_ious(unrecorded) == expected
