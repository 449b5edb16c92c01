"""The shipped Hypothesis strategies produce what they promise."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from gtconsensus import WorkerAnnotation, consolidate_line
from gtconsensus.masks import CATEGORY10, read_png_header
from gtconsensus.testing import strategies as gts
from gtconsensus.testing.synthetic import TOOL_COLOUR_ORDER, encode_answer_png
from support import png_of

# Per PNG mode: bit depth, colour type, interlaced, has a tRNS chunk.
HEADERS = {
    "tool": (None, 3, False, True),  # the smallest depth that holds the instances
    "P1": (1, 3, False, True),
    "P2": (2, 3, False, True),
    "P4": (4, 3, False, True),
    "P8": (8, 3, False, True),
    "P1-opaque": (1, 3, False, False),
    "P2-opaque": (2, 3, False, False),
    "P4-opaque": (4, 3, False, False),
    "P8-opaque": (8, 3, False, False),
    "P8-interlaced": (8, 3, True, True),
    "RGB": (8, 2, False, False),
    "RGBA": (8, 6, False, False),
    "L": (8, 0, False, False),
    "LA": (8, 4, False, False),
    "I;16": (16, 0, False, False),
}


@given(gts.label_images(height=st.integers(1, 12), width=7, min_instances=1, max_instances=5))
def test_label_images_are_dense_uint8_of_the_asked_size(labels: np.ndarray) -> None:
    k = int(labels.max())
    assert labels.dtype == np.uint8
    assert labels.shape[1] == 7
    assert 1 <= labels.shape[0] <= 12
    assert 1 <= k <= 5
    assert set(np.unique(labels).tolist()) - {0} == set(range(1, k + 1))


@pytest.mark.parametrize(("low", "high"), [(-1, 3), (4, 3), (0, 256)])
def test_label_images_refuse_bad_instance_bounds(low: int, high: int) -> None:
    @given(gts.label_images(min_instances=low, max_instances=high))
    def draw(labels: np.ndarray) -> None:
        pass

    with pytest.raises(InvalidArgument):
        draw()


@pytest.mark.parametrize("strategy", [gts.worker_answers, gts.panels])
@given(data=st.data())
def test_panels_have_distinct_workers_one_size_and_known_classes(
    strategy: Any, data: st.DataObject
) -> None:
    panel = data.draw(strategy(min_workers=2, max_workers=4, classes=("a", "b")))
    assert 2 <= len(panel) <= 4
    assert all(isinstance(w, WorkerAnnotation) for w in panel)
    assert len({w.worker_id for w in panel}) == len(panel)
    assert len({w.labels.shape for w in panel}) == 1
    for worker in panel:
        assert set(worker.classes) <= {"a", "b"}
        assert int(worker.labels.max(initial=0)) == len(worker.classes)


def test_minimal_panel_is_identical_workers() -> None:
    panel = find(gts.panels(min_workers=3, height=4, width=4), lambda p: len(p) == 3)
    assert all(np.array_equal(w.labels, panel[0].labels) for w in panel)


@pytest.mark.parametrize("png_mode", gts.PNG_MODES)
@given(data=st.data())
def test_answers_are_written_in_the_asked_png_mode(png_mode: str, data: st.DataObject) -> None:
    answer = data.draw(gts.annotated_results(png_modes=[png_mode], height=9, width=10))
    png = png_of(answer)
    header = read_png_header(png)
    expected = HEADERS[png_mode]
    depth = expected[0] or next(b for b in (1, 2, 4, 8) if len(answer["instances"]) < 1 << b)
    assert (header.bit_depth, header.colour_type, header.interlaced) == (depth, *expected[1:3])
    assert (b"tRNS" in png) == expected[3]
    assert answer["inputImageProperties"] == {"height": 9, "width": 10}


@given(gts.annotated_results(max_instances=10))
def test_answers_use_distinct_tool_colours(answer: dict[str, Any]) -> None:
    colours = [i["color"] for i in answer["instances"]]
    assert len(set(colours)) == len(colours)
    grey = all(c[1:3] == c[3:5] == c[5:7] for c in colours)
    assert grey or set(colours) <= set(CATEGORY10)
    assert all(i["label"] in gts.DEFAULT_CLASSES for i in answer["instances"])


def test_answer_colours_are_not_always_in_the_tools_order() -> None:
    shuffled = find(
        gts.annotated_results(png_modes=["RGB"]),
        lambda a: bool(a["instances"]) and a["instances"][0]["color"] != TOOL_COLOUR_ORDER[0],
        settings=settings(database=None, derandomize=True),
    )
    assert shuffled["instances"][0]["color"] in CATEGORY10


def test_answer_colours_shrink_to_the_tools_order() -> None:
    # A failing example reads like a real answer: #2ca02c first, then #1f77b4.
    answer = find(
        gts.annotated_results(png_modes=["P8"]),
        lambda a: len(a["instances"]) >= 3,
        settings=settings(database=None, derandomize=True),
    )
    assert [i["color"] for i in answer["instances"]] == list(TOOL_COLOUR_ORDER[:3])


def test_encode_answer_refuses_a_colour_count_that_does_not_match() -> None:
    with pytest.raises(InvalidArgument):
        gts.encode_answer(np.array([[1]], np.uint8), ["Car"], [])


def test_encode_answer_refuses_colours_a_grey_png_cannot_hold() -> None:
    with pytest.raises(InvalidArgument, match="grey"):
        gts.encode_answer(np.array([[1]], np.uint8), ["Car"], ["#1f77b4"], png_mode="L")


def test_encode_answer_refuses_more_instances_than_the_palette_holds() -> None:
    with pytest.raises(InvalidArgument):
        gts.encode_answer(np.array([[1, 2]], np.uint8), ["a", "b"], list(CATEGORY10[:2]),
                          png_mode="P1")  # fmt: skip


def test_recipe_line_is_a_line_gtconsensus_consolidates() -> None:
    labels = np.array([[0, 1]], np.uint8)
    answer = gts.encode_answer(labels, ["Car"], ["#2ca02c"])
    text = gts.recipe_line([("a", answer), ("b", answer)], label_attribute="job", element="seg")
    parsed = json.loads(text)
    assert parsed["job-metadata"]["job-name"] == "job"
    result = consolidate_line(text)
    assert result.error is None
    assert result.consensus is not None
    assert result.consensus.labels.tolist() == [[0, 1]]


# --- many instances, large images (what a user's edge-case tests ask for) ---


@settings(max_examples=3)
@given(gts.label_images(min_instances=255, max_instances=255))
def test_label_images_reach_255_instances_at_the_default_sizes(labels: np.ndarray) -> None:
    assert int(labels.max()) == 255
    assert set(np.unique(labels).tolist()) - {0} == set(range(1, 256))


@given(gts.label_images(height=6, width=5, min_instances=30, max_instances=30))
def test_label_images_fill_every_pixel_when_asked_for_as_many_instances(
    labels: np.ndarray,
) -> None:
    assert sorted(labels.ravel().tolist()) == list(range(1, 31))


@given(gts.label_images(height=st.integers(1, 32), width=20, min_instances=20, max_instances=26))
def test_label_images_keep_every_painted_shape_visible(labels: np.ndarray) -> None:
    assert 20 <= int(labels.max()) <= 20 + 6


def test_label_images_refuse_more_instances_than_a_fixed_size_holds() -> None:
    @given(gts.label_images(height=2, width=3, min_instances=7, max_instances=7))
    def draw(labels: np.ndarray) -> None:
        pass

    with pytest.raises(InvalidArgument, match="2x3"):
        draw()


@settings(max_examples=3)
@given(gts.label_images(height=4000, width=4000))
def test_label_images_can_be_large(labels: np.ndarray) -> None:
    assert labels.shape == (4000, 4000)


def test_minimal_many_instance_image_is_a_row_of_single_pixels() -> None:
    labels = find(gts.label_images(height=2, width=3, min_instances=4), lambda x: True,
                  settings=settings(database=None, derandomize=True))  # fmt: skip
    assert labels.tolist() == [[1, 2, 3], [4, 0, 0]]


@settings(max_examples=10)
@given(gts.panels(min_instances=200, max_instances=255, max_workers=3))
def test_panels_of_hundreds_of_instances_pass_the_health_checks(
    panel: list[WorkerAnnotation],
) -> None:
    assert len({w.labels.shape for w in panel}) == 1
    assert all(int(w.labels.max(initial=0)) == len(w.classes) for w in panel)


@settings(max_examples=10)
@given(gts.worker_answers(min_instances=255, max_instances=255, max_workers=2))
def test_worker_answers_can_each_hold_255_instances(answers: list[WorkerAnnotation]) -> None:
    assert all(len(w.classes) == 255 for w in answers)


@settings(max_examples=10)
@given(gts.labelled_answers(min_instances=255, max_instances=255))
def test_answers_of_255_instances_use_a_mode_that_holds_them(
    pair: tuple[np.ndarray, dict[str, Any]],
) -> None:
    labels, answer = pair
    assert len(answer["instances"]) == 255 == int(labels.max())
    assert read_png_header(png_of(answer)).bit_depth in (8, 16)


def test_answers_refuse_more_instances_than_the_png_modes_hold() -> None:
    @given(gts.annotated_results(min_instances=4, png_modes=["P1", "P2"]))
    def draw(answer: dict[str, Any]) -> None:
        pass

    with pytest.raises(InvalidArgument, match="min_instances"):
        draw()


@given(gts.panels(max_instances=2))
def test_no_worker_of_a_panel_draws_more_than_max_instances(
    panel: list[WorkerAnnotation],
) -> None:
    assert all(len(w.classes) <= 2 for w in panel)


@given(gts.panels(max_instances=0))
def test_a_panel_of_empty_images_is_all_empty(panel: list[WorkerAnnotation]) -> None:
    assert all(w.classes == () and not w.labels.any() for w in panel)


@given(gts.labelled_answers(png_modes=["tool"], max_instances=20))
def test_tool_answers_have_the_tools_chunks(pair: tuple[np.ndarray, dict[str, Any]]) -> None:
    _, answer = pair
    png, k = png_of(answer), len(answer["instances"])
    chunks = [png[i + 4 : i + 8] for i in _chunk_offsets(png)]
    assert chunks[:4] == [b"IHDR", b"sRGB", b"PLTE", b"tRNS"]
    assert _chunk_length(png, chunks.index(b"PLTE")) == 3 * (k + 1)  # no unused entries
    assert _chunk_length(png, chunks.index(b"tRNS")) == k + 1


def test_tool_answers_in_instance_order_are_the_tools_png_byte_for_byte() -> None:
    # synthetic's palette PNG re-encodes the real sample's PNGs to the same bytes
    labels = np.array([[0, 1, 1], [2, 2, 3]], np.uint8)
    colours = ["#2ca02c", "#1f77b4", "#ff7f0e"]
    answer = gts.encode_answer(labels, ["a", "b", "c"], colours, png_mode="tool")
    assert png_of(answer) == encode_answer_png(labels, colours)


def _chunk_offsets(png: bytes) -> list[int]:
    offsets, position = [], 8
    while position < len(png):
        offsets.append(position)
        position += 12 + int.from_bytes(png[position : position + 4], "big")
    return offsets


def _chunk_length(png: bytes, index: int) -> int:
    start = _chunk_offsets(png)[index]
    return int.from_bytes(png[start : start + 4], "big")


def test_the_simplest_answer_is_in_the_tools_png_form() -> None:
    answer = find(gts.annotated_results(), lambda a: len(a["instances"]) == 1,
                  settings=settings(database=None, derandomize=True))  # fmt: skip
    assert png_of(answer) == encode_answer_png(np.ones((1, 1), np.uint8), ["#2ca02c"])


def test_worker_ids_include_ground_truths_own_forms() -> None:
    panel = find(gts.panels(), lambda p: any(w.worker_id.startswith("private.") for w in p),
                 settings=settings(database=None, derandomize=True))  # fmt: skip
    (worker_id,) = [w.worker_id for w in panel if "." in w.worker_id]
    kind, region, code = worker_id.split(".")
    assert (kind, len(code), code.isupper() or code.isalnum()) == ("private", 26, True)
    assert region.count("-") == 2


@given(gts.panel_answers(png_modes=["P1"]))
def test_one_bit_panel_answers_hold_one_instance_each(
    answers: list[tuple[str, dict[str, Any]]],
) -> None:
    # The real sample's PNGs are 1-bit; the default panel is drawn to fit them.
    for _, answer in answers:
        assert len(answer["instances"]) <= 1
        assert read_png_header(png_of(answer)).bit_depth == 1
