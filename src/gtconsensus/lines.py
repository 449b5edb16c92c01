"""One output-manifest line in, one output line out: the whole per-object pipeline.

:func:`consolidate_line` parses the line, reads every worker's answer (rejecting
bad ones one by one), consolidates, and writes the output line of the contract
in :mod:`gtconsensus.contract`. It never raises for bad data: a line that fails
comes back with ``error`` set and, when it is a JSON object, an output line that
keeps its raw answers and carries ``consensus.error``.

Examples
--------
>>> result = consolidate_line('{"source-ref": "s3://b/1.jpg", "job": {}}', label_attribute="job")
>>> result.error.code
'missing_answers'
>>> result.output[:60]
'{"source-ref":"s3://b/1.jpg","job":{"consensus":{"method":"p'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gtconsensus.answers import Fetch, Rejection
from gtconsensus.consensus import METHOD_MAJORITY, Consensus, ObjectEvidence
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import ConsolidationError, GtConsensusError, SchemaError, excerpt
from gtconsensus.forms import with_worker_responses
from gtconsensus.limits import Limits, check_line_size, resolve_limits
from gtconsensus.objects import (
    GoldLabels,
    PreparedObject,
    failed_object,
    finish_object,
    prepare_object,
)
from gtconsensus.references import RAW_REF_KEY, resolve_references

__all__ = [
    "LineResult",
    "PreparedLine",
    "consolidate_line",
    "dumps",
    "finish_line",
    "infer_label_attribute",
    "prepare_line",
    "source_ref_of",
]

#: Top-level key that carries the error of a line whose label attribute is unknown.
ORPHAN_ERROR_KEY = "gtconsensus-error"
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True, eq=False)
class LineResult:
    """What became of one input line.

    Attributes
    ----------
    output : str or None
        The output line (compact JSON, no newline); ``None`` only when the input
        is not a JSON object, so there is nothing to write back.
    consensus : Consensus or None
        The result, when the object was consolidated.
    error : GtConsensusError or None
        Why the object was not consolidated.
    rejected : tuple of Rejection
        Answers left out of a consolidated (or failed) object.
    """

    output: str | None
    consensus: Consensus | None = None
    error: GtConsensusError | None = None
    rejected: tuple[Rejection, ...] = field(default=())


def dumps(value: Any) -> str:
    """Compact, deterministic JSON (UTF-8 text, keys in insertion order)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """A JSON number as a float; ``1e999`` would become infinity, which JSON cannot write."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is too large for a double")
    return value


def infer_label_attribute(line: Mapping[str, Any]) -> str:
    """The label attribute of a line: the one key whose value holds answers.

    Keys ending in ``-metadata`` and ``source-ref``/``source`` are ignored. When
    no key holds ``annotationsFromAllWorkers``, the only remaining key whose value
    is an object is taken (``{}`` of jobs without a post-annotation Lambda), so
    the caller can say what is missing there.

    Examples
    --------
    >>> infer_label_attribute({"source-ref": "s3://b/k", "gt": {"annotationsFromAllWorkers": []},
    ...                        "gt-17-metadata": {}})
    'gt'
    >>> infer_label_attribute({"source-ref": "s3://b/k", "gt": {}, "gt-metadata": {}})
    'gt'
    """
    objects = [
        key for key, value in line.items()
        if not key.endswith("-metadata") and key not in ("source-ref", "source")
        and isinstance(value, Mapping)
    ]  # fmt: skip
    candidates = [key for key in objects if RAW_KEY in line[key] or RAW_REF_KEY in line[key]]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates and len(objects) == 1:
        return objects[0]
    seen = [k for k in line if not k.endswith("-metadata") and k not in ("source-ref", "source")]
    what = "no key holds" if not candidates else f"{len(candidates)} keys hold"
    raise SchemaError(
        "unknown_label_attribute",
        f"{what} `{RAW_KEY}`; keys seen: {excerpt(seen[:10], 200)}; pass the label attribute "
        "explicitly",
    )


def _answers_of(line: Mapping[str, Any], attribute: str) -> tuple[Mapping[str, Any], list[Any]]:
    if attribute not in line:
        raise SchemaError(
            "missing_label_attribute",
            f"line has no label attribute `{attribute}`; keys seen: "
            f"{excerpt(list(line)[:10], 200)}",
        )
    value = line[attribute]
    if not isinstance(value, Mapping):
        raise SchemaError(
            "bad_schema", f"`{attribute}` must be an object, got {type(value).__name__}"
        )
    if RAW_KEY not in value:
        raise SchemaError(
            "missing_answers",
            f"`{attribute}` has no `{RAW_KEY}` (keys: {excerpt(list(value)[:10], 200)}) and the "
            "metadata has no `worker-response-ref`",
        )
    raws = value[RAW_KEY]
    if not isinstance(raws, list):
        raise SchemaError(
            "bad_schema", f"`{attribute}.{RAW_KEY}` must be a list, got {type(raws).__name__}"
        )
    if not raws:
        raise ConsolidationError("no_answers", f"`{attribute}.{RAW_KEY}` is empty")
    return value, raws


def _with_references_resolved(
    line: dict[str, Any], attribute: str, fetch: Fetch | None
) -> dict[str, Any]:
    """The line with the Lambda's ``-ref`` keys read back (:mod:`gtconsensus.references`)."""
    value = line.get(attribute)
    if not isinstance(value, Mapping):
        return line
    resolved = resolve_references(value, attribute=attribute, fetch=fetch)
    return line if resolved is value else {**line, attribute: resolved}


