"""The Dask engine on a local cluster of worker processes: the same output as the local engine."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import dask.bag as db
import pytest
from distributed import Client, LocalCluster

from clusters import local_cluster
from gtconsensus import cli
from gtconsensus.adapters.dask_engine import consolidate_bag, write_outcomes
from gtconsensus.adapters.manifest import ManifestOptions, consolidate_manifest
from support import Terminal
from test_offline import _with_bad_lines, simulated


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines, _ = _with_bad_lines(list(simulated(24, seed=13, side=16).manifest_lines()), 9)
    path = tmp_path_factory.mktemp("dask") / "in.manifest"
    path.write_text("\n".join(lines) + "\n")
    return path


def _engine(engine: str, cluster: LocalCluster) -> list[str]:
    """The command line's engine options: the scheduler goes with the Dask engine only."""
    if engine == "dask":
        return ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    return ["--engine", engine]


def _local(source: Path, folder: Path, method: str) -> list[bytes]:
    out = folder / f"local-{method}"
    code = cli.main(["consolidate", str(source), "-o", str(out), "-q", "--jobs", "1",
                     "--method", method, "--workers", f"{out}.csv"])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    return [
        out.read_bytes(),
        Path(f"{out}.errors.jsonl").read_bytes(),
        Path(f"{out}.csv").read_bytes(),
    ]


def test_cli_dask_engine_equals_the_local_engine(
    cluster: LocalCluster, source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dask"
    code = cli.main(["consolidate", str(source), "-o", str(out), "-q", "--method", "job",
                     "--engine", "dask", "--scheduler", cluster.scheduler_address,
                     "--workers", f"{out}.csv"])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    got = [
        out.read_bytes(),
        Path(f"{out}.errors.jsonl").read_bytes(),
        Path(f"{out}.csv").read_bytes(),
    ]
    assert got == _local(source, tmp_path, "job")
    assert b'"job-level"' in got[0]


def test_python_api_on_a_bag_of_several_partitions(
    cluster: LocalCluster, source: Path, tmp_path: Path
) -> None:
    with Client(cluster) as client, client.as_current():
        lines = db.read_text(str(source), blocksize=source.stat().st_size // 4)
        assert lines.npartitions >= 3
        run = consolidate_bag(lines, ManifestOptions(method="image"))
        summary = write_outcomes(run, str(tmp_path / "out"), errors_path=str(tmp_path / "err"))
        outputs = run.outputs().compute()
    local = _local(source, tmp_path, "image")
    assert (tmp_path / "out").read_bytes() == local[0]
    assert (tmp_path / "err").read_bytes() == local[1]
    assert "\n".join(outputs) + "\n" == local[0].decode()
    assert summary.failed > 0


def test_gold_answers_on_the_dask_engine_equal_the_local_engine(
    cluster: LocalCluster, source: Path, tmp_path: Path
) -> None:
    consolidated = _local(source, tmp_path, "image")[0].decode().splitlines()
    gold = tmp_path / "gold.manifest"  # some lines' consensus, taken as gold
    gold.write_text("\n".join(consolidated[i] for i in (0, 5, 11)) + "\n")
    outputs = []
    for engine in ("local", "dask"):
        out = tmp_path / f"gold-{engine}"
        code = cli.main(["consolidate", str(source), "-o", str(out), "-q", "--jobs", "1",
                         "--method", "job", "--gold", str(gold), *_engine(engine, cluster),
                         "--workers", f"{out}.csv"])  # fmt: skip
        assert code == cli.EXIT_FAILED_LINES
        outputs.append([out.read_bytes(), Path(f"{out}.csv").read_bytes()])
    assert outputs[0] == outputs[1]
    assert outputs[0][0].count(b'"method":"gold"') == 3


def _recorder() -> tuple[dict[str, list[int]], Callable[[str, int, int], None]]:
    seen: dict[str, list[int]] = {}

    def progress(phase: str, lines: int, nbytes: int) -> None:
        totals = seen.setdefault(phase, [0, 0])
        totals[0] += lines
        totals[1] += nbytes

    return seen, progress


@pytest.mark.parametrize("method", ["job", "image"])
def test_progress_follows_the_partitions_as_the_local_engine_reports(
    cluster: LocalCluster, source: Path, tmp_path: Path, method: str
) -> None:
    local_seen, local_progress = _recorder()
    consolidate_manifest(str(source), str(tmp_path / "local"), options=ManifestOptions(
        method=method), progress=local_progress)  # fmt: skip
    seen, progress = _recorder()
    with Client(cluster) as client, client.as_current():
        lines = db.read_text(str(source), blocksize=source.stat().st_size // 4)
        assert lines.npartitions >= 3
        run = consolidate_bag(lines, ManifestOptions(method=method), progress=progress)
        write_outcomes(run, str(tmp_path / "out"), progress=progress)
    phases = ["pass 1", "pass 2"] if method == "job" else ["consolidating"]
    assert list(seen) == list(local_seen) == phases
    assert seen[phases[0]] == local_seen[phases[0]]  # lines and bytes read
    assert seen[phases[-1]][0] == local_seen[phases[-1]][0]  # lines written
    if method == "job":  # pass 2 by the bytes of pass 1 (the local engine's pass 2: none)
        assert seen["pass 2"][1] == seen["pass 1"][1]


def test_cli_dask_engine_shows_a_progress_bar_on_a_terminal(
    cluster: LocalCluster, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    code = cli.main(["consolidate", str(source), "-o", str(tmp_path / "out"), "--method", "job",
                     "--engine", "dask", "--scheduler", cluster.scheduler_address])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    assert "lines/s" in screen.getvalue()
    assert "pass 2" in screen.getvalue()


def test_gold_answers_reach_the_graph_once_not_with_every_partition(
    source: Path, tmp_path: Path
) -> None:
    from gtconsensus.review.gold_answers import load_gold

    consolidated = _local(source, tmp_path, "image")[0].decode().splitlines()
    gold_path = tmp_path / "gold.manifest"
    gold_path.write_text("\n".join(consolidated[i] for i in (0, 5, 11)) + "\n")
    options = ManifestOptions(method="job", gold=load_gold(str(gold_path)).answers)
    marker = next(iter(options.gold or {})).encode()  # a gold source-ref
    lines = db.read_text(str(source), blocksize=source.stat().st_size // 4)
    assert lines.npartitions >= 3
    run = consolidate_bag(lines, options)  # Dask's default scheduler: no cluster needed
    graph = dict(run.outcomes.__dask_graph__())
    holding = [key for key, task in graph.items() if marker in pickle.dumps(task)]
    assert len(holding) == 1  # each task pickled alone, as the scheduler ships it


def test_a_min_area_class_no_answer_has_is_warned_of_as_by_the_local_engine(
    cluster: LocalCluster, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warnings = []
    for engine in ("local", "dask"):
        code = cli.main(["consolidate", str(source), "-o", str(tmp_path / engine), "-q",
                         "--method", "job", "--min-area", "Buss=5",
                         *_engine(engine, cluster)])  # fmt: skip
        assert code == cli.EXIT_FAILED_LINES
        warnings.append([line for line in capsys.readouterr().err.splitlines() if "Buss" in line])
    expected = ("gtconsensus: warning: --min-area names classes that no answer has: 'Buss' "
                "(classes seen: 'Bicycle', 'Car', 'Person')")  # fmt: skip
    assert warnings[0] == warnings[1] == [expected]
