"""The other input forms: worker-response files and consolidation-request payloads."""

from __future__ import annotations

import json

import pytest

from gtconsensus import SchemaError, consolidate_line
from gtconsensus.exceptions import FetchError
from gtconsensus.forms import (
    answers_from_worker_response,
    lines_from_payload,
    with_worker_responses,
)
from support import answer, bar, entry

URI = "s3://bucket/job/annotations/worker-response/iteration-1/0/2026-11-20_18:59:58.json"


def _response() -> dict[str, object]:
    drawn = bar(8, (1, 5))
    return {
        "answers": [
            {"workerId": f"w{i}", "answerContent": {"annotatedResult": answer(drawn, ["Car"])},
             "submissionTime": "2026-11-20T18:59:58.321Z", "timeSpentInSeconds": 40.5}
            for i in range(3)
        ]
    }  # fmt: skip


def _no_lambda_line() -> str:
    metadata = {"type": "groundtruth/custom", "job-name": "job-7", "worker-response-ref": URI}
    return json.dumps({"source-ref": "s3://bucket/1.jpg", "gt": {}, "gt-7-metadata": metadata})


def test_worker_response_answers_become_recipe_entries_with_content_as_a_string() -> None:
    entries = answers_from_worker_response(_response())
    assert [e["workerId"] for e in entries] == ["w0", "w1", "w2"]
    content = json.loads(entries[0]["annotationData"]["content"])
    assert content["annotatedResult"]["instances"] == [{"color": "#2ca02c", "label": "Car"}]


def test_worker_id_spelled_with_an_underscore_is_accepted() -> None:
    document = {"answers": [{"worker_id": "w9", "answerContent": {}}]}
    assert answers_from_worker_response(document)[0]["workerId"] == "w9"


def test_a_worker_response_file_without_answers_is_refused() -> None:
    with pytest.raises(SchemaError) as info:
        answers_from_worker_response({"answer": []})
    assert info.value.code == "bad_worker_response"


def test_a_no_lambda_line_is_consolidated_from_its_worker_response_file() -> None:
    store = {URI: json.dumps(_response()).encode()}
    result = consolidate_line(_no_lambda_line(), fetch=store.__getitem__)
    assert result.error is None
    value = json.loads(result.output or "")["gt"]
    assert [i["label"] for i in value["annotatedResult"]["instances"]] == ["Car"]
    assert len(value["annotationsFromAllWorkers"]) == 3  # answers written in recipe form
    assert json.loads(result.output or "")["gt-7-metadata"]["worker-response-ref"] == URI


def test_a_no_lambda_line_without_a_fetch_fails_with_a_clear_code() -> None:
    result = consolidate_line(_no_lambda_line())
    assert result.error is not None
    assert result.error.code == "unresolved_reference"
    assert URI in result.error.message


def test_a_worker_response_file_that_is_not_json_is_a_fetch_error() -> None:
    with pytest.raises(FetchError) as info:
        with_worker_responses(json.loads(_no_lambda_line()), "gt", {URI: b"<html>"}.__getitem__)
    assert info.value.code == "bad_worker_response"


def test_recipe_lines_are_left_alone() -> None:
    line = {"gt": {"annotationsFromAllWorkers": []}, "gt-metadata": {"worker-response-ref": URI}}
    assert with_worker_responses(line, "gt", None) is line


def test_payload_objects_become_recipe_lines_with_their_source() -> None:
    payload = [
        {"datasetObjectId": "0", "dataObject": {"s3Uri": "s3://b/0.jpg"},
         "annotations": [entry("w1", {})]},
        {"datasetObjectId": "1", "dataObject": {"content": "some text"}, "annotations": []},
        "not an object",
    ]  # fmt: skip
    lines = list(lines_from_payload(payload, label_attribute="gt"))
    assert lines[0]["source-ref"] == "s3://b/0.jpg"
    assert lines[0]["gt"]["annotationsFromAllWorkers"] == [entry("w1", {})]
    assert lines[1]["source"] == "some text"
    assert lines[2] == {"payloadEntry": "not an object"}


def test_a_payload_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(SchemaError):
        list(lines_from_payload({"datasetObjectId": "0"}, label_attribute="gt"))


def test_a_missing_worker_response_file_fails_with_the_fetch_error_not_as_bad_json() -> None:
    def missing(uri: str) -> bytes:
        raise FetchError("not_found", f"cannot read {uri}")

    with pytest.raises(FetchError) as info:
        with_worker_responses(json.loads(_no_lambda_line()), "gt", missing)
    assert (info.value.code, info.value.message) == ("not_found", f"cannot read {URI}")
