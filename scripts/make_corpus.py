"""Write the malformed-input corpus: ``tests/corpus/*.jsonl`` and ``tests/corpus/index.json``.

Each case is one manifest line (bytes, as read from a file: possibly not UTF-8,
not JSON, or cut short) in the recipe form with the label attribute
``gt-label``, plus its expected outcome in ``index.json``::

    {"<name>": {"expect": "<code>" or "consolidates",
                "at": "line" | "answer" | "none",
                "about": "what is wrong"}}

- ``at: line``: the line (object) fails with that code;
- ``at: answer``: one answer (worker ``b``, between two good ones) is rejected
  with that code, listed under ``consensus.rejected``, and the object is
  consolidated from the others;
- ``at: none``: a valid edge case (``expect`` is ``consolidates``): no error,
  no rejection.

``tests/test_corpus.py`` runs every case through
:func:`gtconsensus.consolidate_line` and checks the outcome; the fuzzer
(``benchmarks/fuzz.py``) mutates these files as seeds. The output is the same
bytes on every run for a given Pillow and zlib.

Usage::

    python scripts/make_corpus.py            # rewrite tests/corpus/
    python scripts/make_corpus.py --check    # exit 1 if tests/corpus/ is not up to date
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gtconsensus.masks import encode_label_png
from gtconsensus.testing.strategies import encode_answer

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
ATTR = "gt-label"
COLOURS = ["#1f77b4", "#ff7f0e"]
GREYS = ["#808080", "#ffffff"]

Json = dict[str, Any]
Case = tuple[str, str, str, bytes]  # expect, at, about, line bytes


def _labels(height: int = 4, width: int = 6) -> np.ndarray:
    labels = np.zeros((height, width), np.uint8)
    labels[0:2, 0:3] = 1
    labels[2:4, 3:6] = 2
    return labels


def _answer(labels: np.ndarray | None = None, *, png_mode: str = "P8") -> Json:
    labels = _labels() if labels is None else labels
    colours = GREYS if png_mode in ("L", "LA", "I;16") else COLOURS
    return encode_answer(labels, ["Car", "Person"], colours, png_mode=png_mode)


def _with_png(answer: Json, png: bytes | str) -> Json:
    text = png if isinstance(png, str) else base64.b64encode(png).decode("ascii")
    return {**answer, "labeledImage": {"pngImageData": text}}


def _png() -> bytes:
    return encode_label_png(_labels())


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _hand_png(
    width: int,
    height: int,
    depth: int,
    colour: int,
    raw: bytes,
    *extra: bytes,
    idat: bytes | None = None,
) -> bytes:
    """A PNG of these header fields, ``extra`` chunks, and ``raw`` rows compressed
    (or ``idat`` as the IDAT chunk's data, as is)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data = zlib.compress(raw) if idat is None else idat
    return b"".join([b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header), *extra,
                     _chunk(b"IDAT", data), _chunk(b"IEND", b"")])  # fmt: skip


def _entry(worker_id: str, content: Any) -> Json:
    text = content if isinstance(content, str) else json.dumps({"annotatedResult": content})
    return {"workerId": worker_id, "annotationData": {"content": text}}


def _line(entries: list[Any], **extra: Any) -> bytes:
    value = {
        "source-ref": "s3://bucket/images/0001.jpg",
        ATTR: {"annotationsFromAllWorkers": entries},
        f"{ATTR}-metadata": {"type": "groundtruth/custom", "job-name": ATTR},
        **extra,
    }
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _value_line(value: Any) -> bytes:
    return json.dumps({"source-ref": "s3://bucket/images/0001.jpg", ATTR: value}).encode()


def _good() -> bytes:
    return _line([_entry(w, _answer()) for w in "abc"])


def _middle(bad: Any) -> bytes:
    """Workers a and c answer well; ``bad`` is worker b's raw entry."""
    return _line([_entry("a", _answer()), bad, _entry("c", _answer())])


def _b(answer: Json) -> bytes:
    return _middle(_entry("b", answer))


