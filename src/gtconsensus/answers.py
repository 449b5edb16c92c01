"""From raw ``annotationsFromAllWorkers`` entries to decoded worker answers.

One bad answer costs that answer only: every entry comes out either as a
:class:`~gtconsensus.consensus.WorkerAnnotation` or as a :class:`Rejection`
with a stable code and a message. The same worker twice keeps the last answer;
answers whose size disagrees with the majority of the valid ones are rejected.

Examples
--------
>>> read_answers([{"workerId": "w1", "annotationData": {"content": "not json"}}]).rejected[0].code
'bad_json'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gtconsensus.consensus import WorkerAnnotation, decoded_annotation
from gtconsensus.exceptions import InputError, SchemaError, excerpt
from gtconsensus.limits import Limits, resolve_limits
from gtconsensus.masks import decode_label_png
from gtconsensus.schema import DEFAULT_ELEMENT, parse_answer_content, parse_worker_annotation

__all__ = ["Answers", "Fetch", "Rejection", "read_answer", "read_answers"]

#: Reads an ``s3Uri`` and returns the object's bytes or text (supplied by an adapter).
Fetch = Callable[[str], "str | bytes"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A worker answer that could not be used, and why."""

    worker_id: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """``{"workerId", "code", "message"}`` as written under ``consensus.rejected``."""
        return {"workerId": self.worker_id, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True, eq=False)
class Answers:
    """The usable answers of one object, the rejected ones, and the element name."""

    annotations: tuple[WorkerAnnotation, ...]
    rejected: tuple[Rejection, ...]
    element: str
    size: tuple[int, int] | None  # (width, height) of the kept answers


def _worker_id_of(raw: object) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("workerId", raw.get("worker_id"))
        return value if isinstance(value, str) else None
    return None


def read_answer(
    raw: object,
    *,
    element: str | None = None,
    fetch: Fetch | None = None,
    max_pixels: int | None = None,
    limits: Limits | None = None,
) -> tuple[str, tuple[int, int], WorkerAnnotation]:
    """Parse and decode one ``annotationsFromAllWorkers`` entry.

    ``limits`` (:class:`~gtconsensus.limits.Limits`) bound the PNG and its
    ``instances``; ``max_pixels``, when given, overrides ``limits.max_pixels``.

    Returns
    -------
    (str, (int, int), WorkerAnnotation)
        The element name, the ``(width, height)`` and the decoded answer.

    Raises
    ------
    InputError
        Any subclass, with a code naming the problem.
    """
    record = parse_worker_annotation(raw)
    content: str | bytes | None = record.annotation_data.content
    if content is None:
        uri = record.annotation_data.s3_uri or ""
        if fetch is None:
            raise SchemaError(
                "answer_by_reference",
                f"`annotationData.s3Uri` {excerpt(uri, 200)}: reading answers from S3 needs an "
                "adapter (the command line or the Lambda) that can fetch it",
            )
        content = fetch(uri)
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    name, answer = parse_answer_content(content, element=element)
    size = (answer.input_image_properties.width, answer.input_image_properties.height)
    decoded = decode_label_png(
        answer.labeled_image.png_image_data,
        [i.color for i in answer.instances],
        expected_size=size,
        limits=resolve_limits(limits, max_pixels=max_pixels),
    )
    annotation = decoded_annotation(
        record.worker_id,
        decoded.labels,
        tuple(i.label for i in answer.instances),
        decoded.stray_pixels,
    )
    return name, size, annotation


def read_answers(
    raws: Sequence[object],
    *,
    element: str | None = None,
    fetch: Fetch | None = None,
    max_pixels: int | None = None,
    limits: Limits | None = None,
) -> Answers:
    """Read every entry of ``annotationsFromAllWorkers``, rejecting bad ones.

    Parameters
    ----------
    raws : sequence
        The decoded JSON list.
    element : str, optional
        The element name; default ``annotatedResult`` or the only key.
    fetch : callable, optional
        Reads ``annotationData.s3Uri`` references; without it they are rejected.
    max_pixels : int, optional
        Limit per PNG, checked before decoding; overrides ``limits.max_pixels``.
    limits : Limits, optional
        Bounds on each answer (:mod:`gtconsensus.limits`); the number of answers
        is the caller's to check (:func:`gtconsensus.objects.prepare_object`).
    """
    limits = resolve_limits(limits, max_pixels=max_pixels)
    kept: dict[str, tuple[str, tuple[int, int], WorkerAnnotation]] = {}
    rejected: list[Rejection] = []
    for raw in raws:
        try:
            name, size, annotation = read_answer(raw, element=element, fetch=fetch, limits=limits)
        except InputError as exc:
            rejected.append(Rejection(_worker_id_of(raw), exc.code, exc.message))
            continue
        if annotation.worker_id in kept:
            rejected.append(Rejection(
                annotation.worker_id, "duplicate_worker",
                "the same worker answered again; the later answer is kept",
            ))  # fmt: skip
        kept[annotation.worker_id] = (name, size, annotation)
    if not kept:
        return Answers((), tuple(rejected), element or DEFAULT_ELEMENT, None)
    sizes = Counter(size for _, size, _ in kept.values())
    size = max(sizes, key=lambda s: (sizes[s], s[0] * s[1], s))
    annotations = []
    for _, other, annotation in kept.values():
        if other != size:
            rejected.append(Rejection(
                annotation.worker_id, "size_disagreement",
                f"answer is {other[0]}x{other[1]} but most answers are {size[0]}x{size[1]}",
            ))  # fmt: skip
        else:
            annotations.append(annotation)
    names = Counter(name for name, other, _ in kept.values() if other == size)
    common = max(names, key=lambda n: (names[n], n))  # order-free choice
    return Answers(tuple(annotations), tuple(rejected), element or common, size)
