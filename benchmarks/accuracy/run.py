"""How close to the truth does each consolidation method get, on simulated crowds?

A program, not a test. For each panel of simulated workers
(``gtconsensus.testing.crowd``, scikit-image scenes with known truth) it measures,
class-agnostic, Panoptic Quality (PQ = SQ x RQ, matches at IoU > 0.5) against the
truth, summed over the panel's images, for:

- each single worker, and the best worker of each image chosen with hindsight (oracle);
- pixel-wise majority without instance matching (connected components of the pixels
  most workers painted);
- gtconsensus per-image majority and the job-level method (EM across the panel);
- crowd-kit's ``SegmentationMajorityVote``, ``SegmentationRASA``, ``SegmentationEM`` and
  SimpleITK's STAPLE applied per matched instance: gtconsensus clusters the instances,
  then the peer fuses each cluster's masks (an answering worker who did not draw it
  gives an empty mask); an empty fusion drops the cluster.

It also reports the Spearman rank correlation between each worker's true PQ and the
estimated scores (the job table's leave-one-out ``score`` and the learned
``reliability``). It prints markdown tables, first the exact command.

    python benchmarks/accuracy/run.py            # every panel, a few minutes on 2 cores
    python benchmarks/accuracy/run.py --quick    # smoke run
    python benchmarks/accuracy/run.py --no-peers # without crowd-kit and SimpleITK
    python benchmarks/accuracy/run.py --no-peers --gold 0.05  # and with 5% gold answers

With ``--gold FRACTION`` each panel is also run with the truth given as a gold
answer for that share of its images (chosen at random, seeded): the job-level
model is fitted with them (``gold_worker``), those images are decided by their
gold answer (``gtconsensus.gold.decide_gold``), and the table compares, without
and with gold, the worker ranking's Spearman correlations and the job-level PQ
on the images *without* gold (the gold images themselves are trivially perfect).

The peers come from the ``bench`` extra (``pip install -e '.[bench]'``); without it
their rows say so.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from skimage.measure import label as connected_components

from gtconsensus.consensus import ObjectEvidence, WorkerAnnotation, decide, gather
from gtconsensus.evidence import EvidenceTable
from gtconsensus.gold import GOLD_WORKER, decide_gold, with_gold
from gtconsensus.job import METHOD_JOB, fit_worker_model
from gtconsensus.scoring import Agreement, WorkerTally, compare_label_images
from gtconsensus.testing.crowd import STYLES, SimulatedJob, WorkerStyle, renamed, simulate_job

Fuse = Callable[[list[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Panel:
    """A simulated job: its workforce and how many of them answer each image."""

    key: str
    title: str
    styles: tuple[WorkerStyle, ...]
    workers_per_image: int | None = None


def _graded(n: int) -> tuple[WorkerStyle, ...]:
    """``n`` workers from careful to sloppy, evenly spread."""
    styles = []
    for i, t in enumerate(np.linspace(0.0, 1.0, n)):
        styles.append(
            WorkerStyle(
                f"w{i:02d}",
                boundary_noise=0.8 + 3.2 * t,
                miss_rate=0.03 + 0.3 * t,
                spurious_rate=0.03 + 0.5 * t,
                merge_rate=0.01 + 0.06 * t,
                split_rate=0.01 + 0.06 * t,
                class_confusion=0.01 + 0.15 * t,
            )
        )
    return tuple(styles)


def _named(*names: str) -> tuple[WorkerStyle, ...]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        suffix = "" if seen[name] == 1 else str(seen[name])
        out.append(renamed(STYLES[name], name + suffix))
    return tuple(out)


PANELS = (
    Panel("similar", "3 similar workers", _named("careful", "careful", "careful")),
    Panel("graded", "good, average, poor", _named("good", "average", "poor")),
    Panel("spam3", "2 good + spammer", _named("good", "careful", "spammer")),
    Panel(
        "spam5", "5 workers, 1 spammer", _named("good", "careful", "average", "careful", "spammer")
    ),
    Panel("two", "2 workers (good, average)", _named("good", "average")),
    Panel(
        "subsets",
        "6 workers, 3 per image",
        _named("good", "careful", "average", "poor", "over", "under"),
        3,
    ),
    Panel("crowd12", "12 graded workers, 5 per image", _graded(12), 5),
    Panel("crowd20", "20 graded workers, 3 per image", _graded(20), 3),
)


@dataclass
class PanelResult:
    """Summed agreement with the truth per method, and per worker."""

    methods: dict[str, Agreement] = field(default_factory=dict)
    workers: dict[str, Agreement] = field(default_factory=dict)
    tallies: dict[str, WorkerTally] = field(default_factory=dict)
    reliability: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    objects_per_worker: float = 0.0

    def add(self, method: str, agreement: Agreement) -> None:
        self.methods[method] = self.methods.get(method, Agreement()) + agreement


def _versus_truth(labels: np.ndarray, truth_labels: np.ndarray) -> Agreement:
    n = int(labels.max(initial=0))
    m = int(truth_labels.max(initial=0))
    return compare_label_images(
        labels.astype(np.uint16), ["x"] * n, truth_labels.astype(np.uint16), ["x"] * m
    )


def pixel_majority(answers: Sequence[WorkerAnnotation]) -> np.ndarray:
    """Foreground where most workers painted, split into connected components."""
    votes = np.zeros(answers[0].labels.shape, dtype=np.int32)
    for answer in answers:
        votes += answer.labels > 0
    return np.asarray(connected_components(votes * 2 > len(answers), connectivity=1))


def fuse_per_cluster(evidence: ObjectEvidence, fuse: Fuse) -> np.ndarray:
    """Paint each cluster fused by a binary peer (first painted keeps contested pixels)."""
    out = np.zeros(evidence.shape, dtype=np.uint16)
    n_workers = len(evidence.worker_ids)
    k = 0
    for candidate in evidence.candidates:
        r0, r1, c0, c1 = candidate.window
        masks = [np.zeros((r1 - r0, c1 - c0), dtype=bool) for _ in range(n_workers)]
        for (w, _), mask in zip(candidate.members, candidate.masks, strict=True):
            masks[w] = np.asarray(mask)
        fused = np.asarray(fuse(masks), dtype=bool)
        region = out[r0:r1, c0:c1]
        paint = fused & (region == 0)
        if paint.any():
            k += 1
            region[paint] = k
    return out


def _peers() -> dict[str, Fuse | str]:
    peers: dict[str, Fuse | str] = {}
    try:
        import pandas as pd
        from crowdkit import aggregation
    except ImportError as exc:
        for name in ("SegmentationMajorityVote", "SegmentationRASA", "SegmentationEM"):
            peers[f"crowd-kit {name}"] = f"not installed ({exc.name})"
    else:
        for name in ("SegmentationMajorityVote", "SegmentationRASA", "SegmentationEM"):
            aggregator = getattr(aggregation, name)

            def run(masks: list[np.ndarray], aggregator: type = aggregator) -> np.ndarray:
                data = pd.DataFrame(
                    {
                        "task": ["t"] * len(masks),
                        "worker": [f"w{i}" for i in range(len(masks))],
                        "segmentation": masks,
                    }
                )
                with np.errstate(all="ignore"):  # RASA and EM divide by empty unions
                    return np.asarray(aggregator().fit_predict(data).iloc[0])

            peers[f"crowd-kit {name}"] = run
    try:
        import SimpleITK
    except ImportError as exc:
        peers["SimpleITK STAPLE"] = f"not installed ({exc.name})"
    else:
        SimpleITK.ProcessObject_SetGlobalDefaultNumberOfThreads(1)

        def staple(masks: list[np.ndarray]) -> np.ndarray:
            if not any(m.any() for m in masks):
                return np.zeros(masks[0].shape, dtype=bool)
            images = [SimpleITK.GetImageFromArray(m.astype(np.uint8)) for m in masks]
            f = SimpleITK.STAPLEImageFilter()
            f.SetForegroundValue(1)
            with np.errstate(invalid="ignore"):
                return SimpleITK.GetArrayFromImage(f.Execute(*images)) > 0.5

        peers["SimpleITK STAPLE"] = staple
    return peers


def run_panel(panel: Panel, job: SimulatedJob, peers: dict[str, Fuse | str]) -> PanelResult:
    result = PanelResult()
    started = time.perf_counter()
    evidence = [gather(image.answers) for image in job.images]
    table = EvidenceTable.from_evidence(evidence)
    model = fit_worker_model(table)
    result.seconds["gather + EM"] = time.perf_counter() - started
    result.reliability = model.weights()
    result.objects_per_worker = float(np.median(table.objects_per_worker()))
    for image, ev in zip(job.images, evidence, strict=True):
        truth = image.truth.labels
        per_worker = [_versus_truth(a.labels, truth) for a in image.answers]
        for answer, agreement in zip(image.answers, per_worker, strict=True):
            result.workers[answer.worker_id] = (
                result.workers.get(answer.worker_id, Agreement()) + agreement
            )
        best = max(per_worker, key=lambda a: (a.pq, a.tp - a.fp - a.fn))
        result.add("hindsight-best worker per image (oracle)", best)
        result.add(
            "pixel-wise majority, no matching", _versus_truth(pixel_majority(image.answers), truth)
        )
        result.add("gtconsensus per-image majority", _versus_truth(decide(ev).labels, truth))
        job_level = decide(
            ev, weights=model.weights(), existence=model.existence(ev), method=METHOD_JOB
        )
        result.add("gtconsensus job-level", _versus_truth(job_level.labels, truth))
        for score in job_level.workers:
            result.tallies[score.worker_id] = (
                result.tallies.get(score.worker_id, WorkerTally()) + score.tally()
            )
    for name, fuse in peers.items():
        if isinstance(fuse, str):
            continue
        started = time.perf_counter()
        for image, ev in zip(job.images, evidence, strict=True):
            result.add(name, _versus_truth(fuse_per_cluster(ev, fuse), image.truth.labels))
        result.seconds[name] = time.perf_counter() - started
    return result


@dataclass
class GoldResult:
    """One panel's job-level run without and with gold answers for some images."""

    gold_images: int
    pq_rest: dict[str, Agreement] = field(default_factory=dict)
    rho_score: dict[str, float] = field(default_factory=dict)
    rho_weight: dict[str, float] = field(default_factory=dict)


