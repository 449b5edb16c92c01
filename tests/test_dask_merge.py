"""Several inputs on the Dask engine: the local engine's merged run, byte for byte.

The inputs are merged on the client, staged as part files the workers read, and
consolidated on a ``LocalCluster`` of worker processes; the output, the error file (with
its ``file``, ``line`` and ``sources`` fields) and the worker table must equal the local
engine's on the same inputs and options, with the per-image and the job-level method.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import LocalCluster

from gtconsensus import cli
from gtconsensus.adapters import dask_engine
from gtconsensus.adapters.dask_engine import consolidate_with_dask
from gtconsensus.adapters.manifest import ManifestOptions, RunSummary, write_worker_table
from gtconsensus.adapters.merge import consolidate_manifests
from gtconsensus.exceptions import OptionsError
from gtconsensus.limits import Limits
from support import Terminal
from test_offline import simulated
from test_offline_dask import _engine, cluster
from test_resume_merge import _split_job

__all__ = ["cluster"]  # the LocalCluster fixture, used by name

ATTR = "gt-label"
RAW = "annotationsFromAllWorkers"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three inputs: ``a`` and ``b`` (``_split_job``: a line that is not JSON, a line with no
    answers, images only ``b`` has) and an adjustment round ``c``: one more answer for three
    images, and a line whose worker-response file is missing (it fails, alone)."""
    folder = tmp_path_factory.mktemp("dask-merge")
    a, b = _split_job(folder, copies=1)
    first = [json.loads(x) for x in a.read_text().splitlines() if x.startswith('{"')]
    adjusted = [
        {"source-ref": x["source-ref"],
         "adjust": {RAW: [{**x[ATTR][RAW][0], "workerId": "private.adjuster"}]},
         "adjust-metadata": {"job-name": "adjust"}}
        for x in first[3:6]
    ]  # fmt: skip
    missing = {"source-ref": first[7]["source-ref"], "adjust": {},
               "adjust-metadata": {"worker-response-ref": str(folder / "gone.json")}}  # fmt: skip
    c = folder / "c.manifest"
    c.write_text("".join(json.dumps(x) + "\n" for x in [adjusted[0], missing, *adjusted[1:]]))
    return [a, b, c]


def _files(out: Path, summary: RunSummary) -> list[bytes]:
    write_worker_table(summary.worker_rows(), f"{out}.csv")
    return [out.read_bytes(), Path(f"{out}.errors").read_bytes(), Path(f"{out}.csv").read_bytes()]


def _recorder() -> tuple[dict[str, list[int]], Callable[[str, int, int], None]]:
    seen: dict[str, list[int]] = {}

    def progress(phase: str, lines: int, nbytes: int) -> None:
        totals = seen.setdefault(phase, [0, 0, 0])
        totals[0] += lines
        totals[1] += nbytes
        totals[2] += 1  # calls: one per partition on the Dask engine

    return seen, progress


def _local(paths: list[Path], out: Path, method: str, **kwargs: Any) -> list[bytes]:
    kwargs.setdefault("options", ManifestOptions(method=method))
    summary = consolidate_manifests(
        [str(p) for p in paths], str(out), errors_path=f"{out}.errors", **kwargs
    )
    return _files(out, summary)


@pytest.mark.parametrize("method", ["job", "image"])
def test_several_inputs_on_a_cluster_equal_the_local_engine(
    cluster: LocalCluster, inputs: list[Path], tmp_path: Path, method: str
) -> None:
    local_seen, local_progress = _recorder()
    expected = _local(inputs, tmp_path / "local", method, progress=local_progress)
    seen, progress = _recorder()
    out = tmp_path / "dask"
    summary = consolidate_with_dask(
        [str(p) for p in inputs], str(out), scheduler=cluster.scheduler_address,
        errors_path=f"{out}.errors", options=ManifestOptions(method=method),
        blocksize=4096, progress=progress, jobs=2,
    )  # fmt: skip
    assert _files(out, summary) == expected
    assert summary.method == ("job-level" if method == "job" else "per-image-majority")
    assert seen["pass 1" if method == "job" else "consolidating"][2] >= 4  # partitions
    assert list(seen) == list(local_seen)
    for phase, (lines, nbytes, _) in seen.items():  # as the local engine reports them
        assert lines == local_seen[phase][0]
        assert nbytes == local_seen[phase][1] or phase == "pass 2"  # local pass 2: no bytes
    errors = [json.loads(x) for x in expected[1].decode().splitlines()]
    assert [(e["code"], Path(e["file"]).name) for e in errors] == [
        ("bad_json", "a.manifest"), ("missing_answers", "b.manifest"),
        ("not_found", "c.manifest"),
    ]  # fmt: skip
    assert len({len(e.get("sources", [])) for e in errors}) == 1  # each failed line alone
    outputs = [json.loads(x) for x in expected[0].decode().splitlines()]
    merged = [o.get(f"{ATTR}-metadata", {}).get("gtconsensus-merged") for o in outputs]
    counts = [len(m["sources"]) for m in merged if m is not None]
    assert {1, 2, 3} <= set(counts)  # lines of one input only, of two and of all three


