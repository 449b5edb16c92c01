"""``consolidate --gold``: gold answers are the output of their images and anchor the model."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gtconsensus import cli
from gtconsensus.consensus import gather
from gtconsensus.evidence import EvidenceTable
from gtconsensus.gold import GOLD_WORKER, decide_gold, with_gold
from gtconsensus.job import fit_worker_model
from gtconsensus.lines import consolidate_line
from gtconsensus.review.outputs import iter_output_objects
from gtconsensus.testing.crowd import STYLES, SimulatedJob, renamed, simulate_job
from gtconsensus.testing.synthetic import manifest_line, worker_answer
from support import same_partition

#: Images (0-based) with a gold answer, and a gold source-ref no input line has.
GOLD_IMAGES = (0, 3, 7, 12, 18)
UNKNOWN_REF = "s3://simulated/images/not-in-the-job.jpg"


@pytest.fixture(scope="module")
def job() -> SimulatedJob:
    styles = (renamed(STYLES["good"], "good"), renamed(STYLES["poor"], "poor"),
              renamed(STYLES["spammer"], "spammer"))  # fmt: skip
    return simulate_job(5, styles, n_images=24, height=48, width=64, instances=(1, 4))


def _expert_line(source_ref: str, labels: np.ndarray, classes: tuple[str, ...]) -> str:
    """An expert's answer consolidated on its own: a gold manifest line."""
    line = manifest_line(source_ref, [("expert", worker_answer(labels, classes))])
    output = consolidate_line(line).output
    assert output is not None
    return output


@pytest.fixture(scope="module")
def files(job: SimulatedJob, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gold")
    source = folder / "in.manifest"
    source.write_text("\n".join(job.manifest_lines()) + "\n", encoding="utf-8")
    gold_lines = [
        _expert_line(job.images[i].source_ref, job.images[i].truth.labels,
                     job.images[i].truth.classes)
        for i in GOLD_IMAGES
    ]  # fmt: skip
    truth = job.images[0].truth
    gold_lines.append(_expert_line(UNKNOWN_REF, truth.labels, truth.classes))
    gold = folder / "gold.manifest"
    gold.write_text("\n".join(gold_lines) + "\n", encoding="utf-8")
    return {"source": source, "gold": gold}


def _run(files: dict[str, Path], out: Path, *extra: str) -> int:
    return cli.main(["consolidate", str(files["source"]), "-o", str(out), "--jobs", "1",
                     "--gold", str(files["gold"]), "--workers", f"{out}.csv", *extra])  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines()]


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def _gold_evidence(job: SimulatedJob) -> list[Any]:
    return [
        gather(with_gold(image.answers, image.truth.labels, image.truth.classes))
        if i in GOLD_IMAGES
        else gather(image.answers)
        for i, image in enumerate(job.images)
    ]


