"""COCO export (gtconsensus.review.coco), checked against pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gtconsensus.review.coco import decode_rle, encode_rle, export_coco
from gtconsensus.review.outputs import iter_output_objects
from review_data import FAILED_LINE, write_job

mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is in the dev extra")
coco_api = pytest.importorskip("pycocotools.coco", reason="pycocotools is in the dev extra")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("coco")
    manifest = write_job(folder, n_lines=10)
    output = folder / "annotations.json"
    export_coco(manifest, output)
    return manifest, output


def test_rle_equals_pycocotools_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = rng.integers(1, 15, size=2)
        mask = rng.random((height, width)) < rng.random()
        reference = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
        ours = encode_rle(mask)
        assert ours["counts"] == reference["counts"].decode("ascii")
        assert ours["size"] == [int(height), int(width)]
        np.testing.assert_array_equal(decode_rle(ours), mask)


def test_rle_survives_long_runs() -> None:
    mask = np.zeros((1080, 1920), bool)
    mask[100:900, 5:1900] = True
    reference = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert encode_rle(mask)["counts"] == reference["counts"].decode("ascii")


# pycocotools' Cython masks predate numpy 2's `copy` keyword of __array__.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_masks_equal_the_consensus_pixel_for_pixel(exported: tuple[Path, Path]) -> None:
    manifest, output = exported
    coco = coco_api.COCO(str(output))
    objects = {o.line: o for o in iter_output_objects(manifest) if o.error is None}
    assert sorted(coco.getImgIds()) == sorted(objects)
    total = 0
    for image_id, obj in objects.items():
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert len(annotations) == len(obj.instances)
        names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        for k, (ann, instance) in enumerate(zip(annotations, obj.instances, strict=True), 1):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), obj.labels == k)
            assert names[ann["category_id"]] == instance.label
            assert ann["score"] == instance.confidence
            assert ann["area"] == int(mask_api.area(ann["segmentation"]))
            assert ann["bbox"] == mask_api.toBbox(ann["segmentation"]).tolist()
            total += 1
    assert total == len(coco.getAnnIds()) > 0


def test_images_name_their_source_and_size(exported: tuple[Path, Path]) -> None:
    manifest, output = exported
    data = json.loads(output.read_text(encoding="utf-8"))
    objects = {o.line: o for o in iter_output_objects(manifest)}
    for image in data["images"]:
        obj = objects[image["id"]]
        assert image["file_name"] == obj.source_ref
        assert (image["width"], image["height"]) == obj.size
    assert FAILED_LINE not in {image["id"] for image in data["images"]}
    assert [c["name"] for c in data["categories"]] == sorted(c["name"] for c in data["categories"])
    assert {c["id"] for c in data["categories"]} == set(range(1, len(data["categories"]) + 1))


def test_failed_lines_are_counted(tmp_path: Path) -> None:
    summary = export_coco(write_job(tmp_path), tmp_path / "a.json")
    assert summary.skipped == ((FAILED_LINE, "no_valid_answer"),)
