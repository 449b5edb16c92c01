"""Limits on the size of the input, with safe defaults: hostile data costs little.

Worker answers come from browsers over the internet and from years-old files;
one bad answer must cost one object at most, and never exhaust memory or hang.
:class:`Limits` holds every bound in one frozen value, passed as ``limits=`` to
:func:`gtconsensus.consolidate_line`, :func:`gtconsensus.lines.prepare_line`,
:func:`gtconsensus.objects.prepare_object`, :func:`gtconsensus.read_answers` and
:func:`gtconsensus.decode_label_png`. Each bound is checked before the work it
protects: a line's length before parsing it, the base64 size before decoding
it, the pixels claimed by a PNG's header before decoding a pixel.

Each limit is inclusive (a value equal to the limit passes) and has its own
stable code, listed in ``docs/errors.md``:

- ``max_line_bytes``: ``line_too_long``, the line fails;
- ``max_answers``: ``too_many_answers``, the object fails (its raw answers kept);
- ``max_instances``: ``too_many_instances``, the answer is rejected;
- ``max_png_base64``: ``png_too_large``, the answer is rejected;
- ``max_pixels``: ``image_too_large``, the answer is rejected;
- ``max_png_chunks`` and ``max_png_text_chunks``: ``too_many_chunks``, the
  answer is rejected.

Examples
--------
>>> limits = Limits(max_instances=2)
>>> check_instances(2, limits)
>>> check_instances(3, limits)
Traceback (most recent call last):
...
gtconsensus.exceptions.MaskError: [too_many_instances] `instances` has 3 entries, over the \
limit of 2 (option `max_instances`)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gtconsensus.exceptions import ConsolidationError, MaskError, OptionsError, SchemaError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_PIXELS",
    "HARD_MAX_INSTANCES",
    "Limits",
    "check_answers",
    "check_base64_size",
    "check_instances",
    "check_line_size",
    "resolve_limits",
]

#: Ground Truth's own cap on image size: 100 megapixels.
DEFAULT_MAX_PIXELS = 100_000_000
#: Label images are uint16 at most: no limit may allow more instances than this.
HARD_MAX_INSTANCES = 65_535
_MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound on the input, with defaults that no real Ground Truth job reaches.

    Attributes
    ----------
    max_pixels : int, default 100_000_000
        Pixels (width x height) a worker's PNG may claim in its header; judged
        before a single pixel is decoded (decompression bombs).
    max_instances : int, default 1_000
        Entries of one answer's ``instances``. Matching two answers costs
        memory in the product of their instance counts, so this bounds it
        (at most 65,535: label images are uint16).
    max_answers : int, default 100
        Answers (workers) per data object; Ground Truth sends at most 9. Pairwise
        matching costs the square of this.
    max_line_bytes : int, default 256 MiB
        UTF-8 bytes of one manifest line, checked before parsing it.
    max_png_base64 : int, default 64 MiB
        Characters of one answer's ``labeledImage.pngImageData``, checked before
        decoding it.
    max_png_chunks : int, default 10_000
        Chunks of one PNG (a 48 MB PNG cut in libpng's 8 KiB ``IDAT`` chunks has
        about 6,000).
    max_png_text_chunks : int, default 64
        ``tEXt``, ``zTXt`` and ``iTXt`` chunks of one PNG (the tool writes none).

    Examples
    --------
    >>> Limits().max_pixels
    100000000
    >>> Limits(max_answers=0)
    Traceback (most recent call last):
    ...
    gtconsensus.exceptions.OptionsError: [bad_option] `max_answers` must be an int >= 1, got 0
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_instances: int = 1_000
    max_answers: int = 100
    max_line_bytes: int = 256 * _MIB
    max_png_base64: int = 64 * _MIB
    max_png_chunks: int = 10_000
    max_png_text_chunks: int = 64

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionsError(
                    "bad_option", f"`{item.name}` must be an int >= 1, got {value!r}"
                )
        if self.max_instances > HARD_MAX_INSTANCES:
            raise OptionsError(
                "bad_option",
                f"`max_instances` must be at most {HARD_MAX_INSTANCES:,} (uint16 labels), "
                f"got {self.max_instances:,}",
            )

    def replace(self, **changes: int) -> Limits:
        """A copy with some limits changed.

        Examples
        --------
        >>> Limits().replace(max_answers=5).max_answers
        5
        """
        return dataclasses.replace(self, **changes)


#: The defaults.
DEFAULT_LIMITS = Limits()


def resolve_limits(limits: Limits | None, *, max_pixels: int | None = None) -> Limits:
    """The limits to apply: ``limits`` (default :data:`DEFAULT_LIMITS`), with
    ``max_pixels`` (the older keyword) taking precedence when given.

    Examples
    --------
    >>> resolve_limits(None).max_pixels
    100000000
    >>> resolve_limits(Limits(max_answers=3), max_pixels=50).max_pixels
    50
    """
    resolved = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(resolved, Limits):
        raise OptionsError(
            "bad_option", f"`limits` must be a Limits, got {type(resolved).__name__}"
        )
    if max_pixels is not None and max_pixels != resolved.max_pixels:
        resolved = resolved.replace(max_pixels=max_pixels)
    return resolved


def _over(subject: str, size: int, unit: str, limit: int, option: str) -> str:
    return f"{subject} {size:,} {unit}, over the limit of {limit:,} (option `{option}`)"


def check_line_size(line: str | bytes, limits: Limits) -> None:
    """Refuse a line longer than ``max_line_bytes`` (UTF-8 bytes), before parsing it.

    Raises
    ------
    SchemaError
        ``line_too_long``.

    Examples
    --------
    >>> check_line_size("é" * 3, Limits(max_line_bytes=6))
    >>> check_line_size("é" * 4, Limits(max_line_bytes=6))
    Traceback (most recent call last):
    ...
    gtconsensus.exceptions.SchemaError: [line_too_long] line has 8 bytes, over the limit of 6 \
