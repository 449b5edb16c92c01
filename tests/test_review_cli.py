"""gtconsensus render, report and export coco from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from gtconsensus.cli import main
from review_data import FAILED_LINE, write_job


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_job(tmp_path_factory.mktemp("cli"))


@pytest.mark.parametrize("command", [["render"], ["report"], ["export", "coco"]])
def test_help_explains_the_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "OUTPUT" in out
    assert "example:" in out
    assert "-o" in out


def test_render_writes_a_png(job: Path, tmp_path: Path) -> None:
    target = tmp_path / "line1.png"
    assert main(["render", str(job), "--line", "1", "-o", str(target), "--panel-width", "120"]) == 0
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.width > 2 * 120


def test_render_line_out_of_range(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(job), "--line", "99", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "line_out_of_range" in err
    assert "has 10 lines" in err
    assert not (tmp_path / "x.png").exists()


def test_render_failed_line(job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", str(job), "--line", str(FAILED_LINE), "-o", str(tmp_path / "x.png")])
    assert code == 2
    err = capsys.readouterr().err
    assert "not consolidated" in err
    assert "no_valid_answer" in err


def test_missing_manifest_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.html")]) == 2
    assert "not a readable file" in capsys.readouterr().err


def test_report_writes_html(job: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert main(["report", str(job), "-o", str(target), "--gallery", "1"]) == 0
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png") == 1


def test_export_coco_reports_left_out_lines(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "annotations.json"
    assert main(["export", "coco", str(job), "-o", str(target)]) == 1
    assert f"line {FAILED_LINE} (no_valid_answer)" in capsys.readouterr().err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert len(data["images"]) == 8
    assert data["annotations"]


def test_unwritable_output_is_a_usage_error(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(tmp_path / "no-such-folder" / "out")
    assert main(["render", str(job), "--line", "1", "-o", target + ".png"]) == 2
    assert main(["report", str(job), "-o", target + ".html", "--gallery", "0"]) == 2
    assert main(["export", "coco", str(job), "-o", target + ".json"]) == 2
    assert capsys.readouterr().err.count("No such file or directory") == 3


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"name,accuracy\nalice,0.9\n", "no `worker_id` column"),  # another tool's table
        (b'{"line": 4, "code": "no_valid_answer"}\n', "no `worker_id` column"),  # errors.jsonl
        (b"worker_id,score\nw1,0.5,0.7,extra\n", "line 2 has 4 fields"),
        (b"\xff\xfeworker_id,score\n", "not UTF-8"),  # a UTF-16 export of a spreadsheet
    ],
)
def test_a_worker_table_that_is_not_one_is_a_usage_error(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, said: str
) -> None:
    table = tmp_path / "workers.csv"
    table.write_bytes(content)
    target = tmp_path / "r.html"
    assert main(["report", str(job), "-o", str(target), "--workers", str(table)]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert str(table) in err
    assert "Traceback" not in err
    assert not target.exists()


def test_a_panel_width_too_large_to_draw_is_a_usage_error(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "x.png"
    # 100000 px panels asked numpy for a 168 GiB canvas: a MemoryError traceback
    assert (
        main(["render", str(job), "--line", "1", "-o", str(target), "--panel-width", "100000"]) == 2
    )
    assert "`panel_width` must be in [32, 4096], got 100000" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["render", "{manifest}", "--line", "1", "-o", "{manifest}"],
        ["report", "{manifest}", "-o", "{manifest}"],
        ["report", "{manifest}", "-o", "{workers}", "--workers", "{workers}"],
        ["export", "coco", "{manifest}", "-o", "{manifest}"],
        ["export", "adjustment", "{manifest}", "-o", "{manifest}", "--below", "1"],
        ["export", "coco", "{manifest}", "-o", "{manifest}", "--pseudonymize", "s3cret"],
    ],
)
def test_an_output_that_would_replace_a_file_the_command_reads_is_refused(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # `export coco consensus.manifest -o consensus.manifest` replaced the consolidated
    # manifest (and every raw answer it kept) by the COCO file
    manifest = tmp_path / "consensus.manifest"
    manifest.write_bytes(job.read_bytes())
    workers = tmp_path / "workers.csv"
    workers.write_text("worker_id,score\nw1,0.5\n", encoding="utf-8")
    before = manifest.read_bytes(), workers.read_bytes()
    args = [a.format(manifest=manifest, workers=workers) for a in command]
    assert main(args) == 2
    assert "is read by the run: writing it would replace it" in capsys.readouterr().err
    assert (manifest.read_bytes(), workers.read_bytes()) == before
