"""Several manifests at once: answers for one image merged across files, one worker model.

The central property: a simulated job whose answers are split across 2 or 3 files (each
answer to a file drawn by Hypothesis, each file's lines in a drawn order, each file under
its own label attribute) consolidates to exactly what one manifest holding all the
answers gives: the same consensus, confidences, worker scores and worker table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtconsensus import cli
from gtconsensus.adapters.manifest import ManifestOptions, consolidate_manifest
from gtconsensus.adapters.merge import consolidate_manifests
from gtconsensus.adapters.storage import fetch
from gtconsensus.lines import consolidate_line
from gtconsensus.merging import MERGED_KEY
from gtconsensus.testing.crowd import STYLES, SimulatedJob, simulate_job
from gtconsensus.testing.synthetic import worker_answer
from support import Terminal

ATTR = "gt-label"
RAW = "annotationsFromAllWorkers"
PANEL = [STYLES[n] for n in ("good", "average", "poor", "spammer")]


@pytest.fixture(scope="module")
def job() -> SimulatedJob:
    # 4 workers, 3 per image, 24 images: the median worker answers 18, enough for "job".
    return simulate_job(5, PANEL, n_images=24, height=40, width=48, workers_per_image=3)


def _lines(job: SimulatedJob) -> list[dict[str, Any]]:
    return [json.loads(line) for line in job.manifest_lines()]


def _write(path: Path, lines: Sequence[dict[str, Any] | str]) -> Path:
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    path.write_text("".join(t + "\n" for t in text), encoding="utf-8")
    return path


def _outputs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _split(
    lines: Sequence[dict[str, Any]], where: Sequence[Sequence[int]], orders: Sequence[Sequence[int]]
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """The answers split into files (file k under attribute ``ATTR`` or ``round-k``), and the
    one manifest holding all the answers, in the order the merged output must have."""
    files: list[list[dict[str, Any]]] = [[] for _ in orders]
    for k, order in enumerate(orders):
        attribute = ATTR if k == 0 else f"round-{k}"
        for i in order:
            answers = [a for a, f in zip(lines[i][ATTR][RAW], where[i], strict=True) if f == k]
            if answers:
                line = {"source-ref": lines[i]["source-ref"], attribute: {RAW: answers}}
                files[k].append({**line, f"{attribute}-metadata": {"job-name": f"job-{k}"}})
    seen: dict[str, None] = {}
    for file in files:
        seen.update(dict.fromkeys(line["source-ref"] for line in file))
    by_ref = {line["source-ref"]: i for i, line in enumerate(lines)}
    combined = []
    for ref in seen:
        i = by_ref[ref]
        answers = lines[i][ATTR][RAW]
        ordered = [
            a for k in range(len(orders)) for a, f in zip(answers, where[i], strict=False) if f == k
        ]
        combined.append({"source-ref": ref, ATTR: {RAW: ordered}})
    return files, combined


@st.composite
def splits(draw: st.DrawFn, n_images: int) -> tuple[list[list[int]], list[list[int]], int]:
    """Per image, the file of each of its 3 answers; per file, the order of its lines."""
    n_files = draw(st.integers(2, 3))
    where = [draw(st.lists(st.integers(0, n_files - 1), min_size=3, max_size=3))
             for _ in range(n_images)]  # fmt: skip
    orders = [draw(st.permutations(range(n_images))) for _ in range(n_files)]
    bucket_bytes = draw(st.sampled_from([1 << 30, 20_000]))  # one bucket, or a dozen
    return where, orders, bucket_bytes


@settings(max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_split_manifests_consolidate_like_one_manifest_holding_all_answers(
    job: SimulatedJob, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("split")
    lines = _lines(job)
    where, orders, bucket_bytes = data.draw(splits(len(lines)))
    files, combined = _split(lines, where, orders)
    paths = [_write(folder / f"in-{k}.manifest", f) for k, f in enumerate(files)]
    options = ManifestOptions(method="job")
    merged = consolidate_manifests(
        [str(p) for p in paths], str(folder / "merged"), options=options,
        bucket_bytes=bucket_bytes,
    )  # fmt: skip
    single = consolidate_manifest(
        str(_write(folder / "all.manifest", combined)), str(folder / "single"), options=options
    )
    got, expected = _outputs(folder / "merged"), _outputs(folder / "single")
    assert [o["source-ref"] for o in got] == [o["source-ref"] for o in expected]
    assert [o[ATTR] for o in got] == [o[ATTR] for o in expected]  # consensus, scores, raw
    assert merged.method == single.method == "job-level"
    assert merged.worker_rows() == single.worker_rows()
    assert (merged.lines, merged.consolidated) == (single.lines, single.consolidated)
    # Each answer's provenance names the file and line it came from.
    for out in got:
        record = out[f"{ATTR}-metadata"][MERGED_KEY]
        for answer, entry in zip(record["answers"], out[ATTR][RAW], strict=True):
            source = record["sources"][answer["source"]]
            k = paths.index(Path(source["file"]))
            attribute = ATTR if k == 0 else f"round-{k}"
            assert source["attribute"] == attribute
            assert source["job-name"] == f"job-{k}"
            origin = files[k][source["line"] - 1]
            assert origin["source-ref"] == out["source-ref"]
            assert entry in origin[attribute][RAW]
            assert answer["workerId"] == entry["workerId"]


def test_one_input_is_consolidate_manifest_byte_for_byte(job: SimulatedJob, tmp_path: Path) -> None:
    source = _write(tmp_path / "in.manifest", [*_lines(job)[:6], "{broken"])
    consolidate_manifests([str(source)], str(tmp_path / "a"), errors_path=str(tmp_path / "a.e"))
    consolidate_manifest(str(source), str(tmp_path / "b"), errors_path=str(tmp_path / "b.e"))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    assert (tmp_path / "a.e").read_bytes() == (tmp_path / "b.e").read_bytes()
    assert MERGED_KEY not in (tmp_path / "a").read_text()


def test_the_same_worker_in_two_files_keeps_the_later_answer(
    job: SimulatedJob, tmp_path: Path
) -> None:
    line = _lines(job)[0]
    first = line[ATTR][RAW][0]
    image = job.images[1].answers[0]  # another drawing, given under the same worker id
    content = json.dumps(worker_answer(image.labels, image.classes))
    redo = {"workerId": first["workerId"], "annotationData": {"content": content}}
    again = {"source-ref": line["source-ref"], "fix": {RAW: [redo]}}
    paths = [_write(tmp_path / "a", [line]), _write(tmp_path / "b", [again])]
    later = {"source-ref": line["source-ref"], ATTR: {RAW: [*line[ATTR][RAW][1:], redo]}}
    consolidate_manifests([str(p) for p in paths], str(tmp_path / "out"))
    consolidate_manifest(str(_write(tmp_path / "later", [later])), str(tmp_path / "ref"))
    (out,), (ref,) = _outputs(tmp_path / "out"), _outputs(tmp_path / "ref")
    assert out[ATTR]["annotatedResult"] == ref[ATTR]["annotatedResult"]
    assert out[ATTR]["consensus"]["workers"] == ref[ATTR]["consensus"]["workers"]
    (rejected,) = out[ATTR]["consensus"]["rejected"]
    assert (rejected["workerId"], rejected["code"]) == (first["workerId"], "duplicate_worker")
    assert out[ATTR][RAW] == [*line[ATTR][RAW], redo]  # both answers kept
    answers = out[f"{ATTR}-metadata"][MERGED_KEY]["answers"]
    assert [a["source"] for a in answers] == [0, 0, 0, 1]


def test_lines_that_cannot_merge_go_through_alone_in_their_place(
    job: SimulatedJob, tmp_path: Path
) -> None:
    lines = _lines(job)[:3]
    inline = {"source": "some text", "fix": {RAW: lines[2][ATTR][RAW]}}
    missing = {"source-ref": lines[0]["source-ref"], "fix": {},
               "fix-metadata": {"worker-response-ref": str(tmp_path / "gone.json")}}  # fmt: skip
    second = [
        inline,
        "{not json",
        missing,
        {"source-ref": lines[1]["source-ref"], "fix": {RAW: []}},
    ]
    paths = [_write(tmp_path / "a", lines[:2]), _write(tmp_path / "b", second)]
    errors = tmp_path / "errors.jsonl"
    summary = consolidate_manifests(
        [str(p) for p in paths], str(tmp_path / "out"), errors_path=str(errors)
    )
    out = _outputs(tmp_path / "out")
    # lines[0], lines[1] (merged with b's empty line 4), b's `source` line, b's line 3 alone
    assert [o.get("source-ref", o.get("source")) for o in out] == [
        lines[0]["source-ref"], lines[1]["source-ref"], "some text", lines[0]["source-ref"],
    ]  # fmt: skip
    assert out[2][ATTR]["consensus"]["confidence"] is not None  # consolidated on its own
    assert "fix" not in out[2]  # its answers moved under the output's attribute
    alone = consolidate_line(json.dumps(missing), label_attribute="fix", fetch=fetch)
    assert alone.error is not None  # fails as it fails alone, with its reason
    assert out[3][ATTR]["consensus"]["error"] == alone.error.to_dict()
    sources = out[1][f"{ATTR}-metadata"][MERGED_KEY]["sources"]
    assert [(s["file"], s["line"]) for s in sources] == [(str(paths[0]), 2), (str(paths[1]), 4)]
    records = [json.loads(x) for x in errors.read_text().splitlines()]
    assert [(r["code"], r["file"], r["line"]) for r in records] == [
        ("bad_json", str(paths[1]), 2), (alone.error.code, str(paths[1]), 3),
    ]  # fmt: skip
    assert (summary.lines, summary.failed) == (5, 2)  # 4 objects and the line that is not JSON


def _relabelled_by_response_file(
    job: SimulatedJob, folder: Path
) -> tuple[dict[str, Any], dict[str, Any], list[Path]]:
    """Image 0 in two files: its first answer inline in ``a``; the others in
    ``response.json`` (with submission and acceptance times), which the line of ``b``
    (attribute ``again``, no Lambda) refers to. Returns the whole line, the
    worker-response file's content and the two files."""
    line = _lines(job)[0]
    image = job.images[0]
    response = {"answers": [
        {"workerId": a.worker_id, "answerContent": worker_answer(a.labels, a.classes),
         "submissionTime": f"2026-11-2{i}T10:00:00.000Z", "acceptanceTime": "2026-11-20T09:00:00Z"}
        for i, a in enumerate(image.answers[1:])]}  # fmt: skip
    (folder / "response.json").write_text(json.dumps(response))
    metadata = {"job-name": "again", "creation-date": "2026-11-24T10:00:00",
                "worker-response-ref": str(folder / "response.json")}  # fmt: skip
    relabel = {"source-ref": line["source-ref"], "again": {}, "again-metadata": metadata}
    first = {**line, ATTR: {RAW: line[ATTR][RAW][:1]}}
    return line, response, [_write(folder / "a", [first]), _write(folder / "b", [relabel])]


