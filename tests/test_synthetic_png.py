"""The synthetic worker PNGs: the tool's (filter None on every row) and Pillow's."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gtconsensus import OptionsError
from gtconsensus.testing.synthetic import encode_answer_png, make_manifest


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position < len(png):
        (length,) = struct.unpack_from(">I", png, position)
        chunks.append((png[position + 4 : position + 8], png[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def _filters(png: bytes) -> list[int]:
    """The filter byte of every row."""
    chunks = _chunks(png)
    (height,) = struct.unpack(">I", chunks[0][1][4:8])
    rows = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    return list(np.frombuffer(rows, np.uint8).reshape(height, -1)[:, 0])


def _sample_pngs(sample_line: str) -> list[bytes]:
    answers = json.loads(sample_line)["gt-label"]["annotationsFromAllWorkers"]
    contents = [json.loads(a["annotationData"]["content"]) for a in answers]
    return [
        base64.b64decode(c["annotatedResult"]["labeledImage"]["pngImageData"]) for c in contents
    ]


def test_the_tools_pngs_have_no_row_filters(sample_line: str) -> None:
    pngs = _sample_pngs(sample_line)
    assert [len(set(_filters(png))) for png in pngs] == [1, 1, 1]
    assert {f for png in pngs for f in _filters(png)} == {0}


def test_the_tools_pngs_are_reproduced_byte_for_byte(sample_line: str) -> None:
    """Each of the real sample's three PNGs (two empty, one with a person) re-encoded
    from its own indices and palette is the same bytes."""
    drew = 0
    for png in _sample_pngs(sample_line):
        with Image.open(io.BytesIO(png)) as image:
            indices = np.asarray(image)
            palette = image.getpalette() or []
        colours = [
            f"#{bytes(palette[3 * i : 3 * i + 3]).hex()}" for i in range(1, indices.max() + 1)
        ]
        drew += bool(colours)
        assert encode_answer_png(indices, colours) == png
    assert drew == 1


@given(
    k=st.integers(0, 255),
    height=st.integers(1, 12),
    width=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_tool_like_pngs_have_filter_none_and_the_smallest_depth(
    k: int, height: int, width: int, seed: int
) -> None:
    labels = np.random.default_rng(seed).integers(0, k + 1, (height, width)).astype(np.uint8)
    colours = [f"#{i:06x}" for i in range(1, k + 1)]
    png = encode_answer_png(labels, colours)
    chunks = _chunks(png)
    assert [kind for kind, _ in chunks[:4]] == [b"IHDR", b"sRGB", b"PLTE", b"tRNS"]
    assert chunks[0][1][8] == next(b for b in (1, 2, 4, 8) if k + 1 <= 1 << b)
    assert chunks[3][1] == b"\x00" + b"\xff" * k
    assert set(_filters(png)) == {0}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), labels)
    adaptive = encode_answer_png(labels, colours, filters="adaptive")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(adaptive))), labels)


def test_large_image_data_is_split_into_idat_chunks_like_libpng() -> None:
    labels = np.random.default_rng(1).integers(0, 200, (200, 300)).astype(np.uint8)
    png = encode_answer_png(labels, [f"#{i:06x}" for i in range(1, 200)])
    sizes = [len(data) for kind, data in _chunks(png) if kind == b"IDAT"]
    assert len(sizes) > 2
    assert set(sizes[:-1]) == {8192}
    assert 0 < sizes[-1] <= 8192
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), labels)


def test_pillows_adaptive_filters_are_kept_for_third_party_pngs() -> None:
    line = next(make_manifest(3, 1, height=240, width=320, instances=(8, 8), filters="adaptive"))
    answers = json.loads(line)["gt-label"]["annotationsFromAllWorkers"]
    content = json.loads(answers[0]["annotationData"]["content"])
    png = base64.b64decode(content["annotatedResult"]["labeledImage"]["pngImageData"])
    assert set(_filters(png)) - {0}  # Pillow filters some rows
    tool = next(make_manifest(3, 1, height=240, width=320, instances=(8, 8)))
    assert tool != line
    assert json.loads(tool)["source-ref"] == json.loads(line)["source-ref"]


def test_an_unknown_filter_option_is_refused() -> None:
    with pytest.raises(OptionsError, match="filters"):
        encode_answer_png(np.zeros((2, 2), np.uint8), [], filters="paeth")
