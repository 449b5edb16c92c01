"""Gold answers: the job-level model scores workers against gold, and gold is the output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtconsensus.consensus import WorkerAnnotation, gather
from gtconsensus.evidence import EvidenceTable
from gtconsensus.exceptions import InputError
from gtconsensus.gold import GOLD_WORKER, METHOD_GOLD, decide_gold, with_gold
from gtconsensus.job import fit_worker_model
from gtconsensus.review.gold_answers import read_gold_answers
from gtconsensus.review.outputs import iter_output_objects
from gtconsensus.testing.crowd import STYLES, SimulatedJob, renamed, simulate_job
from review_data import FAILED_LINE, write_job
from support import same_partition


@pytest.fixture(scope="module")
def job() -> SimulatedJob:
    styles = (renamed(STYLES["good"], "good"), renamed(STYLES["poor"], "poor"),
              renamed(STYLES["spammer"], "spammer"))  # fmt: skip
    return simulate_job(7, styles, n_images=12, height=60, width=80)


def test_gold_answer_is_the_output_pixel_for_pixel(job: SimulatedJob) -> None:
    for image in job.images:
        truth = image.truth
        evidence = gather(with_gold(image.answers, truth.labels, truth.classes))
        consensus = decide_gold(evidence)
        assert consensus.method == METHOD_GOLD
        assert same_partition(consensus.labels, truth.labels)
        for k, instance in enumerate(consensus.instances, start=1):
            label = truth.labels[consensus.labels == k][0]
            assert instance.label == truth.classes[label - 1]
            assert instance.confidence == 1.0
            assert GOLD_WORKER not in instance.support
        assert [s.worker_id for s in consensus.workers] == sorted(
            a.worker_id for a in image.answers
        )
        assert consensus.confidence == 1.0


def test_workers_are_scored_against_gold_on_gold_objects(job: SimulatedJob) -> None:
    evidence = [gather(with_gold(i.answers, i.truth.labels, i.truth.classes)) for i in job.images]
    table = EvidenceTable.from_evidence(evidence)
    model = fit_worker_model(table, gold_worker=GOLD_WORKER)
    assert GOLD_WORKER not in model.workers
    # Every object has gold, so sensitivity is the smoothed share of gold candidates drawn.
    g = table.worker_ids.index(GOLD_WORKER)
    gold_candidates = set(table.member_candidate[table.member_worker == g].tolist())
    for worker, params in model.workers.items():
        w = table.worker_ids.index(worker)
        drawn = set(table.member_candidate[table.member_worker == w].tolist())
        answered = set(table.object_of_answer[table.object_workers == w].tolist())
        seen = [c for c in gold_candidates if int(table.candidate_object[c]) in answered]
        expected = (len(drawn & gold_candidates) + 1.0) / (len(seen) + 2.0)
        assert params.sensitivity == pytest.approx(expected)
    assert model.workers["good"].sensitivity > model.workers["spammer"].sensitivity


def test_without_gold_answers_the_model_is_unchanged(job: SimulatedJob) -> None:
    table = EvidenceTable.from_evidence(gather(i.answers) for i in job.images)
    plain = fit_worker_model(table)
    named = fit_worker_model(table, gold_worker=GOLD_WORKER)
    assert plain.workers == named.workers
    assert plain.default == named.default


def test_the_gold_id_is_reserved() -> None:
    labels = np.zeros((2, 2), np.uint8)
    with pytest.raises(InputError, match="reserved"):
        with_gold([WorkerAnnotation(GOLD_WORKER, labels, ())], labels, ())


def test_gold_manifest_gives_the_consensus_of_each_consolidated_line(tmp_path: Path) -> None:
    manifest = write_job(tmp_path)
    gold = read_gold_answers(manifest)
    objects = [o for o in iter_output_objects(manifest) if o.line != FAILED_LINE]
    assert len(gold) == len(objects)
    for obj in objects:
        assert obj.source_ref is not None
        assert obj.labels is not None
        answer = gold[obj.source_ref]
        assert (answer.labels == obj.labels).all()
        assert answer.classes == tuple(i.label for i in obj.instances)
