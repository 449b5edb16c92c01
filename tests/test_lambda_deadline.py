"""The post-annotation Lambda watches its time, and answers once per datasetObjectId.

The handler's input is a fake Lambda context whose ``get_remaining_time_in_millis``
reads a clock the test controls; S3 is a moto server on loopback (the fixtures of
``test_lambda``), no client is patched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from gtconsensus import batch as batch_module
from gtconsensus.adapters.aws_lambda import Settings, consolidate_event, handler
from gtconsensus.adapters.lambda_events import merge_repeated_ids, parse_payload
from gtconsensus.batch import DEADLINE, METHOD_BATCH, consolidate_batch
from gtconsensus.consensus import METHOD_MAJORITY
from gtconsensus.exceptions import OptionsError
from gtconsensus.lines import consolidate_line
from lambda_support import answers_for, payload_object
from test_lambda import ATTR, _event, _value, bug_on_worker, s3, s3_server

__all__ = ["s3", "s3_server"]  # the fixtures, imported for pytest

MARGIN = Settings().time_margin


class Clock:
    """Seconds left of the invocation: ``before`` for the first ``questions`` questions,
    then ``after``, or, with ``step``, ``before`` less ``step`` per question."""

    def __init__(
        self, before: float, *, questions: int = 10**9, after: float = 0.0, step: float = 0.0
    ) -> None:
        self.before, self.questions, self.after, self.step = before, questions, after, step
        self.asked = 0

    def __call__(self) -> float:
        self.asked += 1
        if self.asked > self.questions:
            return self.after
        return self.before - self.step * (self.asked - 1)


class FakeContext:
    """What the Lambda runtime passes as ``context``, with a controlled clock."""

    aws_request_id = "req-deadline"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return int(self.clock() * 1000)


def _payload(n: int, seed: int = 70) -> list[dict[str, Any]]:
    return [payload_object(str(i), answers_for(seed + i)) for i in range(n)]


def _handle(
    event: dict[str, Any], context: object, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], **env: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """The handler's response and its log line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    response = handler(event, context)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    return response, json.loads(lines[0])


def _error_code(entry: dict[str, Any]) -> str | None:
    error = _value(entry)["consensus"].get("error")
    return None if error is None else str(error["code"])


# -- no deadline, or time enough: the same bytes -------------------------------------------