def _job_level_run(
    job: SimulatedJob, gold: set[int], skip: set[int]
) -> tuple[Agreement, dict[str, WorkerTally], dict[str, float]]:
    """Job-level decisions with gold answers for the images ``gold``.

    Returns the agreement with the truth on the images not in ``skip``, the
    workers' tallies and the learned weights.
    """
    evidence = [
        gather(with_gold(image.answers, image.truth.labels, image.truth.classes))
        if index in gold
        else gather(image.answers)
        for index, image in enumerate(job.images)
    ]
    model = fit_worker_model(EvidenceTable.from_evidence(evidence), gold_worker=GOLD_WORKER)
    weights = model.weights()
    kept = Agreement()
    tallies: dict[str, WorkerTally] = {}
    for index, (image, ev) in enumerate(zip(job.images, evidence, strict=True)):
        if index in gold:
            decided = decide_gold(ev)
        else:
            decided = decide(ev, weights=weights, existence=model.existence(ev), method=METHOD_JOB)
        if index not in skip:
            kept = kept + _versus_truth(decided.labels, image.truth.labels)
        for score in decided.workers:
            tallies[score.worker_id] = tallies.get(score.worker_id, WorkerTally()) + score.tally()
    return kept, tallies, weights


def run_gold(job: SimulatedJob, fraction: float, seed: int) -> GoldResult:
    """The panel's job-level run without gold, and with gold for ``fraction`` of its images."""
    n = len(job.images)
    count = min(n, max(1, round(fraction * n)))
    gold = {int(i) for i in np.random.default_rng(seed).choice(n, size=count, replace=False)}
    truth_pq: dict[str, Agreement] = {}
    for image in job.images:
        for answer in image.answers:
            agreement = _versus_truth(answer.labels, image.truth.labels)
            truth_pq[answer.worker_id] = truth_pq.get(answer.worker_id, Agreement()) + agreement
    workers = sorted(truth_pq)
    true = [truth_pq[w].pq for w in workers]
    result = GoldResult(count)
    for name, chosen in (("without", set[int]()), ("with", gold)):
        kept, tallies, weights = _job_level_run(job, chosen, gold)
        result.pq_rest[name] = kept
        result.rho_score[name] = spearman(true, [tallies[w].versus_others.pq for w in workers])
        result.rho_weight[name] = spearman(true, [weights.get(w, 1.0) for w in workers])
    return result