def test_answers_from_worker_response_files_keep_their_times(
    job: SimulatedJob, tmp_path: Path
) -> None:
    line, response, paths = _relabelled_by_response_file(job, tmp_path)
    uri = str(tmp_path / "response.json")
    consolidate_manifests([str(p) for p in paths], str(tmp_path / "out"))
    consolidate_manifest(str(_write(tmp_path / "one", [line])), str(tmp_path / "ref"))
    (out,), (ref,) = _outputs(tmp_path / "out"), _outputs(tmp_path / "ref")
    assert out[ATTR]["annotatedResult"] == ref[ATTR]["annotatedResult"]
    record = out[f"{ATTR}-metadata"][MERGED_KEY]
    assert record["sources"][1] == {
        "file": str(paths[1]), "line": 1, "attribute": "again", "job-name": "again",
        "creation-date": "2026-11-24T10:00:00", "worker-response-ref": uri,
    }  # fmt: skip
    assert record["answers"][1:] == [
        {"source": 1, "workerId": a["workerId"], "submissionTime": a["submissionTime"],
         "acceptanceTime": a["acceptanceTime"]} for a in response["answers"]
    ]  # fmt: skip


def test_a_reference_that_failed_while_merging_fails_again_not_twice_one_image(
    job: SimulatedJob, tmp_path: Path
) -> None:
    # A fetch that fails once (a passing S3 glitch) while merging: the line goes through
    # alone and must fail with that error, not be fetched again and make its image two
    # output lines with nothing recorded.
    from gtconsensus.adapters.storage import fetch as read
    from gtconsensus.exceptions import FetchError

    line, _, files = _relabelled_by_response_file(job, tmp_path)
    paths = [str(p) for p in files]
    calls = {"n": 0}

    def flaky(target: str) -> bytes:
        calls["n"] += 1
        if calls["n"] == 1:
            raise FetchError("fetch_failed", f"{target}: 503 Slow Down")
        return read(target)

    summary = consolidate_manifests(
        paths, str(tmp_path / "out"), errors_path=str(tmp_path / "errors"),
        options=ManifestOptions(fetch=flaky),
    )  # fmt: skip
    outputs = _outputs(tmp_path / "out")
    assert [o["source-ref"] for o in outputs].count(line["source-ref"]) == 2
    assert (summary.lines, summary.failed) == (2, 1)
    (error,) = _outputs(tmp_path / "errors")
    assert (error["code"], error["file"], error["line"]) == ("fetch_failed", paths[1], 1)
    assert "503 Slow Down" in error["message"]
    assert calls["n"] == 1  # never fetched a second time


