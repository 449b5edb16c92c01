"""COCO export: the consensus instances of an output manifest as COCO annotations.

One ``images`` entry per consolidated line (``file_name`` is the line's
``source-ref``, ``id`` its line number), one ``annotations`` entry per consensus
instance, with its mask as compressed RLE (the string form pycocotools'
``mask.encode`` writes, column-major), ``bbox`` ``[x, y, width, height]``,
``area`` in pixels, ``iscrowd`` 0 and ``score`` the instance's confidence.
Categories are the class names seen in the consensus and in the workers'
answers, sorted, numbered from 1. Lines that failed are left out and counted.

The encoder is written here (numpy only); the tests check it against
pycocotools.

Examples
--------
>>> import numpy as np
>>> labels = np.array([[0, 1], [1, 1]], np.uint8)
>>> rle = encode_rle(labels == 1)
>>> rle
{'size': [2, 2], 'counts': '13'}
>>> decode_rle(rle).astype(int).tolist()
[[0, 1], [1, 1]]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gtconsensus._typing import BoolMask, IntArray, LabelImage
from gtconsensus._version import __version__
from gtconsensus.answers import Fetch
from gtconsensus.contract import RAW_KEY
from gtconsensus.matching import instance_stats
from gtconsensus.review.outputs import OutputObject, iter_output_objects

__all__ = [
    "CocoExport",
    "build_coco",
    "decode_rle",
    "encode_rle",
    "export_coco",
    "label_runs",
    "rle_string",
]


def rle_string(counts: Iterable[int]) -> str:
    """Counts as COCO's compressed RLE string (pycocotools' ``rleToString``).

    Each count, after the third minus the count two before it, is written in
    5-bit groups with a continuation bit, offset by 48 into printable ASCII.

    Examples
    --------
    >>> rle_string([0, 3, 1])
    '031'
    """
    values = [int(c) for c in counts]
    out = []
    for index, value in enumerate(values):
        x = value - values[index - 2] if index > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as on C's long
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _string_counts(text: str) -> list[int]:
    """Inverse of :func:`rle_string` (pycocotools' ``rleFrString``)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        x, shift, more = 0, 0, True
        while more:
            c = ord(text[position]) - 48
            x |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            position += 1
            shift += 1
            if not more and c & 0x10:
                x |= -1 << (5 * shift)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def label_runs(labels: LabelImage) -> tuple[IntArray, IntArray, IntArray]:
    """Runs of equal labels in column-major order: ``(starts, lengths, values)``.

    Examples
    --------
    >>> [r.tolist() for r in label_runs(np.array([[0, 1], [1, 1]], np.uint8))]
    [[0, 1], [1, 3], [0, 1]]
    """
    flat = np.asarray(labels).ravel(order="F")
    if flat.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1)).astype(np.int64)
    lengths = np.diff(np.append(starts, flat.size)).astype(np.int64)
    return starts, lengths, flat[starts].astype(np.int64)


def _counts_of(starts: IntArray, lengths: IntArray, total: int) -> list[int]:
    """RLE counts (zeros first) of the runs ``starts``/``lengths`` in ``total`` pixels."""
    counts: list[int] = []
    position = 0
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        if counts and start == position:  # adjacent runs (never from label_runs) merge
            counts[-1] += length
        else:
            counts += [start - position, length]
        position = start + length
    counts.append(total - position)
    return counts if counts[-1] else counts[:-1]


def encode_rle(mask: BoolMask) -> dict[str, Any]:
    """A boolean ``(H, W)`` mask as COCO compressed RLE ``{"size": [H, W], "counts": str}``."""
    starts, lengths, values = label_runs(np.asarray(mask, dtype=np.uint8))
    keep = values == 1
    counts = _counts_of(starts[keep], lengths[keep], int(np.asarray(mask).size))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": rle_string(counts)}


def decode_rle(rle: dict[str, Any]) -> BoolMask:
    """A COCO RLE (compressed string or list of counts) back to a boolean ``(H, W)`` mask."""
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    counts = _string_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    if flat.size != height * width:
        raise ValueError(f"RLE counts cover {flat.size} pixels, expected {height}x{width}")
    return np.asarray(flat.reshape((width, height)).T)


