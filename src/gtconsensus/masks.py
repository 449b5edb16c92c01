"""The mask codec: a worker's base64 PNG to an ``(H, W)`` label image, and back.

A worker's PNG paints each instance in its own colour, so one label image per
worker is lossless: 0 is background and instance ``i`` of the answer's
``instances`` list is label ``i + 1``. The PNG's header is read and checked
(signature, size, pixel limit) before a single pixel is decoded.

Background is a pixel with alpha 0, or ``#000000`` in an image without alpha.
A painted pixel whose colour matches no listed instance is counted as *stray*
and read as background.

Examples
--------
>>> import numpy as np
>>> labels = np.array([[0, 1, 1], [2, 2, 0]], dtype=np.uint8)
>>> png = encode_label_png(labels)
>>> decoded = decode_label_png(png, ("#1f77b4", "#ff7f0e"), expected_size=(3, 2))
>>> decoded.labels.tolist(), decoded.stray_pixels
([[0, 1, 1], [2, 2, 0]], 0)
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from gtconsensus import zlibs
from gtconsensus._typing import LabelImage
from gtconsensus.exceptions import MaskError, OptionsError
from gtconsensus.limits import (
    DEFAULT_MAX_PIXELS,
    Limits,
    check_base64_size,
    check_instances,
    resolve_limits,
)
from gtconsensus.matching import foreground_rows
from gtconsensus.pngcheck import PaletteImage, read_palette_png

__all__ = [
    "CATEGORY10",
    "DEFAULT_MAX_PIXELS",
    "DecodedMask",
    "PngHeader",
    "decode_label_png",
    "encode_label_png",
    "instance_colours",
    "read_png_header",
]

#: The tool's palette, in order.
CATEGORY10 = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_MAX_INSTANCES = 65_535
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: always these 12 bytes
_BACKGROUND = 0
_STRAY = _MAX_INSTANCES + 1  # marker in colour lookup tables, never a label


@dataclass(frozen=True, slots=True)
class PngHeader:
    """The fields of a PNG's IHDR chunk that matter before decoding."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool


@dataclass(frozen=True, slots=True, eq=False)
class DecodedMask:
    """A decoded worker mask.

    Attributes
    ----------
    labels : ndarray, shape (H, W)
        uint8 (up to 255 instances) or uint16; read-only.
    stray_pixels : int
        Painted pixels whose colour is not in the answer's ``instances``.
    """

    labels: LabelImage
    stray_pixels: int


def read_png_header(data: bytes) -> PngHeader:
    """Read the IHDR chunk of a PNG without decoding anything else.

    Raises
    ------
    MaskError
        ``not_png`` when the signature or the IHDR chunk is missing.

    Examples
    --------
    >>> header = read_png_header(encode_label_png(np.zeros((2, 5), np.uint8)))
    >>> header.width, header.height
    (5, 2)
    """
    if len(data) < 33 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise MaskError(
            "not_png",
            f"`labeledImage.pngImageData` is not a PNG (starts with {data[:8]!r})",
        )
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if width == 0 or height == 0:
        raise MaskError(
            "bad_png",
            f"`labeledImage.pngImageData` has an empty image in its header ({width}x{height})",
        )
    return PngHeader(width, height, depth, colour, interlace == 1)


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MaskError(
            "bad_base64", f"`labeledImage.pngImageData` is not valid base64: {exc}"
        ) from exc


def _colour_codes(colours: Sequence[str]) -> np.ndarray:
    """Colours ``#rrggbb`` as packed uint32 ``0xRRGGBB``; rejects duplicates."""
    values = [int(c[1:], 16) for c in colours]
    if len(set(values)) != len(values):
        dup = next(c for i, c in enumerate(colours) if values[i] in values[:i])
        raise MaskError("duplicate_colour", f"`instances` lists colour {dup.lower()} twice")
    if len(values) > _MAX_INSTANCES:
        raise MaskError(
            "too_many_instances", f"`instances` has {len(values)} entries, at most {_MAX_INSTANCES}"
        )
    return np.array(values, dtype=np.uint32)


