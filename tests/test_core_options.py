"""Core options: class-aware matching, a minimum instance area, instances in pieces."""

from __future__ import annotations

import numpy as np
import pytest

from gtconsensus.consensus import WorkerAnnotation, consolidate, gather
from gtconsensus.exceptions import OptionsError


def _square(rows: slice, cols: slice, shape: tuple[int, int] = (12, 12)) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[rows, cols] = 1
    return labels


def test_class_aware_matching_keeps_instances_of_different_classes_apart() -> None:
    shape = _square(slice(2, 8), slice(2, 8))
    answers = [
        WorkerAnnotation("a", shape, ("Car",)),
        WorkerAnnotation("b", shape, ("Car",)),
        WorkerAnnotation("c", shape, ("Bus",)),
    ]
    assert len(gather(answers).candidates) == 1
    aware = gather(answers, class_aware=True)
    assert sorted(c.classes for c in aware.candidates) == [("Bus",), ("Car", "Car")]
    consensus = consolidate(answers, class_aware=True)
    assert [i.label for i in consensus.instances] == ["Car"]
    assert consensus.instances[0].support == ("a", "b")


def test_instances_below_the_minimum_area_are_ignored() -> None:
    shape = _square(slice(2, 8), slice(2, 8))
    speck = shape.copy()
    speck[10, 10] = 2  # a one-pixel instance
    answers = [
        WorkerAnnotation("a", speck, ("Car", "Car")),
        WorkerAnnotation("b", shape, ("Car",)),
    ]
    default = consolidate(answers)
    assert {s.worker_id: s.versus_consensus.fp for s in default.workers}["a"] == 1
    ignored = consolidate(answers, min_area=2)
    assert {s.worker_id: s.versus_consensus.fp for s in ignored.workers}["a"] == 0
    assert gather(answers, min_area=2).instances == (1, 1)
    # per class: only the listed classes lose their specks
    assert gather(answers, min_area={"Bus": 2}).instances == (2, 1)
    assert gather(answers, min_area={"Car": 40}).instances == (0, 0)


def test_minimum_area_must_not_be_negative() -> None:
    answer = WorkerAnnotation("a", _square(slice(0, 2), slice(0, 2)), ("Car",))
    with pytest.raises(OptionsError, match="min_area"):
        gather([answer], min_area=-1)


def test_an_instance_in_pieces_is_one_instance_and_its_pieces_count_together() -> None:
    pieces = _square(slice(1, 4), slice(1, 4))
    pieces[7:10, 7:10] = 1  # the same colour, a second piece
    answers = [WorkerAnnotation(w, pieces, ("Car",)) for w in "abc"]
    consensus = consolidate(answers)
    assert len(consensus.instances) == 1
    assert int((consensus.labels == 1).sum()) == 18  # both pieces, one label
    # the minimum area counts the pieces together (9 + 9 pixels)
    assert len(consolidate(answers, min_area=18).instances) == 1
    assert len(consolidate(answers, min_area=19).instances) == 0
