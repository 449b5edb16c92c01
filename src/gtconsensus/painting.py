"""The consensus image, painted kept candidate by kept candidate (fusion's last step).

Each kept candidate's fused shape is painted inside its window. A pixel that an earlier
candidate already holds is contested: it goes to the one with the higher vote share
(votes / support), the earlier on a tie. Each candidate's held pixels (its fused shape
until it loses one) give its statistics and its renumbering, so the full image is not
read again per candidate. :func:`gtconsensus.fusion.fuse_instances` drives it.

Examples
--------
>>> canvas = Canvas((2, 3), 2)
>>> a = np.array([[True, True, False], [False, False, False]])
>>> b = np.array([[False, True, True], [False, False, False]])
>>> canvas.paint(a, 2, a.astype(np.uint8), 1.0, (0, 2, 0, 3))
>>> canvas.paint(b, 2, b.astype(np.uint8) * 2, 2.0, (0, 2, 0, 3))  # equal share: a keeps it
>>> consensus, numbers, stats = canvas.ordered()
>>> consensus.tolist(), numbers, stats.areas.tolist()
([[1, 1, 2], [0, 0, 0]], [1, 2], [3, 2, 1])
"""

from __future__ import annotations

import numpy as np

from gtconsensus._typing import BoolMask, FloatArray, IntArray, LabelImage
from gtconsensus.matching import InstanceStats, Window
from gtconsensus.patterns import Votes, votes_at

__all__ = ["Canvas", "held_box", "smallest_uint"]


def smallest_uint(n: int) -> type[np.unsignedinteger]:
    """The smallest unsigned integer type that holds ``0..n``.

    Examples
    --------
    >>> smallest_uint(255).__name__, smallest_uint(256).__name__
    ('uint8', 'uint16')
    """
    return np.uint8 if n <= 255 else np.uint16 if n <= 65_535 else np.uint32


_NEAR = 8  # lines looked at one by one from a window's side before one reduction


def held_box(held: BoolMask) -> tuple[int, int, int, int, int]:
    """``(top, bottom, left, right, first_col)`` of a mask's pixels (at least one):
    the rows and columns they span (stops exclusive), and the column of the first.

    The first pixel is one ``argmax`` (which stops there); the other sides are nearly
    always within a few lines of the window's (the window is the union of the members'
    boxes), so lines are counted one by one from there, and only a side further in
    than ``_NEAR`` lines costs a reduction over the mask.

    Examples
    --------
    >>> held = np.zeros((12, 12), bool); held[2, 5] = held[3, 1] = held[3, 9] = True
    >>> held_box(held)
    (2, 4, 1, 10, 5)
    """
    height, width = held.shape
    top, first_col = divmod(int(held.argmax()), width)
    bottom = height
    while not np.count_nonzero(held[bottom - 1]):
        bottom -= 1
        if bottom == height - _NEAR:
            bottom = int(np.flatnonzero(held.any(axis=1))[-1]) + 1
            break
    rows = held[top:bottom]
    left = 0
    while not np.count_nonzero(rows[:, left]):
        left += 1
        if left == _NEAR:
            left = int(np.argmax(rows.any(axis=0)))
            break
    right = width
    while not np.count_nonzero(rows[:, right - 1]):
        right -= 1
        if right == width - _NEAR:
            right = int(np.flatnonzero(rows.any(axis=0))[-1]) + 1
            break
    return top, bottom, left, right, first_col


