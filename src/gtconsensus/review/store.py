"""Writing the exports' files to a local folder or under an ``s3://`` prefix.

The exports (``export adjustment``, ``export masks``) write PNG files beside
the manifest they produce. A destination is a folder or an S3 prefix; S3 is
written with boto3 (the ``aws`` extra), imported only when an ``s3://``
destination is given.

Examples
--------
>>> join_location("s3://bucket/masks", "000001.png")
's3://bucket/masks/000001.png'
>>> join_location("out/masks/", "000001.png")
'out/masks/000001.png'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gtconsensus.exceptions import StorageError

__all__ = ["Store", "join_location"]


def join_location(base: str, name: str) -> str:
    """``base`` (a folder or ``s3://`` prefix) joined with ``name`` by a single ``/``."""
    return f"{base.rstrip('/')}/{name}" if base else name


class Store:
    """Writes named files under one destination (a folder, or an ``s3://`` prefix).

    Parameters
    ----------
    base : str
        The folder (created when missing) or ``s3://bucket/prefix``.
    """

    def __init__(self, base: str) -> None:
        if not base:
            raise ValueError("`base` must be a folder or an s3:// prefix, got ''")
        self.base = base
        self._client: Any = None
        if base.startswith("s3://"):
            try:
                import boto3
            except ImportError as exc:
                raise ImportError(
                    "writing to S3 needs boto3: pip install 'gtconsensus[aws]'"
                ) from exc
            self._client = boto3.client("s3")
        else:
            Path(base).mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes, *, content_type: str = "image/png") -> str:
        """Write ``data`` as ``name`` under the destination; returns its location."""
        location = join_location(self.base, name)
        if self._client is None:
            Path(location).write_bytes(data)
            return location
        bucket, _, key = location.removeprefix("s3://").partition("/")
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except Exception as exc:  # botocore's errors, mapped at the edge
            raise StorageError("write_failed", f"cannot write {location}: {exc}") from exc
        return location
