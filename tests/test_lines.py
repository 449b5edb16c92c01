"""consolidate_line(): the real sample, the output contract, and every kind of bad input."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
import pytest

from gtconsensus import consolidate_line, decode_label_png, encode_label_png, read_answers
from gtconsensus.lines import infer_label_attribute
from support import (
    answer,
    bar,
    entry,
    label_value_of,
    line,
    png_of,
    png_with_header,
    raw_line,
)

BOX = np.zeros((6, 8), np.uint8)
BOX[1:4, 2:6] = 1


def _good(worker_id: str, classes: tuple[str, ...] = ("Car",)) -> tuple[str, dict[str, Any]]:
    return worker_id, answer(BOX, classes)


def _with_png(answer_dict: dict[str, Any], png: bytes) -> dict[str, Any]:
    return {**answer_dict, "labeledImage": {"pngImageData": base64.b64encode(png).decode()}}


# --- the real sample ---


def test_sample_line_parses_into_three_answers(sample_line: str) -> None:
    raws = json.loads(sample_line)["gt-label"]["annotationsFromAllWorkers"]
    answers = read_answers(raws)
    assert len(answers.annotations) == 3
    assert answers.rejected == ()
    assert (answers.element, answers.size) == ("annotatedResult", (1280, 960))


def test_sample_line_decodes_to_three_masks_one_with_a_person(sample_line: str) -> None:
    raws = json.loads(sample_line)["gt-label"]["annotationsFromAllWorkers"]
    annotations = read_answers(raws).annotations
    assert [a.labels.shape for a in annotations] == [(960, 1280)] * 3
    assert [int(a.labels.max()) for a in annotations] == [0, 1, 0]
    drawn = annotations[1]
    assert drawn.classes == ("Person",)
    assert int(np.count_nonzero(drawn.labels == 1)) == 1863
    assert [a.stray_pixels for a in annotations] == [0, 0, 0]


def test_sample_line_consolidates_to_no_instance(sample_line: str) -> None:
    result = consolidate_line(sample_line, label_attribute="gt-label")
    assert result.error is None
    assert result.output is not None
    value = label_value_of(result.output)
    assert value["annotatedResult"]["instances"] == []
    assert value["annotatedResult"]["inputImageProperties"] == {"height": 960, "width": 1280}
    png = png_of(value["annotatedResult"])
    assert not decode_label_png(png, [], expected_size=(1280, 960)).labels.any()
    assert value["consensus"]["instances"] == []


def test_sample_line_keeps_the_raw_answers_and_other_keys(sample_line: str) -> None:
    result = consolidate_line(sample_line, label_attribute="gt-label")
    assert result.output is not None
    before, after = json.loads(sample_line), json.loads(result.output)
    assert (
        after["gt-label"]["annotationsFromAllWorkers"]
        == (before["gt-label"]["annotationsFromAllWorkers"])
    )
    assert {k: v for k, v in after.items() if k != "gt-label"} == (
        {k: v for k, v in before.items() if k != "gt-label"}
    )
    assert list(after) == list(before)


def test_sample_line_label_attribute_is_inferred(sample_line: str) -> None:
    assert infer_label_attribute(json.loads(sample_line)) == "gt-label"
    inferred = consolidate_line(sample_line)
    explicit = consolidate_line(sample_line, label_attribute="gt-label")
    assert inferred.output == explicit.output


def test_sample_line_workers_who_drew_nothing_agree_with_each_other(sample_line: str) -> None:
    result = consolidate_line(sample_line, label_attribute="gt-label")
    assert result.output is not None
    workers = label_value_of(result.output)["consensus"]["workers"]
    drew = "public.us-east-1.JZUQXKHROY2DBQ2V2ZLEWEYCAE"
    assert (workers[drew]["fp"], workers[drew]["tp"]) == (1, 0)
    assert all(w["score"] == 1.0 for worker_id, w in workers.items() if worker_id != drew)


# --- the output contract ---


def test_output_value_has_the_answer_shape_then_consensus_then_raw_answers() -> None:
    result = consolidate_line(line([_good("a"), _good("b"), _good("c")]))
    assert result.output is not None
    value = label_value_of(result.output)
    assert list(value) == ["annotatedResult", "consensus", "annotationsFromAllWorkers"]
    assert list(value["annotatedResult"]) == [
        "inputImageProperties", "instances", "labeledImage",
    ]  # fmt: skip
    assert value["annotatedResult"]["instances"] == [
        {"color": "#1f77b4", "label": "Car", "confidence": 1.0}
    ]


def test_output_png_decodes_to_the_consensus() -> None:
    result = consolidate_line(line([_good("a"), _good("b"), _good("c")]))
    assert result.output is not None
    result_answer = label_value_of(result.output)["annotatedResult"]
    colours = [i["color"] for i in result_answer["instances"]]
    decoded = decode_label_png(png_of(result_answer), colours, expected_size=(8, 6))
    assert decoded.labels.tolist() == BOX.tolist()


def test_output_consensus_instances_align_with_the_answer_instances() -> None:
    two = np.zeros((6, 8), np.uint8)
    two[0, 5:8], two[3:6, 0:2] = 1, 2  # the right one first: consensus orders by raster
    answers = [(w, answer(two, ("Bus", "Person"))) for w in "abc"]
    answers[2] = ("c", answer(np.where(two == 2, 1, 0).astype(np.uint8), ("Person",)))
    result = consolidate_line(line(answers))
    assert result.output is not None
    value = label_value_of(result.output)
    assert [i["label"] for i in value["annotatedResult"]["instances"]] == ["Bus", "Person"]
    assert [i["support"] for i in value["consensus"]["instances"]] == [["a", "b"], ["a", "b", "c"]]


def test_output_floats_are_rounded_to_four_places() -> None:
    sloppy = BOX.copy()
    sloppy[1, 2] = 0  # IoU 11/12 with the box
    result = consolidate_line(line([_good("a"), _good("b"), ("c", answer(sloppy, ("Car",)))]))
    assert result.output is not None
    value = label_value_of(result.output)
    floats = [value["consensus"]["confidence"], value["consensus"]["instances"][0]["meanIou"],
              value["annotatedResult"]["instances"][0]["confidence"]]  # fmt: skip
    floats += [w["score"] for w in value["consensus"]["workers"].values()]
    assert all(f == round(f, 4) for f in floats)
    assert any(f != round(f, 2) for f in floats)


def test_output_records_method_version_and_threshold() -> None:
    result = consolidate_line(line([_good("a")]), iou_threshold=0.6)
    assert result.output is not None
    summary = label_value_of(result.output)["consensus"]
    assert summary["method"] == "per-image-majority"
    assert summary["iouThreshold"] == 0.6
    assert isinstance(summary["version"], str)


def test_same_line_twice_gives_byte_identical_output(sample_line: str) -> None:
    text = line([_good("a"), _good("b"), ("c", answer(bar(8, (0, 3)).repeat(6, 0), ("Bus",)))])
    for each in (text, sample_line):
        assert consolidate_line(each).output == consolidate_line(each).output


def test_output_is_compact_json_without_a_newline() -> None:
    result = consolidate_line(line([_good("a")]) + "\n")
    assert result.output is not None
    assert "\n" not in result.output
    assert ", " not in result.output[:200]
    assert ": " not in result.output[:200]


def test_line_given_as_bytes_is_read() -> None:
    text = line([_good("a"), _good("b")])
    assert consolidate_line(text.encode()).output == consolidate_line(text).output


def test_weights_reach_the_vote() -> None:
    text = line([_good("a"), ("b", answer(np.zeros_like(BOX), ())), ("c", answer(BOX * 0, ()))])
    plain, weighted = consolidate_line(text), consolidate_line(text, weights={"a": 3.0})
    assert plain.consensus is not None
    assert weighted.consensus is not None
    assert (len(plain.consensus.instances), len(weighted.consensus.instances)) == (0, 1)


# --- valid edge cases are not errors ---


def test_single_worker_is_consolidated_with_confidence_zero() -> None:
    result = consolidate_line(line([_good("a")]))
    assert result.output is not None
    value = label_value_of(result.output)
    assert value["annotatedResult"]["instances"][0]["confidence"] == 0.0
    assert value["consensus"]["confidence"] == 0.0
    assert value["consensus"]["workers"]["a"]["score"] is None


def test_answers_wrapped_in_a_one_element_list_are_read() -> None:
    entries = [entry(w, {"annotatedResult": [answer(BOX, ("Car",))]}) for w in "ab"]
    result = consolidate_line(raw_line(entries))
    assert result.error is None
    assert result.rejected == ()
    assert result.consensus is not None
    assert len(result.consensus.instances) == 1


def test_another_element_name_is_read_and_used_in_the_output() -> None:
    result = consolidate_line(line([_good("a"), _good("b")], element="segmentation"))
    assert result.output is not None
    assert next(iter(label_value_of(result.output))) == "segmentation"


def test_element_option_picks_one_of_several_keys() -> None:
    entries = [entry(w, {"mine": answer(BOX, ("Car",)), "other": {}}) for w in "ab"]
    result = consolidate_line(raw_line(entries), element="mine")
    assert result.rejected == ()
    assert result.output is not None
    assert "mine" in label_value_of(result.output)


def test_unknown_extra_keys_are_accepted_and_kept() -> None:
    content = {"annotatedResult": {**answer(BOX, ("Car",)), "note": "x"}, "extra": [1]}
    raw = {**entry("a", content), "submissionTime": "2026-11-20T18:59:58Z"}
    parsed = json.loads(raw_line([raw, entry("b", content)]))
    parsed["gt-label"]["reviewed"] = True
    parsed["unrelated"] = {"k": 1}
    result = consolidate_line(json.dumps(parsed))
    assert result.rejected == ()
    assert result.output is not None
    out = json.loads(result.output)
    assert out["unrelated"] == {"k": 1}
    assert out["gt-label"]["reviewed"] is True
    assert out["gt-label"]["annotationsFromAllWorkers"][0]["submissionTime"].startswith("2026")


def test_non_ascii_labels_come_out_unescaped() -> None:
    text = line([("a", answer(BOX, ("Fußgänger 行人",))), ("b", answer(BOX, ("Fußgänger 行人",)))])
    result = consolidate_line(text)
    assert result.output is not None
    assert '"label":"Fußgänger 行人"' in result.output


def test_answer_given_by_s3_uri_is_read_through_fetch() -> None:
    reference = {"workerId": "a", "annotationData": {"s3Uri": "s3://bucket/a.json"}}
    content = json.dumps({"annotatedResult": answer(BOX, ("Car",))}).encode()
    result = consolidate_line(
        raw_line([reference, entry("b", {"annotatedResult": answer(BOX, ("Car",))})]),
        fetch={"s3://bucket/a.json": content}.__getitem__,
    )
    assert result.rejected == ()
    assert result.consensus is not None
    assert result.consensus.instances[0].support == ("a", "b")


# --- one bad answer among several ---


def _bad(result: object) -> dict[str, Any]:
    """The entry of worker "bad" answering ``result``."""
    return entry("bad", {"annotatedResult": result})


def _corruptions() -> dict[str, tuple[object, str, str]]:
    """Per failure: (the entry of worker "bad", expected code, field the message names)."""
    good = answer(BOX, ("Car",))
    png = png_of(good)
    no_image = {k: v for k, v in good.items() if k != "labeledImage"}
    wide = {**good, "inputImageProperties": {"height": 6, "width": 9}}
    bomb = {
        **_with_png(good, png_with_header(50_000, 50_000)),
        "inputImageProperties": {"height": 50_000, "width": 50_000},
    }
    twice = {**good, "instances": [*good["instances"], *good["instances"]]}
    black = {
        **answer(BOX, ("Car",), png_mode="RGB"),
        "instances": [{"color": "#000000", "label": "Car"}],
    }
    unnamed = {"annotationData": {"content": json.dumps({"annotatedResult": good})}}
    by_reference = {"workerId": "bad", "annotationData": {"s3Uri": "s3://b/k"}}
    field = "`labeledImage.pngImageData`"
    return {
        "content not JSON": (entry("bad", '{"annotatedResult": {'), "bad_json",
                             "`annotationData.content`"),
        "missing key": (_bad(no_image), "bad_schema", "`annotatedResult.labeledImage`"),
        "wrong type": (_bad({**good, "instances": {"a": 1}}), "bad_schema",
                       "`annotatedResult.instances`"),
        "bad base64": (_bad({**good, "labeledImage": {"pngImageData": "%%not base64%%"}}),
                       "bad_base64", field),
        "not a PNG": (_bad(_with_png(good, b"GIF89a" + bytes(40))), "not_png", field),
        "truncated PNG": (_bad(_with_png(good, png[:-20])), "bad_png", field),
        "size mismatch": (_bad(wide), "size_mismatch", "`inputImageProperties`"),
        "over the pixel limit": (_bad(bomb), "image_too_large", field),
        "duplicate colours": (_bad(twice), "duplicate_colour", "`instances`"),
        "black in RGB": (_bad(black), "bad_colour", "`instances`"),
        "no workerId": (unnamed, "bad_schema", "`workerId`"),
        "answer by reference": (by_reference, "answer_by_reference", "`annotationData.s3Uri`"),
    }  # fmt: skip


@pytest.mark.parametrize("failure", list(_corruptions()))
def test_one_bad_answer_is_rejected_and_the_others_consolidated(failure: str) -> None:
    bad, code, field = _corruptions()[failure]
    good = answer(BOX, ("Car",))
    text = raw_line([entry("a", {"annotatedResult": good}), bad,
                     entry("c", {"annotatedResult": good})])  # fmt: skip
    result = consolidate_line(text)
    assert result.error is None
    assert result.consensus is not None
    assert [w.worker_id for w in result.consensus.workers] == ["a", "c"]
    assert result.consensus.instances[0].support == ("a", "c")
    assert [(r.code, field in r.message) for r in result.rejected] == [(code, True)]
    assert result.output is not None
    rejected = label_value_of(result.output)["consensus"]["rejected"]
    worker_id = bad.get("workerId") if isinstance(bad, dict) else None
    assert rejected == [
        {"workerId": worker_id, "code": code, "message": result.rejected[0].message}
    ]


def test_huge_answer_is_refused_quickly() -> None:
    bad, _, _ = _corruptions()["over the pixel limit"]
    started = time.perf_counter()
    result = consolidate_line(raw_line([bad]))
    assert time.perf_counter() - started < 1.0
    assert result.rejected[0].code == "image_too_large"


def test_max_pixels_option_reaches_the_decoder() -> None:
    result = consolidate_line(line([_good("a"), _good("b")]), max_pixels=47)
    assert [r.code for r in result.rejected] == ["image_too_large"] * 2


def test_stray_pixels_are_counted_not_rejected() -> None:
    painted = answer(np.array([[1, 2, 2, 0]], np.uint8), ("Car", "Bus"))
    painted["instances"] = painted["instances"][:1]  # the second colour is not listed
    result = consolidate_line(line([("a", painted), ("b", painted)]))
    assert result.rejected == ()
    assert result.output is not None
    workers = label_value_of(result.output)["consensus"]["workers"]
    assert [w["strayPixels"] for w in workers.values()] == [2, 2]


def test_answer_of_a_size_most_answers_disagree_with_is_rejected() -> None:
    wide = answer(np.zeros((6, 9), np.uint8), ())
    result = consolidate_line(line([_good("a"), ("b", wide), _good("c")]))
    assert [(r.worker_id, r.code) for r in result.rejected] == [("b", "size_disagreement")]
    assert "9x6" in result.rejected[0].message


def test_the_same_worker_twice_keeps_the_last_answer() -> None:
    empty = answer(np.zeros_like(BOX), ())
    result = consolidate_line(line([("a", empty), _good("b"), _good("a")]))
    assert [(r.worker_id, r.code) for r in result.rejected] == [("a", "duplicate_worker")]
    assert result.consensus is not None
    assert result.consensus.instances[0].support == ("a", "b")  # the later answer of "a"


# --- objects that fail ---


def test_line_that_is_not_json_has_no_output() -> None:
    result = consolidate_line('{"source-ref": "s3://b/1.jpg", ')
    assert result.output is None
    assert result.error is not None
    assert result.error.code == "bad_json"
    assert isinstance(result.error, ValueError)


def test_line_of_invalid_utf8_is_not_json() -> None:
    result = consolidate_line(b'{"a": "\xff"}')
    assert (result.output, result.error and result.error.code) == (None, "bad_json")


@pytest.mark.parametrize(
    "text",
    ['{"a": NaN}', '{"a": -Infinity}', '{"a": 1e999}', '{"a": ' + "[" * 5000 + "]" * 5000 + "}"],
)
def test_line_that_python_parses_but_json_cannot_write_back_is_not_json(text: str) -> None:
    result = consolidate_line(text)
    assert (result.output, result.error and result.error.code) == (None, "bad_json")


def test_answer_content_nested_too_deeply_is_rejected() -> None:
    deep = "[" * 5000 + "]" * 5000
    result = consolidate_line(
        raw_line([entry("a", deep), entry("b", {"annotatedResult": answer(BOX, ("Car",))})])
    )
    assert [(r.worker_id, r.code) for r in result.rejected] == [("a", "bad_json")]
    assert "`annotationData.content`" in result.rejected[0].message


def test_line_that_is_json_but_not_an_object_has_no_output() -> None:
    result = consolidate_line("[1, 2]")
    assert result.output is None
    assert result.error is not None
    assert result.error.code == "bad_line"


def test_no_valid_answer_keeps_the_raw_answers_and_reports_each_rejection() -> None:
    raws = [entry("a", "not json"), entry("b", {"annotatedResult": {}})]
    text = raw_line(raws)
    result = consolidate_line(text)
    assert result.error is not None
    assert result.error.code == "no_valid_answer"
    assert "[bad_json]" in result.error.message
    assert result.output is not None
    value = label_value_of(result.output)
    assert value["annotationsFromAllWorkers"] == raws
    assert value["consensus"]["error"] == {"code": "no_valid_answer",
                                           "message": result.error.message}  # fmt: skip
    assert [r["code"] for r in value["consensus"]["rejected"]] == ["bad_json", "bad_schema"]
    assert "annotatedResult" not in value


def test_empty_answer_list_is_an_error_with_output() -> None:
    result = consolidate_line(raw_line([]))
    assert result.error is not None
    assert result.error.code == "no_answers"
    assert result.output is not None
    assert label_value_of(result.output)["consensus"]["error"]["code"] == "no_answers"


def test_answer_list_that_is_not_a_list_is_a_schema_error() -> None:
    text = json.dumps({"gt-label": {"annotationsFromAllWorkers": {"a": 1}}})
    result = consolidate_line(text, label_attribute="gt-label")
    assert result.error is not None
    assert result.error.code == "bad_schema"
    assert "`gt-label.annotationsFromAllWorkers`" in result.error.message


def test_label_attribute_without_answers_says_so() -> None:
    text = json.dumps({"source-ref": "s3://b/1.jpg", "gt": {}, "gt-metadata": {"job-name": "j"}})
    result = consolidate_line(text)
    assert result.error is not None
    assert result.error.code == "missing_answers"
    assert result.output is not None
    assert json.loads(result.output)["gt"]["consensus"]["error"]["code"] == "missing_answers"


def test_answers_in_a_worker_response_file_need_a_fetch() -> None:
    text = json.dumps({"source-ref": "s3://b/1.jpg", "gt": {}, "gt-metadata": {
        "worker-response-ref": "s3://b/r.json"}})  # fmt: skip
    result = consolidate_line(text)
    assert result.error is not None
    assert result.error.code == "unresolved_reference"
    assert result.output is not None
    assert json.loads(result.output)["gt"]["consensus"]["error"]["code"] == "unresolved_reference"


def test_missing_label_attribute_is_named() -> None:
    result = consolidate_line(line([_good("a")]), label_attribute="other-job")
    assert result.error is not None
    assert result.error.code == "missing_label_attribute"
    assert "`other-job`" in result.error.message


def test_line_with_two_answer_sets_needs_the_label_attribute() -> None:
    value = json.loads(line([_good("a")]))["gt-label"]
    result = consolidate_line(json.dumps({"job-1": value, "job-2": value}))
    assert result.error is not None
    assert result.error.code == "unknown_label_attribute"
    assert result.output is not None
    assert json.loads(result.output)["gtconsensus-error"]["code"] == "unknown_label_attribute"
    chosen = consolidate_line(json.dumps({"job-1": value, "job-2": value}),
                              label_attribute="job-2")  # fmt: skip
    assert chosen.error is None


def test_encoded_consensus_png_is_a_palette_png_like_the_tools() -> None:
    result = consolidate_line(line([_good("a"), _good("b")]))
    assert result.output is not None
    png = png_of(label_value_of(result.output)["annotatedResult"])
    assert png == encode_label_png(BOX)
