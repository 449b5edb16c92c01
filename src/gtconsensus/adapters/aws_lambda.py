"""The post-annotation (consolidation) Lambda of a Ground Truth custom job.

``handler`` is the entry point (``gtconsensus.adapters.aws_lambda.handler``):
parse the event, read the payload (with the function's own credentials, or the
job's ``roleArn`` when ``GTCONSENSUS_ASSUME_ROLE=1``), consolidate every object
with the batch method of :mod:`gtconsensus.batch`, and return exactly one entry
per ``datasetObjectId``, in payload order, under the 6 MB limit
(:mod:`gtconsensus.adapters.lambda_response`). An object that cannot be
consolidated keeps its raw answers and gets ``consensus.error``; only an event
or a payload that cannot be read fails the invocation. Elements of the payload
that repeat a ``datasetObjectId`` are one object (their answers merged). The
function watches its time (the context's ``get_remaining_time_in_millis``):
when what is left falls to ``GTCONSENSUS_TIME_MARGIN_S``, kept to write the
response, the objects not yet decided come out failed with ``deadline``, so that
Ground Truth always gets its response. Each invocation writes one JSON log line
(counts and timings, never the payload). Settings come from ``GTCONSENSUS_*``
environment variables (:class:`~gtconsensus.adapters.lambda_settings.Settings`,
``docs/lambda.md``).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gtconsensus._version import __version__
from gtconsensus.adapters.lambda_events import (
    PayloadItem,
    PostAnnotationEvent,
    merge_repeated_ids,
    parse_payload,
    parse_post_annotation_event,
)
from gtconsensus.adapters.lambda_response import FittedResponse, fit_response
from gtconsensus.adapters.lambda_settings import Settings
from gtconsensus.adapters.s3 import (
    ObjectStore,
    PrefetchingFetch,
    join_s3_uri,
    open_store,
    read_location,
    split_s3_uri,
)
from gtconsensus.answers import Fetch
from gtconsensus.batch import (
    DEADLINE,
    BatchResult,
    Remaining,
    answers_per_worker,
    consolidate_batch,
    each_in_time,
    model_weights,
)
from gtconsensus.consensus import METHOD_MAJORITY
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import (
    ConsolidationError,
    FetchError,
    GtConsensusError,
    OptionsError,
    SchemaError,
)
from gtconsensus.objects import ObjectResult, consolidate_answers, failed_object
from gtconsensus.worker_model import MODEL_FORMAT, WorkerModel

__all__ = [
    "Settings",
    "consolidate_event",
    "emit",
    "handler",
    "load_worker_model",
    "remaining_time",
]

Log = Callable[[Mapping[str, Any]], None]


def _allowed_buckets(parsed: Any, settings: Settings) -> frozenset[str] | None:
    """Buckets answers may be read from: the job's own, or ``GTCONSENSUS_ALLOWED_BUCKETS``.

    ``None`` (no check) when the setting is ``*``.
    """
    if "*" in settings.allowed_buckets:
        return None
    own = {split_s3_uri(parsed.payload.s3_uri)[0]}
    if parsed.output_config:
        own.add(split_s3_uri(parsed.output_config)[0])
    return frozenset(own | set(settings.allowed_buckets))


def bucket_guard(
    fetch: Callable[[str], bytes], allowed: frozenset[str] | None
) -> Callable[[str], bytes]:
    """A fetch that refuses ``s3Uri`` answers outside the allowed buckets.

    A payload comes from the labeling job, but an answer's ``s3Uri`` is data: it
    must not make the function read a bucket its role happens to reach. The
    refusal costs that answer only (``bucket_not_allowed``).

    Examples
    --------
    >>> fetch = bucket_guard(lambda uri: b"{}", frozenset({"job-bucket"}))
    >>> fetch("s3://job-bucket/a.json")
    b'{}'
    >>> fetch("s3://other/a.json")
    Traceback (most recent call last):
    ...
    gtconsensus.exceptions.FetchError: [bucket_not_allowed] s3://other/a.json: bucket `other` \
