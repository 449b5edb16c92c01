"""--resume: a run killed half-way restarts, skips what it wrote, and ends with the same bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gtconsensus import cli
from harness import finish_line_interrupted_at, kill_past_line
from test_offline import simulated


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "in.manifest"
    lines = list(simulated(40, seed=21, side=8).manifest_lines()) * 20  # 800 lines
    lines.insert(400, "{not json")
    path.write_text("\n".join(lines) + "\n")
    return path


def _complete(source: Path, folder: Path, *extra: str) -> list[bytes]:
    out = folder / "whole"
    code = cli.main(["consolidate", str(source), "-o", str(out), "-q", "--jobs", "1",
                     "--workers", f"{out}.csv", *extra])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    return [
        out.read_bytes(),
        Path(f"{out}.errors.jsonl").read_bytes(),
        Path(f"{out}.csv").read_bytes(),
    ]


def test_a_killed_run_resumes_where_it_stopped_with_the_same_output(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gtconsensus", "consolidate", str(source), "-o", str(out),
               "--method", "image", "-j", "1", "--resume", "--workers", f"{out}.csv"]  # fmt: skip
    env = {**os.environ, "GTCONSENSUS_CHECKPOINT_S": "0.05"}
    checkpoint = tmp_path / "out.partial.json"
    kill_past_line(command, env, checkpoint, 50)
    assert not out.exists()  # a killed run leaves only files that do not look complete
    assert (tmp_path / "out.partial").stat().st_size > 0
    assert json.loads(checkpoint.read_text())["classes"]  # for --min-area's warning
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert resumed.returncode == cli.EXIT_FAILED_LINES, resumed.stderr
    after = int(resumed.stderr.split("resumed after input line ")[1].split()[0])
    assert 50 < after < 800
    expected = _complete(source, tmp_path, "--method", "image")
    got = [
        out.read_bytes(),
        Path(f"{out}.errors.jsonl").read_bytes(),
        Path(f"{out}.csv").read_bytes(),
    ]
    assert got == expected
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_job_level_run_interrupted_in_pass_2_resumes_with_the_same_output(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gtconsensus.adapters.manifest as adapter

    small = tmp_path / "in.manifest"
    small.write_text("\n".join([*source.read_text().splitlines()[:199], "{bad"]) + "\n")
    expected = _complete(small, tmp_path, "--method", "job")
    interrupted = finish_line_interrupted_at(120)

    out = tmp_path / "out"
    args = ["consolidate", str(small), "-o", str(out), "--method", "job", "--jobs", "1",
            "--resume", "--workers", f"{out}.csv"]  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cli.main(args)
    assert not out.exists()
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 100

    def no_pass_1(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pass 1 again: the checkpoint holds the fitted model")

    with monkeypatch.context() as patch:
        patch.setattr(adapter, "prepare_chunk", no_pass_1)
        assert cli.main(args) == cli.EXIT_FAILED_LINES
    got = [
        out.read_bytes(),
        Path(f"{out}.errors.jsonl").read_bytes(),
        Path(f"{out}.csv").read_bytes(),
    ]
    assert got == expected


@pytest.mark.parametrize("secrets", [(None, "s3cret"), ("s3cret", None), ("s3cret", "other")])
def test_a_run_resumed_with_another_pseudonymize_secret_starts_over(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    secrets: tuple[str | None, str | None],
) -> None:  # fmt: skip
    # Lines written before the interruption carry the first run's ids (real ones, or
    # another secret's pseudonyms): resuming from them would mix them into the output.
    import gtconsensus.adapters.manifest as adapter
    from gtconsensus.privacy import pseudonym

    small = tmp_path / "in.manifest"
    small.write_text("\n".join(source.read_text().splitlines()[:60]) + "\n")
    first, second = (["--pseudonymize", s] if s else [] for s in secrets)
    interrupted = finish_line_interrupted_at(30)

    out = tmp_path / "out"
    args = ["consolidate", str(small), "-o", str(out), "-q", "--method", "image", "--jobs", "1",
            "--resume", "--workers", f"{out}.csv"]  # fmt: skip
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cli.main([*args, *first])
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 10
    assert cli.main([*args, *second]) == cli.EXIT_OK
    whole = tmp_path / "whole"
    plain = ["consolidate", str(small), "-o", str(whole), "-q", "--method", "image",
             "--jobs", "1", "--workers", f"{whole}.csv"]  # fmt: skip
    assert cli.main([*plain, *second]) == cli.EXIT_OK
    assert out.read_bytes() == whole.read_bytes()
    assert Path(f"{out}.csv").read_bytes() == Path(f"{whole}.csv").read_bytes()
    # The first run's names (real ids, or another secret's pseudonyms) are nowhere.
    ids = ("good", "average", "poor", "spammer")
    names = ids if secrets[0] is None else tuple(pseudonym(w, secrets[0]) for w in ids)
    text = out.read_text(encoding="utf-8")
    assert not any(f'"{name}"' in text for name in names)


@pytest.mark.parametrize("flags", [([], ["--no-follow"]), (["--no-follow"], [])])
def test_a_run_resumed_with_another_follow_setting_starts_over(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
    flags: tuple[list[str], list[str]],
) -> None:  # fmt: skip
    # Lines written before the interruption followed references (or did not): a run
    # with the other setting must not keep them.
    import gtconsensus.adapters.manifest as adapter

    small = tmp_path / "in.manifest"
    small.write_text("\n".join(source.read_text().splitlines()[:40]) + "\n")
    interrupted = finish_line_interrupted_at(20)

    out = tmp_path / "out"
    args = ["consolidate", str(small), "-o", str(out), "--method", "image", "--jobs", "1",
            "--resume"]  # fmt: skip
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cli.main([*args, "-q", *flags[0]])
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 5
    capsys.readouterr()
    assert cli.main([*args, *flags[1]]) == cli.EXIT_OK
    assert "resumed after" not in capsys.readouterr().err


@pytest.mark.parametrize("recorded", [True, False])
def test_a_checkpoint_without_classes_leaves_them_unknown(tmp_path: Path, recorded: bool) -> None:
    """A checkpoint of a version that did not record the classes seen: --min-area's warning
    would wrongly name a class seen only before the interruption, so none is given."""
    import contextlib

    from gtconsensus.adapters.checkpoint import Sink
    from gtconsensus.adapters.manifest import RunSummary

    out = tmp_path / "out"
    with contextlib.ExitStack() as stack:
        first = RunSummary(classes_seen={"Car"})
        sink = Sink(stack, str(out), None, resume=True, fingerprint={"k": 1}, summary=first)
        sink.out.write("{}\n")
        sink.done_through = 1
        sink.save()
        sink.out.close()  # what commit() would do, without renaming the partial file
    checkpoint = tmp_path / "out.partial.json"
    state = json.loads(checkpoint.read_text())
    assert state["classes"] == ["Car"]
    if not recorded:
        del state["classes"]
        checkpoint.write_text(json.dumps(state))
    with contextlib.ExitStack() as stack:
        again = RunSummary()
        Sink(stack, str(out), None, resume=True, fingerprint={"k": 1}, summary=again).out.close()
    assert again.resumed_after == 1
    assert again.classes_known is recorded
    assert again.classes_seen == ({"Car"} if recorded else set())


def test_an_input_rewritten_to_the_same_size_starts_the_run_over(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # The checkpoint counts input lines: resuming over an input edited since (here its
    # lines reordered, so its size is the same) would mix the two versions' lines.
    import gtconsensus.adapters.manifest as adapter

    small = tmp_path / "in.manifest"
    lines = source.read_text().splitlines()[:40]
    small.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    args = ["consolidate", str(small), "-o", str(out), "--method", "image", "--jobs", "1",
            "--resume"]  # fmt: skip
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", finish_line_interrupted_at(20))
        with pytest.raises(KeyboardInterrupt):
            cli.main([*args, "-q"])
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 5
    size, stat = small.stat().st_size, small.stat()
    small.write_text("\n".join(lines[::-1]) + "\n")
    os.utime(small, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a coarse clock too
    assert small.stat().st_size == size
    capsys.readouterr()
    assert cli.main(args) == cli.EXIT_OK
    assert "resumed after" not in capsys.readouterr().err
    whole = tmp_path / "whole"
    plain = ["consolidate", str(small), "-o", str(whole), "-q", "--method", "image", "--jobs", "1"]
    assert cli.main(plain) == cli.EXIT_OK
    assert out.read_bytes() == whole.read_bytes()
