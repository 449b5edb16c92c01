"""Limits: each one at, just under and just over the input's size, with its code."""

from __future__ import annotations

import base64
import json
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from gtconsensus import Limits, MaskError, OptionsError, consolidate_line, decode_label_png
from gtconsensus.limits import DEFAULT_LIMITS, HARD_MAX_INSTANCES, resolve_limits
from gtconsensus.masks import DEFAULT_MAX_PIXELS, encode_label_png, instance_colours
from gtconsensus.pngcheck import raw_image_size, read_image_data
from gtconsensus.testing.strategies import encode_answer
from support import answer, bar, entry, line, png_chunk, png_with_header, raw_line

#: limit = size + delta: one under the input's size refuses it, at it and over it accept it.
DELTAS = pytest.mark.parametrize(("delta", "refused"), [(-1, True), (0, False), (1, False)])
BOX = bar(6, (1, 4))


def _line(n_workers: int = 3) -> str:
    return line([(f"w{i}", answer(BOX, ("Car",))) for i in range(n_workers)])


def _codes(result: object) -> list[str]:
    return [r.code for r in result.rejected]  # type: ignore[attr-defined]


def _png(*chunks: bytes, width: int = 2, height: int = 1) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * (height * (width + 1))))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(chunks) + idat + \
        png_chunk(b"IEND", b"")  # fmt: skip


# --- each limit at, just under and just over ---


@DELTAS
def test_line_length_limit(delta: int, refused: bool) -> None:
    text = _line().replace("s3://", "s3://é")  # a non-ASCII character: bytes, not characters
    size = len(text.encode("utf-8"))
    result = consolidate_line(text, limits=Limits(max_line_bytes=size + delta))
    assert (result.error is not None and result.error.code == "line_too_long") == refused
    if refused:
        assert result.output is None  # refused unparsed: only the error file has it
        assert f"{size:,} bytes" in result.error.message  # type: ignore[union-attr]
        assert "`max_line_bytes`" in result.error.message  # type: ignore[union-attr]


def test_line_length_limit_counts_bytes_of_a_bytes_line() -> None:
    text = _line().encode("utf-8")
    assert consolidate_line(text, limits=Limits(max_line_bytes=len(text))).error is None
    result = consolidate_line(text, limits=Limits(max_line_bytes=len(text) - 1))
    assert result.error is not None
    assert result.error.code == "line_too_long"


@DELTAS
def test_answers_per_object_limit(delta: int, refused: bool) -> None:
    result = consolidate_line(_line(3), limits=Limits(max_answers=3 + delta))
    assert (result.error is not None and result.error.code == "too_many_answers") == refused
    assert result.output is not None
    if refused:  # the object fails, and keeps its raw answers
        value = json.loads(result.output)["gt-label"]
        assert len(value["annotationsFromAllWorkers"]) == 3
        assert value["consensus"]["error"]["code"] == "too_many_answers"


@DELTAS
def test_instances_per_answer_limit(delta: int, refused: bool) -> None:
    labels = np.arange(6, dtype=np.uint8)[None, :]
    good = answer(labels, ["Car"] * 5)
    result = consolidate_line(
        line([("a", good), ("b", good)]), limits=Limits(max_instances=5 + delta)
    )
    assert _codes(result) == (["too_many_instances"] * 2 if refused else [])


@DELTAS
def test_base64_size_limit(delta: int, refused: bool) -> None:
    good = answer(BOX, ("Car",))
    size = len(good["labeledImage"]["pngImageData"])
    result = consolidate_line(line([("a", good)]), limits=Limits(max_png_base64=size + delta))
    assert _codes(result) == (["png_too_large"] if refused else [])


@DELTAS
def test_pixel_limit(delta: int, refused: bool) -> None:
    png = encode_label_png(np.zeros((10, 10), np.uint8))
    limits = Limits(max_pixels=100 + delta)
    if refused:
        with pytest.raises(MaskError) as caught:
            decode_label_png(png, [], limits=limits)
        assert caught.value.code == "image_too_large"
    else:
        assert decode_label_png(png, [], limits=limits).labels.shape == (10, 10)


@DELTAS
def test_chunk_limit(delta: int, refused: bool) -> None:
    png = _png(*[png_chunk(b"abCd", b"x")] * 5)  # 5 private chunks + IHDR, IDAT, IEND = 8
    limits = Limits(max_png_chunks=8 + delta)
    if refused:
        with pytest.raises(MaskError) as caught:
            decode_label_png(png, [], limits=limits)
        assert caught.value.code == "too_many_chunks"
        assert "`max_png_chunks`" in caught.value.message
    else:
        assert decode_label_png(png, [], limits=limits).labels.shape == (1, 2)


@DELTAS
def test_text_chunk_limit(delta: int, refused: bool) -> None:
    texts = [png_chunk(b"tEXt", b"k\x00v"), png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"v")),
             png_chunk(b"iTXt", b"k\x00\x00\x00\x00\x00v")]  # fmt: skip
    limits = Limits(max_png_text_chunks=3 + delta)
    if refused:
        with pytest.raises(MaskError) as caught:
            decode_label_png(_png(*texts), [], limits=limits)
        assert caught.value.code == "too_many_chunks"
        assert "text chunks" in caught.value.message
    else:
        assert decode_label_png(_png(*texts), [], limits=limits).labels.shape == (1, 2)


# --- the cheap refusals are cheap ---


