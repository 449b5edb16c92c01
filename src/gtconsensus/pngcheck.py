"""A PNG's structure checked before Pillow decodes it: limits, chunks, CRCs, inflation.

Pillow trusts more than a hostile PNG deserves: it skips the CRC of image data
(``IDAT``), accepts any number of chunks, and stops inflating silently once the
image is full. :func:`check_png` walks the chunks first, in one pass over the
bytes:

- the header's pixel count against ``Limits.max_pixels`` (a 70-byte file may
  claim 50,000 x 50,000: refused before anything is allocated);
- a known colour type and bit depth;
- every chunk whole, with a correct CRC, and an ``IEND``;
- at most ``Limits.max_png_chunks`` chunks and ``Limits.max_png_text_chunks``
  text chunks;
- the image data inflates to exactly the size the header implies
  (``height x (1 + row bytes)``, per Adam7 pass when interlaced), never past it:
  inflated in bounded pieces and thrown away, so a zlib bomb costs at most the
  image's own size in time and 1 MiB of memory.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.masks import encode_label_png
>>> png = encode_label_png(np.array([[0, 1], [1, 0]], np.uint8))
>>> check_png(png, Limits())
>>> check_png(png, Limits(max_pixels=3))
Traceback (most recent call last):
...
gtconsensus.exceptions.MaskError: [image_too_large] `labeledImage.pngImageData` is a PNG of \
2x2 = 4 pixels, over the limit of 3
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gtconsensus.exceptions import MaskError
from gtconsensus.limits import Limits
from gtconsensus.zlibs import crc32, decompressobj, errors

__all__ = ["PaletteImage", "check_png", "raw_image_size", "read_image_data", "read_palette_png"]

_FIELD = "`labeledImage.pngImageData`"
#: Channels per colour type, and the bit depths each allows (PNG specification, 11.2.2).
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
# Adam7 passes: (row_start, col_start, row_step, col_step).
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
          (1, 0, 2, 1))  # fmt: skip
_PIECE = 1 << 20  # inflate in pieces of at most this many bytes
_MAX_CHUNK_LENGTH = (1 << 31) - 1


def _broken(reason: str) -> MaskError:
    return MaskError("bad_png", f"{_FIELD} is a broken PNG: {reason}")


def _too_many(what: str, limit: int, option: str) -> MaskError:
    return MaskError(
        "too_many_chunks", f"{_FIELD} has more than {limit:,} {what} (option `{option}`)"
    )


def raw_image_size(
    width: int, height: int, bit_depth: int, colour_type: int, *, interlaced: bool = False
) -> int:
    """Bytes of a PNG's inflated image data: each row's filter byte and packed pixels.

    Examples
    --------
    >>> raw_image_size(5, 2, 1, 3)  # 1-bit palette: 1 filter byte + 1 byte per row
    4
    >>> raw_image_size(8, 8, 8, 6, interlaced=True)  # RGBA, seven passes
    271
    """
    bits = _CHANNELS[colour_type] * bit_depth

    def plain(cols: int, rows: int) -> int:
        return rows * (1 + (cols * bits + 7) // 8) if cols and rows else 0

    if not interlaced:
        return plain(width, height)
    return sum(
        plain(max(0, -(-(width - c0) // cs)), max(0, -(-(height - r0) // rs)))
        for r0, c0, rs, cs in _ADAM7
    )


def _check_header(data: bytes, limits: Limits) -> int:
    """Pixel limit and header fields; returns the inflated size the image data must have."""
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", data[16:29]
    )
    pixels = width * height
    if pixels > limits.max_pixels:
        raise MaskError(
            "image_too_large",
            f"{_FIELD} is a PNG of {width}x{height} = {pixels:,} pixels, over the limit of "
            f"{limits.max_pixels:,}",
        )
    if depth not in _DEPTHS.get(colour, ()):
        raise _broken(f"colour type {colour} with bit depth {depth} does not exist")
    if compression or filtering or interlace > 1:
        raise _broken(
            f"unknown compression {compression}, filter {filtering} or interlace {interlace}"
        )
    return raw_image_size(width, height, depth, colour, interlaced=interlace == 1)


def _chunks(data: bytes, limits: Limits) -> list[tuple[bytes, memoryview]]:
    """Walk every chunk (whole, CRC, counts) up to ``IEND``; return each chunk's type and
    data, in order."""
    view = memoryview(data)
    position, count, texts = 8, 0, 0
    chunks: list[tuple[bytes, memoryview]] = []
    while True:
        if position + 12 > len(data):
            raise _broken("it is truncated (no IEND chunk)")
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if length > _MAX_CHUNK_LENGTH or end > len(data):
            raise _broken(f"chunk {kind!r} claims {length:,} bytes; the file is cut short")
        body = view[position + 4 : end - 4]  # type and data: what the CRC covers
        if crc32(body) != struct.unpack_from(">I", data, end - 4)[0]:
            raise _broken(f"chunk {kind!r} at byte {position} has a bad CRC")
        count += 1
        texts += kind in _TEXT_CHUNKS
        if texts > limits.max_png_text_chunks:
            raise _too_many("text chunks", limits.max_png_text_chunks, "max_png_text_chunks")
        if count > limits.max_png_chunks:
            raise _too_many("chunks", limits.max_png_chunks, "max_png_chunks")
        chunks.append((kind, body[4:]))
        if kind == b"IEND":
            return chunks
        position = end


def _idat(chunks: list[tuple[bytes, memoryview]]) -> list[memoryview]:
    return [body for kind, body in chunks if kind == b"IDAT"]


def _inflate(idat: list[memoryview], expected: int, keep: list[bytes] | None) -> int | None:
    """Inflate the image data in bounded pieces; refuse more or less than ``expected``.

    The pieces are appended to ``keep`` when given (one piece, of at most ``expected + 1``
    bytes, since it is all held anyway: the chunks are joined and inflated at once),
    else thrown away (pieces of at most 1 MiB). With ``keep``, returns the stream's
    Adler-32 checksum of the data when the stream ended (zlib has checked it against
    the data); otherwise, or when the stream stopped short of its checksum, ``None``.
    """
    inflater = decompressobj()
    most = _PIECE if keep is None else expected + 1
    if keep is not None and len(idat) > 1:
        # Kept: fed as one stream (small next to what it inflates to), so that it
        # inflates into one piece, not one per chunk to be joined (a copy of the image).
        idat = [memoryview(b"".join(idat))]
    produced = fed = 0
    try:
        for piece in [*idat, memoryview(b"")]:  # the empty piece drains pending output
            fed += len(piece)
            pending: bytes | memoryview = piece
            while not inflater.eof:
                out = inflater.decompress(pending, min(most, expected + 1 - produced))
                produced += len(out)
                if produced > expected:
                    raise _broken(
                        f"its image data inflates past the {expected:,} bytes its header implies"
                    )
                if keep is not None and out:
                    keep.append(out)
                pending = inflater.unconsumed_tail
                if not pending and not out:
                    break
            if inflater.eof:
                break
    except errors() as exc:  # evaluated only when an exception is raised
        raise _broken(f"its image data is not valid zlib data ({exc})") from exc
    if produced < expected:
        raise _broken(
            f"its image data inflates to {produced:,} bytes, short of the {expected:,} "
            "its header implies"
        )
    if keep is None or not inflater.eof:
        return None
    end = fed - len(inflater.unused_data) - len(inflater.unconsumed_tail)
    stream = idat[0]  # kept: the chunks were joined into one stream above
    return int.from_bytes(stream[end - 4 : end], "big")


def check_png(data: bytes, limits: Limits) -> None:
    """Check a PNG's header, chunks and image data size before decoding it.

    Parameters
    ----------
    data : bytes
        The PNG file; its signature and ``IHDR`` are known to be present
        (:func:`gtconsensus.masks.read_png_header`).
    limits : Limits

    Raises
    ------
    MaskError
        ``image_too_large`` (before anything else), ``too_many_chunks``,
        ``bad_png`` (unknown header fields, a truncated or corrupt chunk, image
        data that is not zlib or inflates to another size than the header implies).
    """
    expected = _check_header(data, limits)
    _inflate(_idat(_chunks(data, limits)), expected, None)


def read_image_data(data: bytes, limits: Limits) -> bytes:
    """:func:`check_png`, returning the inflated image data: filtered rows, each led by
    its filter byte (per Adam7 pass when interlaced), exactly the header's size.

    For a decoder that unfilters rows itself: the checks inflate the data anyway,
    so this saves a second inflate.

    Examples
    --------
    >>> import numpy as np
    >>> from gtconsensus.masks import encode_label_png
    >>> read_image_data(encode_label_png(np.array([[0, 1], [1, 0]], np.uint8)), Limits())
    b'\\x00@\\x00\\x80'
    """
    expected = _check_header(data, limits)
    pieces: list[bytes] = []
    _inflate(_idat(_chunks(data, limits)), expected, pieces)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


@dataclass(frozen=True, slots=True, eq=False)
class PaletteImage:
    """A plain palette PNG, its image data inflated by the checks.

    Attributes
    ----------
    width, height, bit_depth : int
        From the header.
    image_data : bytes
        The inflated image data: ``height`` rows, each a filter byte and the row's
        packed, filtered palette indices.
    checksum : int or None
        The Adler-32 of ``image_data``, as the zlib stream carried it (zlib checked
        it while inflating); ``None`` when the stream ended without it.
    palette : bytes
        The ``PLTE`` chunk's data: red, green, blue per entry.
    transparency : bytes or None
        The ``tRNS`` chunk's data (an alpha per palette entry, 255 past its end),
        ``None`` without one.
    """

    width: int
    height: int
    bit_depth: int
    image_data: bytes
    checksum: int | None
    palette: bytes
    transparency: bytes | None


# Chunks a plain palette PNG may hold before its image data: Pillow reads each the same
# way whatever it holds (``sRGB`` needs one byte). Anything else goes to Pillow.
_PLAIN_BEFORE_IDAT = frozenset({b"PLTE", b"tRNS", b"sRGB"})


def _plain_palette(chunks: list[tuple[bytes, memoryview]], data: bytes) -> bool:
    """Whether a checked PNG is a plain palette PNG like the tool's: not interlaced;
    ``IHDR``, one ``PLTE`` of 1 to 256 entries, at most one ``tRNS`` no longer than the
    palette and one ``sRGB``, then only ``IDAT`` chunks and ``IEND``."""
    if data[25] != 3 or data[28] != 0 or len(chunks[0][1]) != 13:
        return False
    kinds = [kind for kind, _ in chunks]
    first = kinds.index(b"IDAT") if b"IDAT" in kinds else len(kinds)
    before = kinds[1:first]
    if set(kinds[first:-1]) != {b"IDAT"} or not set(before) <= _PLAIN_BEFORE_IDAT:
        return False
    if any(before.count(kind) > 1 for kind in _PLAIN_BEFORE_IDAT) or b"PLTE" not in before:
        return False
    found = dict(chunks[1:first])
    entries, rest = divmod(len(found[b"PLTE"]), 3)
    return (
        1 <= entries <= 256
        and not rest
        and len(found.get(b"tRNS", b"")) <= entries
        and len(found.get(b"sRGB", b".")) >= 1
    )


def read_palette_png(data: bytes, limits: Limits) -> PaletteImage | None:
    """:func:`check_png`; and for a plain palette PNG, the image data the check inflated,
    so that its decoder need not inflate it again.

    A plain palette PNG is the annotation tool's kind: colour type 3 with 1, 2, 4 or 8
    bits, not interlaced, and no chunks but ``IHDR``, ``PLTE``, ``tRNS``, ``sRGB``,
    ``IDAT`` and ``IEND``, in that order. For any other PNG this returns ``None`` once
    the checks pass (its image data inflated and thrown away, as by :func:`check_png`).

    Raises
    ------
    MaskError
        As :func:`check_png`.

    Examples
    --------
    >>> import numpy as np
    >>> from gtconsensus.masks import encode_label_png
    >>> png = read_palette_png(encode_label_png(np.array([[0, 1], [2, 0]], np.uint8)), Limits())
    >>> png.bit_depth, png.image_data, png.transparency
    (2, b'\\x00\\x10\\x00\\x80', b'\\x00')
    """
    expected = _check_header(data, limits)
    chunks = _chunks(data, limits)
    plain = _plain_palette(chunks, data)
    pieces: list[bytes] | None = [] if plain else None
    checksum = _inflate(_idat(chunks), expected, pieces)
    if pieces is None:
        return None
    width, height = struct.unpack_from(">II", data, 16)
    found = dict(chunks)
    transparency = found.get(b"tRNS")
    return PaletteImage(
        width=width,
        height=height,
        bit_depth=data[24],
        image_data=pieces[0] if len(pieces) == 1 else b"".join(pieces),
        checksum=checksum,
        palette=bytes(found[b"PLTE"]),
        transparency=None if transparency is None else bytes(transparency),
    )
