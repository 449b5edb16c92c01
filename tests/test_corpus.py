"""The malformed-input corpus: every hand-made bad line gets its code, and nothing raises.

The corpus (``tests/corpus/``, written by ``scripts/make_corpus.py``) holds one
manifest line per file and the expected outcome of each in ``index.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gtconsensus import consolidate_line
from gtconsensus.exceptions import CODES

CORPUS = Path(__file__).parent / "corpus"
INDEX: dict[str, dict[str, str]] = json.loads((CORPUS / "index.json").read_text("utf-8"))
SCRIPTS = Path(__file__).parent.parent / "scripts"


def _value(output: str | None) -> dict[str, Any]:
    assert output is not None
    value: dict[str, Any] = json.loads(output)["gt-label"]
    return value


def test_the_corpus_holds_at_least_fifty_cases_each_with_its_file() -> None:
    assert len(INDEX) >= 50
    files = {p.stem for p in CORPUS.glob("*.jsonl")}
    assert files == set(INDEX)


def test_every_expected_code_is_a_documented_code() -> None:
    expected = {case["expect"] for case in INDEX.values()} - {"consolidates"}
    assert expected <= set(CODES)


def test_the_script_still_writes_the_same_cases() -> None:
    sys.path.insert(0, str(SCRIPTS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(SCRIPTS))
    cases = make_corpus.cases()
    assert set(cases) == set(INDEX)
    assert {n: (c[0], c[1]) for n, c in cases.items()} == {
        n: (c["expect"], c["at"]) for n, c in INDEX.items()
    }


@pytest.mark.parametrize("name", sorted(INDEX))
def test_corpus_case_gets_its_expected_outcome(name: str) -> None:
    case = INDEX[name]
    data = (CORPUS / f"{name}.jsonl").read_bytes()
    result = consolidate_line(data, label_attribute="gt-label")  # must not raise
    rejected = [r.code for r in result.rejected]
    if case["at"] == "none":
        assert result.error is None, result.error
        assert rejected == []
        assert result.consensus is not None
    elif case["at"] == "answer":
        assert result.error is None, result.error
        assert rejected == [case["expect"]]
        assert result.consensus is not None
        assert _value(result.output)["consensus"]["rejected"][0]["code"] == case["expect"]
    else:
        assert result.error is not None
        assert result.error.code == case["expect"], result.error
        assert result.consensus is None
        if result.output is not None:  # a JSON object: kept, with consensus.error
            assert _value(result.output)["consensus"]["error"]["code"] == case["expect"]
    for code in [*rejected, *([result.error.code] if result.error else [])]:
        assert code in CODES