def _lookup(codes: np.ndarray, keys: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Map packed colours ``keys`` to labels 1..K (``_STRAY`` when unlisted)."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    pos = np.searchsorted(ordered, keys).clip(0, max(len(ordered) - 1, 0))
    if len(ordered):
        found = ordered[pos] == keys
        out = np.where(found, order[pos] + 1, _STRAY)
    else:
        out = np.full(keys.shape, _STRAY, dtype=np.int64)
    return np.where(background, _BACKGROUND, out)


def _alpha_of(transparency: object) -> bytes | None:
    """Pillow's ``transparency`` of a palette image as ``tRNS`` bytes (an alpha per entry):
    the one transparent index becomes such bytes; a ``tRNS`` that Pillow read otherwise
    still means "with alpha" (black is paint), with no entry transparent."""
    if transparency is None or isinstance(transparency, bytes):
        return transparency
    if isinstance(transparency, int) and 0 <= transparency < 256:
        return b"\xff" * transparency + b"\x00"
    return b""


def _labels_from_palette(
    indices: np.ndarray,
    palette: bytes,
    alpha: bytes | None,
    codes: np.ndarray,
    histogram: Callable[[], Sequence[int]],
) -> tuple[LabelImage, int]:
    """Palette indices to labels, with the ``PLTE`` and ``tRNS`` bytes (``None``: no
    ``tRNS``); ``histogram`` counts the indices (at least up to the largest), called only
    when a used palette colour is unlisted (stray pixels to count).

    Used indices that already are the labels (the tool's palette in instance order)
    come back as they are, without a copy.
    """
    top = int(indices.max(initial=0))
    small = len(codes) <= 255 and indices.dtype == np.uint8
    if small and _in_instance_order(palette, alpha, codes, top):
        return indices, 0
    table = _palette_table(palette, alpha, codes.tolist(), top)
    stray = 0
    if _STRAY in table:
        counts = histogram()
        stray = sum(int(n) for n, label in zip(counts, table, strict=False) if label == _STRAY)
        table = [_BACKGROUND if label == _STRAY else label for label in table]
    if small and table == list(range(top + 1)):
        return indices, stray
    dtype = np.uint8 if len(codes) <= 255 else np.uint16
    return np.take(np.array(table, dtype=dtype), indices), stray


def _apply_lut(
    indices: np.ndarray, lut: np.ndarray, n_instances: int, counts: np.ndarray | None = None
) -> tuple[LabelImage, int]:
    """Map colour indices to labels; ``counts`` is the indices' histogram when known."""
    if counts is None:
        counts = np.bincount(indices.ravel(), minlength=len(lut))
    stray = int(counts[: len(lut)][lut[: len(counts)] == _STRAY].sum())
    dtype = np.uint8 if n_instances <= 255 else np.uint16
    table = np.where(lut == _STRAY, _BACKGROUND, lut).astype(dtype)
    identity = np.array_equal(table[: n_instances + 1], np.arange(n_instances + 1))
    # Indices past the instances may be stray or background: the shortcut needs none used.
    if indices.dtype == np.uint8 and identity and int(indices.max(initial=0)) <= n_instances:
        return indices, stray  # palette already in instance order: no copy needed
    return np.take(table, indices), stray


def _labels_from_image(
    image: Image.Image, codes: np.ndarray, bit_depth: int
) -> tuple[LabelImage, int]:
    mode = image.mode
    k = len(codes)
    # A tRNS chunk in a grey or RGB PNG makes one colour transparent: that colour is
    # background (like alpha 0), and black becomes paint.
    transparent = image.info.get("transparency")
    if mode == "P":
        return _labels_from_palette(
            np.asarray(image),
            bytes(image.getpalette() or []),
            _alpha_of(transparent),
            codes,
            image.histogram,  # C-fast
        )
    if mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "LA"):
        arr = np.asarray(image)
        alpha = None
        if isinstance(transparent, int) and mode != "LA":
            alpha = np.where(arr == transparent, 0, 255).astype(np.uint8)
        if mode == "LA":
            arr, alpha = arr[..., 0], arr[..., 1]
        elif mode == "1":
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype != np.uint8:
            arr = (arr.astype(np.uint32) >> 8).astype(np.uint8)  # 16-bit grey: high byte
        levels = np.arange(256, dtype=np.uint32)
        keys = levels * 0x010101
        if alpha is None:
            lut = _lookup(codes, keys, keys == 0)
            return _apply_lut(arr, lut, k)
        merged = arr.astype(np.uint16) | (np.asarray(alpha == 0, np.uint16) << 8)
        opaque = _lookup(codes, keys, np.zeros(256, dtype=bool))  # with alpha, black may be paint
        lut = np.concatenate([opaque, np.zeros(256, dtype=opaque.dtype)])
        return _apply_lut(merged, lut, k)
    if mode in ("RGB", "RGBA"):
        arr = np.asarray(image)
        rgb = arr[..., :3].astype(np.uint32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        if mode == "RGBA":
            background = arr[..., 3] == 0
        elif isinstance(transparent, tuple) and len(transparent) == 3:
            shift = 8 if bit_depth == 16 else 0  # Pillow reads 16-bit RGB as its high bytes
            red, green, blue = (int(v) >> shift for v in transparent)
            background = packed == ((red << 16) | (green << 8) | blue)
        else:
            background = packed == 0
        mapped = _lookup(codes, packed, background)
        stray = int(np.count_nonzero(mapped == _STRAY))
        mapped[mapped == _STRAY] = _BACKGROUND
        return mapped.astype(np.uint8 if k <= 255 else np.uint16), stray
    raise MaskError("unsupported_png_mode", f"PNG mode {mode!r} is not supported")


def _no_black_without_alpha(has_alpha: bool, codes: np.ndarray) -> None:
    if not has_alpha and 0 in codes:
        raise MaskError(
            "bad_colour", "`instances` lists #000000, which is background in a PNG without alpha"
        )


_STORED_BLOCK = 65_535


def _stored_zlib(data: bytes, checksum: int | None = None) -> bytes:
    """``data`` as a zlib stream of stored (uncompressed) deflate blocks: what
    ``zlib.compress(data, 0)`` makes, without running the compressor (4 times faster).
    ``checksum`` is the data's Adler-32 when known (computed otherwise).

    Examples
    --------
    >>> zlib.decompress(_stored_zlib(b"abc")), zlib.decompress(_stored_zlib(b""))
    (b'abc', b'')
    """
    view = memoryview(data)
    parts: list[bytes | memoryview] = [b"\x78\x01"]
    for start in range(0, max(len(data), 1), _STORED_BLOCK):
        size = min(_STORED_BLOCK, len(data) - start)
        final = start + _STORED_BLOCK >= len(data)
        parts += [struct.pack("<BHH", final, size, size ^ 0xFFFF), view[start : start + size]]
    parts.append(struct.pack(">I", zlib.adler32(data) if checksum is None else checksum))
    return b"".join(parts)


@functools.cache
def _unpack_table(bits: int) -> np.ndarray:
    """For 2 bits per pixel (or 4): the ``8 // bits`` indices packed in each byte value,
    most significant bits first (PNG's order), one row of ``uint8`` per byte value,
    viewed as one unsigned integer per row so that one gather unpacks a byte."""
    per = 8 // bits
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    table = (np.arange(256, dtype=np.uint8)[:, None] >> shifts) & np.uint8((1 << bits) - 1)
    return np.ascontiguousarray(table).view(f"u{per}").ravel()


def _unfiltered_indices(plain: PaletteImage) -> np.ndarray | None:
    """A plain palette PNG's indices straight from its inflated rows when every row has
    filter 0 (None), as the tool's PNGs have; ``None`` when any row has another filter.

    Examples
    --------
    >>> rows = b"\\x00\\xb1" + b"\\x00\\x40"  # 2 rows of 3 pixels at 2 bits: 2 3 0, 1 0 0
    >>> image = PaletteImage(3, 2, 2, rows, None, bytes(12), None)
    >>> _unfiltered_indices(image).tolist()
    [[2, 3, 0], [1, 0, 0]]
    >>> _unfiltered_indices(PaletteImage(3, 2, 2, b"\\x00\\xb1\\x02\\x40", None, bytes(12), None))
    """
    width, height, bits = plain.width, plain.height, plain.bit_depth
    rows = np.frombuffer(plain.image_data, np.uint8).reshape(height, -1)
    if rows[:, 0].any():
        return None
    packed = rows[:, 1:]
    if bits == 8:
        return np.ascontiguousarray(packed)
    if bits == 1:
        return np.unpackbits(packed, axis=1, count=width)
    if bits == 4:  # each byte's two indices as one uint16 whose bytes are high, low
        wide = packed.astype(np.uint16)
        high, low = wide >> 4, wide & 15
        pairs = high | (low << 8) if np.little_endian else (high << 8) | low
    else:  # one gather of 4 indices per byte ("wrap": no bounds check, bytes are < 256)
        pairs = np.take(_unpack_table(bits), packed, mode="wrap")
    unpacked = pairs.view(np.uint8).reshape(height, -1)
    return np.ascontiguousarray(unpacked[:, :width])


def _plain_indices(plain: PaletteImage) -> np.ndarray:
    """A plain palette PNG's indices from its inflated rows: unpacked in numpy when no row
    is filtered (:func:`_unfiltered_indices`), else unfiltered and unpacked by Pillow's
    PNG decoder (the same code that reads the file), fed the rows as stored deflate
    blocks so that they are not inflated a second time."""
    indices = _unfiltered_indices(plain)
    if indices is not None:
        return indices
    return _pillow_indices(plain)


def _pillow_indices(plain: PaletteImage) -> np.ndarray:
    """A plain palette PNG's indices decoded by Pillow from its inflated rows."""
    rawmode = "P" if plain.bit_depth == 8 else f"P;{plain.bit_depth}"
    stored = _stored_zlib(plain.image_data, plain.checksum)
    size = (plain.width, plain.height)
    return np.asarray(Image.frombytes("P", size, stored, "zip", rawmode))


def _palette_table(
    palette: bytes, alpha: bytes | None, codes: Sequence[int], top: int
) -> list[int]:
    """Per palette index ``0..top``: the label (0 background, ``_STRAY`` unlisted), from
    the ``PLTE`` bytes and the ``tRNS`` bytes (``None``: no ``tRNS``), in plain Python: a
    tool's palette has a handful of entries, and numpy's call overhead cost more.

    Indices past the palette read as opaque black, as Pillow reads them.

    Examples
    --------
    >>> _palette_table(bytes(3) + bytes.fromhex("1f77b4"), b"\\x00", [0x1F77B4], 2)
    [0, 1, 65536]
    """
    label_of = {code: label for label, code in enumerate(codes, start=1)}
    entries, alphas = len(palette) // 3, len(alpha) if alpha is not None else 0
    table = []
    for index in range(top + 1):
        key = 0
        if index < entries:
            key = palette[3 * index] << 16 | palette[3 * index + 1] << 8 | palette[3 * index + 2]
        # Without tRNS black is background; with it, an alpha of 0.
        transparent = key == 0 if alpha is None else index < alphas and alpha[index] == 0
        table.append(_BACKGROUND if transparent else label_of.get(key, _STRAY))
    return table


def _in_instance_order(palette: bytes, alpha: bytes | None, codes: np.ndarray, top: int) -> bool:
    """Whether :func:`_palette_table` gives ``[0, 1, ..., top]`` without stray labels: index
    0 transparent (black without ``tRNS``, alpha 0 with it), entries ``1..top`` the
    listed colours in order, opaque. Compares bytes instead of looking up each entry.

    ``codes`` are unique (:func:`_colour_codes`) and, without ``tRNS``, not black
    (:func:`_no_black_without_alpha`).

    Examples
    --------
    >>> palette = bytes(3) + bytes.fromhex("1f77b4ff7f0e")
    >>> codes = np.array([0x1F77B4, 0xFF7F0E], np.uint32)
    >>> _in_instance_order(palette, b"\\x00", codes, 2)
    True
    >>> _in_instance_order(palette, b"\\x00", codes[::-1], 2)
    False
    >>> _in_instance_order(palette, b"\\x00\\x00", codes, 2)
    False
    """
    if top > len(codes) or 3 * (top + 1) > len(palette):
        return False
    if alpha is None:
        if palette[:3] != b"\x00\x00\x00":
            return False
    elif not alpha or alpha[0] != 0 or 0 in alpha[1 : top + 1]:
        return False
    listed = codes[:top].astype(">u4").view(np.uint8).reshape(-1, 4)[:, 1:]
    return palette[3 : 3 * (top + 1)] == listed.tobytes()


def _labels_from_plain(plain: PaletteImage, codes: np.ndarray) -> tuple[LabelImage, int]:
    """Labels of a plain palette PNG (:func:`gtconsensus.pngcheck.read_palette_png`); as
    Pillow would read the file: the ``tRNS`` bytes stand for its ``transparency``."""
    _no_black_without_alpha(plain.transparency is not None, codes)
    indices = _plain_indices(plain)
    return _labels_from_palette(
        indices,
        plain.palette,
        plain.transparency,
        codes,
        lambda: np.bincount(indices.ravel()).tolist(),
    )


def _labels_from_pillow(data: bytes, codes: np.ndarray, bit_depth: int) -> tuple[LabelImage, int]:
    """Labels of any other PNG, decoded by Pillow; its errors are ``bad_png``."""
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
            image.load()
            _no_black_without_alpha(
                image.mode in ("RGBA", "LA") or "transparency" in image.info, codes
            )
            return _labels_from_image(image, codes, bit_depth)
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        zlib.error,
        struct.error,
        UnidentifiedImageError,
        Image.DecompressionBombError,
    ) as exc:
        if isinstance(exc, MaskError):
            raise
        raise MaskError("bad_png", f"`labeledImage.pngImageData` is a broken PNG: {exc}") from exc


