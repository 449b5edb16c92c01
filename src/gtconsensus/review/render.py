"""Overlays: the consensus and every worker's answer, side by side on the image.

:func:`render_overlay` draws a small-multiples grid: the consensus first, then
one panel per worker, each on the source image (dimmed, in grey) or a neutral
background. Instances keep one colour across panels: a worker's instance takes
the colour of the consensus instance it matches (IoU above the line's
``iouThreshold``, one-to-one); a worker's instance that matches none is white.
Pixels where a worker disagrees with the consensus are magenta: in a worker's
panel, where that worker differs; in the consensus panel, where any worker
does (stronger where more do).

Boundaries come from scikit-image (the ``render`` extra), imported only when
an overlay is drawn; Pillow draws the text.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from gtconsensus._typing import BoolMask, LabelImage
from gtconsensus.answers import Answers, Fetch
from gtconsensus.consensus import WorkerAnnotation
from gtconsensus.exceptions import FetchError, OptionsError
from gtconsensus.matching import iou_matrix, match_pairs
from gtconsensus.review.outputs import CONSOLIDATE_FIRST, OutputObject, read_worker_answers

__all__ = [
    "DISAGREEMENT",
    "MAX_PANEL_WIDTH",
    "UNMATCHED",
    "Panel",
    "load_source_image",
    "match_colours",
    "overlay_panels",
    "render_overlay",
    "s3_fetch",
]

#: Colour of pixels where a worker and the consensus disagree.
DISAGREEMENT = (255, 0, 255)
#: Colour of a worker's instance that matches no consensus instance.
UNMATCHED = "#ffffff"
#: Widest panel drawn: a 4K screen's width (the canvas is float RGB while it is drawn).
MAX_PANEL_WIDTH = 4096
_NEUTRAL = 72  # grey level of the background when there is no source image
_FILL_ALPHA = 0.35
_INK = (20, 20, 20)
_PAPER = (250, 250, 248)


def _rgb(colour: str) -> tuple[int, int, int]:
    code = int(colour.lstrip("#"), 16)
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


def _boundaries(labels: np.ndarray) -> BoolMask:
    try:
        from skimage.segmentation import find_boundaries
    except ImportError as exc:  # pragma: no cover - the extra is part of CI's install
        raise ImportError("overlays need scikit-image: pip install 'gtconsensus[render]'") from exc
    found = find_boundaries(labels, mode="inner")  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
    edges: BoolMask = np.asarray(found, dtype=np.bool_)
    return edges


def s3_fetch(uri: str) -> bytes:
    """Read an ``s3://bucket/key`` object with boto3 (the ``aws`` extra)."""
    try:
        import boto3
    except ImportError as exc:
        raise ImportError(
            "reading images from S3 needs boto3: pip install 'gtconsensus[aws]'"
        ) from exc
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore's errors, mapped at the edge
        raise FetchError("fetch_failed", f"cannot read {uri}: {exc}") from exc
    return bytes(body)


def load_source_image(
    source_ref: str | None,
    *,
    image_root: str | Path | None = None,
    fetch: Callable[[str], bytes] | None = None,
) -> Image.Image | None:
    """The source image of a line, when it can be found; else None.

    Looked for, in order: under ``image_root`` (the URI's key, then its file
    name), as a local path (or ``file://`` URI), and through ``fetch`` for
    ``s3://`` URIs (for example :func:`s3_fetch`). Unreadable images count as
    not found: the overlay then uses a neutral background.
    """
    if not source_ref:
        return None
    candidates: list[Path] = []
    key = source_ref.removeprefix("file://")
    if source_ref.startswith("s3://"):
        key = source_ref.removeprefix("s3://").partition("/")[2]
    if image_root is not None:
        candidates += [Path(image_root) / key, Path(image_root) / Path(key).name]
    if not source_ref.startswith("s3://"):
        candidates.append(Path(key))
    for path in candidates:
        if path.is_file():
            try:
                with Image.open(path) as image:
                    converted: Image.Image = image.convert("RGB")
                    return converted
            except (OSError, ValueError):
                continue
    if fetch is not None and source_ref.startswith("s3://"):
        try:
            with Image.open(io.BytesIO(fetch(source_ref))) as image:
                fetched: Image.Image = image.convert("RGB")
                return fetched
        except (OSError, ValueError, FetchError):
            return None
    return None


