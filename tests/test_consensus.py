"""consolidate(): existence, weights, confidence, supports, thresholds, and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gtconsensus import InputError, OptionsError, WorkerAnnotation, consolidate
from gtconsensus.consensus import decide, gather
from support import bar


def _workers(*labels: np.ndarray, classes: tuple[str, ...] | None = None) -> list[WorkerAnnotation]:
    return [
        WorkerAnnotation(f"w{i}", x, classes or ("Car",) * int(x.max(initial=0)))
        for i, x in enumerate(labels)
    ]


# --- WorkerAnnotation ---


def test_worker_annotation_refuses_labels_beyond_its_classes() -> None:
    with pytest.raises(OptionsError, match="only 1 classes") as caught:
        WorkerAnnotation("w", bar(3, (0, 1), (1, 2)), ("Car",))
    assert caught.value.code == "bad_option"


@pytest.mark.parametrize("labels", [np.zeros((2, 2), np.int32), np.zeros((2, 2, 1), np.uint8)])
def test_worker_annotation_refuses_arrays_that_are_not_2d_unsigned(labels: np.ndarray) -> None:
    with pytest.raises(OptionsError, match="`labels` must be a 2-D unsigned int array"):
        WorkerAnnotation("w", labels, ())


def test_worker_annotation_freezes_its_labels_but_not_the_callers_array() -> None:
    labels = bar(3, (0, 1))
    annotation = WorkerAnnotation("w", labels, ("Car",))
    assert not annotation.labels.flags.writeable
    assert labels.flags.writeable


# --- errors ---


def test_no_answers_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        consolidate([])
    assert caught.value.code == "no_answers"


def test_answers_of_different_sizes_are_an_input_error() -> None:
    with pytest.raises(InputError, match=r"different sizes \(H, W\)") as caught:
        consolidate(_workers(bar(3), bar(4)))
    assert caught.value.code == "size_disagreement"


def test_the_same_worker_twice_is_an_input_error() -> None:
    twice = [WorkerAnnotation("w", bar(3), ()), WorkerAnnotation("w", bar(3), ())]
    with pytest.raises(InputError, match="'w' answered twice") as caught:
        consolidate(twice)
    assert caught.value.code == "duplicate_worker"


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.2])
def test_threshold_outside_zero_one_is_an_options_error(threshold: float) -> None:
    with pytest.raises(OptionsError, match="`iou_threshold`") as caught:
        consolidate(_workers(bar(3)), iou_threshold=threshold)
    assert caught.value.code == "bad_option"


@pytest.mark.parametrize("weight", [0.0, -1.0, math.nan, math.inf])
def test_weight_that_is_not_finite_and_positive_is_an_options_error(weight: float) -> None:
    with pytest.raises(OptionsError, match="weights must be finite and > 0") as caught:
        consolidate(_workers(bar(3), bar(3)), weights={"w1": weight})
    assert caught.value.code == "bad_option"


# --- existence and weights ---


def test_instance_drawn_by_two_of_three_workers_is_kept() -> None:
    drawn = bar(6, (1, 4))
    result = consolidate(_workers(drawn, drawn, bar(6)))
    assert result.labels.tolist() == drawn.tolist()
    assert result.instances[0].support == ("w0", "w1")


def test_instance_drawn_by_one_of_three_workers_is_dropped() -> None:
    result = consolidate(_workers(bar(6, (1, 4)), bar(6), bar(6)))
    assert result.instances == ()
    assert not result.labels.any()


def test_weights_can_keep_an_instance_that_a_plain_majority_drops() -> None:
    answers = _workers(bar(6, (1, 4)), bar(6), bar(6))
    assert consolidate(answers).instances == ()
    weighted = consolidate(answers, weights={"w0": 3.0})  # 3 against 1 + 1
    assert [i.support for i in weighted.instances] == [("w0",)]


def test_weights_can_drop_an_instance_that_a_plain_majority_keeps() -> None:
    drawn = bar(6, (1, 4))
    answers = _workers(drawn, drawn, bar(6))
    assert len(consolidate(answers).instances) == 1
    assert consolidate(answers, weights={"w2": 2.0}).instances == ()  # 2 against 2: no majority


def test_workers_missing_from_the_weights_weigh_one() -> None:
    drawn = bar(6, (1, 4))
    answers = _workers(drawn, drawn, bar(6))
    plain = consolidate(answers)
    listed = consolidate(answers, weights={"somebody-else": 5.0})
    assert listed.labels.tolist() == plain.labels.tolist()


def test_class_is_the_majority_of_the_members_classes() -> None:
    drawn = bar(4, (0, 2))
    answers = [
        WorkerAnnotation("a", drawn, ("Bus",)),
        WorkerAnnotation("b", drawn, ("Car",)),
        WorkerAnnotation("c", drawn, ("Car",)),
    ]
    result = consolidate(answers)
    assert [i.label for i in result.instances] == ["Car"]
    assert [w.versus_consensus.class_agreed for w in result.workers] == [0, 1, 1]


# --- confidence and scores ---


def test_instance_confidence_is_support_share_times_mean_iou() -> None:
    result = consolidate(_workers(bar(10, (0, 4)), bar(10, (0, 5)), bar(10, (0, 4)), bar(10)))
    instance = result.instances[0]
    assert instance.mean_iou == pytest.approx((1 + 0.8 + 1) / 3)
    assert instance.confidence == pytest.approx(3 / 4 * instance.mean_iou)


def test_a_single_worker_gets_confidence_zero_and_no_score() -> None:
    result = consolidate(_workers(bar(5, (0, 2), (3, 5))))
    assert [i.confidence for i in result.instances] == [0.0, 0.0]
    assert result.confidence == 0.0
    assert result.workers[0].score is None


def test_image_confidence_is_the_mean_leave_one_out_score() -> None:
    result = consolidate(_workers(bar(10, (0, 4)), bar(10, (0, 4)), bar(10, (0, 4), (6, 9))))
    scores = [w.score for w in result.workers]
    assert None not in scores
    assert result.confidence == pytest.approx(float(np.mean(scores)))  # type: ignore[arg-type]
    assert result.confidence < 1.0


def test_workers_are_reported_in_order_of_their_ids() -> None:
    answers = [WorkerAnnotation(w, bar(3), ()) for w in ("c", "a", "b")]
    assert [w.worker_id for w in consolidate(answers).workers] == ["a", "b", "c"]


def test_workers_count_their_drawn_instances_and_stray_pixels() -> None:
    answers = [
        WorkerAnnotation("a", bar(6, (0, 2), (3, 4)), ("Car", "Car", "Car"), stray_pixels=7),
        WorkerAnnotation("b", bar(6), ()),
    ]
    first = consolidate(answers).workers[0]
    assert (first.instances, first.stray_pixels) == (2, 7)


@pytest.mark.parametrize("class_aware", [False, True])
@pytest.mark.parametrize("threshold", [0.1, 0.5])
def test_instances_listed_without_pixels_make_no_candidate(
    threshold: float, class_aware: bool
) -> None:
    # Label 2 is listed by everyone and painted by nobody; worker b paints label 1 only.
    answers = [
        WorkerAnnotation("a", bar(6, (0, 2)), ("Car", "Car")),
        WorkerAnnotation("b", bar(6, (0, 3)), ("Car", "Bus")),
        WorkerAnnotation("c", bar(6), ("Car", "Car")),
    ]
    evidence = gather(answers, iou_threshold=threshold, class_aware=class_aware)
    assert [c.members for c in evidence.candidates] == [((0, 1), (1, 1))]


def test_method_and_threshold_are_recorded() -> None:
    result = consolidate(_workers(bar(3)), iou_threshold=0.4)
    assert (result.method, result.iou_threshold) == ("per-image-majority", 0.4)


# --- thresholds ---


def test_threshold_below_one_half_matches_one_to_one() -> None:
    whole, halves = bar(10, (0, 10)), bar(10, (0, 5), (5, 10))  # each half: IoU 0.5 with the whole
    answers = _workers(whole, halves, whole)
    result = consolidate(answers, iou_threshold=0.3)
    assert result.labels.tolist() == whole.tolist()
    assert [i.support for i in result.instances] == [("w0", "w1", "w2")]
    halves_score = result.workers[1].versus_consensus
    assert (halves_score.tp, halves_score.fp, halves_score.fn) == (1, 1, 0)


def test_default_threshold_does_not_match_an_iou_of_exactly_one_half() -> None:
    whole, halves = bar(10, (0, 10)), bar(10, (0, 5), (5, 10))
    result = consolidate(_workers(whole, halves, whole))
    assert [i.support for i in result.instances] == [("w0", "w2")]


# --- gather / decide: the weight-free pass and the weighted decision ---


def _three_workers() -> list[WorkerAnnotation]:
    one = np.zeros((6, 8), np.uint8)
    one[1:4, 1:4] = 1
    two = one.copy()
    two[4:6, 5:8] = 2
    return [
        WorkerAnnotation("a", one, ("Car",)),
        WorkerAnnotation("b", two, ("Car", "Bus")),
        WorkerAnnotation("c", one, ("Car",)),
    ]


def test_decide_on_gathered_evidence_equals_consolidate_with_the_same_weights() -> None:
    answers = _three_workers()
    weights = {"b": 5.0}
    direct = consolidate(answers, weights=weights)
    later = decide(gather(answers), weights=weights)
    assert np.array_equal(direct.labels, later.labels)
    assert [i.support for i in direct.instances] == [i.support for i in later.instances]
    assert [w.score for w in direct.workers] == [w.score for w in later.workers]


def test_gathered_evidence_holds_one_candidate_per_cluster_and_no_full_image() -> None:
    evidence = gather(_three_workers())
    assert [c.members for c in evidence.candidates] == [((0, 1), (1, 1), (2, 1)), ((1, 2),)]
    assert all(m.shape == (3, 3) for m in evidence.candidates[0].masks)
    assert evidence.candidates[1].window == (4, 6, 5, 8)


def test_existence_probabilities_replace_the_majority_rule() -> None:
    evidence = gather(_three_workers())
    kept = decide(evidence, existence=[0.9, 0.8], method="job-level")
    assert [i.label for i in kept.instances] == ["Car", "Bus"]
    assert kept.instances[1].confidence == pytest.approx(0.8)
    assert kept.method == "job-level"
    dropped = decide(evidence, existence=[0.4, 0.8])
    assert [i.label for i in dropped.instances] == ["Bus"]


def test_existence_needs_one_probability_per_candidate() -> None:
    with pytest.raises(OptionsError, match="one probability per candidate"):
        decide(gather(_three_workers()), existence=[0.9])
