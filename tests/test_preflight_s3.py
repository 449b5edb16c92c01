"""An ``s3://`` output whose bucket does not exist stops the command before the run.

A misspelt bucket used to be found when the output was written, after the whole job.
S3 is asked first (``HeadBucket``): a bucket it says does not exist is refused, with the
path and the bucket named; an answer that says nothing about the bucket (403: a role
allowed to put objects under one prefix only) lets the run go on. Against a moto server
on loopback, through the same s3fs client that writes the outputs.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import s3fs  # type: ignore[import-untyped]
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin

from gtconsensus import cli
from gtconsensus.adapters import preflight, storage
from gtconsensus.adapters import s3 as s3_adapter
from gtconsensus.adapters.manifest import ManifestOptions, consolidate_manifest
from gtconsensus.exceptions import OptionsError
from test_cli_preflight import example, no_run
from test_offline_s3 import BUCKET, _get, _keys, s3

__all__ = ["example", "no_run", "s3"]  # fixtures, used by name

MISSING = "no-such-output-bucket"


@pytest.fixture(scope="module")
def moto(s3: Any) -> Iterator[Any]:
    """The moto fixture, with no s3fs instance of another module's server before or after."""
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3
    s3fs.S3FileSystem.clear_instance_cache()


def _response(status: int, code: str | None) -> dict[str, Any]:
    """What botocore makes of S3's error answer (a HEAD answer has no body: the code is
    the status)."""
    error = {} if code is None else {"Code": code, "Message": "..."}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "HeadBucket").response  # fmt: skip


@pytest.mark.parametrize(
    ("status", "code", "missing"),
    [
        (404, "404", True),  # HeadBucket on a bucket that does not exist
        (404, "NoSuchBucket", True),  # any call with a body
        (404, None, True),
        (403, "403", False),  # HeadBucket without s3:ListBucket: the bucket may exist
        (403, "AccessDenied", False),
        (301, "301", False),  # in another region: it exists
        (400, "400", False),
        (503, "SlowDown", False),
        (500, "InternalError", False),
        (404, "NoSuchKey", False),  # about a key, not the bucket
    ],
)
def test_only_a_404_or_no_such_bucket_says_the_bucket_does_not_exist(
    status: int, code: str | None, missing: bool
) -> None:
    assert preflight.no_such_bucket(_response(status, code)) is missing


@pytest.mark.parametrize(
    ("raised", "refused"),
    [
        (FileNotFoundError("Not Found"), "there is no bucket 'b'"),
        (PermissionError("Forbidden"), None),
        (OSError(5, "Service Unavailable"), None),
        (TimeoutError("read timed out"), None),
    ],
)
def test_what_s3fs_raises_for_an_answer_is_sorted_by_the_answer_behind_it(
    monkeypatch: pytest.MonkeyPatch, raised: OSError, refused: str | None
) -> None:
    # s3fs turns a ClientError into an OSError whose __cause__ is the ClientError.
    status = {FileNotFoundError: 404, PermissionError: 403, OSError: 503}.get(type(raised))
    if status is not None:
        raised.__cause__ = ClientError(_response(status, str(status)), "HeadBucket")

    def head_bucket(path: str) -> None:
        raise raised

    monkeypatch.setattr(storage, "head_bucket", head_bucket)
    problem = preflight.remote_output_problem("s3://b/out.manifest", "output")
    assert problem == (None if refused is None else
                       f"output 's3://b/out.manifest' cannot be written: {refused} (check its "
                       "name; gtconsensus does not create buckets)")  # fmt: skip


def test_a_path_that_is_not_on_s3_is_not_asked_about(monkeypatch: pytest.MonkeyPatch) -> None:
    def head_bucket(path: str) -> None:
        raise AssertionError(f"asked about {path}")

    monkeypatch.setattr(storage, "head_bucket", head_bucket)
    for path in (None, "-", "out.manifest", "file:///tmp/out", "memory://b/out", "s3://"):
        assert preflight.remote_output_problem(path, "output") is None


