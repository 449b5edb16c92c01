"""Wire models: every Ground Truth spelling parses, every bad shape names its field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gtconsensus import SchemaError
from gtconsensus.schema import parse_answer_content, parse_worker_annotation

ANSWER: dict[str, Any] = {
    "inputImageProperties": {"height": 2, "width": 3},
    "instances": [{"color": "#1f77b4", "label": "Car"}],
    "labeledImage": {"pngImageData": "iVBO"},
}


def _schema_error(content: object, **kwargs: Any) -> SchemaError:
    text = content if isinstance(content, str) else json.dumps(content)
    with pytest.raises(SchemaError) as caught:
        parse_answer_content(text, **kwargs)
    assert isinstance(caught.value, ValueError)
    return caught.value


# --- answers that parse ---


def test_answer_parses_from_a_json_string() -> None:
    name, answer = parse_answer_content(json.dumps({"annotatedResult": ANSWER}))
    assert name == "annotatedResult"
    assert (answer.input_image_properties.width, answer.input_image_properties.height) == (3, 2)
    assert [(i.color, i.label) for i in answer.instances] == [("#1f77b4", "Car")]
    assert answer.labeled_image.png_image_data == "iVBO"


def test_answer_parses_from_a_decoded_object() -> None:
    name, _ = parse_answer_content({"annotatedResult": ANSWER})
    assert name == "annotatedResult"


def test_answer_wrapped_in_a_one_element_list_is_unwrapped() -> None:
    _, answer = parse_answer_content({"annotatedResult": [ANSWER]})
    assert answer.instances[0].label == "Car"


def test_another_element_name_is_found_when_it_is_the_only_key() -> None:
    name, _ = parse_answer_content({"crowdSegmentation": ANSWER})
    assert name == "crowdSegmentation"


def test_element_given_by_name_is_picked_among_several_keys() -> None:
    name, _ = parse_answer_content({"other": 1, "mine": ANSWER}, element="mine")
    assert name == "mine"


def test_unknown_extra_keys_are_ignored() -> None:
    answer = {**ANSWER, "comment": "late", "instances": [{**ANSWER["instances"][0], "z": 1}]}
    _, parsed = parse_answer_content({"annotatedResult": answer, "timing": 3})
    assert parsed.instances[0].label == "Car"


def test_non_ascii_labels_are_kept() -> None:
    answer = {**ANSWER, "instances": [{"color": "#1f77b4", "label": "Fußgänger 行人"}]}
    _, parsed = parse_answer_content(json.dumps({"annotatedResult": answer}, ensure_ascii=True))
    assert parsed.instances[0].label == "Fußgänger 行人"


def test_empty_answer_is_a_valid_answer() -> None:
    _, parsed = parse_answer_content({"annotatedResult": {**ANSWER, "instances": []}})
    assert parsed.instances == ()


# --- answers that do not parse ---


def test_content_that_is_not_json_is_refused() -> None:
    error = _schema_error('{"annotatedResult": ')
    assert error.code == "bad_json"
    assert "`annotationData.content`" in error.message


def test_content_that_is_not_an_object_is_refused() -> None:
    error = _schema_error([ANSWER])
    assert error.code == "bad_schema"
    assert "`annotationData.content` must be a JSON object, got list" in error.message


def test_missing_element_among_several_keys_is_refused() -> None:
    error = _schema_error({"a": ANSWER, "b": ANSWER})
    assert error.code == "missing_element"
    assert "`annotatedResult`" in error.message


def test_element_given_by_name_but_absent_is_refused() -> None:
    error = _schema_error({"annotatedResult": ANSWER}, element="mine")
    assert error.code == "missing_element"
    assert "`mine`" in error.message


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("labeledImage", "`annotatedResult.labeledImage`"),
        ("instances", "`annotatedResult.instances`"),
        ("inputImageProperties", "`annotatedResult.inputImageProperties`"),
    ],
)
def test_missing_key_is_refused_naming_the_field(key: str, field: str) -> None:
    answer = {k: v for k, v in ANSWER.items() if k != key}
    error = _schema_error({"annotatedResult": answer})
    assert error.code == "bad_schema"
    assert f"{field}: Field required" in error.message


def test_missing_instance_label_is_refused_naming_the_instance() -> None:
    answer = {**ANSWER, "instances": [ANSWER["instances"][0], {"color": "#ff7f0e"}]}
    error = _schema_error({"annotatedResult": answer})
    assert "`annotatedResult.instances[1].label`: Field required" in error.message


@pytest.mark.parametrize(
    ("patch", "field", "got"),
    [
        ({"instances": "Car"}, "`annotatedResult.instances`", "got 'Car'"),
        ({"inputImageProperties": {"height": "tall", "width": 3}},
         "`annotatedResult.inputImageProperties.height`", "got 'tall'"),
        ({"inputImageProperties": {"height": 0, "width": 3}},
         "`annotatedResult.inputImageProperties.height`", "got 0"),
        ({"labeledImage": {"pngImageData": 5}},
         "`annotatedResult.labeledImage.pngImageData`", "got 5"),
        ({"labeledImage": {"pngImageData": ""}},
         "`annotatedResult.labeledImage.pngImageData`", "got ''"),
        ({"instances": [{"color": "blue", "label": "Car"}]},
         "`annotatedResult.instances[0].color`", "got 'blue'"),
    ],
)  # fmt: skip
def test_wrong_type_is_refused_naming_the_field_and_what_came(
    patch: dict[str, Any], field: str, got: str
) -> None:
    error = _schema_error({"annotatedResult": {**ANSWER, **patch}})
    assert error.code == "bad_schema"
    assert field in error.message
    assert error.message.endswith(got)


def test_element_that_is_not_an_object_is_refused() -> None:
    error = _schema_error({"annotatedResult": "done"})
    assert error.code == "bad_schema"
    assert "`annotatedResult`" in error.message


# --- worker records ---


@pytest.mark.parametrize("id_key", ["workerId", "worker_id"])
def test_worker_record_accepts_both_id_spellings(id_key: str) -> None:
    record = parse_worker_annotation({id_key: "w1", "annotationData": {"content": "{}"}})
    assert record.worker_id == "w1"


@pytest.mark.parametrize("uri_key", ["s3Uri", "s3uri", "s3_uri"])
def test_worker_record_accepts_every_s3_uri_spelling(uri_key: str) -> None:
    record = parse_worker_annotation({"workerId": "w", "annotationData": {uri_key: "s3://b/k"}})
    assert record.annotation_data.s3_uri == "s3://b/k"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"annotationData": {"content": "{}"}}, "`workerId`: Field required"),
        ({"workerId": "", "annotationData": {"content": "{}"}}, "`workerId`"),
        ({"workerId": 7, "annotationData": {"content": "{}"}}, "`workerId`"),
        ({"workerId": "w"}, "`annotationData`: Field required"),
        ({"workerId": "w", "annotationData": {}}, "`annotationData`"),
        ({"workerId": "w", "annotationData": {"content": 5}}, "`annotationData.content`"),
        ("just text", "`annotationsFromAllWorkers` entry"),
    ],
)
def test_bad_worker_record_is_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        parse_worker_annotation(raw)
    assert caught.value.code == "bad_schema"
    assert field in caught.value.message
