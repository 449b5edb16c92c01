"""The job-level worker model: learn who to trust across a job (Dawid-Skene at the instance level).

Every worker labels many objects, so how often they find real instances, how many
they invent, how well they draw and how often they pick the right class can be
learned from the whole job (:func:`fit_worker_model`, on an
:class:`~gtconsensus.evidence.EvidenceTable`) and used to decide each object
(:meth:`WorkerModel.existence`, :meth:`WorkerModel.weights`).

The model (a marked Poisson process per object)
------------------------------------------------
For an object answered by the workers ``A``, real instances appear at rate
``lam`` (instances per object); worker ``w`` draws each one with probability
``s[w]`` (sensitivity, recall), independently. Each worker also draws spurious
instances at rate ``f[w]`` per object. A candidate whose members are ``M``
(a subset of ``A``) is then

- real, with intensity ``lam * prod(s[M]) * prod(1 - s[A - M])``;
- spurious, with intensity ``prod(f[M]) * kappa ** (|M| - 1)``, where ``kappa``
  (fixed, 0.05) is the chance that another worker's spurious drawing lands on it.

The posterior that a candidate exists is ``real / (real + spurious)``: a
candidate that two good workers missed is unlikely whoever drew it; one drawn by
a good worker alone survives when its partners miss often, which a (weighted)
majority can never do. A candidate drawn by *every* worker who answered always
exists (posterior 1.0): there is no disagreement to judge, and the EM never
removes a unanimous answer.

EM: the E-step computes the posteriors; the M-step re-estimates ``s`` and ``f``
(prior-smoothed ratios of expected counts: Beta(4, 1) and Gamma pseudo-counts of
one spurious instance in five objects) and ``lam``. After convergence, the
boundary quality ``b[w]`` and the class accuracy (one-coin Dawid-Skene over
class names) are estimated with the posteriors as weights.

Initialisation, robust to the traps of small panels: reliabilities ``r`` from a
rank-1 fit of the matrix of pairwise detection agreement between workers on the
objects they share (``J[u, v] ~ r[u] * r[v]``); the first posteriors are each
candidate's share of the answering workers' ``r``. So a good worker paired
with a spammer is not judged by the spammer's misses, and the EM does not start
from a collapsed majority.

Boundary quality comes from every pair of members of a candidate:
``IoU[u, v] ~ b[u] * b[v]``, fitted in log space, so a careful worker among
sloppy ones is seen as careful (their IoU with the others mixes both sides'
errors). The weight of a worker in the pixel and class votes (``reliability``)
is ``p * (b / (1 - b)) ** 2``, where ``p`` is the expected share of the worker's
drawings that are real (so a spammer whose rare matches look fine still weighs
little), divided by the same for the model's default worker,
so an unknown worker weighs 1.0 (as :func:`gtconsensus.decide` assumes). The
square was chosen on the simulated panels of ``benchmarks/accuracy``: with it a
clearly better worker outvotes two poor ones on pixels, while similar workers
still vote as a majority.

Examples
--------
>>> import numpy as np
>>> from gtconsensus.consensus import WorkerAnnotation, gather
>>> labels = np.zeros((4, 4), np.uint8); labels[1:3, 1:3] = 1
>>> evidence = gather([WorkerAnnotation(w, labels, ("Car",)) for w in "abc"])
>>> model = fit_worker_model(EvidenceTable.from_evidence([evidence] * 5))
>>> model.existence(evidence)
(1.0,)
>>> sorted(model.weights()) == ["a", "b", "c"]
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gtconsensus._typing import FloatArray, IntArray
from gtconsensus.evidence import EvidenceTable
from gtconsensus.exceptions import OptionsError
from gtconsensus.worker_model import COINCIDENCE, WorkerModel, WorkerParameters, pixel_weight

__all__ = ["METHOD_JOB", "fit_worker_model", "initial_reliability"]

#: ``consensus.method`` of the job-level method.
METHOD_JOB = "job-level"

_KAPPA = COINCIDENCE
_S_PRIOR = (1.0, 1.0)  # Beta pseudo-counts of sensitivity: drawn, missed
_F_PRIOR = (0.5, 10.0)  # spurious instances, objects
_B_PRIOR = (0.7, 2.0)  # boundary quality: mean, pseudo-members
_C_PRIOR = (0.9, 2.0)  # class accuracy: mean, pseudo-members
_LAM_PRIOR = (1.0, 1.0)  # instances, objects
_CLIP = 1e-6
_WEIGHT_STEP = 1.25


def initial_reliability(table: EvidenceTable, *, iterations: int = 100) -> FloatArray:
    """Per worker, a robust starting reliability in (0, 1].

    The detection agreement of two workers on the objects both answered,
    ``J[u, v] = both drew / either drew`` over candidates, is fitted as
    ``r[u] * r[v]`` (weighted least squares, alternating). Workers who share no
    object with anyone get the median of the others.

    Examples
    --------
    >>> initial_reliability(EvidenceTable.empty()).tolist()
    []
    """
    n = len(table.worker_ids)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    both, either = _pair_counts(table)
    np.fill_diagonal(both, 0.0)
    np.fill_diagonal(either, 0.0)
    agreement = np.divide(both, either, out=np.zeros_like(both), where=either > 0)
    r = np.full(n, 0.7)
    for _ in range(iterations):
        numerator = (either * agreement) @ r
        denominator = either @ (r * r)
        r = np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), r)
        r = np.clip(r, 0.01, 1.0)
    alone = either.sum(axis=1) == 0
    if alone.any():
        r[alone] = float(np.median(r[~alone])) if (~alone).any() else 0.7
    return r


def _pair_counts(table: EvidenceTable, *, cells: int = 2**21) -> tuple[FloatArray, FloatArray]:
    """``both[u, v]``: candidates drawn by u and v; ``either``: by u or v, both answering.

    Candidates are taken in chunks of ``(chunk, n_workers)`` indicator matrices of
    about ``cells`` cells (16 MB), whatever the number of workers.
    """
    n = len(table.worker_ids)
    chunk = max(1, cells // max(n, 1))
    both = np.zeros((n, n))
    either = np.zeros((n, n))
    member_candidate = table.member_candidate
    answer_object = table.object_of_answer
    for start in range(0, table.n_candidates, chunk):
        stop = min(start + chunk, table.n_candidates)
        drew = np.zeros((stop - start, n))
        rows = slice(table.member_offsets[start], table.member_offsets[stop])
        drew[member_candidate[rows] - start, table.member_worker[rows]] = 1.0
        objects = table.candidate_object[start:stop]
        first, last = int(objects[0]), int(objects[-1]) + 1
        sel = slice(table.object_offsets[first], table.object_offsets[last])
        per_object = np.zeros((last - first, n))
        per_object[answer_object[sel] - first, table.object_workers[sel]] = 1.0
        answered = per_object[objects - first]
        both += drew.T @ drew
        cross = drew.T @ answered
        either += cross + cross.T - drew.T @ drew
    return both, either


@dataclass(slots=True)
class _Index:
    """Arrays derived once from a table for the EM."""

    member_candidate: IntArray
    answer_object: IntArray
    sizes: IntArray
    unanimous: np.ndarray
    objects_per_worker: FloatArray


def _index(table: EvidenceTable) -> _Index:
    member_candidate = table.member_candidate
    sizes = np.diff(table.member_offsets)
    answered = np.diff(table.object_offsets)[table.candidate_object]
    return _Index(
        member_candidate,
        table.object_of_answer,
        sizes,
        sizes >= answered,
        table.objects_per_worker().astype(np.float64),
    )


def _posteriors(
    table: EvidenceTable, idx: _Index, s: FloatArray, f: FloatArray, lam: float
) -> FloatArray:
    """E-step: the posterior that each candidate exists."""
    miss = np.bincount(idx.answer_object, weights=np.log1p(-s)[table.object_workers],
                       minlength=table.n_objects)  # fmt: skip
    w = table.member_worker
    drawn = np.bincount(idx.member_candidate, weights=(np.log(s) - np.log1p(-s))[w],
                        minlength=table.n_candidates)  # fmt: skip
    real = math.log(lam) + miss[table.candidate_object] + drawn
    coincide = (idx.sizes - 1) * math.log(_KAPPA)
    spurious = coincide + np.bincount(idx.member_candidate, weights=np.log(f)[w],
                                      minlength=table.n_candidates)  # fmt: skip
    post: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * (real - spurious)))  # a stable sigmoid
    post[idx.unanimous] = 1.0
    return post


def _m_step(
    table: EvidenceTable, idx: _Index, post: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Expected counts per worker: drawn-real, answered-real, spurious, and the pooled ones."""
    n = len(table.worker_ids)
    w = table.member_worker
    member_post = post[idx.member_candidate]
    real_drawn = np.bincount(w, weights=member_post, minlength=n)
    real_per_object = np.bincount(table.candidate_object, weights=post, minlength=table.n_objects)
    real_seen = np.bincount(table.object_workers, weights=real_per_object[idx.answer_object],
                            minlength=n)  # fmt: skip
    spurious = np.bincount(w, weights=1.0 - member_post, minlength=n)
    return (real_drawn.astype(np.float64), real_seen.astype(np.float64),
            spurious.astype(np.float64), real_per_object.astype(np.float64))  # fmt: skip


