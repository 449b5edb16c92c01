"""The strategies for answers and lines in the forms Ground Truth writes them in the wild."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gtconsensus import consolidate_line
from gtconsensus.adapters.lambda_events import parse_payload, parse_post_annotation_event
from gtconsensus.answers import read_answers
from gtconsensus.lines import infer_label_attribute
from gtconsensus.testing import strategies as gts

ONE = [("w1", gts.encode_answer(np.array([[0, 1]], np.uint8), ["Car"], ["#2ca02c"]))]


@pytest.mark.parametrize("form", gts.ENTRY_FORMS)
def test_every_entry_form_reads_back_as_the_same_answer(form: str) -> None:
    entry, store = gts.answer_entry("w1", ONE[0][1], form=form)
    read = read_answers([entry], fetch=store.__getitem__)
    assert read.rejected == ()
    assert read.annotations[0].worker_id == "w1"
    assert read.annotations[0].labels.tolist() == [[0, 1]]
    assert bool(store) == form.startswith("s3")


def test_escaped_entries_write_equals_signs_as_json_escapes() -> None:
    padded = gts.encode_answer(np.ones((1, 3), np.uint8), ["Car"], ["#2ca02c"])
    assert padded["labeledImage"]["pngImageData"].endswith("==")
    entry, _ = gts.answer_entry("w1", padded, form="escaped")
    content = entry["annotationData"]["content"]
    assert "=" not in content
    assert "\\u003d" in content


def test_answer_entry_refuses_an_unknown_form() -> None:
    with pytest.raises(InvalidArgument, match="form"):
        gts.answer_entry("w1", ONE[0][1], form="s3URI")


@given(st.data())
def test_wild_lines_consolidate_as_the_recipe_line_of_the_same_answers(
    data: st.DataObject,
) -> None:
    answers = data.draw(gts.panel_answers(png_modes=["P8", "RGBA"]))
    line, store = data.draw(gts.wild_lines(answers=st.just(answers)))
    plain = consolidate_line(gts.recipe_line(answers))
    wild = consolidate_line(line, fetch=store.__getitem__)
    assert wild.error is None
    assert plain.consensus is not None
    assert wild.consensus is not None
    assert wild.consensus.labels.tolist() == plain.consensus.labels.tolist()
    assert [i.label for i in wild.consensus.instances] == [
        i.label for i in plain.consensus.instances
    ]


@given(gts.wild_lines())
def test_wild_lines_name_their_label_attribute_unambiguously(
    drawn: tuple[str, dict[str, bytes]],
) -> None:
    line, _ = drawn
    assert infer_label_attribute(json.loads(line)) == "gt-label"


def test_the_simplest_wild_line_is_the_recipe_line() -> None:
    line, store = find(gts.wild_lines(answers=st.just(ONE)), lambda x: True,
                       settings=settings(database=None, derandomize=True))  # fmt: skip
    assert store == {}
    assert json.loads(line) == json.loads(gts.recipe_line(ONE))


def test_wild_lines_reach_each_metadata_form() -> None:
    for key in ("gt-label-17-metadata", None):

        def has(drawn: tuple[str, dict[str, bytes]], key: str | None = key) -> bool:
            keys = [k for k in json.loads(drawn[0]) if k.endswith("-metadata")]
            return keys == ([key] if key else [])

        find(gts.wild_lines(answers=st.just(ONE)), has,
             settings=settings(database=None, derandomize=True))  # fmt: skip


@given(gts.lambda_requests())
def test_lambda_requests_parse_and_keep_every_object(
    drawn: tuple[dict[str, Any], dict[str, bytes]],
) -> None:
    event, store = drawn
    parsed = parse_post_annotation_event(event)
    items = parse_payload(store[parsed.payload.s3_uri])
    assert [i.error for i in items] == [None] * len(items)
    assert len({i.dataset_object_id for i in items}) == len(items) >= 1
    for item in items:
        read = read_answers(item.annotations, fetch=store.__getitem__)
        assert read.rejected == ()
        assert len(read.annotations) >= 1
