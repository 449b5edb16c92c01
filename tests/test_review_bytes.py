"""The review commands read an output manifest line by line: a line that is not UTF-8
fails alone (``bad_json``), as in ``consolidate``, instead of a traceback for the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gtconsensus.cli import main
from gtconsensus.review.outputs import iter_output_objects, read_output_object
from review_data import EXPORTS, write_job

#: Line number (1-based) of the Latin-1 line inserted into the job.
LATIN_LINE = 2


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_job(tmp_path_factory.mktemp("bytes"))
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(LATIN_LINE - 1, '{"source-ref": "s3://b/café.jpg"}\n'.encode("latin-1"))
    path.write_bytes(b"".join(lines))
    return path


def test_a_line_that_is_not_utf8_is_read_back_as_a_failed_line(job: Path) -> None:
    objects = list(iter_output_objects(job, decode=False))
    latin = objects[LATIN_LINE - 1]
    assert latin.line == LATIN_LINE
    assert latin.error is not None
    assert latin.error[0] == "bad_json"
    assert objects[LATIN_LINE].error is None  # the next line is read as before


def test_a_line_after_one_that_is_not_utf8_renders(job: Path, tmp_path: Path) -> None:
    obj = read_output_object(job, LATIN_LINE + 1)
    assert obj.error is None
    assert main(["render", str(job), "--line", "3", "-o", str(tmp_path / "l.png")]) == 0


@pytest.mark.parametrize("command", EXPORTS)
def test_exports_leave_out_a_line_that_is_not_utf8_and_keep_the_others(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    args = [part.replace("{out}", str(tmp_path)) for part in command]
    assert main([*args[:2], str(job), *args[2:]]) == 1
    assert f"line {LATIN_LINE} (bad_json)" in capsys.readouterr().err
    written = Path(args[3])  # the others are exported
    if written.is_dir():
        assert any(written.rglob("*.png"))
    elif written.suffix == ".json":
        assert json.loads(written.read_text(encoding="utf-8"))["images"]
    else:
        assert written.read_text(encoding="utf-8").splitlines()


def test_the_report_lists_a_line_that_is_not_utf8_as_failed(job: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(job), "-o", str(page), "--gallery", "2"]) == 0
    assert "café" not in page.read_text(encoding="utf-8")  # never decoded
    assert "bad_json" in page.read_text(encoding="utf-8")
