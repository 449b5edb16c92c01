"""--resume on the Dask engine: an interrupted run continues and ends with the same bytes.

The Dask engine keeps the local engine's checkpoint (same fingerprint, same files), so a
run killed half-way resumes on either engine; the end result equals an uninterrupted
run's, byte for byte. One cluster of worker processes serves the module.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.bag as db
import pytest
from distributed import LocalCluster

from gtconsensus import cli
from gtconsensus.adapters import dask_engine
from harness import finish_line_interrupted_at, kill_past_line
from test_offline import simulated
from test_offline_dask import cluster
from test_resume_merge import _args, _files, _split_job

__all__ = ["cluster"]  # the LocalCluster fixture, used by name

#: The CLI with the Dask engine reading partitions of ``argv[1]`` bytes (the CLI reads
#: 64 MiB ones: a test input would be one partition).
_SMALL_PARTS = (
    "import functools, sys\n"
    "from gtconsensus import cli\n"
    "from gtconsensus.adapters import dask_engine\n"
    "dask_engine.consolidate_with_dask = functools.partial(\n"
    "    dask_engine.consolidate_with_dask, blocksize=int(sys.argv[1]))\n"
    "sys.exit(cli.main(sys.argv[2:]))\n"
)
_PART_BYTES = 16_000  # about 10 lines of the input below


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dask-resume") / "in.manifest"
    lines = list(simulated(40, seed=21, side=8).manifest_lines()) * 10  # 400 lines
    lines.insert(200, "{not json")
    lines.insert(100, "")  # blank lines are counted
    path.write_text("\n".join(lines) + "\n")
    return path


def _dask(cluster: LocalCluster) -> list[str]:
    return ["--engine", "dask", "--scheduler", cluster.scheduler_address]


def _uninterrupted(inputs: list[Path], folder: Path, *extra: str) -> list[bytes]:
    """The files of an uninterrupted run on the local engine (the Dask engine's are the same:
    ``tests/test_offline_dask.py``)."""
    whole = folder / "whole"
    assert cli.main(_args(inputs, whole, "-q", *extra)) == cli.EXIT_FAILED_LINES
    return _files(whole)


def _resumed_after(stderr: str) -> int | None:
    text = stderr.replace("merged line", "input line")
    if "resumed after input line " not in text:
        return None
    return int(text.split("resumed after input line ")[1].split()[0])


def _no_pass_1(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("pass 1 again: the checkpoint holds the fitted model")


def _stopped_after(parts: int) -> Callable[..., Iterator[Any]]:
    """``dask_engine._in_order`` raising ``KeyboardInterrupt`` (as Ctrl-C on the client would)
    once ``parts`` partitions were written."""
    real = dask_engine._in_order

    def in_order(outcomes: Any, window: int) -> Iterator[Any]:
        for done, part in enumerate(real(outcomes, window)):
            if done == parts:
                raise KeyboardInterrupt
            yield part

    return in_order


def _interrupt_dask(args: list[str], parts: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``args`` (the Dask engine, partitions of about 10 lines) in this process, stopped
    once ``parts`` partitions were written."""
    with monkeypatch.context() as patch:
        patch.setattr(dask_engine, "_in_order", _stopped_after(parts))
        patch.setattr(dask_engine, "consolidate_with_dask", functools.partial(
            dask_engine.consolidate_with_dask, blocksize=_PART_BYTES))  # fmt: skip
        with pytest.raises(KeyboardInterrupt):
            cli.main(args)


