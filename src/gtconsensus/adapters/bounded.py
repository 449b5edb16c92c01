"""Reading a manifest's lines with bounded memory, whatever the file holds.

Iterating a binary file (``for raw in source``) reads a whole physical line
before the caller sees it: a corrupted manifest with gigabytes and no newline
would be read into memory before any limit could refuse it.
:func:`bounded_lines` reads at most ``max_line_bytes + 1`` bytes of a line and
skips the rest in 1 MiB pieces, so the caller sees every line, numbered, and
can refuse an over-long one (``line_too_long``) from its first bytes.

Examples
--------
>>> import io
>>> source = io.BytesIO(b'{"a": 1}\\n\\n' + b"x" * 10 + b"\\nlast")
>>> [(line.number, line.data, line.size) for line in bounded_lines(source, max_line_bytes=8)]
[(1, b'{"a": 1}', 8), (2, b'', 0), (3, b'xxxxxxxxx', 10), (4, b'last', 4)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

__all__ = ["BoundedLine", "bounded_lines"]

_PIECE = 1 << 20


@dataclass(frozen=True, slots=True)
class BoundedLine:
    """One physical line.

    Attributes
    ----------
    number : int
        1-based physical line number (blank lines counted).
    data : bytes
        The line without its line end (``\\n`` or ``\\r\\n``), cut after
        ``max_line_bytes + 1`` bytes when longer.
    size : int
        The line's whole length in bytes, line end excluded.
    """

    number: int
    data: bytes
    size: int

    @property
    def cut(self) -> bool:
        """Whether ``data`` holds only the start of the line."""
        return len(self.data) < self.size


def _skip_rest(source: IO[bytes]) -> tuple[int, bool]:
    """Skip to the end of the line; return the bytes skipped and whether a newline ended it."""
    skipped = 0
    while True:
        piece = source.readline(_PIECE)
        if not piece:
            return skipped, False
        if piece.endswith(b"\n"):
            return skipped + len(piece) - 1, True
        skipped += len(piece)


def bounded_lines(
    source: IO[bytes], *, max_line_bytes: int, progress: Callable[[int], None] | None = None
) -> Iterator[BoundedLine]:
    """Every physical line of ``source``, holding at most ``max_line_bytes + 1`` bytes of one.

    Parameters
    ----------
    source : binary file
    max_line_bytes : int
        The limit (:attr:`gtconsensus.limits.Limits.max_line_bytes`); a longer
        line comes cut, with its true ``size``.
    progress : callable, optional
        Called with the number of bytes consumed after each line.
    """
    number = 0
    while True:
        head = source.readline(max_line_bytes + 2)  # room for the limit + 1 bytes and "\n"
        if not head:
            return
        number += 1
        consumed = len(head)
        if head.endswith(b"\n"):
            data = head[:-1]
            size = len(data)
        else:
            rest, ended = _skip_rest(source) if len(head) == max_line_bytes + 2 else (0, False)
            consumed += rest + ended
            data = head[: max_line_bytes + 1]
            size = len(head) + rest
        if data.endswith(b"\r") and len(data) == size:  # a whole line ending in CR LF
            data, size = data[:-1], size - 1
        if progress is not None:
            progress(consumed)
        yield BoundedLine(number, data, size)
