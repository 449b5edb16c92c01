"""export adjustment: doubtful lines go back to workers with the consensus drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gtconsensus.adapters.pre_annotation import task_input
from gtconsensus.cli import main
from gtconsensus.exceptions import OptionsError, SchemaError
from gtconsensus.masks import decode_label_png
from gtconsensus.review.adjust import (
    INITIAL_VALUE_KEY,
    adjustment_reasons,
    write_adjustment_manifest,
)
from gtconsensus.review.outputs import iter_output_objects
from review_data import FAILED_LINE, write_job
from test_lambda_deploy import _render


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_job(tmp_path_factory.mktemp("adjust"))


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines()]


def test_pre_annotation_task_input_of_an_adjustment_line_decodes_back_to_the_consensus(
    job: Path, tmp_path: Path
) -> None:
    out = tmp_path / "adjust.manifest"
    write_adjustment_manifest(job, out, images_out=str(tmp_path / "png"), below=1.0)
    consensus = {o.line: o for o in iter_output_objects(job) if o.error is None}
    lines = _lines(out)
    assert len(lines) == len(consensus)
    for line in lines:
        event = {"version": "2018-10-16", "dataObject": line}
        task = task_input(event, environ={})["taskInput"]
        initial = task["initialValue"]
        obj = consensus[line["gtconsensus-adjustment"]["line"]]  # type: ignore[index]
        assert task["taskObject"] == obj.source_ref
        colours = [i["color"] for i in initial["instances"]]
        decoded = decode_label_png(Path(initial["src"]).read_bytes(), colours)
        assert obj.labels is not None
        np.testing.assert_array_equal(decoded.labels, obj.labels)
        assert [i["label"] for i in initial["instances"]] == [i.label for i in obj.instances]


def test_worker_template_carries_the_initial_value(job: Path, tmp_path: Path) -> None:
    out = tmp_path / "adjust.manifest"
    write_adjustment_manifest(
        job, out, images_out=str(tmp_path), images_url="s3://bucket/adjust", below=1.0
    )
    line = _lines(out)[0]
    task = task_input({"dataObject": line}, environ={})["taskInput"]
    element = _render(task)["crowd-instance-segmentation"]
    initial = json.loads(element["initial-value"])
    assert initial["src"] == f"https://presigned.example/s3://bucket/adjust/{1:06d}.png"
    assert initial["instances"] == line[INITIAL_VALUE_KEY]["instances"]  # type: ignore[index]
    assert element["src"] == f"https://presigned.example/{line['source-ref']}"


def test_pre_annotation_refuses_a_malformed_initial_value() -> None:
    event = {"dataObject": {"source-ref": "s3://b/1.jpg", INITIAL_VALUE_KEY: {"instances": []}}}
    with pytest.raises(SchemaError, match="src"):
        task_input(event, environ={})


def test_lines_are_chosen_by_confidence_workers_or_rejected_answers(job: Path) -> None:
    objects = [o for o in iter_output_objects(job, decode=False) if o.error is None]
    lowest = min(o.confidence or 0.0 for o in objects)
    assert all(not adjustment_reasons(o, below=lowest) for o in objects)
    assert all(adjustment_reasons(o, min_workers=4) == ("few_workers",) for o in objects)
    assert all(not adjustment_reasons(o, min_workers=3) for o in objects)
    assert all(not adjustment_reasons(o, rejected=True) for o in objects)
    with pytest.raises(OptionsError, match="at least one"):
        adjustment_reasons(objects[0])


def test_cli_writes_the_manifest_and_lists_failed_lines(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adjust.manifest"
    status = main(["export", "adjustment", str(job), "-o", str(out), "--min-workers", "4"])
    assert status == 1
    assert f"line {FAILED_LINE} (no_valid_answer)" in capsys.readouterr().err
    lines = _lines(out)
    assert lines
    assert all(Path(str(ln[INITIAL_VALUE_KEY]["src"])).is_file() for ln in lines)  # type: ignore[index]
    assert main(["export", "adjustment", str(job), "-o", str(out)]) == 2


def test_consensus_pngs_go_to_s3(job: Path, tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        out = tmp_path / "adjust.manifest"
        summary = write_adjustment_manifest(job, out, images_out="s3://bucket/adjust/", below=1.0)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bucket")["Contents"]]
        assert len(keys) == summary.chosen
        first = _lines(out)[0][INITIAL_VALUE_KEY]["src"]  # type: ignore[index]
        assert first == "s3://bucket/adjust/000001.png"
        assert s3.get_object(Bucket="bucket", Key="adjust/000001.png")["Body"].read()[:4] == (
            b"\x89PNG"
        )
