"""Local paths and ``s3://`` URIs alike, for the offline tool's files.

The input manifest, the output manifest, the error file and the worker table may
each be a local path, a ``file://`` URL or a remote URL that `fsspec
<https://filesystem-spec.readthedocs.io>`_ knows (``s3://`` through ``s3fs``,
the ``s3`` extra; Dask reads and writes through the same library). Local files
use the standard library only, so the core needs no extra.

- :func:`open_read`: a binary stream, read piece by piece (never whole);
- :func:`atomic_writer`: a text file that appears under its name only when
  complete (local: temporary file beside it, renamed; remote: a temporary
  key, copied to its name at the end and deleted);
- :func:`fetch`: the ``fetch`` hook of the readers (worker-response files,
  ``annotationData.s3Uri``, the Lambda's ``-ref`` keys): ``s3://`` through the
  Lambda's S3 client (:func:`gtconsensus.adapters.s3.default_fetch`, with its
  retries and error codes), plain paths and ``file://`` from disk.

Examples
--------
>>> is_remote("s3://bucket/key"), is_remote("out/x.manifest"), is_remote("file:///tmp/x")
(True, False, False)
>>> local_path("file:///tmp/x.json")
'/tmp/x.json'
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from gtconsensus.exceptions import FetchError, OptionsError

__all__ = [
    "atomic_writer",
    "bucket_of",
    "exists",
    "fetch",
    "head_bucket",
    "identity",
    "is_remote",
    "is_stream",
    "local_path",
    "names_a_bucket",
    "open_read",
    "read_bytes",
    "remove",
    "size",
]


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL other than ``file://`` (read through fsspec)."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """A local path without its ``file://`` prefix."""
    return path[len("file://") :] if path.startswith("file://") else path


def _filesystem(path: str) -> tuple[Any, str]:
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - fsspec comes with the `s3` extra
        raise OptionsError(
            "bad_setting", f"reading {path} needs fsspec and s3fs: pip install 'gtconsensus[s3]'"
        ) from exc
    fs, inner = fsspec.core.url_to_fs(path)
    return fs, str(inner)


def open_read(path: str) -> IO[bytes]:
    """A binary stream over ``path`` (``-`` is standard input); close it after use."""
    if path == "-":
        return sys.stdin.buffer
    if not is_remote(path):
        return open(local_path(path), "rb")
    fs, inner = _filesystem(path)
    handle: IO[bytes] = fs.open(inner, "rb", block_size=8 << 20)
    return handle


def exists(path: str) -> bool:
    """Whether ``path`` names an existing file."""
    if not is_remote(path):
        return Path(local_path(path)).is_file()
    fs, inner = _filesystem(path)
    return bool(fs.isfile(inner))


def size(path: str) -> int | None:
    """The size of ``path`` in bytes, or ``None`` when it cannot be known."""
    return identity(path)[0]


def identity(path: str) -> tuple[int | None, str | None]:
    """The size of the file at ``path`` in bytes, and its version: what changes when it is
    rewritten, even to the same size. Both from one ``stat`` (or one listing of a remote
    object); each ``None`` when it cannot be known (standard input, a missing file).

    The version is the modification time in nanoseconds of a local file, the ``ETag``
    of an S3 object (or of any store whose listing gives one), else its modification
    time there.

    Examples
    --------
    >>> identity("-"), identity("no/such/file")
    ((None, None), (None, None))
    """
    if path == "-":
        return None, None
    try:
        if not is_remote(path):
            stat = os.stat(local_path(path))
            return stat.st_size, str(stat.st_mtime_ns)
        fs, inner = _filesystem(path)
        info = fs.info(inner)
    except (OSError, ValueError, TypeError):
        return None, None
    found = info.get("size")
    version = next((f"{key}:{info[key]}" for key in _VERSION_KEYS if info.get(key) is not None),
                   None)  # fmt: skip
    return (None if found is None else int(found)), version


#: The fields of a remote listing that name an object's version, in order of preference.
_VERSION_KEYS = ("ETag", "etag", "LastModified", "mtime", "last_modified")


def bucket_of(path: str) -> str | None:
    """The bucket of an ``s3://`` (or ``s3a://``) URL, ``None`` for any other path.

    Examples
    --------
    >>> bucket_of("s3://my-bucket/job/out.manifest"), bucket_of("out.manifest")
    ('my-bucket', None)
    """
    scheme, _, rest = path.partition("://")
    if scheme not in ("s3", "s3a") or not rest:
        return None
    return rest.split("/", 1)[0] or None


