"""The post-annotation Lambda against a real S3 API on loopback (moto in server mode).

No client is patched: boto3 talks HTTP to a moto server on 127.0.0.1 through
``AWS_ENDPOINT_URL``, with dummy credentials. Every test uses its own payload
key, so tests share the server and the bucket.
"""

from __future__ import annotations

import json
import logging
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer
from moto.sts.models import sts_backends

from gtconsensus import answers as answers_module
from gtconsensus.adapters import s3 as s3_adapter
from gtconsensus.adapters.aws_lambda import Settings, consolidate_event, handler
from gtconsensus.adapters.lambda_response import RESPONSE_LIMIT
from gtconsensus.evidence import EvidenceTable
from gtconsensus.exceptions import FetchError, SchemaError, StorageError
from gtconsensus.job import fit_worker_model
from gtconsensus.lines import consolidate_line
from gtconsensus.objects import finish_object, prepare_object
from gtconsensus.references import RAW_REF_KEY, resolve_references
from lambda_support import BUCKET, answers_for, event_fixture, payload_object

ATTR = "street-people"
JOB_ACCOUNT = "111122223333"  # the account of the fixtures' roleArn


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto server on a free loopback port, with the test bucket; its URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ENDPOINT_URL", url)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        s3_adapter.reset_clients()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield url
        s3_adapter.reset_clients()
    server.stop()


@pytest.fixture
def s3(s3_server: str) -> Any:
    """A plain boto3 client on the test server (to set up and inspect objects)."""
    return boto3.client("s3")


def _put(s3: Any, uri: str, value: Any) -> None:
    bucket, key = s3_adapter.split_s3_uri(uri)
    body = value if isinstance(value, (bytes, str)) else json.dumps(value)
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def _event(s3: Any, name: str, payload: list[Any], *, fixture: str = "post-annotation-2018-10-06",
           **changes: Any) -> dict[str, Any]:  # fmt: skip
    """A realistic event whose payload (written to S3) is ``payload``; one key per test."""
    event = event_fixture(fixture)
    uri = f"s3://{BUCKET}/{ATTR}/annotations/consolidated-annotation/consolidation-request/{name}.json"
    event["payload"] = {"s3Uri": uri}
    event.update(changes)
    _put(s3, uri, payload)
    return event


def _run(event: dict[str, Any], logs: list[dict[str, Any]] | None = None, **settings: Any) -> Any:
    sink = logs if logs is not None else []
    return consolidate_event(event, settings=Settings(**settings), log=sink.append)