@pytest.mark.parametrize(
    ("option", "what"),
    [("-o", "output"), ("--errors", "error file"), ("--workers", "worker table"),
     ("--save-worker-model", "worker model")],
)  # fmt: skip
def test_an_output_in_a_bucket_that_does_not_exist_is_refused_before_the_run(
    moto: Any, example: Path, capsys: pytest.CaptureFixture[str], no_run: None,
    option: str, what: str,
) -> None:  # fmt: skip
    before = example.read_bytes()
    target = f"s3://{MISSING}/job/{what.replace(' ', '-')}"
    out = target if option == "-o" else f"s3://{BUCKET}/refused/out.manifest"
    args = ["consolidate", str(example), "-o", out, "-q", "--jobs", "1"]
    args += [] if option == "-o" else [option, target]
    assert cli.main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (f"gtconsensus: {what} {target!r} cannot be written: there is no "
                   f"bucket {MISSING!r} (check its name; gtconsensus does not create "
                   "buckets)\n")  # fmt: skip
    assert example.read_bytes() == before
    assert MISSING not in [b["Name"] for b in moto.list_buckets()["Buckets"]]  # not created
    assert _keys(moto, "refused/") == []


def test_the_workers_command_refuses_a_table_in_a_bucket_that_does_not_exist(
    moto: Any, example: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    table = f"s3://{MISSING}/workers.csv"
    assert cli.main(["workers", str(example), "-o", table, "-q"]) == cli.EXIT_USAGE
    assert f"worker table {table!r} cannot be written: there is no bucket" in (
        capsys.readouterr().err
    )


def test_outputs_in_a_bucket_that_exists_are_written(moto: Any, example: Path) -> None:
    base = f"s3://{BUCKET}/written"
    args = ["consolidate", str(example), "-o", f"{base}/out.manifest", "-q", "--jobs", "1",
            "--errors", f"{base}/errors.jsonl", "--workers", f"{base}/workers.csv"]  # fmt: skip
    assert cli.main(args) == cli.EXIT_OK
    assert _keys(moto, "written/") == [f"written/{name}" for name in
                                       ("errors.jsonl", "out.manifest", "workers.csv")]  # fmt: skip
    assert len(_get(moto, f"{base}/out.manifest").splitlines()) == 2


@pytest.mark.parametrize("keyword", ["output_path", "errors_path"])
def test_the_python_api_refuses_a_missing_bucket_before_reading_a_line(
    moto: Any, example: Path, keyword: str
) -> None:
    paths: dict[str, str | None] = {"output_path": f"s3://{BUCKET}/api/out.manifest",
                                     "errors_path": None}  # fmt: skip
    paths[keyword] = f"s3://{MISSING}/api/{keyword}"
    read: list[str] = []

    def reader(options: ManifestOptions) -> Any:  # the run would read the input here
        read.append("read")
        raise AssertionError("the input was read")

    with pytest.raises(OptionsError, match=f"there is no bucket {MISSING!r}") as caught:
        consolidate_manifest(str(example), paths["output_path"], errors_path=paths["errors_path"],
                             reader=reader)  # fmt: skip
    assert caught.value.code == "bad_option"
    assert read == []
    assert _keys(moto, "api/") == []


@pytest.mark.parametrize("target", [f"s3://{BUCKET}", f"s3://{BUCKET}/", f"s3a://{BUCKET}/"])
@pytest.mark.parametrize(("option", "what"), [("-o", "output"), ("--workers", "worker table")])
def test_an_output_that_names_a_bucket_and_no_key_is_refused_before_the_run(
    moto: Any, example: Path, capsys: pytest.CaptureFixture[str], no_run: None,
    target: str, option: str, what: str,
) -> None:  # fmt: skip
    # The bucket exists, so S3 lets it through; the writer failed late (after pass 1, or
    # after the whole run for the worker table) with botocore's "Invalid length for
    # parameter Key". The worker table's bucket is the output's, asked about once.
    before = _keys(moto, "")
    out = target if option == "-o" else f"s3://{BUCKET}/keyless/out.manifest"
    args = ["consolidate", str(example), "-o", out, "-q", "--jobs", "1"]
    args += [] if option == "-o" else [option, target]
    assert cli.main(args) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        f"gtconsensus: {what} {target!r} is a bucket, not a file: name a file in it\n"
    )
    assert _keys(moto, "") == before


def test_the_writer_refuses_a_bucket_before_it_writes(moto: Any) -> None:
    before = _keys(moto, "")
    with (
        pytest.raises(IsADirectoryError, match="is a bucket, not a file"),
        storage.atomic_writer(f"s3://{BUCKET}/") as handle,
    ):
        handle.write("never put\n")
    assert _keys(moto, "") == before


def test_the_python_api_refuses_a_bucket_as_its_output_before_reading_a_line(
    moto: Any, example: Path
) -> None:
    def reader(options: ManifestOptions) -> Any:
        raise AssertionError("the input was read")

    with pytest.raises(OptionsError, match="is a bucket, not a file") as caught:
        consolidate_manifest(str(example), f"s3://{BUCKET}", reader=reader)
    assert caught.value.code == "bad_option"


