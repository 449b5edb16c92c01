"""Send doubtful images back: an input manifest for a Ground Truth adjustment job.

:func:`select_for_adjustment` picks the consolidated lines worth a second look
(image confidence below a threshold, fewer workers than wanted, workers who
disagree on instances (:func:`disagreement`), or answers that were rejected);
:func:`adjustment_line` turns one into an input-manifest line that carries the
consensus as the starting point::

    {"source-ref": "s3://bucket/images/street-00012.jpg",
     "gtconsensus-initial-value": {
         "src": "s3://bucket/adjust/000012.png",
         "instances": [{"color": "#1f77b4", "label": "Person"}]},
     "gtconsensus-adjustment": {"line": 12, "confidence": 0.41,
                                "disagreement": 0.25, "reasons": ["below"]}}

``src`` is the consensus PNG exactly as consolidated (palette, index 0
transparent, index ``i`` the colour of ``instances[i - 1]``), written as a file
by :func:`write_adjustment_manifest`. The pre-annotation Lambda
(:mod:`gtconsensus.adapters.pre_annotation`) passes it on to the worker
template as ``task.input.initialValue``, and the template gives it to
``crowd-instance-segmentation`` as ``initial-value``, so the worker opens the
image with the consensus drawn. The adjusted answers come back through the
same consolidation (the two keys pass through it unchanged).

Examples
--------
>>> from gtconsensus.lines import consolidate_line
>>> from gtconsensus.review.outputs import parse_output_line
>>> from gtconsensus.testing.synthetic import make_manifest
>>> text = consolidate_line(next(make_manifest(1, 1, height=24, width=32))).output
>>> obj = parse_output_line(text, number=1)
>>> adjustment_reasons(obj, below=1.0)
('below',)
>>> line = adjustment_line(obj, "s3://bucket/adjust/000001.png", reasons=("below",))
>>> sorted(line), line["gtconsensus-initial-value"]["src"]
(['gtconsensus-adjustment', 'gtconsensus-initial-value', 'source-ref'], \
's3://bucket/adjust/000001.png')
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtconsensus.answers import Fetch
from gtconsensus.exceptions import OptionsError
from gtconsensus.gold import METHOD_GOLD
from gtconsensus.review.outputs import OutputObject, iter_output_objects
from gtconsensus.review.store import Store, join_location

__all__ = [
    "ADJUSTMENT_KEY",
    "INITIAL_VALUE_KEY",
    "AdjustmentExport",
    "adjustment_line",
    "adjustment_reasons",
    "consensus_png",
    "disagreement",
    "select_for_adjustment",
    "write_adjustment_manifest",
]

#: The manifest key holding the starting point (read by the pre-annotation Lambda).
INITIAL_VALUE_KEY = "gtconsensus-initial-value"
#: The manifest key saying where the line came from and why it was chosen.
ADJUSTMENT_KEY = "gtconsensus-adjustment"


def _check_options(
    below: float | None, min_workers: int | None, rejected: bool, disagreeing: float | None
) -> None:
    if below is None and min_workers is None and not rejected and disagreeing is None:
        raise OptionsError(
            "bad_option",
            "choose at least one of `below`, `min_workers`, `disagreement` and `rejected`",
        )
    if disagreeing is not None and not 0.0 < disagreeing <= 1.0:
        raise OptionsError("bad_option", f"`disagreement` must be in (0, 1], got {disagreeing}")
    if below is not None and not 0.0 <= below <= 1.0:
        raise OptionsError("bad_option", f"`below` must be in [0, 1], got {below}")
    if min_workers is not None and min_workers < 1:
        raise OptionsError("bad_option", f"`min_workers` must be >= 1, got {min_workers}")


def disagreement(obj: OutputObject) -> float:
    """How much the workers of a consolidated line depart from its consensus, in [0, 1].

    Every pair (worker, instance) is a decision: for each consensus instance,
    each worker who answered the image either drew it (``support``) or missed
    it; and each instance a worker drew that is in no consensus instance's
    support (``instances`` of ``consensus.workers`` minus the worker's
    supported ones) is an extra. The disagreement is ``(missed + extra) /
    (drawn + missed + extra)``: 0.0 when every worker drew exactly the
    consensus instances (boundaries may still differ: that is the confidence's
    business) or there is nothing to decide (every answer empty), 1.0 when
    nothing any worker drew was kept. Two of three workers finding an instance
    gives 1/3.

    Examples
    --------
    >>> from gtconsensus.review.outputs import ConsensusInstance, OutputObject
    >>> car = ConsensusInstance("Car", "#1f77b4", 0.6, ("a", "b"), 0.9)
    >>> workers = {"a": {"instances": 1}, "b": {"instances": 2}, "c": {"instances": 0}}
    >>> obj = OutputObject(1, "s3://b/1.jpg", None, instances=(car,),
    ...                    summary={"workers": workers})
    >>> disagreement(obj)  # c missed the Car, b drew an extra: 2 of 4 decisions
    0.5
    """
    workers = obj.workers
    drawn = sum(len(i.support) for i in obj.instances)
    missed = sum(len(workers) - len(i.support) for i in obj.instances)
    supported: dict[str, int] = {}
    for instance in obj.instances:
        for worker in instance.support:
            supported[worker] = supported.get(worker, 0) + 1
    extra = 0
    for worker, entry in workers.items():
        count = entry.get("instances")
        if isinstance(count, int):
            extra += max(count - supported.get(worker, 0), 0)
    total = drawn + missed + extra
    return (missed + extra) / total if total else 0.0


def adjustment_reasons(
    obj: OutputObject,
    *,
    below: float | None = None,
    min_workers: int | None = None,
    rejected: bool = False,
    disagreeing: float | None = None,
) -> tuple[str, ...]:
    """Why a consolidated line should be adjusted; empty when it should not.

    ``"below"``: the image's confidence is below ``below`` (a line without a
    confidence counts as 0.0); ``"few_workers"``: fewer than ``min_workers``
    workers' answers were consolidated; ``"disagreement"``: the line's
    :func:`disagreement` is at least ``disagreeing`` (in (0, 1]);
    ``"rejected"``: some answers were rejected (only when ``rejected`` is
    true). A failed line is never chosen: it has no consensus to start from;
    nor is a line decided by its gold answer (``consensus.method`` ``"gold"``):
    it was reviewed already.
    """
    _check_options(below, min_workers, rejected, disagreeing)
    if obj.error is not None or obj.summary.get("method") == METHOD_GOLD:
        return ()
    reasons = []
    if below is not None and (obj.confidence or 0.0) < below:
        reasons.append("below")
    if min_workers is not None and len(obj.workers) < min_workers:
        reasons.append("few_workers")
    if disagreeing is not None and disagreement(obj) >= disagreeing:
        reasons.append("disagreement")
    if rejected and obj.summary.get("rejected"):
        reasons.append("rejected")
    return tuple(reasons)


def select_for_adjustment(
    objects: Iterable[OutputObject],
    *,
    below: float | None = None,
    min_workers: int | None = None,
    rejected: bool = False,
    disagreeing: float | None = None,
) -> Iterator[tuple[OutputObject, tuple[str, ...]]]:
    """The lines :func:`adjustment_reasons` chooses, with their reasons, in order."""
    _check_options(below, min_workers, rejected, disagreeing)
    for obj in objects:
        reasons = adjustment_reasons(
            obj, below=below, min_workers=min_workers, rejected=rejected, disagreeing=disagreeing
        )
        if reasons:
            yield obj, reasons


def _element(obj: OutputObject) -> dict[str, Any]:
    for item in obj.value.values():
        if isinstance(item, dict) and "labeledImage" in item:
            return item
    raise OptionsError("failed_line", f"line {obj.line} holds no consensus answer")


def consensus_png(obj: OutputObject) -> bytes:
    """The consensus PNG of a consolidated line, as the bytes it was written with."""
    data = _element(obj)["labeledImage"]["pngImageData"]
    return base64.b64decode(data)


def adjustment_line(
    obj: OutputObject, png_location: str, *, reasons: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The input-manifest line that sends ``obj`` to an adjustment job.

    ``png_location`` is where the consensus PNG was written (an ``s3://`` URI
    for a real job: the worker template makes it readable with
    ``grant_read_access``).
    """
    if obj.error is not None or obj.source_ref is None:
        raise OptionsError("failed_line", f"line {obj.line} has no consensus to adjust")
    instances = [{"color": i.colour, "label": i.label} for i in obj.instances]
    return {
        "source-ref": obj.source_ref,
        INITIAL_VALUE_KEY: {"src": png_location, "instances": instances},
        ADJUSTMENT_KEY: {
            "line": obj.line,
            "confidence": obj.confidence,
            "disagreement": round(disagreement(obj), 4),
            "reasons": list(reasons),
        },
    }