@dataclass(frozen=True, slots=True, eq=False)
class PreparedLine:
    """A manifest line after pass 1 (see :func:`prepare_line`).

    ``parsed`` is ``None`` when the line is not a JSON object; ``obj`` is
    ``None`` when the line failed before its answers could be read (``error``).
    """

    parsed: dict[str, Any] | None
    attribute: str | None
    obj: PreparedObject | None
    error: GtConsensusError | None

    @property
    def evidence(self) -> ObjectEvidence | None:
        """The object's evidence, when it could be gathered."""
        return None if self.obj is None else self.obj.evidence


def prepare_line(
    line: str | bytes,
    *,
    label_attribute: str | None = None,
    element: str | None = None,
    iou_threshold: float = 0.5,
    max_pixels: int | None = None,
    fetch: Fetch | None = None,
    limits: Limits | None = None,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
    gold: Mapping[str, GoldLabels] | None = None,
) -> PreparedLine:
    """Parse a line, read its answers and gather its evidence (pass 1).

    A line over ``limits.max_line_bytes`` is refused unparsed (``line_too_long``),
    so, like a line that is not JSON, it has no output line. ``class_aware`` and
    ``min_area`` go to :func:`gtconsensus.consensus.gather`; ``gold`` maps a
    ``source-ref`` to its gold answer, which joins the line's answers and
    decides it (:func:`gtconsensus.objects.prepare_object`).
    """
    limits = resolve_limits(limits, max_pixels=max_pixels)
    try:
        check_line_size(line, limits)
    except SchemaError as exc:
        return PreparedLine(None, None, None, exc)
    if isinstance(line, str) and line.startswith(_BOM):
        line = line[1:]  # json.loads skips a BOM before bytes, not before text: same for both
    if isinstance(line, str) and not line.isascii():
        try:  # text read with surrogateescape keeps bytes that are not UTF-8: refuse them
            line.encode("utf-8")
        except UnicodeEncodeError as exc:
            message = f"line is not valid UTF-8 (byte at character {exc.start})"
            return PreparedLine(None, None, None, SchemaError("bad_json", message))
    try:
        parsed = json.loads(line, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # ValueError covers JSON and UTF-8 errors
        return PreparedLine(None, None, None, SchemaError("bad_json", f"line is not JSON: {exc}"))
    if not isinstance(parsed, dict):
        message = f"line must be a JSON object, got {type(parsed).__name__}"
        return PreparedLine(None, None, None, SchemaError("bad_line", message))
    attribute = label_attribute
    try:
        attribute = attribute or infer_label_attribute(parsed)
        parsed = _with_references_resolved(parsed, attribute, fetch)
        parsed = with_worker_responses(parsed, attribute, fetch)
        original, raws = _answers_of(parsed, attribute)
    except GtConsensusError as exc:
        return PreparedLine(parsed, attribute, None, exc)
    obj = prepare_object(
        raws,
        original=original,
        element=element,
        iou_threshold=iou_threshold,
        fetch=fetch,
        limits=limits,
        class_aware=class_aware,
        min_area=min_area,
        gold=None if gold is None else gold.get(source_ref_of(parsed) or ""),
    )
    return PreparedLine(parsed, attribute, obj, obj.error)


def source_ref_of(line: Mapping[str, Any]) -> str | None:
    """The ``source-ref`` (or ``source``) of a parsed line, when it is a string.

    Examples
    --------
    >>> source_ref_of({"source-ref": "s3://b/1.jpg"}), source_ref_of({"source": 3})
    ('s3://b/1.jpg', None)
    """
    value = line.get("source-ref", line.get("source"))
    return value if isinstance(value, str) else None


def finish_line(
    prepared: PreparedLine,
    *,
    weights: Mapping[str, float] | None = None,
    existence: Sequence[float] | None = None,
    method: str = METHOD_MAJORITY,
) -> LineResult:
    """Decide and write the output line of a prepared line (pass 2)."""
    parsed, attribute = prepared.parsed, prepared.attribute
    if parsed is None:
        return LineResult(None, error=prepared.error)
    if attribute is None:
        error = prepared.error or SchemaError("unknown_label_attribute", "no label attribute")
        return LineResult(dumps({**parsed, ORPHAN_ERROR_KEY: error.to_dict()}), error=error)
    if prepared.obj is None:
        original = parsed.get(attribute)
        error = prepared.error or SchemaError("bad_schema", "no answers")
        original = original if isinstance(original, Mapping) else None
        result = failed_object(original, error, method=method)
    else:
        result = finish_object(prepared.obj, weights=weights, existence=existence, method=method)
    output = dumps({**parsed, attribute: result.value})
    return LineResult(output, result.consensus, result.error, result.rejected)


def consolidate_line(
    line: str | bytes,
    *,
    label_attribute: str | None = None,
    element: str | None = None,
    weights: Mapping[str, float] | None = None,
    iou_threshold: float = 0.5,
    max_pixels: int | None = None,
    fetch: Fetch | None = None,
    limits: Limits | None = None,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
) -> LineResult:
    """Consolidate one output-manifest line (recipe form, ``annotationsFromAllWorkers``).

    :func:`prepare_line` then :func:`finish_line`, with the per-image method.

    Parameters
    ----------
    line : str or bytes
        One JSON line of the manifest (a trailing newline is fine).
    label_attribute : str, optional
        The key holding the answers; inferred when the line has exactly one.
    element : str, optional
        The answers' element name (default ``annotatedResult`` or the only key).
    weights : mapping, optional
        Per-worker weights for the vote (default 1.0 each).
    iou_threshold : float, default 0.5
    max_pixels : int, optional
        Pixels per PNG (default 100_000_000); overrides ``limits.max_pixels``.
    fetch : callable, optional
        Reads answers given as ``annotationData.s3Uri``.
    limits : Limits, optional
        Every bound on the input (:class:`gtconsensus.limits.Limits`): line
        length, answers per object, instances and base64 size per answer,
        pixels and chunks per PNG.
    class_aware : bool, default False
        Instances of different classes never match (``--class-aware``).
    min_area : int or mapping of str to int, default 0
        Instances of fewer pixels are ignored, as if not drawn; a mapping
        sets it per class name (``--min-area``). See
        :func:`gtconsensus.consensus.gather`.

    Returns
    -------
    LineResult
    """
    prepared = prepare_line(
        line,
        label_attribute=label_attribute,
        element=element,
        iou_threshold=iou_threshold,
        max_pixels=max_pixels,
        fetch=fetch,
        limits=limits,
        class_aware=class_aware,
        min_area=min_area,
    )
    return finish_line(prepared, weights=weights)
