"""Pydantic models of the Ground Truth shapes that gtconsensus reads.

Only this module knows the wire format. It turns JSON values into frozen models,
and every validation failure into a :class:`~gtconsensus.exceptions.SchemaError`
whose message names the field. Unknown keys are ignored everywhere. Core
functions downstream never receive these models: the pipeline unpacks them.

Examples
--------
>>> name, answer = parse_answer_content(
...     '{"annotatedResult": {"inputImageProperties": {"height": 2, "width": 3},'
...     ' "instances": [{"color": "#1f77b4", "label": "Car"}],'
...     ' "labeledImage": {"pngImageData": "iVBO"}}}')
>>> name, answer.input_image_properties.width, answer.instances[0].label
('annotatedResult', 3, 'Car')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)

from gtconsensus.exceptions import SchemaError, excerpt

__all__ = [
    "DEFAULT_ELEMENT",
    "AnnotationData",
    "ImageProperties",
    "InstanceEntry",
    "LabelMetadata",
    "LabeledImage",
    "SegmentationAnswer",
    "WorkerAnnotationRecord",
    "parse_answer_content",
    "parse_worker_annotation",
]

#: The element name used by the sample template and by most jobs.
DEFAULT_ELEMENT = "annotatedResult"

# defer_build: the validators are built on first use, not at import (issue 6: import time).
_FROZEN = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)


class ImageProperties(BaseModel):
    """``inputImageProperties``: the size of the labelled image, in pixels."""

    model_config = _FROZEN
    height: PositiveInt
    width: PositiveInt


class InstanceEntry(BaseModel):
    """One entry of ``instances``: the colour painted in the PNG and the class."""

    model_config = _FROZEN
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    label: str


class LabeledImage(BaseModel):
    """``labeledImage``: the base64 PNG holding every instance in its colour."""

    model_config = _FROZEN
    png_image_data: str = Field(alias="pngImageData", min_length=1)


class SegmentationAnswer(BaseModel):
    """One worker's ``crowd-instance-segmentation`` answer."""

    model_config = _FROZEN
    input_image_properties: ImageProperties = Field(alias="inputImageProperties")
    instances: tuple[InstanceEntry, ...]
    labeled_image: LabeledImage = Field(alias="labeledImage")


class AnnotationData(BaseModel):
    """``annotationData``: the answer as a JSON string (``content``) or an S3 URI."""

    model_config = _FROZEN
    content: str | None = None
    s3_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("s3Uri", "s3uri", "s3_uri")
    )

    @model_validator(mode="after")
    def _one_source(self) -> AnnotationData:
        if self.content is None and self.s3_uri is None:
            raise ValueError("needs `content` (a JSON string) or `s3Uri`, found neither")
        return self


class WorkerAnnotationRecord(BaseModel):
    """One element of ``annotationsFromAllWorkers`` (or of a payload's ``annotations``)."""

    model_config = _FROZEN
    worker_id: str = Field(validation_alias=AliasChoices("workerId", "worker_id"), min_length=1)
    annotation_data: AnnotationData = Field(
        validation_alias=AliasChoices("annotationData", "annotation_data")
    )


class LabelMetadata(BaseModel):
    """``<attr>-metadata`` with every spelling seen in real manifests."""

    model_config = _FROZEN
    type: str | None = None
    job_name: str | None = Field(
        default=None, validation_alias=AliasChoices("job-name", "job_name")
    )
    creation_date: str | None = Field(
        default=None, validation_alias=AliasChoices("creation-date", "creation_date")
    )
    human_annotated: str | None = Field(
        default=None, validation_alias=AliasChoices("human-annotated", "human_annotated")
    )
    worker_response_ref: str | None = Field(
        default=None,
        validation_alias=AliasChoices("worker-response-ref", "worker_response_ref"),
    )


