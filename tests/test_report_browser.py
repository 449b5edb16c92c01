"""The HTML job report in a real headless chromium (Debian's), driven over CDP."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cdp import Browser, find_chromium
from gtconsensus.review.report import build_report
from review_data import write_job

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary (apt-get install chromium; .ci/run installs it in CI)",
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    pytest.importorskip("websocket", reason="websocket-client is in the dev extra")
    folder = tmp_path_factory.mktemp("browser")
    report = folder / "report.html"
    report.write_text(build_report(write_job(folder), gallery=2), encoding="utf-8")
    assert CHROMIUM is not None
    with Browser(CHROMIUM, width=1200, height=1400) as chromium:
        chromium.open(report.as_uri())
        yield chromium  # type: ignore[misc]


def _column(browser: Browser, index: int) -> list[str]:
    values: list[str] = browser.evaluate(
        f"[...document.querySelectorAll('#workers tbody tr td:nth-child({index})')]"
        ".map(td => td.dataset.value)"
    )
    return values


def test_page_loads_without_console_errors(browser: Browser) -> None:
    assert browser.evaluate("document.title").startswith("gtconsensus report")
    assert browser.evaluate("document.querySelectorAll('#workers tbody tr').length") > 0
    assert browser.errors == []


@pytest.mark.parametrize("column", [1, 2, 4])
def test_worker_table_sorts_on_click(browser: Browser, column: int) -> None:
    browser.click(f"#workers th:nth-child({column})")
    ascending = _column(browser, column)
    browser.click(f"#workers th:nth-child({column})")
    descending = _column(browser, column)

    def key(value: str) -> float | str:
        try:
            return float(value)
        except ValueError:
            return value

    known = [v for v in ascending if v != ""]
    assert [key(v) for v in known] == sorted(key(v) for v in known)
    assert [v for v in descending if v != ""] == known[::-1]
    sort = browser.evaluate(f"document.querySelector('#workers th:nth-child({column})')"
                            ".getAttribute('aria-sort')")  # fmt: skip
    assert sort == "descending"
    assert browser.errors == []


def test_screenshot_is_not_blank(browser: Browser, tmp_path: Path) -> None:
    browser.evaluate("window.scrollTo(0, 0)")
    shot = Image.open(io.BytesIO(browser.screenshot())).convert("RGB")
    pixels = np.asarray(shot)
    assert shot.size[0] >= 1000
    assert pixels.std() > 20
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    images_loaded = browser.evaluate(
        "[...document.images].every(img => img.complete && img.naturalWidth > 0)"
    )
    assert images_loaded
