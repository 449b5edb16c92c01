"""The zlib in use: zlib-ng when installed, the standard library's otherwise, with one outcome.

Whatever the bytes of a PNG's image data (valid, cut short, corrupt, too long), reading it
with zlib-ng gives what the standard library's zlib gives: the same rows, or an error with
the same code; and the consensus PNG deflated by zlib-ng is byte for byte the standard
library's. CI installs ``[all]``, so zlib-ng is the one in use there, and the standard
library's runs here by substitution.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import gtconsensus.zlibs as zlibs
from gtconsensus import MaskError, decode_label_png, encode_label_png
from gtconsensus.limits import Limits
from gtconsensus.pngcheck import read_palette_png
from harness import json_from_fresh_interpreter
from support import png_chunk

HAS_ZLIB_NG = importlib.util.find_spec("zlib_ng") is not None


def _png_with_stream(stream: bytes, width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 2, 3, 0, 0, 0)
    return b"".join([
        b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", header),
        png_chunk(b"PLTE", bytes(3) + bytes.fromhex("1f77b4ff7f0e2ca02c")),
        png_chunk(b"tRNS", b"\x00"), png_chunk(b"IDAT", stream), png_chunk(b"IEND", b""),
    ])  # fmt: skip


def _outcome(png: bytes) -> object:
    try:
        plain = read_palette_png(png, Limits())
    except MaskError as exc:
        return exc.code
    assert plain is not None
    return plain.image_data, plain.checksum


@pytest.mark.skipif(not HAS_ZLIB_NG, reason="zlib-ng is not installed (pip install '.[fast]')")
@given(data=st.data())
def test_zlib_ng_reads_every_stream_as_the_standard_library_does(data: st.DataObject) -> None:
    width, height = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
    rows = b"".join(
        b"\x00" + data.draw(st.binary(min_size=-(-width // 4), max_size=-(-width // 4)))
        for _ in range(height)
    )
    stream = zlib.compress(rows, data.draw(st.integers(0, 9)))
    damage = data.draw(st.sampled_from(["none", "cut", "flip", "extra", "random"]))
    if damage == "cut":
        stream = stream[: data.draw(st.integers(0, len(stream) - 1))]
    elif damage == "flip":
        at = data.draw(st.integers(0, len(stream) - 1))
        flipped = stream[at] ^ data.draw(st.integers(1, 255))
        stream = stream[:at] + bytes([flipped]) + stream[at + 1 :]
    elif damage == "extra":
        stream = zlib.compress(rows + data.draw(st.binary(min_size=1, max_size=50)))
    elif damage == "random":
        stream = data.draw(st.binary(max_size=200))
    png = _png_with_stream(stream, width, height)
    outcomes = []
    for module in (importlib.import_module("zlib_ng.zlib_ng"), zlib):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(zlibs, "_MODULE", module)
            outcomes.append(_outcome(png))
    assert outcomes[0] == outcomes[1]


# An Adler-32 state holds two sums modulo 65,521; zlib-ng returns an out-of-range start
# unreduced for empty data where zlib reduces it, a start no checksum ever takes.
ADLER_STATES = st.builds(lambda high, low: high << 16 | low, *[st.integers(0, 65_520)] * 2)


@given(data=st.binary(max_size=20_000), value=st.integers(0, 2**32 - 1), state=ADLER_STATES)
def test_checksums_are_the_standard_librarys(data: bytes, value: int, state: int) -> None:
    """Chunk CRCs (and Adler-32) from the zlib in use are the standard library's, from any start."""
    assert zlibs.crc32(data) == zlib.crc32(data)
    assert zlibs.crc32(memoryview(data)[1:], value) == zlib.crc32(data[1:], value)
    assert zlibs.adler32(data) == zlib.adler32(data)
    assert zlibs.adler32(memoryview(data), state) == zlib.adler32(data, state)


def test_a_corrupt_stream_is_bad_png_whichever_inflater_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    png = _png_with_stream(b"\x78\x9c not deflate data", 4, 4)
    for module in (zlibs._MODULE, zlib):
        monkeypatch.setattr(zlibs, "_MODULE", module)
        with pytest.raises(MaskError) as caught:
            decode_label_png(png, ["#1f77b4"])
        assert caught.value.code == "bad_png"
        assert "not valid zlib data" in caught.value.message


def test_labels_decode_the_same_with_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = np.zeros((30, 50), np.uint8)
    labels[3:20, 5:40] = 1
    labels[10:25, 30:45] = 2
    png = encode_label_png(labels)
    fast = decode_label_png(png, ["#1f77b4", "#ff7f0e"]).labels
    monkeypatch.setattr(zlibs, "_MODULE", zlib)
    assert np.array_equal(decode_label_png(png, ["#1f77b4", "#ff7f0e"]).labels, fast)
    assert np.array_equal(fast, labels)