def test_worker_processes_and_buckets_do_not_change_the_output(
    job: SimulatedJob, tmp_path: Path
) -> None:
    lines = _lines(job)
    halves = [{**x, ATTR: {RAW: x[ATTR][RAW][:2]}} for x in lines]
    rest = [{**x, ATTR: {RAW: x[ATTR][RAW][2:]}} for x in reversed(lines)]
    paths = [str(_write(tmp_path / "a", halves)), str(_write(tmp_path / "b", [*rest, "{x"]))]
    seen: list[tuple[str, int, int]] = []
    runs = []
    for name, jobs, bucket_bytes in (("one", 1, 1 << 30), ("many", 2, 10_000)):
        consolidate_manifests(
            paths, str(tmp_path / name), errors_path=str(tmp_path / f"{name}.e"), jobs=jobs,
            bucket_bytes=bucket_bytes, progress=lambda *a: seen.append(a),
        )  # fmt: skip
        runs.append(((tmp_path / name).read_bytes(), (tmp_path / f"{name}.e").read_bytes()))
    assert runs[0] == runs[1]
    phases = list(dict.fromkeys(phase for phase, _, _ in seen))
    assert phases == ["reading", "merging", "pass 1", "pass 2"]
    total = sum(Path(p).stat().st_size for p in paths)
    assert sum(n for phase, _, n in seen if phase == "reading") == 2 * total  # two runs


