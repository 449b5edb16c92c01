"""Bounded line reading: every line numbered, an over-long one cut without reading it whole."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from gtconsensus.adapters.bounded import bounded_lines
from gtconsensus.exceptions import SchemaError
from gtconsensus.limits import Limits, check_line_size
from gtconsensus.lines import consolidate_line


def _lines(data: bytes, limit: int) -> list[tuple[int, bytes, int]]:
    return [
        (x.number, x.data, x.size) for x in bounded_lines(io.BytesIO(data), max_line_bytes=limit)
    ]


@pytest.mark.parametrize("size", [7, 8, 9, 10, 11, 30])
def test_lines_at_under_and_over_the_limit_keep_their_true_size(size: int) -> None:
    lines = _lines(b"a\n" + b"x" * size + b"\nb\n", 8)
    assert [(n, s) for n, _, s in lines] == [(1, 1), (2, size), (3, 1)]
    assert lines[1][1] == b"x" * min(size, 9)  # at most the limit + 1 bytes are held
    assert lines[2][1] == b"b"


def test_blank_lines_crlf_and_a_last_line_without_newline() -> None:
    assert _lines(b"a\r\n\n\r\nlast", 100) == [(1, b"a", 1), (2, b"", 0), (3, b"", 0),
                                                (4, b"last", 4)]  # fmt: skip


def test_a_cut_line_is_refused_as_too_long_by_the_reader() -> None:
    line = next(iter(bounded_lines(io.BytesIO(b"{" * 50 + b"\n"), max_line_bytes=10)))
    assert line.cut
    result = consolidate_line(line.data, limits=Limits(max_line_bytes=10))
    assert result.error is not None
    assert result.error.code == "line_too_long"
    with pytest.raises(SchemaError, match="line has 11 bytes"):
        check_line_size(line.data, Limits(max_line_bytes=10))


def test_a_huge_line_without_newline_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.manifest"
    with path.open("wb") as handle:
        handle.write(b'{"ok": 1}\n')
        for _ in range(64):
            handle.write(b"x" * (1 << 20))  # 64 MiB, no newline
        handle.write(b"\n{}\n")
    consumed: list[int] = []
    tracemalloc.start()
    try:
        with path.open("rb") as source:
            read = bounded_lines(source, max_line_bytes=1 << 16, progress=consumed.append)
            lines = [(x.number, len(x.data), x.size) for x in read]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == [(1, 9, 9), (2, (1 << 16) + 1, 64 << 20), (3, 2, 2)]
    assert sum(consumed) == path.stat().st_size
    assert peak < 8 << 20
