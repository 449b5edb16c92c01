"""The mask codec: every PNG mode the tool or third parties write, and every bad PNG."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gtconsensus import MaskError, OptionsError, decode_label_png, encode_label_png, masks
from gtconsensus.limits import Limits
from gtconsensus.masks import CATEGORY10, instance_colours, read_png_header
from gtconsensus.pngcheck import PaletteImage, read_palette_png
from gtconsensus.testing import strategies as gts
from gtconsensus.testing.synthetic import encode_answer_png
from support import answer, png_chunk, png_of, png_with_header

SMALL = st.integers(1, 24)


def _save(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def _rgb_png(pixels: list[list[tuple[int, ...]]], mode: str = "RGB") -> bytes:
    array = np.array(pixels, dtype=np.uint8)
    return _save(Image.fromarray(array, mode=mode))


def _colours(answer_dict: dict[str, object]) -> list[str]:
    return [i["color"] for i in answer_dict["instances"]]  # type: ignore[attr-defined]


# --- round trips ---


@pytest.mark.parametrize("png_mode", gts.PNG_MODES)
@given(data=st.data())
def test_decode_gives_back_the_label_image_in_every_png_mode(
    png_mode: str, data: st.DataObject
) -> None:
    labels, answer_dict = data.draw(
        gts.labelled_answers(png_modes=[png_mode], height=SMALL, width=SMALL)
    )
    decoded = decode_label_png(
        answer_dict["labeledImage"]["pngImageData"],
        _colours(answer_dict),
        expected_size=(labels.shape[1], labels.shape[0]),
    )
    assert decoded.labels.tolist() == labels.tolist()
    assert decoded.stray_pixels == 0


@given(gts.label_images(max_instances=20))
def test_encode_then_decode_is_the_identity(labels: np.ndarray) -> None:
    png = encode_label_png(labels)
    colours = instance_colours(int(labels.max(initial=0)))
    assert decode_label_png(png, colours).labels.tolist() == labels.tolist()


def test_encode_writes_the_smallest_palette_bit_depth() -> None:
    depths = [
        read_png_header(encode_label_png(np.arange(k + 1, dtype=np.uint8)[None, :])).bit_depth
        for k in (0, 1, 2, 3, 4, 15, 16, 255)
    ]
    assert depths == [1, 1, 2, 2, 4, 4, 8, 8]


def test_encode_makes_index_zero_black_and_transparent() -> None:
    with Image.open(io.BytesIO(encode_label_png(np.array([[0, 1]], np.uint8)))) as image:
        assert image.mode == "P"
        assert image.getpalette()[:6] == [0, 0, 0, 0x1F, 0x77, 0xB4]  # type: ignore[index]
        assert image.info["transparency"] in (0, b"\x00")


def test_encode_writes_rgba_above_255_instances_and_decodes_back() -> None:
    labels = np.arange(301, dtype=np.uint16)[None, :]
    png = encode_label_png(labels)
    assert read_png_header(png).colour_type == 6
    decoded = decode_label_png(png, instance_colours(300))
    assert decoded.labels.dtype == np.uint16
    assert decoded.labels.tolist() == labels.tolist()


def test_encode_refuses_a_label_image_that_is_not_2d() -> None:
    with pytest.raises(OptionsError, match="`labels` must be 2-D") as caught:
        encode_label_png(np.zeros((2, 2, 2), np.uint8))
    assert caught.value.code == "bad_option"


def test_decode_accepts_png_bytes_as_well_as_base64_text() -> None:
    png = encode_label_png(np.array([[1, 0]], np.uint8))
    from_bytes = decode_label_png(png, ["#1f77b4"]).labels
    from_text = decode_label_png(base64.b64encode(png).decode(), ["#1f77b4"]).labels
    assert from_bytes.tolist() == from_text.tolist() == [[1, 0]]


def test_decoded_labels_are_read_only() -> None:
    decoded = decode_label_png(encode_label_png(np.array([[1, 0]], np.uint8)), ["#1f77b4"])
    assert not decoded.labels.flags.writeable


def test_instance_order_follows_the_listed_colours_not_the_palette_indices() -> None:
    labels = np.array([[0, 1, 2, 3]], np.uint8)
    answer_dict = gts.encode_answer(
        labels, ["A", "B", "C"], ["#2ca02c", "#1f77b4", "#ff7f0e"], palette_order=[2, 0, 1]
    )
    with Image.open(io.BytesIO(png_of(answer_dict))) as image:
        assert np.asarray(image).tolist() == [[0, 3, 1, 2]]  # indices really are shuffled
    decoded = decode_label_png(answer_dict["labeledImage"]["pngImageData"], _colours(answer_dict))
    assert decoded.labels.tolist() == [[0, 1, 2, 3]]


def test_grey_level_reads_as_the_grey_colour() -> None:
    png = _save(Image.fromarray(np.array([[0, 0x80, 0xFF]], np.uint8), mode="L"))
    assert decode_label_png(png, ["#ffffff", "#808080"]).labels.tolist() == [[0, 2, 1]]


def test_sixteen_bit_grey_reads_by_its_high_byte() -> None:
    levels = np.array([[0, 0x8080, 0xFFFF]], dtype="<u2")
    png = _save(Image.frombytes("I;16", (3, 1), levels.tobytes()))
    assert read_png_header(png).bit_depth == 16
    assert decode_label_png(png, ["#808080", "#ffffff"]).labels.tolist() == [[0, 1, 2]]


def test_interlaced_png_decodes_like_the_plain_one() -> None:
    labels = (np.arange(11 * 13).reshape(11, 13) % 4).astype(np.uint8)
    colours = ["#2ca02c", "#1f77b4", "#ff7f0e"]
    interlaced = gts.encode_answer(labels, ["A"] * 3, colours, png_mode="P8-interlaced")
    assert read_png_header(png_of(interlaced)).interlaced
    decoded = decode_label_png(interlaced["labeledImage"]["pngImageData"], colours)
    assert decoded.labels.tolist() == labels.tolist()


def test_rgba_pixels_with_alpha_zero_are_background_whatever_their_colour() -> None:
    png = _rgb_png([[(0x1F, 0x77, 0xB4, 0), (0x1F, 0x77, 0xB4, 255)]], mode="RGBA")
    decoded = decode_label_png(png, ["#1f77b4"])
    assert decoded.labels.tolist() == [[0, 1]]
    assert decoded.stray_pixels == 0


def test_black_is_an_instance_colour_in_an_rgba_png() -> None:
    png = _rgb_png([[(0, 0, 0, 0), (0, 0, 0, 255)]], mode="RGBA")
    assert decode_label_png(png, ["#000000"]).labels.tolist() == [[0, 1]]


def test_black_is_background_in_an_rgb_png() -> None:
    png = _rgb_png([[(0, 0, 0), (0x1F, 0x77, 0xB4)]])
    assert decode_label_png(png, ["#1f77b4"]).labels.tolist() == [[0, 1]]


def test_transparent_grey_level_is_background_and_black_is_paint() -> None:
    grey = Image.fromarray(np.array([[0, 0x80, 0xFF]], np.uint8), mode="L")
    png = _save(grey, transparency=0x80)
    decoded = decode_label_png(png, ["#000000", "#808080", "#ffffff"])
    assert decoded.labels.tolist() == [[1, 0, 3]]


def test_transparent_sixteen_bit_grey_is_background() -> None:
    levels = np.array([[0, 0x8080, 0xFFFF]], dtype="<u2")
    png = _save(Image.frombytes("I;16", (3, 1), levels.tobytes()), transparency=0xFFFF)
    assert decode_label_png(png, ["#808080", "#ffffff"]).labels.tolist() == [[0, 1, 0]]


def test_transparent_rgb_colour_is_background_and_black_is_paint() -> None:
    pixels = np.array([[(0, 0, 0), (0x1F, 0x77, 0xB4), (1, 2, 3)]], np.uint8)
    png = _save(Image.fromarray(pixels, mode="RGB"), transparency=(1, 2, 3))
    decoded = decode_label_png(png, ["#1f77b4", "#000000"])
    assert decoded.labels.tolist() == [[2, 1, 0]]
    assert decoded.stray_pixels == 0


def test_one_bit_greyscale_reads_white_as_the_grey_colour() -> None:
    png = _save(Image.fromarray(np.array([[0, 255]], np.uint8), mode="L").convert("1"))
    assert read_png_header(png).bit_depth == 1
    assert decode_label_png(png, ["#ffffff"]).labels.tolist() == [[0, 1]]


def test_upper_case_colours_match() -> None:
    png = _rgb_png([[(0, 0, 0), (0x1F, 0x77, 0xB4)]])
    assert decode_label_png(png, ["#1F77B4"]).labels.tolist() == [[0, 1]]


# --- stray pixels: counted, not an error ---


def test_stray_rgb_pixels_are_counted_and_read_as_background() -> None:
    png = _rgb_png([[(0x1F, 0x77, 0xB4), (1, 2, 3), (1, 2, 3), (0, 0, 0)]])
    decoded = decode_label_png(png, ["#1f77b4"])
    assert decoded.labels.tolist() == [[1, 0, 0, 0]]
    assert decoded.stray_pixels == 2


def test_stray_palette_entries_are_counted_and_read_as_background() -> None:
    image = Image.frombytes("P", (4, 1), bytes([0, 1, 2, 2]))
    image.putpalette([0, 0, 0, 0x1F, 0x77, 0xB4, 9, 9, 9])
    decoded = decode_label_png(_save(image, transparency=0), ["#1f77b4"])
    assert decoded.labels.tolist() == [[0, 1, 0, 0]]
    assert decoded.stray_pixels == 2


def test_pixels_of_a_second_black_palette_entry_are_background() -> None:
    image = Image.frombytes("P", (3, 1), bytes([0, 1, 2]))
    image.putpalette([0, 0, 0, 0x1F, 0x77, 0xB4, 0, 0, 0])  # no tRNS: black is background
    decoded = decode_label_png(_save(image), ["#1f77b4"])
    assert decoded.labels.tolist() == [[0, 1, 0]]
    assert decoded.stray_pixels == 0


def test_pixels_of_an_unlisted_instance_colour_are_stray() -> None:
    answer_dict = answer(np.array([[1, 2]], np.uint8), ["Car", "Bus"])
    decoded = decode_label_png(answer_dict["labeledImage"]["pngImageData"], ["#2ca02c"])
    assert decoded.labels.tolist() == [[1, 0]]
    assert decoded.stray_pixels == 1


# --- bad PNGs: each error has its type, its code, and names the field ---


def test_bad_base64_is_refused() -> None:
    with pytest.raises(MaskError) as caught:
        decode_label_png("iVBORw0K*not base64*", ["#1f77b4"])
    assert (caught.value.code, isinstance(caught.value, ValueError)) == ("bad_base64", True)
    assert "`labeledImage.pngImageData`" in caught.value.message


def test_data_that_is_not_a_png_is_refused() -> None:
    gif = base64.b64encode(b"GIF89a" + b"\x00" * 40).decode()
    with pytest.raises(MaskError) as caught:
        decode_label_png(gif, ["#1f77b4"])
    assert caught.value.code == "not_png"
    assert "`labeledImage.pngImageData`" in caught.value.message


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, -4, -12, -20])
def test_truncated_png_is_refused(keep: float) -> None:
    rng = np.random.default_rng(7)
    png = encode_label_png(rng.integers(0, 4, size=(40, 40), dtype=np.uint8))
    cut = png[: int(len(png) * keep)] if keep > 0 else png[: int(keep)]
    with pytest.raises(MaskError) as caught:
        decode_label_png(cut, instance_colours(3))
    assert caught.value.code == "bad_png"
    assert "`labeledImage.pngImageData`" in caught.value.message


def test_png_cut_inside_its_header_is_refused() -> None:
    png = encode_label_png(np.zeros((3, 3), np.uint8))
    with pytest.raises(MaskError) as caught:
        decode_label_png(png[:20], [])
    assert caught.value.code == "not_png"


def test_png_with_a_corrupt_data_chunk_is_refused() -> None:
    png = png_with_header(4, 4)
    broken = png.replace(png_chunk(b"IDAT", zlib.compress(b"")),
                         png_chunk(b"IDAT", b"not zlib data"))  # fmt: skip
    with pytest.raises(MaskError) as caught:
        decode_label_png(broken, ["#1f77b4"])
    assert caught.value.code == "bad_png"


def test_png_header_with_zero_width_is_refused() -> None:
    with pytest.raises(MaskError) as caught:
        decode_label_png(png_with_header(0, 5), ["#1f77b4"])
    assert caught.value.code == "bad_png"
    assert "`labeledImage.pngImageData`" in caught.value.message


def test_size_different_from_input_image_properties_is_refused() -> None:
    png = encode_label_png(np.zeros((2, 3), np.uint8))
    with pytest.raises(MaskError) as caught:
        decode_label_png(png, [], expected_size=(4, 2))
    assert caught.value.code == "size_mismatch"
    assert "`inputImageProperties`" in caught.value.message
    assert "3x2" in caught.value.message
    assert "4x2" in caught.value.message


def test_huge_image_is_refused_from_its_header_before_decoding() -> None:
    bomb = png_with_header(50_000, 50_000)  # 2.5 gigapixels claimed by a ~70-byte file
    started = time.perf_counter()
    with pytest.raises(MaskError) as caught:
        decode_label_png(base64.b64encode(bomb).decode(), ["#1f77b4"])
    assert time.perf_counter() - started < 0.5
    assert caught.value.code == "image_too_large"
    assert "`labeledImage.pngImageData`" in caught.value.message
    assert "50000x50000" in caught.value.message


def test_pixel_limit_is_inclusive() -> None:
    png = encode_label_png(np.zeros((10, 10), np.uint8))
    assert decode_label_png(png, [], max_pixels=100).labels.shape == (10, 10)
    with pytest.raises(MaskError, match="over the limit of 99"):
        decode_label_png(png, [], max_pixels=99)


def test_duplicate_colours_are_refused() -> None:
    png = encode_label_png(np.array([[1, 2]], np.uint8))
    with pytest.raises(MaskError) as caught:
        decode_label_png(png, ["#1f77b4", "#1F77B4"])
    assert caught.value.code == "duplicate_colour"
    assert "`instances`" in caught.value.message


@pytest.mark.parametrize(
    ("png_mode", "colour"), [("RGB", "#1f77b4"), ("L", "#808080"), ("P8-opaque", "#1f77b4")]
)
def test_black_listed_in_a_png_without_alpha_is_refused(png_mode: str, colour: str) -> None:
    answer_dict = gts.encode_answer(np.array([[0, 1]], np.uint8), ["Car"], [colour],
                                    png_mode=png_mode)  # fmt: skip
    with pytest.raises(MaskError) as caught:
        decode_label_png(answer_dict["labeledImage"]["pngImageData"], [colour, "#000000"])
    assert caught.value.code == "bad_colour"
    assert "`instances`" in caught.value.message
    assert "#000000" in caught.value.message


# --- helpers ---


def test_instance_colours_start_with_category10_in_order() -> None:
    assert instance_colours(12)[:10] == CATEGORY10


def test_instance_colours_are_distinct_and_never_black() -> None:
    colours = instance_colours(1000)
    assert len(set(colours)) == 1000
    assert "#000000" not in colours


def test_instance_colours_refuse_a_negative_count() -> None:
    with pytest.raises(OptionsError) as caught:
        instance_colours(-1)
    assert caught.value.code == "bad_option"


def test_read_png_header_reports_size_depth_and_interlace() -> None:
    header = read_png_header(png_with_header(7, 3, bit_depth=8, colour_type=3))
    assert (header.width, header.height, header.bit_depth, header.colour_type) == (7, 3, 8, 3)
    assert not header.interlaced


@pytest.mark.parametrize("height", [1, 2, 7, 64, 300])
@pytest.mark.parametrize("band", [None, (0, 1), (3, 5), (0, -1)])
def test_consensus_png_zlib_stream_is_valid_whatever_rows_are_blank(
    height: int, band: tuple[int, int] | None
) -> None:
    labels = np.zeros((height, 37), np.uint8)
    if band is not None:
        start, stop = band[0] % height, (band[1] % height) + 1 if band[1] < 0 else band[1]
        labels[start:stop, 3:30] = np.arange(27, dtype=np.uint8) % 6
    png = encode_label_png(labels)
    start = png.index(b"IDAT")
    length = struct.unpack(">I", png[start - 4 : start])[0]
    raw = zlib.decompress(png[start + 4 : start + 4 + length])  # checks the Adler-32 too
    rows = np.frombuffer(raw, np.uint8).reshape(height, -1)
    assert not rows[:, 0].any()  # filter byte 0 on every row
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), labels)


# --- the tool's palette PNGs: decoded from the rows the checks inflated ---


def _raw_palette_png(
    filtered: bytes,
    width: int,
    height: int,
    bits: int,
    chunks: list[tuple[bytes, bytes]],
    *,
    cut: int | None = None,
    stream: bytes | None = None,
) -> bytes:
    """A palette PNG of given (already filtered) rows and chunks before the data,
    the rows' zlib stream cut in two ``IDAT`` chunks (at ``cut``, default the middle)."""
    header = struct.pack(">IIBBBBB", width, height, bits, 3, 0, 0, 0)
    stream = zlib.compress(filtered) if stream is None else stream
    cut = len(stream) // 2 if cut is None else cut
    return b"".join([
        b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", header),
        *(png_chunk(kind, data) for kind, data in chunks),
        png_chunk(b"IDAT", stream[:cut]), png_chunk(b"IDAT", stream[cut:]), png_chunk(b"IEND", b""),
    ])  # fmt: skip


