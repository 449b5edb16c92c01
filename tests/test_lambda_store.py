"""The shipped Lambda on drawn events, through ``store=`` (an S3 in memory) and through S3.

``lambda_requests()`` draws ``(event, store)``; ``DictStore(store)`` lets
``consolidate_event`` run on it without AWS. The same events through a moto
server (the fixtures of ``test_lambda.py``) give the same bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtconsensus.adapters import s3 as s3_adapter
from gtconsensus.adapters.aws_lambda import Settings, consolidate_event
from gtconsensus.exceptions import FetchError, GtConsensusError
from gtconsensus.references import resolve_references
from gtconsensus.testing import DictStore
from gtconsensus.testing import strategies as gts
from gtconsensus.testing.stores import DictStore as DictStoreOfModule
from lambda_support import event_fixture
from test_lambda import s3_server

__all__ = ["s3_server"]  # the fixture, imported for pytest

DRAWN_BUCKET = "bucket"  # the bucket of every URI lambda_requests() draws


@st.composite
def requests_with_repeated_ids(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``lambda_requests()`` whose payload elements may share a ``datasetObjectId``,
    and whose answers given by reference may be missing from the store."""
    event, store = draw(gts.lambda_requests())
    uri = event["payload"]["s3Uri"]
    payload = json.loads(store[uri])
    for index, element in enumerate(payload):
        element["datasetObjectId"] = str(draw(st.integers(0, index)))
    store[uri] = json.dumps(payload).encode()
    answers = sorted(set(store) - {uri})
    some = st.lists(st.sampled_from(answers), unique=True) if answers else st.just([])
    for gone in draw(st.one_of(some, st.just(answers))):  # all gone: objects fail
        del store[gone]
    return event, store


def _payload(event: dict[str, Any], store: dict[str, bytes]) -> list[dict[str, Any]]:
    payload: list[dict[str, Any]] = json.loads(store[event["payload"]["s3Uri"]])
    return payload


def _sent(payload: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every id, in payload order, with the answers of all its elements."""
    sent: dict[str, list[Any]] = {}
    for element in payload:
        sent.setdefault(element["datasetObjectId"], []).extend(element["annotations"])
    return sent


def _ignore(record: Any) -> None:
    """A log that drops the line (its timings differ between runs)."""


def _outcome(run: Callable[[], list[dict[str, Any]]]) -> tuple[str, bytes]:
    """``("ok", response bytes)``, or the error's code and message."""
    try:
        return "ok", json.dumps(run()).encode()
    except GtConsensusError as exc:
        return exc.code, exc.message.encode()


def _check_every_object_answered(
    event: dict[str, Any], store: dict[str, bytes], response: list[dict[str, Any]]
) -> None:
    attribute = event["labelAttributeName"]
    sent = _sent(_payload(event, store))
    assert [e["datasetObjectId"] for e in response] == list(sent)
    fetch = DictStore(store).fetch
    for entry, answers in zip(response, sent.values(), strict=True):
        value = entry["consolidatedAnnotation"]["content"][attribute]
        value = dict(resolve_references(value, attribute=attribute, fetch=fetch))
        error = value["consensus"].get("error")
        assert ("annotatedResult" in value) == (error is None)
        assert error is None or (error["code"] and error["message"])
        assert value["annotationsFromAllWorkers"] == answers  # nothing lost


@given(requests_with_repeated_ids())
def test_drawn_events_give_one_entry_per_object_each_consolidated_or_failed(
    request: tuple[dict[str, Any], dict[str, bytes]],
) -> None:
    event, store = request
    logs: list[dict[str, Any]] = []
    response = consolidate_event(
        event, settings=Settings(), store=DictStore(store), log=logs.append
    )
    _check_every_object_answered(event, store, response)
    json.dumps(response)  # what Lambda serialises
    assert (logs[0]["status"], logs[0]["assumedRole"]) == ("ok", False)


@given(requests_with_repeated_ids(), st.sampled_from([1200, 2500, 6000]))
def test_a_small_budget_spills_into_the_store_and_the_readers_get_everything_back(
    request: tuple[dict[str, Any], dict[str, bytes]], budget: int
) -> None:
    event, store = request
    code, data = _outcome(
        lambda: consolidate_event(
            event, settings=Settings(response_budget=budget), store=DictStore(store), log=_ignore
        )
    )
    if code != "ok":  # over the budget, with nowhere to spill
        assert (code, event.get("outputConfig")) == ("no_spill_location", None)
        return
    assert len(data) <= budget
    response = json.loads(data)
    _check_every_object_answered(event, store, response)


def test_a_dict_store_reads_writes_and_refuses_as_s3_store_does() -> None:
    objects = {"s3://b/a.json": b"[1]"}
    store = DictStore(objects)
    assert DictStore is DictStoreOfModule
    assert store.fetch("s3://b/a.json") == b"[1]"
    store.put_json("s3://b/c/d.json", b"{}")
    assert objects["s3://b/c/d.json"] == b"{}"  # the caller's dict holds what was written
    for uri, code in (("s3://b/none.json", "not_found"), ("b/a.json", "bad_reference")):
        with pytest.raises(FetchError) as info:
            store.fetch(uri)
        assert info.value.code == code
    with pytest.raises(FetchError, match="s3://bucket/key") as refused:
        store.put_json("not-a-uri", b"{}")
    assert refused.value.code == "bad_reference"


@pytest.fixture(scope="module")
def drawn_bucket(s3_server: str) -> Any:
    """A client on the moto server, whose bucket ``bucket`` receives the drawn objects."""
    client = boto3.client("s3")
    client.create_bucket(Bucket=DRAWN_BUCKET)
    return client


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests_with_repeated_ids(), st.sampled_from([None, 1500]))
def test_a_dict_store_and_s3_give_the_same_response_bytes(
    drawn_bucket: Any, request: tuple[dict[str, Any], dict[str, bytes]], budget: int | None
) -> None:
    event, store = request
    listed = drawn_bucket.list_objects_v2(Bucket=DRAWN_BUCKET).get("Contents", [])
    for old in listed:  # an earlier example's objects: a missing one must stay missing
        drawn_bucket.delete_object(Bucket=DRAWN_BUCKET, Key=old["Key"])
    for uri, data in store.items():
        bucket, key = s3_adapter.split_s3_uri(uri)
        drawn_bucket.put_object(Bucket=bucket, Key=key, Body=data)
    before = dict(store)
    options = Settings() if budget is None else Settings(response_budget=budget)
    in_memory = _outcome(
        lambda: consolidate_event(event, settings=options, store=DictStore(store), log=_ignore)
    )
    through_s3 = _outcome(lambda: consolidate_event(event, settings=options, log=_ignore))
    assert in_memory == through_s3
    for uri in set(store) - set(before):  # the spilled files, byte for byte
        assert s3_adapter.S3Store(drawn_bucket).fetch(uri) == store[uri]