def _answer_classes(obj: OutputObject) -> set[str]:
    """Class names in the workers' answers (cheap: JSON only, no PNG)."""
    names: set[str] = set()
    raws = obj.value.get(RAW_KEY)
    for raw in raws if isinstance(raws, list) else []:
        try:
            content = json.loads(raw["annotationData"]["content"])
            for answer in content.values():
                names.update(str(i["label"]) for i in answer.get("instances") or [])
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return names


def _annotations(
    obj: OutputObject, labels: LabelImage, categories: dict[str, int], first_id: int
) -> list[dict[str, Any]]:
    height, width = labels.shape
    stats = instance_stats(labels, len(obj.instances))
    starts, lengths, values = label_runs(labels)
    order = np.argsort(values, kind="stable")
    bounds = np.searchsorted(values[order], np.arange(len(obj.instances) + 2))
    out: list[dict[str, Any]] = []
    for k, instance in enumerate(obj.instances, start=1):
        runs = np.sort(order[bounds[k] : bounds[k + 1]])
        if runs.size == 0:
            continue
        row_start, row_stop, col_start, col_stop = (int(v) for v in stats.boxes[k])
        counts = _counts_of(starts[runs], lengths[runs], height * width)
        out.append(
            {
                "id": first_id + len(out),
                "image_id": obj.line,
                "category_id": categories[instance.label],
                "segmentation": {"size": [height, width], "counts": rle_string(counts)},
                "area": int(stats.areas[k]),
                "bbox": [col_start, row_start, col_stop - col_start, row_stop - row_start],
                "iscrowd": 0,
                "score": instance.confidence if instance.confidence is not None else 0.0,
            }
        )
    return out


@dataclass(frozen=True, slots=True)
class CocoExport:
    """What :func:`export_coco` wrote: counts, and the lines left out ``(line, code)``."""

    images: int
    annotations: int
    categories: int
    skipped: tuple[tuple[int, str], ...]


def build_coco(objects: Iterable[OutputObject]) -> tuple[dict[str, Any], CocoExport]:
    """The COCO dataset of the consolidated objects, and a summary of it."""
    kept: list[tuple[OutputObject, LabelImage]] = []
    skipped: list[tuple[int, str]] = []
    names: set[str] = set()
    for obj in objects:
        if obj.error is not None or obj.labels is None:
            skipped.append((obj.line, obj.error[0] if obj.error else "not_consolidated"))
            continue
        kept.append((obj, obj.labels))
        names.update(i.label for i in obj.instances)
        names |= _answer_classes(obj)
    categories = {name: index for index, name in enumerate(sorted(names), start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for obj, labels in kept:
        width, height = obj.size or (0, 0)
        images.append(
            {"id": obj.line, "file_name": obj.source_ref or "", "width": width, "height": height}
        )
        annotations += _annotations(obj, labels, categories, len(annotations) + 1)
    dataset = {
        "info": {
            "description": "consensus instances exported by gtconsensus",
            "version": __version__,
        },
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in categories.items()],
    }
    summary = CocoExport(len(images), len(annotations), len(categories), tuple(skipped))
    return dataset, summary


def export_coco(
    manifest: str | Path,
    output: str | Path,
    *,
    label_attribute: str | None = None,
    fetch: Fetch | None = None,
) -> CocoExport:
    """Write the COCO annotations of an output manifest to ``output`` (JSON).

    ``fetch`` reads what the Lambda's ``-ref`` keys point to (an object's whole
    value in S3); without it such lines are left out (``unresolved_reference``).
    """
    objects = iter_output_objects(manifest, label_attribute=label_attribute, fetch=fetch)
    dataset, summary = build_coco(objects)
    text = json.dumps(dataset, separators=(",", ":"), ensure_ascii=False)
    Path(output).write_text(text + "\n", encoding="utf-8")
    return summary
