"""Overlays (gtconsensus.review.render)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtconsensus.answers import Answers
from gtconsensus.consensus import WorkerAnnotation
from gtconsensus.exceptions import OptionsError
from gtconsensus.lines import consolidate_line
from gtconsensus.review.outputs import (
    parse_output_line,
    read_output_object,
    read_worker_answers,
)
from gtconsensus.review.render import (
    DISAGREEMENT,
    load_source_image,
    overlay_panels,
    render_overlay,
)
from review_data import FAILED_LINE, write_job, write_source_image
from support import answer, line


def _scene() -> np.ndarray:
    labels = np.zeros((40, 60), np.uint8)
    labels[5:20, 5:25] = 1
    labels[22:36, 30:55] = 2
    return labels


def _consolidated(*labels: np.ndarray):  # type: ignore[no-untyped-def]
    answers = [(f"w{i}", answer(lab, ["Car", "Person", "Bicycle"][: int(lab.max())])) for i, lab in
               enumerate(labels)]  # fmt: skip
    output = consolidate_line(line(answers)).output
    assert output is not None
    return parse_output_line(output, number=1)


def _has(pixels: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((pixels.reshape(-1, 3) == colour).all(axis=1).any())


def test_unanimous_workers_look_exactly_like_the_consensus() -> None:
    obj = _consolidated(_scene(), _scene(), _scene())
    panels = overlay_panels(obj, read_worker_answers(obj), panel_width=60)
    assert len(panels) == 4
    for panel in panels[1:]:
        np.testing.assert_array_equal(panel.pixels, panels[0].pixels)
    assert not _has(panels[0].pixels, DISAGREEMENT)


def test_a_worker_instance_keeps_its_consensus_colour_whatever_its_own_numbering() -> None:
    swapped = _scene()
    swapped[swapped > 0] = 3 - swapped[swapped > 0]  # instance 1 is now 2 and back
    obj = _consolidated(_scene(), _scene(), swapped)
    panels = overlay_panels(obj, read_worker_answers(obj), panel_width=60)
    np.testing.assert_array_equal(panels[3].pixels, panels[0].pixels)


def test_disagreement_and_unmatched_instances_are_marked() -> None:
    extra = _scene()
    extra[2:8, 40:58] = 3
    obj = _consolidated(_scene(), _scene(), extra)
    worker = read_worker_answers(obj).annotations[2]
    panels = overlay_panels(obj, Answers((worker,), (), "annotatedResult", (60, 40)),
                            panel_width=60)  # fmt: skip
    spurious = panels[1].pixels[3:7, 42:56]
    assert (spurious[..., 0] > 200).all()
    assert (spurious[..., 2] > 200).all()
    assert _has(panels[1].pixels, (255, 255, 255))  # white boundary: not in the consensus
    elsewhere = panels[1].pixels[10:15, 10:20]
    np.testing.assert_array_equal(elsewhere, panels[0].pixels[10:15, 10:20])


def test_render_grid_has_one_panel_per_worker_and_the_consensus() -> None:
    obj = _consolidated(_scene(), _scene(), _scene())
    one_row = render_overlay(obj, panel_width=100, columns=4)
    two_rows = render_overlay(obj, panel_width=100)
    assert one_row.width > 4 * 100
    assert two_rows.width < 3 * 100
    assert two_rows.height > one_row.height


def test_source_image_is_used_when_found(tmp_path: Path) -> None:
    job = write_job(tmp_path)
    obj = read_output_object(job, 1)
    assert load_source_image(obj.source_ref, image_root=tmp_path) is None
    assert obj.size is not None
    assert obj.source_ref is not None
    write_source_image(tmp_path, obj.source_ref, obj.size)
    image = load_source_image(obj.source_ref, image_root=tmp_path)
    assert image is not None
    assert image.size == obj.size
    plain = overlay_panels(obj, read_worker_answers(obj), panel_width=120)[0].pixels
    photo = overlay_panels(obj, read_worker_answers(obj), image=image, panel_width=120)[0].pixels
    assert len(np.unique(photo.reshape(-1, 3), axis=0)) > len(
        np.unique(plain.reshape(-1, 3), axis=0)
    )


def test_failed_line_is_refused_with_its_code(tmp_path: Path) -> None:
    obj = read_output_object(write_job(tmp_path), FAILED_LINE)
    with pytest.raises(OptionsError, match="no_valid_answer") as info:
        render_overlay(obj)
    assert info.value.code == "failed_line"


def test_worker_annotation_type_is_what_answers_hold() -> None:
    obj = _consolidated(_scene(), _scene(), _scene())
    assert all(isinstance(a, WorkerAnnotation) for a in read_worker_answers(obj).annotations)