is not the job's; allow it with GTCONSENSUS_ALLOWED_BUCKETS
    """
    if allowed is None:
        return fetch

    def guarded(uri: str) -> bytes:
        bucket = split_s3_uri(uri)[0] if uri.startswith("s3://") else ""
        if bucket not in allowed:
            raise FetchError(
                "bucket_not_allowed",
                f"{uri}: bucket `{bucket}` is not the job's; allow it with "
                "GTCONSENSUS_ALLOWED_BUCKETS",
            )
        return fetch(uri)

    return guarded


def emit(record: Mapping[str, Any]) -> None:
    """Write one JSON log line to standard output (CloudWatch keeps it as one event)."""
    sys.stdout.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


_models: dict[str, WorkerModel | dict[str, float]] = {}


def load_worker_model(data: bytes) -> WorkerModel | dict[str, float]:
    """A job-level :class:`WorkerModel` document, or plain ``{"workers": {id: {"reliability"}}}``.

    Raises
    ------
    OptionsError
        ``bad_worker_model`` when it is neither.
    """
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise OptionsError("bad_worker_model", f"the worker model is not JSON: {exc}") from exc
    if isinstance(document, dict) and document.get("format") == MODEL_FORMAT:
        return WorkerModel.from_json(data)
    return model_weights(document)


def _worker_model(
    location: str | None, store: ObjectStore
) -> tuple[WorkerModel | dict[str, float] | None, str]:
    """The model named by ``GTCONSENSUS_WORKER_MODEL``, read once per container.

    A model that cannot be read is not fatal: the batch method is used, and the
    error is in the log line.
    """
    if location is None:
        return None, ""
    if location not in _models:
        try:
            _models[location] = load_worker_model(read_location(location, store))
        except GtConsensusError as exc:
            return None, str(exc)
    return _models[location], ""


def _read_payload(event: PostAnnotationEvent, store: ObjectStore) -> list[PayloadItem]:
    uri = event.payload.s3_uri
    try:
        return parse_payload(store.fetch(uri))
    except FetchError as exc:
        raise FetchError(exc.code, f"cannot read the payload {uri}: {exc.message}") from exc
    except SchemaError as exc:
        raise SchemaError(exc.code, f"payload {uri}: {exc.message}") from exc


def _answer_uris(items: Sequence[PayloadItem]) -> list[str]:
    """Every ``annotationData.s3Uri`` of answers that have no ``content``, in order."""
    uris = []
    for item in items:
        for raw in item.annotations:
            data = raw.get("annotationData") if isinstance(raw, dict) else None
            if isinstance(data, dict) and data.get("content") is None:
                uri = data.get("s3Uri", data.get("s3uri"))
                if isinstance(uri, str):
                    uris.append(uri)
    return uris


def _guarded(raws: Sequence[object], settings: Settings, fetch: Fetch) -> ObjectResult:
    """One object alone, per image; a bug costs this object only (``internal_error``)."""
    try:
        result = consolidate_answers(
            raws, element=settings.element, iou_threshold=settings.iou_threshold,
            max_pixels=settings.max_pixels, fetch=fetch, class_aware=settings.class_aware,
            min_area=settings.min_area_option,
        )  # fmt: skip
    except Exception as exc:  # a bug of gtconsensus: never drop the object for it
        message = f"gtconsensus failed on this object ({type(exc).__name__}); please report it"
        error = ConsolidationError("internal_error", message)
        return failed_object({RAW_KEY: list(raws)}, error)
    return dataclasses.replace(result, consensus=None)


def _consolidate(
    objects: Sequence[Sequence[object]],
    settings: Settings,
    fetch: Fetch,
    model: WorkerModel | dict[str, float] | None,
    record: dict[str, Any],
    remaining: Remaining | None,
) -> BatchResult:
    """The batch method; should it fail on a bug, every object alone, each guarded.

    ``remaining`` gives the seconds left for consolidating (the margin already
    taken off); objects not decided in time come out failed with ``deadline``.
    """
    try:
        return consolidate_batch(
            objects, element=settings.element, iou_threshold=settings.iou_threshold,
            max_pixels=settings.max_pixels, fetch=fetch,
            worker_model=model if isinstance(model, WorkerModel) else None,
            worker_weights=model if isinstance(model, dict) else None,
            min_median_objects=settings.min_median_objects, keep_consensus=False,
            class_aware=settings.class_aware, min_area=settings.min_area_option,
            remaining=remaining,
        )  # fmt: skip
    except Exception as exc:  # a bug must not cost the whole batch: object by object
        record["batchError"] = type(exc).__name__
    results = each_in_time(
        objects, lambda raws: _guarded(raws, settings, fetch), remaining=remaining
    )
    return BatchResult(tuple(results), METHOD_MAJORITY, None, len(answers_per_worker(objects)))


def _spill_base(event: PostAnnotationEvent, shared_prefix: str | None) -> str | None:
    """One folder per batch, which no other batch of any job writes to.

    Under the event's ``outputConfig`` (the job's own folder):
    ``<outputConfig>/gtconsensus/<parent folder>/<payload file stem>``. Under
    ``GTCONSENSUS_SPILL_PREFIX``, which every job of the stack shares, the
    payload's bucket and whole key name the folder: two jobs' batches can share
    the parent folder (``iteration-1``), the file name (a time to the second)
    and the object ids (each job counts from 0).
    """
    bucket, key = split_s3_uri(event.payload.s3_uri)
    if shared_prefix is not None:
        return join_s3_uri(shared_prefix, "gtconsensus", bucket, key.removesuffix(".json"))
    if event.output_config is None:
        return None
    parts = key.rsplit("/", 2)[-2:]
    parts[-1] = parts[-1].removesuffix(".json")
    return join_s3_uri(event.output_config, "gtconsensus", *parts)


def _values(
    items: Sequence[PayloadItem], batch: BatchResult, good: Sequence[PayloadItem]
) -> list[tuple[str, ObjectResult]]:
    """Each addressable item's result, in payload order."""
    by_index = {item.index: result for item, result in zip(good, batch.results, strict=True)}
    values = []
    for item in items:
        if item.dataset_object_id is None:
            continue
        result = by_index.get(item.index)
        if result is None:  # malformed item: its answers kept, with the reason
            error = item.error or SchemaError("bad_schema", f"payload[{item.index}] is malformed")
            original = {RAW_KEY: list(item.annotations)}
            result = failed_object(original, error, method=batch.method)
        values.append((item.dataset_object_id, result))
    return values