def decode_label_png(
    png: str | bytes,
    colours: Sequence[str],
    *,
    expected_size: tuple[int, int] | None = None,
    max_pixels: int | None = None,
    limits: Limits | None = None,
) -> DecodedMask:
    """Decode a worker's PNG into a label image.

    Parameters
    ----------
    png : str or bytes
        Base64 text (``labeledImage.pngImageData``) or the PNG bytes.
    colours : sequence of str
        ``instances[*].color`` in order: colour ``colours[i]`` becomes label ``i + 1``.
    expected_size : (int, int), optional
        ``(width, height)`` from ``inputImageProperties``; a mismatch is an error.
    max_pixels : int, optional
        Refuse larger images, judged from the header before decoding pixels;
        overrides ``limits.max_pixels`` (default 100_000_000).
    limits : Limits, optional
        Bounds on the base64 size, pixels and chunks (:mod:`gtconsensus.limits`);
        the structure is checked by :func:`gtconsensus.pngcheck.check_png`.

    Returns
    -------
    DecodedMask

    Raises
    ------
    MaskError
        Codes ``png_too_large``, ``bad_base64``, ``not_png``, ``image_too_large``,
        ``too_many_chunks``, ``bad_png``, ``size_mismatch``, ``unsupported_png_mode``,
        ``duplicate_colour``, ``too_many_instances``, ``bad_colour``.
    """
    limits = resolve_limits(limits, max_pixels=max_pixels)
    check_base64_size(png, limits)
    check_instances(len(colours), limits)
    data = _b64decode(png) if isinstance(png, str) else bytes(png)
    header = read_png_header(data)
    # Pixel limit first, then chunks, CRCs and inflated size; the tool's palette PNGs
    # come back decoded from the rows the check inflated, others are left to Pillow.
    plain = read_palette_png(data, limits)
    if expected_size is not None and (header.width, header.height) != tuple(expected_size):
        raise MaskError(
            "size_mismatch",
            f"PNG is {header.width}x{header.height}, expected {expected_size[0]}x"
            f"{expected_size[1]} (width x height) from `inputImageProperties`",
        )
    if data.rfind(_PNG_END) == -1:  # Pillow decodes a PNG cut after its last row silently
        raise MaskError(
            "bad_png", "`labeledImage.pngImageData` is a truncated PNG: its IEND chunk is missing"
        )
    codes = _colour_codes(colours)
    if plain is not None:
        labels, stray = _labels_from_plain(plain, codes)
    else:
        labels, stray = _labels_from_pillow(data, codes, header.bit_depth)
    labels = np.ascontiguousarray(labels)
    labels.flags.writeable = False
    return DecodedMask(labels=labels, stray_pixels=stray)