def report_gold(gold: GoldResult, fraction: float) -> None:
    """Print one panel's line of the gold comparison."""
    without, with_ = gold.pq_rest["without"], gold.pq_rest["with"]
    print(
        f"- with {fraction:.0%} gold ({gold.gold_images} images): "
        f"Spearman(true PQ, score) {gold.rho_score['without']:.2f} -> "
        f"{gold.rho_score['with']:.2f}, (true PQ, reliability) "
        f"{gold.rho_weight['without']:.2f} -> {gold.rho_weight['with']:.2f}; job-level PQ on "
        f"the other images {without.pq:.3f} -> {with_.pq:.3f}"
    )


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho (average ranks for ties)."""

    def ranks(values: Sequence[float]) -> np.ndarray:
        array = np.asarray(values, dtype=float)
        order = array.argsort(kind="stable")
        r = np.empty(len(array))
        r[order] = np.arange(len(array), dtype=float)
        for v in np.unique(array):
            r[array == v] = r[array == v].mean()
        return r

    a, b = ranks(x), ranks(y)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _row(name: str, a: Agreement, note: str = "") -> str:
    sq = "-" if a.sq is None else f"{a.sq:.3f}"
    return f"| {name} | {a.pq:.3f} | {sq} | {a.rq:.3f} | {a.tp} | {a.fp} | {a.fn} | {note} |"


def report(panel: Panel, result: PanelResult, peers: dict[str, Fuse | str], images: int) -> bool:
    """Print the panel's table; return whether its targets are met."""
    per_image = result.methods["gtconsensus per-image majority"]
    oracle = result.methods["hindsight-best worker per image (oracle)"]
    job = result.methods["gtconsensus job-level"]
    n_workers = len(panel.styles)
    print(
        f"\n### {panel.title} ({images} images"
        + (f", {panel.workers_per_image} workers per image)" if panel.workers_per_image else ")")
    )
    print("\n| method | PQ | SQ | RQ | TP | FP | FN | |")
    print("|---|---|---|---|---|---|---|---|")
    ranked = sorted(result.workers.items(), key=lambda kv: -kv[1].pq)
    shown = ranked if len(ranked) <= 6 else [ranked[0], ranked[len(ranked) // 2], ranked[-1]]
    for worker, agreement in shown:
        label = "best" if worker == ranked[0][0] else "worst" if worker == ranked[-1][0] else ""
        if len(ranked) > 6 and not label:
            label = "median"
        print(_row(f"worker `{worker}`", agreement, label))
    for name, agreement in result.methods.items():
        note = ""
        if name == "gtconsensus job-level":
            note = "**target**"
        print(_row(name, agreement, note))
    for name, fuse in peers.items():
        if isinstance(fuse, str):
            print(f"| {name} | - | - | - | - | - | - | {fuse} |")
    true_pq = {w: a.pq for w, a in result.workers.items()}
    workers = sorted(true_pq)
    rho_score = spearman(
        [true_pq[w] for w in workers], [result.tallies[w].versus_others.pq for w in workers]
    )
    rho_weight = spearman(
        [true_pq[w] for w in workers], [result.reliability.get(w, 1.0) for w in workers]
    )
    checks = []
    met = True
    if n_workers >= 3:
        ok = job.pq > oracle.pq
        met &= ok
        checks.append(
            f"job-level PQ > oracle: {'yes' if ok else 'no'} ({job.pq:.3f} vs {oracle.pq:.3f})"
        )
    ok = job.pq >= per_image.pq
    met &= ok
    checks.append(
        f"job-level >= per-image majority: {'yes' if ok else 'no'} "
        f"({job.pq:.3f} vs {per_image.pq:.3f})"
    )
    rho = f"Spearman(true PQ, score) = {rho_score:.2f}, (true PQ, reliability) = {rho_weight:.2f}"
    if n_workers >= 10:
        ok = rho_score >= 0.9
        met &= ok
        rho += f" (target >= 0.9: {'yes' if ok else 'no'})"
    checks.append(rho)
    picks = "job-level" if result.objects_per_worker >= 20 else "per-image majority"
    checks.append(
        f"`--method auto` would pick {picks} (the median worker answered "
        f"{result.objects_per_worker:.0f} objects)"
    )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print("\n- " + "\n- ".join(checks) + f"\n- time: {timing}")
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=120, help="images per panel")
    parser.add_argument("--size", default="240x180", help="image size WIDTHxHEIGHT")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--panel", action="append", choices=[p.key for p in PANELS])
    parser.add_argument("--no-peers", action="store_true", help="skip crowd-kit and SimpleITK")
    parser.add_argument("--quick", action="store_true", help="20 images per panel")
    parser.add_argument(
        "--gold",
        type=float,
        metavar="FRACTION",
        help="also run each panel with gold answers (the truth) for this share of its images",
    )
    args = parser.parse_args(argv)
    images = 20 if args.quick else args.images
    width, height = (int(v) for v in args.size.split("x"))
    peers = {} if args.no_peers else _peers()
    command = "python benchmarks/accuracy/run.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    print(f"Command: `{command.strip()}`\n")
    print(
        f"Images {width}x{height}, {images} per panel, seed {args.seed}; PQ, SQ, RQ "
        "class-agnostic against the simulated truth (IoU > 0.5), summed over the panel."
    )
    summary = []
    golds: list[tuple[str, GoldResult]] = []
    started = time.perf_counter()
    for index, panel in enumerate(PANELS):
        if args.panel and panel.key not in args.panel:
            continue
        job = simulate_job(
            args.seed + index,
            panel.styles,
            n_images=images,
            height=height,
            width=width,
            workers_per_image=panel.workers_per_image,
        )
        result = run_panel(panel, job, peers)
        met = report(panel, result, peers, images)
        if args.gold is not None:
            gold = run_gold(job, args.gold, args.seed + index)
            report_gold(gold, args.gold)
            golds.append((panel.title, gold))
        m = result.methods
        summary.append(
            (
                panel.title,
                m["hindsight-best worker per image (oracle)"].pq,
                m["gtconsensus per-image majority"].pq,
                m["gtconsensus job-level"].pq,
                met,
            )
        )
    print("\n### Summary\n\n| panel | oracle PQ | per-image PQ | job-level PQ | targets met |")
    print("|---|---|---|---|---|")
    for title, oracle, per_image, job, met in summary:
        print(
            f"| {title} | {oracle:.3f} | {per_image:.3f} | {job:.3f} | {'yes' if met else 'no'} |"
        )
    if golds:
        print(
            f"\n### With {args.gold:.0%} gold answers\n\n"
            "Spearman correlation of each ranking with the workers' true PQ, and the job-level "
            "PQ on the images without gold, without -> with gold.\n\n"
            "| panel | gold images | Spearman(true PQ, score) | Spearman(true PQ, reliability) "
            "| job-level PQ, other images |\n|---|---|---|---|---|"
        )
        for title, gold in golds:
            print(
                f"| {title} | {gold.gold_images} "
                f"| {gold.rho_score['without']:.2f} -> {gold.rho_score['with']:.2f} "
                f"| {gold.rho_weight['without']:.2f} -> {gold.rho_weight['with']:.2f} "
                f"| {gold.pq_rest['without'].pq:.3f} -> {gold.pq_rest['with'].pq:.3f} |"
            )
    print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
