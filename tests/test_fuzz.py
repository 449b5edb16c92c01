"""Fuzzing the parser and the decoder: only library errors escape, consolidate_line never raises.

Short Hypothesis runs for CI (the ``ci`` profile's example count); the long run is
``benchmarks/fuzz.py`` (mutated corpus lines, see ``benchmarks/FUZZ.md``).
"""

from __future__ import annotations

import base64
import copy
import json
import struct
import zlib
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gtconsensus import GtConsensusError, MaskError, consolidate_line, decode_label_png
from gtconsensus.answers import read_answer
from gtconsensus.exceptions import CODES
from gtconsensus.lines import LineResult
from gtconsensus.testing import strategies as gts
from gtconsensus.testing.synthetic import refresh_png_crcs

MAX_MESSAGE = 2_000
SMALL = st.integers(1, 12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["#1f77b4", "iVBORw0KGgo=", "annotatedResult"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)  # fmt: skip
COLOURS = st.lists(st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True), max_size=4)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return found
    for key, item in items:
        found.append((*path, key))
        found.extend(_paths(item, (*path, key)))
    return found


@st.composite
def _mutated(draw: st.DrawFn, tree: Any) -> Any:
    """``tree`` with one value replaced by any JSON value, or one key deleted."""
    tree = copy.deepcopy(tree)
    paths = _paths(tree)
    if not paths:
        return draw(JSON_VALUES)
    path = draw(st.sampled_from(paths))
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = draw(JSON_VALUES)
    else:
        del parent[path[-1]]
    return tree


def _entry(worker_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    content = json.dumps({"annotatedResult": answer})
    return {"workerId": worker_id, "annotationData": {"content": content}}


@st.composite
def _damaged_pngs(draw: st.DrawFn) -> bytes:
    """A valid answer's PNG with bytes flipped, cut or inserted; CRCs fixed or not."""
    answer = draw(gts.annotated_results(height=SMALL, width=SMALL))
    png = bytearray(base64.b64decode(answer["labeledImage"]["pngImageData"]))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, len(png)))
        if action == "flip" and at < len(png):
            png[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del png[at:]
        else:
            png[at:at] = draw(st.binary(min_size=1, max_size=8))
    return refresh_png_crcs(bytes(png)) if draw(st.booleans()) else bytes(png)


def _assert_sound(result: LineResult) -> None:
    """Codes registered, messages short, output a JSON object when there is one."""
    errors = [(r.code, r.message) for r in result.rejected]
    if result.error is not None:
        errors.append((result.error.code, result.error.message))
    assert all(code in CODES for code, _ in errors)
    assert all(len(message) <= MAX_MESSAGE for _, message in errors)
    if result.output is not None:
        assert isinstance(json.loads(result.output), dict)


def _escaped(call: Callable[[], object]) -> GtConsensusError | None:
    """Run ``call``; return the library error it raised (anything else propagates)."""
    try:
        call()
    except GtConsensusError as exc:
        return exc
    return None


def _assert_library_error(error: GtConsensusError | None, kind: type = GtConsensusError) -> None:
    if error is not None:
        assert isinstance(error, kind)
        assert error.code in CODES
        assert len(error.message) <= MAX_MESSAGE


_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_LIKE = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda rest: _SIGNATURE + rest),
    st.builds(lambda header, rest: _SIGNATURE + _chunk(b"IHDR", header) + rest,
              st.binary(min_size=13, max_size=13), st.binary(max_size=200)),
)  # fmt: skip


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --- the decoder ---


@given(PNG_LIKE, COLOURS)
def test_decoder_raises_only_mask_errors_on_arbitrary_bytes(
    data: bytes, colours: list[str]
) -> None:
    _assert_library_error(_escaped(lambda: decode_label_png(data, colours)), MaskError)


@given(st.text(max_size=200), COLOURS)
def test_decoder_raises_only_mask_errors_on_arbitrary_text(text: str, colours: list[str]) -> None:
    _assert_library_error(_escaped(lambda: decode_label_png(text, colours)), MaskError)


@given(_damaged_pngs(), COLOURS)
def test_decoder_raises_only_mask_errors_on_damaged_pngs(png: bytes, colours: list[str]) -> None:
    _assert_library_error(_escaped(lambda: decode_label_png(png, colours)), MaskError)


# --- the parser ---


@given(JSON_VALUES)
def test_reader_raises_only_library_errors_on_any_json_value(raw: object) -> None:
    _assert_library_error(_escaped(lambda: read_answer(raw)))


@given(st.data())
def test_reader_raises_only_library_errors_on_a_mutated_answer(data: st.DataObject) -> None:
    answer = data.draw(gts.annotated_results(height=SMALL, width=SMALL))
    raw = data.draw(_mutated({"workerId": "w", "annotationData": {"annotatedResult": answer}}))
    if isinstance(raw, dict) and isinstance(raw.get("annotationData"), dict):
        inner = raw["annotationData"].pop("annotatedResult", None)
        raw["annotationData"].setdefault("content", json.dumps({"annotatedResult": inner}))
    _assert_library_error(_escaped(lambda: read_answer(raw)))


# --- whole lines ---


@given(st.binary(max_size=400))
def test_consolidate_line_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    _assert_sound(consolidate_line(data))


@given(st.data())
def test_consolidate_line_never_raises_on_a_mutated_line(data: st.DataObject) -> None:
    answers = data.draw(gts.panel_answers(panel=gts.panels(height=SMALL, width=SMALL)))
    line = json.loads(gts.recipe_line(answers))
    for entry in line["gt-label"]["annotationsFromAllWorkers"]:
        entry["annotationData"]["content"] = json.loads(entry["annotationData"]["content"])
    mutated = data.draw(_mutated(line))
    if isinstance(mutated, dict) and isinstance(mutated.get("gt-label"), dict):
        entries = mutated["gt-label"].get("annotationsFromAllWorkers")
        for entry in entries if isinstance(entries, list) else []:  # a mutation may replace it
            data_ = entry.get("annotationData") if isinstance(entry, dict) else None
            if isinstance(data_, dict) and "content" in data_ and data.draw(st.booleans()):
                data_["content"] = json.dumps(data_["content"])  # mostly strings, as on the wire
    attribute = data.draw(st.sampled_from(["gt-label", None]))
    _assert_sound(consolidate_line(json.dumps(mutated), label_attribute=attribute))


@given(st.data())
def test_consolidate_line_never_raises_with_damaged_pngs(data: st.DataObject) -> None:
    good = data.draw(gts.annotated_results(height=st.just(6), width=st.just(5)))
    png = data.draw(_damaged_pngs())
    bad = {**good, "labeledImage": {"pngImageData": base64.b64encode(png).decode()}}
    line = gts.recipe_line([("a", good), ("b", bad), ("c", good)])
    result = consolidate_line(line)
    _assert_sound(result)
    assert result.consensus is not None  # two good answers are always left
