"""The exports run on the job's own manifest (not consolidated yet) say so."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from gtconsensus.cli import main
from review_data import EXPORTS

HINT = "no line holds a consensus: is this the job's own manifest?"


@pytest.fixture(scope="module")
def job_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = resources.files("gtconsensus.data").joinpath("example.manifest").read_text("utf-8")
    path = tmp_path_factory.mktemp("job") / "output.manifest"
    path.write_text("".join(text.splitlines(keepends=True)[:3]), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", EXPORTS)
def test_an_export_of_a_manifest_not_consolidated_says_to_consolidate_it_first(
    job_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    args = [part.replace("{out}", str(tmp_path)) for part in command]
    assert main([*args[:2], str(job_manifest), *args[2:]]) == 1
    err = capsys.readouterr().err
    assert "left out 3 failed lines: line 1 (missing_consensus)" in err
    assert HINT in err


def test_a_consolidated_manifest_with_one_raw_line_gets_no_such_hint(
    job_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    consensus = tmp_path / "consensus.manifest"
    assert main(["consolidate", str(job_manifest), "-o", str(consensus), "-q", "--jobs", "1"]) == 0
    raw = job_manifest.read_text(encoding="utf-8").splitlines()[0]
    with consensus.open("a", encoding="utf-8") as handle:
        handle.write(raw + "\n")
    assert main(["export", "coco", str(consensus), "-o", str(tmp_path / "c.json")]) == 1
    err = capsys.readouterr().err
    assert "left out 1 failed lines: line 4 (missing_consensus)" in err
    assert HINT not in err


def test_a_report_of_a_manifest_not_consolidated_says_to_consolidate_it_first(
    job_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.html"
    assert main(["report", str(job_manifest), "-o", str(target)]) == 2
    assert HINT in capsys.readouterr().err
    assert not target.exists()  # a report of nothing, with exit 0, looked like a job's report


def test_a_render_of_a_line_not_consolidated_says_to_consolidate_it_first(
    job_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(job_manifest), "--line", "2", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "missing_consensus" in err
    assert "Consolidate it first" in err
