"""Several inputs on a Dask cluster, everything on S3: inputs, staged parts, outputs.

A moto server on loopback stands for S3 and a ``LocalCluster`` of two worker processes
for the cluster; the workers reach the server as workers on other machines reach S3, with
the endpoint and credentials in their environment. The client reads two manifests from
``s3://``, merges them and stages the merged lines under ``--staging s3://.../staging/``;
the workers read the parts; the output, the error file and the worker table written to
``s3://`` are the local engine's, byte for byte. The staging prefix is empty afterwards,
also after a run that fails on a worker or while writing its output. An output in a
bucket that does not exist is refused before the cluster is given any work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import s3fs  # type: ignore[import-untyped]
from distributed import LocalCluster

from clusters import local_cluster
from gtconsensus import cli
from gtconsensus.adapters import dask_engine
from gtconsensus.adapters.dask_engine import consolidate_with_dask
from gtconsensus.adapters.manifest import ManifestOptions, write_worker_table
from gtconsensus.adapters.merge import consolidate_manifests
from test_offline_dask import _engine
from test_offline_s3 import BUCKET, _get, _keys, _put, s3
from test_resume_merge import _split_job

__all__ = ["s3"]  # the moto fixture, used by name

BASE = f"s3://{BUCKET}/dask"
STAGING = f"s3://{BUCKET}/staging/"
AWS_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                   "AWS_DEFAULT_REGION")  # fmt: skip


@pytest.fixture(scope="module")
def moto(s3: Any) -> Iterator[Any]:
    """The moto fixture, with no s3fs instance made for another module's server before or
    after (``fsspec.AbstractFileSystem.clear_instance_cache`` leaves ``S3FileSystem``'s)."""
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def cluster(moto: Any) -> Iterator[LocalCluster]:
    """Two worker processes given the endpoint and credentials in their environment, as a
    real cluster's workers are given theirs (an instance role, a profile): the client sends
    the parts' URLs only."""
    environment = {name: os.environ[name] for name in AWS_ENVIRONMENT}
    with local_cluster(env=environment) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def inputs(moto: Any, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``a`` and ``b`` of ``_split_job`` (a line that is not JSON, a line with no answers,
    images only ``b`` has) on S3."""
    uris = []
    for path in _split_job(tmp_path_factory.mktemp("dask-s3"), copies=1):
        uris.append(f"{BASE}/in/{path.name}")
        _put(moto, uris[-1], path.read_text())
    return uris


def _staged(s3: Any) -> list[str]:
    return _keys(s3, "staging/")


def _cli_files(s3: Any, out: str) -> list[bytes]:
    return [_get(s3, out), _get(s3, f"{out}.errors.jsonl"), _get(s3, f"{out}.csv")]


@pytest.mark.parametrize("method", ["job", "image"])
def test_the_cli_stages_on_s3_and_writes_the_local_engines_files_to_s3(
    moto: Any, cluster: LocalCluster, inputs: list[str], method: str
) -> None:
    runs = []
    for engine in ("local", "dask"):
        out = f"{BASE}/out-{method}/{engine}.manifest"
        code = cli.main(["consolidate", *inputs, "-o", out, "--workers", f"{out}.csv", "-q",
                         "--jobs", "1", "--method", method, *_engine(engine, cluster),
                         *(["--staging", STAGING] if engine == "dask" else [])])  # fmt: skip
        assert code == cli.EXIT_FAILED_LINES
        runs.append(_cli_files(moto, out))
    assert runs[0] == runs[1]
    assert b'"sources"' in runs[0][0]
    assert _staged(moto) == []  # the parts are removed
    assert s3fs.S3FileSystem().find(STAGING) == []  # and the client's s3fs knows it


def _python_run(
    paths: list[str], out: str, *, method: str, engine: str, scheduler: str | None = None
) -> list[bytes]:
    """The output, error file and worker table of a merged run on ``engine``, written to S3
    and read back."""
    options = ManifestOptions(method=method)
    if engine == "local":
        summary = consolidate_manifests(paths, out, errors_path=f"{out}.errors", options=options)
    else:
        summary = consolidate_with_dask(paths, out, scheduler=scheduler,
                                        errors_path=f"{out}.errors", options=options,
                                        blocksize=4096, staging=STAGING)  # fmt: skip
    write_worker_table(summary.worker_rows(), f"{out}.csv")
    fs = s3fs.S3FileSystem()
    return [fs.cat_file(out), fs.cat_file(f"{out}.errors"), fs.cat_file(f"{out}.csv")]


@pytest.mark.parametrize("method", ["job", "image"])
def test_several_staged_parts_on_s3_give_the_local_engines_files(
    moto: Any, cluster: LocalCluster, inputs: list[str], method: str
) -> None:
    parts: list[list[str]] = []
    real_stage = dask_engine._stage

    def spy(records: Any, folder: str, part_bytes: int) -> list[str]:
        parts.append(real_stage(records, folder, part_bytes))
        assert _keys(moto, "staging/") == sorted(p.removeprefix(f"s3://{BUCKET}/")
                                                 for p in parts[-1])  # fmt: skip
        return parts[-1]

    expected = _python_run(inputs, f"{BASE}/api-{method}/local", method=method, engine="local")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "_stage", spy)
        got = _python_run(inputs, f"{BASE}/api-{method}/dask", method=method, engine="dask",
                          scheduler=cluster.scheduler_address)  # fmt: skip
    assert got == expected
    (staged,) = parts
    assert len(staged) >= 4  # a partition per part, read by the workers
    assert all(p.startswith(f"{STAGING}gtconsensus-merged-") for p in staged)
    assert _staged(moto) == []


def _after_pass_one(action: Callable[[], None]) -> Any:
    """``dask_engine._plan`` that runs ``action`` once pass 1 and the fit are done (and the
    run goes on)."""
    real_plan = dask_engine._plan

    def plan(*args: Any, **kwargs: Any) -> Any:
        planned = real_plan(*args, **kwargs)
        action()
        return planned

    return plan


def test_a_part_lost_before_pass_2_fails_the_run_and_the_staging_prefix_is_emptied(
    moto: Any, cluster: LocalCluster, inputs: list[str]
) -> None:
    def lose_a_part() -> None:  # a worker fails to read it in pass 2
        (last, *_) = sorted(_staged(moto), reverse=True)
        moto.delete_object(Bucket=BUCKET, Key=last)

    out = f"{BASE}/lost/consensus.manifest"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "_plan", _after_pass_one(lose_a_part))
        with pytest.raises(FileNotFoundError):
            consolidate_with_dask(inputs, out, scheduler=cluster.scheduler_address,
                                  options=ManifestOptions(method="job"), blocksize=4096,
                                  staging=STAGING)  # fmt: skip
    assert _staged(moto) == []
    assert _keys(moto, "dask/lost/") == []  # no output, no temporary key


def test_an_output_that_cannot_be_written_fails_the_run_and_the_staging_prefix_is_emptied(
    moto: Any, cluster: LocalCluster, inputs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The output's bucket is there when the command starts (the check before the run
    # lets it through) and gone when the output is written, at the end.
    staged: list[list[str]] = []
    moto.create_bucket(Bucket="gone-by-the-end")
    out = "s3://gone-by-the-end/consensus.manifest"

    def after_pass_one() -> None:
        staged.append(_staged(moto))
        moto.delete_bucket(Bucket="gone-by-the-end")  # empty: nothing is written before

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "_plan", _after_pass_one(after_pass_one))
        code = cli.main(["consolidate", *inputs, "-o", out, "-q", "--method", "job",
                         "--engine", "dask", "--scheduler", cluster.scheduler_address,
                         "--staging", STAGING])  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert "bucket does not exist" in capsys.readouterr().err
    assert staged[0]  # the parts were there for both passes
    assert _staged(moto) == []


def test_an_output_in_a_bucket_that_does_not_exist_is_refused_before_the_cluster_works(
    moto: Any, cluster: LocalCluster, inputs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    def unrun(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the run started")

    errors = "s3://no-such-bucket/consensus.manifest.errors.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "consolidate_with_dask", unrun)
        code = cli.main(["consolidate", *inputs, "-o", f"{BASE}/refused/out", "-q",
                         "--errors", errors, "--engine", "dask", "--staging", STAGING,
                         "--scheduler", cluster.scheduler_address])  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert f"error file {errors!r} cannot be written: there is no bucket 'no-such-bucket'" in (
        capsys.readouterr().err
    )
    assert _keys(moto, "dask/refused/") == []
    assert _staged(moto) == []


def test_a_staging_bucket_that_does_not_exist_is_not_created(
    moto: Any, cluster: LocalCluster, inputs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    def unread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the inputs are read before the staging folder is checked")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "merged_inputs", unread)
        code = cli.main(["consolidate", *inputs, "-o", f"{BASE}/nowhere/out", "-q",
                         "--engine", "dask", "--scheduler", cluster.scheduler_address,
                         "--staging", "s3://no-such-staging-bucket/tmp/"])  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert "no bucket no-such-staging-bucket" in capsys.readouterr().err
    buckets = [b["Name"] for b in moto.list_buckets()["Buckets"]]
    assert "no-such-staging-bucket" not in buckets
    assert _keys(moto, "dask/nowhere/") == []