@dataclass(frozen=True, slots=True)
class AdjustmentExport:
    """What :func:`write_adjustment_manifest` wrote: lines chosen, read and failed."""

    chosen: int
    lines: int
    failed: tuple[tuple[int, str], ...]


def write_adjustment_manifest(
    manifest: str | Path,
    output: str | Path,
    *,
    images_out: str,
    images_url: str | None = None,
    below: float | None = None,
    min_workers: int | None = None,
    rejected: bool = False,
    label_attribute: str | None = None,
    disagreeing: float | None = None,
    fetch: Fetch | None = None,
) -> AdjustmentExport:
    """Write the adjustment input manifest of an output manifest, and its PNGs.

    Parameters
    ----------
    manifest, output : path
        The consolidated output manifest read; the input manifest written.
    images_out : str
        Folder or ``s3://`` prefix the consensus PNGs are written to
        (``NNNNNN.png``, the line number).
    images_url : str, optional
        The prefix the manifest names the PNGs by (default ``images_out``):
        the S3 prefix a local folder will be uploaded to.
    below, min_workers, rejected, disagreeing
        The choice, see :func:`adjustment_reasons`.
    fetch : callable, optional
        Reads what the Lambda's ``-ref`` keys point to; without it such lines
        are left out (``unresolved_reference``).
    """
    _check_options(below, min_workers, rejected, disagreeing)
    store = Store(images_out)
    chosen = lines = 0
    failed: list[tuple[int, str]] = []
    with open(output, "w", encoding="utf-8") as out:
        for obj in iter_output_objects(
            manifest, label_attribute=label_attribute, fetch=fetch, decode=False
        ):
            lines += 1
            if obj.error is not None:
                failed.append((obj.line, obj.error[0]))
                continue
            reasons = adjustment_reasons(
                obj, below=below, min_workers=min_workers, rejected=rejected,
                disagreeing=disagreeing,
            )  # fmt: skip
            if not reasons:
                continue
            name = f"{obj.line:06d}.png"
            location = store.write(name, consensus_png(obj))
            if images_url is not None:
                location = join_location(images_url, name)
            line = adjustment_line(obj, location, reasons=reasons)
            out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
            chosen += 1
    return AdjustmentExport(chosen, lines, tuple(failed))
