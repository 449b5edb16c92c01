"""Pydantic models of the events Ground Truth sends to a custom job's Lambdas.

Only the keys gtconsensus uses are modelled; unknown keys are ignored and the
optional ones may be absent or ``null`` (``ground-truth-formats.md`` sections 1b
and 2). Both ``version`` strings seen (``2018-10-06``, ``2018-10-16``) and a
missing ``version`` are accepted. Validation failures become a
:class:`~gtconsensus.exceptions.SchemaError` naming the field.

A payload is parsed object by object (:func:`parse_payload`), so one malformed
object costs that object only: it still gets its response entry, with
``consensus.error``, as long as it has a ``datasetObjectId``. Ground Truth wants
exactly one entry per ``datasetObjectId``: :func:`merge_repeated_ids` makes one
object of the elements that repeat an id.

Examples
--------
>>> event = parse_post_annotation_event({
...     "version": "2018-10-06", "labelAttributeName": "street-people",
...     "payload": {"s3Uri": "s3://bucket/request.json"}, "unknownKey": 1})
>>> event.label_attribute_name, event.payload.s3_uri, event.output_config
('street-people', 's3://bucket/request.json', None)
>>> items = parse_payload(b'[{"datasetObjectId": 0, "annotations": []}, 5]')
>>> [(i.dataset_object_id, i.error) for i in items]
[('0', None), (None, SchemaError('payload[1] must be an object, got int'))]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from gtconsensus.exceptions import SchemaError

__all__ = [
    "DataObject",
    "InitialInstance",
    "InitialValue",
    "PayloadItem",
    "PayloadRef",
    "PostAnnotationEvent",
    "PreAnnotationEvent",
    "merge_repeated_ids",
    "parse_payload",
    "parse_post_annotation_event",
    "parse_pre_annotation_event",
]

_WIRE = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class PayloadRef(BaseModel):
    """``payload``: where Ground Truth wrote the batch (a JSON list)."""

    model_config = _WIRE
    s3_uri: str = Field(alias="s3Uri", pattern=r"^s3://[^/]+/.+")


class PostAnnotationEvent(BaseModel):
    """The post-annotation (consolidation) event; see ``docs/lambda.md``."""

    model_config = _WIRE
    version: str | None = None
    labeling_job_arn: str | None = Field(default=None, alias="labelingJobArn")
    label_attribute_name: str = Field(alias="labelAttributeName", min_length=1)
    role_arn: str | None = Field(default=None, alias="roleArn")
    payload: PayloadRef
    output_config: str | None = Field(default=None, alias="outputConfig")
    kms_key_id: str | None = Field(default=None, alias="kmsKeyId")
    label_categories: tuple[str, ...] | None = Field(default=None, alias="labelCategories")
    max_human_workers_per_data_object: int | None = Field(
        default=None, alias="maxHumanWorkersPerDataObject"
    )

    @property
    def job_name(self) -> str | None:
        """The labeling job's name, from the end of its ARN."""
        arn = self.labeling_job_arn
        return arn.rsplit("/", 1)[-1] if arn and "/" in arn else None


class InitialInstance(BaseModel):
    """One instance of a starting point: its colour in the PNG and its class."""

    model_config = _WIRE
    color: str
    label: str


class InitialValue(BaseModel):
    """``gtconsensus-initial-value`` of an adjustment line (``gtconsensus export adjustment``).

    ``src`` is the URI of the consensus PNG; ``instances[i]`` is drawn in the
    PNG in ``instances[i].color``.
    """

    model_config = _WIRE
    src: str
    instances: tuple[InitialInstance, ...] = ()


class DataObject(BaseModel):
    """``dataObject``: the item labelled, by S3 URI or inline text.

    The pre-annotation event spells the keys ``source-ref``/``source`` (manifest
    keys); the payload of the post-annotation event ``s3Uri``/``content``. A line
    of an adjustment manifest also carries ``gtconsensus-initial-value``.
    """

    model_config = _WIRE
    s3_uri: str | None = Field(default=None, alias="s3Uri")
    content: str | None = None
    source_ref: str | None = Field(default=None, alias="source-ref")
    source: str | None = None
    initial_value: InitialValue | None = Field(default=None, alias="gtconsensus-initial-value")


class PreAnnotationEvent(BaseModel):
    """The pre-annotation event: one manifest line (``dataObject``) of a job."""

    model_config = _WIRE
    version: str | None = None
    labeling_job_arn: str | None = Field(default=None, alias="labelingJobArn")
    data_object: DataObject = Field(alias="dataObject")


