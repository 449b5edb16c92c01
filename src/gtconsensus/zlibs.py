"""The zlib in use: zlib-ng's when installed, else the standard library's.

Inflating the workers' PNGs is most of the time spent reading an answer, and deflating the
consensus PNG is most of the time spent writing one. The standard library's zlib (1.2.13
here) inflates a tool's 1280x960 PNG in about 0.75 ms; `zlib-ng
<https://pypi.org/project/zlib-ng/>`_, a drop-in replacement for :mod:`zlib` (``pip install
'gtconsensus[fast]'``, part of ``[all]``), inflates about 15 times faster and deflates the
consensus about 4 times faster (``benchmarks/RESULTS.md``). It stays optional: the core
depends on numpy, Pillow and pydantic only, and works the same without it.

Nothing the output holds depends on which zlib runs:

- inflating is exact, and so are the Adler-32 (:func:`adler32`) and CRC-32
  (:func:`crc32`) checksums;
- the consensus PNG is deflated with the run-length strategy only (:func:`deflate_rle`),
  whose algorithm zlib-ng kept from zlib (runs of one byte at distance 1, the same block
  ends and Huffman trees), so both write the same bytes. ``tests/test_zlibs.py`` holds
  them to it; 3,000 random inputs up to 3 MB gave the same bytes from zlib 1.2.13 and
  zlib-ng 2.1.5 and 2.3.3.

``GTCONSENSUS_ZLIB=zlib`` (read at import; ``GTCONSENSUS_INFLATER``, its older name, is
read when it is unset) rules zlib-ng out.

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
>>> zlib.decompressobj(-15).decompress(deflate_rle(b"aaaab"))  # raw, not final
b'aaaab'
"""

from __future__ import annotations

import importlib
import os
import warnings
import zlib
from types import ModuleType
from typing import Any

__all__ = ["NAME", "adler32", "crc32", "decompressobj", "deflate_rle", "errors"]


_CHOICES = ("zlib", "zlib-ng", "auto", "")


def _module() -> ModuleType:
    variable = "GTCONSENSUS_ZLIB" if "GTCONSENSUS_ZLIB" in os.environ else "GTCONSENSUS_INFLATER"
    choice = os.environ.get(variable, "").strip().lower()
    if choice == "zlib":
        return zlib  # forced: the standard library's, to compare or to rule zlib-ng out
    if choice not in _CHOICES:  # a typo should not pass unseen; the default still works
        warnings.warn(
            f"{variable}={choice!r} is not one of 'zlib', 'zlib-ng' or 'auto': "
            "using zlib-ng when installed, else zlib",
            RuntimeWarning,
            stacklevel=2,
        )
    try:
        return importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:
        return zlib


_MODULE = _module()

#: ``"zlib-ng"`` or ``"zlib"``: the zlib in use (``GTCONSENSUS_ZLIB=zlib`` forces the
#: standard library's; ``zlib-ng``, ``auto`` or unset: zlib-ng when installed; any other
#: value warns and means the same).
NAME = "zlib" if _MODULE is zlib else "zlib-ng"


def errors() -> tuple[type[Exception], ...]:
    """What a broken stream raises from the inflater in use (zlib-ng's error is not
    zlib's); asked when an exception is caught, so it follows the zlib in use.

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


def deflate_rle(data: Any) -> bytes:
    """Raw deflate data (no zlib header) for ``data``, run-length strategy (``Z_RLE``),
    ending byte-aligned with a full flush, so that more deflate blocks may follow.

    zlib's level is moot for this strategy (levels 1 to 9 write the same bytes), and
    zlib-ng writes the bytes zlib writes (module docstring).

    Examples
    --------
    >>> deflate_rle(bytes(1000)) == deflate_rle(bytearray(1000))
    True
    """
    compressor = _MODULE.compressobj(1, _MODULE.DEFLATED, -15, 9, _MODULE.Z_RLE)
    return bytes(compressor.compress(data) + compressor.flush(_MODULE.Z_FULL_FLUSH))
