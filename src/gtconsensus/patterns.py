"""Membership patterns: which of a candidate's members cover a pixel.

Bit ``i`` of a pixel's pattern is set when member ``i``'s mask holds it (at most
:data:`MOST_PATTERNED` members, so a pattern fits a byte). Every pixel of a pattern
has the same weighted votes, so fusing them (:mod:`gtconsensus.fusion`) and fusing
them without one member (:mod:`gtconsensus.scoring`'s leave-one-out) can be decided
once per pattern rather than per pixel, and sums of the patterns' pixels give areas
and intersections.

With recorded areas ``a_i`` and pairwise overlaps ``o_ij``, the pixels of each
pattern of two members follow by inclusion-exclusion; with three members they also
need ``t``, the pixels all three share, which each pattern ``p`` holds with the sign
:func:`sign_of_all_three` ``(p)``.

Examples
--------
>>> a, b = np.array([True, True, False]), np.array([False, True, False])
>>> pattern_codes([a, b]).tolist()
[1, 3, 0]
>>> reaching(pattern_votes([1.0, 1.0]), 2.0)  # at least half of two votes
(1, 2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from gtconsensus._typing import BoolMask, FloatArray, IntArray, VoteArray

__all__ = [
    "MOST_PATTERNED",
    "PatternVotes",
    "Votes",
    "all_three",
    "free_of_all",
    "pattern_codes",
    "pattern_pixels",
    "pattern_votes",
    "reaching",
    "sign_of_all_three",
    "votes_at",
]

MOST_PATTERNED = 8  # members whose membership patterns fit a byte


def pattern_codes(masks: Sequence[BoolMask]) -> npt.NDArray[np.uint8]:
    """Each pixel's membership pattern: bit ``i`` set when ``masks[i]`` holds it
    (at most 8 masks; a new array, the masks stay as they are but for one mask,
    whose bytes are its codes).

    Examples
    --------
    >>> a, b = np.array([True, True, False]), np.array([False, True, False])
    >>> pattern_codes([a, b]).tolist()
    [1, 3, 0]
    """
    codes = masks[-1].view(np.uint8)  # one mask: its bytes are its codes
    if len(masks) > 1:  # the later members' bits shifted up one member at a time,
        # by doubling: numpy's uint8 additions are vectorized, its shifts are not (6x)
        codes = np.add(codes, codes)  # (a new array: the masks stay as they are)
        codes += masks[-2].view(np.uint8)
        for mask in masks[-3::-1]:
            codes += codes
            codes += mask.view(np.uint8)
    return codes


def pattern_votes(member_weights: Sequence[float]) -> list[float]:
    """Per membership pattern, the votes that :func:`gtconsensus.fusion.weighted_votes`
    sums pixel by pixel (``0.0``, then ``mask * weight`` member by member): the same
    floats.

    Examples
    --------
    >>> pattern_votes([0.1, 0.2])
    [0.0, 0.1, 0.2, 0.30000000000000004]
    """
    votes = [0.0]
    for weight in member_weights:  # the patterns without this member's bit, then with it
        absent, present = 0.0 * weight, 1.0 * weight
        votes = [vote + absent for vote in votes] + [vote + present for vote in votes]
    return votes


def reaching(votes: Sequence[float], support: float) -> tuple[int, ...]:
    """The patterns whose votes :func:`~gtconsensus.fusion.fused_mask` keeps at
    ``support``: its test, on the same floats.

    Examples
    --------
    >>> reaching([0.0, 1.0, 1.5, 2.5], 2.5)
    (2, 3)
    """
    if support <= 0:
        return ()
    limit = support * (1 - 1e-12)
    return tuple(bits for bits, vote in enumerate(votes) if vote * 2 >= limit)


@dataclass(frozen=True, slots=True, eq=False)
class PatternVotes:
    """Float votes kept as each pixel's membership pattern and one vote per pattern.

    The float that :func:`gtconsensus.fusion.weighted_votes` holds at a pixel is the
    vote of the pixel's pattern, so a byte of pattern per pixel and a float per pattern
    say the same as a float per pixel (:meth:`array` gives those floats back), and the
    fused shape is the pixels of the patterns :func:`reaching` the support: one
    lookup of a byte per pixel (:meth:`holding`), no float per pixel. Contested pixels'
    votes are read where they are needed (:func:`votes_at`).

    Attributes
    ----------
    codes : ndarray of uint8, shape (H, W)
        Each pixel's pattern (:func:`pattern_codes`).
    votes : tuple of float
        Per pattern, its votes (:func:`pattern_votes`).
    table : ndarray of float64
        ``votes`` as an array (derived).

    Examples
    --------
    >>> a, b = np.array([[True, True, False]]), np.array([[False, True, False]])
    >>> votes = PatternVotes.of([a, b], [1.0, 2.5])
    >>> votes.array().tolist(), votes.holding(reaching(votes.votes, 3.5)).tolist()
    ([[1.0, 3.5, 0.0]], [[False, True, False]])
    """

    codes: npt.NDArray[np.uint8]
    votes: tuple[float, ...]
    table: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", np.array(self.votes, dtype=np.float64))

    @classmethod
    def of(cls, masks: Sequence[BoolMask], member_weights: Sequence[float]) -> PatternVotes:
        """The votes of ``masks`` weighing ``member_weights`` (at most 8 masks)."""
        return cls(pattern_codes(masks), tuple(pattern_votes(member_weights)))

    @property
    def shape(self) -> tuple[int, ...]:
        """``(H, W)``."""
        return self.codes.shape

    def holding(self, patterns: Sequence[int]) -> BoolMask:
        """The pixels whose pattern is one of ``patterns`` (a new mask)."""
        n_patterns = len(self.votes)
        if n_patterns <= 32:
            # Bit p of one integer says whether pattern p is held: a shift per pixel
            # reads it, 2x to 6x faster than a table `take`n on the codes (which makes
            # intp indices first).
            kind = np.uint8 if n_patterns <= 8 else np.uint16 if n_patterns <= 16 else np.uint32
            bits = kind(sum(1 << pattern for pattern in patterns))
            held: npt.NDArray[np.unsignedinteger] = np.right_shift(bits, self.codes)
            held &= kind(1)
            return held.view(np.bool_) if kind is np.uint8 else held.astype(np.bool_)
        table = np.zeros(n_patterns, dtype=bool)
        table[list(patterns)] = True
        held_by_table: BoolMask = table.take(self.codes)
        return held_by_table

    def at(self, pixels: IntArray) -> FloatArray:
        """The votes at ``pixels`` (flat indices)."""
        return self.table.take(self.codes.ravel().take(pixels))

    def array(self) -> FloatArray:
        """The votes of every pixel, ``(H, W)`` float64."""
        return self.table.take(self.codes)


#: Per-pixel votes: an array (:data:`~gtconsensus._typing.VoteArray`), or by pattern.
Votes: TypeAlias = VoteArray | PatternVotes


def votes_at(votes: Votes, pixels: IntArray) -> VoteArray:
    """The votes at ``pixels`` (flat indices), as floats or counts.

    Examples
    --------
    >>> votes_at(np.array([[0, 2, 1]], np.uint8), np.array([1, 2])).tolist()
    [2, 1]
    >>> votes = PatternVotes.of([np.array([[True, True, False]])], [0.5])
    >>> votes_at(votes, np.array([1, 2])).tolist()
    [0.5, 0.0]
    """
    if isinstance(votes, PatternVotes):
        return votes.at(pixels)
    return votes.ravel()[pixels]


def all_three(masks: Sequence[BoolMask]) -> int:
    """``t``: the pixels that all of three masks hold.

    Examples
    --------
    >>> all_three([np.array([1, 1, 0], bool), np.array([1, 1, 1], bool), np.array([0, 1, 1], bool)])
    1
    """
    return int(np.count_nonzero(np.logical_and(masks[0], masks[1]) & masks[2]))


def sign_of_all_three(pattern: int) -> int:
    """The sign with which a pattern of three members holds ``t`` in
    :func:`pattern_pixels` (``by_all=False`` leaves it out): ``+1`` when an odd number
    of members cover it, else ``-1``.

    Examples
    --------
    >>> [sign_of_all_three(p) for p in range(8)]
    [-1, 1, 1, -1, 1, -1, -1, 1]
    """
    return 1 if pattern.bit_count() % 2 else -1


def free_of_all(patterns: Sequence[int]) -> bool:
    """Whether the pixels of three members' ``patterns`` add up without ``t``: the
    signs they hold it with (:func:`sign_of_all_three`) cancel.

    Examples
    --------
    >>> free_of_all((4, 5, 6, 7)), free_of_all((5, 7)), free_of_all((3, 5, 6, 7))
    (True, True, False)
    """
    return sum(sign_of_all_three(p) for p in patterns) == 0


def pattern_pixels(
    masks: Sequence[BoolMask],
    areas: Sequence[int],
    overlaps: Sequence[int],
    *,
    by_all: bool = True,
) -> list[int]:
    """The window's pixels per membership pattern (at most 8 members).

    Entry ``p`` counts the pixels in the masks of exactly the members whose bit is set
    in ``p``. ``areas`` and ``overlaps`` (pairs in ``itertools.combinations`` order)
    are the members' recorded pixel counts, or empty when not recorded. For one member,
    or two or three with recorded areas and overlaps, that is inclusion-exclusion,
    given ``t`` (:func:`all_three`, one count); otherwise each pixel's pattern is
    counted with one ``bincount``.

    ``by_all=False`` takes ``t`` as 0 instead of counting it: with three members each
    entry then lacks ``t`` with the sign :func:`sign_of_all_three`, so a sum over
    patterns whose signs cancel (:func:`free_of_all`) is still exact.

    Examples
    --------
    >>> a, b = np.array([[1, 1, 0, 0]], bool), np.array([[0, 1, 1, 0]], bool)
    >>> pattern_pixels([a, b], (), ()), pattern_pixels([a, b], (2, 2), (1,))
    ([1, 1, 1, 1], [1, 1, 1, 1])
    """
    size = masks[0].size
    if len(masks) == 1:
        area = areas[0] if areas else int(np.count_nonzero(masks[0]))
        return [size - area, area]
    if len(masks) == 2 and areas and overlaps:
        (a0, a1), o01 = areas, overlaps[0]
        return [size - a0 - a1 + o01, a0 - o01, a1 - o01, o01]
    if len(masks) == 3 and areas and overlaps:
        (a0, a1, a2), (o01, o02, o12) = areas, overlaps
        t = all_three(masks) if by_all else 0
        union = a0 + a1 + a2 - o01 - o02 - o12 + t
        return [
            size - union, a0 - o01 - o02 + t, a1 - o01 - o12 + t, o01 - t,
            a2 - o02 - o12 + t, o02 - t, o12 - t, t,
        ]  # fmt: skip
    codes = pattern_codes(masks)
    return [int(n) for n in np.bincount(codes.ravel(), minlength=1 << len(masks))]
