"""One data object: prepare (pass 1) and finish (pass 2) give what consolidate_line gives."""

from __future__ import annotations

import json

from gtconsensus import consolidate_line
from gtconsensus.lines import finish_line, prepare_line
from gtconsensus.objects import consolidate_answers, finish_object, prepare_object
from support import answer, bar, entry


def _raws() -> list[dict[str, object]]:
    drawn = bar(8, (1, 5))
    return [
        entry("w1", {"annotatedResult": answer(drawn, ["Car"])}),
        entry("w2", {"annotatedResult": answer(drawn, ["Car"])}),
        entry("w3", {"annotatedResult": {"instances": []}}),
    ]


def test_an_object_is_consolidated_from_its_good_answers_and_rejects_the_bad_one() -> None:
    done = consolidate_answers(_raws())
    assert done.error is None
    assert [i["label"] for i in done.value["annotatedResult"]["instances"]] == ["Car"]
    assert [r["workerId"] for r in done.value["consensus"]["rejected"]] == ["w3"]
    assert done.value["annotationsFromAllWorkers"] == _raws()


def test_an_object_without_answers_fails_with_no_answers() -> None:
    done = consolidate_answers([])
    assert done.error is not None
    assert done.error.code == "no_answers"
    assert done.value["consensus"]["error"]["code"] == "no_answers"


def test_prepared_object_can_be_finished_again_with_other_weights() -> None:
    prepared = prepare_object(_raws())
    assert prepared.evidence is not None
    first = finish_object(prepared)
    second = finish_object(prepared, weights={"w1": 2.0}, method="job-level")
    assert first.value["annotatedResult"] == second.value["annotatedResult"]
    assert second.value["consensus"]["method"] == "job-level"


def test_prepare_then_finish_line_equals_consolidate_line() -> None:
    line = json.dumps({"source-ref": "s3://b/1.jpg", "job": {"annotationsFromAllWorkers": _raws()}})
    assert finish_line(prepare_line(line)).output == consolidate_line(line).output


def test_a_line_that_is_not_json_finishes_without_output() -> None:
    done = finish_line(prepare_line("{nope"))
    assert done.output is None
    assert done.error is not None
    assert done.error.code == "bad_json"


def test_a_prepared_object_keeps_no_full_size_label_image() -> None:
    prepared = prepare_object(_raws())
    assert prepared.answers is not None
    assert prepared.answers.annotations == ()
    assert prepared.answers.element == "annotatedResult"
    assert [r.worker_id for r in prepared.rejected] == ["w3"]
