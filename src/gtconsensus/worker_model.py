"""The worker model of the job-level method: parameters per worker, existence, JSON.

:class:`WorkerModel` is what :func:`gtconsensus.job.fit_worker_model` learns from a
job, and what a later run or a Lambda loads to decide objects without fitting
again (``gtconsensus consolidate --worker-model FILE``). See :mod:`gtconsensus.job`
for the model itself.

The JSON document (``to_json``) is versioned::

    {"format": "gtconsensus.worker-model", "version": 1,
     "instancesPerObject": 2.6, "coincidence": 0.05, "objects": 150, "candidates": 420,
     "iterations": 31, "converged": true,
     "default": {...the parameters of an unknown worker...},
     "workers": {"<workerId>": {"reliability": 1.31, "sensitivity": 0.96,
                                "falsePositiveRate": 0.1, "boundaryQuality": 0.86,
                                "classAccuracy": 0.99, "objects": 150, "instances": 399,
                                "expectedReal": 380.2}}}

``reliability`` is the worker's weight in the pixel and class votes (1.0 for an
unknown worker).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gtconsensus.consensus import ObjectEvidence
from gtconsensus.evidence import candidate_groups
from gtconsensus.exceptions import OptionsError

__all__ = [
    "COINCIDENCE",
    "DOMINANCE",
    "INFORMATIVE",
    "MODEL_FORMAT",
    "WorkerModel",
    "WorkerParameters",
    "pixel_weight",
]

#: ``format`` of the JSON document; ``version`` changes when its meaning does.
MODEL_FORMAT = "gtconsensus.worker-model"
_MODEL_VERSION = 1
#: Default chance that a spurious drawing lands on another worker's candidate.
COINCIDENCE = 0.05
#: A group of unmatched drawings is judged as one object when its best candidate's
#: members weigh this many times any other candidate's.
DOMINANCE = 1.5
#: Workers whose sensitivity is below this (spammers, lazy workers) do not count
#: towards telling a miss from an invention.
INFORMATIVE = 0.5


@dataclass(frozen=True, slots=True)
class WorkerParameters:
    """What the model learned about one worker, and the evidence behind it.

    Attributes
    ----------
    sensitivity : float
        Probability of drawing a real instance (recall).
    false_positive_rate : float
        Expected spurious instances per object answered.
    boundary_quality : float
        Mean IoU of the worker's instances with the other workers' fused shapes.
    class_accuracy : float
        Probability that the worker's class for a real instance is right.
    reliability : float
        Weight in the pixel and class votes (1.0 for the default worker).
    objects : int
        Objects the worker answered.
    instances : int
        Candidates the worker drew.
    expected_real : float
        Posterior-expected real instances among them (sensitivity's numerator).
    """

    sensitivity: float
    false_positive_rate: float
    boundary_quality: float
    class_accuracy: float
    reliability: float = 1.0
    objects: int = 0
    instances: int = 0
    expected_real: float = 0.0

    @property
    def precision(self) -> float:
        """Expected share of the worker's instances that are real."""
        return self.expected_real / self.instances if self.instances else 1.0


def pixel_weight(boundary_quality: float, precision: float = 1.0) -> float:
    """A worker's vote weight: ``precision * (b / (1 - b)) ** 2`` (before normalising).

    Examples
    --------
    >>> round(pixel_weight(0.9), 6), round(pixel_weight(0.5, 0.5), 6)
    (81.0, 0.5)
    """
    b = min(max(boundary_quality, 0.01), 0.99)
    return max(precision, 0.01) * (b / (1.0 - b)) ** 2


@dataclass(frozen=True, slots=True, eq=False)
class WorkerModel:
    """Job-level worker parameters, per-object existence and weights; JSON round trip.

    Attributes
    ----------
    workers : mapping of str to WorkerParameters
        Sorted by worker id.
    default : WorkerParameters
        For a worker the model has not seen (pooled estimates).
    instances_per_object : float
        ``lam``: real instances per object.
    coincidence : float
        ``kappa``.
    objects, candidates : int
        Evidence behind the model.
    iterations : int
        EM iterations run.
    converged : bool
    """

    workers: Mapping[str, WorkerParameters]
    default: WorkerParameters
    instances_per_object: float
    coincidence: float = COINCIDENCE
    objects: int = 0
    candidates: int = 0
    iterations: int = 0
    converged: bool = True

    def parameters(self, worker_id: str) -> WorkerParameters:
        """A worker's parameters; the default ones for an unknown worker."""
        return self.workers.get(worker_id, self.default)

    def weights(self) -> dict[str, float]:
        """``{worker_id: reliability}`` for :func:`gtconsensus.decide`."""
        return {w: p.reliability for w, p in self.workers.items()}

    def existence(self, evidence: ObjectEvidence) -> tuple[float, ...]:
        """Posterior that each candidate of an object exists (in candidate order).

        Candidates that are drawings of one object which failed to match
        (:func:`~gtconsensus.evidence.candidate_groups`) are judged together when
        one of them is clearly the most reliable (its members weigh at least
        :data:`DOMINANCE` times any other's): it carries the group's posterior and
        the others get 0.0 (they would duplicate it). When the model cannot tell
        which drawing is better, each candidate is judged on its own.

        When at most two of the answering workers are informative (sensitivity at
        least :data:`INFORMATIVE`), a miss by one cannot be told from an invention
        by the other; a candidate the informative workers disagree on is then
        kept only when its side weighs :data:`DOMINANCE` times the other side
        (and the model agrees).
        """
        params = [self.parameters(w) for w in evidence.worker_ids]
        s = np.array([p.sensitivity for p in params], dtype=np.float64)
        f = np.array([p.false_positive_rate for p in params], dtype=np.float64)
        weight = [p.reliability for p in params]
        n = len(params)
        miss_all = float(np.sum(np.log1p(-s)))

        informative = [w for w in range(n) if s[w] >= INFORMATIVE]

        def posterior(members: list[int]) -> float:
            if len(members) == n:
                return 1.0  # unanimous: nothing to judge
            if len(informative) <= 2:
                # Who missed and who invented cannot be told apart with two workers who
                # find things: follow the model only for a clearly more reliable side.
                absent = [w for w in informative if w not in members]
                drawn = sum(weight[w] for w in members)
                if absent and drawn < DOMINANCE * sum(weight[w] for w in absent):
                    return 0.0
            real = (math.log(self.instances_per_object) + miss_all
                    + float(np.sum(np.log(s[members]) - np.log1p(-s[members]))))  # fmt: skip
            spurious = float(np.sum(np.log(f[members])))
            spurious += (len(members) - 1) * math.log(self.coincidence)
            return _sigmoid(real - spurious)

        result = [0.0] * len(evidence.candidates)
        for group in candidate_groups(evidence):
            strength = {i: sum(weight[w] for w in evidence.candidates[i].workers) for i in group}
            ranked = sorted(group, key=lambda i: (-strength[i], i))
            if len(group) > 1 and strength[ranked[0]] < DOMINANCE * strength[ranked[1]]:
                for i in group:
                    result[i] = posterior(list(evidence.candidates[i].workers))
                continue
            result[ranked[0]] = posterior(
                [w for i in group for w in evidence.candidates[i].workers]
            )
        return tuple(result)

    def to_json(self) -> str:
        """The model as a JSON document (versioned; floats as they are).

        Examples
        --------
        >>> default = WorkerParameters(0.9, 0.1, 0.8, 0.95)
        >>> text = WorkerModel({"w": default}, default, 2.0).to_json()
        >>> json.loads(text)["workers"]["w"]["reliability"]
        1.0
        >>> WorkerModel.from_json(text).to_json() == text
        True
        """
        return json.dumps(
            {
                "format": MODEL_FORMAT,
                "version": _MODEL_VERSION,
                "instancesPerObject": self.instances_per_object,
                "coincidence": self.coincidence,
                "objects": self.objects,
                "candidates": self.candidates,
                "iterations": self.iterations,
                "converged": self.converged,
                "default": _params_to_json(self.default),
                "workers": {w: _params_to_json(p) for w, p in sorted(self.workers.items())},
            },
            indent=1,
            ensure_ascii=False,
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerModel:
        """Read a document written by :meth:`to_json`.

        Raises
        ------
        OptionsError
            ``bad_worker_model`` when it is not such a document (or another version).
        """
        try:
            data = json.loads(text)
            if data.get("format") != MODEL_FORMAT or data.get("version") != _MODEL_VERSION:
                raise ValueError(
                    f"expected format {MODEL_FORMAT!r} version {_MODEL_VERSION}, got "
                    f"{data.get('format')!r} version {data.get('version')!r}"
                )
            return cls(
                workers={str(w): _params_from_json(p) for w, p in data["workers"].items()},
                default=_params_from_json(data["default"]),
                instances_per_object=_positive(data["instancesPerObject"]),
                coincidence=_positive(data["coincidence"]),
                objects=int(data["objects"]),
                candidates=int(data["candidates"]),
                iterations=int(data["iterations"]),
                converged=bool(data["converged"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OptionsError("bad_worker_model", f"not a worker model: {exc}") from exc


_JSON_KEYS = {
    "reliability": "reliability", "sensitivity": "sensitivity",
    "falsePositiveRate": "false_positive_rate", "boundaryQuality": "boundary_quality",
    "classAccuracy": "class_accuracy", "objects": "objects", "instances": "instances",
    "expectedReal": "expected_real",
}  # fmt: skip


def _params_to_json(p: WorkerParameters) -> dict[str, Any]:
    values = asdict(p)
    return {key: values[attr] for key, attr in _JSON_KEYS.items()}


def _positive(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]  # validated right here
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"expected a positive number, got {value!r}")
    return number


def _params_from_json(data: Mapping[str, Any]) -> WorkerParameters:
    p = WorkerParameters(
        sensitivity=float(data["sensitivity"]),
        false_positive_rate=_positive(data["falsePositiveRate"]),
        boundary_quality=float(data["boundaryQuality"]),
        class_accuracy=float(data["classAccuracy"]),
        reliability=_positive(data["reliability"]),
        objects=int(data["objects"]),
        instances=int(data["instances"]),
        expected_real=float(data["expectedReal"]),
    )
    if not 0.0 < p.sensitivity < 1.0:
        raise ValueError(f"sensitivity must be in (0, 1), got {p.sensitivity}")
    return p


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