@pytest.mark.parametrize("method", ["image", "job"])
def test_a_killed_dask_run_resumes_with_the_same_bytes(
    cluster: LocalCluster, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: Any, method: str,
) -> None:  # fmt: skip
    out = tmp_path / "out"
    args = _args([source], out, "--method", method, "--resume", *_dask(cluster))
    command = [sys.executable, "-c", _SMALL_PARTS, str(_PART_BYTES), *args]
    env = {**os.environ, "GTCONSENSUS_CHECKPOINT_S": "0.05"}
    checkpoint = tmp_path / "out.partial.json"
    kill_past_line(command, env, checkpoint, 50)  # the client, SIGKILLed
    assert not out.exists()
    saved = json.loads(checkpoint.read_text())
    assert (saved["fitted"] is not None) == (method == "job")
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(dask_engine, "_pass_one", _no_pass_1)
        assert cli.main(args) == cli.EXIT_FAILED_LINES  # one partition now: the same bytes
    assert _resumed_after(capsys.readouterr().err) == saved["line"]
    assert _files(out) == _uninterrupted([source], tmp_path, "--method", method)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_a_resumed_dask_run_leaves_out_the_partitions_written(
    cluster: LocalCluster, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    args = _args([source], out, "-q", "--method", "job", "--resume", *_dask(cluster))
    monkeypatch.setattr("gtconsensus.adapters.manifest._CHECKPOINT_S", 0.0)
    _interrupt_dask(args, 12, monkeypatch)
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 100
    scheduled: list[int] = []
    real = dask_engine._in_order

    def in_order(outcomes: Any, window: int) -> Iterator[Any]:
        scheduled.append(outcomes.npartitions)
        yield from real(outcomes, window)

    with monkeypatch.context() as patch:
        patch.setattr(dask_engine, "_in_order", in_order)
        patch.setattr(dask_engine, "_pass_one", _no_pass_1)
        patch.setattr(dask_engine, "consolidate_with_dask", functools.partial(
            dask_engine.consolidate_with_dask, blocksize=_PART_BYTES))  # fmt: skip
        assert cli.main(args) == cli.EXIT_FAILED_LINES
    everything = db.read_text(str(source), blocksize=_PART_BYTES).npartitions
    assert scheduled == [everything - 12]  # the 12 partitions written are not computed again
    assert out.read_bytes() == _uninterrupted([source], tmp_path, "--method", "job")[0]


@pytest.mark.parametrize("first", ["local", "dask"])
def test_either_engine_resumes_a_run_of_the_other(
    cluster: LocalCluster, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: Any, first: str,
) -> None:  # fmt: skip
    import gtconsensus.adapters.manifest as adapter

    out = tmp_path / "out"
    args = _args([source], out, "--method", "job", "--resume")
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    if first == "local":
        with monkeypatch.context() as patch:
            patch.setattr(adapter, "finish_line", finish_line_interrupted_at(150))
            with pytest.raises(KeyboardInterrupt):
                cli.main(args)
        then = [*args, *_dask(cluster)]
    else:
        _interrupt_dask([*args, *_dask(cluster)], 10, monkeypatch)
        then = args
    saved = json.loads((tmp_path / "out.partial.json").read_text())
    assert 50 < saved["line"] < 380
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(dask_engine, "_pass_one", _no_pass_1)
        patch.setattr(adapter, "prepare_chunk", _no_pass_1)
        assert cli.main(then) == cli.EXIT_FAILED_LINES
    assert _resumed_after(capsys.readouterr().err) == saved["line"]
    assert _files(out) == _uninterrupted([source], tmp_path, "--method", "job")


def test_ctrl_c_saves_the_checkpoint_of_every_line_written(
    cluster: LocalCluster, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No timed save on the way: only the save as Ctrl-C leaves the run records how far
    # the files go.
    monkeypatch.setattr("gtconsensus.adapters.manifest._CHECKPOINT_S", 3600.0)
    out = tmp_path / "out"
    args = _args([source], out, "-q", "--method", "image", "--resume", *_dask(cluster))
    _interrupt_dask(args, 5, monkeypatch)
    saved = json.loads((tmp_path / "out.partial.json").read_text())
    assert saved["line"] == saved["counts"][0] > 30  # 5 parts of about 10 lines, no blank
    assert saved["sizes"][0] == (tmp_path / "out.partial").stat().st_size
    assert cli.main(args) == cli.EXIT_FAILED_LINES
    assert _files(out) == _uninterrupted([source], tmp_path, "--method", "image")


def test_a_dask_run_resumed_with_other_options_starts_over(
    cluster: LocalCluster, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:  # fmt: skip
    monkeypatch.setattr("gtconsensus.adapters.manifest._CHECKPOINT_S", 0.0)
    out = tmp_path / "out"
    args = _args([source], out, "--method", "image", "--resume", *_dask(cluster))
    _interrupt_dask([*args, "-q"], 10, monkeypatch)
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 50
    capsys.readouterr()
    assert cli.main([*args, "--iou-threshold", "0.6"]) == cli.EXIT_FAILED_LINES
    assert "resumed after" not in capsys.readouterr().err
    expected = _uninterrupted([source], tmp_path, "--method", "image", "--iou-threshold", "0.6")
    assert _files(out) == expected


@pytest.mark.parametrize("method", ["image", "job"])
def test_an_interrupted_merged_dask_run_resumes_with_the_same_bytes(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
    method: str,
) -> None:  # fmt: skip
    inputs = _split_job(tmp_path, copies=2)  # 80 objects
    monkeypatch.setattr("gtconsensus.adapters.manifest._CHECKPOINT_S", 0.0)
    out = tmp_path / "out"
    args = _args(inputs, out, "--method", method, "--resume", *_dask(cluster))
    with monkeypatch.context() as patch:  # parts of about 4 KB: two or three merged lines
        patch.setattr(dask_engine, "parse_bytes", lambda _: 4096)
        _interrupt_dask(args, 12, monkeypatch)
    saved = json.loads((tmp_path / "out.partial.json").read_text())
    assert 15 < saved["line"] < 70
    capsys.readouterr()
    staged: list[int] = []
    real_stage = dask_engine._stage

    def stage(records: Iterator[Any], folder: str, part_bytes: int) -> list[str]:
        pending = list(records)
        staged.extend(number for number, _, _ in pending)
        return real_stage(iter(pending), folder, part_bytes)

    with monkeypatch.context() as patch:
        patch.setattr(dask_engine, "_pass_one", _no_pass_1)
        patch.setattr(dask_engine, "_stage", stage)
        assert cli.main(args) == cli.EXIT_FAILED_LINES
    assert _resumed_after(capsys.readouterr().err) == saved["line"]
    assert staged[0] == saved["line"] + 1  # the lines written are not staged again
    expected = _uninterrupted(inputs, tmp_path, "--method", method)
    assert _files(out) == expected
    assert b'"file"' in expected[1]  # the error records keep their provenance
