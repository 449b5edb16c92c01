"""Nothing lost end to end: a manifest of thousands of lines, 1 in 20 corrupted, through the CLI.

The output holds every good line (consolidated, in input order, raw answers
untouched) and every bad line that is a JSON object (with ``consensus.error``);
the error file holds every bad line, with its number and code; output lines plus
non-JSON failures add up to the non-blank input lines.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gtconsensus import cli
from gtconsensus.testing.strategies import encode_answer, recipe_line

CORPUS = Path(__file__).parent / "corpus"
INDEX: dict[str, dict[str, str]] = json.loads((CORPUS / "index.json").read_text("utf-8"))
N_LINES = 2_000
EVERY = 20  # one line in 20 is corrupted
# The line-level failures of the corpus, as bad lines.
BAD_CASES = sorted(n for n, c in INDEX.items() if c["at"] == "line")
ATTR = "gt-label"


def _answer(variant: int) -> dict[str, Any]:
    labels = np.zeros((4, 6), np.uint8)
    labels[0 : 1 + variant % 3, 0:3] = 1
    labels[2:4, 3 + variant % 2 : 6] = 2
    return encode_answer(labels, ["Car", "Person"], ["#1f77b4", "#ff7f0e"], png_mode="P2")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write the manifest, run the CLI once; return what the tests look at."""
    folder = tmp_path_factory.mktemp("nothing-lost")
    answers = [_answer(variant) for variant in range(6)]
    rows: list[bytes] = []
    good: dict[int, str] = {}  # line number -> source-ref
    bad: dict[int, str] = {}  # line number -> expected code
    for index in range(N_LINES):
        if index % EVERY == EVERY - 1:
            name = BAD_CASES[(index // EVERY) % len(BAD_CASES)]
            rows.append((CORPUS / f"{name}.jsonl").read_bytes())
            bad[len(rows)] = INDEX[name]["expect"]
        else:
            ref = f"s3://bucket/images/{index:05d}.jpg"
            workers = [(w, answers[index % 6]) for w in ("alice", "bob", "carol")]
            rows.append(recipe_line(workers, source_ref=ref).encode())
            good[len(rows)] = ref
        if index % 500 == 250:
            rows.append(b"")  # blank: skipped but counted
    path = folder / "input.manifest"
    path.write_bytes(b"\n".join(rows) + b"\n")
    out, errors = folder / "out.manifest", folder / "errors.jsonl"
    code = cli.main(["consolidate", str(path), "-o", str(out), "--errors", str(errors),
                     "--label-attribute", ATTR, "--quiet", "--no-follow"])  # fmt: skip
    return {
        "code": code, "rows": rows, "good": good, "bad": bad,
        "output": [json.loads(x) for x in out.read_text("utf-8").splitlines()],
        "errors": [json.loads(x) for x in errors.read_text("utf-8").splitlines()],
    }  # fmt: skip


def test_the_manifest_is_thousands_of_lines_one_in_twenty_bad(run: dict[str, Any]) -> None:
    assert len(run["good"]) + len(run["bad"]) == N_LINES
    assert len(run["bad"]) == N_LINES // EVERY
    assert len(set(run["bad"].values())) >= 10  # many kinds of failure
    assert run["code"] == cli.EXIT_FAILED_LINES


def test_every_good_line_is_in_the_output_in_input_order(run: dict[str, Any]) -> None:
    consolidated = [x for x in run["output"] if "annotatedResult" in x.get(ATTR, {})]
    assert [x["source-ref"] for x in consolidated] == list(run["good"].values())
    for line in consolidated[:50]:
        assert [a["workerId"] for a in line[ATTR]["annotationsFromAllWorkers"]] == [
            "alice", "bob", "carol"
        ]  # fmt: skip
        assert "error" not in line[ATTR]["consensus"]


def test_every_bad_line_is_in_the_error_file_with_its_number_and_code(run: dict[str, Any]) -> None:
    assert {r["line"]: r["code"] for r in run["errors"]} == run["bad"]
    for record in run["errors"]:
        raw = run["rows"][record["line"] - 1]
        assert record["rawLength"] == len(raw)  # the bytes as read
        assert record["rawSha256"] == hashlib.sha256(raw).hexdigest()


def test_bad_lines_that_are_json_objects_stay_in_the_output_with_their_error(
    run: dict[str, Any],
) -> None:
    failed = [x for x in run["output"] if "annotatedResult" not in x.get(ATTR, {})]
    codes = sorted(
        (x.get(ATTR) or {}).get("consensus", {}).get("error", {}).get("code")
        or x.get("gtconsensus-error", {}).get("code")
        for x in failed
    )
    expected = sorted(
        r["code"] for r in run["errors"] if _is_object(run["rows"][r["line"] - 1])
    )  # fmt: skip
    assert codes == expected


def test_counts_add_up_to_the_input(run: dict[str, Any]) -> None:
    non_blank = sum(1 for row in run["rows"] if row.strip())
    not_objects = sum(1 for r in run["errors"] if not _is_object(run["rows"][r["line"] - 1]))
    assert len(run["output"]) + not_objects == non_blank
    assert len(run["output"]) == len(run["good"]) + len(run["bad"]) - not_objects


def _refuse(text: str) -> float:
    raise ValueError(text)


def _finite(text: str) -> float:
    if not math.isfinite(float(text)):
        raise ValueError(text)
    return float(text)


def _is_object(raw: bytes) -> bool:
    """Whether a line is a JSON object by the reader's rules (no NaN, no 1e999)."""
    try:
        return isinstance(json.loads(raw, parse_constant=_refuse, parse_float=_finite), dict)
    except (ValueError, RecursionError):
        return False
