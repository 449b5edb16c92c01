"""The other historic input forms, turned into the recipe form the pipeline reads.

Ground Truth output exists in three forms (``docs/input-forms.md``):

- **recipe output**: ``<attr>.annotationsFromAllWorkers`` holds every answer, with
  ``annotationData.content`` a JSON string (the pipeline's own form);
- **no post-annotation Lambda** (custom jobs since 2024): ``<attr>`` is ``{}`` and
  ``<attr>-metadata.worker-response-ref`` is the S3 URI of the raw worker-response
  file, whose ``answers[*].answerContent`` is an *object*;
- **consolidation-request payload**: a JSON list of ``{"datasetObjectId",
  "dataObject", "annotations"}``, one per data object.

:func:`answers_from_worker_response` and :func:`with_worker_responses` turn the
second form into the first; :func:`lines_from_payload` turns the third into
manifest lines. They are pure apart from the ``fetch`` callable.

Examples
--------
>>> response = {"answers": [{"workerId": "w1", "answerContent": {"annotatedResult": {}}}]}
>>> answers_from_worker_response(response)
[{'workerId': 'w1', 'annotationData': {'content': '{"annotatedResult":{}}'}}]
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from gtconsensus.answers import Fetch
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import FetchError, SchemaError

__all__ = [
    "RESPONSE_REF_KEYS",
    "answers_from_worker_response",
    "lines_from_payload",
    "with_worker_responses",
    "worker_response_ref",
]

#: Spellings of the metadata key that points to the worker-response file.
RESPONSE_REF_KEYS = ("worker-response-ref", "worker_response_ref")


def answers_from_worker_response(document: Any) -> list[dict[str, Any]]:
    """The ``annotationsFromAllWorkers`` entries of a worker-response file.

    ``answerContent`` (an object) becomes ``annotationData.content`` (a JSON
    string); ``workerId`` or ``worker_id`` is kept as ``workerId``. An answer
    without content is passed through as it is, to be rejected with its reason.

    Raises
    ------
    SchemaError
        ``bad_worker_response`` when the file has no ``answers`` list.
    """
    answers = document.get("answers") if isinstance(document, Mapping) else None
    if not isinstance(answers, list):
        raise SchemaError(
            "bad_worker_response", "worker-response file must be an object with an `answers` list"
        )
    entries: list[dict[str, Any]] = []
    for answer in answers:
        if not isinstance(answer, Mapping) or "answerContent" not in answer:
            entries.append(answer if isinstance(answer, dict) else {"answer": answer})
            continue
        worker = answer.get("workerId", answer.get("worker_id"))
        content = json.dumps(answer["answerContent"], separators=(",", ":"), ensure_ascii=False)
        entries.append({"workerId": worker, "annotationData": {"content": content}})
    return entries


def worker_response_ref(line: Mapping[str, Any], attribute: str) -> str | None:
    """The worker-response URI in the line's metadata, if any.

    The metadata key is ``<attr>-metadata`` when present, otherwise any key ending
    in ``-metadata`` (real manifests name it after the job, not the attribute).

    Examples
    --------
    >>> worker_response_ref({"gt": {}, "gt-7-metadata": {"worker-response-ref": "s3://b/r"}}, "gt")
    's3://b/r'
    """
    keys = [f"{attribute}-metadata"] + [k for k in line if k.endswith("-metadata")]
    for key in keys:
        metadata = line.get(key)
        if isinstance(metadata, Mapping):
            for name in RESPONSE_REF_KEYS:
                uri = metadata.get(name)
                if isinstance(uri, str):
                    return uri
    return None


def with_worker_responses(
    line: dict[str, Any], attribute: str, fetch: Fetch | None
) -> dict[str, Any]:
    """The line in recipe form when its answers are only in a worker-response file.

    Lines that already hold ``annotationsFromAllWorkers`` (or have no
    ``worker-response-ref``) come back unchanged.

    Raises
    ------
    SchemaError
        ``unresolved_reference`` without a ``fetch``; ``bad_worker_response``.
    FetchError
        When the file cannot be read or is not JSON.
    """
    value = line.get(attribute)
    if isinstance(value, Mapping) and RAW_KEY in value:
        return line
    uri = worker_response_ref(line, attribute)
    if uri is None:
        return line
    if fetch is None:
        raise SchemaError(
            "unresolved_reference",
            f"answers are in the worker-response file {uri}: reading it needs a fetch "
            "(an S3 client, the `aws` extra)",
        )
    data = fetch(uri)  # its own errors (not_found, access_denied...) pass through as they are
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise FetchError("bad_worker_response", f"{uri}: not JSON ({exc})") from exc
    original = dict(value) if isinstance(value, Mapping) else {}
    return {**line, attribute: {**original, RAW_KEY: answers_from_worker_response(document)}}


def lines_from_payload(payload: Any, *, label_attribute: str) -> Iterator[dict[str, Any]]:
    """Manifest lines in recipe form from a consolidation-request payload (a JSON list).

    Each object gives ``{"datasetObjectId", "source-ref" or "source", <attr>:
    {"annotationsFromAllWorkers": annotations}}``; an entry that is not an object
    comes out as ``{"payloadEntry": entry}`` so that it fails with its reason
    rather than disappearing.

    Examples
    --------
    >>> payload = [{"datasetObjectId": "0", "dataObject": {"s3Uri": "s3://b/1.jpg"},
    ...             "annotations": []}]
    >>> next(lines_from_payload(payload, label_attribute="gt"))
    {'datasetObjectId': '0', 'source-ref': 's3://b/1.jpg', 'gt': {'annotationsFromAllWorkers': []}}
    """
    if not isinstance(payload, list):
        raise SchemaError(
            "bad_payload", f"a payload file must be a JSON list, got {type(payload).__name__}"
        )
    for entry in payload:
        if not isinstance(entry, Mapping):
            yield {"payloadEntry": entry}
            continue
        line: dict[str, Any] = {"datasetObjectId": entry.get("datasetObjectId")}
        data = entry.get("dataObject")
        if isinstance(data, Mapping):
            uri = data.get("s3Uri", data.get("s3uri"))
            if isinstance(uri, str):
                line["source-ref"] = uri
            elif "content" in data:
                line["source"] = data["content"]
        line[label_attribute] = {RAW_KEY: entry.get("annotations", [])}
        yield line
