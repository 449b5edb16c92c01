"""What ``speed.py`` times: the decode floor, gtconsensus, a straightforward reference, peers.

Every method takes a :class:`Case` (one output-manifest line and, per worker, the
colour of that worker's instance matching the image's largest truth instance) and
starts from the line's JSON text, so every method pays its own decode:

- :func:`decode_floor`: DESIGN.md's floor (JSON parse of the line and of each
  ``content``, base64 decode, Pillow decode to a numpy array), nothing else;
- :func:`run_gtconsensus`: ``gtconsensus.consolidate_line`` end to end (with zlib-ng
  inflating the PNGs and deflating the consensus when the ``fast`` extra is installed,
  as with ``[all]``);
  :func:`run_gtconsensus_stdlib_zlib` the same with the standard library's zlib, as a
  core-only install (``pip install gtconsensus``) runs it;
- :func:`reference_line`: a straightforward consolidation (full-image boolean mask per
  instance, pairwise ``logical_and``/``logical_or`` IoU, greedy clustering, majority);
- :func:`peers`: crowd-kit's ``SegmentationMajorityVote``, ``SegmentationRASA`` and
  ``SegmentationEM``, SimpleITK's ``STAPLEImageFilter``. They fuse binary masks only, so
  each gets one matched instance per image: each worker's mask of the largest truth
  instance (the worker's instance with IoU > 0.5 against it; an empty mask when the
  worker has none), decoded from the same PNGs inside the timed call.

The peers are imported lazily from the ``bench`` extra (``pip install -e '.[bench]'``);
:func:`peers` says why a peer is missing instead of failing.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
from PIL import Image

import gtconsensus.zlibs as zlibs
from gtconsensus import consolidate_line, encode_label_png
from gtconsensus.testing.synthetic import (
    DEFAULT_CLASSES,
    WorkerProfile,
    make_scene,
    manifest_line,
    simulate_worker,
    tool_colours,
    worker_answer,
)

ATTRIBUTE = "gt-label"
RAW_KEY = "annotationsFromAllWorkers"
ELEMENT = "annotatedResult"
_JOB_START = datetime.datetime(2026, 11, 20, 10, 0, 0)  # as in synthetic.make_manifest


@dataclass(frozen=True)
class Case:
    """One manifest line and, per worker, the colour of its mask of the largest truth
    instance (``None`` when the worker has no instance with IoU > 0.5 against it)."""

    line: str
    colours: tuple[str | None, ...]
    truth_pixels: int  # pixels of the largest truth instance (0: empty scene)


# --- data -----------------------------------------------------------------------------------


def _matched_label(truth: np.ndarray, target: int, worker: np.ndarray, count: int) -> int:
    """The worker's label with the highest IoU > 0.5 against truth label ``target`` (0: none)."""
    if target == 0 or count == 0:
        return 0
    inside = truth == target
    hits = np.bincount(worker[inside], minlength=count + 1)[1:].astype(np.int64)
    sizes = np.bincount(worker.ravel(), minlength=count + 1)[1:].astype(np.int64)
    iou = hits / np.maximum(sizes + int(inside.sum()) - hits, 1)
    best = int(np.argmax(iou))
    return best + 1 if iou[best] > 0.5 else 0


def make_cases(
    seed: int,
    n_lines: int,
    *,
    workers: int,
    height: int,
    width: int,
    instances: tuple[int, int],
    pool: Sequence[WorkerProfile],
    classes: Sequence[str] = DEFAULT_CLASSES,
    filters: str = "none",
) -> Iterator[Case]:
    """``synthetic.make_manifest``'s lines (the same bytes for the same arguments), with the
    matched colours of the largest truth instance, which the manifest does not carry.

    ``filters``: the PNGs' row filters, ``"none"`` as the tool writes them or
    ``"adaptive"`` as Pillow does (the same scenes and workers either way)."""
    low, high = instances
    rng = np.random.default_rng(seed)
    for index in range(n_lines):
        truth = make_scene(
            rng, height=height, width=width, n_instances=int(rng.integers(low, high + 1)),
            classes=classes,
        )  # fmt: skip
        sizes = np.bincount(truth.labels.ravel(), minlength=len(truth.classes) + 1)[1:]
        target = int(np.argmax(sizes)) + 1 if len(sizes) else 0
        panel = [pool[i] for i in rng.choice(len(pool), size=workers, replace=False).tolist()]
        answers = []
        colours: list[str | None] = []
        for profile in panel:
            drawn = simulate_worker(
                rng, truth.labels, truth.classes, boundary_noise=profile.boundary_noise,
                miss_rate=profile.miss_rate, spurious_rate=profile.spurious_rate,
                class_confusion=profile.class_confusion, classes=classes,
            )  # fmt: skip
            answer = worker_answer(drawn.labels, drawn.classes, filters=filters)
            answers.append((profile.worker_id, answer))
            label = _matched_label(truth.labels, target, drawn.labels, len(drawn.classes))
            colours.append(tool_colours(len(drawn.classes))[label - 1] if label else None)
        created = _JOB_START + datetime.timedelta(seconds=47 * index)
        line = manifest_line(
            f"s3://gtconsensus-example/images/street-{index + 1:05d}.jpg",
            answers,
            label_attribute=ATTRIBUTE,
            creation_date=created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        )
        yield Case(line, tuple(colours), int(sizes[target - 1]) if target else 0)


