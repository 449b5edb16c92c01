"""Several manifests on S3 (moto's server on loopback): merged like local files.

One input in recipe form, the other a job without a post-annotation Lambda (its answers in
worker-response files on S3); output, error file and worker table written to S3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import s3fs  # type: ignore[import-untyped]

from gtconsensus import cli
from gtconsensus.merging import MERGED_KEY
from gtconsensus.testing.crowd import SimulatedJob
from test_offline import ATTR, no_lambda_lines, simulated
from test_offline_s3 import BUCKET, _get, _put, s3

__all__ = ["s3"]  # the moto fixture, used by name

RAW = "annotationsFromAllWorkers"


@pytest.fixture
def s3_here(s3: Any) -> Iterator[Any]:
    """The moto fixture, with no s3fs instance of another module's server before or after.

    (``fsspec.AbstractFileSystem.clear_instance_cache`` clears the base class's cache, not
    ``S3FileSystem``'s.)
    """
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3
    s3fs.S3FileSystem.clear_instance_cache()


def test_inputs_outputs_and_referenced_files_on_s3_merge_like_local_files(
    s3_here: Any, tmp_path: Path
) -> None:
    s3 = s3_here
    job = simulated(8, seed=21)
    base = f"s3://{BUCKET}/merge"
    # File a: the recipe form with each image's first answer; file b: the other answers,
    # in worker-response files (the no-Lambda form), under another attribute.
    first = []
    for line in job.manifest_lines():
        parsed = json.loads(line)
        parsed[ATTR][RAW] = parsed[ATTR][RAW][:1]
        first.append(json.dumps(parsed))
    rest = SimulatedJob(tuple(replace(i, answers=i.answers[1:]) for i in job.images))
    second = [
        line.replace(f'"{ATTR}', '"relabel') for line in no_lambda_lines(rest, base, _put_to(s3))
    ]
    _put(s3, f"{base}/a.manifest", "\n".join(first) + "\n")
    _put(s3, f"{base}/b.manifest", "\n".join([*second, "{not json"]) + "\n")
    (tmp_path / "all.manifest").write_text("\n".join(job.manifest_lines()) + "\n")
    run = ["--method", "image", "-q", "-j", "2", "--chunk-lines", "2"]
    code = cli.main(["consolidate", f"{base}/a.manifest", f"{base}/b.manifest",
                     "-o", f"{base}/out/consensus.manifest",
                     "--workers", f"{base}/out/workers.csv", *run])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES  # the line that is not JSON
    local = ["-o", str(tmp_path / "out"), "--workers", str(tmp_path / "workers.csv"), *run]
    assert cli.main(["consolidate", str(tmp_path / "all.manifest"), *local]) == cli.EXIT_OK
    merged = [json.loads(x) for x in _get(s3, f"{base}/out/consensus.manifest").splitlines()]
    single = [json.loads(x) for x in (tmp_path / "out").read_text().splitlines()]
    assert [m[ATTR] for m in merged] == [s[ATTR] for s in single]
    assert _get(s3, f"{base}/out/workers.csv") == (tmp_path / "workers.csv").read_bytes()
    sources = merged[0][f"{ATTR}-metadata"][MERGED_KEY]["sources"]
    assert [(s["file"], s["line"], s["attribute"]) for s in sources] == [
        (f"{base}/a.manifest", 1, ATTR), (f"{base}/b.manifest", 1, "relabel"),
    ]  # fmt: skip
    assert sources[1]["worker-response-ref"] == f"{base}/worker-response/0.json"
    (error,) = [json.loads(x) for x in _get(s3, f"{base}/out/consensus.manifest.errors.jsonl")
                .splitlines()]  # fmt: skip
    assert (error["code"], error["file"], error["line"]) == ("bad_json", f"{base}/b.manifest", 9)


def _put_to(s3: Any) -> Any:
    return lambda uri, text: _put(s3, uri, text)
