"""The command line: a manifest mixing good and bad lines loses nothing."""

from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gtconsensus import cli
from gtconsensus.masks import encode_label_png, instance_colours
from harness import finish_line_interrupted_at

ATTR = "job-17"


def _answer(worker: str, labels: np.ndarray, classes: list[str]) -> dict[str, object]:
    height, width = labels.shape
    content = {
        "annotatedResult": {
            "inputImageProperties": {"height": height, "width": width},
            "instances": [
                {"color": c, "label": k}
                for c, k in zip(instance_colours(len(classes)), classes, strict=True)
            ],
            "labeledImage": {"pngImageData": base64.b64encode(encode_label_png(labels)).decode()},
        }
    }
    return {"workerId": worker, "annotationData": {"content": json.dumps(content)}}


def _good_line(index: int) -> str:
    labels = np.zeros((24, 32), np.uint8)
    labels[2 : 10 + index % 5, 3:12] = 1
    labels[14:20, 20:30] = 2
    sloppy = labels.copy()
    sloppy[2, 3:12] = 0
    answers = [
        _answer("alice", labels, ["Car", "Person"]),
        _answer("bob", sloppy, ["Car", "Person"]),
        _answer("carol", np.where(labels == 2, 1, 0).astype(np.uint8), ["Person"]),
    ]
    line = {
        "source-ref": f"s3://bucket/images/{index:04d}.jpg",
        ATTR: {"annotationsFromAllWorkers": answers},
        f"{ATTR}-metadata": {"type": "groundtruth/custom", "job-name": ATTR},
    }
    return json.dumps(line)


def _bad_answers_line(index: int) -> str:
    broken = {"workerId": "dave", "annotationData": {"content": "{not json"}}
    return json.dumps({"source-ref": f"s3://bucket/images/{index:04d}.jpg",
                       ATTR: {"annotationsFromAllWorkers": [broken]}})  # fmt: skip


