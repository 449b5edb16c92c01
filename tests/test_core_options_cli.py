"""``--class-aware`` and ``--min-area`` on the command line, ``GTCONSENSUS_CLASS_AWARE`` and
``GTCONSENSUS_MIN_AREA`` in the Lambda's settings."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtconsensus import cli
from gtconsensus.adapters.aws_lambda import Settings
from gtconsensus.consensus import parse_min_area
from gtconsensus.exceptions import OptionsError
from gtconsensus.testing.synthetic import manifest_line, worker_answer

SHAPE = (16, 16)


def _square(*pieces: tuple[slice, slice, int]) -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    for rows, cols, label in pieces:
        labels[rows, cols] = label
    return labels


BIG = (slice(2, 10), slice(2, 10), 1)
SPECK = (slice(13, 15), slice(13, 15), 2)  # 4 pixels


def _answers() -> list[tuple[str, np.ndarray, tuple[str, ...]]]:
    """a and b: a Car and a 4-pixel Bus speck; c: a Truck on the same pixels as the Car."""
    return [
        ("a", _square(BIG, SPECK), ("Car", "Bus")),
        ("b", _square(BIG, SPECK), ("Car", "Bus")),
        ("c", _square(BIG), ("Truck",)),
    ]


def _manifest(folder: Path) -> Path:
    answers = [(w, worker_answer(labels, classes)) for w, labels, classes in _answers()]
    path = folder / "in.manifest"
    path.write_text(manifest_line("s3://bucket/images/1.jpg", answers) + "\n", encoding="utf-8")
    return path


def _consensus(folder: Path, *options: str) -> dict[str, Any]:
    out = folder / "out.manifest"
    code = cli.main(["consolidate", str(_manifest(folder)), "-o", str(out), "-q", "--jobs", "1",
                     *options])  # fmt: skip
    assert code == cli.EXIT_OK
    value: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))["gt-label"]
    return value


def _instances(value: dict[str, Any]) -> list[tuple[str, list[str]]]:
    labels = [i["label"] for i in value["annotatedResult"]["instances"]]
    support = [i["support"] for i in value["consensus"]["instances"]]
    return list(zip(labels, support, strict=True))


def test_class_agnostic_matching_is_the_default(tmp_path: Path) -> None:
    default = _consensus(tmp_path)
    assert _instances(default) == [("Car", ["a", "b", "c"]), ("Bus", ["a", "b"])]
    assert _consensus(tmp_path, "--class-agnostic") == default


def test_class_aware_matching_keeps_classes_apart(tmp_path: Path) -> None:
    value = _consensus(tmp_path, "--class-aware")
    assert _instances(value) == [("Car", ["a", "b"]), ("Bus", ["a", "b"])]
    assert value["consensus"]["workers"]["c"]["fp"] == 1  # its Truck matches nothing


def test_class_aware_and_agnostic_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["consolidate", "x", "-o", "y", "--class-aware", "--class-agnostic"])
    assert info.value.code == cli.EXIT_USAGE
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--min-area", "4"], [("Car", ["a", "b", "c"]), ("Bus", ["a", "b"])]),
        (["--min-area", "5"], [("Car", ["a", "b", "c"])]),
        (["--min-area", "Bus=5"], [("Car", ["a", "b", "c"])]),
        (["--min-area", "Car=5"], [("Car", ["a", "b", "c"]), ("Bus", ["a", "b"])]),
        (["--min-area", "Car=65", "--min-area", "Bus=5"], []),  # the Car is 64 pixels
    ],
)
def test_min_area_ignores_smaller_instances(
    tmp_path: Path, options: list[str], expected: list[tuple[str, list[str]]]
) -> None:
    assert _instances(_consensus(tmp_path, *options)) == expected


def test_ignored_specks_do_not_count_against_workers(tmp_path: Path) -> None:
    plain = _consensus(tmp_path)["consensus"]["workers"]["c"]
    ignored = _consensus(tmp_path, "--min-area", "5")["consensus"]["workers"]["c"]
    assert (plain["fn"], ignored["fn"]) == (1, 0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["-1"], "N a whole number >= 0"),
        (["Car=x"], "N a whole number >= 0"),
        (["5", "Car=3"], "not both"),
        (["5", "6"], "given twice"),
        (["Car=5", "Car=6"], "given twice"),
        (["=5"], "class name before `=` is empty"),
    ],
)
def test_a_bad_min_area_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], values: list[str], message: str
) -> None:
    options = [x for v in values for x in ("--min-area", v)]
    out = tmp_path / "out"
    for command in (["consolidate", str(_manifest(tmp_path)), "-o", str(out)],
                    ["workers", str(_manifest(tmp_path))]):  # fmt: skip
        assert cli.main([*command, *options]) == cli.EXIT_USAGE
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_workers_command_takes_the_options(tmp_path: Path) -> None:
    tables = {}
    for name, options in (("plain", []), ("aware", ["--class-aware"]),
                          ("speck", ["--min-area", "5"])):  # fmt: skip
        table = tmp_path / f"{name}.json"
        args = ["workers", str(_manifest(tmp_path)), "-q", "--jobs", "1", "-o", str(table)]
        assert cli.main([*args, *options]) == cli.EXIT_OK
        tables[name] = {r["worker_id"]: r for r in json.loads(table.read_text())}
    assert (tables["plain"]["c"]["fp"], tables["aware"]["c"]["fp"]) == (0, 1)
    assert (tables["plain"]["c"]["fn"], tables["speck"]["c"]["fn"]) == (1, 0)


@pytest.mark.parametrize(
    ("command", "method"),
    [("consolidate", "image"), ("consolidate", "job"), ("workers", "job")],  # job: spooled
)
def test_a_min_area_class_no_answer_has_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, method: str
) -> None:
    source = str(_manifest(tmp_path))
    out = ["-o", str(tmp_path / "out.manifest")] if command == "consolidate" else []
    base = [command, source, *out, "-q", "--jobs", "2", "--method", method]
    code = cli.main([*base, "--min-area", "Buss=5", "--min-area", "Truck=3"])
    assert code == cli.EXIT_OK
    err = capsys.readouterr().err
    assert "--min-area names classes that no answer has: 'Buss'" in err
    assert "(classes seen: 'Bus', 'Car', 'Truck')" in err  # Truck: only worker c has it
    assert cli.main([*base, "--min-area", "Bus=5", "--min-area", "Truck=3"]) == cli.EXIT_OK
    assert "warning" not in capsys.readouterr().err  # every class named exists
    assert cli.main([*base, "--min-area", "70"]) == cli.EXIT_OK  # one number: no names
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "options", [["--class-aware"], ["--min-area", "Bus=5"], ["--class-aware", "--min-area", "5"]]
)
def test_consolidate_line_takes_the_options_as_the_command_line_does(
    tmp_path: Path, options: list[str]
) -> None:
    from gtconsensus import consolidate_line

    expected = _consensus(tmp_path, *options)
    line = _manifest(tmp_path).read_text(encoding="utf-8")
    min_area = parse_min_area([v for k, v in itertools.pairwise(options) if k == "--min-area"])
    result = consolidate_line(line, class_aware="--class-aware" in options, min_area=min_area)
    assert result.output is not None
    assert json.loads(result.output)["gt-label"] == expected
    assert expected != _consensus(tmp_path)  # the options change this line's consensus


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda t: "," not in t), st.integers(0, 10**9), min_size=1
    )
)
def test_min_area_per_class_reads_back(per_class: dict[str, int]) -> None:
    assert parse_min_area([f"{name}={n}" for name, n in per_class.items()]) == per_class


def test_min_area_for_every_class() -> None:
    assert parse_min_area(["12"]) == 12
    assert parse_min_area([]) == 0
    with pytest.raises(OptionsError, match="not both"):
        parse_min_area(["Car=1", "2"])


# -- the Lambda's settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("25", 25),
        ("Person=50, Car=200", (("Person", 50), ("Car", 200))),
        ('{"Traffic light, red": 10}', (("Traffic light, red", 10),)),
        ("{}", 0),
    ],
)
def test_lambda_min_area_setting(text: str, expected: object) -> None:
    assert Settings.from_env({"GTCONSENSUS_MIN_AREA": text}).min_area == expected


@pytest.mark.parametrize("text", ["-3", "Car=1,5", "[1]", '{"Car": 1.5}', "Car", "=5", '{"": 5}'])
def test_a_malformed_lambda_min_area_is_refused(text: str) -> None:
    with pytest.raises(OptionsError, match="GTCONSENSUS_MIN_AREA") as info:
        Settings.from_env({"GTCONSENSUS_MIN_AREA": text})
    assert info.value.code == "bad_setting"


def test_lambda_class_aware_setting() -> None:
    assert Settings.from_env({"GTCONSENSUS_CLASS_AWARE": "1"}).class_aware is True
    assert Settings.from_env({}).class_aware is False
    with pytest.raises(OptionsError, match="GTCONSENSUS_CLASS_AWARE"):
        Settings.from_env({"GTCONSENSUS_CLASS_AWARE": "perhaps"})


def test_no_class_warning_when_the_classes_seen_are_not_all_known(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gtconsensus.adapters.manifest import RunSummary

    cli._report_classes({"Car": 5}, RunSummary(consolidated=1, classes_seen={"Bus"}))
    assert "no answer has: 'Car'" in capsys.readouterr().err
    unknown = RunSummary(consolidated=1, classes_seen={"Bus"}, classes_known=False)
    cli._report_classes({"Car": 5}, unknown)  # resumed from an older checkpoint
    assert capsys.readouterr().err == ""