def test_grouping_a_bucket_holds_one_merged_line_not_all_its_referenced_answers(
    tmp_path: Path,
) -> None:
    # 24 lines whose answers (about 400 kB each) are behind `-ref` keys: a bucket's input is
    # small, its merged lines are not. Grouping spools each merged line as it is made.
    import tracemalloc

    from gtconsensus.adapters.merge import _group_bucket, _load, dump_record

    big = 400_000
    bucket = tmp_path / "bucket"
    with open(bucket, "wb") as handle:
        for i in range(24):
            ref = f"s3://b/answers-{i}.json"
            line = json.dumps({"source-ref": f"s3://b/{i}.jpg", ATTR: {f"{RAW}-ref": ref}})
            dump_record(handle, [i, 0, i + 1, f"s3://b/{i}.jpg", ATTR, len(line)], line)

    def answers(uri: str) -> bytes:  # made on demand, as a read from S3 would
        worker = uri.rsplit("-", 1)[1].split(".")[0]
        return json.dumps([{"workerId": f"w{worker}", "pad": "x" * big}]).encode()

    out = tmp_path / "sorted"
    tracemalloc.start()
    try:
        count, _, failed = _group_bucket(str(bucket), str(out), ["a"], ATTR, answers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 24
    assert failed == {}
    texts = [json.loads(text) for _, text in _load(str(out))]
    assert [t["source-ref"] for t in texts] == [f"s3://b/{i}.jpg" for i in range(24)]
    assert [t[ATTR][RAW][0]["workerId"] for t in texts] == [f"w{i}" for i in range(24)]
    assert all(len(t[ATTR][RAW][0]["pad"]) == big for t in texts)
    assert peak < 8 * big  # a few merged lines at most, not the 24 (about 24 * big)
    assert [p.name for p in tmp_path.iterdir()] == ["sorted"]  # bucket and spool removed


def test_an_input_that_cannot_be_read_stops_the_command(tmp_path: Path, capsys: Any) -> None:
    # --resume and --engine dask work with several inputs: tests/test_resume_merge.py,
    # tests/test_dask_merge.py
    a = _write(tmp_path / "a", [])
    out = str(tmp_path / "out")
    assert cli.main(["consolidate", str(a), str(tmp_path / "nope"), "-o", out]) == 2
    assert "is not a readable file" in capsys.readouterr().err


def test_the_command_line_merges_its_inputs(job: SimulatedJob, tmp_path: Path) -> None:
    lines = _lines(job)[:8]
    a = _write(tmp_path / "a", [{**x, ATTR: {RAW: x[ATTR][RAW][:1]}} for x in lines])
    b = _write(tmp_path / "b", [{**x, ATTR: {RAW: x[ATTR][RAW][1:]}} for x in lines])
    both = _write(tmp_path / "both", lines)
    run = ["--method", "image", "-q", "-j", "1"]
    assert cli.main(["consolidate", str(a), str(b), "-o", str(tmp_path / "m"), *run]) == 0
    assert cli.main(["consolidate", str(both), "-o", str(tmp_path / "s"), *run]) == 0
    assert [o[ATTR] for o in _outputs(tmp_path / "m")] == [
        o[ATTR] for o in _outputs(tmp_path / "s")
    ]


def test_the_workers_command_merges_its_inputs_like_consolidate(
    job: SimulatedJob, tmp_path: Path
) -> None:
    lines = _lines(job)
    a = _write(tmp_path / "a", [{**x, ATTR: {RAW: x[ATTR][RAW][:2]}} for x in lines])
    b = _write(tmp_path / "b", [{"source-ref": x["source-ref"], "re": {RAW: x[ATTR][RAW][2:]}}
                                for x in lines])  # fmt: skip
    run = ["-q", "-j", "1", "--method", "job"]
    merged, whole = tmp_path / "merged.csv", tmp_path / "whole.csv"
    assert cli.main(["workers", str(a), str(b), "-o", str(merged), *run]) == 0
    one = _write(tmp_path / "one", lines)
    assert cli.main(["consolidate", str(one), "-o", str(tmp_path / "o"), "--workers", str(whole),
                     *run]) == 0  # fmt: skip
    assert merged.read_text() == whole.read_text()
    assert cli.main(["workers", str(a), str(tmp_path / "nope"), *run]) == cli.EXIT_USAGE


def test_standard_input_and_an_empty_file_are_inputs_like_the_others(
    job: SimulatedJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import io
    import sys

    lines = _lines(job)[:6]
    a = _write(tmp_path / "a", [{**x, ATTR: {RAW: x[ATTR][RAW][:2]}} for x in lines])
    rest = [{"source-ref": x["source-ref"], "re": {RAW: x[ATTR][RAW][2:]}} for x in lines]
    b = _write(tmp_path / "b", [*rest[:3], "{broken", *rest[3:]])
    empty = _write(tmp_path / "empty", [])
    run = ["--method", "image", "-q", "-j", "1"]
    for name, inputs in (("files", [str(a), str(b)]), ("stdin", [str(a), str(empty), "-"])):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b.read_bytes())))
        code = cli.main(["consolidate", *inputs, "-o", str(tmp_path / name), *run])
        assert code == cli.EXIT_FAILED_LINES  # the broken line
    files, stdin = _outputs(tmp_path / "files"), _outputs(tmp_path / "stdin")
    assert [o[ATTR] for o in stdin] == [o[ATTR] for o in files]
    sources = stdin[0][f"{ATTR}-metadata"][MERGED_KEY]["sources"]
    assert [(s["file"], s["line"]) for s in sources] == [(str(a), 1), ("-", 1)]
    (error,) = [json.loads(x) for x in (tmp_path / "stdin.errors.jsonl").read_text().splitlines()]
    assert (error["code"], error["file"], error["line"]) == ("bad_json", "-", 4)
    capsys.readouterr()
    assert cli.main(["consolidate", str(a), "-", "-", "-o", str(tmp_path / "x"), *run]) == 2
    assert "standard input (-) once" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_pseudonymised_merged_output_names_no_worker(job: SimulatedJob, tmp_path: Path) -> None:
    lines = _lines(job)[:4]
    a = _write(tmp_path / "a", [{**x, ATTR: {RAW: x[ATTR][RAW][:2]}} for x in lines])
    b = _write(tmp_path / "b", [{"source-ref": x["source-ref"], "re": {RAW: x[ATTR][RAW][2:]}}
                                for x in lines])  # fmt: skip
    out = tmp_path / "out"
    run = ["-o", str(out), "--workers", str(tmp_path / "w.csv"), "-q", "-j", "1"]
    assert cli.main(["consolidate", str(a), str(b), *run, "--pseudonymize", "s3cret"]) == 0
    text = out.read_text() + (tmp_path / "w.csv").read_text()
    assert MERGED_KEY in text
    assert [w.worker_id for w in PANEL if re.search(rf"\b{w.worker_id}\b", text)] == []


