"""One data object, from its raw answers to the value written under the label attribute.

The same steps serve a manifest line (:mod:`gtconsensus.lines`), an object of
a Lambda payload and the two passes of the job-level method:

- :func:`prepare_object` reads every answer (rejecting bad ones one by one) and
  gathers the weight-free evidence (:func:`gtconsensus.consensus.gather`);
- :func:`finish_object` decides with weights or existence probabilities and
  builds the output value of the contract (:mod:`gtconsensus.contract`).

Neither raises for bad data: a failure comes back as ``error`` with a value that
keeps the raw answers and carries ``consensus.error``.

Examples
--------
>>> done = consolidate_answers([{"workerId": "w1", "annotationData": {"content": "{}"}}])
>>> done.error.code, done.value["consensus"]["rejected"][0]["code"]
('no_valid_answer', 'missing_element')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtconsensus._typing import LabelImage
from gtconsensus.answers import Answers, Fetch, Rejection, read_answers
from gtconsensus.consensus import METHOD_MAJORITY, Consensus, ObjectEvidence, decide, gather
from gtconsensus.contract import (
    RAW_KEY,
    annotated_result,
    consensus_summary,
    error_summary,
    label_value,
)
from gtconsensus.exceptions import ConsolidationError, GtConsensusError, InputError
from gtconsensus.gold import GOLD_WORKER, decide_gold, with_gold
from gtconsensus.limits import Limits, check_answers, resolve_limits

__all__ = [
    "GoldLabels",
    "ObjectResult",
    "PreparedObject",
    "consolidate_answers",
    "failed_object",
    "finish_object",
    "prepare_object",
]

#: A gold answer: its label image (``(H, W)``, 0 background) and a class per instance.
GoldLabels = tuple[LabelImage, Sequence[str]]


@dataclass(frozen=True, slots=True, eq=False)
class PreparedObject:
    """An object after pass 1: its answers read and its evidence gathered.

    Attributes
    ----------
    original : mapping or None
        The label attribute's original value (kept in the output), if any.
    answers : Answers or None
        The answers' rejections and element name; ``None`` when none could be
        read. Once the evidence is gathered, the decoded label images are not
        kept (``answers.annotations`` is empty).
    evidence : ObjectEvidence or None
        ``None`` when the object failed; then ``error`` says why.
    error : GtConsensusError or None
    gold : bool
        The evidence holds a gold answer (:mod:`gtconsensus.gold`): the object
        is decided by it.
    classes : frozenset of str
        The class names of the instances listed in the readable answers (before
        ``min_area`` erases any), so that a job can say which classes it saw.
    """

    original: Mapping[str, Any] | None
    answers: Answers | None
    evidence: ObjectEvidence | None
    error: GtConsensusError | None
    gold: bool = False
    classes: frozenset[str] = frozenset()

    @property
    def rejected(self) -> tuple[Rejection, ...]:
        """Answers left out, with their reasons."""
        return () if self.answers is None else self.answers.rejected


@dataclass(frozen=True, slots=True, eq=False)
class ObjectResult:
    """The new label-attribute value of an object, and what it is made of."""

    value: dict[str, Any]
    consensus: Consensus | None
    error: GtConsensusError | None
    rejected: tuple[Rejection, ...]


def prepare_object(
    raws: Sequence[object],
    *,
    original: Mapping[str, Any] | None = None,
    element: str | None = None,
    iou_threshold: float = 0.5,
    max_pixels: int | None = None,
    fetch: Fetch | None = None,
    limits: Limits | None = None,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
    gold: GoldLabels | None = None,
) -> PreparedObject:
    """Read an object's answers and gather its evidence (pass 1).

    Parameters
    ----------
    raws : sequence
        The object's raw answers (``annotationsFromAllWorkers`` entries).
    original : mapping, optional
        The original value of the label attribute, kept in the output.
    element, iou_threshold, max_pixels, fetch, limits
        As for :func:`gtconsensus.consolidate_line`. More answers than
        ``limits.max_answers`` fail the object (``too_many_answers``).
    class_aware, min_area
        Passed to :func:`gtconsensus.consensus.gather`.
    gold : (labels, classes), optional
        A gold answer of the object: it joins the readable answers
        (:func:`gtconsensus.gold.with_gold`) and :func:`finish_object` decides
        the object by it. An object with no readable answer fails as without
        gold; a gold answer of another size fails it (``size_disagreement``).
    """
    limits = resolve_limits(limits, max_pixels=max_pixels)
    if not raws:
        error = ConsolidationError("no_answers", f"`{RAW_KEY}` is empty")
        return PreparedObject(original, None, None, error)
    try:
        check_answers(len(raws), limits)
    except ConsolidationError as exc:
        return PreparedObject(original, None, None, exc)
    answers = _without_reserved_id(read_answers(raws, element=element, fetch=fetch, limits=limits))
    if not answers.annotations:
        first = answers.rejected[0] if answers.rejected else None
        reason = f"; first: [{first.code}] {first.message}" if first else ""
        error = ConsolidationError(
            "no_valid_answer", f"none of the {len(raws)} answers could be read{reason}"
        )
        return PreparedObject(original, answers, None, error)
    classes = frozenset(name for a in answers.annotations for name in a.classes)
    try:
        annotations = list(answers.annotations)
        if gold is not None:
            annotations = with_gold(annotations, *_gold_of_size(gold, annotations[0].labels.shape))
        evidence = gather(
            annotations, iou_threshold=iou_threshold, class_aware=class_aware, min_area=min_area
        )
    except GtConsensusError as exc:
        return PreparedObject(original, answers, None, exc, classes=classes)
    # The evidence holds what pass 2 needs (cropped masks); the full-size label
    # images are dropped so that objects kept between passes stay small.
    slim = Answers((), answers.rejected, answers.element, answers.size)
    return PreparedObject(original, slim, evidence, None, gold is not None, classes)


def _without_reserved_id(answers: Answers) -> Answers:
    """Reject an answer under the gold answer's reserved id: it is no worker.

    Otherwise, in a run with gold answers, the job-level model would take that
    answer for gold on its objects.
    """
    if all(a.worker_id != GOLD_WORKER for a in answers.annotations):
        return answers
    rejection = Rejection(
        GOLD_WORKER, "duplicate_worker", f"worker id {GOLD_WORKER!r} is reserved for gold answers"
    )
    kept = tuple(a for a in answers.annotations if a.worker_id != GOLD_WORKER)
    return Answers(kept, (*answers.rejected, rejection), answers.element, answers.size)


def _gold_of_size(gold: GoldLabels, shape: tuple[int, ...]) -> GoldLabels:
    labels, classes = gold
    if labels.shape != shape:
        raise InputError(
            "size_disagreement",
            f"the gold answer is {labels.shape[1]}x{labels.shape[0]} pixels, the workers' "
            f"answers {shape[1]}x{shape[0]}",
        )
    return labels, classes


def failed_object(
    original: Mapping[str, Any] | None,
    error: GtConsensusError,
    rejected: tuple[Rejection, ...] = (),
    *,
    method: str = METHOD_MAJORITY,
) -> ObjectResult:
    """The value of an object that could not be consolidated: raw answers plus the error."""
    summary = error_summary(error, rejected, method=method)
    return ObjectResult(label_value(original, summary=summary), None, error, rejected)


def finish_object(
    prepared: PreparedObject,
    *,
    weights: Mapping[str, float] | None = None,
    existence: Sequence[float] | None = None,
    method: str = METHOD_MAJORITY,
) -> ObjectResult:
    """Decide and build the output value of a prepared object (pass 2).

    Parameters
    ----------
    prepared : PreparedObject
    weights : mapping, optional
        Per-worker weights (default 1.0 each).
    existence : sequence of float, optional
        Per candidate, the probability that it exists (job-level model).
    method : str
        Recorded as ``consensus.method``.

    An object prepared with a gold answer is decided by it
    (:func:`gtconsensus.gold.decide_gold`, method ``"gold"``): ``weights``,
    ``existence`` and ``method`` do not apply to it.
    """
    if prepared.evidence is None or prepared.answers is None:
        error = prepared.error or ConsolidationError("no_valid_answer", "nothing to consolidate")
        return failed_object(prepared.original, error, prepared.rejected, method=method)
    try:
        if prepared.gold:
            consensus = decide_gold(prepared.evidence)
        else:
            consensus = decide(
                prepared.evidence, weights=weights, existence=existence, method=method
            )
    except GtConsensusError as exc:
        return failed_object(prepared.original, exc, prepared.rejected, method=method)
    value = label_value(
        prepared.original,
        element=prepared.answers.element,
        result=annotated_result(consensus),
        summary=consensus_summary(consensus, prepared.rejected),
    )
    return ObjectResult(value, consensus, None, prepared.rejected)


def consolidate_answers(
    raws: Sequence[object],
    *,
    original: Mapping[str, Any] | None = None,
    element: str | None = None,
    weights: Mapping[str, float] | None = None,
    iou_threshold: float = 0.5,
    max_pixels: int | None = None,
    fetch: Fetch | None = None,
    limits: Limits | None = None,
    class_aware: bool = False,
    min_area: int | Mapping[str, int] = 0,
) -> ObjectResult:
    """Both passes at once, with the per-image method: raw answers in, output value out."""
    prepared = prepare_object(
        raws,
        original=original if original is not None else {RAW_KEY: list(raws)},
        element=element,
        iou_threshold=iou_threshold,
        max_pixels=max_pixels,
        fetch=fetch,
        limits=limits,
        class_aware=class_aware,
        min_area=min_area,
    )
    return finish_object(prepared, weights=weights)
