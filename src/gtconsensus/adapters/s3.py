"""S3 for the Lambda adapter: clients made once per container, reads and writes.

boto3 is imported here at module import (the Lambda runtime ships it; install the
``aws`` extra elsewhere). Clients are created on first use and kept for the life
of the container: the function's own client, and one per assumed role, renewed
shortly before its credentials expire. Retries come from botocore's ``standard``
mode (``GTCONSENSUS_S3_MAX_ATTEMPTS``, default 5); ``AWS_ENDPOINT_URL`` points
every client elsewhere (the tests use a local S3).

Errors are mapped where they enter: a read that fails raises
:class:`~gtconsensus.exceptions.FetchError` (``not_found``, ``access_denied``,
``fetch_failed``), a write :class:`~gtconsensus.exceptions.StorageError`
(``write_failed``).

:class:`ObjectStore` is what the Lambda asks of a store (``fetch`` and
``put_json``); :class:`S3Store` is the real one, and
:class:`gtconsensus.testing.stores.DictStore` one in memory for tests.

Examples
--------
>>> split_s3_uri("s3://bucket/some/key.json")
('bucket', 'some/key.json')
>>> join_s3_uri("s3://bucket/prefix/", "gtconsensus", "0", "value.json")
's3://bucket/prefix/gtconsensus/0/value.json'
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from gtconsensus.exceptions import FetchError, OptionsError, StorageError

__all__ = [
    "ObjectStore",
    "PrefetchingFetch",
    "S3Store",
    "client_config",
    "default_fetch",
    "join_s3_uri",
    "open_store",
    "own_client",
    "read_location",
    "reset_clients",
    "split_s3_uri",
]

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "ExpiredToken"}
_RENEW_BEFORE_S = 600.0  # renew assumed-role credentials 10 minutes before they expire

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_assumed: dict[str, tuple[Any, float]] = {}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://bucket/key`` URI.

    Raises
    ------
    FetchError
        ``bad_reference`` when ``uri`` is not of that form.
    """
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    if match is None:
        raise FetchError("bad_reference", f"expected an s3://bucket/key URI, got {uri!r:.100}")
    return match[1], match[2]


def join_s3_uri(prefix: str, *parts: str) -> str:
    """Join an ``s3://`` prefix and key parts with single slashes."""
    pieces = [prefix.rstrip("/"), *(p.strip("/") for p in parts)]
    return "/".join(p for p in pieces if p)


def client_config() -> Config:
    """botocore settings of every client: standard retries, bounded timeouts."""
    text = os.environ.get("GTCONSENSUS_S3_MAX_ATTEMPTS", "5")
    if not text.isdigit() or int(text) < 1:
        raise OptionsError(
            "bad_setting", f"GTCONSENSUS_S3_MAX_ATTEMPTS must be a positive integer, got {text!r}"
        )
    return Config(
        retries={"mode": "standard", "total_max_attempts": int(text)},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,
    )


def own_client(service: str = "s3") -> Any:
    """The function's own client for ``service``, created once per container."""
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.client(service, config=client_config())
        return _clients[service]


def _session_name(label: str | None) -> str:
    cleaned = re.sub(r"[^\w+=,.@-]", "-", label or "job")
    return f"gtconsensus-{cleaned}"[:64]


def _assumed_client(role_arn: str, label: str | None) -> Any:
    """An S3 client with the credentials of ``role_arn``, kept until near expiry."""
    with _lock:
        cached = _assumed.get(role_arn)
        if cached is not None and cached[1] - time.time() > _RENEW_BEFORE_S:
            return cached[0]
    sts = own_client("sts")
    try:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=_session_name(label))
    except (ClientError, BotoCoreError) as exc:
        raise FetchError(_code_of(exc), f"cannot assume role {role_arn}: {exc}") from exc
    credentials = answer["Credentials"]
    client = boto3.client(
        "s3",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=client_config(),
    )
    with _lock:
        _assumed[role_arn] = (client, credentials["Expiration"].timestamp())
    return client


def reset_clients() -> None:
    """Forget every cached client (for tests that change the endpoint or credentials)."""
    with _lock:
        _clients.clear()
        _assumed.clear()