def _smoothed(numerator: FloatArray, denominator: FloatArray, prior: tuple[float, float],
              ) -> FloatArray:  # fmt: skip
    a, b = prior
    return (numerator + a) / (denominator + a + b)


def _boundary(
    table: EvidenceTable, idx: _Index, post: FloatArray, *, iterations: int = 50
) -> tuple[FloatArray, float]:
    """Per worker, how well they draw: ``IoU[u, v] ~ q[u] * q[v]`` fitted in log space.

    A worker's IoU with others mixes both sides' errors; the multiplicative fit
    over every pair of members (weighted by the candidate's posterior) separates
    them, so one careful worker among sloppy ones is recognised as careful.
    """
    n = len(table.worker_ids)
    mean, k = _B_PRIOR
    u = table.member_worker[table.pair_first]
    v = table.member_worker[table.pair_second]
    log_iou = np.log(np.clip(table.pair_iou, 0.05, 1.0))
    weight = post[idx.member_candidate[table.pair_first]]
    count = np.bincount(u, weights=weight, minlength=n) + np.bincount(v, weights=weight,
                                                                    minlength=n)  # fmt: skip
    prior = math.log(mean)
    a = np.full(n, prior)
    for _ in range(iterations):
        residual_u = np.bincount(u, weights=weight * (log_iou - a[v]), minlength=n)
        residual_v = np.bincount(v, weights=weight * (log_iou - a[u]), minlength=n)
        a = np.minimum((residual_u + residual_v + prior * k) / (count + k), 0.0)
    quality = np.exp(a)
    total = float(count.sum())
    pooled = float(np.sum(quality * count) + mean * k) / (total + k) if n else mean
    return quality, pooled


