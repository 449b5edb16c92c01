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


def _output_line(folder: Path, name: str, answers: list[tuple[str, object]]) -> Path:
    """A one-line consolidated output manifest of ``answers`` (``(worker, answer)``)."""
    from gtconsensus.lines import consolidate_line
    from gtconsensus.testing.synthetic import manifest_line

    output = consolidate_line(manifest_line(f"s3://bucket/images/{name}.jpg", answers)).output
    assert output is not None
    path = folder / f"{name}.manifest"
    path.write_text(output + "\n", encoding="utf-8")
    return path


def _drawn(*squares: tuple[int, int]) -> object:
    """An answer with one 4x4 square per ``(row, column)``, all of class Car."""
    from gtconsensus.testing.synthetic import worker_answer

    labels = np.zeros((20, 20), np.uint8)
    for k, (r, c) in enumerate(squares, start=1):
        labels[r : r + 4, c : c + 4] = k
    return worker_answer(labels, ("Car",) * len(squares))


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # everyone finds the same two instances
        ([(w, _drawn((1, 1), (10, 10))) for w in "abc"], 0.0),
        # each worker draws an instance nobody else drew: three extras, nothing kept
        ([("a", _drawn((1, 1))), ("b", _drawn((8, 8))), ("c", _drawn((14, 14)))], 1.0),
        # three find it, the fourth misses it: three drawn, one missed
        ([*((w, _drawn((1, 1))) for w in "abc"), ("d", _drawn())], 0.25),
        # two of three find it, and the third draws one of its own: two drawn, one missed,
        # one extra
        ([("a", _drawn((1, 1))), ("b", _drawn((1, 1))), ("c", _drawn((12, 12)))], 0.5),
        # one worker alone: its answer is the consensus
        ([("a", _drawn((1, 1)))], 0.0),
        # every answer empty: nothing to decide
        ([(w, _drawn()) for w in "ab"], 0.0),
    ],
)
def test_disagreement_is_the_share_of_contradicted_instance_decisions(
    tmp_path: Path, answers: list[tuple[str, object]], expected: float
) -> None:
    from gtconsensus.review.adjust import disagreement

    (obj,) = iter_output_objects(_output_line(tmp_path, "one", answers), decode=False)
    assert disagreement(obj) == pytest.approx(expected)
    chosen = adjustment_reasons(obj, disagreeing=0.25) == ("disagreement",)
    assert chosen == (expected >= 0.25)


def test_cli_chooses_lines_by_disagreement(job: Path, tmp_path: Path) -> None:
    from gtconsensus.review.adjust import disagreement

    objects = [o for o in iter_output_objects(job, decode=False) if o.error is None]
    values = sorted(disagreement(o) for o in objects)
    threshold = values[len(values) // 2]
    assert 0.0 < threshold < 1.0  # the job's lines do disagree, some more than others
    out = tmp_path / "adjust.manifest"
    args = ["export", "adjustment", str(job), "-o", str(out), "--disagreement", str(threshold)]
    assert main(args) == 1  # the failed line is left out
    lines = _lines(out)
    expected = {o.line: round(disagreement(o), 4) for o in objects if disagreement(o) >= threshold}
    got = {ln["gtconsensus-adjustment"]["line"]: ln["gtconsensus-adjustment"]  # type: ignore[index]
           for ln in lines}  # fmt: skip
    assert set(got) == set(expected)
    assert 0 < len(got) < len(objects)
    for line, meta in got.items():
        assert meta["disagreement"] == expected[line]
        assert meta["reasons"] == ["disagreement"]


@pytest.mark.parametrize("value", ["0", "1.5", "-0.1"])
def test_a_disagreement_outside_0_1_is_a_usage_error(
    job: Path, tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adjust.manifest"
    with pytest.raises(SystemExit) as info:
        main(["export", "adjustment", str(job), "-o", str(out), "--disagreement", value])
    assert info.value.code == 2
    assert "must be in (0, 1]" in capsys.readouterr().err
    with pytest.raises(OptionsError, match="disagreement"):
        write_adjustment_manifest(job, out, images_out=str(tmp_path), disagreeing=float(value))


def test_lines_with_rejected_answers_or_few_workers_are_chosen(tmp_path: Path) -> None:
    answers = [("a", _drawn((1, 1))), ("b", _drawn((1, 1))), ("c", "not json")]
    manifest = _output_line(tmp_path, "rejected", answers)
    complete = _output_line(tmp_path, "complete", [(w, _drawn((1, 1))) for w in "abc"])
    both = tmp_path / "both.manifest"
    both.write_text(complete.read_text() + manifest.read_text(), encoding="utf-8")
    for options, reasons in ((["--rejected"], ["rejected"]),
                             (["--min-workers", "3"], ["few_workers"]),
                             (["--rejected", "--min-workers", "3", "--disagreement", "1"],
                              ["few_workers", "rejected"])):  # fmt: skip
        out = tmp_path / "adjust.manifest"
        assert main(["export", "adjustment", str(both), "-o", str(out), *options]) == 0
        lines = _lines(out)
        assert [ln["source-ref"] for ln in lines] == ["s3://bucket/images/rejected.jpg"]
        assert lines[0]["gtconsensus-adjustment"]["reasons"] == reasons  # type: ignore[index]


def test_lines_decided_by_a_gold_answer_are_never_chosen(tmp_path: Path) -> None:
    # A gold line was reviewed: its workers' disagreement with gold says how good they
    # are, not that the image is doubtful. Sending it back would pay for it twice.
    from gtconsensus.review.adjust import disagreement
    from gtconsensus.testing.synthetic import manifest_line

    answers = [("a", _drawn((1, 1))), ("b", _drawn((1, 1))), ("c", _drawn((12, 12)))]
    source = tmp_path / "in.manifest"
    source.write_text(manifest_line("s3://bucket/images/one.jpg", answers) + "\n")
    gold = _output_line(tmp_path, "one", answers)  # its consensus, taken as gold
    out = tmp_path / "out.manifest"
    assert main(["consolidate", str(source), "-o", str(out), "-q", "--jobs", "1",
                 "--gold", str(gold)]) == 0  # fmt: skip
    (obj,) = iter_output_objects(out, decode=False)
    assert obj.summary["method"] == "gold"
    assert disagreement(obj) == pytest.approx(0.5)
    assert adjustment_reasons(obj, disagreeing=0.25, min_workers=5, rejected=True) == ()
    adjust = tmp_path / "adjust.manifest"
    assert main(["export", "adjustment", str(out), "-o", str(adjust), "--disagreement", "0.25",
                 "--min-workers", "5", "--images-out", str(tmp_path / "png")]) == 0  # fmt: skip
    assert adjust.read_text(encoding="utf-8") == ""


def test_cli_warns_when_the_manifest_names_the_pngs_by_local_path(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adjust.manifest"
    # Ground Truth's workers read the starting point from S3 only: a local path leaves
    # every task of the adjustment job without its consensus
    assert main(["export", "adjustment", str(job), "-o", str(out), "--below", "1.0"]) == 1
    err = capsys.readouterr().err
    assert "names the consensus PNGs by local path" in err
    assert "--images-url s3://" in err
    url = "s3://gtconsensus-test-jobs/adjust/"
    args = ["export", "adjustment", str(job), "-o", str(out), "--below", "1.0"]
    assert main([*args, "--images-url", url]) == 1
    assert "local path" not in capsys.readouterr().err
