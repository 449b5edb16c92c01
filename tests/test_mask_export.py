"""export masks: read back like Ground Truth's built-in semantic-segmentation output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtconsensus.cli import main
from gtconsensus.exceptions import OptionsError
from gtconsensus.masks import decode_label_png
from gtconsensus.review.mask_export import export_masks
from gtconsensus.review.outputs import iter_output_objects
from review_data import FAILED_LINE, write_job


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_job(tmp_path_factory.mktemp("masks"))


def read_builtin_line(line: dict[str, object]) -> np.ndarray:
    """Class names per pixel of a built-in semantic-segmentation output line.

    Written as for Ground Truth's own output: find the ``-ref`` key, open the
    PNG, map its palette indices through ``internal-color-map``.
    """
    attr = next(k for k in line if k.endswith("-ref") and k != "source-ref")
    metadata = line[f"{attr}-metadata"]
    colour_map = metadata["internal-color-map"]  # type: ignore[index]
    names = {int(index): entry["class-name"] for index, entry in colour_map.items()}
    with Image.open(str(line[attr])) as image:
        assert image.mode == "P"
        indices = np.asarray(image)
    table = np.array([names.get(i, "?") for i in range(256)], dtype=object)
    return np.asarray(table[indices])


def read_builtin_line_by_colour(line: dict[str, object]) -> np.ndarray:
    """The same, for readers that go through RGB and ``hex-color``."""
    attr = next(k for k in line if k.endswith("-ref") and k != "source-ref")
    colour_map = line[f"{attr}-metadata"]["internal-color-map"]  # type: ignore[index]
    by_code = {int(e["hex-color"][1:], 16): e["class-name"] for e in colour_map.values()}
    with Image.open(str(line[attr])) as image:
        rgb = np.asarray(image.convert("RGB")).astype(np.int64)
    codes = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    return np.vectorize(by_code.__getitem__, otypes=[object])(codes)


def _consensus_classes(labels: np.ndarray, names: list[str]) -> np.ndarray:
    table = np.array(["BACKGROUND", *names], dtype=object)
    return np.asarray(table[labels])


def test_export_is_read_back_like_builtin_output_pixel_for_pixel(job: Path, tmp_path: Path) -> None:
    summary = export_masks(job, str(tmp_path / "masks"))
    lines = [json.loads(t) for t in Path(summary.manifest).read_text().splitlines()]
    consensus = [o for o in iter_output_objects(job) if o.error is None]
    assert len(lines) == len(consensus) == summary.images
    assert summary.failed == ((FAILED_LINE, "no_valid_answer"),)
    for line, obj in zip(lines, consensus, strict=True):
        assert line["source-ref"] == obj.source_ref
        assert obj.labels is not None
        expected = _consensus_classes(obj.labels, [i.label for i in obj.instances])
        np.testing.assert_array_equal(read_builtin_line(line), expected)
        np.testing.assert_array_equal(read_builtin_line_by_colour(line), expected)
        metadata = line["gt-label-ref-metadata"]
        assert metadata["type"] == "groundtruth/semantic-segmentation"
        colour_map = metadata["internal-color-map"]
        assert colour_map["0"]["class-name"] == "BACKGROUND"
        assert all(0.0 <= e["confidence"] <= 1.0 for e in colour_map.values())
        instances = metadata["gtconsensus-instances"]
        colours = [i["color"] for i in instances["instances"]]
        decoded = decode_label_png(Path(instances["ref"]).read_bytes(), colours)
        np.testing.assert_array_equal(decoded.labels, obj.labels)


def test_class_indices_follow_the_given_classes_in_every_image(job: Path, tmp_path: Path) -> None:
    classes = ["Person", "Car", "Bicycle", "Dog"]
    summary = export_masks(job, str(tmp_path), classes=classes, attribute="street")
    class_map = json.loads((tmp_path / "class-map.json").read_text())
    assert [class_map[str(i)]["class-name"] for i in range(5)] == ["BACKGROUND", *classes]
    for text in Path(summary.manifest).read_text().splitlines():
        colour_map = json.loads(text)["street-ref-metadata"]["internal-color-map"]
        assert {k: v["class-name"] for k, v in colour_map.items()} == {
            k: v["class-name"] for k, v in class_map.items()
        }
    with pytest.raises(OptionsError, match="not listed"):
        export_masks(job, str(tmp_path / "other"), classes=["Dog"])


def test_cli_export_masks_lists_failed_lines(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["export", "masks", str(job), "-o", str(tmp_path), "--classes", "Person,Car,Bicycle"]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "3 classes" in err
    assert f"line {FAILED_LINE} (no_valid_answer)" in err
    assert (tmp_path / "output.manifest").is_file()


@pytest.mark.parametrize(
    ("classes", "said"),
    [
        ("[Person", "is not a JSON list"),
        ("[1, 2]", "must list strings"),
        (" , ", "names no class"),
    ],
)
def test_cli_export_masks_refuses_a_classes_option_it_cannot_read(
    job: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], classes: str, said: str
) -> None:
    out = tmp_path / "masks"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "masks", str(job), "-o", str(out), "--classes", classes])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --classes: {said}" in err
    assert "GTCONSENSUS_TASK_LABELS" not in err  # the Lambda's setting, not this option
    assert not out.exists()
