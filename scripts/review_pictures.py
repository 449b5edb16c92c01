"""Regenerate the pictures of the docs from the shipped example job.

    python scripts/review_pictures.py    # docs/img/overlay.png, report.png, pipeline.png

Consolidates the example job (``gtconsensus demo``), draws the overlay of its
most contested image with several instances (``gtconsensus render``), writes the
report (``gtconsensus report``) and takes a screenshot of it in headless
chromium (Debian's ``chromium``; the screenshot is skipped without it). The
PNGs are reduced to a palette to stay small in the repository. The figure of the
pipeline comes from ``scripts/pipeline_figure.py`` on the same line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the small CDP client of the browser test
sys.path.insert(0, str(ROOT / "scripts"))

from pipeline_figure import draw as draw_pipeline  # noqa: E402

from cdp import Browser, find_chromium  # noqa: E402
from gtconsensus.cli import main  # noqa: E402
from gtconsensus.review.outputs import iter_output_objects  # noqa: E402


def _shrink(path: Path, *, width: int | None = None) -> None:
    with Image.open(path) as image:
        picture = image.convert("RGB")
    if width and picture.width > width:
        picture = picture.resize((width, round(picture.height * width / picture.width)),
                                 Image.Resampling.LANCZOS)  # fmt: skip
    picture.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


def _contested_line(manifest: Path) -> int:
    """The least-agreed line with at least three consensus instances."""
    scored = [
        (o.confidence, o.line)
        for o in iter_output_objects(manifest)
        if o.error is None and o.confidence is not None and len(o.instances) >= 3
    ]
    return min(scored)[1]


def run(out: Path) -> None:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # relative paths: the report shows demo/consensus.manifest
        work = Path("demo")
        main(["demo", "-o", str(work), "-q"])
        manifest = work / "consensus.manifest"
        line = _contested_line(manifest)
        overlay = out / "overlay.png"
        main(["render", str(manifest), "--line", str(line), "-o", str(overlay),
              "--panel-width", "300"])  # fmt: skip
        _shrink(overlay)
        draw_pipeline(manifest, line, out / "pipeline.png")
        report = work / "report.html"
        main(["report", str(manifest), "-o", str(report), "--workers", str(work / "workers.csv")])
        chromium = find_chromium()
        if chromium is None:
            print("no chromium: docs/img/report.png left as it is", file=sys.stderr)
            return
        with Browser(chromium, width=1200, height=1300) as browser:
            browser.open(report.resolve().as_uri())
            shot = out / "report.png"
            shot.write_bytes(browser.screenshot())
        _shrink(shot, width=900)
    for path in sorted(out.glob("*.png")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    run(parser.parse_args().out)