# --- the decode floor and gtconsensus -------------------------------------------------------


def _pngs(line: str) -> Iterator[bytes]:
    parsed = json.loads(line)
    for raw in parsed[ATTRIBUTE][RAW_KEY]:
        content = json.loads(raw["annotationData"]["content"])
        yield base64.b64decode(content[ELEMENT]["labeledImage"]["pngImageData"])


def decode_floor(case: Case) -> list[np.ndarray]:
    """What every consolidation pays: parse, base64, PNG to array (nothing else)."""
    arrays = []
    for png in _pngs(case.line):
        with Image.open(io.BytesIO(png)) as image:
            arrays.append(np.asarray(image))
    return arrays


def run_gtconsensus(case: Case) -> object:
    """``consolidate_line`` end to end; raises if the line came back with an error."""
    result = consolidate_line(case.line, label_attribute=ATTRIBUTE)
    if result.error is not None:
        raise RuntimeError(f"consolidate_line failed: {result.error}")
    return result


def run_gtconsensus_stdlib_zlib(case: Case) -> object:
    """``consolidate_line`` with the standard library's zlib inflating the PNGs and
    deflating the consensus, as without the ``fast`` extra (``GTCONSENSUS_ZLIB=zlib``),
    for a before and after in one run."""
    with mock.patch.object(zlibs, "_MODULE", zlib):
        return run_gtconsensus(case)


# --- the straightforward reference ---------------------------------------------------------


def _reference_masks(answer: dict[str, Any]) -> list[np.ndarray]:
    png = base64.b64decode(answer["labeledImage"]["pngImageData"])
    with Image.open(io.BytesIO(png)) as image:
        rgba = np.asarray(image.convert("RGBA"))
    masks = []
    for instance in answer["instances"]:
        code = int(instance["color"][1:], 16)
        red, green, blue = code >> 16, (code >> 8) & 0xFF, code & 0xFF
        masks.append(
            (rgba[..., 0] == red)
            & (rgba[..., 1] == green)
            & (rgba[..., 2] == blue)
            & (rgba[..., 3] > 0)
        )
    return masks


def _reference_clusters(masks: list[list[np.ndarray]]) -> list[dict[int, int]]:
    """Greedy clustering by descending IoU > 0.5, at most one instance per worker."""
    edges = []
    for w1 in range(len(masks)):
        for w2 in range(w1 + 1, len(masks)):
            for i, a in enumerate(masks[w1]):
                for j, b in enumerate(masks[w2]):
                    union = int(np.logical_or(a, b).sum())
                    iou = int(np.logical_and(a, b).sum()) / union if union else 0.0
                    if iou > 0.5:
                        edges.append((-iou, (w1, i), (w2, j)))
    clusters = [{w: i} for w in range(len(masks)) for i in range(len(masks[w]))]
    owner = {(w, i): k for k, c in enumerate(clusters) for w, i in c.items()}
    for _, first, second in sorted(edges):
        ka, kb = owner[first], owner[second]
        if ka == kb or set(clusters[ka]) & set(clusters[kb]):
            continue
        clusters[ka].update(clusters[kb])
        for member in clusters[kb].items():
            owner[member] = ka
        clusters[kb] = {}
    return [c for c in clusters if c]


