"""Masks for training pipelines: the consensus in the shape of Ground Truth's built-in output.

:func:`export_masks` writes, under one destination (a folder or an ``s3://``
prefix):

- ``NNNNNN.png`` per consolidated line (``NNNNNN`` the line number): a palette
  PNG of classes, index 0 the background and index ``c`` the class
  ``classes[c - 1]``, coloured as in the class map;
- ``NNNNNN-instances.png``: the consensus PNG as consolidated (index ``i`` is
  instance ``i``), for the instance ids;
- ``class-map.json``: ``{"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"},
  "1": {"class-name": ..., "hex-color": ...}, ...}``, the same for every image;
- ``output.manifest``: one line per consolidated line, shaped like the output of
  Ground Truth's built-in semantic-segmentation task::

    {"source-ref": "s3://bucket/images/street-00001.jpg",
     "gt-label-ref": "s3://bucket/masks/000001.png",
     "gt-label-ref-metadata": {
         "internal-color-map": {
             "0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 0.8},
             "1": {"class-name": "Person", "hex-color": "#1f77b4", "confidence": 0.91}},
         "type": "groundtruth/semantic-segmentation", "human-annotated": "yes",
         "creation-date": "...", "job-name": "gt-label",
         "gtconsensus-instances": {"ref": "s3://bucket/masks/000001-instances.png",
                                   "instances": [{"label": "Person", "color": "#1f77b4",
                                                  "confidence": 0.91}]}}}

``internal-color-map`` lists every class of the export, so a palette index
means the same class in every image. The confidence of a class is the mean
confidence of its consensus instances in the image; a class absent from the
image, and the background, get the image's confidence (the workers agreed
there is nothing else). Tools that read built-in output read ours: palette
index to class through ``internal-color-map``, or RGB colour to class through
its ``hex-color``.

Examples
--------
>>> class_colours(["Car", "Person"])
{'BACKGROUND': '#ffffff', 'Car': '#1f77b4', 'Person': '#ff7f0e'}
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gtconsensus._typing import LabelImage
from gtconsensus.answers import Fetch
from gtconsensus.exceptions import OptionsError
from gtconsensus.lines import infer_label_attribute
from gtconsensus.masks import instance_colours
from gtconsensus.review.adjust import consensus_png
from gtconsensus.review.outputs import OutputObject, iter_output_objects, parse_output_line
from gtconsensus.review.store import Store

__all__ = [
    "BACKGROUND",
    "MaskExport",
    "class_colours",
    "class_labels",
    "encode_class_png",
    "export_masks",
    "mask_line",
]

#: The background's class name and colour, as in Ground Truth's built-in output.
BACKGROUND, BACKGROUND_COLOUR = "BACKGROUND", "#ffffff"
_MAX_CLASSES = 255


def class_colours(classes: Sequence[str]) -> dict[str, str]:
    """The class map's colours: background white, then ``instance_colours`` in order."""
    if len(classes) > _MAX_CLASSES:
        raise OptionsError("bad_option", f"at most {_MAX_CLASSES} classes, got {len(classes)}")
    colours = {BACKGROUND: BACKGROUND_COLOUR}
    colours.update(zip(classes, instance_colours(len(classes)), strict=True))
    return colours


def class_labels(obj: OutputObject, class_index: dict[str, int]) -> LabelImage:
    """The ``(H, W)`` uint8 class image of a consolidated line (0 background).

    Raises
    ------
    OptionsError
        ``bad_option`` when an instance's class is not in ``class_index``.
    """
    if obj.labels is None:
        raise OptionsError("failed_line", f"line {obj.line} has no consensus")
    missing = sorted({i.label for i in obj.instances} - set(class_index))
    if missing:
        raise OptionsError("bad_option", f"classes {missing} of line {obj.line} are not listed")
    lut = np.array([0] + [class_index[i.label] for i in obj.instances], dtype=np.uint8)
    return np.asarray(lut[obj.labels])


