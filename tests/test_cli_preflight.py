"""The command line refuses what it cannot read or write before the run, in one clear line.

A run of a large job takes hours: an output that is a folder, a compressed
manifest or a missing extra must stop it at once, with the reason, not after
the work (or as a traceback).
"""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from gtconsensus import cli
from gtconsensus.adapters import storage
from gtconsensus.exceptions import OptionsError


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The first two lines of the shipped example job."""
    text = resources.files("gtconsensus.data").joinpath("example.manifest").read_text("utf-8")
    path = tmp_path / "in.manifest"
    path.write_text("".join(text.splitlines(keepends=True)[:2]), encoding="utf-8")
    return path


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the run starts: the problem must be found before it."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the run started")

    monkeypatch.setattr(cli, "consolidate_manifests", refuse)


@pytest.mark.parametrize(
    ("name", "encode", "kind", "convert"),
    [
        ("in.manifest.gz", lambda text: gzip.compress(text.encode()), "gzip-compressed",
         "gunzip -c"),
        ("in.manifest", lambda text: text.encode("utf-16"), "UTF-16 text",
         "iconv -f UTF-16 -t UTF-8"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["consolidate", "workers"])
def test_a_compressed_or_utf16_manifest_is_refused_whole_with_the_way_to_convert_it(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None,
    name: str, encode: Any, kind: str, convert: str, command: str,
) -> None:  # fmt: skip
    # Read as JSON Lines, every "line" of it failed as bad_json, one by one.
    source = tmp_path / "job" / name
    source.parent.mkdir()
    source.write_bytes(encode(example.read_text(encoding="utf-8")))
    out = tmp_path / "out.manifest"
    args = [command, str(source), "-o", str(out)]
    assert cli.main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"is {kind}" in err
    assert f"{convert} {source} | gtconsensus {command} -" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.manifest", "job"]


@pytest.mark.parametrize(
    ("option", "what"),
    [("-o", "output"), ("--errors", "error file"), ("--workers", "worker table"),
     ("--save-worker-model", "worker model")],
)  # fmt: skip
def test_an_output_that_is_a_folder_is_refused_before_the_run(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None,
    option: str, what: str,
) -> None:  # fmt: skip
    folder = tmp_path / "taken"
    folder.mkdir()
    args = ["consolidate", str(example), "-o", str(tmp_path / "out.manifest")]
    args += [option, str(folder)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert f"{what} '{folder}' is a folder" in capsys.readouterr().err


def test_an_output_under_a_file_is_refused_before_the_run(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    target = example / "out.manifest"
    assert cli.main(["consolidate", str(example), "-o", str(target)]) == cli.EXIT_USAGE
    assert f"'{example}' is a file, not a folder" in capsys.readouterr().err


def test_the_workers_command_refuses_a_table_that_is_a_folder(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    assert cli.main(["workers", str(example), "-o", str(tmp_path)]) == cli.EXIT_USAGE
    assert "worker table" in capsys.readouterr().err


def test_demo_into_a_file_is_a_usage_error(
    example: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    assert cli.main(["demo", "-o", str(example), "-q"]) == cli.EXIT_USAGE
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["consolidate", "workers"])
def test_a_worker_table_that_cannot_be_written_is_reported_without_a_traceback(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, command: str,
) -> None:  # fmt: skip
    def disk_full(rows: Any, path: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "write_worker_table", disk_full)
    table = tmp_path / "workers.csv"
    args = [command, str(example), "-q", "--jobs", "1"]
    if command == "consolidate":
        args += ["-o", str(tmp_path / "out.manifest"), "--workers", str(table)]
    else:
        args += ["-o", str(table)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert f"cannot write the worker table '{table}'" in capsys.readouterr().err
    if command == "consolidate":  # the consolidated manifest was written before
        assert len((tmp_path / "out.manifest").read_text().splitlines()) == 2


@pytest.mark.parametrize("command", ["consolidate", "workers"])
def test_a_remote_input_without_its_extra_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    no_run: None, command: str,
) -> None:  # fmt: skip
    # Not "is not a readable file": the file may well exist, the reader is missing.
    def no_fsspec(path: str) -> Any:
        raise OptionsError("bad_setting", f"reading {path} needs fsspec and s3fs: "
                           "pip install 'gtconsensus[s3]'")  # fmt: skip

    monkeypatch.setattr(storage, "_filesystem", no_fsspec)
    args = [command, "s3://bucket/job/output.manifest", "-o", str(tmp_path / "out")]
    assert cli.main(args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "gtconsensus[s3]" in err
    assert "not a readable file" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["consolidate", "in", "-o", "out", "--jobs", "two"], "must be a positive integer"),
        (["consolidate", "in", "-o", "out", "--iou-threshold", "half"], "between 0 and 1"),
        (["render", "out", "--line", "last", "-o", "x.png"], "must be a positive integer"),
        (["report", "out", "-o", "x.html", "--gallery", "all"], "must be 0 or more"),
        (["export", "adjustment", "out", "-o", "a", "--below", "low"], "must be in [0, 1]"),
    ],
)  # fmt: skip
def test_a_value_that_is_not_a_number_gets_the_range_not_a_function_name(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert "invalid _" not in err


def test_every_option_of_the_workers_command_is_explained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["workers", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--label-attribute ATTR the key holding the workers' answers" in text


def test_ctrl_c_stops_the_command_with_one_line_and_status_130(tmp_path: Path) -> None:
    # The run waits for standard input; Ctrl-C there used to print a traceback.
    command = [sys.executable, "-m", "gtconsensus", "consolidate", "-", "-o", str(tmp_path / "o")]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdin is not None
        process.stdin.write(json.dumps({"source-ref": "s3://b/1.jpg"}) + "\n")
        process.stdin.flush()
        time.sleep(3.0)  # imported and waiting for the next line
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == cli.EXIT_INTERRUPTED
    assert "gtconsensus: interrupted" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_installed_command_and_the_module_run_the_console_entry() -> None:
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    assert 'gtconsensus = "gtconsensus.cli:console"' in pyproject.read_text(encoding="utf-8")
    main_module = resources.files("gtconsensus").joinpath("__main__.py").read_text("utf-8")
    assert "raise SystemExit(console())" in main_module


@pytest.mark.parametrize("quiet", [False, True])
def test_the_reason_lines_failed_is_on_the_terminal(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    # A misspelt label attribute fails every line: the terminal says why, --quiet too.
    out = tmp_path / "out.manifest"
    args = ["consolidate", str(example), "-o", str(out), "--label-attribute", "gt-labels"]
    assert cli.main([*args, *(["-q"] if quiet else [])]) == cli.EXIT_FAILED_LINES
    err = capsys.readouterr().err
    assert "line 1 [missing_label_attribute] line has no label attribute `gt-labels`" in err
    if quiet:
        assert "2 of 2 lines failed, first: line 1" in err
        assert f"(all in {out}.errors.jsonl)" in err


def test_the_first_failure_of_several_inputs_names_its_file(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "relabel.manifest"
    broken.write_text('{"source-ref": "s3://b/x.jpg", "gt-la\n', encoding="utf-8")
    args = ["consolidate", str(example), str(broken), "-o", str(tmp_path / "o"), "--jobs", "1"]
    assert cli.main(args) == cli.EXIT_FAILED_LINES
    assert f"first failure: {broken} line 1 [bad_json]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--errors", "{out}"], "the output and the error file are one file"),
        (["--workers", "{out}"], "the output and the worker table are one file"),
        (["--workers", "{errors}", "--errors", "{errors}"], "the error file and the worker table"),
        (["--save-worker-model", "{input}"], "the worker model '{input}' is an input"),
        (["--workers", "{input}"], "the worker table '{input}' is an input"),
    ],
)  # fmt: skip
def test_two_files_written_to_one_name_are_refused_before_the_run(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None,
    extra: list[str], message: str,
) -> None:  # fmt: skip
    # The later write replaced the earlier: the manifest by the worker table, the input
    # by the worker table, the error records by the manifest.
    names = {"{out}": str(tmp_path / "out.manifest"), "{errors}": str(tmp_path / "e.jsonl"),
             "{input}": str(example)}  # fmt: skip
    for key, value in names.items():
        extra = [part.replace(key, value) for part in extra]
        message = message.replace(key, value)
    before = example.read_bytes()
    args = ["consolidate", str(example), "-o", str(tmp_path / "out.manifest"), *extra]
    assert cli.main(args) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert example.read_bytes() == before


@pytest.mark.parametrize("option", ["-o", "--errors", "--workers", "--save-worker-model"])
@pytest.mark.parametrize("read", ["--gold", "--worker-model"])
def test_a_gold_file_or_worker_model_the_run_reads_is_not_written_over(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None,
    option: str, read: str,
) -> None:  # fmt: skip
    # Unlike an input, the gold answers or the model are not in the output: they were lost.
    kept = tmp_path / "kept.json"
    kept.write_text("{}\n", encoding="utf-8")
    out = str(kept) if option == "-o" else str(tmp_path / "out.manifest")
    args = ["consolidate", str(example), "-o", out, read, str(kept)]
    args += [] if option == "-o" else [option, str(kept)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert f"{str(kept)!r} is read by the run" in capsys.readouterr().err
    assert kept.read_text(encoding="utf-8") == "{}\n"


def test_the_workers_command_does_not_write_its_table_over_its_gold_file(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    gold = tmp_path / "gold.manifest"
    gold.write_text("{}\n", encoding="utf-8")
    args = ["workers", str(example), "-o", str(gold), "--gold", str(gold)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert "is read by the run" in capsys.readouterr().err


def test_the_workers_command_does_not_write_its_table_over_its_input(
    example: Path, capsys: pytest.CaptureFixture[str], no_run: None
) -> None:
    assert cli.main(["workers", str(example), "-o", str(example)]) == cli.EXIT_USAGE
    assert "is an input" in capsys.readouterr().err


def test_the_output_may_replace_its_input(example: Path) -> None:
    # It keeps every raw answer and appears only when complete: nothing is lost.
    before = example.read_text(encoding="utf-8").splitlines()
    assert cli.main(["consolidate", str(example), "-o", str(example), "-q", "--jobs", "1"]) == 0
    after = example.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    assert all('"consensus"' in line for line in after)


@pytest.mark.parametrize("option", ["--errors", "--workers"])
@pytest.mark.parametrize("second", ["-", "/dev/stdout"])
def test_two_files_written_to_standard_output_are_refused(
    example: Path, capsys: pytest.CaptureFixture[str], no_run: None, option: str, second: str
) -> None:
    # Error records or the worker table would be mixed into the manifest's lines, whether
    # standard output is named '-' or /dev/stdout.
    args = ["consolidate", str(example), "-o", "-", option, second]
    assert cli.main(args) == cli.EXIT_USAGE
    assert "would both go to standard output" in capsys.readouterr().err


@pytest.mark.parametrize("quiet", [False, True])
def test_the_workers_command_says_why_lines_failed(
    example: Path, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    # It writes no error file: without this, "0 workers, 2 lines (0 consolidated,
    # 2 failed)" was all a misspelt label attribute gave (and nothing with --quiet).
    args = ["workers", str(example), "--label-attribute", "gt-labels", "--jobs", "1"]
    # Every line failed: the table is empty, and the exit status says so, as consolidate's.
    assert cli.main([*args, *(["-q"] if quiet else [])]) == cli.EXIT_FAILED_LINES
    err = capsys.readouterr().err
    assert "line 1 [missing_label_attribute] line has no label attribute `gt-labels`" in err


def test_pseudonymize_works_with_the_local_engine_only(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_dask(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the Dask engine started")

    out = tmp_path / "out.manifest"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "_run_dask", no_dask)
        status = cli.main(["consolidate", str(example), "-o", str(out), "--engine", "dask",
                           "--pseudonymize", "k3y"])  # fmt: skip
    assert status == cli.EXIT_USAGE
    assert "--pseudonymize works with the local engine only" in capsys.readouterr().err
    assert not out.exists()


def test_resume_reaches_the_dask_engine(example: Path, tmp_path: Path) -> None:
    from gtconsensus.adapters import dask_engine
    from gtconsensus.adapters.manifest import RunSummary

    given: dict[str, Any] = {}

    def recorded(*args: Any, **kwargs: Any) -> RunSummary:
        given.update(kwargs)
        return RunSummary()

    out = tmp_path / "out.manifest"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dask_engine, "consolidate_with_dask", recorded)
        status = cli.main(["consolidate", str(example), "-o", str(out), "-q", "--engine", "dask",
                           "--scheduler", "tcp://127.0.0.1:8786", "--resume"])  # fmt: skip
    assert status == cli.EXIT_OK
    assert given["resume"] is True


@pytest.mark.parametrize(
    "flag", [["--scheduler", "tcp://127.0.0.1:8786"], ["--staging", "s3://b/t/"]]
)
def test_options_of_the_dask_engine_without_it_are_refused(
    example: Path, tmp_path: Path, flag: list[str], no_run: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "out.manifest"
    status = cli.main(["consolidate", str(example), "-o", str(out), *flag])
    assert status == cli.EXIT_USAGE
    assert f"{flag[0]} needs --engine dask" in capsys.readouterr().err
    assert not out.exists()