def test_progress_bar_counts_pass_2_in_merged_objects_not_input_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.progress import Progress

    totals: dict[str, float | None] = {}
    add_task = Progress.add_task

    def recorded(self: Progress, description: str, **fields: Any) -> Any:
        totals[description] = fields.get("total")
        return add_task(self, description, **fields)

    monkeypatch.setattr(Progress, "add_task", recorded)
    monkeypatch.setattr("sys.stderr", Terminal())
    paths = [_write(tmp_path / "a", ["{}"] * 3), _write(tmp_path / "b", ["{}"] * 5)]
    with cli._progress_bar([str(p) for p in paths], quiet=False) as bar:
        assert bar is not None
        bar("reading", 8, 24)  # 8 input lines
        bar("merging", 4, 24)  # 4 objects
        bar("pass 1", 4, 24)
        bar("pass 2", 4, 0)
    assert totals == {"reading": 24, "merging": 24, "pass 1": 24, "pass 2": 4}


def test_gold_answers_decide_merged_images_as_they_do_one_manifest(
    job: SimulatedJob, tmp_path: Path
) -> None:
    # --gold and several inputs together: the gold answer is matched on the merged
    # object's source-ref, and the worker model anchored on it spans every file.
    from gtconsensus.review.gold_answers import load_gold
    from gtconsensus.testing.synthetic import manifest_line

    lines = _lines(job)
    where = [[0, 1, 1] for _ in lines]
    files, combined = _split(lines, where, [range(len(lines)), range(len(lines))])
    paths = [_write(tmp_path / f"in-{k}.manifest", f) for k, f in enumerate(files)]
    gold_lines = []
    for image in job.images[:4]:
        answer = worker_answer(image.truth.labels, image.truth.classes)
        output = consolidate_line(manifest_line(image.source_ref, [("expert", answer)])).output
        assert output is not None
        gold_lines.append(output)
    gold = load_gold(str(_write(tmp_path / "gold.manifest", gold_lines)))
    options = ManifestOptions(method="job", gold=gold.answers)
    merged = consolidate_manifests([str(p) for p in paths], str(tmp_path / "m"), options=options)
    single = consolidate_manifest(
        str(_write(tmp_path / "all.manifest", combined)), str(tmp_path / "s"), options=options
    )
    got, expected = _outputs(tmp_path / "m"), _outputs(tmp_path / "s")
    assert [o[ATTR] for o in got] == [o[ATTR] for o in expected]
    methods = [o[ATTR]["consensus"]["method"] for o in got]
    assert methods[:4] == ["gold"] * 4
    assert "gold" not in methods[4:]
    assert merged.worker_rows() == single.worker_rows()
    assert merged.gold_lines == single.gold_lines == 4
