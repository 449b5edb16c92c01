"""Gold answers: reviewed answers that anchor the job-level model and are the output.

For some objects of a job a reviewed answer may exist (an expert's, or an
adjustment job's, see ``docs/quality-loop.md``). It enters the job as one more
answer, under the reserved id :data:`GOLD_WORKER` (:func:`with_gold`), so that
:func:`~gtconsensus.gather` matches the workers' instances to it. Then:

- the job-level model (:func:`gtconsensus.job.fit_worker_model` with
  ``gold_worker=GOLD_WORKER``) takes a candidate of such an object as real
  exactly when gold drew it: the workers' sensitivity, false-positive rate,
  boundary and class quality are learned against gold there, against the
  model's posteriors elsewhere;
- :func:`decide_gold` decides such an object: the consensus is the gold answer
  (every instance, its pixels and its class), with confidence 1.0, and each
  worker is scored against it (the leave-one-out consensus of the others is
  gold's, which outweighs every worker). The gold "worker" is left out of the
  scores.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.consensus import WorkerAnnotation, gather
>>> truth = np.zeros((4, 6), np.uint8); truth[1:3, 1:3] = 1; truth[1:3, 4:6] = 2
>>> sloppy = np.zeros((4, 6), np.uint8); sloppy[1:3, 1:4] = 1
>>> answers = [WorkerAnnotation(w, sloppy, ("Car",)) for w in ("a", "b")]
>>> evidence = gather(with_gold(answers, truth, ("Car", "Bus")))
>>> consensus = decide_gold(evidence)
>>> bool((consensus.labels == truth).all()), [i.label for i in consensus.instances]
(True, ['Car', 'Bus'])
>>> [(s.worker_id, s.versus_consensus.fn) for s in consensus.workers]
[('a', 1), ('b', 1)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from gtconsensus._typing import LabelImage
from gtconsensus.consensus import Consensus, ObjectEvidence, WorkerAnnotation, decide
from gtconsensus.exceptions import InputError, OptionsError

__all__ = ["GOLD_WEIGHT", "GOLD_WORKER", "METHOD_GOLD", "decide_gold", "with_gold"]

#: The reserved worker id of a gold answer (no Ground Truth worker id has a colon).
GOLD_WORKER = "gtconsensus:gold"
#: ``consensus.method`` of an object decided by its gold answer.
METHOD_GOLD = "gold"
#: The gold answer's vote weight: it outweighs any panel of workers (each weighs
#: at most a few units), so every pixel and class vote goes its way.
GOLD_WEIGHT = 1e6


def with_gold(
    annotations: Sequence[WorkerAnnotation], labels: LabelImage, classes: Sequence[str]
) -> list[WorkerAnnotation]:
    """The workers' answers and the gold answer (as :data:`GOLD_WORKER`).

    Raises
    ------
    InputError
        ``duplicate_worker`` when a worker already uses the reserved id.
    """
    if any(a.worker_id == GOLD_WORKER for a in annotations):
        raise InputError("duplicate_worker", f"worker id {GOLD_WORKER!r} is reserved for gold")
    gold = WorkerAnnotation(GOLD_WORKER, np.asarray(labels), tuple(classes))
    return [*annotations, gold]


def decide_gold(evidence: ObjectEvidence, *, gold_worker: str = GOLD_WORKER) -> Consensus:
    """The consensus of an object with a gold answer: the gold answer, workers scored on it.

    Raises
    ------
    OptionsError
        ``bad_option`` when ``gold_worker`` did not answer the object.
    """
    if gold_worker not in evidence.worker_ids:
        raise OptionsError("bad_option", f"{gold_worker!r} did not answer this object")
    g = evidence.worker_ids.index(gold_worker)
    existence = [1.0 if any(w == g for w, _ in c.members) else 0.0 for c in evidence.candidates]
    decided = decide(
        evidence, weights={gold_worker: GOLD_WEIGHT}, existence=existence, method=METHOD_GOLD
    )
    instances = tuple(
        dataclasses.replace(
            i, confidence=1.0, support=tuple(w for w in i.support if w != gold_worker)
        )
        for i in decided.instances
    )
    workers = tuple(s for s in decided.workers if s.worker_id != gold_worker)
    return dataclasses.replace(decided, instances=instances, workers=workers, confidence=1.0)
