"""Outputs that are pipes or devices (``-o /dev/stdout``, a FIFO, a shell's ``>(gzip > x)``)
are written in place: the atomic writer's rename would replace the pipe with a file, and
the preflight must not ask for a folder it will not write in."""

from __future__ import annotations

import os
import threading
from importlib import resources
from pathlib import Path

import pytest

from gtconsensus import cli
from gtconsensus.adapters import preflight, storage

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")


def _drain(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    """A reader of ``fifo`` in a thread; what it read lands in the list."""
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            got.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)  # left blocked if nothing writes
    reader.start()
    return reader, got


def _example(folder: Path) -> Path:
    """The first two lines of the shipped example job, in ``folder``."""
    text = resources.files("gtconsensus.data").joinpath("example.manifest").read_text("utf-8")
    source = folder / "in.manifest"
    source.write_text("".join(text.splitlines(keepends=True)[:2]), encoding="utf-8")
    return source


def test_the_atomic_writer_writes_through_a_pipe_and_leaves_it_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, got = _drain(fifo)
    with storage.atomic_writer(str(fifo)) as handle:
        handle.write("one\ntwo\n")
    reader.join(timeout=10)
    assert got == [b"one\ntwo\n"]
    assert storage.is_stream(fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left


def test_consolidate_writes_its_output_into_a_pipe(tmp_path: Path) -> None:
    source = _example(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, got = _drain(fifo)
    errors = tmp_path / "errors.jsonl"
    args = ["consolidate", str(source), "-o", str(fifo), "--errors", str(errors), "-q", "-j", "1"]
    assert cli.main(args) == cli.EXIT_OK
    reader.join(timeout=10)
    assert len(got) == 1
    assert len(got[0].splitlines()) == 2
    assert storage.is_stream(fifo)


def test_a_pipe_in_a_folder_not_writable_is_a_writable_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    real = os.access
    # /dev, the folder of /dev/stdout, is writable by root only: the same here.
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path) != tmp_path and real(path, mode)
    )
    assert preflight.output_problem(str(tmp_path / "file.manifest"), "output") is not None
    assert preflight.output_problem(str(fifo), "output") is None


def test_the_first_failure_is_not_read_back_from_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done: list[str | None] = []
    looking = threading.Thread(
        target=lambda: done.append(cli._first_failure(str(fifo))), daemon=True
    )
    looking.start()
    looking.join(timeout=10)  # opening a pipe to read waits for a writer: forever
    assert done == [None]


def test_resume_into_a_pipe_writes_through_it_without_a_checkpoint(tmp_path: Path) -> None:
    source = _example(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, got = _drain(fifo)
    args = ["consolidate", str(source), "-o", str(fifo), "--errors", str(tmp_path / "e"),
            "--resume", "-q", "-j", "1"]  # fmt: skip
    assert cli.main(args) == cli.EXIT_OK
    reader.join(timeout=10)
    assert len(got) == 1
    assert len(got[0].splitlines()) == 2
    assert storage.is_stream(fifo)
    assert not (tmp_path / "pipe.partial").exists()


def test_an_output_into_a_pipe_has_no_error_file_beside_it_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --errors: "default: OUTPUT.errors.jsonl when OUTPUT is a file"; a pipe is not one
    # (/dev/stdout.errors.jsonl would be written in /dev, /dev/fd/63.errors.jsonl nowhere).
    source = _example(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, got = _drain(fifo)
    args = ["consolidate", str(source), "-o", str(fifo), "--label-attribute", "gt-labels",
            "-j", "1"]  # fmt: skip
    assert cli.main(args) == cli.EXIT_FAILED_LINES  # every line fails: no such attribute
    reader.join(timeout=10)
    assert len(got) == 1
    assert len(got[0].splitlines()) == 2  # the failed lines, with consensus.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.manifest", "pipe"]
    assert "2 failed" in capsys.readouterr().err


def _with_a_bad_line(folder: Path) -> Path:
    """:func:`_example` and a line that is not JSON (one error record)."""
    source = _example(folder)
    source.write_text(source.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    return source


def test_resume_writes_an_error_file_that_is_a_pipe_through_it(tmp_path: Path) -> None:
    # The output is a file (checkpointed); the error file, a pipe, is written as the run
    # goes: a partial file renamed over it at the end would replace the pipe (as root,
    # --errors /dev/stderr replaced the device link of the whole machine by a file).
    source = _with_a_bad_line(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, got = _drain(fifo)
    args = ["consolidate", str(source), "-o", str(tmp_path / "out"), "--errors", str(fifo),
            "--resume", "-q", "-j", "1"]  # fmt: skip
    assert cli.main(args) == cli.EXIT_FAILED_LINES
    reader.join(timeout=10)
    assert [b'"code":"bad_json"' in line for line in b"".join(got).splitlines()] == [True]
    assert storage.is_stream(fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.manifest", "out", "pipe"]


def test_resume_writes_an_error_file_named_dash_to_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _with_a_bad_line(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["consolidate", str(source), "-o", "out", "--errors", "-", "--resume", "-q", "-j", "1"]
    assert cli.main(args) == cli.EXIT_FAILED_LINES
    assert '"code":"bad_json"' in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.manifest", "out"]  # no file "-"
