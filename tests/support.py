"""Small builders shared by the tests (answers, lines, hand-made PNGs)."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from gtconsensus.testing.strategies import encode_answer, recipe_line

__all__ = [
    "COLOURS",
    "Terminal",
    "answer",
    "bar",
    "entry",
    "existence_lists",
    "label_value_of",
    "line",
    "png_chunk",
    "png_of",
    "png_with_header",
    "raw_line",
    "same_partition",
]


class Terminal(io.StringIO):
    """A text stream that says it is a terminal: where the CLI draws its progress bar."""

    def isatty(self) -> bool:
        return True


COLOURS = ("#2ca02c", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd")


def answer(labels: np.ndarray, classes: Sequence[str], *, png_mode: str = "P8") -> dict[str, Any]:
    """An ``annotatedResult`` dict, in the tool's colours (``#2ca02c`` first)."""
    return encode_answer(
        np.asarray(labels, dtype=np.uint8), list(classes), list(COLOURS[: len(classes)]),
        png_mode=png_mode,
    )  # fmt: skip


def entry(worker_id: str, content: Any) -> dict[str, Any]:
    """One ``annotationsFromAllWorkers`` element; dict contents become JSON strings."""
    text = content if isinstance(content, str) else json.dumps(content)
    return {"workerId": worker_id, "annotationData": {"content": text}}


def line(answers: Sequence[tuple[str, dict[str, Any]]], **kwargs: Any) -> str:
    """A recipe-output line (label attribute ``gt-label`` unless given)."""
    return recipe_line(answers, **kwargs)


def raw_line(entries: Sequence[Any], *, attribute: str = "gt-label") -> str:
    """A recipe-output line from raw ``annotationsFromAllWorkers`` elements."""
    return json.dumps(
        {"source-ref": "s3://bucket/1.jpg", attribute: {"annotationsFromAllWorkers": list(entries)}}
    )


def label_value_of(output: str, attribute: str = "gt-label") -> dict[str, Any]:
    """The value under the label attribute of an output line."""
    value: dict[str, Any] = json.loads(output)[attribute]
    return value


def bar(width: int, *spans: tuple[int, int]) -> np.ndarray:
    """A ``(1, width)`` label image; span ``i`` (start, stop) is label ``i + 1``."""
    labels = np.zeros((1, width), dtype=np.uint8)
    for label, (start, stop) in enumerate(spans, start=1):
        labels[0, start:stop] = label
    return labels


def png_of(answer_dict: dict[str, Any]) -> bytes:
    """The PNG bytes of an answer."""
    return base64.b64decode(answer_dict["labeledImage"]["pngImageData"])


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_with_header(width: int, height: int, *, bit_depth: int = 1, colour_type: int = 3) -> bytes:
    """A PNG of only a header (and an empty IDAT): what a decompression bomb looks like."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"PLTE", b"\x00\x00\x00\x1f\x77\xb4")
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images split the pixels the same way (up to renumbering)."""
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
    forward = dict(pairs)
    backward = {y: x for x, y in pairs}
    return len(forward) == len(backward) == len(pairs) and forward.get(0, 0) == 0


def existence_lists(n_candidates: int) -> st.SearchStrategy[list[float] | None]:
    """``existence`` for ``n_candidates`` candidates: none (the majority rule) or a
    probability per candidate."""
    probabilities = st.lists(st.floats(0.0, 1.0), min_size=n_candidates, max_size=n_candidates)
    return st.none() | probabilities
