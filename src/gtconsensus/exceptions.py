"""The one exception tree of gtconsensus.

Every error the library raises on purpose derives from :class:`GtConsensusError`
and carries a stable ``code`` (a short snake_case string that output manifests,
error files and logs repeat verbatim)::

    GtConsensusError
    ├── InputError (ValueError)          bad data from a worker, a line or a file
    │   ├── SchemaError                  wrong JSON shape: missing key, wrong type
    │   ├── MaskError                    the PNG: base64, signature, size, colours
    │   ├── ConsolidationError           nothing left to consolidate
    │   └── FetchError                   a referenced object (S3 URI) cannot be read
    ├── StorageError                     S3 cannot be written (the Lambda's spill)
    └── OptionsError (ValueError)        a caller passed a bad option

Foreign exceptions (``binascii.Error``, ``PIL.UnidentifiedImageError``,
``json.JSONDecodeError``, ``pydantic.ValidationError``, ``botocore`` errors) are
wrapped where they enter, with ``raise ... from``.

:data:`CODES` is the registry of every code and the class that carries it;
``docs/errors.md`` has one row per code, and ``tests/test_errors.py`` checks
that the two agree and that every code the source raises is registered.

Examples
--------
>>> err = MaskError("size_mismatch", "PNG is 640x480, expected 1280x960")
>>> isinstance(err, ValueError), err.code
(True, 'size_mismatch')
>>> CODES["size_mismatch"].__name__
'MaskError'

Errors survive pickling, so they cross process pools and Dask workers intact:

>>> import pickle
>>> pickle.loads(pickle.dumps(err)).to_dict()
{'code': 'size_mismatch', 'message': 'PNG is 640x480, expected 1280x960'}
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "CODES",
    "ConsolidationError",
    "FetchError",
    "GtConsensusError",
    "InputError",
    "MaskError",
    "OptionsError",
    "SchemaError",
    "StorageError",
    "excerpt",
]


class GtConsensusError(Exception):
    """Base of every error raised by gtconsensus.

    Parameters
    ----------
    code : str
        Stable, machine-readable error code (for example ``"size_mismatch"``).
    message : str
        Human-readable explanation naming the field, what was expected and what came.
    """

    default_code = "error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __reduce__(self) -> tuple[type[GtConsensusError], tuple[str, str]]:
        """Pickle as ``(class, (code, message))``: errors cross process pools and Dask workers."""
        return (type(self), (self.code, self.message))

    def to_dict(self) -> dict[str, str]:
        """Return ``{"code": ..., "message": ...}`` as written into output files."""
        return {"code": self.code, "message": self.message}


class InputError(GtConsensusError, ValueError):
    """Bad input data: a worker's answer, a manifest line or a file."""


class SchemaError(InputError):
    """The JSON does not have the expected shape (missing key, wrong type, not JSON)."""


class MaskError(InputError):
    """The labelled PNG cannot be turned into a label image."""


class ConsolidationError(InputError):
    """The object cannot be consolidated (for example no valid answer is left)."""


class FetchError(InputError):
    """A referenced object cannot be read: an answer's ``s3Uri``, a ``-ref`` key, a payload.

    Codes: ``not_found``, ``access_denied``, ``fetch_failed`` (anything else,
    after the client's retries), ``bad_reference`` (not an ``s3://`` URI, or
    not the JSON expected there).
    """


class StorageError(GtConsensusError):
    """Something cannot be written where it must go (not a data problem).

    Codes: ``write_failed`` (S3 refused a write, after the client's retries),
    ``no_spill_location`` (the response needs S3 and no prefix is known),
    ``response_too_large`` (over the budget even with every value in S3).
    """


class OptionsError(GtConsensusError, ValueError):
    """A caller passed an invalid option (for example a threshold outside (0, 1))."""


def excerpt(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: what messages quote of the input.

    Messages reach error files and logs; quoting input through this keeps them
    short and keeps image data and whole payloads out of them.

    Examples
    --------
    >>> excerpt(["gt-label", "source-ref"])
    "['gt-label', 'source-ref']"
    >>> excerpt("iVBORw0KGgo" * 100, 20)
    "'iVBORw0KGgoiVBOR..."
    """
    text = repr(value)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _registry(entries: dict[type[GtConsensusError], str]) -> Mapping[str, type[GtConsensusError]]:
    codes: dict[str, type[GtConsensusError]] = {}
    for error, names in entries.items():
        for name in names.split():
            codes[name] = error
    return MappingProxyType(dict(sorted(codes.items())))


#: Every code gtconsensus emits, and the class that carries it. A code raised by
#: several subclasses is registered under their common base (``no_answers``:
#: ``InputError``, raised as ``ConsolidationError`` by the reader). Adding a code:
#: register it here and give it a row in ``docs/errors.md``.
CODES: Mapping[str, type[GtConsensusError]] = _registry({
    InputError: "no_answers duplicate_worker size_disagreement bad_worker_response",
    SchemaError: "bad_json bad_line bad_schema unknown_label_attribute missing_label_attribute "
                 "missing_answers missing_element answer_by_reference unresolved_reference "
                 "line_too_long bad_event bad_payload missing_consensus",
    MaskError: "bad_base64 not_png bad_png image_too_large png_too_large too_many_chunks "
               "size_mismatch unsupported_png_mode duplicate_colour bad_colour "
               "too_many_instances",
    ConsolidationError: "no_valid_answer too_many_answers internal_error deadline",
    FetchError: "bad_reference not_found access_denied fetch_failed bucket_not_allowed",
    StorageError: "write_failed no_spill_location response_too_large",
    OptionsError: "bad_option bad_setting bad_worker_model line_out_of_range failed_line "
                  "bad_gold",
})  # fmt: skip
