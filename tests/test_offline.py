"""Re-consolidating whole jobs offline: every input form, worker processes, nothing lost.

Fixtures come from the crowd simulator (tiny images, so the tests stay fast); each
input form of the same job must give the same consensus as the recipe form.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gtconsensus import cli
from gtconsensus.testing.crowd import STYLES, SimulatedJob, simulate_job
from gtconsensus.testing.synthetic import worker_answer
from support import Terminal

ATTR = "gt-label"
PANEL = [STYLES[n] for n in ("good", "average", "poor", "spammer")]


def simulated(n_images: int, *, seed: int = 3, side: int = 24) -> SimulatedJob:
    return simulate_job(
        seed, PANEL, n_images=n_images, height=side, width=side + 8, workers_per_image=3
    )


def no_lambda_lines(job: SimulatedJob, where: str, write: Any) -> list[str]:
    """The job as a no-Lambda manifest: ``{}`` and a worker-response file per object."""
    lines = []
    for i, image in enumerate(job.images):
        response = {
            "answers": [
                {"workerId": a.worker_id, "answerContent": worker_answer(a.labels, a.classes)}
                for a in image.answers
            ]
        }
        uri = f"{where}/worker-response/{i}.json"
        write(uri, json.dumps(response))
        metadata = {"job-name": "gt-label", "worker-response-ref": uri}
        line = {"source-ref": image.source_ref, ATTR: {}, f"{ATTR}-metadata": metadata}
        lines.append(json.dumps(line))
    return lines


def decisions(path: Path) -> list[tuple[Any, Any]]:
    """Each output line's consensus answer and consensus block."""
    values = [json.loads(line)[ATTR] for line in path.read_text().splitlines()]
    return [(v.get("annotatedResult"), v["consensus"]) for v in values]


def run(*args: str) -> int:
    return cli.main(["consolidate", *args, "-q"])


@pytest.fixture(scope="module")
def job() -> SimulatedJob:
    return simulated(12)


