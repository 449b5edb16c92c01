"""Worker answers' PNGs in every form the codec reads, as plain functions (``testing`` extra).

:func:`encode_answer` writes one worker's answer (the value under
``annotatedResult``) with its labels painted in one of :data:`PNG_MODES`: the
annotation tool's own palette PNG, Pillow's palette PNGs of each bit depth, with
or without transparency, interlaced, RGB, RGBA and greyscale.
:mod:`gtconsensus.testing.strategies` draws them (and re-exports these names).

Examples
--------
>>> labels = np.array([[0, 1], [1, 1]], np.uint8)
>>> answer = encode_answer(labels, ["Car"], ["#2ca02c"], png_mode="RGB")
>>> answer["inputImageProperties"], answer["instances"]
({'height': 2, 'width': 2}, [{'color': '#2ca02c', 'label': 'Car'}])
>>> png_mode_capacity("P2")
3
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from gtconsensus._typing import LabelImage
from gtconsensus.testing.synthetic import encode_answer_png

try:
    from hypothesis.errors import InvalidArgument
except ImportError as exc:  # the `testing` extra is not installed
    raise ImportError(
        "gtconsensus.testing.pngs needs Hypothesis: pip install 'gtconsensus[testing]'"
    ) from exc

__all__ = ["GREY_PNG_MODES", "PNG_MODES", "encode_answer", "png_mode_capacity"]

#: PNG modes :func:`encode_answer` writes. ``tool``: the annotation tool's own
#: palette PNG, byte for byte (the smallest bit depth that holds the
#: instances, ``sRGB``, a ``PLTE`` and ``tRNS`` of one entry per instance
#: plus the transparent black background, filter None;
#: :func:`gtconsensus.testing.synthetic.encode_answer_png`); examples shrink
#: to it. ``P1``..``P8``: palette PNG of that bit depth with index 0 black and
#: transparent, as Pillow writes it (a full palette, one tRNS entry);
#: ``-opaque``: the same without a tRNS chunk (black is background);
#: ``P8-interlaced``: 8-bit palette, Adam7 interlaced (written by hand, Pillow
#: cannot); ``RGB``; ``RGBA`` (background alpha 0, painted in the first
#: instance's colour to show that alpha alone decides); ``L``, ``LA`` and
#: ``I;16`` (16-bit) greyscale, whose instance colours are grey ``#gggggg``.
PNG_MODES = (
    "tool", "P1", "P2", "P4", "P8",
    "P1-opaque", "P2-opaque", "P4-opaque", "P8-opaque",
    "P8-interlaced", "RGB", "RGBA", "L", "LA", "I;16",
)  # fmt: skip
#: The modes that can only hold grey colours.
GREY_PNG_MODES = frozenset({"L", "LA", "I;16"})

# Adam7 passes: (row_start, col_start, row_step, col_step).
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
          (1, 0, 2, 1))  # fmt: skip


def png_mode_capacity(png_mode: str) -> int:
    """The most instances a PNG of ``png_mode`` holds (besides the background).

    Examples
    --------
    >>> png_mode_capacity("P1"), png_mode_capacity("P4-opaque"), png_mode_capacity("tool")
    (1, 15, 255)
    """
    if png_mode not in PNG_MODES:
        raise InvalidArgument(f"png_mode must be one of {PNG_MODES}, got {png_mode!r}")
    if png_mode.startswith("P"):
        return min((1 << int(png_mode[1])) - 1, 255)
    return 255


def _rgb(colour: str) -> tuple[int, int, int]:
    code = int(colour[1:], 16)
    return code >> 16, (code >> 8) & 0xFF, code & 0xFF


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _interlaced_palette_png(
    indices: np.ndarray, palette: Sequence[tuple[int, int, int]], transparent_background: bool
) -> bytes:
    """An 8-bit palette PNG with Adam7 interlacing (Pillow writes none)."""
    height, width = indices.shape
    raw = bytearray()
    for row_start, col_start, row_step, col_step in _ADAM7:
        reduced = np.ascontiguousarray(indices[row_start::row_step, col_start::col_step])
        if reduced.size == 0:
            continue  # an empty pass has no scanlines at all, not even filter bytes
        for scanline in reduced:
            raw += b"\x00" + scanline.tobytes()  # filter type 0 (None)
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 1)
    chunks = [_chunk(b"IHDR", header), _chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))]
    if transparent_background:
        chunks.append(_chunk(b"tRNS", b"\x00"))
    chunks += [_chunk(b"IDAT", zlib.compress(bytes(raw))), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _palette_png(
    labels: np.ndarray, rgb: Sequence[tuple[int, int, int]], png_mode: str, order: Sequence[int]
) -> bytes:
    bits = int(png_mode[1])
    index_of = np.zeros(len(rgb) + 1, dtype=np.uint8)
    index_of[1:] = np.asarray(order, dtype=np.uint8) + 1
    indices = index_of[labels]
    palette = [(0, 0, 0)] * (1 << bits)  # Pillow picks the bit depth from the palette length
    for label, colour in enumerate(rgb, start=1):
        palette[int(index_of[label])] = colour
    transparent = not png_mode.endswith("-opaque")
    if png_mode.endswith("-interlaced"):
        return _interlaced_palette_png(indices, palette, transparent)
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), indices.tobytes())
    image.putpalette([v for colour in palette for v in colour])
    buffer = io.BytesIO()
    if transparent:
        image.save(buffer, format="PNG", transparency=0)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def _tool_png(labels: np.ndarray, colours: Sequence[str], order: Sequence[int]) -> bytes:
    """The tool's palette PNG, instance ``i`` at palette index ``order[i] + 1``."""
    index_of = np.zeros(len(colours) + 1, dtype=np.uint8)
    index_of[1:] = np.asarray(order, dtype=np.uint8) + 1
    by_index = [""] * len(colours)
    for instance, colour in enumerate(colours):
        by_index[order[instance]] = colour
    return encode_answer_png(index_of[labels], by_index)