@pytest.mark.parametrize(
    "context",
    [None, object(), FakeContext(Clock(900.0)), FakeContext(Clock(300.0, step=0.01))],
    ids=["none", "no-clock", "plenty", "ticking"],
)
def test_a_batch_that_finishes_in_time_gives_the_same_bytes(
    s3: Any, context: object, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    event = _event(s3, "deadline-none", _payload(4))
    plain = consolidate_event(event, settings=Settings(), log=lambda record: None)
    response, record = _handle(event, context, monkeypatch, capsys)
    assert json.dumps(response) == json.dumps(plain)
    assert record["cut"] == 0
    assert "cutReason" not in record
    assert (record["timeLeftMs"] is None) == (not isinstance(context, FakeContext))


# -- a deadline hit after k objects ---------------------------------------------------------


@pytest.mark.parametrize("decided", [0, 1, 3])
def test_a_deadline_after_k_objects_fails_exactly_the_undecided_ones(
    s3: Any, decided: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # The clock is asked before each object: after ``decided`` objects only the
    # margin is left.
    payload = _payload(5)
    event = _event(s3, f"deadline-{decided}", payload)
    plain = consolidate_event(event, settings=Settings(), log=lambda record: None)
    clock = Clock(120.0, questions=decided, after=MARGIN)
    response, record = _handle(event, FakeContext(clock), monkeypatch, capsys)
    assert [e["datasetObjectId"] for e in response] == [p["datasetObjectId"] for p in payload]
    assert response[:decided] == plain[:decided]
    for entry, sent in zip(response[decided:], payload[decided:], strict=True):
        value = _value(entry)
        assert _error_code(entry) == DEADLINE
        assert value["annotationsFromAllWorkers"] == sent["annotations"]
        assert "annotatedResult" not in value
    for entry, sent in zip(response[decided:], payload[decided:], strict=True):
        line = json.dumps({"source-ref": sent["dataObject"]["s3Uri"], ATTR: _value(entry)})
        assert consolidate_line(line).error is None  # offline, the cut objects consolidate
    assert record["cut"] == record["failures"][DEADLINE] == 5 - decided
    assert record["consolidated"] == decided
    assert f"{5 - decided} of 5 objects not decided" in record["cutReason"]
    assert "GTCONSENSUS_TIME_MARGIN_S" in record["cutReason"]


def test_a_margin_setting_moves_the_deadline(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 30 s left throughout: enough for every object with the default margin,
    # not one with a margin of 30 s.
    event = _event(s3, "deadline-margin", _payload(3))
    response, record = _handle(event, FakeContext(Clock(30.0)), monkeypatch, capsys)
    assert record["cut"] == 0
    response, record = _handle(
        event, FakeContext(Clock(30.0)), monkeypatch, capsys, GTCONSENSUS_TIME_MARGIN_S="30"
    )
    assert [_error_code(e) for e in response] == [DEADLINE] * 3
    assert record["cut"] == 3


def test_the_time_each_object_takes_is_kept_for_the_next(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each object costs 2 s of the clock: with 5.5 s left over the margin, two
    # objects are decided, and the third is not started (1.5 s < 2 s it would take).
    event = _event(s3, "deadline-pace", _payload(5))
    clock = Clock(MARGIN + 5.5, step=2.0)
    response, record = _handle(event, FakeContext(clock), monkeypatch, capsys)
    assert [_error_code(e) for e in response] == [None, None] + [DEADLINE] * 3
    assert record["cut"] == 3


# -- the core: every method stops between objects -------------------------------------------


def _objects(n: int, seed: int = 90) -> list[list[Any]]:
    return [payload_object(str(i), answers_for(seed + i))["annotations"] for i in range(n)]


def _dump(results: Sequence[Any]) -> list[str]:
    return [json.dumps(r.value, sort_keys=True) for r in results]


def _script(left: Sequence[float]) -> Callable[[], float]:
    """A clock that answers ``left`` in turn, then 0."""
    answers: Iterator[float] = iter(left)
    return lambda: next(answers, 0.0)


@pytest.mark.parametrize(
    "options", [{}, {"worker_weights": {"a": 0.9}}], ids=["majority", "weights"]
)
def test_the_per_object_methods_stop_between_objects(options: dict[str, Any]) -> None:
    objects = _objects(4)
    full = consolidate_batch(objects, **options)
    cut = consolidate_batch(objects, remaining=_script([10, 10]), **options)
    assert _dump(cut.results[:2]) == _dump(full.results[:2])
    for result, raws in zip(cut.results[2:], objects[2:], strict=True):
        assert result.error is not None
        assert result.error.code == DEADLINE
        assert result.value["annotationsFromAllWorkers"] == raws
        assert result.value["consensus"]["method"] == full.method


def test_the_batch_method_cut_in_its_second_pass_keeps_the_batchs_weights() -> None:
    objects = _objects(6)
    full = consolidate_batch(objects, min_median_objects=2)
    assert full.method == METHOD_BATCH
    # 6 objects read in pass 1, 4 decided in pass 2, then no time left
    cut = consolidate_batch(objects, min_median_objects=2, remaining=_script([100] * 10))
    assert (cut.method, cut.weights) == (full.method, full.weights)
    assert _dump(cut.results[:4]) == _dump(full.results[:4])
    assert [r.error.code if r.error else None for r in cut.results[4:]] == [DEADLINE] * 2
    assert [r.value["annotationsFromAllWorkers"] for r in cut.results[4:]] == objects[4:]
    assert {r.value["consensus"]["method"] for r in cut.results[4:]} == {METHOD_BATCH}


def test_an_object_that_failed_in_pass_one_keeps_its_own_error_when_pass_two_is_cut() -> None:
    # Its failure is known from pass 1 and costs nothing to write: "deadline" would
    # send the user to consolidate offline an object that fails there too.
    objects = _objects(6)
    objects[4] = [{"workerId": w, "annotationData": {"content": "{}"}} for w in ("a", "b")]
    objects[5] = [*objects[5], objects[5][0]]  # a worker twice: pass 1 rejects one
    full = consolidate_batch(objects, min_median_objects=2)
    assert full.method == METHOD_BATCH
    own = full.results[4].error
    assert own is not None
    assert own.code != DEADLINE
    cut = consolidate_batch(objects, min_median_objects=2, remaining=_script([100] * 10))
    assert [r.error.code if r.error else None for r in cut.results[4:]] == [own.code, DEADLINE]
    assert _dump(cut.results[:5]) == _dump(full.results[:5])
    assert cut.results[5].rejected == full.results[5].rejected  # the deadline keeps them
    assert [r.code for r in cut.results[5].rejected] == ["duplicate_worker"]


@pytest.mark.parametrize(("read", "method"), [(3, METHOD_BATCH), (1, METHOD_MAJORITY)])
def test_the_batch_method_cut_in_its_first_pass_decides_what_it_read_as_a_batch_of_its_own(
    read: int, method: str
) -> None:
    objects = _objects(6)
    # `read` objects in pass 1, then no time to read more; pass 2 has time
    left = [100.0] * read + [0.0] + [100.0] * read
    cut = consolidate_batch(objects, min_median_objects=2, remaining=_script(left))
    alone = consolidate_batch(objects[:read], min_median_objects=2)
    assert (cut.method, cut.weights) == (alone.method, alone.weights)
    assert cut.method == method
    assert _dump(cut.results[:read]) == _dump(alone.results)
    assert all(r.error is not None and r.error.code == DEADLINE for r in cut.results[read:])
    assert [r.value["annotationsFromAllWorkers"] for r in cut.results[read:]] == objects[read:]
    assert {r.value["consensus"]["method"] for r in cut.results[read:]} == {method}


def test_pass_one_keeps_time_for_pass_two() -> None:
    # Each question costs 1 s: pass 1 reads an object only while the time left
    # covers it and half as much again for each object pass 2 will decide.
    objects = _objects(8)
    seconds = iter(range(100))
    cut = consolidate_batch(objects, min_median_objects=2, remaining=lambda: 9.0 - next(seconds))
    decided = sum(1 for r in cut.results if r.error is None)
    assert 0 < decided < 8
    assert all(r.error.code == DEADLINE for r in cut.results[decided:] if r.error)


def test_pass_one_reads_only_what_pass_two_has_time_to_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each question costs 1 s (9 s left at the first). Pass 1 reads the k-th object
    # only while the time left exceeds the mean cost (1 s) times 1 + PASS2_SHARE * k
    # (PASS2_SHARE = 0.5): the first with any time left, then 8 > 2, 7 > 2.5, 6 > 3,
    # 5 > 3.5; 4 > 4 fails: 5 objects read, not 8 (PASS2_SHARE = 0 would read all).
    # Pass 2 then decides two (3 s and 2 s left; 1 s does not exceed the 1 s mean).
    read: list[int] = []
    real = batch_module.prepare_object

    def counted(raws: Any, **options: Any) -> Any:
        read.append(1)
        return real(raws, **options)

    monkeypatch.setattr(batch_module, "prepare_object", counted)
    objects = _objects(8)
    seconds = iter(range(100))
    cut = consolidate_batch(objects, min_median_objects=2, remaining=lambda: 9.0 - next(seconds))
    assert (len(read), cut.method) == (5, METHOD_BATCH)
    assert [r.error.code if r.error else None for r in cut.results] == [None] * 2 + [DEADLINE] * 6
    assert [r.value["annotationsFromAllWorkers"] for r in cut.results] == objects


# -- the margin setting --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan", "inf", "900", "1e9"])
def test_a_malformed_time_margin_is_refused(text: str) -> None:
    with pytest.raises(OptionsError, match="GTCONSENSUS_TIME_MARGIN_S") as caught:
        Settings.from_env({"GTCONSENSUS_TIME_MARGIN_S": text})
    assert caught.value.code == "bad_setting"


def test_the_time_margin_defaults_to_15_seconds_and_takes_fractions() -> None:
    assert Settings.from_env({}).time_margin == 15.0
    assert Settings.from_env({"GTCONSENSUS_TIME_MARGIN_S": " 2.5 "}).time_margin == 2.5


def test_a_malformed_time_margin_fails_the_invocation_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GTCONSENSUS_TIME_MARGIN_S", "soon")
    with pytest.raises(OptionsError):
        handler({}, FakeContext(Clock(60.0)))
    record = json.loads(capsys.readouterr().out)
    assert record["error"]["code"] == "bad_setting"


# -- repeated datasetObjectId ----------------------------------------------------------------


def test_repeated_ids_merge_their_answers_in_payload_order() -> None:
    items = parse_payload(json.dumps([
        {"datasetObjectId": "a", "annotations": [1, 2]},
        {"datasetObjectId": "b", "annotations": [3]},
        {"datasetObjectId": "a", "annotations": [4]},
        {"annotations": [5]},
        {"datasetObjectId": "a", "annotations": [6]},
    ]))  # fmt: skip
    merged = merge_repeated_ids(items)
    assert [(i.index, i.dataset_object_id, i.annotations) for i in merged] == [
        (0, "a", (1, 2, 4, 6)), (1, "b", (3,)), (3, None, (5,)),
    ]  # fmt: skip


def test_a_malformed_repeat_fails_its_object_with_every_answer_kept() -> None:
    items = parse_payload(json.dumps([
        {"datasetObjectId": "a", "annotations": [1]},
        {"datasetObjectId": "a", "annotations": [2], "dataObject": 7},
    ]))  # fmt: skip
    (merged,) = merge_repeated_ids(items)
    assert merged.annotations == (1, 2)
    assert merged.error is not None
    assert merged.error.code == "bad_schema"
    assert "payload[1]" in merged.error.message


def test_the_same_worker_in_two_repeats_counts_once(s3: Any) -> None:
    payload = [payload_object("0", answers_for(80)), payload_object("0", answers_for(81))]
    logs: list[dict[str, Any]] = []
    response = consolidate_event(
        _event(s3, "repeated-worker", payload), settings=Settings(), log=logs.append
    )
    assert [e["datasetObjectId"] for e in response] == ["0"]
    value = _value(response[0])
    sent = payload[0]["annotations"] + payload[1]["annotations"]
    assert value["annotationsFromAllWorkers"] == sent
    assert {r["code"] for r in value["consensus"]["rejected"]} == {"duplicate_worker"}
    assert len(value["consensus"]["workers"]) == 3
    assert logs[0]["repeatedIds"] == 1
    assert ATTR in response[0]["consolidatedAnnotation"]["content"]


def test_a_bug_and_a_deadline_together_still_give_every_object_its_entry(
    s3: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The batch hits a bug on its second object and is redone object by object;
    # the redo watches the same clock: it decides one object, then time is up.
    bug_on_worker(monkeypatch, "boom")
    payload = _payload(4)
    payload[1]["annotations"][0]["workerId"] = "boom"
    event = _event(s3, "deadline-bug", payload)
    clock = Clock(120.0, questions=3, after=MARGIN)
    response, record = _handle(event, FakeContext(clock), monkeypatch, capsys)
    assert [_error_code(e) for e in response] == [None, DEADLINE, DEADLINE, DEADLINE]
    assert record["batchError"] == "RuntimeError"
    assert record["cut"] == 3