def _code_of(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        code = str(error.get("Code", ""))
        if code in _NOT_FOUND or status == "404":
            return "not_found"
        if code in _DENIED or status == "403":
            return "access_denied"
    return "fetch_failed"


class ObjectStore(Protocol):
    """What the Lambda reads and writes through: :class:`S3Store`, or a fake for tests.

    ``fetch`` raises :class:`~gtconsensus.exceptions.FetchError` with the codes of
    :meth:`S3Store.fetch` (``bad_reference``, ``not_found``, ``access_denied``,
    ``fetch_failed``), ``put_json`` :class:`~gtconsensus.exceptions.StorageError`
    (``write_failed``). Both may be called from several threads at once.
    """

    def fetch(self, uri: str) -> bytes:
        """The bytes of the object at ``uri`` (``s3://bucket/key``)."""
        ...

    def put_json(self, uri: str, data: bytes) -> None:
        """Write the JSON bytes ``data`` to ``uri``."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class S3Store:
    """Reads and writes of one invocation, with one client and the job's KMS key.

    Attributes
    ----------
    client : botocore client
        An S3 client (the function's own, or one with an assumed role's credentials).
    kms_key_id : str or None
        When set, every write is encrypted with it (``aws:kms``).
    assumed_role : str or None
        The role whose credentials ``client`` uses, if any.
    """

    client: Any
    kms_key_id: str | None = None
    assumed_role: str | None = None

    def fetch(self, uri: str) -> bytes:
        """Read an object (the ``fetch`` hook of :func:`gtconsensus.read_answers`).

        Raises
        ------
        FetchError
            ``bad_reference``, ``not_found``, ``access_denied`` or ``fetch_failed``.
        """
        bucket, key = split_s3_uri(uri)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            data: bytes = body.read()
        except (ClientError, BotoCoreError) as exc:
            raise FetchError(_code_of(exc), f"cannot read {uri}: {exc}") from exc
        return data

    def put_json(self, uri: str, data: bytes) -> None:
        """Write JSON bytes to ``uri``, encrypted with ``kms_key_id`` when set.

        Raises
        ------
        StorageError
            ``write_failed`` once the client's retries are spent.
        """
        bucket, key = split_s3_uri(uri)
        extra: dict[str, str] = {}
        if self.kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        try:
            self.client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType="application/json", **extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("write_failed", f"cannot write {uri}: {exc}") from exc


def open_store(
    *,
    role_arn: str | None = None,
    assume_role: bool = False,
    kms_key_id: str | None = None,
    label: str | None = None,
) -> S3Store:
    """The store of one invocation: own credentials, or the job's role when asked.

    Parameters
    ----------
    role_arn : str, optional
        The event's ``roleArn``.
    assume_role : bool
        Assume ``role_arn`` through STS (``GTCONSENSUS_ASSUME_ROLE=1``).
    kms_key_id : str, optional
        The event's ``kmsKeyId``, used for every write.
    label : str, optional
        Put in the STS session name (the job's name), for CloudTrail.

    Raises
    ------
    FetchError
        When the role cannot be assumed (``access_denied``, ``fetch_failed``).
    OptionsError
        ``bad_setting`` when the role is to be assumed and the event has none.
    """
    if not assume_role:
        return S3Store(own_client("s3"), kms_key_id)
    if not role_arn:
        raise OptionsError(
            "bad_setting", "GTCONSENSUS_ASSUME_ROLE=1 but the event has no `roleArn`"
        )
    return S3Store(_assumed_client(role_arn, label), kms_key_id, role_arn)


def default_fetch(uri: str) -> bytes:
    """Read an ``s3://`` URI with the own client: a ready ``fetch`` for the readers.

    For example ``gtconsensus.consolidate_line(line, fetch=default_fetch)`` follows the
    Lambda's ``-ref`` keys and answers given by ``annotationData.s3Uri``.
    """
    return S3Store(own_client("s3")).fetch(uri)


def read_location(location: str, store: ObjectStore | None = None) -> bytes:
    """Read an ``s3://`` URI (through ``store``, or the own client) or a local path."""
    if location.startswith("s3://"):
        return (store if store is not None else S3Store(own_client("s3"))).fetch(location)
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise FetchError("not_found", f"cannot read {location}: {exc}") from exc


class PrefetchingFetch:
    """A ``fetch`` that reads the next URIs ahead, in threads, in the order they will be asked.

    The consolidation loop asks for answers one object at a time; reading them one
    by one would spend most of the invocation waiting for S3. Knowing the order
    (every ``annotationData.s3Uri`` of the payload), this keeps up to ``window``
    reads in flight and hands each result over once (then forgets it). A URI
    outside the list, or asked twice, is read directly. Errors are raised when the
    URI is asked for, as the plain ``fetch`` would.

    Use it as a context manager; leaving it cancels reads not yet asked for.
    """

    def __init__(
        self, fetch: Callable[[str], bytes], uris: Sequence[str], *, window: int = 64,
        threads: int = 16,
    ) -> None:  # fmt: skip
        self._fetch = fetch
        self._order = list(dict.fromkeys(uris))
        self._position = {uri: i for i, uri in enumerate(self._order)}
        self._window = max(1, window)
        self._futures: dict[str, Future[bytes]] = {}
        self._submitted = 0
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads))

    def _submit_until(self, stop: int) -> None:
        stop = min(stop, len(self._order))
        while self._submitted < stop:
            uri = self._order[self._submitted]
            self._futures[uri] = self._pool.submit(self._fetch, uri)
            self._submitted += 1

    def __call__(self, uri: str) -> bytes:
        position = self._position.get(uri)
        if position is None:
            return self._fetch(uri)
        self._submit_until(position + self._window)
        future = self._futures.pop(uri, None)
        return self._fetch(uri) if future is None else future.result()

    def __enter__(self) -> PrefetchingFetch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._pool.shutdown(wait=True)