def _class_accuracy(
    table: EvidenceTable, idx: _Index, post: FloatArray, accuracy: FloatArray
) -> tuple[FloatArray, float]:
    """One-coin Dawid-Skene over class names, weighted by existence (one E/M round)."""
    n = len(table.worker_ids)
    k = max(len(table.class_names), 1)
    if k == 1 or len(table.member_worker) == 0:
        return np.full(n, 1.0 - _CLIP), 1.0 - _CLIP
    acc = np.clip(accuracy, 1e-3, 1 - 1e-3)[table.member_worker]
    key = idx.member_candidate * k + table.member_class
    keys, inverse = np.unique(key, return_inverse=True)
    score = np.bincount(inverse, weights=np.log(acc * (k - 1) / (1 - acc)))
    candidate = keys // k
    present = np.bincount(candidate, minlength=table.n_candidates)
    top = np.full(table.n_candidates, 0.0)
    np.maximum.at(top, candidate, score)
    exp = np.exp(score - top[candidate])
    total = np.bincount(candidate, weights=exp, minlength=table.n_candidates)
    total += (k - present) * np.exp(-top)  # classes nobody chose score 0
    member_right = (exp / total[candidate])[inverse]
    several = (idx.sizes > 1)[idx.member_candidate]
    weight = np.where(several, post[idx.member_candidate], 0.0)
    right = np.bincount(table.member_worker, weights=weight * member_right, minlength=n)
    count = np.bincount(table.member_worker, weights=weight, minlength=n)
    mean, m = _C_PRIOR
    pooled = (float(right.sum()) + mean * m) / (float(count.sum()) + m)
    return (right + pooled * m) / (count + m), pooled


def _gold_clamp(table: EvidenceTable, gold_worker: str | None) -> tuple[np.ndarray, FloatArray]:
    """``(clamped, value)`` per candidate: on objects with a gold answer, whether gold drew it.

    Without gold (or when ``gold_worker`` answered nothing) no candidate is clamped.
    """
    clamped = np.zeros(table.n_candidates, dtype=bool)
    value = np.zeros(table.n_candidates, dtype=np.float64)
    if gold_worker is None or gold_worker not in table.worker_ids:
        return clamped, value
    g = table.worker_ids.index(gold_worker)
    gold_object = np.zeros(table.n_objects, dtype=bool)
    gold_object[table.object_of_answer[table.object_workers == g]] = True
    clamped = gold_object[table.candidate_object]
    value[table.member_candidate[table.member_worker == g]] = 1.0
    return clamped, value


