"""The crowd simulator: deterministic, and in Ground Truth's exact shapes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtconsensus.exceptions import OptionsError
from gtconsensus.lines import prepare_line
from gtconsensus.schema import parse_answer_content, parse_worker_annotation
from gtconsensus.testing.crowd import (
    STYLES,
    WorkerStyle,
    draw_scene,
    lambda_event,
    simulate_answer,
    simulate_job,
)
from gtconsensus.testing.synthetic import Annotation

PANEL = [STYLES[n] for n in ("good", "over", "under", "poor", "spammer", "lazy")]


@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_simulator_is_deterministic_under_a_seed(seed: int) -> None:
    first = simulate_job(seed, PANEL, n_images=3, height=40, width=56, workers_per_image=4)
    again = simulate_job(seed, PANEL, n_images=3, height=40, width=56, workers_per_image=4)
    assert first.fingerprint() == again.fingerprint()
    assert list(first.manifest_lines()) == list(again.manifest_lines())


@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["P", "RGBA", "RGB"]))
def test_manifest_lines_are_read_back_by_the_library(seed: int, mode: str) -> None:
    job = simulate_job(seed, PANEL, n_images=2, height=40, width=56, workers_per_image=3)
    for line, image in zip(job.manifest_lines(mode=mode), job.images, strict=True):
        prepared = prepare_line(line)
        assert prepared.error is None
        assert prepared.obj is not None
        assert prepared.obj.rejected == ()
        assert prepared.evidence is not None
        assert prepared.evidence.worker_ids == tuple(sorted(a.worker_id for a in image.answers))


def test_the_lambda_payload_parses_with_the_schema() -> None:
    job = simulate_job(1, PANEL, n_images=2, height=30, width=40)
    payload = json.loads(json.dumps(job.lambda_payload()))
    assert [p["datasetObjectId"] for p in payload] == ["0", "1"]
    for entry in payload:
        for raw in entry["annotations"]:
            record = parse_worker_annotation(raw)
            element, answer = parse_answer_content(record.annotation_data.content)
            assert element == "annotatedResult"
            assert answer.input_image_properties.width == 40
    assert lambda_event("s3://b/p.json")["labelAttributeName"] == "gt-label"


def test_scenes_can_be_empty() -> None:
    scene = draw_scene(np.random.default_rng(0), height=20, width=30, n_instances=0)
    assert scene.classes == ()
    assert not scene.labels.any()


def _area(annotation: Annotation) -> int:
    return int(np.count_nonzero(annotation.labels))


@pytest.mark.parametrize(
    ("style", "check"),
    [
        (WorkerStyle("lazy", lazy_rate=1.0), lambda a, t: a.classes == ()),
        (WorkerStyle("over", 0, 3, 0, 0), lambda a, t: _area(a) > _area(t)),
        (WorkerStyle("under", 0, -2, 0, 0), lambda a, t: _area(a) < _area(t)),
        (WorkerStyle("split", 0, 0, 0, 0, split_rate=1.0),
         lambda a, t: len(a.classes) > len(t.classes)),
        (WorkerStyle("merge", 0, 0, 0, 0, merge_rate=1.0),
         lambda a, t: len(a.classes) < len(t.classes)),
    ],
)  # fmt: skip
def test_each_error_type_does_what_it_says(style: WorkerStyle, check: object) -> None:
    rng = np.random.default_rng(11)
    truth = draw_scene(rng, height=80, width=120, n_instances=6, touching=1.0)
    answer = simulate_answer(rng, truth, style)
    assert check(answer, truth)  # type: ignore[operator]


# --- answers that never came (expired tasks) ---


@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.0, 1.0))
def test_absent_answers_leave_the_others_as_they_were(seed: int, rate: float) -> None:
    everyone = [STYLES["good"], STYLES["average"], STYLES["spammer"]]
    styles = [replace(style, absent_rate=rate) for style in everyone]
    full = simulate_job(seed, everyone, n_images=4, height=30, width=40)
    fewer = simulate_job(seed, styles, n_images=4, height=30, width=40)
    complete = {image.source_ref: image for image in full.images}
    for image in fewer.images:
        answers = {a.worker_id: a.labels.tobytes() for a in complete[image.source_ref].answers}
        assert image.answers
        for answer in image.answers:
            assert answers[answer.worker_id] == answer.labels.tobytes()


def test_a_worker_who_never_answers_is_missing_from_every_image() -> None:
    styles = [STYLES["good"], replace(STYLES["poor"], absent_rate=1.0)]
    job = simulate_job(5, styles, n_images=6, height=30, width=40)
    assert len(job.images) == 6
    assert {tuple(a.worker_id for a in image.answers) for image in job.images} == {("good",)}
    assert {len(entry["annotations"]) for entry in job.lambda_payload()} == {1}


def test_an_image_nobody_answered_is_left_out_of_the_job() -> None:
    styles = [replace(STYLES["good"], absent_rate=1.0)]
    assert simulate_job(5, styles, n_images=3, height=30, width=40).images == ()


def test_absent_rate_must_be_a_probability() -> None:
    with pytest.raises(OptionsError, match="absent_rate"):
        WorkerStyle("w", absent_rate=1.5)


@pytest.mark.parametrize("mode", ["P", "RGBA", "RGB"])
def test_the_lambda_payload_takes_the_png_flavour_of_the_manifest(mode: str) -> None:
    job = simulate_job(2, PANEL[:2], n_images=1, height=20, width=30, instances=(1, 2))
    payload = job.lambda_payload(mode=mode)
    lines = [json.loads(line) for line in job.manifest_lines(mode=mode)]
    from_lines = lines[0]["gt-label"]["annotationsFromAllWorkers"]
    contents = [json.loads(entry["annotationData"]["content"]) for entry in from_lines]
    assert [json.loads(a["annotationData"]["content"]) for a in payload[0]["annotations"]] == (
        contents
    )


def test_a_job_takes_the_label_attribute_of_your_labeling_job() -> None:
    job = simulate_job(2, PANEL[:2], n_images=1, height=20, width=30, label_attribute="streets")
    (line,) = job.manifest_lines()
    assert set(json.loads(line)) == {"source-ref", "streets", "streets-metadata"}
