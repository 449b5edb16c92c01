"""The documentation builds (API reference included) and its pictures exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_picture_the_docs_show_exists() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    shown = 0
    for page in pages:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} shows a missing {target}"
            shown += 1
    assert shown >= 3


def test_site_builds_strictly_so_a_broken_api_reference_fails(tmp_path: Path) -> None:
    pytest.importorskip("mkdocstrings", reason="the `docs` extra builds the site")
    if not (ROOT / "mkdocs.yml").is_file():
        pytest.skip("no mkdocs.yml (not a checkout)")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    page = (tmp_path / "site" / "api" / "review" / "index.html").read_text(encoding="utf-8")
    assert "render_overlay" in page
    assert "export_coco" in page
    assert ":func:" not in page
