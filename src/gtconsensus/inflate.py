"""The zlib inflater that reads the PNGs: zlib-ng's when installed, else the standard library's.

Inflating the workers' PNGs is most of the time spent reading an answer. The standard
library's zlib (1.2.13 here) inflates a tool's 1280x960 PNG in about 0.75 ms;
`zlib-ng <https://pypi.org/project/zlib-ng/>`_, a drop-in replacement for :mod:`zlib`
(``pip install 'gtconsensus[fast]'``, part of ``[all]``), does it about 15 times
faster (``benchmarks/RESULTS.md``). It stays optional: the core depends on numpy,
Pillow and pydantic only, and works the same without it.

Inflating is exact, so results never depend on which inflater runs; so are the Adler-32
checksum (:func:`adler32`, for the consensus PNG) and the chunks' CRC-32 (:func:`crc32`),
which zlib-ng also computes several times faster. Compressing (the consensus PNG) always
uses the standard library, whose bytes are the output's on every machine.

Examples
--------
>>> import zlib
>>> inflater = decompressobj()
>>> inflater.decompress(zlib.compress(b"abc")), inflater.eof
(b'abc', True)
>>> NAME in ("zlib", "zlib-ng")
True
>>> adler32(b"abc") == zlib.adler32(b"abc")
True
"""

from __future__ import annotations

import importlib
import os
import warnings
import zlib
from types import ModuleType
from typing import Any

__all__ = ["NAME", "adler32", "crc32", "decompressobj", "errors"]


_CHOICES = ("zlib", "zlib-ng", "auto", "")


def _module() -> ModuleType:
    choice = os.environ.get("GTCONSENSUS_INFLATER", "").strip().lower()
    if choice == "zlib":
        return zlib  # forced: the standard library's, to compare or to rule zlib-ng out
    if choice not in _CHOICES:  # a typo should not pass unseen; the default still works
        warnings.warn(
            f"GTCONSENSUS_INFLATER={choice!r} is not one of 'zlib', 'zlib-ng' or 'auto': "
            "using zlib-ng when installed, else zlib",
            RuntimeWarning,
            stacklevel=2,
        )
    try:
        return importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:
        return zlib


_MODULE = _module()

#: ``"zlib-ng"`` or ``"zlib"``: the inflater in use (``GTCONSENSUS_INFLATER=zlib`` forces
#: the standard library's; ``zlib-ng``, ``auto`` or unset: zlib-ng when installed; any
#: other value warns and means the same).
NAME = "zlib" if _MODULE is zlib else "zlib-ng"


def errors() -> tuple[type[Exception], ...]:
    """What a broken stream raises from the inflater in use (zlib-ng's error is not
    zlib's); asked when an exception is caught, so it follows the inflater in use.

    Examples
    --------
    >>> zlib.error in errors()
    True
    """
    return (zlib.error,) if _MODULE is zlib else (zlib.error, _MODULE.error)


def decompressobj() -> Any:
    """A fresh decompression object, as :func:`zlib.decompressobj` (same methods and
    attributes: ``decompress(data, max_length)``, ``unconsumed_tail``, ``unused_data``,
    ``eof``)."""
    return _MODULE.decompressobj()


def adler32(data: Any, value: int = 1) -> int:
    """The Adler-32 checksum of ``data`` continuing from ``value``, as :func:`zlib.adler32`
    (the same number from either implementation)."""
    return int(_MODULE.adler32(data, value))


def crc32(data: Any, value: int = 0) -> int:
    """The CRC-32 of ``data`` continuing from ``value``, as :func:`zlib.crc32` (the same
    number from either implementation; zlib-ng's is about 10 times faster on a PNG's
    8 KiB chunks).

    Examples
    --------
    >>> crc32(b"IEND") == zlib.crc32(b"IEND") == 0xAE426082
    True
    """
    return int(_MODULE.crc32(data, value))