def test_a_failed_merged_object_names_every_input_line_on_both_engines(
    cluster: LocalCluster, inputs: list[Path], tmp_path: Path
) -> None:
    # Merged objects fail too: more answers than --max-answers 2 (each input line has 1 or 2).
    options = ManifestOptions(method="image", limits=Limits(max_answers=2))
    runs = []
    for engine in ("local", "dask"):
        out = tmp_path / engine
        paths = [str(p) for p in inputs]
        if engine == "local":
            summary = consolidate_manifests(paths, str(out), errors_path=f"{out}.errors",
                                            options=options)  # fmt: skip
        else:
            summary = consolidate_with_dask(paths, str(out), errors_path=f"{out}.errors",
                                            options=options, blocksize=4096,
                                            scheduler=cluster.scheduler_address)  # fmt: skip
        runs.append(_files(out, summary))
    assert runs[0] == runs[1]
    errors = [json.loads(x) for x in runs[0][1].decode().splitlines()]
    merged = [e for e in errors if "sources" in e]
    assert merged
    assert all(e["sources"][0] == {"file": e["file"], "line": e["line"]} for e in merged)


@pytest.mark.parametrize("method", ["job", "image"])
def test_the_cli_consolidates_several_inputs_on_the_dask_engine(
    cluster: LocalCluster, inputs: list[Path], tmp_path: Path, method: str
) -> None:
    staged: list[str | None] = []
    real_folder = dask_engine._staging_folder

    def spy(staging: str | None) -> Any:
        staged.append(staging)
        return real_folder(staging)

    runs = []
    staging = tmp_path / "staging"
    staging.mkdir()
    for engine in ("local", "dask"):
        out = tmp_path / engine
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dask_engine, "_staging_folder", spy)
            code = cli.main(["consolidate", *map(str, inputs[:2]), "-o", str(out), "-q",
                             "--jobs", "1", "--method", method, *_engine(engine, cluster),
                             *(["--staging", str(staging)] if engine == "dask" else []),
                             "--workers", f"{out}.csv"])  # fmt: skip
        assert code == cli.EXIT_FAILED_LINES
        runs.append([out.read_bytes(), Path(f"{out}.errors.jsonl").read_bytes(),
                     Path(f"{out}.csv").read_bytes()])  # fmt: skip
    assert runs[0] == runs[1]
    assert b'"sources"' in runs[0][0]
    assert staged == [str(staging)]  # --staging reached the Dask engine (and only it)
    assert list(staging.iterdir()) == []  # the staged parts are removed


def test_the_merged_lines_can_be_staged_at_a_url(inputs: list[Path], tmp_path: Path) -> None:
    import fsspec  # type: ignore[import-untyped]

    expected = _local(inputs, tmp_path / "local", "job")
    out = tmp_path / "dask"
    with dask.config.set(scheduler="sync"):  # memory:// is this process's: no worker process
        summary = consolidate_with_dask(
            [str(p) for p in inputs], str(out), scheduler=None, errors_path=f"{out}.errors",
            options=ManifestOptions(method="job"), blocksize=4096, staging="memory://staged",
        )  # fmt: skip
    assert _files(out, summary) == expected
    assert fsspec.filesystem("memory").ls("/staged") == []  # the parts are removed


