"""Reading a consolidated output manifest back: one :class:`OutputObject` per line.

The review tools (overlays, the job report, the COCO export) all start from the
output contract of ``docs/output.md``: under the label attribute,
``annotatedResult`` (the consensus as a palette PNG), ``consensus`` (instances,
workers, confidence, or ``error``) and ``annotationsFromAllWorkers`` (the raw
answers). This module decodes the consensus PNG into a label image and leaves
the raw answers undecoded until :func:`read_worker_answers` is asked for them.

Line numbers are 1-based physical lines of the file; blank lines are skipped
but counted.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.lines import consolidate_line
>>> from gtconsensus.testing.synthetic import make_manifest
>>> line = consolidate_line(next(make_manifest(1, 1, height=24, width=32))).output
>>> obj = parse_output_line(line, number=1)
>>> obj.source_ref, obj.size, obj.labels.shape, obj.error
('s3://gtconsensus-example/images/street-00001.jpg', (32, 24), (24, 32), None)
>>> len(read_worker_answers(obj).annotations)
3
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtconsensus._typing import LabelImage
from gtconsensus.answers import Answers, Fetch, read_answers
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import GtConsensusError, OptionsError, SchemaError
from gtconsensus.lines import infer_label_attribute
from gtconsensus.masks import decode_label_png
from gtconsensus.references import resolve_references

__all__ = [
    "CONSOLIDATE_FIRST",
    "ConsensusInstance",
    "OutputObject",
    "iter_output_objects",
    "parse_output_line",
    "read_output_object",
    "read_worker_answers",
]


#: What the review tools say when a manifest holds no consensus (``missing_consensus``).
CONSOLIDATE_FIRST = (
    "is this the job's own manifest? Consolidate it first: "
    "gtconsensus consolidate MANIFEST -o consensus.manifest"
)


@dataclass(frozen=True, slots=True)
class ConsensusInstance:
    """One consensus instance: ``annotatedResult.instances[i]`` with ``consensus.instances[i]``."""

    label: str
    colour: str
    confidence: float | None
    support: tuple[str, ...]
    mean_iou: float | None


@dataclass(frozen=True, slots=True, eq=False)
class OutputObject:
    """One line of an output manifest, with its consensus decoded.

    Attributes
    ----------
    line : int
        1-based physical line number.
    source_ref : str or None
        ``source-ref`` (or ``source``) of the line.
    error : (str, str) or None
        ``(code, message)`` when the line was not consolidated (``consensus.error``)
        or cannot be read back; then ``labels`` is None.
    size : (int, int) or None
        ``(width, height)`` of the consensus.
    labels : ndarray, shape (H, W), or None
        The consensus label image; label ``i + 1`` is ``instances[i]``.
    instances : tuple of ConsensusInstance
    summary : mapping
        The ``consensus`` object as written (workers, confidence, rejected...).
    value : mapping
        The whole value under the label attribute (raw answers included).
    """

    line: int
    source_ref: str | None
    error: tuple[str, str] | None
    size: tuple[int, int] | None = None
    labels: LabelImage | None = None
    instances: tuple[ConsensusInstance, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)
    value: Mapping[str, Any] = field(default_factory=dict)

    @property
    def confidence(self) -> float | None:
        """The image's confidence (``consensus.confidence``)."""
        value = self.summary.get("confidence")
        return float(value) if isinstance(value, int | float) else None

    @property
    def workers(self) -> Mapping[str, Mapping[str, Any]]:
        """``consensus.workers``: per-worker score, tp, fp, fn, meanIou..."""
        workers = self.summary.get("workers")
        return workers if isinstance(workers, Mapping) else {}


def _element_of(value: Mapping[str, Any]) -> str | None:
    """The key holding the consensus answer (``annotatedResult`` unless renamed)."""
    if isinstance(value.get("annotatedResult"), Mapping):
        return "annotatedResult"
    for key, item in value.items():
        if isinstance(item, Mapping) and "labeledImage" in item:
            return str(key)
    return None


def _instances(answer: Mapping[str, Any], summary: Mapping[str, Any]) -> list[ConsensusInstance]:
    described = summary.get("instances")
    described = described if isinstance(described, list) else []
    out = []
    for index, item in enumerate(answer.get("instances") or []):
        extra = described[index] if index < len(described) else {}
        confidence = item.get("confidence", extra.get("confidence"))
        mean_iou = extra.get("meanIou")
        out.append(
            ConsensusInstance(
                label=str(item.get("label", "")),
                colour=str(item.get("color", "#000000")),
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
                support=tuple(str(w) for w in extra.get("support") or ()),
                mean_iou=float(mean_iou) if isinstance(mean_iou, int | float) else None,
            )
        )
    return out


