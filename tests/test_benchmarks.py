"""Smoke tests of the benchmark programs (no timing assertions).

The speed benchmark runs in-process in its quick mode on three tiny images; the peer
rows (crowd-kit, SimpleITK) need the ``bench`` extra, which CI's ``.[dev]`` does not
install, so that test skips without it. ``run_fusion_prototype.py`` runs on two small
images per setting, and its exactness check (run-length fusion against ``decide``) must
report no mismatch.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = ["--quick", "--images", "3", "--size", "160x120"]
CORE_ROWS = ("decode floor", "`gtconsensus.consolidate_line`", "reference (full masks")
EXTRA_ROWS = (
    "`consolidate_line`, the standard library's zlib",
    "Pillow-filtered PNGs: decode floor",
    "Pillow-filtered PNGs: `consolidate_line`",
)
PEER_ROWS = (
    "crowd-kit `SegmentationMajorityVote`",
    "crowd-kit `SegmentationRASA`",
    "crowd-kit `SegmentationEM`",
    "SimpleITK `STAPLEImageFilter`",
)


def _bench_missing() -> str | None:
    missing = [
        name for name in ("crowdkit", "pandas", "SimpleITK")
        if importlib.util.find_spec(name) is None
    ]  # fmt: skip
    return ", ".join(missing) or None


def _module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def _rows(report: str) -> dict[str, list[str]]:
    """Table rows by their first cell."""
    rows = {}
    for line in report.splitlines():
        if line.startswith("| ") and not line.startswith(("| ---", "| per image")):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def _row(rows: dict[str, list[str]], start: str) -> list[str]:
    found = [cells for label, cells in rows.items() if label.startswith(start)]
    assert len(found) == 1, f"no single row starting with {start!r} in {list(rows)}"
    return found[0]


@pytest.mark.parametrize("filters", ["none", "adaptive"])
def test_cases_are_make_manifests_lines(filters: str) -> None:
    from gtconsensus.testing.synthetic import DEFAULT_POOL, make_manifest

    methods = _module("speed_methods")
    options = {"workers": 3, "height": 48, "width": 64, "instances": (1, 4), "filters": filters}
    cases = list(methods.make_cases(5, 4, pool=DEFAULT_POOL, **options))
    assert [case.line for case in cases] == list(make_manifest(5, 4, **options))
    for case in cases:
        assert len(case.colours) == 3
        assert case.truth_pixels > 0
        masks = methods.peer_masks(case)
        assert [mask.shape for mask in masks] == [(48, 64)] * 3
        for mask, colour in zip(masks, case.colours, strict=True):
            assert mask.any() == (colour is not None)


def test_quick_run_prints_the_core_rows(capsys: pytest.CaptureFixture[str]) -> None:
    speed = _module("speed")
    assert speed.main([*TINY, "--no-peers"]) == 0
    report = capsys.readouterr().out
    assert report.startswith("Command: `python benchmarks/speed.py --quick --images 3")
    assert "## 160x120, 3 workers, 0 to 10 instances" in report
    rows = _rows(report)
    for start in CORE_ROWS:
        n, median = _row(rows, start)[:2]
        assert int(n) == 3
        assert float(median) > 0
    assert not any(label.startswith(PEER_ROWS) for label in rows)
    for start in EXTRA_ROWS:
        assert int(_row(rows, start)[0]) == 3
    assert "Targets (issue 6): gtconsensus / floor" in report
    assert "on Pillow-filtered PNGs gtconsensus / floor" in report
    assert "### cProfile of consolidate_line, 3 images" in report
    assert "lines.py" in report


def test_rest_runs_each_setting_in_a_process_of_its_own(capfd: pytest.CaptureFixture[str]) -> None:
    speed = _module("speed")
    argv = [*TINY, "--no-peers", "--tool-pngs-only", "--rest=0", "--setting", "default"]
    assert speed.main([*argv, "--setting", "dense50"]) == 0
    report = capfd.readouterr().out
    assert "one process per setting, 0 s of rest before each but the first" in report
    children = [line for line in report.splitlines() if line.startswith("Command: ")][1:]
    assert len(children) == 2  # each child names its own command, without --rest
    assert children[0].endswith("--tool-pngs-only --setting default`")
    assert children[1].endswith("--tool-pngs-only --setting dense50`")
    assert "## 160x120, 3 workers, 0 to 10 instances" in report
    assert "## 160x120, 3 workers, 50 instances" in report
    assert report.count("Targets (issue 6)") == 2


def test_without_option_drops_the_option_and_its_value() -> None:
    speed = _module("speed")
    arguments = ["--quick", "--setting", "hd5", "--rest=5", "--setting=default", "--rest", "2"]
    assert speed._without_option(speed._without_option(arguments, "--setting"), "--rest") == [
        "--quick"
    ]


def test_missing_peers_get_a_row_that_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    speed = _module("speed")
    reason = "not installed (crowdkit); pip install -e '.[bench]'"
    monkeypatch.setattr(
        speed, "peers", lambda: dict.fromkeys(("mv", "rasa", "em", "staple"), reason)
    )
    assert speed.main(TINY) == 0
    rows = _rows(capsys.readouterr().out)
    for start in PEER_ROWS:
        assert _row(rows, start)[:2] == ["0", reason]


@pytest.mark.skipif(
    _bench_missing() is not None,
    reason=f"the bench extra is not installed ({_bench_missing()}): pip install -e '.[bench]'",
)
def test_quick_run_prints_the_peer_rows(capsys: pytest.CaptureFixture[str]) -> None:
    speed = _module("speed")
    assert speed.main(TINY) == 0
    rows = _rows(capsys.readouterr().out)
    for start in CORE_ROWS:
        assert int(_row(rows, start)[0]) == 3
    for start in PEER_ROWS:
        n, median = _row(rows, start)[:2]
        assert int(n) >= 2
        assert float(median) > 0


def test_import_time_reports_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    import_time = _module("import_time")
    assert import_time.main(["--runs", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= {"gtconsensus", "pipeline", "baseline", "ratio", "ratio_pipeline"}
    assert result["gtconsensus"]["median_ms"] > 0
    assert result["pipeline"]["median_ms"] > 0
    assert result["ratio"] > 0
    assert result["ratio_pipeline"] > 0


def test_phase_run_prints_one_row_of_ratios_per_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    phases = _module("speed_phases")
    argv = ["--setting", "default", "--setting", "dense50", "--images", "2", "--size", "64x48"]
    assert phases.main([*argv, "--filters", "none", "--filters", "adaptive"]) == 0
    out = capsys.readouterr().out
    found = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(found) == 4
    rows = _rows(out)
    for name in ("`default` (64x48 x 3)", "`dense50` (64x48 x 3)"):
        cells = rows[name]  # the last row of the setting: Pillow's filters
        assert cells[:2] == ["adaptive (Pillow's)", "2"]
        ratios = [float(cell) for cell in cells[2:]]
        assert len(ratios) == len(phases.STAGES)
        assert all(ratio > 0 for ratio in ratios)


def test_png_level_run_prints_one_row_per_strategy_and_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    levels = _module("speed_png_levels")
    assert levels.main(["--images", "2", "--size", "64x48"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| Z_")]
    assert len(rows) == 9 * len(levels.STRATEGIES)
    assert all(float(row.split("|")[3]) > 0 for row in rows)


PROTOTYPE = ["--images", "2", "--size", "160x120", "--reps", "1"]


def test_fusion_prototype_matches_decide_on_every_image(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prototype = _module("run_fusion_prototype")
    assert prototype.main(PROTOTYPE) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for setting in ("dense50", "default"):
        loo = f"{setting}: loo_runs: (inter, union, kept) mismatches vs scoring._counted_loo: 0"
        assert loo in lines
        for impl in ("candidate-major", "position sweep"):
            assert (
                f"{setting}: {impl}: 2 images; label image/areas/order mismatches: 0 []; "
                "member-intersection mismatches: 0"
            ) in lines
    for setting in ("dense50", "default"):
        timing, pieces = (line for line in lines if line.startswith(f"| {setting} | "))
        images, _, _, fuse_ms = (cell.strip() for cell in timing.strip("|").split("|")[1:5])
        assert images == "2"
        assert float(fuse_ms) > 0
        assert len(pieces.strip("|").split("|")) == 10  # the setting and 9 pieces


def test_fusion_prototype_reports_a_wrong_label_image(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prototype = _module("run_fusion_prototype")
    exact = prototype.IMPLS["candidate-major"]

    def off_by_one_pixel(*args: object, **kwargs: object) -> object:
        (image, areas, order), inters = exact(*args, **kwargs)
        image = image.copy()
        image[0, 0] += 1
        return (image, areas, order), inters

    monkeypatch.setitem(prototype.IMPLS, "candidate-major", off_by_one_pixel)
    assert prototype.main([*PROTOTYPE, "--setting", "default"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        "default: candidate-major: 2 images; label image/areas/order mismatches: 2 [0, 1]; "
        "member-intersection mismatches: 0"
    ) in lines
    assert (
        "default: position sweep: 2 images; label image/areas/order mismatches: 0 []; "
        "member-intersection mismatches: 0"
    ) in lines


def test_output_hash_is_stable_and_sees_a_changed_byte(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same lines hash alike twice; a consensus one label different hashes otherwise."""
    program = _module("output_hash")
    tiny = ["--images", "2", "--size", "160x120"]
    assert program.main(tiny) == 0
    first = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in first] == [
        [name, filters, "2"] for name, _, filters in program.RUNS
    ]
    assert all(len(line.split()[3]) == len(line.split()[4]) == 16 for line in first)
    assert program.main(tiny) == 0
    assert capsys.readouterr().out.splitlines() == first
    real = program.consolidate

    def one_label_off(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        labels = result.labels.copy()
        labels[0, 0] += 1
        object.__setattr__(result, "labels", labels)
        return result

    monkeypatch.setattr(program, "consolidate", one_label_off)
    assert program.main(tiny) == 0
    changed = capsys.readouterr().out.splitlines()
    assert [line.split()[3] for line in changed] == [line.split()[3] for line in first]
    assert all(a.split()[4] != b.split()[4] for a, b in zip(changed, first, strict=True))


@pytest.mark.parametrize("abbreviated", [["--res", "5"], ["--sett", "hd5"]])
def test_the_options_rest_strips_from_its_children_are_not_abbreviated(
    abbreviated: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Each child of --rest gets the command without --rest and --setting. An abbreviation
    # passed through: `--res 5` made every child start children of its own, without end.
    speed = _module("speed")
    with pytest.raises(SystemExit):
        speed._parser().parse_args(abbreviated)
    assert "unrecognized arguments" in capsys.readouterr().err
