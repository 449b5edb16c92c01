"""The --resume checkpoint: a fingerprint is compared after a JSON round trip, so it must
survive one, or a run with those options never resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gtconsensus import cli
from gtconsensus.adapters.checkpoint import fingerprint
from gtconsensus.adapters.manifest import ManifestOptions
from harness import finish_line_interrupted_at
from test_offline import simulated


@pytest.mark.parametrize("min_area", [0, 12, {"car": 10, "person": 5}])
def test_a_fingerprint_is_the_same_after_a_json_round_trip(min_area: Any) -> None:
    key = fingerprint("in.manifest", ManifestOptions(min_area=min_area), "gt-label")
    assert json.loads(json.dumps(key)) == key


def test_a_run_with_a_minimum_area_per_class_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gtconsensus.adapters.manifest as adapter

    source = tmp_path / "in.manifest"
    source.write_text("\n".join(simulated(40, seed=21, side=8).manifest_lines()) + "\n")
    area = ["--min-area", "car=4", "--min-area", "person=2"]
    out = tmp_path / "out"
    args = ["consolidate", str(source), "-o", str(out), "-q", "--method", "image", "--jobs", "1",
            "--resume", *area]  # fmt: skip
    monkeypatch.setattr(adapter, "_CHECKPOINT_S", 0.0)
    with monkeypatch.context() as patch:
        patch.setattr(adapter, "finish_line", finish_line_interrupted_at(20))
        with pytest.raises(KeyboardInterrupt):
            cli.main(args)
    assert json.loads((tmp_path / "out.partial.json").read_text())["line"] > 10
    capsys.readouterr()
    assert cli.main([a for a in args if a != "-q"]) == cli.EXIT_OK
    assert "resumed after input line" in capsys.readouterr().err
    whole = tmp_path / "whole"
    plain = ["consolidate", str(source), "-o", str(whole), "-q", "--method", "image",
             "--jobs", "1", *area]  # fmt: skip
    assert cli.main(plain) == cli.EXIT_OK
    assert out.read_bytes() == whole.read_bytes()


@pytest.mark.parametrize("errors", [(None, "errors.jsonl"), ("errors.jsonl", None)])
def test_a_checkpoint_of_other_files_starts_the_run_over(
    tmp_path: Path, errors: tuple[str | None, str | None]
) -> None:
    # The files written are not in the fingerprint: a checkpoint of the output alone,
    # resumed with an error file too (or the reverse), is not this run's.
    import contextlib

    from gtconsensus.adapters.checkpoint import Sink
    from gtconsensus.adapters.manifest import RunSummary

    out = str(tmp_path / "out")
    before, now = (None if e is None else str(tmp_path / e) for e in errors)
    with contextlib.ExitStack() as stack:
        sink = Sink(stack, out, before, resume=True, fingerprint={"k": 1}, summary=RunSummary())
        sink.out.write("written\n")
        sink.done_through = 3
        sink.save()
    with contextlib.ExitStack() as stack:
        sink = Sink(stack, out, now, resume=True, fingerprint={"k": 1}, summary=RunSummary())
        assert sink.done_through == -1
        assert sink.out.tell() == 0