def names_a_bucket(path: str) -> bool:
    """Whether the ``s3://`` (or ``s3a://``) URL ``path`` names a bucket and no object in it
    (no key, or only slashes): nothing can be written there.

    Examples
    --------
    >>> names_a_bucket("s3://my-bucket"), names_a_bucket("s3a://my-bucket/")
    (True, True)
    >>> names_a_bucket("s3://my-bucket/out.manifest"), names_a_bucket("out.manifest")
    (False, False)
    """
    bucket = bucket_of(path)
    return bucket is not None and not path.partition("://")[2][len(bucket) :].strip("/")


def head_bucket(path: str) -> None:
    """Ask S3 whether the bucket of the ``s3://`` URL ``path`` exists (``HeadBucket``),
    through the filesystem that writes ``path`` (its endpoint, credentials and retries).

    Nothing is created or written. Raises what s3fs raises: ``FileNotFoundError`` or
    ``PermissionError`` with the botocore ``ClientError`` as ``__cause__`` when S3
    answered, a ``botocore.exceptions.BotoCoreError`` when it could not be asked (no
    endpoint, no credentials); :class:`OptionsError` without the ``s3`` extra.
    """
    bucket = bucket_of(path)
    if bucket is None:
        raise ValueError(f"expected an s3://bucket/key URL, got {path!r}")
    fs, _ = _filesystem(path)
    fs.call_s3("head_bucket", Bucket=bucket)


def read_bytes(path: str) -> bytes:
    """The whole content of a (small) file: a worker model, a checkpoint."""
    with open_read(path) as handle:
        return handle.read()


def remove(path: str) -> None:
    """Delete ``path`` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        if not is_remote(path):
            os.unlink(local_path(path))
            return
        fs, inner = _filesystem(path)
        if fs.exists(inner):
            fs.rm(inner)


def fetch(uri: str) -> bytes:
    """Read a referenced file: ``s3://`` with the S3 client, a path or ``file://`` from disk.

    Raises
    ------
    FetchError
        ``not_found`` for a missing local file; for ``s3://`` whatever
        :meth:`gtconsensus.adapters.s3.S3Store.fetch` raises.
    """
    if uri.startswith("s3://"):
        try:
            from gtconsensus.adapters.s3 import default_fetch
        except ImportError as exc:  # boto3 missing
            raise FetchError(
                "fetch_failed", f"cannot read {uri}: install the `aws` extra (boto3)"
            ) from exc
        return default_fetch(uri)
    if is_remote(uri):
        try:
            fs, inner = _filesystem(uri)
            data: bytes = fs.cat_file(inner)
        except (OSError, ValueError) as exc:
            raise FetchError("fetch_failed", f"cannot read {uri}: {exc}") from exc
        return data
    try:
        return Path(local_path(uri)).read_bytes()
    except OSError as exc:
        raise FetchError("not_found", f"cannot read {uri}: {exc}") from exc


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def is_stream(path: str | Path) -> bool:
    """Whether ``path`` is an existing pipe or device (``/dev/stdout``, a FIFO, ``/dev/fd/N``
    of a shell's ``>(...)``): written in place, never replaced, never read back.

    Examples
    --------
    >>> is_stream("/dev/null"), is_stream(__file__), is_stream("no/such/file")
    (True, False, False)
    """
    target = Path(path)
    return target.exists() and not target.is_file() and not target.is_dir()


@contextlib.contextmanager
def atomic_writer(path: str | None) -> Iterator[IO[str]]:
    """A text file (UTF-8, ``\\n``) that appears at ``path`` only when the block succeeds.

    ``None`` or ``-`` writes to standard output instead; a pipe or device
    (:func:`is_stream`: ``/dev/stdout``, a FIFO) is written in place, as it goes.
    A local file is written beside its target and renamed; a remote one to a temporary key
    (``<key>.partial-<random>``), copied to its name at the end and deleted; on
    an error the temporary file or key is removed and nothing appears.
    """
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    if path == os.devnull:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            yield sink
        return
    if is_remote(path):
        with _remote_atomic_writer(path) as handle:
            yield handle
        return
    target = Path(local_path(path))
    if target.is_dir():  # found now, not at the rename after the whole run
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file: name a file", path)
    if is_stream(target):  # a rename would replace the pipe or device, not write to it
        with open(target, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _remote_atomic_writer(path: str) -> Iterator[IO[str]]:
    if names_a_bucket(path):  # the temporary key would name another bucket
        raise IsADirectoryError(errno.EISDIR, "is a bucket, not a file: name a file in it", path)
    fs, inner = _filesystem(path)
    temporary = f"{inner}.partial-{uuid.uuid4().hex[:12]}"
    try:
        with fs.open(temporary, "wb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            yield text
            text.flush()
            text.detach()
        # One object each (HeadObject, CopyObject, DeleteObject): `copy` and `rm` list the
        # bucket first, which a role allowed to write under one prefix only may not do.
        fs.cp_file(temporary, inner)
    finally:
        with contextlib.suppress(OSError, FileNotFoundError):
            fs.rm_file(temporary)