def test_workers_that_cannot_read_the_staged_parts_stop_the_run_with_a_clear_message(
    cluster: LocalCluster, inputs: list[Path], tmp_path: Path
) -> None:
    # memory:// is this process's own: the worker processes cannot see it.
    with pytest.raises(OptionsError, match="cannot read the merged input staged in memory://"):
        consolidate_with_dask(
            [str(p) for p in inputs], str(tmp_path / "out"),
            scheduler=cluster.scheduler_address, staging="memory://elsewhere",
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_a_reference_that_failed_while_merging_fails_again_on_the_dask_engine(
    inputs: list[Path], tmp_path: Path
) -> None:
    from gtconsensus.adapters.storage import fetch as read
    from gtconsensus.exceptions import FetchError

    response = tmp_path / "response.json"
    response.write_text(json.dumps({"answers": []}))
    flaky_line = {"source-ref": "s3://simulated/flaky.jpg", "again": {},
                  "again-metadata": {"worker-response-ref": str(response)}}  # fmt: skip
    extra = tmp_path / "d.manifest"
    extra.write_text(json.dumps(flaky_line) + "\n")
    calls = {"n": 0}

    def flaky(target: str) -> bytes:
        calls["n"] += 1
        if target == str(response) and calls["n"] == 1:
            raise FetchError("fetch_failed", f"{target}: 503 Slow Down")
        return read(target)

    paths = [str(p) for p in [*inputs[:2], extra]]
    out = tmp_path / "dask"
    with dask.config.set(scheduler="sync"):  # in this process: `calls` counts every fetch
        consolidate_with_dask(paths, str(out), scheduler=None, errors_path=f"{out}.errors",
                              options=ManifestOptions(method="image", fetch=flaky))  # fmt: skip
    errors = [json.loads(x) for x in Path(f"{out}.errors").read_text().splitlines()]
    (error,) = [e for e in errors if e["file"] == str(extra)]
    assert (error["code"], error["line"]) == ("fetch_failed", 1)
    assert "503 Slow Down" in error["message"]
    assert calls["n"] == 1  # not fetched again when consolidated


def test_no_line_in_any_input_writes_empty_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("\n")
    summary = consolidate_with_dask([str(a), str(b)], str(tmp_path / "out"), scheduler=None,
                                    errors_path=str(tmp_path / "err"))  # fmt: skip
    assert (tmp_path / "out").read_bytes() == b""
    assert summary.lines == 0


def test_a_payload_file_among_the_inputs_is_read_by_the_client(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    # One input alone on the Dask engine must be JSON Lines; merged, any form the local
    # engine reads (here a consolidation-request payload, with a bad entry) works.
    job = simulated(8, seed=5, side=8)
    payload = job.lambda_payload()[:5]
    payload.insert(2, "not an object")
    (tmp_path / "payload.json").write_text(json.dumps(payload))
    (tmp_path / "more.manifest").write_text("\n".join(list(job.manifest_lines())[3:]) + "\n")
    paths = [str(tmp_path / "payload.json"), str(tmp_path / "more.manifest")]
    options = ManifestOptions(method="job", label_attribute=ATTR)
    local = _local([Path(p) for p in paths], tmp_path / "local", "job", options=options)
    out = tmp_path / "dask"
    summary = consolidate_with_dask(paths, str(out), scheduler=cluster.scheduler_address,
                                    errors_path=f"{out}.errors", options=options,
                                    blocksize=2048)  # fmt: skip
    assert _files(out, summary) == local
    (error,) = [json.loads(x) for x in local[1].decode().splitlines()]
    assert (error["file"], error["line"]) == (paths[0], 2)  # its array index


def test_the_cli_progress_bar_shows_the_merging_phases_on_the_dask_engine(
    cluster: LocalCluster, inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    code = cli.main(["consolidate", *map(str, inputs), "-o", str(tmp_path / "out"),
                     "--method", "job", "--engine", "dask",
                     "--scheduler", cluster.scheduler_address])  # fmt: skip
    assert code == cli.EXIT_FAILED_LINES
    for phase in ("reading", "merging", "pass 1", "pass 2", "lines/s"):
        assert phase in screen.getvalue()
