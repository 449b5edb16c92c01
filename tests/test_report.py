"""The HTML job report (gtconsensus.review.report), without a browser."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from gtconsensus.review.outputs import iter_output_objects
from gtconsensus.review.report import build_report, job_stats
from review_data import FAILED_LINE, write_job


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_job(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(job: Path) -> str:
    return build_report(job, gallery=3)


def test_page_is_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page
    assert "@import" not in page
    assert "url(" not in page


def test_summary_counts_objects_workers_instances_failures(job: Path, page: str) -> None:
    stats = job_stats(iter_output_objects(job))
    assert stats.lines == 9
    assert [f[0] for f in stats.failed] == [FAILED_LINE]
    cards = re.findall(r"<b>([^<]*)</b><span>([^<]*)</span>", page)
    by_label = {label: int(value) for value, label in cards}
    assert by_label["objects (lines)"] == 9
    assert by_label["failed"] == 1
    assert by_label["workers"] == len(stats.tallies)
    assert by_label["consensus instances"] == stats.instances > 0


def test_worker_table_has_a_row_per_worker_and_the_worst_is_named(job: Path, page: str) -> None:
    stats = job_stats(iter_output_objects(job))
    rows = re.findall(r"<tr><td data-value=\"([^\"]+)\">", page.split('id="workers"')[1])
    assert sorted(set(rows)) == sorted(stats.tallies)
    scored = [r for r in stats.worker_rows() if r["score"] is not None]
    worst = min(scored, key=lambda r: (r["score"], r["worker_id"]))
    assert f"Lowest-scoring worker: <b>{worst['worker_id']}</b>" in page


def test_charts_and_gallery_of_the_least_agreed(job: Path, page: str) -> None:
    assert page.count("<svg") == 3
    shown = [int(n) for n in re.findall(r'<figure id="line-(\d+)"><img', page)]
    confidence = {o.line: o.confidence for o in iter_output_objects(job) if o.error is None}
    assert len(shown) == 3
    assert [confidence[n] for n in shown] == sorted(confidence.values())[:3]
    assert page.count("data:image/png;base64,") == 3


def test_failed_lines_are_listed(page: str) -> None:
    assert "no_valid_answer" in page.split("Failed lines")[1]


def test_worker_table_file_is_used_when_given(job: Path, tmp_path: Path) -> None:
    stats = job_stats(iter_output_objects(job))
    path = tmp_path / "workers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*stats.worker_rows()[0]])
        writer.writeheader()
        for row in stats.worker_rows():
            writer.writerow({**row, "reliability": 0.5, "pq": 0.25})
    page = build_report(job, workers_csv=path, gallery=0)
    assert ">reliability</th>" in page
    assert ">pq</th>" in page
    assert "0.250" in page
    assert "data:image/png" not in page