def _value(entry: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = entry["consolidatedAnnotation"]["content"][ATTR]
    return value


@pytest.mark.parametrize(
    "fixture",
    ["post-annotation-2018-10-06", "post-annotation-2018-10-16", "post-annotation-minimal"],
)
def test_inline_payload_gives_one_consolidated_entry_per_object_in_payload_order(
    s3: Any, fixture: str
) -> None:
    payload = [payload_object(i, answers_for(int(i))) for i in ("7", "3", "12")]
    response = _run(_event(s3, f"inline-{fixture}", payload, fixture=fixture))
    assert [e["datasetObjectId"] for e in response] == ["7", "3", "12"]
    for entry, sent in zip(response, payload, strict=True):
        value = _value(entry)
        assert list(value) == ["annotatedResult", "consensus", "annotationsFromAllWorkers"]
        assert value["consensus"]["method"] == "per-image-majority"
        assert value["annotationsFromAllWorkers"] == sent["annotations"]
        assert "error" not in value["consensus"]


def test_answers_given_by_s3_uri_are_fetched_and_consolidate_as_inline_ones(s3: Any) -> None:
    answers = answers_for(21)
    refs = {}
    for worker_id, content in answers[:2]:
        refs[worker_id] = f"s3://{BUCKET}/{ATTR}/worker-answers/21/{worker_id}.json"
        _put(s3, refs[worker_id], content)
    by_reference = _run(_event(s3, "by-ref", [payload_object("0", answers, by_reference=refs)]))
    inline = _run(_event(s3, "by-ref-inline", [payload_object("0", answers)]))
    value = _value(by_reference[0])
    assert value["consensus"]["rejected"] == []
    assert value["annotatedResult"] == _value(inline[0])["annotatedResult"]
    assert value["annotationsFromAllWorkers"][0]["annotationData"] == {"s3Uri": refs[answers[0][0]]}


def test_unreadable_objects_keep_their_entry_with_raw_answers_and_an_error(s3: Any) -> None:
    answers = answers_for(5)
    missing = {w: f"s3://{BUCKET}/{ATTR}/worker-answers/gone/{w}.json" for w, _ in answers}
    malformed = {"datasetObjectId": "m", "annotations": "not a list"}
    payload = [
        payload_object("a", answers),
        payload_object("gone", answers, by_reference=missing),
        malformed,
        {"annotations": []},  # no datasetObjectId: nothing can be answered for it
        payload_object("b", answers),
    ]
    logs: list[dict[str, Any]] = []
    response = _run(_event(s3, "unreadable", payload), logs)
    assert [e["datasetObjectId"] for e in response] == ["a", "gone", "m", "b"]
    gone, bad = _value(response[1]), _value(response[2])
    assert gone["consensus"]["error"]["code"] == "no_valid_answer"
    assert {r["code"] for r in gone["consensus"]["rejected"]} == {"not_found"}
    assert gone["annotationsFromAllWorkers"] == payload[1]["annotations"]
    assert bad["consensus"]["error"]["code"] == "bad_schema"
    assert "annotatedResult" in _value(response[0])
    assert "annotatedResult" in _value(response[3])
    record = logs[0]
    assert (record["objects"], record["entries"], record["unaddressable"]) == (5, 4, 1)
    assert record["failures"] == {"bad_schema": 1, "no_valid_answer": 1}
    assert record["rejectedCodes"] == {"not_found": 3}
    assert record["fewerAnswers"] == 2  # the malformed one and the one without an id


def test_event_without_payload_fails_with_a_message_naming_it(s3_server: str) -> None:
    event = event_fixture("post-annotation-2018-10-06")
    del event["payload"]
    logs: list[dict[str, Any]] = []
    with pytest.raises(SchemaError, match="`payload`: Field required") as info:
        _run(event, logs)
    assert info.value.code == "bad_event"
    assert logs[0]["status"] == "failed"
    assert logs[0]["error"]["code"] == "bad_event"


def test_missing_payload_file_fails_the_invocation_with_its_uri(s3_server: str) -> None:
    event = event_fixture("post-annotation-minimal")
    uri = f"s3://{BUCKET}/{ATTR}/nothing-here.json"
    event["payload"] = {"s3Uri": uri}
    logs: list[dict[str, Any]] = []
    with pytest.raises(FetchError, match=f"cannot read the payload {uri}") as info:
        _run(event, logs)
    assert info.value.code == "not_found"
    assert logs[0]["error"]["code"] == "not_found"


def test_payload_that_is_not_a_list_fails_the_invocation(s3: Any) -> None:
    with pytest.raises(SchemaError, match="must be a JSON list") as info:
        _run(_event(s3, "not-a-list", {"datasetObjectId": "0"}))  # type: ignore[arg-type]
    assert info.value.code == "bad_payload"


def _assumed_roles() -> int:
    """Roles assumed so far in the job's account (moto files them under the role's account)."""
    return len(sts_backends[JOB_ACCOUNT]["aws"].assumed_roles)


@pytest.mark.parametrize(("flag", "assumed"), [("1", 1), ("0", 0)])
def test_handler_assumes_the_job_role_only_when_asked(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str,
    assumed: int,
) -> None:  # fmt: skip
    monkeypatch.setenv("GTCONSENSUS_ASSUME_ROLE", flag)
    s3_adapter.reset_clients()  # a fresh container: the role is assumed once in it
    event = _event(s3, f"assume-{flag}", [payload_object("0", answers_for(1))])
    before = _assumed_roles()
    response = handler(event, types.SimpleNamespace(aws_request_id="req-1"))
    assert _assumed_roles() - before == assumed
    assert "annotatedResult" in _value(response[0])
    record = json.loads(capsys.readouterr().out.strip())
    assert (record["requestId"], record["assumedRole"], record["status"]) == (
        "req-1", flag == "1", "ok",
    )  # fmt: skip


def test_one_log_line_has_counts_and_timings_and_no_image_data(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = _event(s3, "log", [payload_object(str(i), answers_for(i)) for i in range(3)])
    handler(event, None)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["objects"] == 3
    assert record["workers"] == 3
    assert record["bytesReturned"] > 0
    assert set(record["timings"]) == {"readMs", "consolidateMs", "respondMs", "totalMs"}
    assert "pngImageData" not in lines[0]
    assert "iVBOR" not in lines[0]  # the start of any base64 PNG


def _big_batch(n: int) -> list[dict[str, Any]]:
    """``n`` objects of 1920x1080 with 5 workers (12 distinct images, cycled)."""
    return [
        payload_object(str(i), answers_for(i % 12, workers=5, height=1080, width=1920, instances=8))
        for i in range(n)
    ]


def _follow(value: dict[str, Any]) -> dict[str, Any]:
    store = s3_adapter.S3Store(boto3.client("s3"))
    return dict(resolve_references(value, attribute=ATTR, fetch=store.fetch))


def test_large_batch_moves_raw_answers_to_s3_and_the_reader_gets_everything_back(
    s3: Any,
) -> None:
    payload = _big_batch(150)
    logs: list[dict[str, Any]] = []
    response = _run(_event(s3, "big", payload), logs)
    size = len(json.dumps(response).encode())
    assert size < RESPONSE_LIMIT
    assert logs[0]["bytesReturned"] == size
    assert logs[0]["rawAnswersInS3"] > 0
    assert logs[0]["valuesInS3"] == 0
    inline = _run(_event(s3, "big-inline", payload), response_budget=10**9)
    assert len(json.dumps(inline).encode()) > RESPONSE_LIMIT  # it had to spill
    for entry, full, sent in zip(response, inline, payload, strict=True):
        value = _value(entry)
        assert "annotatedResult" in value
        assert _follow(value) == _value(full)
        assert _follow(value)["annotationsFromAllWorkers"] == sent["annotations"]
    assert logs[0]["method"] == "batch-weighted"


def test_over_a_small_budget_whole_values_move_and_the_offline_reader_follows_them(
    s3: Any,
) -> None:
    payload = [payload_object(str(i), answers_for(i)) for i in range(6)]
    logs: list[dict[str, Any]] = []
    event = _event(s3, "tiny-budget", payload, kmsKeyId="arn:aws:kms:us-east-1:111122223333:key/k1")
    response = _run(event, logs, response_budget=1500)
    inline = _run(_event(s3, "tiny-budget-inline", payload))
    assert len(json.dumps(response).encode()) <= 1500
    assert logs[0]["valuesInS3"] > 0
    store = s3_adapter.S3Store(boto3.client("s3"))
    for entry, full in zip(response, inline, strict=True):
        value = _value(entry)
        if f"{ATTR}-ref" in value:
            assert list(value) == [f"{ATTR}-ref"]
            bucket, key = s3_adapter.split_s3_uri(value[f"{ATTR}-ref"])
            head = s3.head_object(Bucket=bucket, Key=key)
            assert head["ServerSideEncryption"] == "aws:kms"
            assert head["SSEKMSKeyId"].endswith("key/k1")
        else:
            assert RAW_REF_KEY in value  # raw answers always go first
        line = json.dumps({"source-ref": "s3://b/1.jpg", ATTR: value})
        result = consolidate_line(line, fetch=store.fetch)
        assert result.error is None
        assert (
            json.loads(result.output or "")[ATTR]["annotationsFromAllWorkers"]
            == (_value(full)["annotationsFromAllWorkers"])
        )
        assert _follow(value) == _value(full)


def test_over_budget_without_an_output_location_fails_clearly(s3: Any) -> None:
    payload = [payload_object(str(i), answers_for(i)) for i in range(3)]
    event = _event(s3, "nowhere", payload, fixture="post-annotation-minimal")
    with pytest.raises(StorageError, match="GTCONSENSUS_SPILL_PREFIX") as info:
        _run(event, response_budget=1000)
    assert info.value.code == "no_spill_location"
    prefix = f"s3://{BUCKET}/spill-prefix"
    response = _run(event, response_budget=2000, spill_prefix=prefix)
    refs = [next(v for k, v in _value(e).items() if k.endswith("-ref")) for e in response]
    _, key = s3_adapter.split_s3_uri(event["payload"]["s3Uri"])
    batch = f"{prefix}/gtconsensus/{BUCKET}/{key.removesuffix('.json')}/"
    assert all(ref.startswith(batch) for ref in refs)


def test_worker_model_from_s3_weights_the_workers(s3: Any) -> None:
    answers = answers_for(8)
    model = {"workers": {w: {"reliability": 0.9 - 0.3 * k} for k, (w, _) in enumerate(answers)}}
    uri = f"s3://{BUCKET}/models/workers.json"
    _put(s3, uri, model)
    response = _run(_event(s3, "model", [payload_object("0", answers)]), worker_model=uri)
    assert _value(response[0])["consensus"]["method"] == "worker-model"
    logs: list[dict[str, Any]] = []
    broken = _run(_event(s3, "model-missing", [payload_object("0", answers)]), logs,
                  worker_model=f"s3://{BUCKET}/models/none.json")  # fmt: skip
    assert _value(broken[0])["consensus"]["method"] == "per-image-majority"
    assert "not_found" in logs[0]["workerModelError"]


def test_job_level_worker_model_decides_as_the_offline_second_pass(s3: Any) -> None:
    objects = [payload_object(str(i), answers_for(i)) for i in range(20)]
    prepared = [
        prepare_object(o["annotations"], original={"annotationsFromAllWorkers": o["annotations"]})
        for o in objects
    ]
    model = fit_worker_model(
        EvidenceTable.from_evidence([p.evidence for p in prepared if p.evidence])
    )
    uri = f"s3://{BUCKET}/models/job-level.json"
    _put(s3, uri, model.to_json())
    response = _run(_event(s3, "job-level", objects), worker_model=uri)
    for entry, p in zip(response, prepared, strict=True):
        existence = None if p.evidence is None else model.existence(p.evidence)
        offline = finish_object(p, weights=model.weights(), existence=existence, method="job-level")
        assert _value(entry) == offline.value


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _s3_error(status: int, code: str) -> AWSResponse:
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    return AWSResponse(
        "http://127.0.0.1/", status, {"Content-Type": "application/xml"}, _Body(body)
    )


@pytest.fixture
def flaky_s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The function's own S3 client, two attempts per call, with a fault injector.

    ``inject(key_part, status, code, times)`` makes GetObject of keys containing
    ``key_part`` answer ``status`` (botocore's event hook, before the request is sent).
    """
    monkeypatch.setenv("GTCONSENSUS_S3_MAX_ATTEMPTS", "2")
    s3_adapter.reset_clients()
    client = s3_adapter.own_client("s3")
    calls: list[str] = []

    def inject(key_part: str, status: int, code: str, times: int) -> list[str]:
        def handler(request: Any, **_: Any) -> AWSResponse | None:
            if key_part not in request.url:
                return None
            calls.append(request.url)
            return _s3_error(status, code) if len(calls) <= times else None

        client.meta.events.register("before-send.s3.GetObject", handler)
        return calls

    yield inject
    s3_adapter.reset_clients()


def test_a_transient_s3_fault_is_retried(s3: Any, flaky_s3: Any) -> None:
    uri = f"s3://{BUCKET}/faults/transient.json"
    _put(s3, uri, b"[]")
    calls = flaky_s3("transient", 503, "SlowDown", 1)
    assert s3_adapter.default_fetch(uri) == b"[]"
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(503, "SlowDown", "fetch_failed"), (403, "AccessDenied", "access_denied")],
)
def test_an_answer_s3_keeps_refusing_is_rejected_and_the_object_still_consolidates(
    s3: Any, flaky_s3: Any, status: int, code: str, expected: str
) -> None:
    answers = answers_for(31)
    worker, content = answers[0]
    uri = f"s3://{BUCKET}/faults/{code}/{worker}.json"
    _put(s3, uri, content)
    calls = flaky_s3(f"faults/{code}", status, code, 10)
    payload = [payload_object("0", answers, by_reference={worker: uri})]
    response = _run(_event(s3, f"faults-{code}", payload))
    value = _value(response[0])
    assert [(r["workerId"], r["code"]) for r in value["consensus"]["rejected"]] == [
        (worker, expected)
    ]
    assert "annotatedResult" in value
    assert len(calls) == (2 if status == 503 else 1)  # 403 is not retried


def test_default_fetch_lets_the_offline_reader_follow_references(s3: Any) -> None:
    payload = [payload_object(str(i), answers_for(i)) for i in range(3)]
    response = _run(_event(s3, "default-fetch", payload), response_budget=1200)
    for entry in response:
        line = json.dumps({"source-ref": "s3://b/1.jpg", ATTR: _value(entry)})
        assert consolidate_line(line, fetch=s3_adapter.default_fetch).error is None


def bug_on_worker(monkeypatch: pytest.MonkeyPatch, worker_id: str) -> None:
    """Make reading ``worker_id``'s answers raise, as a bug of gtconsensus would."""
    real = answers_module.read_answer

    def buggy(raw: Any, **options: Any) -> Any:
        if raw.get("workerId") == worker_id:
            raise RuntimeError("a bug")
        return real(raw, **options)

    monkeypatch.setattr(answers_module, "read_answer", buggy)


def test_a_bug_on_one_object_costs_that_object_only(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bug_on_worker(monkeypatch, "boom")
    bad = [("boom", answers_for(2)[0][1]), *answers_for(2)[1:]]
    payload = [payload_object("a", answers_for(1)), payload_object("b", bad),
               payload_object("c", answers_for(3))]  # fmt: skip
    logs: list[dict[str, Any]] = []
    response = _run(_event(s3, "bug", payload), logs)
    assert [e["datasetObjectId"] for e in response] == ["a", "b", "c"]
    assert _value(response[1])["consensus"]["error"]["code"] == "internal_error"
    assert _value(response[1])["annotationsFromAllWorkers"] == payload[1]["annotations"]
    assert "annotatedResult" in _value(response[0])
    assert "annotatedResult" in _value(response[2])
    assert logs[0]["batchError"] == "RuntimeError"


def test_an_answer_in_another_bucket_is_refused_unless_allowed(s3: Any) -> None:
    other = "someone-elses-bucket"
    s3.create_bucket(Bucket=other)
    answers = answers_for(33)
    refs = {answers[0][0]: f"s3://{other}/answers/33.json"}
    _put(s3, refs[answers[0][0]], answers[0][1])
    payload = [payload_object("0", answers, by_reference=refs)]
    refused = _value(_run(_event(s3, "other-bucket", payload))[0])
    assert [(r["workerId"], r["code"]) for r in refused["consensus"]["rejected"]] == [
        (answers[0][0], "bucket_not_allowed")
    ]
    assert "annotatedResult" in refused  # the other answers still make the consensus
    allowed = _value(_run(_event(s3, "other-bucket-ok", payload), allowed_buckets=(other,))[0])
    assert allowed["consensus"]["rejected"] == []
    anywhere = _value(_run(_event(s3, "other-bucket-any", payload), allowed_buckets=("*",))[0])
    assert anywhere["consensus"]["rejected"] == []


class _CutBody(_Body):
    """A body that ends early: ``read`` gives fewer bytes than Content-Length says."""

    def read(self, amt: int | None = None) -> bytes:
        data, self._data = self._data, b""
        return data


def test_a_partial_read_is_never_taken_as_the_whole_object(s3: Any, flaky_s3: Any) -> None:
    uri = f"s3://{BUCKET}/faults/partial.json"
    whole = json.dumps([{"workerId": "w", "annotationData": {"content": "{}"}}]).encode()
    _put(s3, uri, whole)
    client = s3_adapter.own_client("s3")

    def cut(request: Any, **_: Any) -> AWSResponse | None:
        if "partial" not in request.url:
            return None
        headers = {"Content-Length": str(len(whole)), "Content-Type": "application/json"}
        return AWSResponse("http://127.0.0.1/", 200, headers, _CutBody(whole[:10]))

    client.meta.events.register("before-send.s3.GetObject", cut)
    with pytest.raises(FetchError) as info:
        s3_adapter.default_fetch(uri)
    assert info.value.code == "fetch_failed"
    assert uri in info.value.message
    assert "expected" in info.value.message.lower() or "incomplete" in info.value.message.lower()


def test_class_aware_and_min_area_settings_apply_to_the_objects(s3: Any) -> None:
    import numpy as np

    from gtconsensus.testing.synthetic import worker_answer

    car = np.zeros((16, 16), np.uint8)
    car[2:10, 2:10] = 1
    speck = car.copy()
    speck[13:15, 13:15] = 2  # a 4-pixel Bus
    drawn = [("a", speck, ("Car", "Bus")), ("b", speck, ("Car", "Bus")), ("c", car, ("Truck",))]
    answers = [(w, json.dumps(worker_answer(labels, classes))) for w, labels, classes in drawn]
    payload = [payload_object("0", answers)]

    def instances(response: Any) -> list[tuple[str, list[str]]]:
        value = _value(response[0])
        labels = [i["label"] for i in value["annotatedResult"]["instances"]]
        return list(zip(labels, [i["support"] for i in value["consensus"]["instances"]],
                        strict=True))  # fmt: skip

    plain = _run(_event(s3, "options-plain", payload))
    assert instances(plain) == [("Car", ["a", "b", "c"]), ("Bus", ["a", "b"])]
    tuned = _run(_event(s3, "options-tuned", payload), class_aware=True, min_area=(("Bus", 5),))
    assert instances(tuned) == [("Car", ["a", "b"])]


def test_jobs_sharing_a_spill_prefix_never_overwrite_each_others_files(s3: Any) -> None:
    # One stack serves several jobs; Ground Truth names each batch by iteration and
    # second, and numbers every job's objects from 0, so two jobs' batches can share
    # both the payload's file name and the objects' ids.
    prefix = f"s3://{BUCKET}/shared-spill"
    responses = {}
    for job, seed in (("job-a", 40), ("job-b", 50)):
        payload = [payload_object(str(i), answers_for(seed + i)) for i in range(3)]
        event = event_fixture("post-annotation-2018-10-06")
        folder = f"s3://{BUCKET}/{job}/annotations"
        event.update(labelingJobArn=f"arn:aws:sagemaker:us-east-1:{JOB_ACCOUNT}:labeling-job/{job}",
                     outputConfig=folder)  # fmt: skip
        event["payload"] = {"s3Uri": f"{folder}/consolidated-annotation/consolidation-request/"
                            "iteration-1/2026-11-25_10:00:00.json"}  # fmt: skip
        _put(s3, event["payload"]["s3Uri"], payload)
        responses[job] = (payload, _run(event, response_budget=1500, spill_prefix=prefix))
    for payload, response in responses.values():
        for entry, sent in zip(response, payload, strict=True):
            assert _follow(_value(entry))["annotationsFromAllWorkers"] == sent["annotations"]


def test_a_repeated_dataset_object_id_gives_one_entry_with_every_answer(s3: Any) -> None:
    # Ground Truth requires one entry per datasetObjectId: the elements that share
    # one are one object, their answers merged (and spilled to one folder).
    again = [(f"{worker}-again", content) for worker, content in answers_for(61)]
    payload = [payload_object("0", answers_for(60)), payload_object("1", answers_for(62)),
               payload_object("0", again)]  # fmt: skip
    logs: list[dict[str, Any]] = []
    response = _run(_event(s3, "repeated-id", payload), logs, response_budget=1200)
    assert [e["datasetObjectId"] for e in response] == ["0", "1"]
    merged = _follow(_value(response[0]))
    sent = payload[0]["annotations"] + payload[2]["annotations"]
    assert merged["annotationsFromAllWorkers"] == sent
    assert len(merged["consensus"]["workers"]) == 6
    assert _follow(_value(response[1]))["annotationsFromAllWorkers"] == payload[1]["annotations"]
    assert (logs[0]["objects"], logs[0]["repeatedIds"], logs[0]["entries"]) == (3, 1, 2)
    assert "/0/2/" not in json.dumps(response)  # one object, one folder


def test_the_exports_follow_the_references_of_the_lambdas_output(s3: Any, tmp_path: Any) -> None:
    # In a batch over 6 MB some objects' whole value is in S3 (`<attr>-ref`); the exports
    # left those images out (unresolved_reference) with no way to follow them.
    from gtconsensus.cli import main

    payload = [payload_object(str(i), answers_for(70 + i)) for i in range(4)]
    spilled = _run(_event(s3, "exports-spilled", payload), response_budget=1500)
    inline = _run(_event(s3, "exports-inline", payload))
    assert any(f"{ATTR}-ref" in _value(e) for e in spilled)
    outputs = {}
    for name, response in (("spilled", spilled), ("inline", inline)):
        manifest = tmp_path / f"{name}.manifest"
        manifest.write_text("".join(  # as Ground Truth writes the output manifest
            json.dumps({"source-ref": f"s3://{BUCKET}/images/{e['datasetObjectId']}.jpg",
                        ATTR: _value(e), f"{ATTR}-metadata": {"type": "groundtruth/custom"}})
            + "\n" for e in response), encoding="utf-8")  # fmt: skip
        coco = tmp_path / f"{name}.json"
        assert main(["export", "coco", str(manifest), "-o", str(coco)]) == 0
        masks = tmp_path / f"{name}-masks"
        assert main(["export", "masks", str(manifest), "-o", str(masks)]) == 0
        outputs[name] = (coco.read_bytes(), (masks / "000003.png").read_bytes())
    assert outputs["spilled"] == outputs["inline"]


def test_pseudonymize_resolves_the_references_before_it_rewrites_the_ids(
    s3: Any, tmp_path: Any
) -> None:
    # The review commands follow -ref keys; on a pseudonymised copy they fetched the
    # raw answers from S3 with the real worker ids, which the overlays then drew.
    from gtconsensus.adapters.storage import fetch
    from gtconsensus.cli import main
    from gtconsensus.review.pseudonymize import pseudonymize_manifest

    payload = [payload_object(str(i), answers_for(80 + i)) for i in range(3)]
    response = _run(_event(s3, "pseudonymized-refs", payload), response_budget=1200)
    manifest = tmp_path / "spilled.manifest"
    manifest.write_text("".join(
        json.dumps({"source-ref": f"s3://{BUCKET}/images/{e['datasetObjectId']}.jpg",
                    ATTR: _value(e)}) + "\n" for e in response), encoding="utf-8")  # fmt: skip
    copy = tmp_path / "copy.manifest"
    pseudonymize_manifest(manifest, copy, "s3cret", fetch=fetch)
    text = copy.read_text(encoding="utf-8")
    assert f"{ATTR}-ref" not in text
    assert RAW_REF_KEY not in text
    assert not [w for w, _ in answers_for(80) if w.rsplit(".", 1)[-1] in text]
    assert main(["report", str(manifest), "-o", str(tmp_path / "r.html"),
                 "--pseudonymize", "s3cret"]) == 0  # fmt: skip
