"""A small consolidated job for the review tests (overlays, report, COCO)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from gtconsensus.lines import consolidate_line
from gtconsensus.testing.synthetic import make_manifest, manifest_line

__all__ = ["BLANK_LINE", "EXPORTS", "FAILED_LINE", "write_job"]

#: Line numbers (1-based) of the failed line and the blank line in :func:`write_job`.
FAILED_LINE, BLANK_LINE = 4, 6


#: The export commands, each with its output in ``{out}`` (a test's ``tmp_path``).
EXPORTS = (
    ["export", "coco", "-o", "{out}/coco.json"],
    ["export", "masks", "-o", "{out}/masks"],
    ["export", "adjustment", "-o", "{out}/adjust.manifest", "--below", "1.0"],
)


def write_job(folder: Path, *, n_lines: int = 8, seed: int = 11) -> Path:
    """Consolidate a simulated job into ``folder/consensus.manifest``.

    Line ``FAILED_LINE`` has no readable answer (``consensus.error``), line
    ``BLANK_LINE`` is blank; the others are consolidated, 3 workers each.
    """
    lines = list(make_manifest(seed, n_lines, height=90, width=120, instances=(1, 4)))
    broken = manifest_line("s3://gtconsensus-example/images/broken.jpg", [("w1", "not json")])
    lines.insert(FAILED_LINE - 1, broken)
    outputs = []
    for line in lines:
        result = consolidate_line(line)
        assert result.output is not None
        outputs.append(result.output)
    outputs.insert(BLANK_LINE - 1, "")
    path = folder / "consensus.manifest"
    path.write_text("\n".join(outputs) + "\n", encoding="utf-8")
    return path


def write_source_image(folder: Path, source_ref: str, size: tuple[int, int]) -> Path:
    """A striped photograph stand-in for ``source_ref`` under ``folder`` (by file name)."""
    width, height = size
    stripes = (np.indices((height, width)).sum(axis=0) // 7 % 2 * 255).astype(np.uint8)
    path = folder / Path(source_ref).name
    Image.fromarray(np.dstack([stripes, stripes // 2, 255 - stripes])).save(path)
    return path


def line_of(path: Path, number: int) -> dict[str, object]:
    """Line ``number`` (1-based) of a manifest, parsed."""
    text = path.read_text(encoding="utf-8").splitlines()[number - 1]
    parsed: dict[str, object] = json.loads(text)
    return parsed