def _fewer_answers(items: Sequence[PayloadItem], expected: int | None) -> int | None:
    """Objects with fewer answers than ``maxHumanWorkersPerDataObject`` (expired tasks)."""
    if expected is None:
        return None
    return sum(1 for item in items if len(item.annotations) < expected)


def _summary(
    items: Sequence[PayloadItem],
    results: Sequence[ObjectResult],
    batch: BatchResult,
    fitted: FittedResponse,
) -> dict[str, Any]:
    failures = Counter(r.error.code for r in results if r.error is not None)
    rejected = Counter(x.code for r in results for x in r.rejected)
    weights = sorted((batch.weights or {}).values())
    return {
        "objects": len(items),
        "entries": len(fitted.entries),
        "unaddressable": sum(1 for i in items if i.dataset_object_id is None),
        "consolidated": sum(1 for r in results if r.error is None),
        "failed": sum(failures.values()),
        "failures": dict(sorted(failures.items())),
        "rejectedAnswers": sum(rejected.values()),
        "rejectedCodes": dict(sorted(rejected.items())),
        "workers": batch.workers,
        "method": batch.method,
        "weights": {"min": weights[0], "median": statistics.median(weights), "max": weights[-1]}
        if weights
        else None,
        "rawAnswersInS3": sum(1 for level in fitted.levels if level >= 1),
        "valuesInS3": sum(1 for level in fitted.levels if level == 2),
        "bytesWrittenToS3": fitted.bytes_written,
        "bytesReturned": fitted.size,
    }


def _cut(
    results: Sequence[ObjectResult], remaining: Remaining | None, settings: Settings
) -> dict[str, Any]:
    """What the log line says of the deadline: objects cut, why, and the time left."""
    if remaining is None:
        return {"cut": 0, "timeLeftMs": None}
    left = remaining()
    cut = sum(1 for r in results if r.error is not None and r.error.code == DEADLINE)
    fields: dict[str, Any] = {"cut": cut, "timeLeftMs": round(left * 1000)}
    if cut:
        fields["cutReason"] = (
            f"{cut} of {len(results)} objects not decided: {left:.1f} s of the function's "
            f"time left, and GTCONSENSUS_TIME_MARGIN_S={settings.time_margin:g} s kept to "
            "write the response; raise the timeout or lower the batch size"
        )
    return fields


