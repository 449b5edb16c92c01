"""read_answers(): one bad answer costs that answer only."""

from __future__ import annotations

import json

import numpy as np

from gtconsensus import read_answers
from gtconsensus.answers import Rejection
from support import answer, entry

BOX = np.zeros((4, 5), np.uint8)
BOX[1:3, 1:4] = 1


def _entry(worker_id: str, labels: np.ndarray = BOX, element: str = "annotatedResult") -> object:
    classes = ("Car",) * int(labels.max(initial=0))
    return entry(worker_id, {element: answer(labels, classes)})


def test_good_answers_are_decoded_in_input_order() -> None:
    answers = read_answers([_entry("b"), _entry("a")])
    assert [a.worker_id for a in answers.annotations] == ["b", "a"]
    assert answers.annotations[0].labels.tolist() == BOX.tolist()
    assert answers.annotations[0].classes == ("Car",)
    assert (answers.size, answers.element, answers.rejected) == ((5, 4), "annotatedResult", ())


def test_rejection_keeps_the_worker_id_code_and_message() -> None:
    answers = read_answers([_entry("a"), entry("b", "{oops")])
    assert [a.worker_id for a in answers.annotations] == ["a"]
    (rejection,) = answers.rejected
    assert (rejection.worker_id, rejection.code) == ("b", "bad_json")
    assert rejection.to_dict() == {
        "workerId": "b",
        "code": "bad_json",
        "message": rejection.message,
    }


def test_rejection_of_an_entry_without_a_worker_id_has_none() -> None:
    answers = read_answers(["not an object"])
    assert answers.rejected == (Rejection(None, "bad_schema", answers.rejected[0].message),)


def test_the_same_worker_twice_keeps_the_later_answer() -> None:
    answers = read_answers([_entry("a", np.zeros_like(BOX)), _entry("a")])
    assert [r.code for r in answers.rejected] == ["duplicate_worker"]
    assert int(answers.annotations[0].labels.max()) == 1


def test_the_size_most_answers_have_wins() -> None:
    small = np.zeros((3, 3), np.uint8)
    answers = read_answers([_entry("a", small), _entry("b"), _entry("c")])
    assert answers.size == (5, 4)
    assert [(r.worker_id, r.code) for r in answers.rejected] == [("a", "size_disagreement")]


def test_element_of_the_answers_is_reported() -> None:
    answers = read_answers([_entry("a", element="seg"), _entry("b", element="seg")])
    assert answers.element == "seg"


def test_no_answer_left_gives_no_size() -> None:
    answers = read_answers([entry("a", "[]")])
    assert (answers.annotations, answers.size) == ((), None)
    assert answers.rejected[0].code == "bad_schema"


def test_answer_by_reference_is_fetched_as_bytes_or_text() -> None:
    content = json.dumps({"annotatedResult": answer(BOX, ("Car",))})
    refs = [{"workerId": w, "annotationData": {"s3Uri": f"s3://b/{w}"}} for w in "ab"]
    fetched = {"s3://b/a": content, "s3://b/b": content.encode()}
    answers = read_answers(refs, fetch=fetched.__getitem__)
    assert [a.worker_id for a in answers.annotations] == ["a", "b"]
