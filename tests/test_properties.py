"""Invariants of the whole pipeline, on Hypothesis-drawn panels of workers.

- the order of the answers does not matter (byte-identical output);
- instance numbering and colours within an answer do not matter;
- identical workers get their answer back, with every score and confidence 1;
- a single worker gets its answer back, with confidence 0;
- workers who all drew nothing agree perfectly;
- the consensus label image is dense, numbered in raster order of first pixels;
- confidences and scores lie in [0, 1];
- no JSON value anywhere in a line makes consolidate_line raise.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gtconsensus import Consensus, WorkerAnnotation, consolidate, consolidate_line
from gtconsensus.lines import dumps
from gtconsensus.testing import strategies as gts
from support import same_partition

SIDES = st.integers(1, 20)
panels = gts.panels(height=SIDES, width=SIDES, max_workers=4)


def classes_in_raster_order(labels: np.ndarray, classes: tuple[str, ...]) -> list[str]:
    """The classes of the instances of ``labels``, ordered by where each starts."""
    values, firsts = np.unique(labels.ravel(), return_index=True)
    starts = sorted((int(f), int(v)) for v, f in zip(values, firsts, strict=True) if v)
    return [classes[label - 1] for _, label in starts]


def relabelled(worker: WorkerAnnotation, order: list[int]) -> WorkerAnnotation:
    """The same answer with instance ``i`` renumbered ``order[i] + 1``."""
    lut = np.zeros(len(worker.classes) + 1, dtype=np.uint8)
    lut[1:] = np.asarray(order, dtype=np.uint8) + 1
    classes = [""] * len(order)
    for old, new in enumerate(order):
        classes[new] = worker.classes[old]
    return WorkerAnnotation(worker.worker_id, lut[worker.labels], tuple(classes))


def summary(result: Consensus) -> list[object]:
    """Everything a consensus says, as plain values."""
    return [
        result.labels.tolist(),
        [(i.label, i.confidence, i.support, i.mean_iou) for i in result.instances],
        result.confidence,
        [(w.worker_id, w.versus_others, w.versus_consensus, w.instances) for w in result.workers],
    ]


# --- order and numbering ---


@given(st.data())
def test_output_does_not_depend_on_the_order_of_the_answers(data: st.DataObject) -> None:
    answers = data.draw(gts.panel_answers(panel=panels))
    shuffled = data.draw(st.permutations(answers))
    first = consolidate_line(gts.recipe_line(answers))
    second = consolidate_line(gts.recipe_line(shuffled))
    assert first.output is not None
    assert second.output is not None
    raw = [json.loads(gts.recipe_line(x))["gt-label"]["annotationsFromAllWorkers"]
           for x in (answers, shuffled)]  # fmt: skip
    # Byte-identical except for the raw answers, which are kept in their input order.
    assert second.output == first.output.replace(dumps(raw[0]), dumps(raw[1]))


@given(st.data())
def test_consensus_does_not_depend_on_instance_numbering(data: st.DataObject) -> None:
    panel = data.draw(panels)
    renumbered = [relabelled(w, data.draw(st.permutations(range(len(w.classes))))) for w in panel]
    assert summary(consolidate(renumbered)) == summary(consolidate(panel))


@given(st.data())
def test_output_does_not_depend_on_instance_order_colours_or_png_mode(
    data: st.DataObject,
) -> None:
    panel = data.draw(panels)
    renumbered = [relabelled(w, data.draw(st.permutations(range(len(w.classes))))) for w in panel]
    # Each encoding draws its own colour order, palette order and PNG mode per worker.
    encodings = [data.draw(gts.panel_answers(panel=st.just(p))) for p in (panel, renumbered)]
    first, second = (consolidate_line(gts.recipe_line(answers)) for answers in encodings)
    assert first.output is not None
    assert second.output is not None
    # Everything before the raw answers (the consensus answer and summary) is identical.
    before_raw = [
        out.split('"annotationsFromAllWorkers"')[0] for out in (first.output, second.output)
    ]
    assert before_raw[0] == before_raw[1]


# --- agreement ---


@given(
    gts.label_images(height=SIDES, width=SIDES),
    st.integers(2, 5),
    st.lists(st.sampled_from(gts.DEFAULT_CLASSES), min_size=6, max_size=6),
)
def test_identical_workers_get_their_answer_back_with_full_scores(
    labels: np.ndarray, n_workers: int, names: list[str]
) -> None:
    classes = tuple(names[: int(labels.max(initial=0))])
    result = consolidate([WorkerAnnotation(f"w{i}", labels, classes) for i in range(n_workers)])
    assert same_partition(result.labels, labels)
    assert [i.label for i in result.instances] == classes_in_raster_order(labels, classes)
    assert all(i.confidence == 1.0 for i in result.instances)
    assert all(i.mean_iou == 1.0 for i in result.instances)
    assert [w.score for w in result.workers] == [1.0] * n_workers
    assert result.confidence == 1.0


@given(
    gts.label_images(height=SIDES, width=SIDES),
    st.lists(st.sampled_from(gts.DEFAULT_CLASSES), min_size=6, max_size=6),
)
def test_a_single_worker_gets_its_answer_back_with_confidence_zero(
    labels: np.ndarray, names: list[str]
) -> None:
    classes = tuple(names[: int(labels.max(initial=0))])
    result = consolidate([WorkerAnnotation("only", labels, classes)])
    assert same_partition(result.labels, labels)
    assert [i.label for i in result.instances] == classes_in_raster_order(labels, classes)
    assert all(i.confidence == 0.0 for i in result.instances)
    assert result.confidence == 0.0
    assert result.workers[0].score is None


@given(st.integers(1, 5), SIDES, SIDES)
def test_workers_who_all_drew_nothing_agree_perfectly(n_workers: int, rows: int, cols: int) -> None:
    empty = np.zeros((rows, cols), np.uint8)
    result = consolidate([WorkerAnnotation(f"w{i}", empty, ()) for i in range(n_workers)])
    assert result.instances == ()
    assert not result.labels.any()
    assert all(w.versus_consensus.pq == 1.0 for w in result.workers)
    if n_workers > 1:
        assert [w.score for w in result.workers] == [1.0] * n_workers
        assert result.confidence == 1.0


# --- shape of the result ---


@given(panels)
def test_consensus_labels_are_dense_and_in_raster_order(panel: list[WorkerAnnotation]) -> None:
    result = consolidate(panel)
    k = len(result.instances)
    present = sorted(set(result.labels.ravel().tolist()) - {0})
    assert present == list(range(1, k + 1))
    flat = result.labels.ravel()
    firsts = [int(np.flatnonzero(flat == label)[0]) for label in range(1, k + 1)]
    assert firsts == sorted(firsts)
    assert not result.labels.flags.writeable


@given(panels)
def test_confidences_and_scores_lie_between_zero_and_one(panel: list[WorkerAnnotation]) -> None:
    result = consolidate(panel)
    assert 0.0 <= result.confidence <= 1.0
    for instance in result.instances:
        assert 0.0 <= instance.confidence <= 1.0
        assert 0.0 < instance.mean_iou <= 1.0
    for worker in result.workers:
        assert worker.score is None or 0.0 <= worker.score <= 1.0
        assert 0.0 <= worker.versus_consensus.pq <= 1.0


@given(panels)
def test_instance_support_names_each_answering_worker_at_most_once(
    panel: list[WorkerAnnotation],
) -> None:
    result = consolidate(panel)
    ids = {w.worker_id for w in panel}
    for instance in result.instances:
        assert len(set(instance.support)) == len(instance.support)
        assert set(instance.support) <= ids
        assert len(instance.support) * 2 > len(panel)  # a strict majority, with weights 1


@given(panels)
def test_consolidating_twice_gives_the_same_result(panel: list[WorkerAnnotation]) -> None:
    assert summary(consolidate(panel)) == summary(consolidate(panel))


# --- hostile input ---

KEYS = st.sampled_from([
    "workerId", "annotationData", "content", "s3Uri", "annotatedResult", "instances", "color",
    "label", "labeledImage", "pngImageData", "inputImageProperties", "height", "width", "x",
])  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _placed(value: object, where: str) -> str:
    """A line with ``value`` at one level of the recipe form."""

    def content(inner: object) -> str:
        return json.dumps({"gt": {"annotationsFromAllWorkers": [
            {"workerId": "a", "annotationData": {"content": json.dumps(inner)}}]}})  # fmt: skip

    return {
        "line": lambda: json.dumps(value),
        "value": lambda: json.dumps({"gt": value}),
        "list": lambda: json.dumps({"gt": {"annotationsFromAllWorkers": value}}),
        "entry": lambda: json.dumps({"gt": {"annotationsFromAllWorkers": [value]}}),
        "content": lambda: content(value),
        "answer": lambda: content({"annotatedResult": value}),
    }[where]()


@given(json_values, st.sampled_from(["line", "value", "list", "entry", "content", "answer"]))
def test_no_json_value_anywhere_makes_consolidate_line_raise(value: object, where: str) -> None:
    result = consolidate_line(_placed(value, where))
    assert result.output is not None or result.error is not None
    if result.output is not None:
        json.loads(result.output)