@pytest.fixture
def manifest(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """A manifest with good lines and one bad line of each kind; returns line number -> kind."""
    lines = [_good_line(i) for i in range(6)]
    kinds = {}
    rows: list[str] = []
    for i, line in enumerate(lines):
        rows.append(line)
        kinds[len(rows)] = "good"
        if i == 1:
            rows.append("")  # blank: skipped but counted
        if i == 2:
            rows.append('{"source-ref": "s3://bucket/trunc.jpg", "job-17": {"annotat')
            kinds[len(rows)] = "bad_json"
        if i == 3:
            rows.append(_bad_answers_line(100))
            kinds[len(rows)] = "no_valid_answer"
        if i == 4:
            rows.append(json.dumps({"source-ref": "s3://bucket/no-attr.jpg"}))
            kinds[len(rows)] = "missing_label_attribute"
    path = tmp_path / "input.manifest"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path, kinds


def _run(*args: str) -> int:
    return cli.main(list(args))


def test_mixed_manifest_keeps_every_good_line_and_records_every_bad_one(
    manifest: tuple[Path, dict[int, str]], tmp_path: Path
) -> None:
    path, kinds = manifest
    out, errors, workers = tmp_path / "out.manifest", tmp_path / "e.jsonl", tmp_path / "w.csv"
    code = _run("consolidate", str(path), "-o", str(out), "--label-attribute", ATTR,
                "--errors", str(errors), "--workers", str(workers), "--quiet")  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    written = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    good = [n for n, kind in kinds.items() if kind == "good"]
    consolidated = [x for x in written if "annotatedResult" in x.get(ATTR, {})]
    assert [x["source-ref"] for x in consolidated] == [
        f"s3://bucket/images/{i:04d}.jpg" for i in range(len(good))
    ]
    records = [json.loads(x) for x in errors.read_text(encoding="utf-8").splitlines()]
    bad = {n: kind for n, kind in kinds.items() if kind != "good"}
    assert {r["line"]: r["code"] for r in records} == bad
    # every non-blank line is accounted for: output lines + non-JSON failures
    assert len(written) + sum(kind == "bad_json" for kind in bad.values()) == len(kinds)
    failed = [x for x in written if "error" in x.get(ATTR, {}).get("consensus", {})]
    assert {x[ATTR]["consensus"]["error"]["code"] for x in failed} == {
        "no_valid_answer", "missing_label_attribute"
    }  # fmt: skip
    with workers.open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [r["worker_id"] for r in table] == ["alice", "bob", "carol"]
    assert all(int(r["objects"]) == len(good) for r in table)


def test_raw_answers_come_back_untouched(
    manifest: tuple[Path, dict[int, str]], tmp_path: Path
) -> None:
    path, _ = manifest
    out = tmp_path / "out.manifest"
    _run("consolidate", str(path), "-o", str(out), "-q")
    first_in = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    first_out = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    raw_in = first_in[ATTR]["annotationsFromAllWorkers"]
    assert first_out[ATTR]["annotationsFromAllWorkers"] == raw_in
    assert first_out[f"{ATTR}-metadata"] == first_in[f"{ATTR}-metadata"]


def test_all_good_lines_exit_zero_and_default_error_file_is_beside_output(tmp_path: Path) -> None:
    path = tmp_path / "good.manifest"
    path.write_text("\n".join(_good_line(i) for i in range(3)) + "\n", encoding="utf-8")
    out = tmp_path / "deep" / "out.manifest"
    assert _run("consolidate", str(path), "-o", str(out), "-q") == cli.EXIT_OK
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    assert (tmp_path / "deep" / "out.manifest.errors.jsonl").read_text(encoding="utf-8") == ""


def test_same_input_gives_byte_identical_output(
    manifest: tuple[Path, dict[int, str]], tmp_path: Path
) -> None:
    path, _ = manifest
    _run("consolidate", str(path), "-o", str(tmp_path / "a"), "-q")
    _run("consolidate", str(path), "-o", str(tmp_path / "b"), "-q")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_interrupted_run_leaves_no_output_file(
    manifest: tuple[Path, dict[int, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gtconsensus.adapters.manifest as adapter

    interrupted = finish_line_interrupted_at(3)

    monkeypatch.setattr(adapter, "finish_line", interrupted)
    path, _ = manifest
    with pytest.raises(KeyboardInterrupt):
        _run("consolidate", str(path), "-o", str(tmp_path / "out.manifest"), "-q")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.manifest"]


def test_missing_input_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run("consolidate", str(tmp_path / "nope.manifest"), "-o", str(tmp_path / "o"))
    assert code == cli.EXIT_USAGE
    assert "nope.manifest" in capsys.readouterr().err


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run("consolidate", "--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--output", "--label-attribute", "--element", "--workers", "--errors",
                   "--iou-threshold", "--max-pixels", "--quiet", "exit status"):  # fmt: skip
        assert option in text


def test_bad_threshold_is_rejected_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run("consolidate", "in", "-o", "out", "--iou-threshold", "1.5")
    assert exit_info.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_module_runs_from_stdin_to_stdout() -> None:
    line = _good_line(0)
    done = subprocess.run(
        [sys.executable, "-m", "gtconsensus", "consolidate", "-", "-o", "-", "-q"],
        input=line + "\n", capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    value = json.loads(done.stdout)[ATTR]
    assert [i["label"] for i in value["annotatedResult"]["instances"]] == ["Car", "Person"]
    assert value["consensus"]["instances"][1]["support"] == ["alice", "bob", "carol"]


def test_demo_consolidates_the_shipped_example(tmp_path: Path) -> None:
    assert _run("demo", "-o", str(tmp_path), "--quiet") == cli.EXIT_OK
    lines = (tmp_path / "consensus.manifest").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 24
    values = [next(v for k, v in json.loads(x).items() if k == "gt-label") for x in lines]
    assert all("annotatedResult" in v for v in values)
    rejected = [r for v in values for r in v["consensus"]["rejected"]]
    assert [r["code"] for r in rejected] == ["bad_base64"]
    with (tmp_path / "workers.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5


def test_limits_given_on_the_command_line_apply_to_every_line(tmp_path: Path) -> None:
    path = tmp_path / "good.manifest"
    path.write_text("\n".join(_good_line(i) for i in range(2)) + "\n", encoding="utf-8")
    out, errors = tmp_path / "out.manifest", tmp_path / "errors.jsonl"
    code = _run("consolidate", str(path), "-o", str(out), "--errors", str(errors), "-q",
                "--method", "image", "--max-answers", "2")  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    records = [json.loads(x) for x in errors.read_text(encoding="utf-8").splitlines()]
    assert [r["code"] for r in records] == ["too_many_answers", "too_many_answers"]
    code = _run("consolidate", str(path), "-o", str(out), "-q", "--max-instances", "1")
    assert code == cli.EXIT_OK  # alice's and bob's answers (2 instances) are rejected
    value = json.loads(out.read_text(encoding="utf-8").splitlines()[0])[ATTR]
    assert {r["code"] for r in value["consensus"]["rejected"]} == {"too_many_instances"}


def test_a_line_that_is_not_utf8_fails_instead_of_being_repaired(tmp_path: Path) -> None:
    good = _good_line(0).encode()
    broken = good.replace(b"bucket", b"b\xffcket", 1)
    assert broken != good
    path = tmp_path / "mixed.manifest"
    path.write_bytes(good + b"\n" + broken + b"\n")
    out, errors = tmp_path / "out.manifest", tmp_path / "errors.jsonl"
    code = _run("consolidate", str(path), "-o", str(out), "--errors", str(errors), "-q",
                "--method", "image")  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
    (record,) = [json.loads(x) for x in errors.read_text(encoding="utf-8").splitlines()]
    assert (record["line"], record["code"]) == (2, "bad_json")
    assert record["rawLength"] == len(broken)
    assert "UTF-8" in record["message"]


def test_pseudonymized_run_writes_no_original_worker_id_anywhere(
    manifest: tuple[Path, dict[int, str]], tmp_path: Path
) -> None:
    path, _ = manifest
    out, errors = tmp_path / "out.manifest", tmp_path / "errors.jsonl"
    workers, model = tmp_path / "workers.csv", tmp_path / "model.json"
    code = _run("consolidate", str(path), "-o", str(out), "--errors", str(errors), "-q",
                "--workers", str(workers), "--save-worker-model", str(model),
                "--pseudonymize", "team-secret")  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    written = "".join(p.read_text(encoding="utf-8") for p in (out, errors, workers, model))
    for worker in ("alice", "bob", "carol", "dave"):
        assert worker not in written
    with workers.open(encoding="utf-8") as handle:
        names = [r["worker_id"] for r in csv.DictReader(handle)]
    assert len(names) == 3
    assert all(name.startswith("anon-") for name in names)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert set(lines[0][ATTR]["consensus"]["workers"]) == set(names)
    records = [json.loads(x) for x in errors.read_text(encoding="utf-8").splitlines()]
    assert {r["code"] for r in records} >= {"bad_json", "no_valid_answer"}
    assert all(r["rawWithheld"] == (r["code"] == "bad_json") for r in records)


def test_pseudonyms_are_stable_for_one_secret(
    manifest: tuple[Path, dict[int, str]], tmp_path: Path
) -> None:
    path, _ = manifest
    outputs = []
    for name in ("a", "b"):
        target = tmp_path / name
        _run("consolidate", str(path), "-o", str(target), "-q", "--pseudonymize", "s")
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