def reference_line(case: Case) -> str:
    """A straightforward consolidation: per-instance full-image masks, majority vote."""
    parsed = json.loads(case.line)
    raws = parsed[ATTRIBUTE][RAW_KEY]
    answers = [json.loads(raw["annotationData"]["content"])[ELEMENT] for raw in raws]
    masks = [_reference_masks(answer) for answer in answers]
    height = answers[0]["inputImageProperties"]["height"]
    width = answers[0]["inputImageProperties"]["width"]
    need = len(answers) // 2 + 1
    consensus = np.zeros((height, width), dtype=np.uint8)
    classes: list[str] = []
    for cluster in _reference_clusters(masks):
        if len(cluster) < need:
            continue
        votes = sum(masks[w][i].astype(np.uint8) for w, i in cluster.items())
        fused = (np.asarray(votes) >= need) & (consensus == 0)
        if not fused.any():
            continue
        consensus[fused] = len(classes) + 1
        names = [answers[w]["instances"][i]["label"] for w, i in cluster.items()]
        classes.append(Counter(names).most_common(1)[0][0])
    png = base64.b64encode(encode_label_png(consensus)).decode("ascii")
    result = {
        "inputImageProperties": {"height": height, "width": width},
        "instances": [{"label": name} for name in classes],
        "labeledImage": {"pngImageData": png},
    }
    parsed[ATTRIBUTE] = {ELEMENT: result, RAW_KEY: raws}
    return json.dumps(parsed, separators=(",", ":"))


# --- peers: one binary mask per worker ------------------------------------------------------


def _binary_mask(image: Image.Image, colour: str | None) -> np.ndarray:
    """The worker's mask of one colour, decoded from its PNG (always decoded in full)."""
    if image.mode == "P":
        indices = np.asarray(image)
        if colour is not None:
            rgb = list(bytes.fromhex(colour[1:]))
            palette = image.getpalette() or []
            for index in range(len(palette) // 3):
                if palette[3 * index : 3 * index + 3] == rgb:
                    return indices == index
        return np.zeros(indices.shape, dtype=bool)
    rgba = np.asarray(image.convert("RGBA"))
    if colour is None:
        return np.zeros(rgba.shape[:2], dtype=bool)
    red, green, blue = bytes.fromhex(colour[1:])
    return (
        (rgba[..., 0] == red) & (rgba[..., 1] == green) & (rgba[..., 2] == blue)
        & (rgba[..., 3] > 0)
    )  # fmt: skip


def peer_masks(case: Case) -> list[np.ndarray]:
    """Each worker's binary mask of the largest truth instance, from the line's PNGs."""
    masks = []
    for png, colour in zip(_pngs(case.line), case.colours, strict=True):
        with Image.open(io.BytesIO(png)) as image:
            masks.append(_binary_mask(image, colour))
    return masks


def _crowdkit(name: str) -> Callable[[Case], np.ndarray]:
    import pandas as pd
    from crowdkit import aggregation

    aggregator = getattr(aggregation, name)

    def run(case: Case) -> np.ndarray:
        masks = peer_masks(case)
        data = pd.DataFrame({
            "task": ["image"] * len(masks),
            "worker": [f"w{k}" for k in range(len(masks))],
            "segmentation": masks,
        })  # fmt: skip
        with np.errstate(all="ignore"):  # RASA and EM divide by empty unions
            return np.asarray(aggregator().fit_predict(data).iloc[0])

    return run


def _staple() -> Callable[[Case], np.ndarray]:
    import SimpleITK

    # Single-threaded like everything else here (ITK would use both cores otherwise).
    SimpleITK.ProcessObject_SetGlobalDefaultNumberOfThreads(1)

    def run(case: Case) -> np.ndarray:
        images = [SimpleITK.GetImageFromArray(mask.view(np.uint8)) for mask in peer_masks(case)]
        staple = SimpleITK.STAPLEImageFilter()
        staple.SetForegroundValue(1)
        probability = staple.Execute(*images)
        with np.errstate(invalid="ignore"):  # NaN where no worker painted anything
            return SimpleITK.GetArrayViewFromImage(probability) > 0.5

    return run


#: Peer rows: key, label, how to build the timed function.
PEERS: tuple[tuple[str, str, Callable[[], Callable[[Case], np.ndarray]]], ...] = (
    ("mv", "crowd-kit `SegmentationMajorityVote`", lambda: _crowdkit("SegmentationMajorityVote")),
    ("rasa", "crowd-kit `SegmentationRASA`", lambda: _crowdkit("SegmentationRASA")),
    ("em", "crowd-kit `SegmentationEM`", lambda: _crowdkit("SegmentationEM")),
    ("staple", "SimpleITK `STAPLEImageFilter`", _staple),
)


def peers() -> dict[str, Callable[[Case], np.ndarray] | str]:
    """Each peer's timed function, or why it is unavailable (the bench extra is missing)."""
    found: dict[str, Callable[[Case], np.ndarray] | str] = {}
    for key, _, build in PEERS:
        try:
            found[key] = build()
        except ImportError as exc:
            found[key] = f"not installed ({exc.name or exc}); pip install -e '.[bench]'"
    return found