def test_a_double_slash_names_another_key_so_it_is_not_the_same_output(moto: Any) -> None:
    # S3 keys may hold "//": s3fs writes s3://b//k to the key "/k", not "k". Two outputs
    # that differ so are two objects, and are not refused as one file.
    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{BUCKET}/slashes//k", b"double")
    fs.pipe_file(f"{BUCKET}/slashes/k", b"single")
    assert _keys(moto, "slashes/") == ["slashes//k", "slashes/k"]
    outputs = {"output": f"s3://{BUCKET}/slashes//k", "worker table": f"s3://{BUCKET}/slashes/k"}
    assert preflight.clash(["in.manifest"], outputs) is None


@pytest.fixture
def nowhere(moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``AWS_ENDPOINT_URL`` at a loopback port nothing listens on (one attempt per call)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    yield endpoint
    s3fs.S3FileSystem.clear_instance_cache()


def test_an_endpoint_that_cannot_be_reached_is_refused_and_named(
    nowhere: str, example: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    # The run could not write its outputs either: better said now than after it.
    out = f"s3://{BUCKET}/unreachable/out.manifest"
    args = ["consolidate", str(example), "-o", out, "-q", "--jobs", "1"]
    assert cli.main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"gtconsensus: output {out!r} cannot be written: S3 cannot be reached")
    assert nowhere in err
    assert err.count("\n") == 1


def test_an_unreachable_endpoint_is_told_from_an_answer(nowhere: str) -> None:
    with pytest.raises(EndpointConnectionError):
        storage.head_bucket(f"s3://{BUCKET}/out.manifest")


@contextlib.contextmanager
def _writing_under(prefix: str) -> Iterator[None]:
    """Credentials of a user allowed to put, get and delete objects under ``prefix`` of the
    test bucket and nothing else (no ``s3:ListBucket``), with moto enforcing IAM."""
    iam = boto3.Session().client("iam")
    user = f"writer-{len(iam.list_users()['Users'])}"
    iam.create_user(UserName=user)
    allowed = {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
               "Resource": f"arn:aws:s3:::{BUCKET}/{prefix}*"}  # fmt: skip
    iam.put_user_policy(UserName=user, PolicyName="write-under-prefix",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": [allowed]}))  # fmt: skip
    key = iam.create_access_key(UserName=user)["AccessKey"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        patch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        patch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # every call checked
        patch.setattr(ActionAuthenticatorMixin, "request_count", 0)
        s3fs.S3FileSystem.clear_instance_cache()
        s3_adapter.reset_clients()
        try:
            yield
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            s3_adapter.reset_clients()


def test_a_role_that_may_only_write_under_a_prefix_is_let_through_and_writes(
    moto: Any, example: Path
) -> None:
    # S3 answers such a role 403 about the bucket: that says nothing of its existence.
    base = f"s3://{BUCKET}/prefix-only"
    args = ["consolidate", str(example), "-o", f"{base}/out.manifest", "-q", "--jobs", "1",
            "--workers", f"{base}/workers.csv"]  # fmt: skip
    with _writing_under("prefix-only/"):
        with pytest.raises(PermissionError) as denied:
            storage.head_bucket(f"{base}/out.manifest")
        assert preflight.no_such_bucket(denied.value.__cause__.response) is False  # type: ignore[union-attr]
        with pytest.raises(PermissionError):  # and the role may write nowhere else
            s3fs.S3FileSystem().pipe_file(f"{BUCKET}/elsewhere", b"x")
        code = cli.main(args)
    assert code == cli.EXIT_OK
    assert _keys(moto, "prefix-only/") == [f"prefix-only/{name}" for name in
                                           ("out.manifest", "out.manifest.errors.jsonl",
                                            "workers.csv")]  # fmt: skip


def test_several_inputs_are_not_read_before_a_missing_bucket_is_refused(
    moto: Any, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gtconsensus.adapters import merge

    def never(*args: Any, **kwargs: Any) -> Any:  # reads and groups every input
        raise AssertionError("the inputs were read")

    monkeypatch.setattr(merge, "merged_inputs", never)
    with pytest.raises(OptionsError, match=f"there is no bucket {MISSING!r}"):
        merge.consolidate_manifests([str(example)] * 2, f"s3://{MISSING}/merged/out.manifest")
