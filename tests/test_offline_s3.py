"""The offline tool on S3: every file an ``s3://`` URI, against moto's server on loopback.

No client is patched: s3fs (input, output, error file, worker table) and boto3 (the
referenced files) talk HTTP to a moto server on 127.0.0.1 through
``AWS_ENDPOINT_URL``, with dummy credentials.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import fsspec  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from gtconsensus import cli
from gtconsensus.adapters import s3 as s3_adapter
from gtconsensus.testing.crowd import SimulatedJob
from harness import finish_line_interrupted_at
from test_offline import ATTR, decisions, no_lambda_lines, simulated

BUCKET = "offline-jobs"


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """A moto server on a free loopback port with the test bucket; a boto3 client on it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        s3_adapter.reset_clients()
        fsspec.AbstractFileSystem.clear_instance_cache()  # s3fs made for another endpoint
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
        s3_adapter.reset_clients()
        fsspec.AbstractFileSystem.clear_instance_cache()
    server.stop()


def _put(s3: Any, uri: str, text: str) -> None:
    bucket, key = s3_adapter.split_s3_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())


def _get(s3: Any, uri: str) -> bytes:
    bucket, key = s3_adapter.split_s3_uri(uri)
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def _keys(s3: Any, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


@pytest.fixture(scope="module")
def job() -> SimulatedJob:
    return simulated(10, seed=11)


@pytest.fixture(scope="module")
def local(job: SimulatedJob, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe manifest consolidated locally (output, errors and worker table beside it)."""
    folder = tmp_path_factory.mktemp("local")
    lines = [*job.manifest_lines(), "{not json"]
    (folder / "in.manifest").write_text("\n".join(lines) + "\n")
    args = [str(folder / "in.manifest"), "-o", str(folder / "out"), "--method", "image"]
    code = cli.main(["consolidate", *args, "--workers", str(folder / "workers.csv"), "-q"])
    assert code == cli.EXIT_FAILED_LINES
    return folder


def test_input_output_errors_and_worker_table_on_s3_equal_the_local_run(
    s3: Any, job: SimulatedJob, local: Path
) -> None:
    base = f"s3://{BUCKET}/recipe"
    _put(s3, f"{base}/in.manifest", (local / "in.manifest").read_text())
    code = cli.main(["consolidate", f"{base}/in.manifest", "-o", f"{base}/out/consensus.manifest",
                     "--workers", f"{base}/out/workers.csv", "--method", "image", "-q",
                     "--jobs", "2", "--chunk-lines", "2"])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    assert _get(s3, f"{base}/out/consensus.manifest") == (local / "out").read_bytes()
    assert (
        _get(s3, f"{base}/out/consensus.manifest.errors.jsonl")
        == (local / "out.errors.jsonl").read_bytes()
    )
    assert _get(s3, f"{base}/out/workers.csv") == (local / "workers.csv").read_bytes()
    # Nothing else is left behind (the temporary keys are gone).
    assert _keys(s3, "recipe/out/") == [
        "recipe/out/consensus.manifest",
        "recipe/out/consensus.manifest.errors.jsonl",
        "recipe/out/workers.csv",
    ]


def test_worker_response_files_lambda_references_and_payload_files_on_s3(
    s3: Any, job: SimulatedJob, local: Path
) -> None:
    base = f"s3://{BUCKET}/forms"
    expected = decisions(local / "out")[: len(job.images)]
    # No post-annotation Lambda: {} and a worker-response file per object.
    lines = no_lambda_lines(job, base, lambda uri, text: _put(s3, uri, text))
    # Three lines as the gtconsensus Lambda leaves them: the raw answers moved to S3.
    for i in range(3):
        line = json.loads(list(job.manifest_lines())[i])
        raws = line[ATTR].pop("annotationsFromAllWorkers")
        _put(s3, f"{base}/raw/{i}.json", json.dumps(raws))
        line[ATTR]["annotationsFromAllWorkers-ref"] = f"{base}/raw/{i}.json"
        lines[i] = json.dumps(line)
    _put(s3, f"{base}/in.manifest", "\n".join(lines) + "\n")
    _put(s3, f"{base}/payload.json", json.dumps(job.lambda_payload()))
    for name in ("in.manifest", "payload.json"):
        out = local / f"from-s3-{name}"
        args = [f"{base}/{name}", "-o", str(out), "--method", "image", "--label-attribute", ATTR]
        code = cli.main(["consolidate", *args, "-q", "--jobs", "2", "--chunk-lines", "2"])
        assert code == cli.EXIT_OK
        assert decisions(out) == expected, name


def test_an_interrupted_run_leaves_no_object_on_s3(
    s3: Any, local: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gtconsensus.adapters.manifest as adapter

    base = f"s3://{BUCKET}/interrupted"
    _put(s3, f"{base}/in.manifest", (local / "in.manifest").read_text())
    interrupted = finish_line_interrupted_at(5)

    monkeypatch.setattr(adapter, "finish_line", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["consolidate", f"{base}/in.manifest", "-o", f"{base}/out/consensus.manifest",
                  "--method", "image", "-q", "--jobs", "1"])  # fmt: skip
    assert _keys(s3, "interrupted/out/") == []


def test_resume_to_s3_keeps_partial_files_locally_and_uploads_them_at_the_end(
    s3: Any, local: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    import gtconsensus.adapters.manifest as adapter
    from gtconsensus.adapters.checkpoint import partial_path

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the partial files go
    base = f"s3://{BUCKET}/resumed"
    _put(s3, f"{base}/in.manifest", (local / "in.manifest").read_text())
    interrupted = finish_line_interrupted_at(6)

    args = ["consolidate", f"{base}/in.manifest", "-o", f"{base}/out/consensus.manifest",
            "--method", "image", "-q", "--jobs", "1", "--chunk-lines", "1", "--resume"]  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cli.main(args)
    assert _keys(s3, "resumed/out/") == []
    checkpoint = Path(f"{partial_path(f'{base}/out/consensus.manifest')}.json")
    assert json.loads(checkpoint.read_text())["line"] == 5
    assert cli.main(args) == cli.EXIT_FAILED_LINES
    assert _get(s3, f"{base}/out/consensus.manifest") == (local / "out").read_bytes()
    assert (
        _get(s3, f"{base}/out/consensus.manifest.errors.jsonl")
        == (local / "out.errors.jsonl").read_bytes()
    )
    assert not checkpoint.exists()


def test_the_version_of_an_s3_input_changes_when_it_is_rewritten_to_the_same_size(
    s3: Any,
) -> None:
    import s3fs  # type: ignore[import-untyped]

    from gtconsensus.adapters.storage import identity

    s3fs.S3FileSystem.clear_instance_cache()  # no cached listing of an earlier object
    uri = f"s3://{BUCKET}/versioned/in.manifest"
    _put(s3, uri, '{"a":1}\n')
    first = identity(uri)[1]
    assert first is not None
    assert first == identity(uri)[1]
    _put(s3, uri, '{"a":2}\n')
    s3fs.S3FileSystem.clear_instance_cache()
    assert identity(uri)[1] not in (None, first)