class _PayloadObject(BaseModel):
    model_config = _WIRE
    dataset_object_id: str = Field(alias="datasetObjectId", min_length=1)
    data_object: DataObject | None = Field(default=None, alias="dataObject")
    annotations: tuple[Any, ...]

    @field_validator("dataset_object_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        # Ground Truth sends strings; an integer id is read as its decimal text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


@dataclass(frozen=True, slots=True)
class PayloadItem:
    """One object of the payload, validated or not.

    Attributes
    ----------
    index : int
        Position in the payload list.
    dataset_object_id : str or None
        ``None`` only when the item has no usable id (it cannot get an entry).
    data_object : DataObject or None
    annotations : tuple
        The raw answers, as they came (kept verbatim in the output).
    error : SchemaError or None
        Why the item is malformed (code ``bad_schema``), if it is.
    """

    index: int
    dataset_object_id: str | None
    data_object: DataObject | None
    annotations: tuple[Any, ...]
    error: SchemaError | None = None


_POST = TypeAdapter(PostAnnotationEvent)
_PRE = TypeAdapter(PreAnnotationEvent)
_OBJECT = TypeAdapter(_PayloadObject)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"`{path}`: {error['msg']}")
    return "; ".join(parts)


def parse_post_annotation_event(raw: object) -> PostAnnotationEvent:
    """Validate a post-annotation event.

    Raises
    ------
    SchemaError
        ``bad_event``, naming each missing or mistyped field (for example a
        missing ``payload``).
    """
    try:
        return _POST.validate_python(raw)
    except ValidationError as exc:
        raise SchemaError("bad_event", f"post-annotation event: {_describe(exc)}") from exc


def parse_pre_annotation_event(raw: object) -> PreAnnotationEvent:
    """Validate a pre-annotation event (``SchemaError`` ``bad_event`` otherwise)."""
    try:
        return _PRE.validate_python(raw)
    except ValidationError as exc:
        raise SchemaError("bad_event", f"pre-annotation event: {_describe(exc)}") from exc


def _item(index: int, raw: object) -> PayloadItem:
    if not isinstance(raw, dict):
        message = f"payload[{index}] must be an object, got {type(raw).__name__}"
        return PayloadItem(index, None, None, (), SchemaError("bad_schema", message))
    try:
        valid = _OBJECT.validate_python(raw)
    except ValidationError as exc:
        identifier = raw.get("datasetObjectId")
        if isinstance(identifier, int) and not isinstance(identifier, bool):
            identifier = str(identifier)
        answers = raw.get("annotations")
        return PayloadItem(
            index,
            identifier if isinstance(identifier, str) and identifier else None,
            None,
            tuple(answers) if isinstance(answers, list) else (),
            SchemaError("bad_schema", f"payload[{index}]: {_describe(exc)}"),
        )
    return PayloadItem(index, valid.dataset_object_id, valid.data_object, valid.annotations)


def parse_payload(data: str | bytes) -> list[PayloadItem]:
    """Parse the payload file: a JSON list of objects, each validated on its own.

    Parameters
    ----------
    data : str or bytes
        The payload file's content.

    Returns
    -------
    list of PayloadItem
        One per list element, in order; malformed ones carry ``error``.

    Raises
    ------
    SchemaError
        ``bad_payload`` when the file is not JSON or not a JSON list.
    """
    try:
        items = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SchemaError("bad_payload", f"the payload is not JSON: {exc}") from exc
    if not isinstance(items, list):
        kind = type(items).__name__
        raise SchemaError("bad_payload", f"the payload must be a JSON list, got {kind}")
    return [_item(index, raw) for index, raw in enumerate(items)]


def merge_repeated_ids(items: Sequence[PayloadItem]) -> list[PayloadItem]:
    """One item per ``datasetObjectId``: an element that repeats an id joins the first.

    Ground Truth requires exactly one response entry per ``datasetObjectId``. A
    payload that repeats one (it should not) holds answers about one data object
    in several elements, as a manifest merged from several jobs does: the merged
    item keeps the first element's position and ``dataObject``, and has every
    element's answers in payload order (the same worker twice: the later answer is
    kept, the earlier rejected with ``duplicate_worker``, as for any object). When
    an element is malformed, the merged item carries its error: the object fails
    with ``bad_schema``, every answer kept. Items without an id pass unchanged.

    Examples
    --------
    >>> items = parse_payload(b'[{"datasetObjectId": "0", "annotations": [1]}, '
    ...                       b'{"datasetObjectId": "1", "annotations": [2]}, '
    ...                       b'{"datasetObjectId": "0", "annotations": [3]}]')
    >>> [(i.index, i.dataset_object_id, i.annotations) for i in merge_repeated_ids(items)]
    [(0, '0', (1, 3)), (1, '1', (2,))]
    """
    groups: dict[str, list[PayloadItem]] = {}
    for item in items:
        if item.dataset_object_id is not None:
            groups.setdefault(item.dataset_object_id, []).append(item)
    merged = []
    for item in items:
        group = groups.get(item.dataset_object_id) if item.dataset_object_id else None
        if group is None or len(group) == 1:
            merged.append(item)
        elif group[0] is item:
            answers = tuple(a for member in group for a in member.annotations)
            error = next((m.error for m in group if m.error is not None), None)
            merged.append(replace(item, annotations=answers, error=error))
    return merged