class Canvas:
    """The owner image being painted, kept candidate by kept candidate (1-based numbers).

    Per kept candidate it keeps what a later rival needs to contest a pixel (votes,
    support, window), and the pixels it holds: its fused shape until it loses a pixel
    (then a copy without the pixels lost) and their count. So the final statistics
    and the renumbering read these masks, never the full owner image.
    """

    __slots__ = ("areas", "held", "owner", "shares", "windows")

    def __init__(self, shape: tuple[int, int], n_candidates: int) -> None:
        self.owner: LabelImage = np.zeros(shape, dtype=smallest_uint(n_candidates))
        self.shares: list[tuple[Votes, float]] = []
        self.windows: list[Window] = []
        self.held: list[BoolMask] = []
        self.areas: list[int] = []

    def paint(
        self, fused: BoolMask, area: int, votes: Votes, support: float, window: Window
    ) -> None:
        """Paint the next kept candidate where it wins.

        Free pixels are taken; a pixel already painted goes to the new candidate only
        when its vote share (votes / support) is higher than the owner's (equal
        shares: the earlier, which comes first in raster order, keeps it). Only the
        claimed pixels are compared, so no full-size array of shares is needed, and
        shares are divided out only there. Rows of the window that no earlier window
        meeting it reaches are free: they are written without being read.
        """
        number = len(self.windows) + 1
        r0, r1, c0, c1 = window
        top, bottom = r1, r0  # the rows reached by the earlier windows that meet this one
        for o0, o1, p0, p1 in self.windows:
            if o0 < r1 and r0 < o1 and p0 < c1 and c0 < p1:
                if o0 < top:  # (not min() and max(): their calls triple this loop's cost)
                    top = o0
                if o1 > bottom:
                    bottom = o1
        self.shares.append((votes, support))
        self.windows.append(window)
        self.held.append(fused)
        self.areas.append(area)
        region = self.owner[r0:r1, c0:c1]
        paint = fused.view(np.uint8) * region.dtype.type(number)  # (uint8: no cast from bool)
        if top >= bottom:  # no earlier window meets this one: the region is all free
            region[...] = paint
            return
        top, bottom = max(top - r0, 0), min(bottom - r0, r1 - r0)
        if top:
            region[:top] = paint[:top]
        if bottom < r1 - r0:
            region[bottom:] = paint[bottom:]
        # The rows met, copied out whole: each pass below runs over contiguous memory.
        band, painted = region[top:bottom].copy(), paint[top:bottom]
        # Flat indices in the band of the pixels painted already, and claimed again.
        claimed = np.logical_and(band, painted).ravel().nonzero()[0]
        owners = band.ravel()[claimed]
        # `number` is above every earlier number: painting it is a maximum (branch-free).
        np.maximum(band, painted, out=band)
        if len(claimed):
            pixels = claimed + top * (c1 - c0)  # flat indices in the window
            kept = self._contest(owners, pixels, votes_at(votes, pixels) / support, window)
            if np.count_nonzero(kept):
                band.ravel()[claimed[kept]] = owners[kept]
                self._lose(number, pixels[kept])
        region[top:bottom] = band

    def _contest(
        self, owners: LabelImage, pixels: IntArray, shares: FloatArray, window: Window
    ) -> BoolMask:
        """Which of the claimed pixels (flat indices in ``window``) their ``owners`` keep;
        the owners lose the others. One boolean mask per owner met (most often one)."""
        first = int(owners[0])
        if not np.count_nonzero(owners != first):
            return self._kept_by(first, pixels, shares, window)
        kept = np.empty(len(pixels), dtype=bool)
        for rival in np.bincount(owners).nonzero()[0].tolist():  # (a set: slow for many)
            theirs = owners == rival
            kept[theirs] = self._kept_by(rival, pixels[theirs], shares[theirs], window)
        return kept

    def _kept_by(
        self, rival: int, pixels: IntArray, shares: FloatArray, window: Window
    ) -> BoolMask:
        """Which of the claimed pixels (flat indices in ``window``) ``rival`` keeps: its
        share is not lower. It loses the others."""
        their_votes, their_support = self.shares[rival - 1]
        o0, _, p0, p1 = self.windows[rival - 1]
        r0, _, c0, c1 = window
        width, theirs = c1 - c0, p1 - p0
        at = pixels + ((r0 - o0) * theirs + c0 - p0)  # flat indices in the rival's window
        if theirs != width:
            at += pixels // width * (theirs - width)
        higher = shares > votes_at(their_votes, at) / their_support
        if np.count_nonzero(higher):
            self._lose(rival, at[higher])
        return ~higher

    def _lose(self, number: int, pixels: IntArray) -> None:
        """Take pixels (flat indices in its window) from what candidate ``number`` holds."""
        held = self.held[number - 1]
        if not held.flags.writeable:  # still the fused shape itself
            held = self.held[number - 1] = held.copy()  # (C order: `ravel` is a view)
        held.ravel()[pixels] = False
        self.areas[number - 1] -= len(pixels)

    def stats(self, number: int) -> tuple[int, list[int], int]:
        """Area, box and first raster pixel of the pixels held by ``number``."""
        area = self.areas[number - 1]
        if not area:
            return 0, [0, 0, 0, 0], -1
        r0, _, c0, _ = self.windows[number - 1]
        top, bottom, left, right, first_col = held_box(self.held[number - 1])
        box = [r0 + top, r0 + bottom, c0 + left, c0 + right]
        return area, box, box[0] * self.owner.shape[1] + c0 + first_col

    def ordered(self) -> tuple[LabelImage, list[int], InstanceStats]:
        """Relabel the painted candidates 1..K in raster order of their first pixel.

        Returns the consensus image (the owner image renumbered, read-only), the
        painting number of each of its instances 1..K (those that kept pixels), and
        their statistics.
        """
        owner = self.owner
        found = [self.stats(number) for number in range(1, len(self.windows) + 1)]
        survivors = sorted(
            (first, number) for number, (area, _, first) in enumerate(found, 1) if area
        )
        dtype = smallest_uint(len(survivors))
        if owner.dtype == dtype:  # relabel in place only the candidates whose number changes
            consensus = owner
            moved = [(new, old) for new, (_, old) in enumerate(survivors, start=1) if new != old]
        else:
            consensus = np.zeros(owner.shape, dtype=dtype)
            moved = [(new, old) for new, (_, old) in enumerate(survivors, start=1)]
        for new, old in moved:  # the held masks are exactly the pixels painted `old`
            r0, r1, c0, c1 = self.windows[old - 1]
            consensus[r0:r1, c0:c1][self.held[old - 1]] = new
        consensus.flags.writeable = False
        height, width = owner.shape
        areas = np.array([0] + [found[old - 1][0] for _, old in survivors], dtype=np.int64)
        areas[0] = height * width - int(areas.sum())
        boxes = np.array([[0, 0, 0, 0]] + [found[old - 1][1] for _, old in survivors], np.int64)
        firsts = np.array([-1] + [first for first, _ in survivors], dtype=np.int64)
        window: Window = (
            (int(boxes[1:, 0].min()), int(boxes[1:, 1].max()), int(boxes[1:, 2].min()),
             int(boxes[1:, 3].max())) if survivors else (0, 0, 0, 0)
        )  # fmt: skip
        stats = InstanceStats(len(survivors), areas, boxes, firsts, window)
        return consensus, [old for _, old in survivors], stats