def test_a_missing_payload_fails_with_the_same_error_through_both(drawn_bucket: Any) -> None:
    event = event_fixture("post-annotation-2018-10-06")
    event["payload"] = {"s3Uri": f"s3://{DRAWN_BUCKET}/job/no-such-payload.json"}
    errors = []
    for store in (DictStore({}), None):
        with pytest.raises(FetchError) as info:
            consolidate_event(event, settings=Settings(), store=store, log=lambda record: None)
        errors.append((info.value.code, info.value.message))
    assert errors[0] == errors[1]
    assert errors[0][0] == "not_found"


def test_a_missing_answer_is_rejected_with_the_same_message_through_both(
    drawn_bucket: Any,
) -> None:
    answers = [{"workerId": "w", "annotationData": {"s3Uri": f"s3://{DRAWN_BUCKET}/gone.json"}}]
    payload_uri = f"s3://{DRAWN_BUCKET}/job/missing-answer.json"
    payload = json.dumps([{"datasetObjectId": "0", "annotations": answers}]).encode()
    drawn_bucket.put_object(Bucket=DRAWN_BUCKET, Key="job/missing-answer.json", Body=payload)
    event = event_fixture("post-annotation-minimal")
    event["payload"] = {"s3Uri": payload_uri}
    in_memory = consolidate_event(
        event, settings=Settings(), store=DictStore({payload_uri: payload}), log=lambda r: None
    )
    through_s3 = consolidate_event(event, settings=Settings(), log=lambda r: None)
    assert json.dumps(in_memory) == json.dumps(through_s3)
    assert "not_found" in json.dumps(in_memory)


def test_the_dict_store_needs_no_boto3() -> None:
    code = (
        "import sys\n"
        "sys.modules['boto3'] = sys.modules['botocore'] = None\n"
        "from gtconsensus.testing import DictStore\n"
        "print(DictStore({'s3://b/k': b'x'}).fetch('s3://b/k').decode())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "x"
