"""The job-level worker model: evidence table, EM, worker model JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtconsensus.consensus import WorkerAnnotation, decide, gather
from gtconsensus.evidence import EvidenceTable
from gtconsensus.exceptions import OptionsError
from gtconsensus.job import METHOD_JOB, fit_worker_model, initial_reliability
from gtconsensus.testing.crowd import STYLES, SimulatedJob, renamed, simulate_job
from gtconsensus.worker_model import WorkerModel, WorkerParameters

HONEST = ("good", "careful", "average", "poor")


def _evidence(job: SimulatedJob) -> list:  # type: ignore[type-arg]
    return [gather(image.answers) for image in job.images]


def _small_job(seed: int, names: tuple[str, ...], n_images: int, **kwargs: object) -> SimulatedJob:
    styles = [STYLES[n] for n in names]
    return simulate_job(seed, styles, n_images=n_images, height=60, width=80, **kwargs)  # type: ignore[arg-type]


@settings(max_examples=8)
@given(seed=st.integers(0, 2**16), cut=st.integers(0, 12))
def test_merging_two_halves_gives_the_model_of_the_whole(seed: int, cut: int) -> None:
    evidence = _evidence(_small_job(seed, ("good", "average", "spammer"), 12))
    whole = EvidenceTable.from_evidence(evidence)
    halves = EvidenceTable.concat(
        [EvidenceTable.from_evidence(evidence[:cut]), EvidenceTable.from_evidence(evidence[cut:])]
    )
    assert halves.equals(whole)
    assert fit_worker_model(halves).to_json() == fit_worker_model(whole).to_json()


@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), n_workers=st.integers(2, 4))
def test_the_em_never_makes_a_unanimous_answer_disappear(seed: int, n_workers: int) -> None:
    names = ("good", "spammer", "poor", "lazy")[:n_workers]
    job = _small_job(seed, names, 10, instances=(1, 4))
    evidence = _evidence(job)
    copied = job.images[0].answers[0]
    unanimous = gather([WorkerAnnotation(n, copied.labels, copied.classes) for n in names])
    model = fit_worker_model(EvidenceTable.from_evidence([*evidence, unanimous]))
    result = decide(
        unanimous, weights=model.weights(), existence=model.existence(unanimous), method=METHOD_JOB
    )
    assert len(result.instances) == len(copied.classes)
    assert all(set(i.support) == set(names) for i in result.instances)
    assert bool(((result.labels > 0) == (copied.labels > 0)).all())


@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_a_spammers_weight_drops_below_every_honest_workers(seed: int) -> None:
    job = _small_job(seed, (*HONEST, "spammer"), 40, workers_per_image=3, instances=(1, 5))
    model = fit_worker_model(EvidenceTable.from_evidence(_evidence(job)))
    spammer = model.workers["spammer"]
    honest = [model.workers[name] for name in HONEST]
    assert spammer.reliability < min(p.reliability for p in honest)
    assert spammer.sensitivity < min(p.sensitivity for p in honest)


_unit = st.floats(0.001, 0.999)
_positive = st.floats(1e-6, 1e6)


@given(
    params=st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.builds(
            WorkerParameters,
            _unit,
            _positive,
            _unit,
            _unit,
            _positive,
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.floats(0, 1e6),
        ),
        max_size=5,
    ),
    rate=_positive,
)
def test_the_worker_model_round_trips_through_json(
    params: dict[str, WorkerParameters], rate: float
) -> None:
    default = WorkerParameters(0.8, 0.2, 0.7, 0.9)
    model = WorkerModel(params, default, rate, objects=3, candidates=7, iterations=4)
    text = model.to_json()
    again = WorkerModel.from_json(text)
    assert again.to_json() == text
    assert dict(again.workers) == params
    assert json.loads(text)["workers"].keys() == params.keys()


def test_the_model_json_has_reliability_per_worker() -> None:
    model = fit_worker_model(EvidenceTable.from_evidence(_evidence(_small_job(1, HONEST, 6))))
    document = json.loads(model.to_json())
    assert document["format"] == "gtconsensus.worker-model"
    assert all(isinstance(w["reliability"], float) for w in document["workers"].values())


@pytest.mark.parametrize("text", ["{}", "[]", '{"format": "gtconsensus.worker-model"}', "nan"])
def test_a_document_that_is_not_a_worker_model_is_refused(text: str) -> None:
    with pytest.raises(OptionsError) as caught:
        WorkerModel.from_json(text)
    assert caught.value.code == "bad_worker_model"


@pytest.mark.parametrize(
    "names",
    [("good", "careful"), ("good", "spammer"), ("good", "good2", "spammer"), ("lazy", "lazy2")],
)
def test_degenerate_panels_give_finite_parameters(names: tuple[str, ...]) -> None:
    styles = [renamed(STYLES[n.rstrip("2")], n) for n in names]
    job = simulate_job(5, styles, n_images=15, height=60, width=80)
    model = fit_worker_model(EvidenceTable.from_evidence(_evidence(job)))
    values = [v for p in model.workers.values() for v in (p.sensitivity, p.reliability)]
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert model.converged


def test_everyone_agreeing_keeps_everything_and_weighs_all_alike() -> None:
    job = _small_job(2, ("good",), 8, instances=(1, 4))
    copies = [
        gather([WorkerAnnotation(w, a.labels, a.classes) for w in "abc"])
        for a in (image.answers[0] for image in job.images)
    ]
    model = fit_worker_model(EvidenceTable.from_evidence(copies))
    assert all(p == 1.0 for e in copies for p in model.existence(e))
    assert len({round(p.reliability, 9) for p in model.workers.values()}) == 1


def test_a_good_worker_paired_with_a_spammer_is_not_dragged_down() -> None:
    job = _small_job(4, ("good", "average", "spammer"), 30, instances=(1, 5))
    table = EvidenceTable.from_evidence(_evidence(job))
    start = dict(zip(table.worker_ids, initial_reliability(table).tolist(), strict=True))
    assert start["spammer"] < 0.5 * min(start["good"], start["average"])
    model = fit_worker_model(table)
    assert model.workers["good"].sensitivity > 0.85


def test_unknown_workers_use_the_default_parameters() -> None:
    model = fit_worker_model(EvidenceTable.from_evidence(_evidence(_small_job(3, HONEST, 6))))
    assert model.parameters("nobody") is model.default
    assert model.default.reliability == 1.0


def test_an_empty_table_fits_a_model() -> None:
    model = fit_worker_model(EvidenceTable.empty())
    assert model.workers == {}
    assert model.objects == 0
    assert np.isfinite(model.instances_per_object)


def test_pair_counts_do_not_depend_on_the_chunk_size() -> None:
    from gtconsensus.job import _pair_counts

    table = EvidenceTable.from_evidence(_evidence(_small_job(6, HONEST, 12)))
    both, either = _pair_counts(table)
    small_both, small_either = _pair_counts(table, cells=5)
    assert np.array_equal(both, small_both)
    assert np.array_equal(either, small_either)