def _direct_png(labels: np.ndarray, rgb: Sequence[tuple[int, int, int]], png_mode: str) -> bytes:
    k = len(rgb)
    size = (labels.shape[1], labels.shape[0])
    colours = np.array([(0, 0, 0), *rgb], dtype=np.uint16).reshape(k + 1, 3)
    grey = colours[:, 0]
    opaque = np.full(k + 1, 255, dtype=np.uint8)
    opaque[0] = 0
    if png_mode == "RGB":
        image = Image.frombytes("RGB", size, colours.astype(np.uint8)[labels].tobytes())
    elif png_mode == "RGBA":
        if k:  # background painted in an instance's colour: only alpha 0 makes it background
            colours[0] = colours[1]
        table = np.concatenate([colours.astype(np.uint8), opaque[:, None]], axis=1)
        image = Image.frombytes("RGBA", size, table[labels].tobytes())
    elif png_mode == "L":
        image = Image.frombytes("L", size, grey.astype(np.uint8)[labels].tobytes())
    elif png_mode == "LA":
        if k:
            grey[0] = grey[1]
        table = np.stack([grey.astype(np.uint8), opaque], axis=1)
        image = Image.frombytes("LA", size, table[labels].tobytes())
    else:  # "I;16": level g is written as g * 257, so its high byte is g
        image = Image.frombytes("I;16", size, (grey * 257).astype("<u2")[labels].tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_answer(
    labels: LabelImage,
    classes: Sequence[str],
    colours: Sequence[str],
    *,
    png_mode: str = "P8",
    palette_order: Sequence[int] | None = None,
) -> dict[str, Any]:
    """One worker's answer (the value under ``annotatedResult``), as the tool writes it.

    Parameters
    ----------
    labels : ndarray, shape (H, W)
        Labels 0..K; label ``k`` is painted in ``colours[k - 1]``.
    classes, colours : sequence of str
        Per instance, K each. Greyscale modes need grey colours ``#gggggg``.
    png_mode : str, default "P8"
        One of :data:`PNG_MODES`.
    palette_order : sequence of int, optional
        Palette modes: instance ``i`` gets palette index ``palette_order[i] + 1``
        (default in order), to check that colours, not indices, identify instances.

    Returns
    -------
    dict
        ``{"inputImageProperties", "instances", "labeledImage"}``.
    """
    labels = np.asarray(labels)
    k = len(classes)
    if labels.ndim != 2 or labels.dtype.kind != "u":
        raise InvalidArgument(f"labels must be a 2-D unsigned int array, got {labels.shape}")
    if len(colours) != k or int(labels.max(initial=0)) > k or k > png_mode_capacity(png_mode):
        raise InvalidArgument(
            f"need one colour per class, labels <= {k} and at most "
            f"{png_mode_capacity(png_mode)} instances for {png_mode}; got {len(colours)} "
            f"colours, labels up to {int(labels.max(initial=0))}"
        )
    rgb = [_rgb(c) for c in colours]
    if png_mode in GREY_PNG_MODES and any(len(set(c)) != 1 for c in rgb):
        raise InvalidArgument(f"{png_mode} holds grey colours only, got {list(colours)}")
    order = list(range(k)) if palette_order is None else list(palette_order)
    if sorted(order) != list(range(k)):
        raise InvalidArgument(f"palette_order must permute range({k}), got {order}")
    if png_mode == "tool":
        png = _tool_png(labels, colours, order)
    elif png_mode.startswith("P"):
        png = _palette_png(labels, rgb, png_mode, order)
    else:
        png = _direct_png(labels, rgb, png_mode)
    return {
        "inputImageProperties": {"height": int(labels.shape[0]), "width": int(labels.shape[1])},
        "instances": [{"color": c, "label": n} for c, n in zip(colours, classes, strict=True)],
        "labeledImage": {"pngImageData": base64.b64encode(png).decode("ascii")},
    }
