"""--resume with several inputs: an interrupted merged run continues and ends with the same bytes.

The checkpoint names every input (in order, with its size), the options and the references
that failed while merging; a run with other inputs or options starts over, as with one input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gtconsensus import cli
from gtconsensus.adapters.manifest import ManifestOptions
from gtconsensus.adapters.merge import consolidate_manifests
from gtconsensus.adapters.storage import fetch as read
from gtconsensus.exceptions import FetchError
from gtconsensus.testing.synthetic import worker_answer
from harness import finish_line_interrupted_at, kill_past_line
from test_offline import simulated

ATTR = "gt-label"
RAW = "annotationsFromAllWorkers"


def _split_job(folder: Path, copies: int) -> list[Path]:
    """A simulated job (40 images, ``copies`` times under other source-refs) split in two.

    ``a`` holds two answers of each image and a line that is not JSON; ``b`` (another
    label attribute, lines in reverse order) the third answer of each image, images
    ``a`` does not have, and a line that has no answers (it fails).
    """
    lines = [json.loads(x) for x in simulated(40, seed=21, side=8).manifest_lines()]
    images = [
        {**x, "source-ref": f"{x['source-ref']}?copy={k}"} for k in range(copies) for x in lines
    ]
    first = [{**x, ATTR: {RAW: x[ATTR][RAW][:2]}} for x in images[: len(images) * 3 // 4]]
    second = [{"source-ref": x["source-ref"], "round-2": {RAW: x[ATTR][RAW][2:]},
               "round-2-metadata": {"job-name": "round-2"}} for x in reversed(images)]  # fmt: skip
    a = [json.dumps(x) for x in first]
    a.insert(len(a) // 3, "{not json")
    b = [json.dumps(x) for x in second]
    b.insert(len(b) // 2, json.dumps({"source-ref": "s3://simulated/lost.jpg", "round-2": {}}))
    paths = [folder / "a.manifest", folder / "b.manifest"]
    for path, text in zip(paths, (a, b), strict=True):
        path.write_text("".join(t + "\n" for t in text), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _split_job(tmp_path_factory.mktemp("merge-resume"), copies=2)  # 80 objects


def _files(out: Path) -> list[bytes]:
    """The output, the error file and the worker table of a run writing ``out``."""
    return [out.read_bytes(), Path(f"{out}.errors.jsonl").read_bytes(),
            Path(f"{out}.csv").read_bytes()]  # fmt: skip


def _args(paths: list[Path], out: Path, *extra: str) -> list[str]:
    return ["consolidate", *map(str, paths), "-o", str(out), "--jobs", "1",
            "--workers", f"{out}.csv", *extra]  # fmt: skip


def _uninterrupted(paths: list[Path], folder: Path, *extra: str) -> list[bytes]:
    whole = folder / "whole"
    assert cli.main([*_args(paths, whole, "-q"), *extra]) == cli.EXIT_FAILED_LINES
    return _files(whole)


def _interrupt(args: list[str], at: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``args`` in this process, stopped as Ctrl-C would at the ``at``-th line finished."""
    import gtconsensus.adapters.manifest as adapter

    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", finish_line_interrupted_at(at))
        with pytest.raises(KeyboardInterrupt):
            cli.main(args)


def _resumed_after(stderr: str) -> int | None:
    if "resumed after merged line " not in stderr:
        return None
    return int(stderr.split("resumed after merged line ")[1].split()[0])


@pytest.mark.parametrize("method", ["image", "job"])
def test_an_interrupted_merged_run_resumes_with_the_same_bytes(
    inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
    method: str,
) -> None:  # fmt: skip
    import gtconsensus.adapters.manifest as adapter

    expected = _uninterrupted(inputs, tmp_path, "--method", method)
    out = tmp_path / "out"
    args = _args(inputs, out, "--method", method, "--resume")
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    _interrupt(args, 50, monkeypatch)
    assert not out.exists()
    checkpoint = json.loads((tmp_path / "out.partial.json").read_text())
    assert 40 < checkpoint["line"] < 50
    assert checkpoint["fingerprint"]["inputs"] == [
        [str(p), p.stat().st_size, str(p.stat().st_mtime_ns)] for p in inputs
    ]
    capsys.readouterr()

    def no_pass_1(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pass 1 again: the checkpoint holds the fitted model")

    with monkeypatch.context() as patch:
        patch.setattr(adapter, "prepare_chunk", no_pass_1)
        assert cli.main(args) == cli.EXIT_FAILED_LINES
    assert _resumed_after(capsys.readouterr().err) == checkpoint["line"]
    assert _files(out) == expected
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    # The error file names the input lines, as an uninterrupted run's does.
    errors = [json.loads(x) for x in expected[1].decode().splitlines()]
    assert [(e["code"], Path(e["file"]).name) for e in errors] == [
        ("bad_json", "a.manifest"), ("missing_answers", "b.manifest")
    ]  # fmt: skip


@pytest.mark.parametrize("method", ["image", "job"])
def test_a_killed_merged_run_resumes_with_the_same_bytes(tmp_path: Path, method: str) -> None:
    paths = _split_job(tmp_path, copies=20)  # 800 objects, 1,400 input lines
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gtconsensus", *_args(paths, out, "--method", method,
                                                            "--resume")]  # fmt: skip
    env = {**os.environ, "GTCONSENSUS_CHECKPOINT_S": "0.05"}
    checkpoint = tmp_path / "out.partial.json"
    kill_past_line(command, env, checkpoint, 50)
    assert not out.exists()
    assert (tmp_path / "out.partial").stat().st_size > 0
    fitted = json.loads(checkpoint.read_text())["fitted"]
    assert (fitted is not None) == (method == "job")  # then pass 2 resumes without pass 1
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert resumed.returncode == cli.EXIT_FAILED_LINES, resumed.stderr
    after = _resumed_after(resumed.stderr)
    assert after is not None
    assert 50 < after < 801
    assert _files(out) == _uninterrupted(paths, tmp_path, "--method", method)


