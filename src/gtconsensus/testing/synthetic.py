"""Synthetic Ground Truth data: street-like scenes, simulated workers, manifest lines.

A small, deterministic generator (numpy and Pillow only, no extra needed) of what a
``crowd-instance-segmentation`` job produces:

- :func:`make_scene` paints a truth label image: ellipses and rectangles, some
  touching or occluding one another, covering a minority of the image;
- :func:`simulate_worker` draws one worker's answer from the truth, with boundary
  jitter, missed instances, spurious blobs and class swaps;
- :func:`worker_answer` writes the answer the tool submits (palette PNG with index 0
  black and transparent, colours from category10 in the tool's own order);
- :func:`manifest_line` and :func:`make_manifest` write output-manifest lines in the
  form of the recipe's pass-through Lambda (``annotationsFromAllWorkers``).

Every function takes its randomness from a ``numpy.random.Generator`` (or a seed),
so the same arguments give the same arrays and the same bytes.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> truth = make_scene(rng, height=48, width=64, n_instances=3)
>>> worker = simulate_worker(rng, truth.labels, truth.classes, boundary_noise=1.0)
>>> answer = worker_answer(worker.labels, worker.classes)
>>> sorted(answer["annotatedResult"])
['inputImageProperties', 'instances', 'labeledImage']
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, PngImagePlugin

from gtconsensus._typing import BoolMask, LabelImage
from gtconsensus.exceptions import OptionsError
from gtconsensus.masks import instance_colours
from gtconsensus.matching import instance_stats

__all__ = [
    "DEFAULT_CLASSES",
    "DEFAULT_POOL",
    "TOOL_COLOUR_ORDER",
    "Annotation",
    "WorkerProfile",
    "encode_answer_png",
    "make_manifest",
    "make_scene",
    "manifest_line",
    "refresh_png_crcs",
    "simulate_worker",
    "tool_colours",
    "worker_answer",
]

#: Classes of the example street-scene job.
DEFAULT_CLASSES = ("Car", "Person", "Bicycle")
#: Width / height of a typical object of each class (others: 1.0).
_ASPECTS = {"Car": 1.8, "Person": 0.4, "Bicycle": 1.3}
#: Category10 in the order the tool tends to hand colours out (seen in real answers).
TOOL_COLOUR_ORDER = (
    "#2ca02c", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_SRGB_CHUNK = (b"sRGB", b"\x01")  # the tool's PNGs carry it (relative colorimetric)
_JOB_START = datetime.datetime(2026, 11, 20, 10, 0, 0)


class Annotation(NamedTuple):
    """A label image and the class of each instance (label ``i + 1`` is ``classes[i]``)."""

    labels: LabelImage
    classes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WorkerProfile:
    """A simulated worker: an id and how they err (see :func:`simulate_worker`)."""

    worker_id: str
    name: str
    boundary_noise: float
    miss_rate: float
    spurious_rate: float
    class_confusion: float


#: A pool of five workers from careful to spammer; ids look like private-workforce ids.
DEFAULT_POOL = (
    WorkerProfile("private.us-east-1.MBYVEFYFZNCO7HADUSARN7NF2A", "good", 0.8, 0.03, 0.03, 0.01),
    WorkerProfile("private.us-east-1.S375XLYEHOW3XG3XQPMOK2ROKO", "careful", 1.2, 0.06, 0.05, 0.02),
    WorkerProfile("private.us-east-1.47RFA3FUOY7F4N5PPOQP5VI4EF", "average", 2.0, 0.12, 0.15, 0.05),
    WorkerProfile("private.us-east-1.ARBHPRMLLLMTXYAF7W56IX47XS", "sloppy", 4.0, 0.25, 0.4, 0.12),
    WorkerProfile("private.us-east-1.G2ZTT54PY2XYF2MDO42I77KZEL", "spammer", 7.0, 0.6, 1.2, 0.4),
)


def _label_dtype(n: int) -> type[np.unsignedinteger]:
    return np.uint8 if n <= 255 else np.uint16


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise OptionsError("bad_option", f"`{name}` must be >= 1, got {value}")


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise OptionsError("bad_option", f"`{name}` must be in [0, 1], got {value}")


Box = tuple[int, int, int, int]  # (row_start, row_stop, col_start, col_stop); empty: r1 == 0
_NO_BOX: Box = (0, 0, 0, 0)


def _paint_shape(
    rng: np.random.Generator, labels: LabelImage, label: int, centre: tuple[float, float],
    half: tuple[float, float],
) -> Box:  # fmt: skip
    """Paint an ellipse (or, one time in three, a rectangle) over ``labels`` in place."""
    height, width = labels.shape
    (cy, cx), (hy, hx) = centre, half
    r0, r1 = max(int(cy - hy), 0), min(int(np.ceil(cy + hy)), height)
    c0, c1 = max(int(cx - hx), 0), min(int(np.ceil(cx + hx)), width)
    if r1 <= r0 or c1 <= c0:
        return _NO_BOX
    if rng.random() < 1 / 3:
        labels[r0:r1, c0:c1] = label
        return (r0, r1, c0, c1)
    rows = (np.arange(r0, r1) + 0.5 - cy)[:, None] / hy
    cols = (np.arange(c0, c1) + 0.5 - cx)[None, :] / hx
    labels[r0:r1, c0:c1][rows**2 + cols**2 <= 1.0] = label
    return (r0, r1, c0, c1)


def _densify(labels: LabelImage, classes: Sequence[str], boxes: Sequence[Box]) -> Annotation:
    """Drop labels that later paint hid (or that never got a pixel); renumber 1..K.

    ``boxes[i]`` is where label ``i + 1`` was painted, so the check stays local.
    """
    present = [
        r1 > 0 and bool((labels[r0:r1, c0:c1] == i).any())
        for i, (r0, r1, c0, c1) in enumerate(boxes, start=1)
    ]
    if all(present):
        return Annotation(labels, tuple(classes))
    kept = [i for i, flag in enumerate(present) if flag]
    lut = np.zeros(len(classes) + 1, dtype=_label_dtype(len(kept)))
    lut[np.array(kept, dtype=np.intp) + 1] = np.arange(1, len(kept) + 1)
    return Annotation(np.take(lut, labels), tuple(classes[i] for i in kept))


def make_scene(
    rng: np.random.Generator,
    *,
    height: int,
    width: int,
    n_instances: int,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> Annotation:
    """Paint a street-like truth: objects on the lower part of the image.

    Objects are painted in order, so a later one hides part of an earlier one;
    about a third are placed against a previous object (touching or occluding).
    People are tall, cars and bicycles wide; each object spans 6 to 30 % of the
    image height, so a few objects cover a minority of the image.

    Parameters
    ----------
    rng : numpy.random.Generator
    height, width : int
        Image size in pixels; the result has shape ``(height, width)``.
    n_instances : int
        Objects to paint. One that later objects hide completely is dropped, so
        the scene may hold fewer.
    classes : sequence of str
        Class names to draw from, uniformly.

    Returns
    -------
    Annotation
        ``labels`` of shape (H, W) (uint8, or uint16 above 255 instances), dense
        1..K in painting order, and one class per instance.

    Examples
    --------
    >>> scene = make_scene(np.random.default_rng(0), height=30, width=40, n_instances=2)
    >>> scene.labels.shape, scene.labels.dtype, len(scene.classes)
    ((30, 40), dtype('uint8'), 2)
    >>> int(scene.labels.max()), bool((scene.labels == 0).mean() > 0.5)
    (2, True)
    """
    _positive("height", height)
    _positive("width", width)
    if n_instances < 0:
        raise OptionsError("bad_option", f"`n_instances` must be >= 0, got {n_instances}")
    if not classes:
        raise OptionsError("bad_option", "`classes` must name at least one class")
    labels = np.zeros((height, width), dtype=_label_dtype(n_instances))
    names: list[str] = []
    boxes: list[Box] = []
    placed: list[tuple[float, float, float, float]] = []
    for label in range(1, n_instances + 1):
        name = classes[int(rng.integers(len(classes)))]
        hy = max(rng.uniform(0.03, 0.15) * height, 1.5)
        hx = max(hy * _ASPECTS.get(name, 1.0) * rng.uniform(0.8, 1.25), 1.5)
        if placed and rng.random() < 0.35:
            py, px, phy, phx = placed[int(rng.integers(len(placed)))]
            side = 1.0 if rng.random() < 0.5 else -1.0
            cy = py + (phy - hy) * rng.uniform(0.0, 1.0)  # standing on about the same ground
            cx = px + side * (phx + hx) * rng.uniform(0.6, 1.02)
        else:
            cy = rng.uniform(0.35, 0.95) * height
            cx = rng.uniform(0.0, 1.0) * width
        boxes.append(_paint_shape(rng, labels, label, (cy, cx), (hy, hx)))
        placed.append((cy, cx, hy, hx))
        names.append(name)
    return _densify(labels, names, boxes)


def _grow(mask: BoolMask) -> BoolMask:
    """Dilate by one pixel (4-neighbourhood); the caller pads the border."""
    out: BoolMask = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _jitter(rng: np.random.Generator, mask: BoolMask, noise: float) -> tuple[BoolMask, int, int]:
    """A worker's redrawing of ``mask``: grown or shrunk, ragged edges, shifted.

    Returns the new mask (same shape, padded by the caller) and the shift.
    """
    if noise <= 0:
        return mask, 0, 0
    radius = int(np.rint(rng.normal(0.0, noise / 2)))
    for _ in range(abs(radius)):
        mask = _grow(mask) if radius > 0 else ~_grow(~mask)
    edge = _grow(mask) & _grow(~mask)  # both sides of the boundary
    flip = edge & (rng.random(mask.shape) < min(0.15 * noise, 0.5))
    mask = mask ^ flip
    dy, dx = np.rint(rng.normal(0.0, noise / 2, size=2)).astype(int).tolist()
    return mask, dy, dx


def _paste(canvas: LabelImage, mask: BoolMask, top: int, left: int, label: int) -> Box:
    """Paint ``mask`` (placed with its corner at ``top, left``) into ``canvas``, clipped."""
    height, width = canvas.shape
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + mask.shape[0], height), min(left + mask.shape[1], width)
    if r1 <= r0 or c1 <= c0:
        return _NO_BOX
    canvas[r0:r1, c0:c1][mask[r0 - top : r1 - top, c0 - left : c1 - left]] = label
    return (r0, r1, c0, c1)


def simulate_worker(
    rng: np.random.Generator,
    truth_labels: LabelImage,
    truth_classes: Sequence[str],
    *,
    boundary_noise: float = 1.0,
    miss_rate: float = 0.05,
    spurious_rate: float = 0.1,
    class_confusion: float = 0.02,
    classes: Sequence[str] = DEFAULT_CLASSES,
    shuffle: bool = True,
) -> Annotation:
    """One worker's answer to a truth, with the errors real workers make.

    Parameters
    ----------
    rng : numpy.random.Generator
    truth_labels : ndarray, shape (H, W)
        Dense truth labels 1..K.
    truth_classes : sequence of str
        Class of each truth instance.
    boundary_noise : float, default 1.0
        Scale of the boundary errors in pixels: each instance is grown or shrunk
        by about ``boundary_noise / 2`` pixels, shifted by as much, and its edge
        made ragged. 0 copies the shapes exactly.
    miss_rate : float, default 0.05
        Probability that an instance is left out.
    spurious_rate : float, default 0.1
        Expected number of spurious blobs per image (Poisson), on any class.
    class_confusion : float, default 0.02
        Probability that an instance gets another class of ``classes``.
    classes : sequence of str
        The job's classes (for swaps and spurious blobs).
    shuffle : bool, default True
        List the instances in a random order, as a worker draws them; painting
        order (which instance covers which) still follows the truth.

    Returns
    -------
    Annotation
        The worker's labels (H, W), dense 1..M, and their classes.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> truth = make_scene(rng, height=40, width=60, n_instances=3)
    >>> copy = simulate_worker(rng, truth.labels, truth.classes, boundary_noise=0,
    ...                        miss_rate=0, spurious_rate=0, class_confusion=0, shuffle=False)
    >>> bool((copy.labels == truth.labels).all()), copy.classes == truth.classes
    (True, True)
    """
    k = len(truth_classes)
    if truth_labels.ndim != 2 or int(truth_labels.max(initial=0)) > k:
        raise OptionsError(
            "bad_option",
            f"`truth_labels` must be 2-D with labels up to len(truth_classes) = {k}, "
            f"got shape {truth_labels.shape} and max {int(truth_labels.max(initial=0))}",
        )
    for name, value in (("miss_rate", miss_rate), ("class_confusion", class_confusion)):
        _probability(name, value)
    if boundary_noise < 0 or spurious_rate < 0:
        raise OptionsError(
            "bad_option",
            f"`boundary_noise` and `spurious_rate` must be >= 0, got {boundary_noise} "
            f"and {spurious_rate}",
        )
    height, width = truth_labels.shape
    truth_boxes = instance_stats(truth_labels, k).boxes.tolist()
    # Decide what to draw and the order of the list first, then paint with final ids.
    kept = [i for i in range(1, k + 1) if truth_boxes[i][1] > 0 and rng.random() >= miss_rate]
    names = [_confuse(rng, truth_classes[i - 1], classes, class_confusion) for i in kept]
    n_spurious = int(rng.poisson(spurious_rate))
    names += [classes[int(rng.integers(len(classes)))] for _ in range(n_spurious)]
    n = len(names)
    ids = (rng.permutation(n) if shuffle else np.arange(n)).tolist()
    canvas = np.zeros((height, width), dtype=_label_dtype(n))
    boxes = [_NO_BOX] * n
    pad = int(np.ceil(2 * boundary_noise)) + 1
    for j, label in enumerate(kept):
        r0, r1, c0, c1 = truth_boxes[label]
        mask = np.zeros((r1 - r0 + 2 * pad, c1 - c0 + 2 * pad), dtype=bool)
        mask[pad:-pad, pad:-pad] = truth_labels[r0:r1, c0:c1] == label
        mask, dy, dx = _jitter(rng, mask, boundary_noise)
        boxes[ids[j]] = _paste(canvas, mask, r0 - pad + dy, c0 - pad + dx, ids[j] + 1)
    for j in range(len(kept), n):
        half = (rng.uniform(0.02, 0.06) * height, rng.uniform(0.02, 0.06) * height)
        centre = (rng.uniform(0.3, 1.0) * height, rng.uniform(0.0, 1.0) * width)
        boxes[ids[j]] = _paint_shape(rng, canvas, ids[j] + 1, centre, half)
    ordered = [""] * n
    for j, name in enumerate(names):
        ordered[ids[j]] = name
    return _densify(canvas, ordered, boxes)


def _confuse(rng: np.random.Generator, name: str, classes: Sequence[str], rate: float) -> str:
    others = [c for c in classes if c != name]
    if others and rng.random() < rate:
        return others[int(rng.integers(len(others)))]
    return name


def tool_colours(n: int) -> tuple[str, ...]:
    """Instance colours in the order the annotation tool tends to use them.

    Category10, but starting ``#2ca02c, #1f77b4`` as in real answers; beyond ten
    instances the same extra colours as :func:`gtconsensus.masks.instance_colours`.

    Examples
    --------
    >>> tool_colours(3)
    ('#2ca02c', '#1f77b4', '#ff7f0e')
    """
    return TOOL_COLOUR_ORDER[:n] + instance_colours(max(n, 10))[10:]


_IDAT_SIZE = 8_192  # libpng's default image data chunk size


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _unfiltered_palette_png(indices: np.ndarray, rgb: np.ndarray, compress_level: int) -> bytes:
    """The tool's palette PNG: the smallest bit depth of 1, 2, 4 or 8 that holds the
    palette, ``sRGB``, ``PLTE``, ``tRNS`` (index 0 transparent), filter 0 on every row."""
    entries = len(rgb)
    bits = next(b for b in (1, 2, 4, 8) if entries <= 1 << b)
    height, width = indices.shape
    per = 8 // bits
    padded = np.zeros((height, -(-width // per) * per), np.uint8)
    padded[:, :width] = indices
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    packed = np.bitwise_or.reduce(padded.reshape(height, -1, per) << shifts, axis=2)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), packed.astype(np.uint8)], axis=1)
    stream = zlib.compress(rows.tobytes(), compress_level)
    header = struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)
    return b"".join([
        b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header), _png_chunk(*_SRGB_CHUNK),
        _png_chunk(b"PLTE", rgb.tobytes()), _png_chunk(b"tRNS", b"\x00" + b"\xff" * (entries - 1)),
        *(_png_chunk(b"IDAT", stream[i : i + _IDAT_SIZE])
          for i in range(0, len(stream), _IDAT_SIZE)),
        _png_chunk(b"IEND", b""),
    ])  # fmt: skip


def encode_answer_png(
    labels: LabelImage,
    colours: Sequence[str],
    *,
    mode: str = "P",
    compress_level: int = 6,
    filters: str = "none",
) -> bytes:
    """Encode a worker's label image as the tool does.

    Parameters
    ----------
    labels : ndarray, shape (H, W)
        Labels 0..K; label ``i + 1`` is painted ``colours[i]``.
    colours : sequence of str
        ``#rrggbb`` per instance.
    mode : {"P", "RGBA", "RGB"}, default "P"
        ``"P"``: the tool's palette PNG (1, 2, 4 or 8 bits, an sRGB chunk, index 0
        black with alpha 0, indices 1..K the colours, alpha 255). ``"RGBA"``:
        painted pixels opaque, background transparent black, as some third-party
        tools write. ``"RGB"``: background black.
    compress_level : int, default 6
        zlib level; 6 reproduces the tool's PNGs byte for byte.
    filters : {"none", "adaptive"}, default "none"
        Row filters of a ``"P"`` PNG. ``"none"``: filter 0 (None) on every row, as
        the tool writes them (and libpng by default for palette images): its rows
        are packed and deflated here, in the tool's chunk order, the image data in
        ``IDAT`` chunks of at most 8,192 bytes (libpng's default). ``"adaptive"``:
        written by Pillow, whose encoder picks a filter per row (Up, Sub, Paeth or
        None), as third-party PNGs may be. ``"RGBA"`` and ``"RGB"`` PNGs are always
        Pillow's.

    Returns
    -------
    bytes

    Examples
    --------
    >>> png = encode_answer_png(np.zeros((960, 1280), np.uint8), [])
    >>> len(png), png[:8]
    (270, b'\\x89PNG\\r\\n\\x1a\\n')
    >>> png == encode_answer_png(np.zeros((960, 1280), np.uint8), [], filters="adaptive")
    True
    """
    k = len(colours)
    if labels.ndim != 2 or int(labels.max(initial=0)) > k:
        raise OptionsError(
            "bad_option", f"`labels` must be 2-D with labels up to len(colours) = {k}"
        )
    rgb = np.zeros((k + 1, 3), dtype=np.uint8)
    for i, colour in enumerate(colours, start=1):
        code = int(colour[1:], 16)
        rgb[i] = (code >> 16, (code >> 8) & 0xFF, code & 0xFF)
    height, width = labels.shape
    buffer = io.BytesIO()
    if filters not in ("none", "adaptive"):
        raise OptionsError("bad_option", f"`filters` must be 'none' or 'adaptive', got {filters!r}")
    if mode == "P":
        if k > 255:
            raise OptionsError("bad_option", f"mode 'P' holds at most 255 instances, got {k}")
        if filters == "none":
            return _unfiltered_palette_png(labels.astype(np.uint8), rgb, compress_level)
        image = Image.frombytes("P", (width, height), labels.astype(np.uint8).tobytes())
        image.putpalette(rgb.ravel().tobytes())
        info = PngImagePlugin.PngInfo()
        info.add(*_SRGB_CHUNK)
        image.save(
            buffer, format="PNG", pnginfo=info, compress_level=compress_level,
            transparency=b"\x00" + b"\xff" * k,
        )  # fmt: skip
    elif mode in ("RGBA", "RGB"):
        table = np.concatenate([rgb, np.full((k + 1, 1), 255, np.uint8)], axis=1)
        table[0, 3] = 0
        pixels = table[labels] if mode == "RGBA" else rgb[labels]
        Image.frombytes(mode, (width, height), pixels.tobytes()).save(
            buffer, format="PNG", compress_level=compress_level
        )
    else:
        raise OptionsError("bad_option", f"`mode` must be 'P', 'RGBA' or 'RGB', got {mode!r}")
    return buffer.getvalue()


def worker_answer(
    labels: LabelImage,
    classes: Sequence[str],
    *,
    element: str = "annotatedResult",
    mode: str = "P",
    colours: Sequence[str] | None = None,
    filters: str = "none",
) -> dict[str, Any]:
    """The answer a worker submits, as a JSON-ready dict.

    Parameters
    ----------
    labels : ndarray, shape (H, W)
        Labels 0..K.
    classes : sequence of str
        Class per instance (K of them).
    element : str, default "annotatedResult"
        The element's name in the template.
    mode : {"P", "RGBA", "RGB"}, default "P"
        PNG flavour, see :func:`encode_answer_png`.
    colours : sequence of str, optional
        Colour per instance; default :func:`tool_colours`.
    filters : {"none", "adaptive"}, default "none"
        Row filters of a ``"P"`` PNG, see :func:`encode_answer_png`.

    Returns
    -------
    dict
        ``{element: {"inputImageProperties", "instances", "labeledImage"}}``.

    Examples
    --------
    >>> labels = np.array([[0, 1], [2, 2]], dtype=np.uint8)
    >>> answer = worker_answer(labels, ["Person", "Car"])["annotatedResult"]
    >>> answer["inputImageProperties"], answer["instances"]
    ({'height': 2, 'width': 2}, [{'color': '#2ca02c', 'label': 'Person'},
                                 {'color': '#1f77b4', 'label': 'Car'}])
    """
    colours = tool_colours(len(classes)) if colours is None else tuple(colours)
    if len(colours) != len(classes) or len(set(colours)) != len(colours):
        raise OptionsError(
            "bad_option",
            f"`colours` must be {len(classes)} distinct colours, got {list(colours)[:12]}",
        )
    png = encode_answer_png(labels, colours, mode=mode, filters=filters)
    height, width = labels.shape
    return {
        element: {
            "inputImageProperties": {"height": height, "width": width},
            "instances": [
                {"color": colour, "label": label}
                for colour, label in zip(colours, classes, strict=True)
            ],
            "labeledImage": {"pngImageData": base64.b64encode(png).decode("ascii")},
        }
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def manifest_line(
    source_ref: str,
    answers: Sequence[tuple[str, Mapping[str, Any] | str]],
    *,
    label_attribute: str = "gt-label",
    job_name: str | None = None,
    creation_date: str = "2026-11-20T10:00:00+0000",
) -> str:
    """One output-manifest line as the recipe's pass-through Lambda writes it.

    Parameters
    ----------
    source_ref : str
        The image's S3 URI.
    answers : sequence of (str, dict or str)
        ``(worker_id, answer)``; the answer dict is written as compact JSON into
        ``annotationData.content``, a string is written there as it is (to make
        broken answers).
    label_attribute : str, default "gt-label"
    job_name : str, optional
        ``job-name`` of the metadata; default the label attribute.
    creation_date : str
        ``creation-date`` of the metadata.

    Returns
    -------
    str
        Compact JSON, without a newline.

    Examples
    --------
    >>> line = manifest_line("s3://b/1.jpg", [("w1", "{}")])
    >>> value = json.loads(line)
    >>> list(value), value["gt-label"]
    (['source-ref', 'gt-label', 'gt-label-metadata'],
     {'annotationsFromAllWorkers': [{'workerId': 'w1', 'annotationData': {'content': '{}'}}]})
    >>> value["gt-label-metadata"]["type"], line[:40]
    ('groundtruth/custom', '{"source-ref":"s3://b/1.jpg","gt-label":')
    """
    raws = [
        {
            "workerId": worker_id,
            "annotationData": {"content": answer if isinstance(answer, str) else _dumps(answer)},
        }
        for worker_id, answer in answers
    ]
    return _dumps({
        "source-ref": source_ref,
        label_attribute: {"annotationsFromAllWorkers": raws},
        f"{label_attribute}-metadata": {
            "type": "groundtruth/custom",
            "job-name": job_name or label_attribute,
            "human-annotated": "yes",
            "creation-date": creation_date,
        },
    })  # fmt: skip


def make_manifest(
    seed: int,
    n_lines: int,
    *,
    workers: int = 3,
    height: int = 480,
    width: int = 640,
    instances: tuple[int, int] = (0, 6),
    classes: Sequence[str] = DEFAULT_CLASSES,
    pool: Sequence[WorkerProfile] = DEFAULT_POOL,
    label_attribute: str = "gt-label",
    mode: str = "P",
    source_prefix: str = "s3://gtconsensus-example/images/",
    filters: str = "none",
) -> Iterator[str]:
    """Yield manifest lines of a simulated job.

    Each line draws a scene with ``instances[0]`` to ``instances[1]`` objects and
    ``workers`` distinct workers from ``pool``, who answer it with their own error
    profile. Every worker labels many images, so a job-level worker table is
    meaningful.

    Parameters
    ----------
    seed : int
        Everything follows from it: same seed, same bytes.
    n_lines : int
    workers : int, default 3
        Workers per image, at most ``len(pool)``.
    height, width : int, default 480, 640
    instances : (int, int), default (0, 6)
        Inclusive range of objects per image.
    classes : sequence of str
    pool : sequence of WorkerProfile
        Default :data:`DEFAULT_POOL`, from a good worker to a spammer.
    label_attribute : str, default "gt-label"
    mode : {"P", "RGBA", "RGB"}, default "P"
    source_prefix : str
        ``source-ref`` is this prefix plus ``street-00001.jpg`` and so on.
    filters : {"none", "adaptive"}, default "none"
        Row filters of ``"P"`` PNGs: the tool's (none) or Pillow's (adaptive), see
        :func:`encode_answer_png`.

    Yields
    ------
    str
        Compact JSON lines, without newlines.

    Examples
    --------
    >>> lines = list(make_manifest(0, 2, height=24, width=32))
    >>> len(lines), [len(json.loads(x)["gt-label"]["annotationsFromAllWorkers"]) for x in lines]
    (2, [3, 3])
    >>> lines == list(make_manifest(0, 2, height=24, width=32))
    True
    """
    if not 1 <= workers <= len(pool):
        raise OptionsError(
            "bad_option", f"`workers` must be in 1..{len(pool)} (the pool's size), got {workers}"
        )
    low, high = instances
    if not 0 <= low <= high:
        raise OptionsError(
            "bad_option", f"`instances` must be (low, high), 0 <= low <= high, got {instances}"
        )
    rng = np.random.default_rng(seed)
    for index in range(n_lines):
        truth = make_scene(
            rng, height=height, width=width, n_instances=int(rng.integers(low, high + 1)),
            classes=classes,
        )  # fmt: skip
        panel = [pool[i] for i in rng.choice(len(pool), size=workers, replace=False).tolist()]
        answers = []
        for profile in panel:
            drawn = simulate_worker(
                rng, truth.labels, truth.classes, boundary_noise=profile.boundary_noise,
                miss_rate=profile.miss_rate, spurious_rate=profile.spurious_rate,
                class_confusion=profile.class_confusion, classes=classes,
            )  # fmt: skip
            answers.append(
                (
                    profile.worker_id,
                    worker_answer(drawn.labels, drawn.classes, mode=mode, filters=filters),
                )
            )
        created = _JOB_START + datetime.timedelta(seconds=47 * index)
        yield manifest_line(
            f"{source_prefix}street-{index + 1:05d}.jpg",
            answers,
            label_attribute=label_attribute,
            creation_date=created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        )


def refresh_png_crcs(png: bytes) -> bytes:
    """Rewrite every whole chunk's CRC of a (damaged) PNG.

    A fuzzer that flips bytes inside a PNG mostly produces bad CRCs, which a
    decoder refuses at once; refreshing them lets the damage reach zlib and the
    decoder. A trailing partial chunk is kept as it is.

    Examples
    --------
    >>> import numpy as np
    >>> from gtconsensus.masks import encode_label_png
    >>> png = bytearray(encode_label_png(np.zeros((2, 2), np.uint8)))
    >>> png[29] ^= 0xFF  # the CRC of IHDR
    >>> refresh_png_crcs(bytes(png)) == encode_label_png(np.zeros((2, 2), np.uint8))
    True
    """
    out, position = bytearray(png[:8]), 8
    while position + 12 <= len(png):
        length = struct.unpack_from(">I", png, position)[0]
        end = position + 12 + length
        if end > len(png):
            break
        body = png[position + 4 : end - 4]
        out += png[position : end - 4] + struct.pack(">I", zlib.crc32(body))
        position = end
    return bytes(out + png[position:])
