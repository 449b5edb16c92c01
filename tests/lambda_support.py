"""Builders for the Lambda tests: payload objects from the crowd simulator, S3 helpers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from gtconsensus.testing.synthetic import (
    DEFAULT_POOL,
    make_scene,
    simulate_worker,
    worker_answer,
)

__all__ = [
    "BUCKET",
    "EVENTS",
    "answers_for",
    "event_fixture",
    "payload_object",
]

BUCKET = "gtconsensus-test-jobs"
EVENTS = Path(__file__).parent / "fixtures" / "lambda"


def event_fixture(name: str) -> dict[str, Any]:
    """One of the realistic event files under ``tests/fixtures/lambda``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event


@cache
def answers_for(
    seed: int, *, workers: int = 3, height: int = 48, width: int = 64, instances: int = 3
) -> tuple[tuple[str, str], ...]:
    """``(workerId, content JSON string)`` per worker of one simulated image (cached)."""
    rng = np.random.default_rng(seed)
    truth = make_scene(rng, height=height, width=width, n_instances=instances)
    answers = []
    for profile in DEFAULT_POOL[:workers]:
        drawn = simulate_worker(
            rng, truth.labels, truth.classes, boundary_noise=profile.boundary_noise,
            miss_rate=profile.miss_rate, spurious_rate=profile.spurious_rate,
        )  # fmt: skip
        content = json.dumps(worker_answer(drawn.labels, drawn.classes), separators=(",", ":"))
        answers.append((profile.worker_id, content))
    return tuple(answers)


def payload_object(
    dataset_object_id: str,
    answers: Sequence[tuple[str, str]],
    *,
    by_reference: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One payload object; answers whose worker is in ``by_reference`` are given by ``s3Uri``."""
    refs = by_reference or {}
    return {
        "datasetObjectId": dataset_object_id,
        "dataObject": {"s3Uri": f"s3://{BUCKET}/images/street-{dataset_object_id}.jpg"},
        "annotations": [
            {"workerId": worker_id,
             "annotationData": {"s3Uri": refs[worker_id]} if worker_id in refs
             else {"content": content}}
            for worker_id, content in answers
        ],
    }  # fmt: skip