def _grown(paths: list[Path], folder: Path) -> list[Path]:
    """The same inputs, ``b`` with one more line (same name: only its size tells)."""
    text = paths[1].read_text() + json.dumps({"source-ref": "s3://x/new.jpg", "round-2": {}})
    paths[1].write_text(text + "\n")
    return paths


CHANGES = {
    "inputs in another order": (lambda p, f: p[::-1], []),
    "one input fewer": (lambda p, f: p[:1], []),
    "one input more": (lambda p, f: [*p, p[1]], []),
    "an input grown": (_grown, []),
    "another option": (lambda p, f: p, ["--iou-threshold", "0.6"]),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_merged_run_with_other_inputs_or_options_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, change: str
) -> None:
    import gtconsensus.adapters.manifest as adapter

    paths = _split_job(tmp_path, copies=1)
    out = tmp_path / "out"
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    _interrupt(_args(paths, out, "--method", "image", "--resume"), 20, monkeypatch)
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 10
    edit, options = CHANGES[change]
    again = edit(paths, tmp_path)
    capsys.readouterr()
    code = cli.main(_args(again, out, "--method", "image", "--resume", *options))
    assert "resumed after" not in capsys.readouterr().err
    assert code == cli.EXIT_FAILED_LINES
    assert _files(out) == _uninterrupted(again, tmp_path, "--method", "image", *options)


@dataclass(frozen=True)
class _FailingFor:
    """A fetch that cannot read one URI (a passing S3 glitch while merging)."""

    uri: str

    def __call__(self, target: str) -> str | bytes:
        if target == self.uri:
            raise FetchError("fetch_failed", f"{target}: 503 Slow Down")
        return read(target)


def test_a_merged_run_whose_merge_failed_on_other_references_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reference that failed while merging makes its line go through alone (one more
    # line): another failure set numbers the merged lines differently, so the run that
    # meets it must not continue from the checkpoint's line numbers.
    import gtconsensus.adapters.manifest as adapter

    job = simulated(6, seed=4, side=8)
    lines = [json.loads(x) for x in job.manifest_lines()]
    refs = []
    for i, image in enumerate(job.images):
        response = {"answers": [
            {"workerId": a.worker_id, "answerContent": worker_answer(a.labels, a.classes)}
            for a in image.answers[1:]]}  # fmt: skip
        (tmp_path / f"r{i}.json").write_text(json.dumps(response))
        refs.append(str(tmp_path / f"r{i}.json"))
    a = [{**x, ATTR: {RAW: x[ATTR][RAW][:1]}} for x in lines]
    b = [{"source-ref": x["source-ref"], "again": {}, "again-metadata": {"worker-response-ref": r}}
         for x, r in zip(lines, refs, strict=True)]  # fmt: skip
    paths = [tmp_path / "a", tmp_path / "b"]
    for path, content in zip(paths, (a, b), strict=True):
        path.write_text("".join(json.dumps(x) + "\n" for x in content))
    names = [str(p) for p in paths]

    def run(fetch: _FailingFor, out: Path, *, resume: bool) -> Any:
        return consolidate_manifests(
            names, str(out), errors_path=f"{out}.errors", resume=resume, chunk_lines=1,
            options=ManifestOptions(method="image", fetch=fetch),
        )  # fmt: skip

    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", finish_line_interrupted_at(5))
        with pytest.raises(KeyboardInterrupt):
            run(_FailingFor(refs[4]), out, resume=True)
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] == 4
    summary = run(_FailingFor(refs[1]), out, resume=True)
    assert summary.resumed_after is None
    run(_FailingFor(refs[1]), tmp_path / "whole", resume=False)
    assert out.read_bytes() == (tmp_path / "whole").read_bytes()
    assert Path(f"{out}.errors").read_bytes() == (tmp_path / "whole.errors").read_bytes()
    # The same failure again: the run continues.
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", finish_line_interrupted_at(5))
        with pytest.raises(KeyboardInterrupt):
            run(_FailingFor(refs[1]), out, resume=True)
    assert run(_FailingFor(refs[1]), out, resume=True).resumed_after == 4
    assert out.read_bytes() == (tmp_path / "whole").read_bytes()
    assert Path(f"{out}.errors").read_bytes() == (tmp_path / "whole.errors").read_bytes()