@functools.lru_cache(maxsize=64)
def instance_colours(n: int) -> tuple[str, ...]:
    """The colours the consensus PNG uses for ``n`` instances.

    Category10 in order, then a deterministic sequence of distinct colours (computed
    once per ``n``: each consensus asks twice, for its PNG and for its instance list).

    Examples
    --------
    >>> instance_colours(2)
    ('#1f77b4', '#ff7f0e')
    >>> len(set(instance_colours(300)))
    300
    """
    if n < 0:
        raise OptionsError("bad_option", f"`n` must be >= 0, got {n}")
    colours = list(CATEGORY10[:n])
    used = {int(c[1:], 16) for c in CATEGORY10} | {0}
    step = 0
    while len(colours) < n:
        step += 1
        code = (step * 0x9E3779B1 >> 8) & 0xFFFFFF  # Fibonacci hashing: spread, deterministic
        if code not in used:
            used.add(code)
            colours.append(f"#{code:06x}")
    return tuple(colours)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# The integer holding one packed byte's pixels, little-endian (leftmost pixel lowest).
_WIDE: dict[int, np.dtype[Any]] = {1: np.dtype("<u8"), 2: np.dtype("<u4"), 4: np.dtype("<u2")}


def _pack_rows(
    labels: np.ndarray, bits: int, span: tuple[int, int] | None = None
) -> tuple[np.ndarray, int]:
    """The rows holding foreground, as ``bits``-bit palette indices packed into bytes,
    each led by filter byte 0, and the first of them (the others are blank, left to
    :func:`_zlib_rows`).

    Only those rows are allocated: a zeroed array of every row cost a pass over the
    whole image (``calloc`` clears memory it reuses) for rows :func:`_zlib_rows` never
    reads. ``span`` is :func:`~gtconsensus.matching.foreground_rows` of ``labels``, when
    known.
    """
    width = labels.shape[1]
    per_byte = 8 // bits
    padded_width = -(-width // per_byte) * per_byte
    r0, r1 = foreground_rows(labels) if span is None else span
    rows = np.empty((r1 - r0, padded_width // per_byte + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter None
    values = labels[r0:r1].astype(np.uint8, copy=False)
    if padded_width != width:
        values = np.pad(values, ((0, 0), (0, padded_width - width)))
    if bits == 8:
        rows[:, 1:] = values
        return rows, r0
    # Each byte's pixels read as one little-endian integer (leftmost pixel lowest):
    # shifting each pixel into its place in the low byte (leftmost in the high bits, as
    # PNG wants) and keeping that byte is one pass per pixel slot over contiguous
    # memory, where slicing every ``per_byte``-th pixel was a strided pass (3 times slower).
    wide = np.ascontiguousarray(values).view(_WIDE[bits])
    packed = wide << np.uint8(8 - bits)
    for slot in range(1, per_byte):
        packed |= wide >> np.uint8(8 * slot - 8 + bits * (slot + 1))
    rows[:, 1:] = packed  # the low byte of each (an unsafe cast truncates)
    return rows, r0


_ADLER_BASE = 65_521


@functools.lru_cache(maxsize=512)
def _deflated_zeros(size: int) -> bytes:
    """Raw deflate data for ``size`` zero bytes, ending byte-aligned (a full flush)."""
    return zlibs.deflate_rle(bytes(size))


def _zero_rows(count: int, row_bytes: int) -> list[bytes]:
    """Deflate blocks for ``count`` zero rows, from a few cached power-of-two chunks."""
    return [
        _deflated_zeros(row_bytes << bit) for bit in range(count.bit_length()) if count >> bit & 1
    ]


def _adler_after_zeros(adler: int, count: int) -> int:
    """Adler-32 of the data so far followed by ``count`` zero bytes."""
    low, high = adler & 0xFFFF, adler >> 16
    return ((high + count * low) % _ADLER_BASE) << 16 | low


def _zlib_rows(
    rows: np.ndarray, first: int, height: int, level: int, strategy: int = zlib.Z_RLE
) -> bytes:
    """A zlib stream of ``height`` rows: blank ones (all bytes zero), then ``rows`` (the
    foreground rows, each led by its filter byte) from row ``first`` on, then blank ones.

    Deflating a blank row costs as much as a painted one, and most rows of a street
    scene's consensus are blank: those are stitched from cached deflate blocks
    of zeros (each segment ends byte-aligned after a full flush), and the Adler-32
    checksum of the zeros is computed arithmetically. ``strategy`` is zlib's for the
    foreground rows: run-length (``Z_RLE``) by default, as measured in
    ``benchmarks/speed_png_levels.py``, which the zlib in use deflates
    (:func:`gtconsensus.zlibs.deflate_rle`: zlib-ng's, when installed, writes the same
    bytes about 4 times faster); other strategies and level 0 use the standard library's.
    """
    row_bytes = rows.shape[1]
    stop = first + len(rows)
    painted = np.ascontiguousarray(rows).reshape(-1).data  # a view, no copy
    if strategy == zlib.Z_RLE and level > 0:
        deflated = zlibs.deflate_rle(painted)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
        deflated = compressor.compress(painted) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = _adler_after_zeros(1, first * row_bytes)
    adler = zlibs.adler32(painted, adler)  # zlib-ng's when installed: the same number
    adler = _adler_after_zeros(adler, (height - stop) * row_bytes)
    return b"".join([
        b"\x78\x01",  # zlib header: deflate, 32 KiB window
        *_zero_rows(first, row_bytes),
        deflated,
        *_zero_rows(height - stop, row_bytes),
        b"\x03\x00",  # an empty final block
        struct.pack(">I", adler),
    ])  # fmt: skip


def _palette_png(
    labels: LabelImage, colours: Sequence[str], compress_level: int, span: tuple[int, int]
) -> bytes:
    height, width = labels.shape
    k = len(colours)
    bits = 1 if k <= 1 else 2 if k <= 3 else 4 if k <= 15 else 8
    palette = b"\x00\x00\x00" + b"".join(bytes.fromhex(c[1:]) for c in colours)
    rows, first = _pack_rows(labels, bits, span)
    idat = _zlib_rows(rows, first, height, compress_level)
    header = struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)
    return b"".join([
        _PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"PLTE", palette),
        _chunk(b"tRNS", b"\x00"), _chunk(b"IDAT", idat), _chunk(b"IEND", b""),
    ])  # fmt: skip


def encode_label_png(labels: LabelImage, *, compress_level: int = 1) -> bytes:
    """Encode a label image as a PNG like the annotation tool's own.

    A palette PNG of the fewest bits that hold the instances (1, 2, 4 or 8):
    index 0 black and transparent (tRNS), index ``i`` the colour
    ``instance_colours(K)[i - 1]``. Above 255 instances an RGBA PNG.

    Parameters
    ----------
    labels : ndarray, shape (H, W)
        Dense labels 0..K.
    compress_level : int, default 1
        zlib level (run-length strategy); label images compress as well at 1 as at 9.

    Returns
    -------
    bytes
        The PNG file.

    Examples
    --------
    >>> png = encode_label_png(np.array([[0, 1], [2, 3]], np.uint8))
    >>> header = read_png_header(png)
    >>> header.width, header.height, header.bit_depth, header.colour_type
    (2, 2, 2, 3)
    """
    if labels.ndim != 2:
        raise OptionsError("bad_option", f"`labels` must be 2-D (H, W), got shape {labels.shape}")
    if not 0 <= compress_level <= 9:
        raise OptionsError("bad_option", f"`compress_level` must be 0..9, got {compress_level}")
    span = foreground_rows(labels)  # the rows to pack; the largest label is among them
    k = int(labels[span[0] : span[1]].max(initial=0))
    colours = instance_colours(k)
    if k <= 255:
        return _palette_png(labels, colours, compress_level, span)
    table = np.zeros((k + 1, 4), dtype=np.uint8)
    for i, colour in enumerate(colours, start=1):
        table[i, :3] = tuple(bytes.fromhex(colour[1:]))
        table[i, 3] = 255
    height, width = labels.shape
    buffer = io.BytesIO()
    Image.frombytes("RGBA", (width, height), table[labels].tobytes()).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()
