"""The pre-annotation Lambda of a Ground Truth custom job: one manifest line -> task input.

Ground Truth calls it once per data object with the manifest line as
``dataObject``; what it returns under ``taskInput`` is ``task.input`` in the
worker template (``deploy/instance-segmentation.liquid.html``):

- ``taskObject``: the image, from ``source-ref`` (an S3 URI the template passes
  through ``grant_read_access``) or ``source`` (inline text);
- ``header``, ``labels``, ``shortInstructions``, ``fullInstructions``: the
  template's parameters, from ``GTCONSENSUS_TASK_HEADER``,
  ``GTCONSENSUS_TASK_LABELS`` (a JSON list or comma-separated names),
  ``GTCONSENSUS_TASK_SHORT_INSTRUCTIONS`` and ``GTCONSENSUS_TASK_FULL_INSTRUCTIONS``
  (left out when unset, so the template's defaults apply).

A line of an adjustment manifest (``gtconsensus export adjustment``) also holds
``gtconsensus-initial-value``; it becomes ``initialValue`` (``src``, the URI of
the consensus PNG, and ``instances``, each ``color`` and ``label``), which the
template hands to ``crowd-instance-segmentation`` as ``initial-value`` so that
the worker starts from the consensus.

``isHumanAnnotationRequired`` is always the boolean ``true``.

Examples
--------
>>> event = {"version": "2018-10-16",
...          "labelingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/street",
...          "dataObject": {"source-ref": "s3://bucket/images/SSDB00010.JPG"}}
>>> task_input(event, environ={"GTCONSENSUS_TASK_LABELS": "Person, Car"})
{'taskInput': {'taskObject': 's3://bucket/images/SSDB00010.JPG', 'labels': ['Person', 'Car']}, \
'isHumanAnnotationRequired': True}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from gtconsensus.adapters.lambda_events import parse_pre_annotation_event
from gtconsensus.exceptions import OptionsError, SchemaError

__all__ = ["class_names", "handler", "labels_setting", "task_input"]

_INSTRUCTIONS = {
    "shortInstructions": "GTCONSENSUS_TASK_SHORT_INSTRUCTIONS",
    "fullInstructions": "GTCONSENSUS_TASK_FULL_INSTRUCTIONS",
}


def class_names(text: str) -> list[str]:
    """Class names from a JSON list, or names split at commas.

    Raises
    ------
    ValueError
        Saying why, without the setting's or option's name: a text starting
        with ``[`` that is not a JSON list of strings.

    Examples
    --------
    >>> class_names('["Person", "Traffic light"]'), class_names("Person, Car,")
    (['Person', 'Traffic light'], ['Person', 'Car'])
    """
    text = text.strip()
    if text.startswith("["):
        try:
            names = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"is not a JSON list: {exc}") from exc
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("must list strings")
        return names
    return [name.strip() for name in text.split(",") if name.strip()]


def labels_setting(text: str) -> list[str]:
    """Class names from ``GTCONSENSUS_TASK_LABELS`` (:func:`class_names`).

    Raises
    ------
    OptionsError
        ``bad_setting`` when the text cannot be read or names no class (the
        worker template would offer none).

    Examples
    --------
    >>> labels_setting('["Person", "Traffic light"]'), labels_setting("Person, Car,")
    (['Person', 'Traffic light'], ['Person', 'Car'])
    """
    try:
        names = class_names(text)
    except ValueError as exc:
        raise OptionsError("bad_setting", f"GTCONSENSUS_TASK_LABELS {exc}") from exc
    if not names:
        message = f"GTCONSENSUS_TASK_LABELS names no class, got {text!r}; unset it for the defaults"
        raise OptionsError("bad_setting", message)
    return names


def task_input(
    event: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The pre-annotation response for one event.

    Raises
    ------
    SchemaError
        ``bad_event`` when the event has no ``dataObject`` or it holds neither
        ``source-ref`` nor ``source``.
    """
    env = os.environ if environ is None else environ
    data = parse_pre_annotation_event(event).data_object
    source = data.source_ref if data.source_ref is not None else data.source
    if source is None:
        raise SchemaError(
            "bad_event", "`dataObject` holds neither `source-ref` nor `source`: nothing to label"
        )
    task: dict[str, Any] = {"taskObject": source}
    if data.initial_value is not None:
        task["initialValue"] = data.initial_value.model_dump(mode="json")
    if env.get("GTCONSENSUS_TASK_HEADER"):
        task["header"] = env["GTCONSENSUS_TASK_HEADER"]
    if env.get("GTCONSENSUS_TASK_LABELS"):
        task["labels"] = labels_setting(env["GTCONSENSUS_TASK_LABELS"])
    for key, name in _INSTRUCTIONS.items():
        if env.get(name):
            task[key] = env[name]
    return {"taskInput": task, "isHumanAnnotationRequired": True}


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point (``gtconsensus.adapters.pre_annotation.handler``)."""
    return task_input(event)