def encode_class_png(classes_image: LabelImage, colours: Sequence[str]) -> bytes:
    """A palette PNG of a class image; index ``c`` coloured ``colours[c]`` (``#rrggbb``)."""
    height, width = classes_image.shape
    data = np.ascontiguousarray(classes_image, dtype=np.uint8).tobytes()
    image = Image.frombytes("P", (width, height), data)
    image.putpalette(b"".join(bytes.fromhex(c[1:]) for c in colours), rawmode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def mask_line(
    obj: OutputObject,
    *,
    attribute: str,
    classes: Sequence[str],
    mask_ref: str,
    instances_ref: str,
    job_name: str | None = None,
    creation_date: str,
) -> dict[str, Any]:
    """The output-manifest line of one consolidated line (see the module docstring)."""
    colours = class_colours(classes)
    image_confidence = round(obj.confidence or 0.0, 4)
    scores: dict[str, list[float]] = {}
    for instance in obj.instances:
        scores.setdefault(instance.label, []).append(instance.confidence or 0.0)
    colour_map = {}
    for index, name in enumerate([BACKGROUND, *classes]):
        found = scores.get(name)
        confidence = round(sum(found) / len(found), 4) if found else image_confidence
        colour_map[str(index)] = {
            "class-name": name,
            "hex-color": colours[name],
            "confidence": confidence,
        }
    instances = [
        {"label": i.label, "color": i.colour, "confidence": i.confidence} for i in obj.instances
    ]
    return {
        "source-ref": obj.source_ref,
        f"{attribute}-ref": mask_ref,
        f"{attribute}-ref-metadata": {
            "internal-color-map": colour_map,
            "type": "groundtruth/semantic-segmentation",
            "human-annotated": "yes",
            "creation-date": creation_date,
            "job-name": job_name or attribute,
            "gtconsensus-instances": {"ref": instances_ref, "instances": instances},
        },
    }


@dataclass(frozen=True, slots=True)
class MaskExport:
    """What :func:`export_masks` wrote: images, classes, and the lines left out."""

    images: int
    classes: tuple[str, ...]
    failed: tuple[tuple[int, str], ...]
    manifest: str


def _objects(
    path: str | Path, label_attribute: str | None, fetch: Fetch | None
) -> Iterator[tuple[str, OutputObject]]:
    """``(label attribute, object)`` per non-blank line."""
    with open(path, "rb") as lines:  # a line that is not UTF-8 fails alone
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            attribute = label_attribute or "consensus"
            if label_attribute is None:
                with contextlib.suppress(ValueError, AttributeError):  # SchemaError too
                    attribute = infer_label_attribute(json.loads(text))
            yield (
                attribute,
                parse_output_line(
                    text, number=number, label_attribute=label_attribute, fetch=fetch
                ),
            )


def export_masks(
    manifest: str | Path,
    destination: str,
    *,
    classes: Sequence[str] | None = None,
    attribute: str | None = None,
    label_attribute: str | None = None,
    fetch: Fetch | None = None,
) -> MaskExport:
    """Write the consensus of an output manifest as class PNGs, a class map and a manifest.

    Parameters
    ----------
    manifest : path
        The consolidated output manifest.
    destination : str
        A folder (created) or an ``s3://`` prefix (boto3, the ``aws`` extra).
    classes : sequence of str, optional
        The classes in index order (default: every class of the consensus, sorted);
        give them to keep indices stable across exports.
    attribute : str, optional
        The attribute written (``<attribute>-ref``); default: each line's label attribute.
    label_attribute : str, optional
        The key holding the consolidated value (default: inferred per line).
    fetch : callable, optional
        Reads what the Lambda's ``-ref`` keys point to; without it such lines
        are left out (``unresolved_reference``).
    """
    if classes is None:
        names: set[str] = set()
        for obj in iter_output_objects(
            manifest, label_attribute=label_attribute, fetch=fetch, decode=False
        ):
            names.update(i.label for i in obj.instances)
        classes = sorted(names)
    classes = list(classes)
    if len(set(classes)) != len(classes) or BACKGROUND in classes:
        raise OptionsError("bad_option", f"`classes` must be distinct and not {BACKGROUND}")
    colours = class_colours(classes)
    class_index = {name: index for index, name in enumerate(classes, start=1)}
    palette = [colours[BACKGROUND], *(colours[name] for name in classes)]
    store = Store(destination)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    out: list[str] = []
    failed: list[tuple[int, str]] = []
    for line_attribute, obj in _objects(manifest, label_attribute, fetch):
        if obj.error is not None:
            failed.append((obj.line, obj.error[0]))
            continue
        name = f"{obj.line:06d}"
        mask_ref = store.write(
            f"{name}.png", encode_class_png(class_labels(obj, class_index), palette)
        )
        instances_ref = store.write(f"{name}-instances.png", consensus_png(obj))
        line = mask_line(
            obj,
            attribute=attribute or line_attribute,
            classes=classes,
            mask_ref=mask_ref,
            instances_ref=instances_ref,
            job_name=line_attribute,
            creation_date=created,
        )
        out.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
    class_map = {
        str(i): {"class-name": n, "hex-color": colours[n]}
        for i, n in enumerate([BACKGROUND, *classes])
    }
    store.write(
        "class-map.json", json.dumps(class_map, indent=1).encode(), content_type="application/json"
    )
    text = "".join(line + "\n" for line in out).encode("utf-8")
    location = store.write("output.manifest", text, content_type="application/jsonlines")
    return MaskExport(len(out), tuple(classes), tuple(failed), location)
