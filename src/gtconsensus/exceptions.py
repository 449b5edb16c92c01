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

Examples
--------
>>> err = MaskError("size_mismatch", "PNG is 640x480, expected 1280x960")
>>> isinstance(err, ValueError), err.code
(True, 'size_mismatch')
"""

from __future__ import annotations

__all__ = [
    "ConsolidationError",
    "FetchError",
    "GtConsensusError",
    "InputError",
    "MaskError",
    "OptionsError",
    "SchemaError",
    "StorageError",
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
