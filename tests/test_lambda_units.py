"""The Lambda's pieces without S3: events, settings, the spill plan, batch weighting, prefetch."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest

from gtconsensus.adapters.aws_lambda import Settings, load_worker_model
from gtconsensus.adapters.lambda_events import (
    parse_payload,
    parse_post_annotation_event,
    parse_pre_annotation_event,
)
from gtconsensus.adapters.lambda_response import (
    INLINE,
    RAW_SPILLED,
    VALUE_SPILLED,
    fit_response,
    plan_spill,
    runtime_size,
)
from gtconsensus.adapters.pre_annotation import handler as pre_handler
from gtconsensus.adapters.pre_annotation import labels_setting, task_input
from gtconsensus.adapters.s3 import PrefetchingFetch
from gtconsensus.batch import METHOD_BATCH, batch_weights, consolidate_batch, model_weights
from gtconsensus.consensus import METHOD_MAJORITY
from gtconsensus.exceptions import FetchError, OptionsError, SchemaError, StorageError
from gtconsensus.objects import finish_object, prepare_object
from gtconsensus.scoring import Agreement
from gtconsensus.testing.synthetic import DEFAULT_POOL, make_scene, simulate_worker, worker_answer
from lambda_support import answers_for, event_fixture, payload_object

# -- events -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "version", "categories"),
    [
        ("post-annotation-2018-10-06", "2018-10-06", ("Person",)),
        ("post-annotation-2018-10-16", "2018-10-16", None),
        ("post-annotation-minimal", None, None),
    ],
)
def test_both_event_versions_and_a_version_less_event_parse(
    fixture: str, version: str | None, categories: tuple[str, ...] | None
) -> None:
    event = parse_post_annotation_event(event_fixture(fixture))
    assert event.version == version
    assert event.label_categories == categories
    assert event.label_attribute_name == "street-people"
    assert event.job_name == "street-people"


def test_event_errors_name_the_field() -> None:
    event = event_fixture("post-annotation-minimal")
    event["payload"] = {"s3uri": "s3://b/k"}  # the sample recipe's misspelling
    with pytest.raises(SchemaError, match=r"`payload.s3Uri`: Field required"):
        parse_post_annotation_event(event)


def test_payload_items_are_validated_one_by_one() -> None:
    items = parse_payload(
        json.dumps([
            {"datasetObjectId": 3, "dataObject": {"content": "text"}, "annotations": [{}]},
            {"datasetObjectId": "4", "annotations": None},
            {"dataObject": {}},
            "junk",
        ])
    )  # fmt: skip
    assert [(i.index, i.dataset_object_id) for i in items] == [
        (0, "3"),
        (1, "4"),
        (2, None),
        (3, None),
    ]
    assert items[0].error is None
    assert items[0].data_object is not None
    assert items[0].data_object.content == "text"
    assert [i.error.code if i.error else None for i in items] == [None, *["bad_schema"] * 3]
    assert "annotations" in str(items[1].error)


@pytest.mark.parametrize(("data", "match"), [(b"{oops", "not JSON"), (b"{}", "JSON list")])
def test_payload_that_is_not_a_json_list_is_refused(data: bytes, match: str) -> None:
    with pytest.raises(SchemaError, match=match) as info:
        parse_payload(data)
    assert info.value.code == "bad_payload"


# -- settings -----------------------------------------------------------------------------


def test_settings_default_without_environment() -> None:
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("GTCONSENSUS_ASSUME_ROLE", "maybe"),
        ("GTCONSENSUS_RESPONSE_BUDGET", "-1"),
        ("GTCONSENSUS_RESPONSE_BUDGET", "7000000"),  # over Lambda's 6 MB: every big batch fails
        ("GTCONSENSUS_IOU_THRESHOLD", "1.5"),
        ("GTCONSENSUS_THREADS", "many"),
    ],
)
def test_malformed_setting_is_refused_with_its_name(name: str, text: str) -> None:
    with pytest.raises(OptionsError, match=name) as info:
        Settings.from_env({name: text})
    assert info.value.code == "bad_setting"


# -- the spill plan -----------------------------------------------------------------------


def test_plan_keeps_everything_inline_under_budget() -> None:
    assert plan_spill([10, 10], [5, 5], [1, 1], budget=100) == [INLINE, INLINE]


def test_plan_moves_raw_answers_largest_saving_first_and_stops_when_it_fits() -> None:
    # list sizes: 2 + sum + 2 per separator
    levels = plan_spill([50, 80, 60], [40, 30, 55], [5, 5, 5], budget=160)
    assert levels == [INLINE, RAW_SPILLED, INLINE]


def test_plan_moves_whole_values_only_after_every_raw_answer() -> None:
    levels = plan_spill([50, 80, 60], [40, 30, 55], [5, 5, 5], budget=100)
    assert RAW_SPILLED in levels
    assert VALUE_SPILLED in levels
    assert all(level != INLINE for level in levels)


def test_plan_breaks_ties_in_payload_order() -> None:
    assert plan_spill([50, 50], [10, 10], [5, 5], budget=70) == [RAW_SPILLED, INLINE]


def test_fit_without_spill_writes_nothing() -> None:
    def refuse(uri: str, data: bytes) -> None:
        raise AssertionError("nothing should be written")

    fitted = fit_response(
        [("1", {"annotationsFromAllWorkers": []})],
        attribute="gt", budget=10_000, spill_base=None, put=refuse,
    )  # fmt: skip
    assert fitted.levels == (INLINE,)
    assert fitted.size == runtime_size(fitted.entries)


def test_fit_writes_what_the_references_point_to() -> None:
    written: dict[str, bytes] = {}
    lock = threading.Lock()

    def put(uri: str, data: bytes) -> None:
        with lock:
            written[uri] = data

    raws = [{"workerId": "w", "annotationData": {"content": "x" * 500}}]
    values = [(str(i), {"consensus": {}, "annotationsFromAllWorkers": raws}) for i in range(3)]
    fitted = fit_response(
        values, attribute="gt", budget=700, spill_base="s3://b/p", put=put, threads=2
    )
    assert fitted.size <= 700
    for entry in fitted.entries:
        value = entry["consolidatedAnnotation"]["content"]["gt"]
        assert json.loads(written[value["annotationsFromAllWorkers-ref"]]) == raws
    assert fitted.bytes_written == sum(len(d) for d in written.values())


def test_fit_gives_a_repeated_id_a_folder_of_its_own() -> None:
    # fit_response is public: a list that repeats an id (the Lambda merges them
    # first) must not write both objects' files to one folder.
    written: dict[str, bytes] = {}
    lock = threading.Lock()

    def put(uri: str, data: bytes) -> None:
        with lock:
            assert uri not in written, f"{uri} written twice"
            written[uri] = data

    values = [
        (i, {"consensus": {}, "annotationsFromAllWorkers": [{"workerId": w, "x": "y" * 400}]})
        for i, w in [("7", "first"), ("8", "other"), ("7", "second")]
    ]
    fitted = fit_response(values, attribute="gt", budget=700, spill_base="s3://b/p", put=put)
    refs = [e["consolidatedAnnotation"]["content"]["gt"] for e in fitted.entries]
    raws = [json.loads(written[r["annotationsFromAllWorkers-ref"]]) for r in refs]
    assert [r[0]["workerId"] for r in raws] == ["first", "other", "second"]


def test_fit_that_cannot_fit_says_so() -> None:
    values = [(str(i), {"annotationsFromAllWorkers": []}) for i in range(50)]
    with pytest.raises(StorageError, match="lower the batch size") as info:
        fit_response(values, attribute="gt", budget=100, spill_base="s3://b/p", put=print)
    assert info.value.code == "response_too_large"


# -- batch weighting ----------------------------------------------------------------------


def _raws(seed: int, profiles: Any, size: int = 40) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    truth = make_scene(rng, height=size, width=size, n_instances=3)
    raws = []
    for profile in profiles:
        drawn = simulate_worker(
            rng, truth.labels, truth.classes, boundary_noise=profile.boundary_noise,
            miss_rate=profile.miss_rate, spurious_rate=profile.spurious_rate,
        )  # fmt: skip
        content = json.dumps(worker_answer(drawn.labels, drawn.classes))
        raws.append({"workerId": profile.worker_id, "annotationData": {"content": content}})
    return raws


def test_batch_weights_rank_the_spammer_last() -> None:
    pool = (DEFAULT_POOL[0], DEFAULT_POOL[1], DEFAULT_POOL[4])
    batch = consolidate_batch([_raws(seed, pool) for seed in range(24)])
    assert batch.method == METHOD_BATCH
    assert batch.weights is not None
    spammer = DEFAULT_POOL[4].worker_id
    assert batch.weights[spammer] == min(batch.weights.values())
    assert batch.weights[spammer] < batch.weights[DEFAULT_POOL[0].worker_id]
    assert {r.value["consensus"]["method"] for r in batch.results} == {METHOD_BATCH}


def test_batch_weighted_result_equals_deciding_the_object_with_those_weights() -> None:
    pool = DEFAULT_POOL[:3]
    objects = [_raws(seed, pool) for seed in range(20)]
    batch = consolidate_batch(objects)
    assert batch.weights is not None
    for raws, result in zip(objects, batch.results, strict=True):
        direct = finish_object(
            prepare_object(raws, original={"annotationsFromAllWorkers": raws}),
            weights=batch.weights, method=METHOD_BATCH,
        )  # fmt: skip
        assert result.value == direct.value  # packing the masks between passes loses nothing


def test_small_batch_uses_the_per_image_method() -> None:
    objects = [_raws(seed, DEFAULT_POOL[:3]) for seed in range(5)]
    batch = consolidate_batch(objects)
    assert (batch.method, batch.weights, batch.workers) == (METHOD_MAJORITY, None, 3)
    assert len(batch.results) == 5


def test_failed_objects_keep_their_place_in_a_weighted_batch() -> None:
    objects = [_raws(seed, DEFAULT_POOL[:3]) for seed in range(20)]
    objects.insert(7, [{"workerId": "x", "annotationData": {"content": "{}"}}])
    batch = consolidate_batch(objects, min_median_objects=10)
    assert batch.method == METHOD_BATCH
    assert batch.results[7].error is not None
    assert batch.results[7].value["consensus"]["method"] == METHOD_BATCH
    assert all(r.error is None for k, r in enumerate(batch.results) if k != 7)


def test_model_weights_give_unknown_workers_the_median() -> None:
    raws = _raws(3, DEFAULT_POOL[:3])
    known = {DEFAULT_POOL[0].worker_id: 0.9, DEFAULT_POOL[1].worker_id: 0.5, "other": 0.1}
    batch = consolidate_batch([raws], worker_weights=known)
    assert batch.method == "worker-model"
    assert batch.results[0].error is None


@pytest.mark.parametrize(
    "document",
    [[], {"workers": []}, {"workers": {"a": {"reliability": "high"}}},
     {"workers": {"a": {"reliability": float("nan")}}}],
)  # fmt: skip
def test_malformed_worker_model_is_refused(document: object) -> None:
    with pytest.raises(OptionsError) as info:
        model_weights(document)
    assert info.value.code == "bad_worker_model"


def test_batch_weights_shrink_a_worker_with_few_objects_towards_the_batch() -> None:
    weights = batch_weights({
        "many": (Agreement(tp=100, iou_sum=90.0), 100),
        "few": (Agreement(fp=1, fn=1), 1),
    })  # fmt: skip
    assert 0.05 < weights["few"] < weights["many"]


# -- prefetch -----------------------------------------------------------------------------


def test_prefetch_hands_over_each_uri_once_and_raises_at_ask_time() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def fetch(uri: str) -> bytes:
        with lock:
            calls.append(uri)
        if uri.endswith("bad"):
            raise FetchError("not_found", uri)
        return uri.encode()

    uris = ["s3://b/1", "s3://b/bad", "s3://b/2"]
    with PrefetchingFetch(fetch, uris, window=2, threads=2) as prefetch:
        assert prefetch("s3://b/1") == b"s3://b/1"
        with pytest.raises(FetchError):
            prefetch("s3://b/bad")
        assert prefetch("s3://b/2") == b"s3://b/2"
        assert prefetch("s3://b/1") == b"s3://b/1"  # asked again: read again
        assert prefetch("s3://b/other") == b"s3://b/other"
    assert sorted(calls) == sorted([*uris, "s3://b/1", "s3://b/other"])


# -- pre-annotation -----------------------------------------------------------------------


def test_pre_annotation_turns_source_ref_into_the_task_object() -> None:
    answer = pre_handler(event_fixture("pre-annotation"), None)
    assert answer == {
        "taskInput": {"taskObject": "s3://gtconsensus-test-jobs/images/SSDB00010.JPG"},
        "isHumanAnnotationRequired": True,
    }


def test_pre_annotation_passes_inline_source_and_the_template_parameters() -> None:
    event = {"version": "2018-10-06", "dataObject": {"source": "some text"}}
    environ = {
        "GTCONSENSUS_TASK_HEADER": "Outline every person",
        "GTCONSENSUS_TASK_LABELS": '["Person", "Rider"]',
        "GTCONSENSUS_TASK_SHORT_INSTRUCTIONS": "<p>One outline per person.</p>",
    }
    task = task_input(event, environ=environ)["taskInput"]
    assert task == {
        "taskObject": "some text", "header": "Outline every person",
        "labels": ["Person", "Rider"], "shortInstructions": "<p>One outline per person.</p>",
    }  # fmt: skip


def test_pre_annotation_without_source_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match="neither `source-ref` nor `source`"):
        task_input({"dataObject": {"unknown": 1}})


def test_pre_annotation_event_without_data_object_is_refused() -> None:
    with pytest.raises(SchemaError, match="`dataObject`: Field required"):
        parse_pre_annotation_event({"version": "2018-10-16"})


def test_labels_setting_refuses_a_list_of_non_strings() -> None:
    with pytest.raises(OptionsError, match="must list strings"):
        labels_setting("[1, 2]")


def test_payload_object_helper_matches_the_formats_reference() -> None:
    item = payload_object("0", answers_for(0))
    assert set(item) == {"datasetObjectId", "dataObject", "annotations"}
    assert isinstance(item["annotations"][0]["annotationData"]["content"], str)


def test_batch_can_drop_the_label_images_and_keep_the_same_values() -> None:
    objects = [_raws(seed, DEFAULT_POOL[:3]) for seed in range(3)]
    kept = consolidate_batch(objects)
    slim = consolidate_batch(objects, keep_consensus=False)
    assert all(r.consensus is not None for r in kept.results)
    assert all(r.consensus is None for r in slim.results)
    assert [r.value for r in slim.results] == [r.value for r in kept.results]


def test_worker_model_document_is_read_in_either_shape() -> None:
    plain = load_worker_model(b'{"workers": {"a": {"reliability": 2.0}}}')
    assert plain == {"a": 1.0}
    with pytest.raises(OptionsError, match="not JSON"):
        load_worker_model(b"{oops")
    with pytest.raises(OptionsError) as info:
        load_worker_model(b'{"format": "gtconsensus.worker-model", "version": 99}')
    assert info.value.code == "bad_worker_model"


@pytest.mark.parametrize("text", ["[]", " , ", "[ ]"])
def test_labels_setting_that_names_no_class_is_refused(text: str) -> None:
    # taken, it sent `labels: []`: the template then offered workers no class at all
    with pytest.raises(OptionsError, match="GTCONSENSUS_TASK_LABELS names no class") as info:
        task_input(event_fixture("pre-annotation"), environ={"GTCONSENSUS_TASK_LABELS": text})
    assert info.value.code == "bad_setting"
