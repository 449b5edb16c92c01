"""An S3 in memory, to run the shipped Lambda on drawn events (no boto3, no AWS).

:class:`DictStore` has the interface of
:class:`gtconsensus.adapters.s3.ObjectStore` over a ``dict`` of ``{uri: bytes}``,
such as the store drawn by :func:`gtconsensus.testing.strategies.lambda_requests`.
Pass it as ``store=`` to :func:`gtconsensus.adapters.aws_lambda.consolidate_event`;
what the function spills (large responses) is written into the same dict.

Examples
--------
>>> store = DictStore({"s3://bucket/a.json": b"[]"})
>>> store.fetch("s3://bucket/a.json")
b'[]'
>>> store.put_json("s3://bucket/out/b.json", b"{}")
>>> sorted(store.objects)
['s3://bucket/a.json', 's3://bucket/out/b.json']
>>> store.fetch("s3://bucket/none.json")
Traceback (most recent call last):
...
gtconsensus.exceptions.FetchError: [not_found] cannot read s3://bucket/none.json: An error \
occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gtconsensus.exceptions import FetchError

__all__ = ["DictStore"]

# S3's own words (as botocore renders them), so that a rejected answer's message
# in a response is the same through this store and through S3.
_NO_SUCH_KEY = (
    "An error occurred (NoSuchKey) when calling the GetObject operation: "
    "The specified key does not exist."
)


def _check_uri(uri: str) -> None:
    """Refuse what ``S3Store`` refuses (``split_s3_uri``, whose module needs boto3)."""
    if re.fullmatch(r"s3://([^/]+)/(.+)", uri) is None:
        raise FetchError("bad_reference", f"expected an s3://bucket/key URI, got {uri!r:.100}")


@dataclass(frozen=True, slots=True, eq=False)
class DictStore:
    """Reads and writes of ``s3://`` URIs in a dict, as :class:`~gtconsensus.adapters.s3.S3Store`.

    Attributes
    ----------
    objects : dict of str to bytes
        ``{uri: bytes}``; kept, not copied: ``put_json`` writes into it, so the
        caller's dict holds the spilled files afterwards.

    Notes
    -----
    Errors are S3Store's: a URI not of the form ``s3://bucket/key`` raises
    ``FetchError("bad_reference")``, a missing object ``FetchError("not_found")``
    with S3's message. There are no buckets to create, no permissions and no
    encryption (the event's ``kmsKeyId`` is ignored).
    """

    objects: dict[str, bytes] = field(default_factory=dict)

    def fetch(self, uri: str) -> bytes:
        """The bytes at ``uri``.

        Raises
        ------
        FetchError
            ``bad_reference`` or ``not_found``.
        """
        _check_uri(uri)
        data = self.objects.get(uri)
        if data is None:
            raise FetchError("not_found", f"cannot read {uri}: {_NO_SUCH_KEY}")
        return data

    def put_json(self, uri: str, data: bytes) -> None:
        """Keep ``data`` at ``uri`` (replacing what was there).

        Raises
        ------
        FetchError
            ``bad_reference`` when ``uri`` is not an ``s3://bucket/key`` URI.
        """
        _check_uri(uri)
        self.objects[uri] = bytes(data)