(option `max_line_bytes`)
    """
    limit = limits.max_line_bytes
    size = len(line)
    if isinstance(line, str) and limit // 4 < size <= limit:
        size = len(line.encode("utf-8", errors="surrogatepass"))  # counted only near the limit
    if size > limit:
        raise SchemaError(
            "line_too_long", _over("line has", size, "bytes", limit, "max_line_bytes")
        )


def check_answers(count: int, limits: Limits) -> None:
    """Refuse an object with more answers than ``max_answers``.

    Raises
    ------
    ConsolidationError
        ``too_many_answers``.
    """
    if count > limits.max_answers:
        message = _over("`annotationsFromAllWorkers` has", count, "answers", limits.max_answers,
                        "max_answers")  # fmt: skip
        raise ConsolidationError("too_many_answers", message)


def check_instances(count: int, limits: Limits) -> None:
    """Refuse an answer with more ``instances`` than ``max_instances``.

    Raises
    ------
    MaskError
        ``too_many_instances``.
    """
    if count > limits.max_instances:
        message = _over("`instances` has", count, "entries", limits.max_instances, "max_instances")
        raise MaskError("too_many_instances", message)


def check_base64_size(png: str | bytes, limits: Limits) -> None:
    """Refuse ``pngImageData`` longer than ``max_png_base64``, before decoding it.

    PNG bytes given directly are held to the size their base64 text would have.

    Raises
    ------
    MaskError
        ``png_too_large``.

    Examples
    --------
    >>> check_base64_size("iVBORw0KGgo=", Limits(max_png_base64=12))
    >>> check_base64_size(bytes(10), Limits(max_png_base64=12))  # PNG bytes: 16 in base64
    Traceback (most recent call last):
    ...
    gtconsensus.exceptions.MaskError: [png_too_large] `labeledImage.pngImageData` has 16 \
characters of base64, over the limit of 12 (option `max_png_base64`)
    """
    size = len(png) if isinstance(png, str) else 4 * -(-len(png) // 3)
    if size > limits.max_png_base64:
        message = _over("`labeledImage.pngImageData` has", size, "characters of base64",
                        limits.max_png_base64, "max_png_base64")  # fmt: skip
        raise MaskError("png_too_large", message)
