"""--pseudonymize: no original worker id survives anywhere in what is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gtconsensus.cli import main
from gtconsensus.lines import consolidate_line
from gtconsensus.privacy import (
    pseudonym,
    pseudonymize_line,
    pseudonymize_worker_model,
    pseudonymize_worker_rows,
)
from gtconsensus.review.outputs import parse_output_line
from gtconsensus.testing.synthetic import DEFAULT_POOL, make_manifest

REJECTED = "private.us-east-1.QQREJECTEDWORKERZZ7NF2AXYZ"
IDS = [p.worker_id for p in DEFAULT_POOL[:3]] + [REJECTED]


def _job_lines() -> list[str]:
    lines = []
    for number, text in enumerate(make_manifest(5, 4, height=60, width=80, instances=(1, 3))):
        if number == 1:  # one answer that cannot be read: its worker is in `rejected`
            parsed = json.loads(text)
            bad = {"workerId": REJECTED, "annotationData": {"content": "not json"}}
            parsed["gt-label"]["annotationsFromAllWorkers"].append(bad)
            text = json.dumps(parsed)
        result = consolidate_line(text)
        assert result.output is not None
        lines.append(result.output)
    return lines


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("privacy")
    manifest = folder / "consensus.manifest"
    manifest.write_text("\n".join(_job_lines()) + "\n", encoding="utf-8")
    table = folder / "workers.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["worker_id", "score", "objects"])
        writer.writerows([worker_id, "0.8", "4"] for worker_id in IDS)
    return manifest, table


def _leaks(data: bytes) -> list[str]:
    """The original ids (or their distinctive last part) found in ``data``."""
    return [w for w in IDS if w.encode() in data or w.rsplit(".", 1)[-1].encode() in data]


def test_pseudonym_is_stable_for_a_secret_and_differs_across_secrets() -> None:
    assert pseudonym(IDS[0], "a") == pseudonym(IDS[0], "a")
    assert pseudonym(IDS[0], "a") != pseudonym(IDS[0], "b")
    assert pseudonym(IDS[0], "a") != pseudonym(IDS[1], "a")


def test_pseudonymised_line_names_no_worker_and_still_reads_back(job: tuple[Path, Path]) -> None:
    manifest, _ = job
    for number, text in enumerate(manifest.read_text().splitlines(), start=1):
        assert _leaks(text.encode())  # the test data does name them
        line = pseudonymize_line(json.loads(text), "s3cret")
        dumped = json.dumps(line).encode()
        assert _leaks(dumped) == []
        obj = parse_output_line(json.dumps(line), number=number)
        original = parse_output_line(text, number=number)
        assert sorted(obj.workers) == sorted(pseudonym(w, "s3cret") for w in original.workers)
        assert obj.labels is not None
        assert original.labels is not None
        assert (obj.labels == original.labels).all()
    rejected = json.loads(manifest.read_text().splitlines()[1])["gt-label"]["consensus"]
    assert rejected["rejected"][0]["workerId"] == REJECTED


def test_worker_table_and_model_are_pseudonymised() -> None:
    rows = pseudonymize_worker_rows([{"worker_id": w, "score": "1"} for w in IDS], "k")
    assert [r["worker_id"] for r in rows] == [pseudonym(w, "k") for w in IDS]
    model = pseudonymize_worker_model({"format": "x", "workers": {IDS[0]: {"a": 1}}}, "k")
    assert _leaks(json.dumps(model).encode()) == []


@pytest.mark.parametrize(
    ("command", "output"),
    [
        (["report", "{m}", "-o", "{o}/r.html", "--workers", "{w}", "--gallery", "2"], "r.html"),
        (["render", "{m}", "--line", "2", "-o", "{o}/r.png"], "r.png"),
        (["export", "coco", "{m}", "-o", "{o}/c.json"], "c.json"),
        (["export", "adjustment", "{m}", "-o", "{o}/a.manifest", "--below", "1"], "a.manifest"),
        (["export", "masks", "{m}", "-o", "{o}/masks"], "masks"),
    ],
)
def test_review_commands_with_pseudonymize_write_no_worker_id(
    job: tuple[Path, Path], tmp_path: Path, command: list[str], output: str
) -> None:
    if command[0] in ("report", "render"):
        pytest.importorskip("skimage")
    manifest, table = job
    argv = [a.format(m=manifest, o=tmp_path, w=table) for a in command]
    assert main([*argv, "--pseudonymize", "s3cret"]) == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    assert (tmp_path / output).exists()
    for path in written:
        assert _leaks(path.read_bytes()) == [], path
    if command[0] == "report":
        assert pseudonym(IDS[0], "s3cret") in (tmp_path / output).read_text()


def test_pseudonymize_copies_a_line_that_is_not_utf8_and_refuses_a_bad_worker_table(
    job: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # both ended in a UnicodeDecodeError traceback, with --pseudonymize only
    manifest, _ = job
    mixed = tmp_path / "mixed.manifest"
    mixed.write_bytes(manifest.read_bytes() + b"\xff\xfe a stray binary line\n")
    coco = tmp_path / "c.json"
    assert main(["export", "coco", str(mixed), "-o", str(coco), "--pseudonymize", "k"]) == 1
    assert "line 5 (bad_json)" in capsys.readouterr().err
    assert len(json.loads(coco.read_text(encoding="utf-8"))["images"]) == 4
    table = tmp_path / "workers.csv"
    table.write_bytes(b"\xff\xfeworker_id,score\n")
    report = ["report", str(manifest), "-o", str(tmp_path / "r.html"), "--workers", str(table)]
    assert main([*report, "--pseudonymize", "k"]) == 2
    assert "is not one from `consolidate --workers`: not UTF-8" in capsys.readouterr().err
