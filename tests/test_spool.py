"""The job-level spool gives pass 2 the evidence pass 1 gathered, recorded numbers included."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from gtconsensus import WorkerAnnotation
from gtconsensus.adapters.spool import pack_records, unpack_records
from gtconsensus.consensus import gather
from gtconsensus.lines import PreparedLine
from gtconsensus.objects import PreparedObject
from gtconsensus.testing.strategies import panels


@given(panel=panels(max_workers=5))
def test_candidates_come_back_with_their_masks_areas_and_overlaps(
    panel: list[WorkerAnnotation],
) -> None:
    evidence = gather(panel)
    line = PreparedLine({}, "gt-label", PreparedObject(None, None, evidence, None), None)
    [(number, raw, back)] = unpack_records(pack_records([(3, None, line)]))
    assert (number, raw) == (3, None)
    assert back.obj is not None
    assert back.obj.evidence is not None
    candidates = back.obj.evidence.candidates
    assert len(candidates) == len(evidence.candidates)
    for got, sent in zip(candidates, evidence.candidates, strict=True):
        assert (got.members, got.window, got.classes) == (sent.members, sent.window, sent.classes)
        assert (got.areas, got.overlaps) == (sent.areas, sent.overlaps)
        assert all(np.array_equal(a, b) for a, b in zip(got.masks, sent.masks, strict=True))