def _png_cases() -> dict[str, Case]:
    png = _png()
    idat = png.find(b"IDAT")
    length = struct.unpack(">I", png[idat - 4 : idat])[0]
    bad_idat_crc = bytearray(png)
    bad_idat_crc[idat + 4 + length] ^= 0xFF
    bad_ihdr_crc = bytearray(png)
    bad_ihdr_crc[29] ^= 0xFF
    gif = b"GIF89a\x06\x00\x04\x00" + bytes(30)
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(30)
    bomb = _hand_png(50_000, 50_000, 1, 3, b"", _chunk(b"PLTE", bytes(6)))
    inflating = b"".join([b"\x89PNG\r\n\x1a\n",
                          _chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 4, 8, 0, 0, 0, 0)),
                          _chunk(b"IDAT", zlib.compress(bytes(8 << 20), 9)),
                          _chunk(b"IEND", b"")])  # fmt: skip
    texts = [_chunk(b"tEXt", b"Comment\x00%d" % i) for i in range(100)]
    grey_rows = b"".join(b"\x00" + bytes(row) for row in (_labels() * 0x80).tolist())
    a = _answer()
    return {
        "png_gif": ("not_png", "answer", "a GIF, not a PNG", _b(_with_png(a, gif))),
        "png_jpeg": ("not_png", "answer", "a JPEG, not a PNG", _b(_with_png(a, jpeg))),
        "png_text": ("not_png", "answer", "base64 of plain text", _b(_with_png(a, b"hello"))),
        "png_signature_only": (
            "not_png",
            "answer",
            "the 8-byte signature and nothing else",
            _b(_with_png(a, png[:8])),
        ),
        "png_cut_in_header": ("not_png", "answer", "cut inside IHDR", _b(_with_png(a, png[:20]))),
        "png_truncated_half": (
            "bad_png",
            "answer",
            "the first half of a PNG",
            _b(_with_png(a, png[: len(png) // 2])),
        ),
        "png_cut_idat": (
            "bad_png",
            "answer",
            "cut inside its IDAT chunk",
            _b(_with_png(a, png[: idat + 8])),
        ),
        "png_no_iend": ("bad_png", "answer", "IEND chunk missing", _b(_with_png(a, png[:-12]))),
        "png_bad_crc_ihdr": (
            "bad_png",
            "answer",
            "IHDR's CRC flipped",
            _b(_with_png(a, bytes(bad_ihdr_crc))),
        ),
        "png_bad_crc_idat": (
            "bad_png",
            "answer",
            "IDAT's CRC flipped (Pillow skips it)",
            _b(_with_png(a, bytes(bad_idat_crc))),
        ),
        "png_idat_not_zlib": (
            "bad_png",
            "answer",
            "IDAT holds bytes that are not zlib",
            _b(_with_png(a, _hand_png(6, 4, 8, 0, b"", idat=b"x" * 40))),
        ),
        "png_zero_width": (
            "bad_png",
            "answer",
            "IHDR says 0 pixels wide",
            _b(_with_png(a, _hand_png(0, 4, 8, 0, b""))),
        ),
        "png_bad_bit_depth": (
            "bad_png",
            "answer",
            "colour type 3 with bit depth 16",
            _b(_with_png(a, _hand_png(6, 4, 16, 3, bytes(52)))),
        ),
        "png_bomb_header": (
            "image_too_large",
            "answer",
            "70 bytes claiming 50,000 x 50,000",
            _b(_with_png(a, bomb)),
        ),
        "png_idat_inflates_past": (
            "bad_png",
            "answer",
            "6x4 image whose IDAT inflates to 8 MiB",
            _b(_with_png(a, inflating)),
        ),
        "png_many_text_chunks": (
            "too_many_chunks",
            "answer",
            "100 tEXt chunks",
            _b(_with_png(a, _hand_png(6, 4, 8, 0, grey_rows, *texts))),
        ),
        "png_16bit_grey": (
            "consolidates",
            "none",
            "16-bit greyscale (I;16)",
            _b(_answer(png_mode="I;16")),
        ),
        "png_16bit_rgb": (
            "consolidates",
            "none",
            "16-bit RGB, hand-written",
            _b(_with_png(a, _rgb16_png())),
        ),
        "png_interlaced": (
            "consolidates",
            "none",
            "Adam7-interlaced palette PNG",
            _b(_answer(png_mode="P8-interlaced")),
        ),
        "png_rgba": (
            "consolidates",
            "none",
            "RGBA, background alpha 0",
            _b(_answer(png_mode="RGBA")),
        ),
        "png_grey_with_alpha": ("consolidates", "none", "LA greyscale", _b(_answer(png_mode="LA"))),
        "png_1bit_palette": (
            "consolidates",
            "none",
            "2-bit palette (two instances)",
            _b(_answer(png_mode="P2")),
        ),
    }


def _rgb16_png() -> bytes:
    """The standard answer as a 16-bit RGB PNG (Pillow reads the high bytes)."""
    rgb = np.array([(0, 0, 0), (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)], dtype=">u2") * 257
    pixels = rgb[_labels()]
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    return _hand_png(6, 4, 16, 2, raw)


def _base64_cases() -> dict[str, Case]:
    a = _answer()
    text = a["labeledImage"]["pngImageData"]
    padded = base64.b64encode(_png() + b"\x00" * (-len(_png()) % 3 + 1)).decode()
    escaped = _line([_entry(w, _answer()) for w in "abc"]).replace(b"=", b"\\u003d")
    return {
        "base64_invalid_chars": (
            "bad_base64",
            "answer",
            "characters outside base64",
            _b(_with_png(a, text[:8] + "*&^%" + text[12:])),
        ),
        "base64_missing_padding": (
            "bad_base64",
            "answer",
            "the trailing '=' removed",
            _b(_with_png(a, padded.rstrip("="))),
        ),
        "base64_extra_padding": (
            "bad_base64",
            "answer",
            "'==' in the middle",
            _b(_with_png(a, text[:16] + "==" + text[16:])),
        ),
        "base64_line_breaks": (
            "bad_base64",
            "answer",
            "MIME-style line breaks every 20 chars",
            _b(_with_png(a, "\n".join(text[i : i + 20] for i in range(0, len(text), 20)))),
        ),
        "base64_url_safe": (
            "bad_base64",
            "answer",
            "URL-safe alphabet (- and _)",
            _b(_with_png(a, base64.urlsafe_b64encode(b"\xfb\xff" * 30 + _png()).decode())),
        ),
        "base64_json_escaped": (
            "consolidates",
            "none",
            "'=' written as \\u003d (seen in the wild)",
            escaped,
        ),
    }


def _answer_cases() -> dict[str, Case]:
    a = _answer()
    props = a["inputImageProperties"]
    big = _answer(np.zeros((8, 8), np.uint8))
    big["instances"] = a["instances"]
    many = [{"color": f"#{i:06x}", "label": "Car"} for i in range(1, 1002)]
    return {
        "entry_string": ("bad_schema", "answer", "an entry that is a string", _middle("w")),
        "entry_null": ("bad_schema", "answer", "an entry that is null", _middle(None)),
        "entry_missing_worker_id": (
            "bad_schema",
            "answer",
            "no workerId",
            _middle({"annotationData": {"content": json.dumps({"annotatedResult": a})}}),
        ),
        "entry_empty_worker_id": ("bad_schema", "answer", "workerId is ''", _middle(_entry("", a))),
        "entry_numeric_worker_id": (
            "bad_schema",
            "answer",
            "workerId is a number",
            _middle({**_entry("b", a), "workerId": 7}),
        ),
        "entry_missing_annotation_data": (
            "bad_schema",
            "answer",
            "no annotationData",
            _middle({"workerId": "b"}),
        ),
        "annotation_data_empty": (
            "bad_schema",
            "answer",
            "annotationData is {}",
            _middle({"workerId": "b", "annotationData": {}}),
        ),
        "content_not_json": (
            "bad_json",
            "answer",
            "content is not JSON",
            _middle(_entry("b", "no")),
        ),
        "content_truncated": (
            "bad_json",
            "answer",
            "content cut in the middle",
            _middle(_entry("b", json.dumps({"annotatedResult": a})[:40])),
        ),
        "content_empty_string": ("bad_json", "answer", "content is ''", _middle(_entry("b", ""))),
        "content_number": (
            "bad_schema",
            "answer",
            "content is the JSON number 5",
            _middle(_entry("b", "5")),
        ),
        "content_object_not_string": (
            "bad_schema",
            "answer",
            "content is an object, not a string",
            _middle({"workerId": "b", "annotationData": {"content": {"annotatedResult": a}}}),
        ),
        "content_s3_uri_only": (
            "answer_by_reference",
            "answer",
            "s3uri (lower case), no fetch",
            _middle({"workerId": "b", "annotationData": {"s3uri": "s3://b/k"}}),
        ),
        "element_ambiguous": (
            "missing_element",
            "answer",
            "two keys, no annotatedResult",
            _middle(_entry("b", json.dumps({"x": a, "y": a}))),
        ),
        "element_list_of_two": (
            "bad_schema",
            "answer",
            "the answer wrapped in a 2-element list",
            _middle(_entry("b", json.dumps({"annotatedResult": [a, a]}))),
        ),
        "missing_image_properties": (
            "bad_schema",
            "answer",
            "no inputImageProperties",
            _b({k: v for k, v in a.items() if k != "inputImageProperties"}),
        ),
        "height_zero": (
            "bad_schema",
            "answer",
            "height 0",
            _b({**a, "inputImageProperties": {**props, "height": 0}}),
        ),
        "width_negative": (
            "bad_schema",
            "answer",
            "width -6",
            _b({**a, "inputImageProperties": {**props, "width": -6}}),
        ),
        "width_float": (
            "bad_schema",
            "answer",
            "width 6.5",
            _b({**a, "inputImageProperties": {**props, "width": 6.5}}),
        ),
        "instances_not_list": (
            "bad_schema",
            "answer",
            "instances is an object",
            _b({**a, "instances": {"0": a["instances"][0]}}),
        ),
        "instance_missing_label": (
            "bad_schema",
            "answer",
            "an instance without label",
            _b({**a, "instances": [{"color": "#1f77b4"}, a["instances"][1]]}),
        ),
        "colour_name": (
            "bad_schema",
            "answer",
            "color 'blue'",
            _b({**a, "instances": [{"color": "blue", "label": "Car"}, a["instances"][1]]}),
        ),
        "colour_short_hex": (
            "bad_schema",
            "answer",
            "color '#fff'",
            _b({**a, "instances": [{"color": "#fff", "label": "Car"}, a["instances"][1]]}),
        ),
        "missing_labeled_image": (
            "bad_schema",
            "answer",
            "no labeledImage",
            _b({k: v for k, v in a.items() if k != "labeledImage"}),
        ),
        "png_data_empty": ("bad_schema", "answer", "pngImageData is ''", _b(_with_png(a, ""))),
        "png_data_number": (
            "bad_schema",
            "answer",
            "pngImageData is a number",
            _b({**a, "labeledImage": {"pngImageData": 12}}),
        ),
        "size_mismatch": (
            "size_mismatch",
            "answer",
            "PNG 6x4, inputImageProperties 7x4",
            _b({**a, "inputImageProperties": {**props, "width": 7}}),
        ),
        "size_disagreement": (
            "size_disagreement",
            "answer",
            "worker b answered for an 8x8 image",
            _b(big),
        ),
        "duplicate_colours": (
            "duplicate_colour",
            "answer",
            "one colour listed twice",
            _b({**a, "instances": [a["instances"][0], {**a["instances"][0], "label": "Bus"}]}),
        ),
        "black_listed_in_rgb": (
            "bad_colour",
            "answer",
            "#000000 listed in an RGB PNG",
            _b(
                {
                    **_answer(png_mode="RGB"),
                    "instances": [{"color": "#000000", "label": "Car"}, a["instances"][1]],
                }
            ),
        ),
        "too_many_instances": (
            "too_many_instances",
            "answer",
            "1,001 instances listed",
            _b({**a, "instances": many}),
        ),
        "colour_not_in_list": (
            "consolidates",
            "none",
            "a painted colour not listed (stray pixels)",
            _b({**a, "instances": a["instances"][:1]}),
        ),
        "colours_upper_case": (
            "consolidates",
            "none",
            "colours in upper case",
            _b({**a, "instances": [{**i, "color": i["color"].upper()} for i in a["instances"]]}),
        ),
        "label_empty": (
            "consolidates",
            "none",
            "labels ''",
            _b({**a, "instances": [{**i, "label": ""} for i in a["instances"]]}),
        ),
        "label_huge": (
            "consolidates",
            "none",
            "a 50,000-character label",
            _b(
                {
                    **a,
                    "instances": [{**a["instances"][0], "label": "L" * 50_000}, a["instances"][1]],
                }
            ),
        ),
        "label_non_ascii": (
            "consolidates",
            "none",
            "labels in German, Japanese and an emoji",
            _b({**a, "instances": [{**i, "label": "Fußgänger 歩行者 🚶"} for i in a["instances"]]}),
        ),
        "empty_answer": (
            "consolidates",
            "none",
            "instances [] and a blank PNG",
            _b(_answer(np.zeros((4, 6), np.uint8)) | {"instances": []}),
        ),
    }


def _line_cases() -> dict[str, Case]:
    good = _good()
    bad = _entry("x", "not json")
    extra = json.loads(good)
    extra["unknown-top"] = {"deep": [1, 2]}
    extra[ATTR]["unknownInValue"] = True
    for e in extra[ATTR]["annotationsFromAllWorkers"]:
        e["unknownInEntry"] = 1
        e["annotationData"]["unknownInData"] = None
        content = json.loads(e["annotationData"]["content"])
        content["unknownElementSibling"] = "x"
        content["annotatedResult"]["unknownInAnswer"] = [1]
        content["annotatedResult"]["instances"][0]["unknownInInstance"] = {}
        e["annotationData"]["content"] = json.dumps(content)
    return {
        "not_json": ("bad_json", "line", "plain text", b"hello, world"),
        "truncated_line": ("bad_json", "line", "a good line cut in half", good[: len(good) // 2]),
        "trailing_garbage": ("bad_json", "line", "a good line followed by junk", good + b" xyz"),
        "two_objects": ("bad_json", "line", "two JSON objects on one line", good + b" " + good),
        "invalid_utf8": (
            "bad_json",
            "line",
            "bytes that are not UTF-8",
            good.replace(b"0001.jpg", b"\xff\xfe.jpg"),
        ),
        "nan_value": (
            "bad_json",
            "line",
            "NaN, which JSON cannot write back",
            good[:-1] + b', "score": NaN}',
        ),
        "huge_number": (
            "bad_json",
            "line",
            "1e999, infinite as a double",
            good[:-1] + b', "n": 1e999}',
        ),
        "deep_nesting": ("bad_json", "line", "10,000 nested lists", b"[" * 10_000 + b"]" * 10_000),
        "json_array": ("bad_line", "line", "a JSON list", b"[1, 2, 3]"),
        "json_string": ("bad_line", "line", "a JSON string", b'"gt-label"'),
        "json_null": ("bad_line", "line", "null", b"null"),
        "empty_object": ("missing_label_attribute", "line", "{}", b"{}"),
        "attribute_missing": (
            "missing_label_attribute",
            "line",
            "no gt-label key",
            b'{"source-ref": "s3://bucket/images/0001.jpg"}',
        ),
        "attribute_not_object": ("bad_schema", "line", "gt-label is a list", _value_line([1])),
        "attribute_null": ("bad_schema", "line", "gt-label is null", _value_line(None)),
        "answers_key_missing": (
            "missing_answers",
            "line",
            "gt-label is {} (no post-Lambda)",
            _value_line({}),
        ),
        "answers_not_list": (
            "bad_schema",
            "line",
            "annotationsFromAllWorkers is an object",
            _value_line({"annotationsFromAllWorkers": {"a": 1}}),
        ),
        "zero_workers": ("no_answers", "line", "annotationsFromAllWorkers is []", _line([])),
        "all_answers_bad": (
            "no_valid_answer",
            "line",
            "every answer's content is not JSON",
            _line([bad, {**bad, "workerId": "y"}]),
        ),
        "too_many_answers": (
            "too_many_answers",
            "line",
            "101 answers for one object",
            _line([_entry(f"w{i}", "{}") for i in range(101)]),
        ),
        "answers_by_reference": (
            "unresolved_reference",
            "line",
            "annotationsFromAllWorkers-ref and nothing to read S3",
            _value_line({"annotationsFromAllWorkers-ref": "s3://b/r.json"}),
        ),
        "reference_not_s3": (
            "bad_reference",
            "line",
            "a -ref that is not an s3:// URI",
            _value_line({"annotationsFromAllWorkers-ref": "/etc/passwd"}),
        ),
        "one_worker": (
            "consolidates",
            "none",
            "a single answer (confidence 0)",
            _line([_entry("a", _answer())]),
        ),
        "same_worker_twice": (
            "duplicate_worker",
            "answer",
            "worker a answered twice",
            _line([_entry("a", _answer()), _entry("a", _answer()), _entry("c", _answer())]),
        ),
        "unknown_extra_keys": (
            "consolidates",
            "none",
            "unknown keys at every level",
            json.dumps(extra).encode(),
        ),
        "worker_id_snake_case": (
            "consolidates",
            "none",
            "worker_id instead of workerId",
            _line(
                [
                    {"worker_id": e["workerId"], "annotationData": e["annotationData"]}
                    for e in json.loads(good)[ATTR]["annotationsFromAllWorkers"]
                ]
            ),
        ),
        "element_in_one_element_list": (
            "consolidates",
            "none",
            "each answer in a 1-element list",
            _line([_entry(w, json.dumps({"annotatedResult": [_answer()]})) for w in "abc"]),
        ),
        "element_other_name": (
            "consolidates",
            "none",
            "the element is named crowd-seg",
            _line([_entry(w, json.dumps({"crowd-seg": _answer()})) for w in "abc"]),
        ),
        "crlf_line_end": ("consolidates", "none", "a line ending in CR LF", good + b"\r\n"),
        "utf8_bom": (
            "consolidates",
            "none",
            "a UTF-8 byte-order mark before the line",
            "\ufeff".encode() + good,
        ),
    }


CASE_GROUPS: tuple[Callable[[], dict[str, Case]], ...] = (
    _line_cases, _answer_cases, _base64_cases, _png_cases,
)  # fmt: skip


def cases() -> dict[str, Case]:
    """Every case: name -> (expect, at, about, line bytes)."""
    out: dict[str, Case] = {}
    for group in CASE_GROUPS:
        for name, case in group().items():
            if name in out:
                raise ValueError(f"case {name!r} defined twice")
            out[name] = case
    return out


def render() -> dict[str, bytes]:
    """File name -> content, the index included."""
    files: dict[str, bytes] = {}
    index: dict[str, dict[str, str]] = {}
    for name, (expect, at, about, data) in sorted(cases().items()):
        files[f"{name}.jsonl"] = data
        index[name] = {"expect": expect, "at": at, "about": about}
    files["index.json"] = (json.dumps(index, indent=1, ensure_ascii=False) + "\n").encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        stale = [n for n, d in files.items() if not (CORPUS / n).is_file()
                 or (CORPUS / n).read_bytes() != d]  # fmt: skip
        extra = sorted({p.name for p in CORPUS.glob("*")} - set(files))
        if stale or extra:
            print(f"tests/corpus is out of date: {stale[:5]} differ, {extra[:5]} extra",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    CORPUS.mkdir(parents=True, exist_ok=True)
    for old in CORPUS.glob("*.jsonl"):
        if old.name not in files:
            old.unlink()
    for name, data in files.items():
        (CORPUS / name).write_bytes(data)
    print(f"wrote {len(files) - 1} cases to {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