def _decode_consensus(
    number: int,
    source: str | None,
    value: Mapping[str, Any],
    summary: Mapping[str, Any],
    decode: bool,
) -> OutputObject:
    element = _element_of(value)
    if element is None:
        raise SchemaError("missing_consensus", "the value holds no consolidated answer")
    answer = value[element]
    props = answer.get("inputImageProperties") or {}
    size = (int(props["width"]), int(props["height"]))
    instances = _instances(answer, summary)
    if not decode:
        return OutputObject(number, source, None, size, None, tuple(instances), summary, value)
    decoded = decode_label_png(
        answer["labeledImage"]["pngImageData"],
        [i.colour for i in instances],
        expected_size=size,
    )
    return OutputObject(
        number, source, None, size, decoded.labels, tuple(instances), summary, value
    )


def parse_output_line(
    line: str | bytes,
    *,
    number: int,
    label_attribute: str | None = None,
    fetch: Fetch | None = None,
    decode: bool = True,
) -> OutputObject:
    """Read one output-manifest line back; never raises for bad data.

    With ``decode=False`` the consensus PNG is not decoded (``labels`` is None),
    for summaries that need only the instances and scores.

    A line that failed consolidation, or that cannot be read back, comes back
    with ``error`` set to ``(code, message)``.
    """
    if isinstance(line, bytes):  # json.loads would guess UTF-16 or UTF-32 from stray bytes
        try:
            line = line.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            message = f"line is not valid UTF-8 (at byte {exc.start})"
            return OutputObject(number, None, ("bad_json", message))
    try:
        parsed = json.loads(line)
    except ValueError as exc:
        return OutputObject(number, None, ("bad_json", f"line is not JSON: {exc}"))
    if not isinstance(parsed, dict):
        return OutputObject(number, None, ("bad_line", "line is not a JSON object"))
    source = parsed.get("source-ref", parsed.get("source"))
    source = source if isinstance(source, str) else None
    orphan = parsed.get("gtconsensus-error")
    if isinstance(orphan, Mapping):
        return OutputObject(number, source, (str(orphan.get("code")), str(orphan.get("message"))))
    try:
        attribute = label_attribute or infer_label_attribute(parsed)
        value = parsed.get(attribute)
        if not isinstance(value, Mapping):
            raise SchemaError("missing_label_attribute", f"line has no object `{attribute}`")
        value = resolve_references(value, attribute=attribute, fetch=fetch)
        summary = value.get("consensus")
        summary = summary if isinstance(summary, Mapping) else {}
        error = summary.get("error")
        if isinstance(error, Mapping):
            pair = (str(error.get("code")), str(error.get("message")))
            return OutputObject(number, source, pair, summary=summary, value=value)
        return _decode_consensus(number, source, value, summary, decode)
    except GtConsensusError as exc:
        return OutputObject(number, source, (exc.code, exc.message))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        message = f"not a consolidated line ({type(exc).__name__}: {exc})"
        return OutputObject(number, source, ("not_consolidated", message))


def iter_output_objects(
    path: str | Path,
    *,
    label_attribute: str | None = None,
    fetch: Fetch | None = None,
    decode: bool = True,
) -> Iterator[OutputObject]:
    """Every non-blank line of an output manifest, in order (see :func:`parse_output_line`)."""
    with open(path, "rb") as lines:  # a line that is not UTF-8 fails alone
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield parse_output_line(
                    line,
                    number=number,
                    label_attribute=label_attribute,
                    fetch=fetch,
                    decode=decode,
                )


def read_output_object(
    path: str | Path, line: int, *, label_attribute: str | None = None, fetch: Fetch | None = None
) -> OutputObject:
    """Line ``line`` (1-based) of an output manifest.

    Raises
    ------
    OptionsError
        ``line_out_of_range`` when the file has no such line, or it is blank.
    """
    if line < 1:
        raise OptionsError("line_out_of_range", f"`line` must be >= 1, got {line}")
    count = 0
    with open(path, "rb") as lines:  # a line that is not UTF-8 fails alone
        for number, text in enumerate(lines, start=1):
            count = number
            if number == line:
                if not text.strip():
                    raise OptionsError("line_out_of_range", f"line {line} of {path} is blank")
                return parse_output_line(
                    text, number=number, label_attribute=label_attribute, fetch=fetch
                )
    raise OptionsError("line_out_of_range", f"`line` is {line}, but {path} has {count} lines")


def read_worker_answers(obj: OutputObject, *, fetch: Fetch | None = None) -> Answers:
    """Decode the raw answers kept in the line (``annotationsFromAllWorkers``).

    Raises
    ------
    SchemaError
        ``missing_answers`` when the line holds no raw answers.
    """
    raws = obj.value.get(RAW_KEY)
    if not isinstance(raws, list):
        raise SchemaError(
            "missing_answers", f"line {obj.line} holds no `{RAW_KEY}` list to draw the workers from"
        )
    return read_answers(raws, fetch=fetch)