def fit_worker_model(
    table: EvidenceTable,
    *,
    max_iterations: int = 200,
    tolerance: float = 1e-6,
    gold_worker: str | None = None,
) -> WorkerModel:
    """Fit the job-level model to a job's evidence (EM, deterministic).

    Parameters
    ----------
    table : EvidenceTable
    max_iterations : int, default 200
    tolerance : float, default 1e-6
        Stop when no posterior moves by more than this.
    gold_worker : str, optional
        The id under which gold answers were gathered as one more answer
        (:data:`gtconsensus.gold.GOLD_WORKER`). On the objects it answered, a
        candidate exists exactly when the gold answer drew it (posterior 1.0 or
        0.0, never re-estimated), so the workers are scored against gold there;
        the gold "worker" itself is left out of the model and of its defaults.

    Returns
    -------
    WorkerModel
    """
    if max_iterations < 1:
        raise OptionsError("bad_option", f"`max_iterations` must be >= 1, got {max_iterations}")
    idx = _index(table)
    n = len(table.worker_ids)
    clamped, gold_value = _gold_clamp(table, gold_worker)
    r = initial_reliability(table)
    if table.n_candidates:
        share = np.bincount(idx.member_candidate, weights=r[table.member_worker],
                            minlength=table.n_candidates)  # fmt: skip
        answered = np.bincount(idx.answer_object, weights=r[table.object_workers],
                               minlength=table.n_objects)  # fmt: skip
        post = np.clip(share / answered[table.candidate_object], 0.0, 1.0)
        post[idx.unanimous] = 1.0
        post[clamped] = gold_value[clamped]
    else:
        post = np.zeros(0)
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007  # reported after the loop
        s, f, lam = _maximise(table, idx, post)
        new = _posteriors(table, idx, s, f, lam)
        new[clamped] = gold_value[clamped]
        delta = float(np.max(np.abs(new - post))) if len(post) else 0.0
        post = new
        if delta < tolerance:
            converged = True
            break
    s, f, lam = _maximise(table, idx, post)
    real_drawn, real_seen, spurious, _ = _m_step(table, idx, post)
    boundary, pooled_boundary = _boundary(table, idx, post)
    accuracy = np.full(n, _C_PRIOR[0])
    for _ in range(20):
        accuracy, pooled_accuracy = _class_accuracy(table, idx, post, accuracy)
    if n == 0:
        pooled_accuracy = _C_PRIOR[0]
    crowd = np.array([w != gold_worker for w in table.worker_ids], dtype=bool)
    pooled_s = float(_smoothed(real_drawn[crowd].sum(), real_seen[crowd].sum(), _S_PRIOR))
    objects = idx.objects_per_worker
    pooled_f = float((spurious[crowd].sum() + _F_PRIOR[0]) / (objects[crowd].sum() + _F_PRIOR[1]))
    drawn = np.bincount(table.member_worker, minlength=n)
    precision = (real_drawn + _S_PRIOR[0]) / (drawn + _S_PRIOR[0] + _S_PRIOR[1])
    pooled_precision = float(
        (real_drawn[crowd].sum() + _S_PRIOR[0]) / (drawn[crowd].sum() + sum(_S_PRIOR))
    )
    detection = precision * s  # expected precision x recall
    scale = pixel_weight(pooled_boundary, pooled_precision * pooled_s)
    workers = {
        worker: WorkerParameters(
            sensitivity=float(s[i]),
            false_positive_rate=float(f[i]),
            boundary_quality=float(boundary[i]),
            class_accuracy=float(accuracy[i]),
            reliability=_on_grid(pixel_weight(float(boundary[i]), float(detection[i])) / scale),
            objects=int(objects[i]),
            instances=int(drawn[i]),
            expected_real=float(real_drawn[i]),
        )
        for i, worker in enumerate(table.worker_ids)
        if worker != gold_worker
    }
    default = WorkerParameters(
        min(max(pooled_s, _CLIP), 1 - _CLIP), max(pooled_f, _CLIP), pooled_boundary,
        float(pooled_accuracy), 1.0,
    )  # fmt: skip
    return WorkerModel(
        workers, default, lam, _KAPPA, table.n_objects, table.n_candidates, iteration, converged
    )


def _on_grid(weight: float) -> float:
    """Round a weight to a power of 1.25: workers the model cannot tell apart vote alike.

    With two members a pixel vote is decided by the heavier one, however slight
    the difference; estimates of similar workers differ by a few percent by chance.
    """
    return float(_WEIGHT_STEP ** round(math.log(max(weight, 1e-9)) / math.log(_WEIGHT_STEP)))


def _maximise(
    table: EvidenceTable, idx: _Index, post: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """M-step: sensitivity, spurious rate per worker, and instances per object."""
    real_drawn, real_seen, spurious, real_per_object = _m_step(table, idx, post)
    s = np.clip(_smoothed(real_drawn, real_seen, _S_PRIOR), _CLIP, 1 - _CLIP)
    f = np.maximum((spurious + _F_PRIOR[0]) / (idx.objects_per_worker + _F_PRIOR[1]), _CLIP)
    # Real instances per object, corrected for the ones every answering worker missed.
    log_missed = np.bincount(idx.answer_object, weights=np.log1p(-s)[table.object_workers],
                             minlength=table.n_objects)  # fmt: skip
    seen_by_someone = 1.0 - np.exp(log_missed)
    lam = (float(real_per_object.sum()) + _LAM_PRIOR[0]) / (
        float(seen_by_someone.sum()) + _LAM_PRIOR[1]
    )
    return s, f, max(lam, _CLIP)