def _name_in_fresh_interpreter(environment: dict[str, str]) -> object:
    settings = "".join(f"os.environ[{k!r}] = {v!r}; " for k, v in environment.items())
    code = (
        "import json, os; os.environ.pop('GTCONSENSUS_ZLIB', None); "
        f"os.environ.pop('GTCONSENSUS_INFLATER', None); {settings}"
        "import gtconsensus.zlibs as i; print(json.dumps(i.NAME))"
    )
    return json_from_fresh_interpreter(code)


def test_zlib_ng_is_used_when_installed_and_the_environment_can_rule_it_out() -> None:
    default = "zlib-ng" if HAS_ZLIB_NG else "zlib"
    assert _name_in_fresh_interpreter({}) == default
    assert _name_in_fresh_interpreter({"GTCONSENSUS_ZLIB": "zlib"}) == "zlib"
    assert _name_in_fresh_interpreter({"GTCONSENSUS_ZLIB": "zlib-ng"}) == default
    assert _name_in_fresh_interpreter({"GTCONSENSUS_ZLIB": "auto"}) == default
    # the older name is read when the new one is unset, and the new one wins
    assert _name_in_fresh_interpreter({"GTCONSENSUS_INFLATER": "zlib"}) == "zlib"
    both = {"GTCONSENSUS_ZLIB": "auto", "GTCONSENSUS_INFLATER": "zlib"}
    assert _name_in_fresh_interpreter(both) == default


def test_a_misspelt_choice_warns_and_keeps_the_default() -> None:
    code = (
        "import json, os, warnings; os.environ.pop('GTCONSENSUS_INFLATER', None)\n"
        "os.environ['GTCONSENSUS_ZLIB'] = 'zlibng'\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import gtconsensus.zlibs as i\n"
        "print(json.dumps([i.NAME, [str(w.message) for w in caught]]))"
    )
    name, messages = json_from_fresh_interpreter(code)
    assert name == ("zlib-ng" if HAS_ZLIB_NG else "zlib")
    assert any("GTCONSENSUS_ZLIB='zlibng'" in m for m in messages)


# Run-structured bytes like a consensus PNG's rows: runs of a few values, of any length
# (past 258, deflate's longest match, and past a block's 16k symbols), with stretches of
# noise where the run-length strategy writes literals.
RUNS = st.lists(
    st.tuples(st.integers(0, 255), st.integers(1, 2_000)), min_size=1, max_size=300
).map(lambda runs: b"".join(bytes([value]) * length for value, length in runs))
STREAMS = st.one_of(RUNS, st.binary(max_size=5_000), st.lists(RUNS, max_size=8).map(b"".join))


@pytest.mark.skipif(not HAS_ZLIB_NG, reason="zlib-ng is not installed (pip install '.[fast]')")
@given(data=STREAMS)
def test_zlib_ng_deflates_runs_to_the_standard_librarys_bytes(data: bytes) -> None:
    """The consensus PNG's bytes do not depend on whether zlib-ng is installed."""
    outputs = []
    for module in (importlib.import_module("zlib_ng.zlib_ng"), zlib):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(zlibs, "_MODULE", module)
            outputs.append(zlibs.deflate_rle(data))
    assert outputs[0] == outputs[1]
    assert zlib.decompressobj(-15).decompress(outputs[0]) == data  # not final: more may follow


@pytest.mark.skipif(not HAS_ZLIB_NG, reason="zlib-ng is not installed (pip install '.[fast]')")
def test_zlib_ng_deflates_large_label_rows_to_the_standard_librarys_bytes() -> None:
    """Megabytes, many deflate blocks: 50-instance-like rows, random bytes, all zeros."""
    rng = np.random.default_rng(6)
    runs = rng.geometric(1 / 40, size=60_000)
    values = rng.integers(0, 51, size=runs.size, dtype=np.uint8)
    cases = [np.repeat(values, runs).tobytes(), rng.bytes(2_000_000), bytes(3_000_000)]
    for data in cases:
        ng = importlib.import_module("zlib_ng.zlib_ng").compressobj(1, 8, -15, 9, zlib.Z_RLE)
        std = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
        flushed = [c.compress(data) + c.flush(zlib.Z_FULL_FLUSH) for c in (ng, std)]
        assert flushed[0] == flushed[1]


def test_a_consensus_png_is_the_same_bytes_with_either_zlib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(rng.integers(0, 60, size=(90, 40)), 7, axis=1).astype(np.uint8)
    labels[:20] = 0  # blank rows come from cached blocks, the rest is deflated
    png = encode_label_png(labels)
    monkeypatch.setattr(zlibs, "_MODULE", zlib)
    assert encode_label_png(labels) == png
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), labels)
