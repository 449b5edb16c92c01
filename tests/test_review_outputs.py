"""Reading a consolidated output manifest back (gtconsensus.review.outputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtconsensus.exceptions import OptionsError
from gtconsensus.lines import consolidate_line
from gtconsensus.review.outputs import iter_output_objects, read_output_object
from gtconsensus.testing.synthetic import make_manifest
from review_data import BLANK_LINE, FAILED_LINE, write_job


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_job(tmp_path_factory.mktemp("job"))


def test_consensus_decodes_to_the_labels_consolidation_made(tmp_path: Path) -> None:
    line = next(make_manifest(5, 1, height=40, width=50, instances=(2, 3)))
    result = consolidate_line(line)
    assert result.output is not None
    assert result.consensus is not None
    path = tmp_path / "out.manifest"
    path.write_text(result.output + "\n", encoding="utf-8")
    obj = read_output_object(path, 1)
    np.testing.assert_array_equal(obj.labels, result.consensus.labels)
    assert [i.label for i in obj.instances] == [i.label for i in result.consensus.instances]
    assert obj.size == (50, 40)


def test_line_numbers_count_blank_lines(job: Path) -> None:
    numbers = [obj.line for obj in iter_output_objects(job)]
    assert BLANK_LINE not in numbers
    assert numbers == sorted(numbers)
    assert numbers[-1] == len(numbers) + 1


def test_failed_line_carries_its_error(job: Path) -> None:
    obj = read_output_object(job, FAILED_LINE)
    assert obj.error is not None
    assert obj.error[0] == "no_valid_answer"
    assert obj.labels is None


@pytest.mark.parametrize("line", [0, 99, BLANK_LINE])
def test_line_out_of_range_is_refused(job: Path, line: int) -> None:
    with pytest.raises(OptionsError) as info:
        read_output_object(job, line)
    assert info.value.code == "line_out_of_range"


def test_input_line_is_not_mistaken_for_a_consensus(tmp_path: Path) -> None:
    path = tmp_path / "input.manifest"
    path.write_text(next(make_manifest(1, 1, height=20, width=20)) + "\n", encoding="utf-8")
    obj = read_output_object(path, 1)
    assert obj.error is not None
    assert obj.error[0] == "missing_consensus"


def test_summaries_can_skip_decoding_the_png(job: Path) -> None:
    decoded = list(iter_output_objects(job))
    light = list(iter_output_objects(job, decode=False))
    assert [o.instances for o in light] == [o.instances for o in decoded]
    assert all(o.labels is None for o in light)
    assert [o.error for o in light] == [o.error for o in decoded]


def test_a_line_that_is_not_utf8_is_named_so_and_costs_that_line_only(
    job: Path, tmp_path: Path
) -> None:
    lines = job.read_bytes().splitlines(keepends=True)
    # 0xff 0xfe made json.loads guess UTF-16: "line is not JSON: Expecting value"
    mixed = tmp_path / "mixed.manifest"
    mixed.write_bytes(b"".join([lines[0], b"\xff\xfe a stray binary line\n", *lines[1:]]))
    objects = list(iter_output_objects(mixed, decode=False))
    assert objects[1].error == ("bad_json", "line is not valid UTF-8 (at byte 0)")
    assert [o.line for o in objects if o.error is None] == [
        o.line + (o.line > 1) for o in iter_output_objects(job, decode=False) if o.error is None
    ]
    bom = tmp_path / "bom.manifest"
    bom.write_bytes(b"\xef\xbb\xbf" + lines[0])  # a UTF-8 byte order mark is read through
    assert read_output_object(bom, 1).error is None
