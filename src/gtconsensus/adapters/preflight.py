"""Checks made before a run: can every input be read and every output written?

A run of a large job takes hours. An output that is a folder, two outputs with
one name, or a compressed manifest must stop it at once, with the reason, rather
than after the work (the atomic writers find a folder only when they rename) or
line by line (every line of a gzip file fails as ``bad_json``). Each check
returns the problem as a sentence, or ``None``.

An ``s3://`` output is checked with S3 itself (:func:`remote_output_problem`): a bucket
that does not exist (a misspelt name) is refused; whether the run may put objects there
is known only when it writes them, at the end.

Examples
--------
>>> output_problem("-", "output") is None
True
>>> clash(["in.manifest"], {"output": "out.manifest", "worker table": "out.manifest"})
"the output and the worker table are one file, 'out.manifest': name two"
>>> clash(["in.manifest"], {"output": "in.manifest", "error file": "in.manifest.errors.jsonl"})
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gtconsensus.adapters import storage
from gtconsensus.exceptions import OptionsError

__all__ = [
    "clash",
    "file_problem",
    "input_problem",
    "no_such_bucket",
    "not_json_lines",
    "output_problem",
    "remote_output_problem",
]


# How files that are not JSON Lines begin, what they are, and what turns them into it.
_NOT_JSON_LINES = (
    (b"\x1f\x8b", "gzip-compressed", "gunzip -c"),
    (b"BZh", "bzip2-compressed", "bunzip2 -c"),
    (b"\xfd7zXZ\x00", "xz-compressed", "xz -dc"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "zstd -dc"),
    (b"PK\x03\x04", "a zip archive", "unzip -p"),
    (b"\xff\xfe", "UTF-16 text", "iconv -f UTF-16 -t UTF-8"),
    (b"\xfe\xff", "UTF-16 text", "iconv -f UTF-16 -t UTF-8"),
)


def input_problem(path: str, command: str) -> str | None:
    """Why ``path`` cannot be read as an input, or ``None``.

    Every line of a compressed or UTF-16 file would fail as ``bad_json``, one by
    one; such a file is refused whole, with the command that converts it.
    """
    if path == "-":
        return None
    try:
        if not storage.exists(path):
            return f"input {path!r} is not a readable file"
        if storage.is_remote(path):  # the first bytes would cost a block of the object
            return None
        with open(storage.local_path(path), "rb") as handle:
            head = handle.read(8)
    except OptionsError as exc:  # s3:// without the `s3` extra: say which extra
        return exc.message
    except (OSError, ValueError) as exc:
        return f"cannot read input {path!r}: {exc}"
    return not_json_lines(head, path, f"gtconsensus {command} -")


def not_json_lines(head: bytes, name: str, then: str) -> str | None:
    """Why a file beginning with ``head`` is not UTF-8 JSON Lines (compressed, an
    archive, UTF-16), with the command that converts it into ``then``; else ``None``.

    Examples
    --------
    >>> not_json_lines(b"\\x1f\\x8b\\x08", "in.gz", "gtconsensus consolidate -")
    "input 'in.gz' is gzip-compressed, not UTF-8 JSON Lines: convert it first, e.g. gunzip -c in.gz | gtconsensus consolidate - ..."
    >>> not_json_lines(b'{"source-ref"', "in.manifest", "gtconsensus consolidate -") is None
    True
    """  # noqa: E501
    for magic, kind, convert in _NOT_JSON_LINES:
        if head.startswith(magic):
            return (f"input {name!r} is {kind}, not UTF-8 JSON Lines: convert it first, "
                    f"e.g. {convert} {name} | {then} ...")  # fmt: skip
    return None


def output_problem(path: str | None, what: str) -> str | None:
    """Why a local ``path`` cannot be written, found before the run rather than after it.

    A pipe or device (``/dev/stdout``, a FIFO) is written in place: only it must be
    writable, not its folder. Of a URL only one thing is checked here: that it names an
    object, not a bucket (``s3://bucket/``); its bucket is asked about by
    :func:`remote_output_problem`.

    Examples
    --------
    >>> output_problem("s3://my-bucket/", "output")
    "output 's3://my-bucket/' is a bucket, not a file: name a file in it"
    """
    if path is not None and storage.names_a_bucket(path):
        return f"{what} {path!r} is a bucket, not a file: name a file in it"
    if path is None or path in ("-", os.devnull) or storage.is_remote(path):
        return None
    target = Path(storage.local_path(path))
    if target.is_dir():
        return f"{what} {path!r} is a folder: name a file"
    if storage.is_stream(target):
        writable = os.access(target, os.W_OK)
        return None if writable else f"{what} {path!r} cannot be written: no permission"
    parent = next((p for p in target.parents if p.exists()), Path("."))
    if not parent.is_dir():
        return f"{what} {path!r} cannot be written: {str(parent)!r} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{what} {path!r} cannot be written: no permission to write in {str(parent)!r}"
    return None


def no_such_bucket(response: Mapping[str, Any]) -> bool:
    """Whether S3's error answer to a call on a bucket (``HeadBucket``) says that the
    bucket does not exist; ``response`` is a botocore ``ClientError``'s.

    Only ``NoSuchBucket`` or a 404 says so. A 403 does not: a role allowed to put objects
    under one prefix, and nothing else, is refused ``HeadBucket`` on a bucket it can
    write. Nor does any other answer (throttled, a server error): the run may still write.

    Examples
    --------
    >>> no_such_bucket({"Error": {"Code": "404", "Message": "Not Found"},
    ...                 "ResponseMetadata": {"HTTPStatusCode": 404}})
    True
    >>> no_such_bucket({"Error": {"Code": "403", "Message": "Forbidden"},
    ...                 "ResponseMetadata": {"HTTPStatusCode": 403}})
    False
    """
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in ("NoSuchBucket", "NotFound", "404") or (not code and status == 404)


def _s3_answer(exc: BaseException) -> Mapping[str, Any] | None:
    """The ``response`` of the botocore ``ClientError`` behind ``exc`` (s3fs raises an
    ``OSError`` with it as ``__cause__``), or ``None`` when S3 did not answer."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, Mapping) and "Error" in response:
            return response
        seen = seen.__cause__
    return None


def _unasked(exc: Exception, bucket: str) -> str | None:
    """Why S3 cannot be asked at all, if ``exc`` says so (the run could not write either):
    no endpoint at that address, no credentials, a bucket name S3 never accepts."""
    try:
        from botocore.exceptions import (
            EndpointConnectionError,
            NoCredentialsError,
            ParamValidationError,
        )
    except ImportError:  # pragma: no cover - botocore comes with s3fs
        return None
    if isinstance(exc, EndpointConnectionError):  # its message names the endpoint
        return f"S3 cannot be reached: {exc}"
    if isinstance(exc, NoCredentialsError):
        return f"no AWS credentials were found ({exc})"
    if isinstance(exc, ParamValidationError):
        return f"{bucket!r} is not a valid bucket name"
    return None


def remote_output_problem(path: str | None, what: str) -> str | None:
    """Why the ``s3://`` output ``path`` cannot be written, asked of S3 before the run
    (``HeadBucket``, with the client that writes it; nothing is created or written).

    Refused: a bucket S3 says does not exist (:func:`no_such_bucket`), and an S3 that
    cannot be asked (no endpoint at that address, no credentials). Let through: any
    other answer, a 403 above all (the permission to put the object is known only when
    it is put, at the end). Any other path: ``None``.
    """
    bucket = None if path is None else storage.bucket_of(path)
    if path is None or bucket is None:
        return None
    try:
        storage.head_bucket(path)
    except OptionsError as exc:  # s3:// without the `s3` extra: say which extra
        return exc.message
    except Exception as exc:  # s3fs's OSErrors and botocore's errors alike, sorted here
        answer = _s3_answer(exc)
        if answer is not None and no_such_bucket(answer):
            return (f"{what} {path!r} cannot be written: there is no bucket {bucket!r} "
                    "(check its name; gtconsensus does not create buckets)")  # fmt: skip
        reason = _unasked(exc, bucket) if answer is None else None
        if reason is not None:
            return f"{what} {path!r} cannot be written: {reason}"
    return None


def _file_key(path: str, *, written: bool = False) -> str:
    """One name per file: local paths resolved (``./a`` and ``a``), URIs as given.

    A file the run writes (``written``) is named by its folder, resolved, and its own
    name: the writer replaces a link there by the new file, it does not write through it
    (a pipe or device excepted, written in place).
    """
    if storage.is_remote(path):
        return path
    target = Path(storage.local_path(path))
    if not written or storage.is_stream(target):
        return str(target.resolve())
    return str(target.parent.resolve() / target.name)


def _stdout_key() -> str:
    """What ``-`` names as an output: the file standard output is (``/dev/stdout`` resolved:
    ``-o - --errors /dev/stdout`` is one stream twice), or ``-`` where there is no such path.
    """
    if not os.path.exists("/dev/stdout"):
        return "-"
    return _file_key("/dev/stdout", written=True)


def _replaced(paths: Sequence[str]) -> set[str]:
    """The keys an output must not have not to replace one of ``paths`` (the files a run
    reads): each one's own name, and the file it leads to when it is a link."""
    return {key for path in paths if path != "-"
            for key in (_file_key(path), _file_key(path, written=True))}  # fmt: skip


def clash(
    inputs: Sequence[str], outputs: Mapping[str, str | None], *, read: Sequence[str] = ()
) -> str | None:
    """Two outputs that name one file, an output other than ``-o`` that names an input,
    or any output that names another file the run reads (``read``: gold answers, a model).

    The later write would replace the earlier: the manifest by the worker table, an
    input by the error file. (``-o`` may name an input: the output keeps every raw
    answer, and is written only when complete; it keeps nothing of a gold file.) An
    output that is a link to an input is let through: the link is replaced, the input
    kept; an output that an input links to is not. ``s3://b//k`` and ``s3://b/k`` are two
    objects (keys ``/k`` and ``k``), not one.

    Examples
    --------
    >>> clash(["in.manifest"], {"output": "gold.manifest"}, read=["gold.manifest"])
    "the output 'gold.manifest' is read by the run: writing it would replace it"
    """
    named = {what: path for what, path in outputs.items()
             if path is not None and path != os.devnull}  # fmt: skip
    seen: dict[str, str] = {}
    stdout = _stdout_key()
    for what, path in named.items():
        key = stdout if path == "-" else _file_key(path, written=True)
        if key in seen and key == stdout:
            return f"the {seen[key]} and the {what} would both go to standard output: name a file"
        if key in seen:
            return f"the {seen[key]} and the {what} are one file, {path!r}: name two"
        seen[key] = what
    sources, kept = _replaced(inputs), _replaced(read)
    for what, path in named.items():
        key = "-" if path == "-" else _file_key(path, written=True)
        if what != "output" and key in sources:
            return f"the {what} {path!r} is an input: writing it would replace the input"
        if key in kept:
            return f"the {what} {path!r} is read by the run: writing it would replace it"
    return None


def file_problem(
    inputs: Sequence[str], outputs: Mapping[str, str | None], *, command: str,
    read: Sequence[str] = (),
) -> str | None:  # fmt: skip
    """The first problem with ``inputs`` (``-``: standard input) or ``outputs``
    (by what each is: ``{"output": path, "worker table": path}``), or ``None``.

    ``command`` names the subcommand in the advice given for a compressed input;
    ``read`` names the other files the run reads (no output may replace them). The
    bucket of each ``s3://`` output is asked about last, once
    (:func:`remote_output_problem`).
    """
    for path in inputs:
        problem = input_problem(path, command)
        if problem is not None:
            return problem
    for what, target in outputs.items():
        problem = output_problem(target, what)
        if problem is not None:
            return problem
    problem = clash(inputs, outputs, read=read)
    asked: set[str | None] = {None}  # None: not on S3
    for what, target in outputs.items():
        bucket = None if target is None else storage.bucket_of(target)
        if problem is None and bucket not in asked:
            asked.add(bucket)
            problem = remote_output_problem(target, what)
    return problem