@pytest.fixture(scope="module")
def recipe(job: SimulatedJob, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recipe")
    (folder / "in.manifest").write_text("\n".join(job.manifest_lines()) + "\n")
    assert run(str(folder / "in.manifest"), "-o", str(folder / "out"), "--method", "image") == 0
    return folder / "out"


def test_no_lambda_manifest_follows_each_worker_response_file(
    job: SimulatedJob, recipe: Path, tmp_path: Path
) -> None:
    def write(path: str, text: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)

    lines = no_lambda_lines(job, str(tmp_path), write)
    (tmp_path / "in.manifest").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert run(str(tmp_path / "in.manifest"), "-o", str(out), "--method", "image") == 0
    assert decisions(out) == decisions(recipe)
    first = json.loads(out.read_text().splitlines()[0])
    assert first[f"{ATTR}-metadata"]["worker-response-ref"].endswith("/worker-response/0.json")
    raws = first[ATTR]["annotationsFromAllWorkers"]
    assert isinstance(raws[0]["annotationData"]["content"], str)  # recipe form on the way out


def test_payload_file_is_detected_and_numbered_by_array_index(
    job: SimulatedJob, recipe: Path, tmp_path: Path
) -> None:
    payload = job.lambda_payload()
    payload.insert(2, "not an object")
    (tmp_path / "payload.json").write_text(json.dumps(payload, indent=1))
    out, errors = tmp_path / "out", tmp_path / "errors.jsonl"
    code = run(str(tmp_path / "payload.json"), "-o", str(out), "--errors", str(errors),
               "--label-attribute", ATTR, "--method", "image")  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    good = [line for line in lines if "payloadEntry" not in line]
    assert [line["datasetObjectId"] for line in good] == [str(i) for i in range(len(job.images))]
    assert good[0]["source-ref"] == job.images[0].source_ref
    assert [(v[ATTR].get("annotatedResult"), v[ATTR]["consensus"]) for v in good] == decisions(
        recipe
    )
    [record] = [json.loads(line) for line in errors.read_text().splitlines()]
    assert record["line"] == 2  # the array index


def test_payload_file_without_label_attribute_is_a_usage_error(
    job: SimulatedJob, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "payload.json").write_text(json.dumps(job.lambda_payload()[:2]))
    assert run(str(tmp_path / "payload.json"), "-o", str(tmp_path / "o")) == cli.EXIT_USAGE
    assert "--label-attribute" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_label_attribute_is_inferred_and_an_ambiguous_manifest_names_the_candidates(
    job: SimulatedJob, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = list(job.manifest_lines())[:4]
    other = json.loads(lines[1])
    other["other-job"] = other.pop(ATTR)
    mixed = [lines[0], json.dumps(other), *lines[2:]]
    (tmp_path / "mixed.manifest").write_text("\n".join(mixed) + "\n")
    assert run(str(tmp_path / "mixed.manifest"), "-o", str(tmp_path / "o")) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "gt-label, other-job" in err
    assert "--label-attribute" in err
    # Named explicitly, the line without it fails alone.
    args = ("-o", str(tmp_path / "o"), "--label-attribute", ATTR, "--method", "image")
    assert run(str(tmp_path / "mixed.manifest"), *args) == cli.EXIT_FAILED_LINES


def _with_bad_lines(lines: list[str], every: int) -> tuple[list[str], dict[int, str]]:
    """Lines with a bad one after every ``every`` good ones; the bad ones by line number."""
    out: list[str] = []
    bad: dict[int, str] = {}
    kinds = ["{not json", json.dumps({"source-ref": "s3://b/x.jpg", ATTR: {}}), "[1, 2]"]
    for i, line in enumerate(lines):
        out.append(line)
        if i % every == every - 1:
            out.append("")  # blank lines are counted, not reported
            text = kinds[len(bad) % len(kinds)]
            out.append(text)
            bad[len(out)] = text
    return out, bad


@pytest.mark.parametrize("method", ["image", "job"])
def test_jobs_2_output_is_byte_identical_to_jobs_1(method: str, tmp_path: Path) -> None:
    lines, _ = _with_bad_lines(list(simulated(30, seed=5).manifest_lines()), 7)
    source = tmp_path / "in.manifest"
    source.write_text("\n".join(lines) + "\n")
    runs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        code = run(str(source), "-o", str(out), "--jobs", jobs, "--chunk-lines", "2",
                   "--method", method, "--workers", f"{out}.csv")  # fmt: skip
        assert code == cli.EXIT_FAILED_LINES
        runs.append([out.read_bytes(), Path(f"{out}.errors.jsonl").read_bytes(),
                     Path(f"{out}.csv").read_bytes()])  # fmt: skip
    assert runs[0] == runs[1]
    expected = "job-level" if method == "job" else "per-image-majority"
    assert expected in runs[1][0].decode()


def test_thousands_of_lines_with_a_few_bad_ones_lose_nothing(tmp_path: Path) -> None:
    good = list(simulated(1000, seed=9, side=8).manifest_lines())
    lines, bad = _with_bad_lines(good, 250)
    source = tmp_path / "in.manifest"
    source.write_text("\n".join(lines) + "\n")
    out, errors = tmp_path / "out", tmp_path / "err.jsonl"
    code = run(str(source), "-o", str(out), "--errors", str(errors), "--jobs", "2",
               "--chunk-lines", "64", "--method", "image")  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    records = {r["line"]: r for r in map(json.loads, errors.read_text().splitlines())}
    assert {n: r["raw"] for n, r in records.items()} == bad
    written = out.read_text().splitlines()
    not_json = sum(1 for text in bad.values() if not text.startswith('{"'))
    assert len(written) + not_json == len(good) + len(bad)
    values = [json.loads(w)[ATTR] for w in written]
    assert sum("error" not in v["consensus"] for v in values) == len(good)


def test_workers_command_prints_and_writes_the_table_of_an_output_or_input_manifest(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = recipe.parent / "in.manifest"
    expected = tmp_path / "expected.csv"
    run(str(source), "-o", str(tmp_path / "o"), "--method", "image", "--workers", str(expected))
    for name, path in (("input", source), ("output", recipe)):
        table = tmp_path / f"{name}.csv"
        code = cli.main(["workers", str(path), "-o", str(table), "--method", "image", "-j", "1"])
        assert code == cli.EXIT_OK
        assert table.read_bytes() == expected.read_bytes(), name
        printed = capsys.readouterr().out.splitlines()
        assert printed[0].startswith(f"4 workers, {len(decisions(recipe))} lines")
        header, *rows = printed[1:]
        assert header.split()[:4] == ["worker_id", "score", "reliability", "objects"]
        scores = [float(row.split()[1]) for row in rows]
        assert len(rows) == 4
        assert scores == sorted(scores, reverse=True)
        assert len({len(row) for row in printed[1:]}) == 1  # aligned columns
    json_table = tmp_path / "t.json"
    assert cli.main(["workers", str(recipe), "-o", str(json_table), "-q", "--method", "image"]) == 0
    assert [row["worker_id"] for row in json.loads(json_table.read_text())] == sorted(
        row.split(",")[0] for row in expected.read_text().splitlines()[1:]
    )


def test_progress_reports_every_line_of_each_pass_and_the_bar_stays_off_the_pipes(
    recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gtconsensus.adapters.manifest import ManifestOptions, consolidate_manifest

    source = recipe.parent / "in.manifest"
    seen: dict[str, list[int]] = {}

    def progress(phase: str, lines: int, nbytes: int) -> None:
        seen.setdefault(phase, [0, 0])
        seen[phase][0] += lines
        seen[phase][1] += nbytes

    options = ManifestOptions(method="job")
    consolidate_manifest(str(source), str(tmp_path / "o"), options=options, progress=progress,
                         jobs=2, chunk_lines=2)  # fmt: skip
    n = len(decisions(recipe))
    assert seen == {"pass 1": [n, source.stat().st_size], "pass 2": [n, 0]}
    with cli._progress_bar(str(source), quiet=False) as bar:  # stderr is not a terminal here
        assert bar is None
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal_shows_lines_rate_and_time_left(
    recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    source = recipe.parent / "in.manifest"
    with cli._progress_bar(str(source), quiet=False) as bar:
        assert bar is not None
        bar("consolidating", 3, source.stat().st_size // 2)
    assert "3 lines" in screen.getvalue()
    assert "lines/s" in screen.getvalue()
    assert re.search(r"\d:\d\d:\d\d|-:--:--", screen.getvalue())  # time left
    with cli._progress_bar(str(source), quiet=True) as bar:
        assert bar is None


def test_worker_processes_leave_ctrl_c_to_the_parent() -> None:
    # Ctrl-C reaches every process of the group: a worker that dies of it mid-task while
    # the parent cancels its futures leaves Python's pool hanging on exit. The workers
    # ignore SIGINT; the parent stops the run (and removes its temporary files).
    import signal

    from gtconsensus.adapters.manifest import ManifestOptions, _ordered_map

    seen = _ordered_map(
        signal.getsignal, iter([signal.SIGINT] * 12), jobs=2, setup=(ManifestOptions(), None, None)
    )
    assert {handler for _, handler in seen} == {signal.SIG_IGN}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not in the parent