def consolidate_event(
    event: Mapping[str, Any],
    *,
    settings: Settings,
    log: Log = emit,
    request_id: str | None = None,
    remaining: Remaining | None = None,
    store: ObjectStore | None = None,
) -> list[dict[str, Any]]:
    """Everything the handler does, with the settings, the log and the store passed in.

    Parameters
    ----------
    remaining : callable, optional
        Seconds left of the invocation (from the Lambda context); ``None``: no
        deadline. Consolidation stops when what is left falls to
        ``settings.time_margin``: the objects not yet decided come out failed
        with ``deadline``.
    store : ObjectStore, optional
        Where the payload, the answers given by ``s3Uri`` and the worker model are
        read and the spilled files written (``fetch`` and ``put_json``); for tests,
        :class:`gtconsensus.testing.stores.DictStore` over the ``(event, store)`` of
        :func:`gtconsensus.testing.strategies.lambda_requests`. Given, no S3 client
        is opened: neither STS nor ``settings.assume_role`` is used, and the event's
        ``kmsKeyId`` is the store's business. ``None`` (the handler's way): the
        function's own S3 client, or the job's ``roleArn`` when
        ``settings.assume_role``.

    Returns
    -------
    list of dict
        The response: one ``{"datasetObjectId", "consolidatedAnnotation"}`` per object.

    Raises
    ------
    GtConsensusError
        Only when the event or the payload cannot be read (``bad_event``,
        ``bad_payload``, ``not_found``, ``access_denied``...), when a setting is
        malformed (``bad_setting``), or when S3 refuses the spill
        (``write_failed``, ``no_spill_location``); the log line says which.
    """
    started = time.perf_counter()
    record: dict[str, Any] = {"message": "gtconsensus post-annotation", "version": __version__}
    record["requestId"] = request_id
    timings: dict[str, float] = {}
    try:
        parsed = parse_post_annotation_event(event)
        record.update(labelingJobArn=parsed.labeling_job_arn, eventVersion=parsed.version)
        record.update(labelAttributeName=parsed.label_attribute_name)
        record["assumedRole"] = settings.assume_role and store is None
        if store is None:
            store = open_store(
                role_arn=parsed.role_arn, assume_role=settings.assume_role,
                kms_key_id=parsed.kms_key_id, label=parsed.job_name,
            )  # fmt: skip
        items = _read_payload(parsed, store)
        objects = merge_repeated_ids(items)
        record["repeatedIds"] = len(items) - len(objects)
        model, model_error = _worker_model(settings.worker_model, store)
        if model_error:
            record["workerModelError"] = model_error
        timings["readMs"] = time.perf_counter() - started
        good = [i for i in objects if i.dataset_object_id is not None and i.error is None]
        guarded = bucket_guard(store.fetch, _allowed_buckets(parsed, settings))
        consolidating = _less(remaining, settings.time_margin)
        with PrefetchingFetch(guarded, _answer_uris(good), threads=settings.threads) as fetch:
            batch = _consolidate(
                [i.annotations for i in good], settings, fetch, model, record, consolidating
            )
        values = _values(objects, batch, good)
        record.update(_cut(batch.results, remaining, settings))
        timings["consolidateMs"] = time.perf_counter() - started - sum(timings.values())
        fitted = fit_response(
            [(i, r.value) for i, r in values], attribute=parsed.label_attribute_name,
            budget=settings.response_budget,
            spill_base=_spill_base(parsed, settings.spill_prefix),
            put=store.put_json, threads=settings.threads,
        )  # fmt: skip
        timings["respondMs"] = time.perf_counter() - started - sum(timings.values())
        record.update(_summary(items, [r for _, r in values], batch, fitted), status="ok")
        record["fewerAnswers"] = _fewer_answers(objects, parsed.max_human_workers_per_data_object)
        return fitted.entries
    except GtConsensusError as exc:
        record.update(status="failed", error=exc.to_dict())
        raise
    finally:
        timings["totalMs"] = time.perf_counter() - started
        record["timings"] = {k: round(v * 1000, 1) for k, v in timings.items()}
        log(record)


def _less(remaining: Remaining | None, margin: float) -> Remaining | None:
    """``remaining`` less ``margin`` seconds."""
    if remaining is None:
        return None
    return lambda: remaining() - margin


def remaining_time(context: object) -> Remaining | None:
    """Seconds left of the invocation, from the context's ``get_remaining_time_in_millis``.

    ``None`` (no deadline) when the context has none, as in a local call.

    Examples
    --------
    >>> remaining_time(None) is None
    True
    >>> class Context:
    ...     def get_remaining_time_in_millis(self) -> int:
    ...         return 2500
    >>> remaining_time(Context())()
    2.5
    """
    millis = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(millis):
        return None
    return lambda: float(millis()) / 1000.0


def handler(event: Mapping[str, Any], context: object) -> list[dict[str, Any]]:
    """The Lambda entry point: settings from the environment, one log line, the response.

    The context's ``get_remaining_time_in_millis`` sets the deadline (none without it).
    """
    request_id = getattr(context, "aws_request_id", None)
    try:
        settings = Settings.from_env()
    except OptionsError as exc:
        emit({"message": "gtconsensus post-annotation", "requestId": request_id,
              "status": "failed", "error": exc.to_dict()})  # fmt: skip
        raise
    return consolidate_event(
        event, settings=settings, request_id=request_id, remaining=remaining_time(context)
    )
