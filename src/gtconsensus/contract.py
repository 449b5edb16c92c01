"""The output contract: what goes under the label attribute of an output line.

::

    {"annotatedResult": {...the shape of one worker's answer...},
     "consensus": {"method", "version", "iouThreshold", "confidence",
                   "instances": [{"support", "meanIou"}], "workers": {...},
                   "rejected": [...]},
     "annotationsFromAllWorkers": [...the raw answers, untouched...]}

An object that cannot be consolidated gets ``consensus.error`` (``code``,
``message``) instead of the results, and keeps its raw answers. Floats are
rounded to 4 decimals. See ``docs/output.md``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from gtconsensus._version import __version__
from gtconsensus.answers import Rejection
from gtconsensus.consensus import Consensus, WorkerScore
from gtconsensus.exceptions import GtConsensusError
from gtconsensus.masks import encode_label_png, instance_colours

__all__ = ["annotated_result", "consensus_summary", "error_summary", "label_value"]

RAW_KEY = "annotationsFromAllWorkers"


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def annotated_result(consensus: Consensus, *, compress_level: int = 1) -> dict[str, Any]:
    """The consensus in the shape of one worker's answer (palette PNG, base64).

    Examples
    --------
    >>> import numpy as np
    >>> from gtconsensus.consensus import WorkerAnnotation, consolidate
    >>> labels = np.zeros((2, 3), np.uint8); labels[0, 0] = 1
    >>> result = annotated_result(consolidate([WorkerAnnotation("a", labels, ("Car",))]))
    >>> result["inputImageProperties"], result["instances"]
    ({'height': 2, 'width': 3}, [{'color': '#1f77b4', 'label': 'Car', 'confidence': 0.0}])
    """
    height, width = consensus.labels.shape
    colours = instance_colours(len(consensus.instances))
    png = encode_label_png(consensus.labels, compress_level=compress_level)
    return {
        "inputImageProperties": {"height": height, "width": width},
        "instances": [
            {"color": colour, "label": instance.label, "confidence": _round(instance.confidence)}
            for colour, instance in zip(colours, consensus.instances, strict=True)
        ],
        "labeledImage": {"pngImageData": base64.b64encode(png).decode("ascii")},
    }


def _worker_entry(score: WorkerScore) -> dict[str, Any]:
    others = score.versus_others
    return {
        "score": _round(score.score),
        "tp": None if others is None else others.tp,
        "fp": None if others is None else others.fp,
        "fn": None if others is None else others.fn,
        "meanIou": None if others is None else _round(others.sq),
        "classAgreed": None if others is None else others.class_agreed,
        "pq": _round(score.versus_consensus.pq),
        "instances": score.instances,
        "strayPixels": score.stray_pixels,
    }


def consensus_summary(consensus: Consensus, rejected: Sequence[Rejection] = ()) -> dict[str, Any]:
    """The ``consensus`` block: method, confidence, per-instance and per-worker figures."""
    return {
        "method": consensus.method,
        "version": __version__,
        "iouThreshold": consensus.iou_threshold,
        "confidence": _round(consensus.confidence),
        "instances": [
            {"support": list(i.support), "meanIou": _round(i.mean_iou)} for i in consensus.instances
        ],
        "workers": {s.worker_id: _worker_entry(s) for s in consensus.workers},
        "rejected": [r.to_dict() for r in rejected],
    }


def error_summary(
    error: GtConsensusError, rejected: Sequence[Rejection] = (), *, method: str
) -> dict[str, Any]:
    """The ``consensus`` block of an object that could not be consolidated."""
    return {
        "method": method,
        "version": __version__,
        "error": error.to_dict(),
        "rejected": [r.to_dict() for r in rejected],
    }


def label_value(
    original: Mapping[str, Any] | None,
    *,
    summary: Mapping[str, Any],
    element: str | None = None,
    result: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The new value of the label attribute: result, summary, then the original keys.

    The raw answers and any other key of the original value are kept as they were.
    """
    value: dict[str, Any] = {}
    if element is not None and result is not None:
        value[element] = dict(result)
    value["consensus"] = dict(summary)
    for key, item in (original or {}).items():
        if key not in value:
            value[key] = item
    return value