def _outcome(png: bytes, colours: list[str], *, pillow: bool) -> object:
    """Labels and stray count, or the error's code and message: by ``decode_label_png``,
    or by the Pillow path alone (what every PNG went through before)."""
    try:
        if pillow:
            labels, stray = masks._labels_from_pillow(
                png, masks._colour_codes(colours), read_png_header(png).bit_depth
            )
        else:
            decoded = decode_label_png(png, colours)
            labels, stray = decoded.labels, decoded.stray_pixels
    except MaskError as exc:
        return (exc.code, str(exc))
    return (labels.tolist(), stray)


@given(data=st.data())
def test_plain_palette_pngs_decode_exactly_as_pillow_reads_them(data: st.DataObject) -> None:
    """Any rows (every filter: None, Sub, Up, Average, Paeth, on any bytes), bit depth,
    palette size and transparency: the labels and stray counts, or the error, are Pillow's."""
    width, height = data.draw(SMALL), data.draw(SMALL)
    bits = data.draw(st.sampled_from([1, 2, 4, 8]))
    row_bytes = -(-width * bits // 8)
    row = st.binary(min_size=row_bytes, max_size=row_bytes)
    rows = [bytes([data.draw(st.integers(0, 4))]) + data.draw(row) for _ in range(height)]
    entries = data.draw(st.integers(1, min(256, 1 << bits)))
    entry = st.one_of(st.just(bytes(3)), st.binary(min_size=3, max_size=3))  # black often
    palette = b"".join(data.draw(st.lists(entry, min_size=entries, max_size=entries)))
    chunks = [(b"PLTE", palette)]
    if data.draw(st.booleans()):
        chunks.append((b"tRNS", data.draw(st.binary(max_size=entries))))
    if data.draw(st.booleans()):
        chunks.insert(0, (b"sRGB", b"\x00"))
    png = _raw_palette_png(b"".join(rows), width, height, bits, chunks)
    listed = sorted({palette[i : i + 3].hex() for i in range(0, len(palette), 3)})
    colours = [f"#{c}" for c in data.draw(st.lists(st.sampled_from(listed), unique=True))]
    assert read_palette_png(png, Limits()) is not None  # the plain path is taken
    assert _outcome(png, colours, pillow=False) == _outcome(png, colours, pillow=True)


def _reference_table(palette: bytes, alpha: bytes | None, codes: list[int]) -> list[int]:
    """The palette rule written out over all 256 indices with numpy, as Pillow pads the
    palette (missing entries black and opaque): 0 transparent (alpha 0, or black without
    ``tRNS``), ``i + 1`` colour ``codes[i]``, -1 unlisted."""
    rgb = np.zeros((256, 3), np.int64)
    listed = np.frombuffer(palette, np.uint8).reshape(-1, 3)[:256]
    rgb[: len(listed)] = listed
    keys = rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
    alphas = np.full(256, 255)
    if alpha is not None:
        alphas[: len(alpha)] = np.frombuffer(alpha[:256], np.uint8)
    background = (alphas == 0) if alpha is not None else (keys == 0)
    label = {code: i + 1 for i, code in enumerate(codes)}
    return [0 if bg else label.get(int(k), -1) for k, bg in zip(keys, background, strict=True)]


@given(data=st.data())
def test_the_palette_table_follows_the_palette_rule(data: st.DataObject) -> None:
    """Any palette (black entries often), tRNS or none, listed colours from the palette
    or not, and any largest index used: the table is the rule's, stray as ``_STRAY``."""
    entries = data.draw(st.integers(1, 256))
    entry = st.one_of(st.just(bytes(3)), st.binary(min_size=3, max_size=3))
    palette = b"".join(data.draw(st.lists(entry, min_size=entries, max_size=entries)))
    alpha = data.draw(st.one_of(st.none(), st.binary(max_size=entries)))
    present = sorted({int.from_bytes(palette[i : i + 3], "big") for i in range(0, len(palette), 3)})
    codes = data.draw(st.lists(st.sampled_from(present) | st.integers(1, 0xFFFFFF), unique=True))
    top = data.draw(st.integers(0, 255))
    table = masks._palette_table(palette, alpha, codes, top)
    expected = _reference_table(palette, alpha, codes)[: top + 1]
    assert table == [masks._STRAY if label == -1 else label for label in expected]


@given(data=st.data())
def test_palettes_in_instance_order_are_recognised_exactly(data: st.DataObject) -> None:
    """Palettes like the tool's (background, then the listed colours in order), often
    with one flaw (opaque background, a transparent instance, two colours swapped,
    fewer entries or colours than indices used): the byte comparison agrees with the
    table looked up entry by entry, and the decoded labels and stray count are Pillow's."""
    n = data.draw(st.integers(0, 12))
    colours = instance_colours(n)
    codes = masks._colour_codes(colours)
    entries = [bytes(3)] + [bytes.fromhex(c[1:]) for c in colours]
    alpha: bytes | None = bytes([0] + [255] * n) if data.draw(st.booleans()) else None
    flaw = data.draw(st.sampled_from(["none", "opaque", "hidden", "swap", "short", "fewer"]))
    if flaw == "opaque" and alpha is not None:
        alpha = b"\xff" + alpha[1:]
    elif flaw == "opaque":
        entries[0] = b"\x01\x02\x03"
    elif flaw == "hidden" and n:
        hidden = data.draw(st.integers(1, n))
        alpha = bytes([0] + [255] * n)[:hidden] + b"\x00"
    elif flaw == "swap" and n >= 2:
        entries[1], entries[2] = entries[2], entries[1]
    elif flaw == "short" and n:
        entries = entries[:-1]
    elif flaw == "fewer" and n:
        codes, colours = codes[:-1], colours[:-1]
    top = data.draw(st.one_of(st.just(n), st.integers(0, n + 1)))
    plain = PaletteImage(1, 1, 8, b"", None, b"".join(entries), alpha)
    table = masks._palette_table(plain.palette, plain.transparency, codes.tolist(), top)
    in_order = masks._in_instance_order(plain.palette, plain.transparency, codes, top)
    assert in_order == (table == list(range(top + 1)))
    width = top + 1
    chunks = [(b"PLTE", b"".join(entries))] + ([(b"tRNS", alpha)] if alpha is not None else [])
    png = _raw_palette_png(b"\x00" + bytes(range(width)), width, 1, 8, chunks)
    assert _outcome(png, list(colours), pillow=False) == _outcome(png, list(colours), pillow=True)


def test_the_tools_palette_pngs_take_the_plain_path() -> None:
    labels = np.array([[0, 1, 1], [2, 2, 0]], np.uint8)
    png = encode_answer_png(labels, ["#2ca02c", "#1f77b4"])
    plain = read_palette_png(png, Limits())
    assert plain is not None
    assert plain.image_data == zlib.decompress(png[png.index(b"IDAT") + 4 : -16])
    assert _outcome(png, ["#2ca02c", "#1f77b4"], pillow=False) == (labels.tolist(), 0)


@pytest.mark.parametrize(
    "chunks",
    [
        [(b"PLTE", b"\x1f\x77\xb4" * 2), (b"pHYs", bytes(9))],  # another chunk: Pillow's
        [(b"PLTE", b"\x1f\x77\xb4" * 2), (b"tRNS", b"\x00\xff\x00")],  # tRNS past PLTE
        [(b"PLTE", b"\x1f\x77\xb4" * 2), (b"PLTE", b"\x1f\x77\xb4" * 2)],  # two palettes
        [(b"PLTE", b"\x1f\x77\xb4\x00")],  # not whole entries
        [(b"sRGB", b"\x00")],  # no palette
        [(b"PLTE", b"\x1f\x77\xb4" * 2), (b"sRGB", b"")],  # an empty sRGB
    ],
)
def test_unusual_palette_pngs_are_left_to_pillow(chunks: list[tuple[bytes, bytes]]) -> None:
    png = _raw_palette_png(b"\x00\x01\x00\x01", 1, 2, 8, chunks)
    assert read_palette_png(png, Limits()) is None
    assert _outcome(png, ["#1f77b4"], pillow=False) == _outcome(png, ["#1f77b4"], pillow=True)


@pytest.mark.parametrize("size", [0, 1, 65_534, 65_535, 65_536, 131_070, 131_071, 200_000])
def test_stored_zlib_round_trips_at_every_block_boundary(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    stored = masks._stored_zlib(data)
    assert zlib.decompress(stored) == data
    assert len(stored) == 2 + 5 * max(1, -(-size // 65_535)) + size + 4  # nothing deflated


@pytest.mark.parametrize("cut", [None, -1, -2, -4, -5])  # the checksum across two IDATs
def test_plain_palette_png_carries_the_streams_checked_checksum(cut: int | None) -> None:
    rows = b"".join(b"\x02" + bytes([i, 255 - i, 7]) for i in range(40))
    stream = zlib.compress(rows)
    png = _raw_palette_png(
        rows, 3, 40, 8, [(b"PLTE", b"\x1f\x77\xb4" * 256)],
        cut=None if cut is None else len(stream) + cut,
    )  # fmt: skip
    plain = read_palette_png(png, Limits())
    assert plain is not None
    assert plain.image_data == rows
    assert plain.checksum == zlib.adler32(rows)


def test_a_stream_without_its_checksum_decodes_with_one_computed() -> None:
    rows = b"".join(b"\x01" + bytes([i, 1, 1]) for i in range(40))
    stream = zlib.compress(rows)[:-4]  # the rows inflate whole; the checksum is missing
    png = _raw_palette_png(rows, 3, 40, 8, [(b"PLTE", b"\x1f\x77\xb4" * 256)], stream=stream)
    plain = read_palette_png(png, Limits())
    assert plain is not None
    assert plain.checksum is None
    colours = ["#1f77b4"]
    assert _outcome(png, colours, pillow=False) == _outcome(png, colours, pillow=True)


# --- the fast path: rows without filters unpacked in numpy ---


def _plain_of(png: bytes) -> masks.PaletteImage:
    plain = read_palette_png(png, Limits())
    assert plain is not None
    return plain


@given(data=st.data())
def test_rows_without_filters_unpack_exactly_as_pillow_decodes_them(data: st.DataObject) -> None:
    """Every row filter 0, any bytes (padding bits too), any bit depth and width: the
    numpy unpacking equals Pillow's decode, and the labels or error equal Pillow's path."""
    bits = data.draw(st.sampled_from([1, 2, 4, 8]))
    width = data.draw(st.integers(1, 40))  # mostly not a multiple of 8 pixels per byte
    height = data.draw(SMALL)
    row_bytes = -(-width * bits // 8)
    row = st.binary(min_size=row_bytes, max_size=row_bytes)
    rows = b"".join(b"\x00" + data.draw(row) for _ in range(height))
    entries = data.draw(st.integers(1, min(256, 1 << bits)))
    palette = data.draw(st.binary(min_size=3 * entries, max_size=3 * entries))
    chunks = [(b"PLTE", palette)]
    if data.draw(st.booleans()):
        chunks.append((b"tRNS", data.draw(st.binary(max_size=entries))))
    png = _raw_palette_png(rows, width, height, bits, chunks)
    plain = _plain_of(png)
    fast = masks._unfiltered_indices(plain)
    assert fast is not None
    assert fast.flags.c_contiguous
    assert fast.dtype == np.uint8
    assert np.array_equal(fast, masks._pillow_indices(plain))
    assert np.array_equal(fast, np.asarray(Image.open(io.BytesIO(png))))
    listed = sorted({palette[i : i + 3].hex() for i in range(0, len(palette), 3)})
    colours = [f"#{c}" for c in data.draw(st.lists(st.sampled_from(listed), unique=True))]
    assert _outcome(png, colours, pillow=False) == _outcome(png, colours, pillow=True)


@given(data=st.data())
def test_any_filtered_row_sends_the_image_to_pillow(data: st.DataObject) -> None:
    bits = data.draw(st.sampled_from([1, 2, 4, 8]))
    width, height = data.draw(SMALL), data.draw(SMALL)
    row_bytes = -(-width * bits // 8)
    filters = [0] * height
    filters[data.draw(st.integers(0, height - 1))] = data.draw(st.integers(1, 4))
    rows = b"".join(
        bytes([f]) + data.draw(st.binary(min_size=row_bytes, max_size=row_bytes)) for f in filters
    )
    png = _raw_palette_png(rows, width, height, bits, [(b"PLTE", bytes(3 << bits))])
    plain = _plain_of(png)
    assert masks._unfiltered_indices(plain) is None
    assert np.array_equal(masks._plain_indices(plain), np.asarray(Image.open(io.BytesIO(png))))


@pytest.mark.parametrize("filters", ["none", "adaptive"])
def test_both_kinds_of_synthetic_png_decode_to_their_labels(filters: str) -> None:
    rng = np.random.default_rng(6)
    for k in (1, 3, 15, 40):  # 1, 2, 4 and 8 bits
        labels = np.zeros((96, 133), np.uint8)
        for label in range(1, k + 1):
            top, left = rng.integers(0, 80), rng.integers(0, 110)
            labels[top : top + 16, left : left + 23] = label
        colours = instance_colours(k)
        png = encode_answer_png(labels, colours, filters=filters)
        plain = _plain_of(png)
        # Pillow filters rows at 1, 2 and 4 bits, never at 8 bits
        unfiltered = filters == "none" or plain.bit_depth == 8
        assert (masks._unfiltered_indices(plain) is not None) == unfiltered
        decoded = decode_label_png(png, colours)
        assert np.array_equal(decoded.labels, labels)
