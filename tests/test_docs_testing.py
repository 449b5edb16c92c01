"""The runnable example of docs/testing.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
BLOCKS = re.findall(
    r"<!-- test:run -->\n```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S
)


def test_docs_testing_has_a_runnable_example() -> None:
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_the_runnable_examples_of_docs_testing_run(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an example may write files, as a user's would
    exec(compile(BLOCKS[index], f"docs/testing.md example {index + 1}", "exec"), {})