@pytest.mark.parametrize("method", ["job", "image"])
def test_gold_images_output_the_gold_answer_and_score_workers_against_it(
    job: SimulatedJob, files: dict[str, Path], tmp_path: Path, method: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "out"
    assert _run(files, out, "--method", method) == cli.EXIT_OK
    stderr = capsys.readouterr().err
    assert f"gold: {len(GOLD_IMAGES)} lines decided by their gold answer" in stderr
    assert f"warning: 1 gold answers name a source-ref that no input line has (first: " \
        f"{UNKNOWN_REF})" in stderr  # fmt: skip
    other = "job-level" if method == "job" else "per-image-majority"
    objects = list(iter_output_objects(out))
    for index, (obj, image) in enumerate(zip(objects, job.images, strict=True)):
        if index not in GOLD_IMAGES:
            assert obj.summary["method"] == other
            continue
        assert obj.summary["method"] == "gold"
        assert obj.labels is not None
        assert obj.confidence == 1.0
        truth = image.truth
        assert same_partition(obj.labels, truth.labels)
        for k, instance in enumerate(obj.instances, start=1):
            assert instance.label == truth.classes[int(truth.labels[obj.labels == k][0]) - 1]
        # Scored against the gold answer: the figures of decide_gold on the truth.
        expected = decide_gold(gather(with_gold(image.answers, truth.labels, truth.classes)))
        for score in expected.workers:
            written = obj.workers[score.worker_id]
            assert score.versus_others is not None
            assert (written["tp"], written["fp"], written["fn"]) == (
                score.versus_others.tp, score.versus_others.fp, score.versus_others.fn
            )  # fmt: skip
            assert written["score"] == pytest.approx(score.score, abs=1e-4)
    text = out.read_text(encoding="utf-8") + Path(f"{out}.csv").read_text(encoding="utf-8")
    assert GOLD_WORKER not in text
    rows = _rows(Path(f"{out}.csv"))
    assert sorted(r["worker_id"] for r in rows) == ["good", "poor", "spammer"]


def test_the_job_level_model_is_fitted_with_gold_as_the_truth(
    job: SimulatedJob, files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    model_path = tmp_path / "model.json"
    assert _run(files, out, "--method", "job", "-q", "--save-worker-model",
                str(model_path)) == cli.EXIT_OK  # fmt: skip
    table = EvidenceTable.from_evidence(_gold_evidence(job))
    expected = fit_worker_model(table, gold_worker=GOLD_WORKER)
    saved = json.loads(model_path.read_text())
    assert sorted(saved["workers"]) == sorted(expected.workers) == ["good", "poor", "spammer"]
    without = fit_worker_model(EvidenceTable.from_evidence(gather(i.answers) for i in job.images))
    for worker, params in expected.workers.items():
        assert saved["workers"][worker]["sensitivity"] == pytest.approx(params.sensitivity, 1e-6)
    assert any(
        expected.workers[w].sensitivity != pytest.approx(without.workers[w].sensitivity, 1e-6)
        for w in expected.workers
    )
    rows = {r["worker_id"]: r for r in _rows(Path(f"{out}.csv"))}
    for worker, weight in expected.weights().items():
        assert float(rows[worker]["reliability"]) == pytest.approx(weight, abs=1e-4)


def test_gold_runs_are_byte_identical_whatever_the_jobs(
    files: dict[str, Path], tmp_path: Path
) -> None:
    runs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        code = cli.main(["consolidate", str(files["source"]), "-o", str(out), "-q",
                         "--gold", str(files["gold"]), "--method", "job", "--jobs", jobs,
                         "--chunk-lines", "2", "--workers", f"{out}.csv"])  # fmt: skip
        assert code == cli.EXIT_OK
        runs.append([out.read_bytes(), Path(f"{out}.csv").read_bytes()])
    assert runs[0] == runs[1]
    assert runs[0][0].count(b'"method":"gold"') == len(GOLD_IMAGES)


def test_pseudonymized_gold_runs_name_no_worker(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(files, out, "-q", "--method", "job", "--pseudonymize", "s3cret") == cli.EXIT_OK
    text = out.read_text(encoding="utf-8") + Path(f"{out}.csv").read_text(encoding="utf-8")
    for worker in ("good", "poor", "spammer", GOLD_WORKER):
        assert f'"{worker}"' not in text
        assert f"\n{worker}," not in text
    assert text.count('"method":"gold"') == len(GOLD_IMAGES)


def test_a_resumed_gold_run_ends_with_the_same_output_and_counts(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import gtconsensus.adapters.manifest as adapter

    whole = tmp_path / "whole"
    assert _run(files, whole, "--method", "job") == cli.EXIT_OK
    expected_err = capsys.readouterr().err
    calls = {"n": 0}
    real = adapter.finish_line

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 15:  # in the second chunk of 8 lines: lines 1-8 are written
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setenv("GTCONSENSUS_CHECKPOINT_S", "0")
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", interrupted)
        with pytest.raises(KeyboardInterrupt):
            _run(files, out, "--method", "job", "--resume")
    saved = json.loads((tmp_path / "out.partial.json").read_text())
    assert (saved["line"], saved["gold"][0]) == (8, 3)  # gold lines 1, 4 and 8
    capsys.readouterr()
    assert _run(files, out, "--method", "job", "--resume") == cli.EXIT_OK
    err = capsys.readouterr().err
    assert "resumed after input line 8" in err
    assert out.read_bytes() == whole.read_bytes()
    assert Path(f"{out}.csv").read_bytes() == Path(f"{whole}.csv").read_bytes()
    gold_report = [line for line in expected_err.splitlines() if "gold answer" in line]
    assert len(gold_report) == 2
    assert all(line in err for line in gold_report)


def test_a_gold_answer_of_another_size_fails_its_line_with_the_reason(
    job: SimulatedJob, files: dict[str, Path], tmp_path: Path
) -> None:
    gold = tmp_path / "small-gold.manifest"
    image = job.images[2]
    labels = np.ascontiguousarray(image.truth.labels[:40, :60])
    gold.write_text(_expert_line(image.source_ref, labels, image.truth.classes) + "\n")
    out = tmp_path / "out"
    code = cli.main(["consolidate", str(files["source"]), "-o", str(out), "-q", "--jobs", "1",
                     "--gold", str(gold)])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    errors = _lines(Path(f"{out}.errors.jsonl"))
    assert [(e["line"], e["code"]) for e in errors] == [(3, "size_disagreement")]
    assert "gold answer is 60x40" in errors[0]["message"]
    assert len(_lines(out)) == len(job.images)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the gold file"),
        ("", "holds no consolidated line with a source-ref (0 lines)"),
        ("{not json\n", "holds no consolidated line with a source-ref (1 lines; line 1: bad_json)"),
        (b"\xff\xfe\x00junk\n", "a source-ref (1 lines; line 1: bad_json)"),  # not UTF-8
    ],
)
def test_a_bad_gold_file_is_a_usage_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    content: str | bytes | None, message: str,
) -> None:  # fmt: skip
    gold = tmp_path / "gold.manifest"
    if isinstance(content, bytes):
        gold.write_bytes(content)
    elif content is not None:
        gold.write_text(content)
    out = tmp_path / "out"
    code = cli.main(["consolidate", str(files["source"]), "-o", str(out), "--gold", str(gold)])
    assert code == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_gold_uri_is_refused_as_not_local(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for uri in ("s3://bucket/gold.manifest", f"file://{files['gold']}"):
        code = cli.main(["consolidate", str(files["source"]), "-o", str(tmp_path / "o"),
                         "--gold", uri])  # fmt: skip
        assert code == cli.EXIT_USAGE
        assert f"the gold file must be a local file, got {uri}" in capsys.readouterr().err


def test_an_input_manifest_is_not_a_gold_file(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["consolidate", str(files["source"]), "-o", str(tmp_path / "o"),
                     "--gold", str(files["source"])])  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert "holds no consolidated line" in capsys.readouterr().err


def test_the_workers_command_scores_against_gold(files: dict[str, Path], tmp_path: Path) -> None:
    with_gold_table, plain = tmp_path / "gold.csv", tmp_path / "plain.csv"
    base = ["workers", str(files["source"]), "-q", "--jobs", "1", "--method", "job"]
    assert cli.main([*base, "-o", str(with_gold_table), "--gold", str(files["gold"])]) == 0
    assert cli.main([*base, "-o", str(plain)]) == 0
    out = tmp_path / "out"
    assert _run(files, out, "-q", "--method", "job") == cli.EXIT_OK
    assert with_gold_table.read_bytes() == Path(f"{out}.csv").read_bytes()
    assert with_gold_table.read_bytes() != plain.read_bytes()


def test_with_a_saved_model_gold_lines_are_still_decided_by_gold(
    files: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "model.json"
    assert _run(files, tmp_path / "fit", "-q", "--save-worker-model", str(model)) == 0
    out = tmp_path / "out"
    assert _run(files, out, "-q", "--worker-model", str(model)) == cli.EXIT_OK
    methods = [line["gt-label"]["consensus"]["method"] for line in _lines(out)]
    assert [i for i, m in enumerate(methods) if m == "gold"] == list(GOLD_IMAGES)
    assert set(methods) == {"gold", "job-level"}


def test_skipped_gold_lines_are_reported_even_when_quiet(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A gold answer that cannot be used is lost like one naming an unknown image:
    # both are warnings, which --quiet ("only errors") does not silence.
    gold = tmp_path / "gold.manifest"
    gold.write_text(files["gold"].read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    lines = len(GOLD_IMAGES) + 2  # the gold answers, the unknown one, the bad line
    code = cli.main(["consolidate", str(files["source"]), "-o", str(tmp_path / "o2"), "-q",
                     "--jobs", "1", "--gold", str(gold)])  # fmt: skip
    assert code == cli.EXIT_OK
    err = capsys.readouterr().err
    assert f"gtconsensus: warning: 1 lines of {gold} hold no gold answer and are skipped " \
        f"(first: line {lines}, bad_json)" in err  # fmt: skip


@pytest.mark.parametrize(
    ("options", "labels", "tp_fp_fn"),
    [
        ([], ["Bus", "Car"], (1, 0, 1)),  # the workers' Car matches gold's Bus by shape
        (["--min-area", "5"], ["Bus"], (1, 0, 0)),  # gold's 4-pixel Car speck is ignored
        (["--class-aware"], ["Bus", "Car"], (0, 1, 2)),  # a Car never matches a Bus
    ],
)
def test_min_area_and_class_aware_apply_to_the_gold_answer(
    tmp_path: Path, options: list[str], labels: list[str], tp_fp_fn: tuple[int, int, int]
) -> None:
    body = np.zeros((16, 16), np.uint8)
    body[2:10, 2:10] = 1
    gold_labels = body.copy()
    gold_labels[13:15, 13:15] = 2  # a 4-pixel Car
    source = tmp_path / "in.manifest"
    answers = [(w, worker_answer(body, ("Car",))) for w in "abc"]
    source.write_text(manifest_line("s3://bucket/1.jpg", answers) + "\n")
    gold = tmp_path / "gold.manifest"
    gold.write_text(_expert_line("s3://bucket/1.jpg", gold_labels, ("Bus", "Car")) + "\n")
    out = tmp_path / "out"
    code = cli.main(["consolidate", str(source), "-o", str(out), "-q", "--jobs", "1",
                     "--gold", str(gold), *options])  # fmt: skip
    assert code == cli.EXIT_OK
    (value,) = (line["gt-label"] for line in _lines(out))
    assert value["consensus"]["method"] == "gold"
    assert [i["label"] for i in value["annotatedResult"]["instances"]] == labels
    for worker in "abc":
        scored = value["consensus"]["workers"][worker]
        assert (scored["tp"], scored["fp"], scored["fn"]) == tp_fp_fn


def test_an_answer_under_the_gold_id_is_rejected_not_taken_for_gold(
    job: SimulatedJob, files: dict[str, Path], tmp_path: Path
) -> None:
    # A worker id equal to the reserved one would otherwise be fitted as gold on its
    # images and listed in the worker table.
    source = tmp_path / "in.manifest"
    source.write_text(files["source"].read_text().replace('"spammer"', f'"{GOLD_WORKER}"'))
    out = tmp_path / "out"
    code = cli.main(["consolidate", str(source), "-o", str(out), "-q", "--jobs", "1",
                     "--method", "job", "--gold", str(files["gold"]),
                     "--workers", f"{out}.csv"])  # fmt: skip
    assert code == cli.EXIT_OK
    assert sorted(r["worker_id"] for r in _rows(Path(f"{out}.csv"))) == ["good", "poor"]
    for line, image in zip(_lines(out), job.images, strict=True):
        consensus = line["gt-label"]["consensus"]
        assert GOLD_WORKER not in consensus["workers"]
        spammed = any(a.worker_id == "spammer" for a in image.answers)
        rejected = [(r["workerId"], r["code"]) for r in consensus["rejected"]]
        assert rejected == ([(GOLD_WORKER, "duplicate_worker")] if spammed else [])


def test_gold_attribute_picks_the_reviewed_answer_of_a_line_holding_two(
    job: SimulatedJob, files: dict[str, Path], tmp_path: Path
) -> None:
    # A review job whose input was the consolidated output keeps the old attribute on
    # each line: the gold file's lines then hold two consolidated attributes.
    workers = {}
    for text in job.manifest_lines():
        output = consolidate_line(text).output
        assert output is not None
        line = json.loads(output)
        workers[line["source-ref"]] = line
    two = []
    for text in files["gold"].read_text(encoding="utf-8").splitlines():
        gold = json.loads(text)
        (attribute,) = [k for k in gold if k not in ("source-ref",) and
                        not k.endswith("-metadata")]  # fmt: skip
        old = workers.get(gold["source-ref"], gold)
        meta = f"{attribute}-metadata"
        two.append({"source-ref": gold["source-ref"],
                    "first-round": old[attribute], "first-round-metadata": old[meta],
                    "review": gold[attribute], "review-metadata": gold[meta]})  # fmt: skip
    both = tmp_path / "both.manifest"
    both.write_text("".join(json.dumps(line) + "\n" for line in two), encoding="utf-8")
    refused = cli.main(["consolidate", str(files["source"]), "-o", str(tmp_path / "no"), "-q",
                        "--gold", str(both)])  # fmt: skip
    assert refused == cli.EXIT_USAGE
    out, plain = tmp_path / "out", tmp_path / "plain"
    assert cli.main(["consolidate", str(files["source"]), "-o", str(out), "-q", "--jobs", "1",
                     "--gold", str(both), "--gold-attribute", "review"]) == cli.EXIT_OK  # fmt: skip
    assert _run(files, plain, "-q") == cli.EXIT_OK
    assert out.read_bytes() == plain.read_bytes()