def _describe(exc: ValidationError, prefix: str) -> str:
    """Turn a pydantic error into one line per problem that names the field."""
    parts = []
    for error in exc.errors(include_url=False):
        path = ".".join(
            f"[{p}]" if isinstance(p, int) else str(p) for p in (prefix, *error["loc"]) if p != ""
        ).replace(".[", "[")
        got = error.get("input")
        text = repr(got)  # repr, so that the number 5 and the string '5' read differently
        text = text if len(text) <= 80 else text[:77] + "..."
        shown = "" if isinstance(got, (dict, list)) else f", got {text}"
        field = f"`{path}`" if path else "an `annotationsFromAllWorkers` entry"
        parts.append(f"{field}: {error['msg']}{shown}")
    return "; ".join(parts)


def parse_worker_annotation(raw: object) -> WorkerAnnotationRecord:
    """Validate one element of ``annotationsFromAllWorkers``.

    Parameters
    ----------
    raw : object
        The decoded JSON value.

    Returns
    -------
    WorkerAnnotationRecord

    Raises
    ------
    SchemaError
        ``bad_schema`` with a message naming the missing or mistyped field.

    Examples
    --------
    >>> parse_worker_annotation({"workerId": "w1", "annotationData": {"s3Uri": "s3://b/k"}}
    ...                         ).annotation_data.s3_uri
    's3://b/k'
    >>> parse_worker_annotation({"annotationData": {"content": "{}"}})
    Traceback (most recent call last):
    ...
    gtconsensus.exceptions.SchemaError: [bad_schema] `workerId`: Field required
    """
    try:
        return WorkerAnnotationRecord.model_validate(raw)
    except ValidationError as exc:
        message = _describe(exc, "").replace("`worker_id`", "`workerId`")
        message = message.replace("`annotation_data`", "`annotationData`")
        raise SchemaError("bad_schema", message) from exc


def _pick_element(content: Mapping[str, Any], element: str | None) -> str:
    if element is not None:
        if element not in content:
            raise SchemaError(
                "missing_element",
                f"answer has no element `{element}`; keys seen: "
                f"{excerpt(sorted(content)[:10], 200)}",
            )
        return element
    if DEFAULT_ELEMENT in content:
        return DEFAULT_ELEMENT
    if len(content) == 1:
        return next(iter(content))
    raise SchemaError(
        "missing_element",
        f"answer has no `{DEFAULT_ELEMENT}` and {len(content)} other keys "
        f"({excerpt(sorted(content)[:10], 200)}); name the element with `element=`",
    )


def parse_answer_content(
    content: str | Mapping[str, Any], *, element: str | None = None
) -> tuple[str, SegmentationAnswer]:
    """Parse a worker's answer (``annotationData.content`` or ``answerContent``).

    Parameters
    ----------
    content : str or mapping
        The JSON string of ``annotationData.content``, or the already decoded
        object (``answerContent`` of a worker-response file).
    element : str, optional
        The element's name in the template; by default ``annotatedResult``, or the
        only key present. A one-element list around the answer is unwrapped.

    Returns
    -------
    (str, SegmentationAnswer)
        The element name used and the validated answer.

    Raises
    ------
    SchemaError
        ``bad_json`` when ``content`` is not JSON, ``missing_element`` when the
        element is absent, ``bad_schema`` when a field is missing or mistyped.
    """
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as exc:
            raise SchemaError(
                "bad_json", f"`annotationData.content` is not JSON: {exc.msg} at {exc.pos}"
            ) from exc
        except RecursionError as exc:
            raise SchemaError("bad_json", "`annotationData.content` is nested too deeply") from exc
    if not isinstance(content, Mapping):
        raise SchemaError(
            "bad_schema",
            f"`annotationData.content` must be a JSON object, got {type(content).__name__}",
        )
    name = _pick_element(content, element)
    value = content[name]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    try:
        return name, SegmentationAnswer.model_validate(value)
    except ValidationError as exc:
        raise SchemaError("bad_schema", _describe(exc, name)) from exc
