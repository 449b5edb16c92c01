"""The output contract: the answer's shape, the consensus block, the raw answers kept."""

from __future__ import annotations

import numpy as np

from gtconsensus import (
    Consensus,
    ConsolidationError,
    WorkerAnnotation,
    consolidate,
    decode_label_png,
)
from gtconsensus.answers import Rejection
from gtconsensus.contract import annotated_result, consensus_summary, error_summary, label_value
from support import bar


def _consensus() -> Consensus:
    labels = bar(6, (0, 2), (3, 6))
    sloppy = bar(6, (0, 2), (4, 6))
    return consolidate([
        WorkerAnnotation("a", labels, ("Car", "Bus")),
        WorkerAnnotation("b", labels, ("Car", "Bus")),
        WorkerAnnotation("c", sloppy, ("Car", "Bus")),
    ])  # fmt: skip


def test_annotated_result_decodes_to_the_consensus_labels() -> None:
    result = _consensus()
    value = annotated_result(result)
    colours = [i["color"] for i in value["instances"]]
    decoded = decode_label_png(value["labeledImage"]["pngImageData"], colours, expected_size=(6, 1))
    assert decoded.labels.tolist() == result.labels.tolist()
    assert [i["label"] for i in value["instances"]] == ["Car", "Bus"]


def test_consensus_summary_lists_workers_and_rejections() -> None:
    rejected = [Rejection("d", "bad_png", "`labeledImage.pngImageData` is a broken PNG")]
    summary = consensus_summary(_consensus(), rejected)
    assert list(summary) == [
        "method", "version", "iouThreshold", "confidence", "instances", "workers", "rejected",
    ]  # fmt: skip
    assert list(summary["workers"]) == ["a", "b", "c"]
    assert summary["rejected"] == [rejected[0].to_dict()]
    assert summary["rejected"][0]["workerId"] == "d"
    assert summary["instances"][1] == {"support": ["a", "b", "c"], "meanIou": 0.8889}


def test_worker_entry_of_a_lone_worker_has_no_comparison() -> None:
    alone = consolidate([WorkerAnnotation("a", bar(3, (0, 1)), ("Car",))])
    entry = consensus_summary(alone)["workers"]["a"]
    assert (entry["score"], entry["tp"], entry["meanIou"]) == (None, None, None)
    assert entry["pq"] == 1.0


def test_error_summary_carries_code_and_message() -> None:
    error = ConsolidationError("no_valid_answer", "none of the 2 answers could be read")
    summary = error_summary(error, method="per-image-majority")
    assert summary["error"] == {"code": "no_valid_answer",
                                "message": "none of the 2 answers could be read"}  # fmt: skip
    assert summary["rejected"] == []


def test_label_value_puts_result_and_summary_first_and_keeps_other_keys() -> None:
    original = {"annotationsFromAllWorkers": [1], "consensus": "old", "extra": True}
    value = label_value(original, summary={"s": 1}, element="seg", result={"r": 2})
    assert value == {"seg": {"r": 2}, "consensus": {"s": 1},
                     "annotationsFromAllWorkers": [1], "extra": True}  # fmt: skip
    assert list(value) == ["seg", "consensus", "annotationsFromAllWorkers", "extra"]


def test_label_value_without_a_result_has_no_answer_shape() -> None:
    value = label_value({"annotationsFromAllWorkers": []}, summary={"error": {}})
    assert list(value) == ["consensus", "annotationsFromAllWorkers"]


def test_annotated_result_of_an_empty_consensus_has_no_instance() -> None:
    empty = consolidate([WorkerAnnotation(w, np.zeros((2, 3), np.uint8), ()) for w in "ab"])
    value = annotated_result(empty)
    assert value["instances"] == []
    assert value["inputImageProperties"] == {"height": 2, "width": 3}
