"""Draw docs/img/pipeline.png: the steps of the per-image method on one real line.

    python scripts/pipeline_figure.py [--line 7]

Consolidates the shipped example job and draws, for one line: the workers' label images
as decoded (each in its own colours), the same instances grouped into clusters (each
cluster in the colour of the consensus instance it became; white: dropped), the pixel
votes (how many workers cover each pixel), and the consensus with each worker's score.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gtconsensus.cli import main
from gtconsensus.masks import instance_colours
from gtconsensus.review.outputs import read_output_object, read_worker_answers
from gtconsensus.review.render import match_colours

ROOT = Path(__file__).resolve().parent.parent
TILE = 200
GREY = (72, 72, 72)


def _tile(labels: np.ndarray, colours: list[str]) -> Image.Image:
    palette = np.array([GREY, *(tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours)],
                       dtype=np.uint8)  # fmt: skip
    image = Image.fromarray(palette[labels], "RGB")
    return image.resize((TILE, round(TILE * labels.shape[0] / labels.shape[1])), Image.NEAREST)


def _votes(stack: list[np.ndarray]) -> Image.Image:
    count = sum((labels > 0).astype(np.uint8) for labels in stack)
    shades = np.array([GREY, (120, 150, 200), (60, 110, 190), (20, 60, 150)], dtype=np.uint8)
    image = Image.fromarray(shades[np.minimum(count, 3)], "RGB")
    return image.resize((TILE, round(TILE * count.shape[0] / count.shape[1])), Image.NEAREST)


def draw(manifest: Path, line: int, out: Path) -> None:
    obj = read_output_object(manifest, line)
    workers = read_worker_answers(obj).annotations
    assert obj.labels is not None
    colours = [i.colour for i in obj.instances]
    font, small = ImageFont.load_default(size=14), ImageFont.load_default(size=12)
    tile_h = round(TILE * obj.labels.shape[0] / obj.labels.shape[1])
    gap, head, caption = 40, 54, 18
    columns = 4
    height = head + len(workers) * (tile_h + caption + 8) + 10
    sheet = Image.new("RGB", (columns * TILE + (columns + 1) * gap, height), (250, 250, 248))
    pen = ImageDraw.Draw(sheet)
    titles = ["1 decode: a label image", "2-3 match, cluster", "4-5 decide, fuse", "6-8 consensus"]
    notes = ["per worker, own colours", "colour: the consensus instance (white: none)",
             "pixel votes: 1, 2, 3 workers", "instances, worker scores"]  # fmt: skip
    for c, (title, note) in enumerate(zip(titles, notes, strict=True)):
        x = gap + c * (TILE + gap)
        pen.text((x, 8), title, fill=(20, 20, 20), font=font)
        pen.text((x, 28), note, fill=(90, 90, 90), font=small)
    for r, worker in enumerate(workers):
        y = head + r * (tile_h + caption + 8)
        own = list(instance_colours(len(worker.classes) + 3)[3:])  # not the consensus colours
        matched = match_colours(worker.labels, len(worker.classes), obj.labels, colours)
        sheet.paste(_tile(np.asarray(worker.labels), own), (gap, y + caption))
        sheet.paste(_tile(np.asarray(worker.labels), matched), (2 * gap + TILE, y + caption))
        short = worker.worker_id.rsplit(".", 1)[-1][:10]
        pen.text((gap, y), short, fill=(20, 20, 20), font=small)
        score = obj.workers.get(worker.worker_id, {}).get("score")
        text = f"{short}: score {score:.2f}" if isinstance(score, float) else short
        pen.text((4 * gap + 3 * TILE, head + tile_h + caption + 16 + 16 * r), text,
                 fill=(20, 20, 20), font=small)  # fmt: skip
    middle = head + (len(workers) * (tile_h + caption + 8)) // 2 - tile_h // 2
    sheet.paste(_votes([np.asarray(w.labels) for w in workers]), (3 * gap + 2 * TILE, middle))
    sheet.paste(_tile(np.asarray(obj.labels), colours), (4 * gap + 3 * TILE, head + caption))
    pen.text((4 * gap + 3 * TILE, head), f"consensus: {len(colours)} instances", fill=(20, 20, 20),
             font=small)  # fmt: skip
    for c in range(columns - 1):
        x = gap + c * (TILE + gap) + TILE + 8
        y = height // 2
        pen.line((x, y, x + gap - 16, y), fill=(60, 60, 60), width=2)
        pen.polygon([(x + gap - 16, y - 5), (x + gap - 10, y), (x + gap - 16, y + 5)],
                    fill=(60, 60, 60))  # fmt: skip
    sheet.quantize(colors=64).save(out, optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "pipeline.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        main(["demo", "-o", folder, "-q"])
        draw(Path(folder) / "consensus.manifest", args.line, args.out)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")
