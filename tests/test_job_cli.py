"""The command line with the job-level method: method choice, determinism, nothing lost."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from gtconsensus import cli
from gtconsensus.testing.crowd import STYLES, simulate_job

PANEL = [STYLES[n] for n in ("good", "average", "poor", "spammer")]


def _manifest(path: Path, n_images: int, *, broken: bool = True) -> Path:
    job = simulate_job(8, PANEL, n_images=n_images, height=48, width=64, workers_per_image=3)
    lines = list(job.manifest_lines())
    if broken:
        lines.insert(3, "{not json")
        lines.insert(5, "")
        lines.insert(7, json.dumps({"source-ref": "s3://b/x.jpg", "gt-label": {}}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _methods(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    return {json.loads(line)["gt-label"]["consensus"]["method"] for line in lines}


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 workers, 3 per image: the median worker answers 30 of 40 objects.
    return _manifest(tmp_path_factory.mktemp("job") / "input.manifest", 40)


def test_auto_picks_job_level_with_enough_objects_per_worker(big: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.manifest"
    assert cli.main(["consolidate", str(big), "-o", str(out), "-q"]) == cli.EXIT_FAILED_LINES
    assert _methods(out) == {"job-level"}


def test_auto_picks_per_image_with_few_objects_per_worker(tmp_path: Path) -> None:
    small = _manifest(tmp_path / "small.manifest", 12, broken=False)
    out = tmp_path / "out.manifest"
    assert cli.main(["consolidate", str(small), "-o", str(out), "-q"]) == cli.EXIT_OK
    assert _methods(out) == {"per-image-majority"}
    assert cli.main(["consolidate", str(small), "-o", str(out), "-q", "--method", "job"]) == 0
    assert _methods(out) == {"job-level"}


def test_job_level_output_is_byte_identical_and_loses_no_line(big: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        cli.main(["consolidate", str(big), "-o", str(out), "-q", "--errors", str(out) + ".err"])
        runs.append(out.read_bytes())
    assert runs[0] == runs[1]
    inputs = [line for line in big.read_text().splitlines() if line.strip()]
    outputs = runs[0].decode().splitlines()
    errors = [json.loads(x) for x in Path(str(tmp_path / "a") + ".err").read_text().splitlines()]
    assert len(outputs) + sum(e["code"] == "bad_json" for e in errors) == len(inputs)
    refs = [json.loads(x)["source-ref"] for x in inputs if x.startswith('{"')]
    assert [json.loads(x)["source-ref"] for x in outputs] == refs
    assert [e["line"] for e in errors] == [4, 8]


def test_a_saved_model_gives_the_same_output_without_fitting(big: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.json"
    first, second = tmp_path / "first", tmp_path / "second"
    cli.main(["consolidate", str(big), "-o", str(first), "-q", "--save-worker-model", str(model)])
    document = json.loads(model.read_text())
    assert set(document["workers"]) == {s.worker_id for s in PANEL}
    cli.main(["consolidate", str(big), "-o", str(second), "-q", "--worker-model", str(model)])
    assert first.read_bytes() == second.read_bytes()


def test_workers_saves_the_same_model_as_consolidate(big: Path, tmp_path: Path) -> None:
    # `workers --save-worker-model` fits and writes the model `consolidate` would.
    by_consolidate, by_workers = tmp_path / "c.json", tmp_path / "w.json"
    status = cli.main(["consolidate", str(big), "-o", str(tmp_path / "o"), "-q",
                       "--save-worker-model", str(by_consolidate)])  # fmt: skip
    # The same exit status too (the manifest has a line that fails).
    assert cli.main(["workers", str(big), "-q", "--save-worker-model", str(by_workers)]) == status
    assert set(json.loads(by_workers.read_text())["workers"]) == {s.worker_id for s in PANEL}
    assert by_workers.read_bytes() == by_consolidate.read_bytes()


def test_the_worker_table_carries_learned_reliability(big: Path, tmp_path: Path) -> None:
    table = tmp_path / "workers.csv"
    cli.main(["consolidate", str(big), "-o", str(tmp_path / "o"), "-q", "--workers", str(table)])
    rows = {r["worker_id"]: r for r in csv.DictReader(io.StringIO(table.read_text()))}
    assert float(rows["spammer"]["reliability"]) < float(rows["good"]["reliability"])
    assert float(rows["spammer"]["score"]) < float(rows["good"]["score"])


def test_standard_input_is_read_once_and_works_job_level(
    big: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = tmp_path / "file"
    cli.main(["consolidate", str(big), "-o", str(from_file), "-q"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(big.read_bytes())))
    from_stdin = tmp_path / "stdin"
    cli.main(["consolidate", "-", "-o", str(from_stdin), "-q"])
    assert from_stdin.read_bytes() == from_file.read_bytes()


def test_a_bad_worker_model_file_is_a_usage_error(tmp_path: Path) -> None:
    model = tmp_path / "model.json"
    model.write_text("{}")
    small = _manifest(tmp_path / "in", 2, broken=False)
    code = cli.main(["consolidate", str(small), "-o", str(tmp_path / "o"), "--worker-model",
                     str(model), "-q"])  # fmt: skip
    assert code == cli.EXIT_USAGE