def test_a_tiny_png_claiming_fifty_thousand_squared_is_refused_fast_without_allocating() -> None:
    bomb = base64.b64encode(png_with_header(50_000, 50_000)).decode()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(MaskError) as caught:
            decode_label_png(bomb, ["#1f77b4"])
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.code == "image_too_large"
    assert elapsed < 0.05
    assert peak < 1 << 20  # nowhere near the 2.5 GB the image would take


def test_image_data_inflating_past_the_header_size_is_refused_in_bounded_memory() -> None:
    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in about 64 KB, for a 4x4 image
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", bomb) + \
        png_chunk(b"IEND", b"")  # fmt: skip
    tracemalloc.start()
    try:
        with pytest.raises(MaskError) as caught:
            decode_label_png(png, [])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.code == "bad_png"
    assert "inflates past the 20 bytes" in caught.value.message
    assert peak < 4 << 20


def test_image_data_short_of_the_header_size_is_refused() -> None:
    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + \
        png_chunk(b"IDAT", zlib.compress(bytes(19))) + png_chunk(b"IEND", b"")  # fmt: skip
    with pytest.raises(MaskError, match="inflates to 19 bytes, short of the 20") as caught:
        decode_label_png(png, [])
    assert caught.value.code == "bad_png"


def test_a_bad_crc_in_the_image_data_is_refused() -> None:
    png = bytearray(encode_label_png(np.array([[1, 0], [0, 1]], np.uint8)))
    at = png.find(b"IDAT")
    length = struct.unpack(">I", png[at - 4 : at])[0]
    png[at + 4 + length] ^= 0xFF  # the CRC's first byte; Pillow alone would not notice
    with pytest.raises(MaskError, match="bad CRC") as caught:
        decode_label_png(bytes(png), ["#1f77b4"])
    assert caught.value.code == "bad_png"


@pytest.mark.parametrize(("depth", "colour"), [(3, 3), (16, 3), (4, 2), (8, 5)])
def test_a_header_with_an_impossible_colour_type_and_depth_is_refused(
    depth: int, colour: int
) -> None:
    header = struct.pack(">IIBBBBB", 1, 1, depth, colour, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")
    with pytest.raises(MaskError, match="does not exist") as caught:
        decode_label_png(png, [])
    assert caught.value.code == "bad_png"


def test_raw_image_size_matches_what_pillow_writes() -> None:
    for k, shape in [(1, (3, 5)), (3, (7, 9)), (15, (2, 33)), (200, (5, 5))]:
        labels = (np.arange(shape[0] * shape[1]).reshape(shape) % (k + 1)).astype(np.uint8)
        png = encode_label_png(labels)
        at = png.find(b"IDAT")
        length = struct.unpack(">I", png[at - 4 : at])[0]
        depth = png[24]
        inflated = zlib.decompress(png[at + 4 : at + 4 + length])
        assert len(inflated) == raw_image_size(shape[1], shape[0], depth, 3)


# --- the options themselves ---


def test_defaults_are_safe_and_documented_values() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert Limits().max_pixels == DEFAULT_MAX_PIXELS == 100_000_000
    assert Limits().max_instances <= HARD_MAX_INSTANCES


@pytest.mark.parametrize(
    "changes", [{"max_answers": 0}, {"max_pixels": -1}, {"max_line_bytes": True},
                {"max_png_base64": 1.5}, {"max_instances": HARD_MAX_INSTANCES + 1}]
)  # fmt: skip
def test_bad_limits_are_an_options_error(changes: dict[str, object]) -> None:
    with pytest.raises(OptionsError) as caught:
        Limits(**changes)  # type: ignore[arg-type]
    assert caught.value.code == "bad_option"


def test_max_pixels_keyword_still_works_and_overrides_limits() -> None:
    text = _line(2)
    assert _codes(consolidate_line(text, max_pixels=5)) == ["image_too_large"] * 2
    limits = Limits(max_pixels=5)
    assert _codes(consolidate_line(text, limits=limits, max_pixels=6)) == []
    assert resolve_limits(limits).max_pixels == 5


def test_limits_that_are_not_a_limits_object_are_refused() -> None:
    with pytest.raises(OptionsError, match="`limits` must be a Limits"):
        consolidate_line(_line(), limits={"max_pixels": 5})  # type: ignore[arg-type]


def test_an_answer_listing_thousands_of_colours_costs_one_answer_not_the_memory() -> None:
    many = instance_colours(5_000)
    content = answer(BOX, ("Car",))
    content["instances"] = [{"color": c, "label": "x"} for c in many]
    started = time.perf_counter()
    entries = [entry(w, {"annotatedResult": content}) for w in "ab"]
    entries.append(entry("c", {"annotatedResult": answer(BOX, ("Car",))}))
    result = consolidate_line(raw_line(entries))
    assert time.perf_counter() - started < 2.0
    assert _codes(result) == ["too_many_instances"] * 2
    assert result.consensus is not None


def test_read_image_data_gives_the_inflated_rows_of_plain_and_interlaced_pngs() -> None:
    labels = (np.arange(9 * 11).reshape(9, 11) % 3).astype(np.uint8)
    colours = ["#2ca02c", "#1f77b4"]
    for png_mode in ("P8", "P8-interlaced", "RGBA"):
        png = base64.b64decode(
            encode_answer(labels, ["A", "B"], colours, png_mode=png_mode)["labeledImage"][
                "pngImageData"
            ]
        )
        at = png.find(b"IDAT")
        length = struct.unpack(">I", png[at - 4 : at])[0]
        assert read_image_data(png, Limits()) == zlib.decompress(png[at + 4 : at + 4 + length])
