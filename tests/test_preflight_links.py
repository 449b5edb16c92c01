"""Outputs and symbolic links: a link among the outputs is replaced, never written through.

The writers write a temporary file and rename it over the output's name; a link there
is replaced by the new file and what it pointed to is kept. So an error file that is a
link to the input harms nothing, while an error file that the input is (or that the
input links to) would replace the input, and is refused before the run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from gtconsensus import cli
from gtconsensus.adapters import preflight


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The first line of the shipped example job and a line that is not JSON."""
    text = resources.files("gtconsensus.data").joinpath("example.manifest").read_text("utf-8")
    path = tmp_path / "in.manifest"
    path.write_text(text.splitlines(keepends=True)[0] + "{not json\n", encoding="utf-8")
    return path


def test_an_error_file_that_is_a_link_to_the_input_replaces_the_link_not_the_input(
    example: Path, tmp_path: Path
) -> None:
    before = example.read_bytes()
    errors = tmp_path / "errors.jsonl"
    errors.symlink_to(example)
    args = ["consolidate", str(example), "-o", str(tmp_path / "out"), "--errors", str(errors)]
    assert cli.main([*args, "-q", "--jobs", "1"]) == cli.EXIT_FAILED_LINES
    assert example.read_bytes() == before
    assert not errors.is_symlink()
    assert '"code":"bad_json"' in errors.read_text(encoding="utf-8")


@pytest.mark.parametrize("named", ["link", "target"])
def test_an_error_file_an_input_is_or_links_to_is_refused(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    # Named as the link, it would replace the input's name; named as the file the link
    # leads to, the input's content.
    link = tmp_path / "link.manifest"
    link.symlink_to(example)
    errors = link if named == "link" else example
    before = example.read_bytes()
    args = ["consolidate", str(link), "-o", str(tmp_path / "out"), "--errors", str(errors)]
    assert cli.main(args) == cli.EXIT_USAGE
    assert f"the error file {str(errors)!r} is an input" in capsys.readouterr().err
    assert example.read_bytes() == before
    assert link.is_symlink()


def test_two_outputs_that_are_links_to_one_file_are_two_outputs(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    for name in ("a.csv", "b.jsonl"):
        (tmp_path / name).symlink_to(shared)
    outputs = {"worker table": str(tmp_path / "a.csv"), "error file": str(tmp_path / "b.jsonl")}
    assert preflight.clash(["in.manifest"], outputs) is None


def test_one_output_named_through_a_linked_folder_and_directly_is_one_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    outputs = {
        "output": str(tmp_path / "alias" / "out"),
        "worker table": str(tmp_path / "real" / "out"),
    }
    assert preflight.clash(["in.manifest"], outputs) == (
        f"the output and the worker table are one file, {outputs['worker table']!r}: name two"
    )