def match_colours(
    worker: LabelImage,
    n_worker: int,
    consensus: LabelImage,
    colours: Sequence[str],
    *,
    iou_threshold: float = 0.5,
) -> list[str]:
    """The colour of each of a worker's instances: its consensus match's, else white.

    Examples
    --------
    >>> consensus = np.array([[1, 1, 0, 2, 2]], np.uint8)
    >>> worker = np.array([[0, 2, 2, 0, 1]], np.uint8)
    >>> match_colours(worker, 2, consensus, ["#1f77b4", "#ff7f0e"])
    ['#ffffff', '#ffffff']
    >>> match_colours(np.array([[2, 2, 0, 1, 1]], np.uint8), 2, consensus, ["#1f77b4", "#ff7f0e"])
    ['#ff7f0e', '#1f77b4']
    """
    out = [UNMATCHED] * n_worker
    if n_worker == 0 or len(colours) == 0:
        return out
    iou = iou_matrix(worker, consensus, m=n_worker, n=len(colours))
    for row, col, _ in match_pairs(iou, threshold=iou_threshold):
        out[row] = colours[col]
    return out


def _sample(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resampling of an ``(H, W)`` array to ``(height, width)``."""
    rows = (np.arange(height) * array.shape[0] // height).clip(0, array.shape[0] - 1)
    cols = (np.arange(width) * array.shape[1] // width).clip(0, array.shape[1] - 1)
    sampled: np.ndarray = array[rows[:, None], cols[None, :]]
    return sampled


def _to_consensus(
    worker: WorkerAnnotation, lookup: dict[str, int], colours: list[str]
) -> np.ndarray:
    """Lookup table: worker label -> consensus label (0 background, -1 matches none)."""
    table = np.zeros(len(worker.classes) + 1, dtype=np.int64)
    for index, colour in enumerate(colours, start=1):
        table[index] = lookup.get(colour, 0) if colour != UNMATCHED else -1
    return table


def _paint(
    base: np.ndarray, labels: np.ndarray, colours: Sequence[str], disagree: np.ndarray | None
) -> npt.NDArray[np.uint8]:
    """Fill, disagreement and boundaries of one panel, on an ``(h, w, 3)`` float base."""
    out: np.ndarray = base.copy()
    palette = np.array([(0, 0, 0), *(_rgb(c) for c in colours)], dtype=np.float64)
    inside = labels > 0
    out[inside] = (1 - _FILL_ALPHA) * out[inside] + _FILL_ALPHA * palette[labels[inside]]
    if disagree is not None:
        alpha = (0.75 * disagree)[..., None]
        out = (1 - alpha) * out + alpha * np.array(DISAGREEMENT, dtype=np.float64)
    edges = _boundaries(labels)
    out[edges] = palette[labels[edges]]
    painted: npt.NDArray[np.uint8] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return painted


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text``, cut in the middle with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    keep = len(text)
    while keep > 4:
        keep -= 1
        head, tail = text[: keep // 2], text[len(text) - (keep - keep // 2) :]
        if draw.textlength(f"{head}…{tail}", font=font) <= width:
            return f"{head}…{tail}"
    return text[:4]


def _background(
    image: Image.Image | None, size: tuple[int, int], panel: tuple[int, int]
) -> np.ndarray:
    if image is None:
        return np.full((panel[1], panel[0], 3), float(_NEUTRAL))
    grey = image.convert("L").resize(panel, Image.Resampling.BILINEAR)
    # Dimmed grey keeps the instance colours readable on any photograph.
    level = np.asarray(grey, dtype=np.float64) * 0.55 + 20
    return np.repeat(level[..., None], 3, axis=2)


def _worker_caption(worker_id: str, entry: Any) -> str:
    if not isinstance(entry, dict):
        return "no score"
    score = entry.get("score")
    text = "score -" if score is None else f"score {score:.2f}"
    return f"{text} · tp {entry.get('tp', 0)} fp {entry.get('fp', 0)} fn {entry.get('fn', 0)}"


def render_overlay(
    obj: OutputObject,
    answers: Answers | None = None,
    *,
    image: Image.Image | None = None,
    panel_width: int = 360,
    columns: int | None = None,
    fetch: Fetch | None = None,
) -> Image.Image:
    """Draw the consensus and each worker's answer of one object as a grid.

    Parameters
    ----------
    obj : OutputObject
        A consolidated line (:func:`~gtconsensus.review.outputs.read_output_object`).
    answers : Answers, optional
        The decoded raw answers; read from ``obj`` when not given.
    image : PIL.Image.Image, optional
        The source image (:func:`load_source_image`); resized to the answers'
        size. Without it, a neutral grey background.
    panel_width : int, default 360
        Width of each panel in pixels, at most :data:`MAX_PANEL_WIDTH`.
    columns : int, optional
        Panels per row; default about the square root of the number of panels.
    fetch : callable, optional
        Reads answers given by ``s3Uri``.

    Returns
    -------
    PIL.Image.Image
        RGB.

    Raises
    ------
    OptionsError
        ``failed_line`` when the line was not consolidated; ``bad_option`` for
        a bad ``panel_width`` or ``columns``.
    """
    if obj.error is not None or obj.labels is None or obj.size is None:
        code, message = obj.error or ("failed_line", "no consensus")
        hint = f"; {CONSOLIDATE_FIRST}" if code == "missing_consensus" else ""
        raise OptionsError(
            "failed_line", f"line {obj.line} was not consolidated ({code}: {message}){hint}"
        )
    if not 32 <= panel_width <= MAX_PANEL_WIDTH:
        raise OptionsError(
            "bad_option", f"`panel_width` must be in [32, {MAX_PANEL_WIDTH}], got {panel_width}"
        )
    if columns is not None and columns < 1:
        raise OptionsError("bad_option", f"`columns` must be >= 1, got {columns}")
    answers = answers if answers is not None else read_worker_answers(obj, fetch=fetch)
    panels = overlay_panels(obj, answers, image=image, panel_width=panel_width)
    columns = min(columns or math.ceil(math.sqrt(len(panels))), len(panels))
    size = (panel_width, panels[0].pixels.shape[0])
    return _compose(obj, panels, size, columns, image is not None, len(answers.rejected))


class Panel(NamedTuple):
    """One panel of an overlay: ``(h, w, 3)`` uint8 pixels, a title and a caption."""

    pixels: npt.NDArray[np.uint8]
    title: str
    caption: str


def overlay_panels(
    obj: OutputObject,
    answers: Answers,
    *,
    image: Image.Image | None = None,
    panel_width: int = 360,
) -> list[Panel]:
    """The panels of :func:`render_overlay`: the consensus, then each worker in answer order."""
    if obj.labels is None or obj.size is None:
        raise OptionsError("failed_line", f"line {obj.line} has no consensus to draw")
    width, height = obj.size
    panel = (panel_width, max(1, round(height * panel_width / width)))
    base = _background(image, obj.size, panel)
    colours = [i.colour for i in obj.instances]
    lookup = {c: k for k, c in enumerate(colours, start=1)}
    threshold = float(obj.summary.get("iouThreshold", 0.5))
    consensus_small = _sample(np.asarray(obj.labels), panel[1], panel[0])
    votes = np.zeros(panel[::-1], dtype=np.float64)
    worker_panels = []
    for worker in answers.annotations:
        own = match_colours(
            worker.labels, len(worker.classes), obj.labels, colours, iou_threshold=threshold
        )
        small = _sample(np.asarray(worker.labels), panel[1], panel[0])
        mapped = _to_consensus(worker, lookup, own)[small]
        differs = mapped != consensus_small
        votes += differs
        caption = _worker_caption(worker.worker_id, obj.workers.get(worker.worker_id))
        pixels = _paint(base, small, own, differs.astype(np.float64))
        worker_panels.append(Panel(pixels, worker.worker_id, caption))
    share = votes / max(len(answers.annotations), 1)
    confidence = obj.confidence
    title = f"consensus · {len(colours)} instance{'s' * (len(colours) != 1)}"
    caption = "confidence -" if confidence is None else f"image confidence {confidence:.2f}"
    return [Panel(_paint(base, consensus_small, colours, share), title, caption), *worker_panels]


def _legend_items(obj: OutputObject) -> list[tuple[str, str]]:
    keys = [
        (i.colour, f"{k} {i.label}" + ("" if i.confidence is None else f" {i.confidence:.2f}"))
        for k, i in enumerate(obj.instances, start=1)
    ]
    return [*keys, (UNMATCHED, "not in consensus"), ("#ff00ff", "disagreement")]


def _legend(
    draw: ImageDraw.ImageDraw,
    items: list[tuple[str, str]],
    origin: tuple[int, int],
    width: int,
    *,
    font: Any,
    dry_run: bool = False,
) -> int:
    """Draw the colour key from ``origin``, wrapping at ``width``; returns its height."""
    left, top = origin
    x, y = left, top
    for colour, text in items:
        item = 18 + int(draw.textlength(text, font=font)) + 14
        if x + item > width - left and x > left:
            x, y = left, y + 18
        if not dry_run:
            draw.rectangle((x, y + 2, x + 12, y + 14), fill=_rgb(colour), outline=(60, 60, 60))
            draw.text((x + 18, y + 1), text, fill=_INK, font=font)
        x += item
    return y - top + 18


def _compose(
    obj: OutputObject,
    panels: list[Panel],
    panel: tuple[int, int],
    columns: int,
    has_image: bool,
    rejected: int,
) -> Image.Image:
    """Lay the panels out in a grid with captions, a title and a legend."""
    font, small = _font(13), _font(11)
    gap, caption_h, title_h = 10, 36, 28
    rows = math.ceil(len(panels) / columns)
    width = columns * panel[0] + (columns + 1) * gap
    items = _legend_items(obj)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    legend_h = _legend(measure, items, (gap, 0), width, font=small, dry_run=True) + 8
    height = title_h + rows * (panel[1] + caption_h + gap) + legend_h
    sheet = Image.new("RGB", (width, height), _PAPER)
    draw = ImageDraw.Draw(sheet)
    w, h = obj.size or (0, 0)
    background = "" if has_image else " · no source image"
    extra = f" · {rejected} answer{'s' * (rejected != 1)} rejected" if rejected else ""
    head = f"line {obj.line} · {obj.source_ref or '(no source-ref)'} · {w}x{h}{background}{extra}"
    draw.text((gap, 8), _fit(draw, head, font, width - 2 * gap), fill=_INK, font=font)
    for index, (pixels, name, caption) in enumerate(panels):
        row, col = divmod(index, columns)
        left = gap + col * (panel[0] + gap)
        top = title_h + row * (panel[1] + caption_h + gap)
        draw.text((left, top), _fit(draw, name, font, panel[0]), fill=_INK, font=font)
        draw.text(
            (left, top + 16), _fit(draw, caption, small, panel[0]), fill=(90, 90, 90), font=small
        )
        tile = Image.fromarray(pixels, "RGB")
        sheet.paste(tile, (left, top + caption_h))
    _legend(draw, items, (gap, height - legend_h + 2), width, font=small)
    return sheet
