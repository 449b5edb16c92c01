"""A crowd simulator for instance segmentation (needs the ``testing`` extra: scikit-image).

Builds on :mod:`gtconsensus.testing.synthetic` (boundary jitter, misses,
spurious blobs, class swaps, the tool's PNG and manifest formats) and adds:

- :func:`draw_scene`: truths drawn with scikit-image: polygons and ellipses,
  touching and occluding one another, several classes, and empty images;
- :class:`WorkerStyle`: every error a worker makes, with its rate: boundary
  noise, systematic over- or under-drawing, missed and spurious instances,
  merges and splits of neighbouring objects, class confusions, spammers
  (random blobs, whatever the image), lazy answers (empty) and absences (no
  answer: the object comes with fewer);
- :func:`simulate_answer` and :func:`simulate_job`: a worker's answer to a truth,
  and a whole job (who answered which image, with the truth kept beside);
- Ground Truth's exact formats: :meth:`SimulatedJob.manifest_lines` (output
  manifest of the recipe's Lambda), :meth:`SimulatedJob.lambda_payload` and
  :func:`lambda_event` (the consolidation request a post-annotation Lambda reads),
  with :func:`~gtconsensus.testing.synthetic.worker_answer` for one answer.

Everything is deterministic under a seed.

Examples
--------
>>> job = simulate_job(3, [STYLES["good"], STYLES["spammer"]], n_images=2, height=40, width=60)
>>> [len(image.answers) for image in job.images]
[2, 2]
>>> job.images[0].answers[0].worker_id
'good'
>>> job == simulate_job(3, [STYLES["good"], STYLES["spammer"]], n_images=2, height=40, width=60)
False
>>> job.fingerprint() == simulate_job(3, [STYLES["good"], STYLES["spammer"]], n_images=2,
...                                   height=40, width=60).fingerprint()
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gtconsensus.consensus import WorkerAnnotation
from gtconsensus.exceptions import OptionsError
from gtconsensus.testing.synthetic import (
    DEFAULT_CLASSES,
    Annotation,
    manifest_line,
    simulate_worker,
    worker_answer,
)

try:
    from skimage import draw
    from skimage.segmentation import expand_labels, find_boundaries
except ImportError as exc:  # the `testing` extra is not installed
    raise ImportError(
        "gtconsensus.testing.crowd needs scikit-image: pip install 'gtconsensus[testing]'"
    ) from exc

__all__ = [
    "STYLES",
    "SimulatedImage",
    "SimulatedJob",
    "WorkerStyle",
    "draw_scene",
    "lambda_event",
    "renamed",
    "simulate_answer",
    "simulate_job",
]


@dataclass(frozen=True, slots=True)
class WorkerStyle:
    """How a simulated worker errs (rates are per instance unless said otherwise).

    Attributes
    ----------
    worker_id : str
    boundary_noise : float
        Scale of ragged, shifted, grown or shrunk outlines, in pixels.
    bias : int
        Systematic over-drawing (> 0) or under-drawing (< 0), in pixels.
    miss_rate : float
        Probability of leaving an instance out.
    spurious_rate : float
        Expected spurious blobs per image (Poisson).
    merge_rate : float
        Probability of drawing an instance together with a touching neighbour.
    split_rate : float
        Probability of drawing an instance as two halves.
    class_confusion : float
        Probability of a wrong class.
    spammer : bool
        Ignores the image: draws 0 to 4 random blobs with random classes.
    lazy_rate : float
        Probability of submitting an empty answer (per image).
    absent_rate : float
        Probability that the answer never comes (per image): the task expired,
        so the object reaches the Lambda and the manifest with fewer answers.
        Drawn apart from everything else, so the answers that do come are
        those of the same job without absences.
    """

    worker_id: str
    boundary_noise: float = 1.0
    bias: int = 0
    miss_rate: float = 0.05
    spurious_rate: float = 0.05
    merge_rate: float = 0.0
    split_rate: float = 0.0
    class_confusion: float = 0.02
    spammer: bool = False
    lazy_rate: float = 0.0
    absent_rate: float = 0.0

    def __post_init__(self) -> None:
        names = ("miss_rate", "merge_rate", "split_rate", "class_confusion", "lazy_rate",
                 "absent_rate")  # fmt: skip
        for name in names:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise OptionsError("bad_option", f"`{name}` must be in [0, 1], got {value}")
        if self.boundary_noise < 0 or self.spurious_rate < 0:
            raise OptionsError(
                "bad_option", "`boundary_noise` and `spurious_rate` must be >= 0, got "
                f"{self.boundary_noise} and {self.spurious_rate}",
            )  # fmt: skip


#: Named styles, from careful to useless (ids are the names; use ``dataclasses.replace``).
STYLES = {
    "good": WorkerStyle("good", 0.8, 0, 0.03, 0.03, 0.01, 0.01, 0.01),
    "careful": WorkerStyle("careful", 1.0, 0, 0.05, 0.05, 0.02, 0.02, 0.02),
    "average": WorkerStyle("average", 2.0, 0, 0.12, 0.15, 0.04, 0.04, 0.05),
    "over": WorkerStyle("over", 1.5, 2, 0.08, 0.1, 0.05, 0.0, 0.04),
    "under": WorkerStyle("under", 1.5, -2, 0.12, 0.05, 0.0, 0.05, 0.04),
    "poor": WorkerStyle("poor", 4.0, 0, 0.25, 0.4, 0.08, 0.08, 0.12),
    "spammer": WorkerStyle("spammer", spammer=True, class_confusion=0.0, miss_rate=0.0),
    "lazy": WorkerStyle("lazy", 1.0, 0, 0.05, 0.05, 0.02, 0.02, 0.02, lazy_rate=0.6),
}


def _dense(labels: np.ndarray, classes: Sequence[str]) -> Annotation:
    """Renumber the labels present as 1..K in order; drop classes of absent labels."""
    present = np.unique(labels)
    present = present[present > 0]
    lut = np.zeros(max(int(labels.max(initial=0)), 0) + 1, dtype=np.uint16)
    lut[present] = np.arange(1, len(present) + 1)
    dtype = np.uint8 if len(present) <= 255 else np.uint16
    return Annotation(lut[labels].astype(dtype), tuple(classes[int(i) - 1] for i in present))


def _polygon(rng: np.random.Generator, cy: float, cx: float, hy: float, hx: float,
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A star-shaped polygon of 5 to 9 vertices around the centre."""
    n = int(rng.integers(5, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.6, 1.0, n)
    return cy + hy * radius * np.sin(angles), cx + hx * radius * np.cos(angles)


def draw_scene(
    rng: np.random.Generator,
    *,
    height: int,
    width: int,
    n_instances: int,
    classes: Sequence[str] = DEFAULT_CLASSES,
    touching: float = 0.35,
) -> Annotation:
    """A truth of polygons and ellipses (later ones occlude earlier ones).

    Parameters
    ----------
    rng : numpy.random.Generator
    height, width : int
    n_instances : int
        Objects to draw; 0 gives an empty image. Hidden ones are dropped.
    classes : sequence of str
    touching : float, default 0.35
        Probability that an object is placed against a previous one.

    Returns
    -------
    Annotation
        Dense labels ``(H, W)`` and classes.

    Examples
    --------
    >>> scene = draw_scene(np.random.default_rng(0), height=50, width=80, n_instances=4)
    >>> scene.labels.shape, int(scene.labels.max()) == len(scene.classes) <= 4
    ((50, 80), True)
    """
    if height < 1 or width < 1 or n_instances < 0:
        raise OptionsError("bad_option", f"bad scene size {width}x{height} or count {n_instances}")
    labels = np.zeros((height, width), dtype=np.uint16)
    names: list[str] = []
    placed: list[tuple[float, float, float, float]] = []
    for label in range(1, n_instances + 1):
        hy = max(rng.uniform(0.06, 0.18) * height, 2.0)
        hx = max(hy * rng.uniform(0.5, 1.8), 2.0)
        if placed and rng.random() < touching:
            py, px, phy, phx = placed[int(rng.integers(len(placed)))]
            side = 1.0 if rng.random() < 0.5 else -1.0
            cy = py + rng.uniform(-0.3, 0.3) * phy
            cx = px + side * (phx + hx) * rng.uniform(0.7, 1.0)
        else:
            cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.05, 0.95) * width
        if rng.random() < 0.5:
            turn = rng.uniform(-np.pi / 4, np.pi / 4)
            rows, cols = draw.ellipse(cy, cx, hy, hx, shape=labels.shape, rotation=turn)  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
        else:
            rows, cols = draw.polygon(*_polygon(rng, cy, cx, hy, hx), shape=labels.shape)  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
        labels[rows, cols] = label
        placed.append((cy, cx, hy, hx))
        names.append(classes[int(rng.integers(len(classes)))])
    return _dense(labels, names)


def _merge(rng: np.random.Generator, labels: np.ndarray, classes: list[str], rate: float) -> None:
    """Join instances with a neighbour within 4 pixels (it takes the first one's label)."""
    if rate <= 0 or not classes:
        return
    for label in range(1, len(classes) + 1):
        if rng.random() >= rate:
            continue
        mask = labels == label
        if not mask.any():
            continue
        near = expand_labels(mask.astype(np.uint8), 4) > 0  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
        touching = np.unique(labels[near & ~mask & (labels > 0)])
        if len(touching):
            labels[labels == int(touching[0])] = label


def _split(rng: np.random.Generator, labels: np.ndarray, classes: list[str], rate: float) -> None:
    """Cut instances in two along a line through their centre (a new label each)."""
    for label in range(1, len(classes) + 1):
        if rng.random() >= rate:
            continue
        rows, cols = np.nonzero(labels == label)
        if len(rows) < 8:
            continue
        angle = rng.uniform(0, np.pi)
        side = (rows - rows.mean()) * np.sin(angle) + (cols - cols.mean()) * np.cos(angle) > 0
        classes.append(classes[label - 1])
        labels[rows[side], cols[side]] = len(classes)


def _bias(labels: np.ndarray, pixels: int) -> np.ndarray:
    if pixels > 0:
        grown = expand_labels(labels, pixels)  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
        return np.asarray(grown, dtype=labels.dtype)
    for _ in range(-pixels):
        labels = labels.copy()
        edge = find_boundaries(labels, mode="inner")  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
        labels[edge] = 0
    return labels


def _spam(rng: np.random.Generator, shape: tuple[int, int], classes: Sequence[str]) -> Annotation:
    labels = np.zeros(shape, dtype=np.uint16)
    names = []
    for label in range(1, int(rng.integers(0, 5)) + 1):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        hy, hx = rng.uniform(0.03, 0.15) * shape[0], rng.uniform(0.03, 0.15) * shape[1]
        rows, cols = draw.ellipse(cy, cx, max(hy, 1.5), max(hx, 1.5), shape=shape)  # type: ignore[no-untyped-call]  # scikit-image ships no type hints
        labels[rows, cols] = label
        names.append(classes[int(rng.integers(len(classes)))])
    return _dense(labels, names)


def simulate_answer(
    rng: np.random.Generator,
    truth: Annotation,
    style: WorkerStyle,
    *,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> Annotation:
    """One worker's answer to a truth, with the errors of ``style``.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> truth = draw_scene(rng, height=40, width=60, n_instances=3)
    >>> exact = WorkerStyle("w", 0, 0, 0, 0, 0, 0, 0)
    >>> answer = simulate_answer(rng, truth, exact)  # the same shapes, listed in another order
    >>> bool(((answer.labels > 0) == (truth.labels > 0)).all()), len(answer.classes) == 3
    (True, True)
    """
    shape = truth.labels.shape
    if rng.random() < style.lazy_rate:
        return Annotation(np.zeros(shape, dtype=np.uint8), ())
    if style.spammer:
        return _spam(rng, (int(shape[0]), int(shape[1])), classes)
    drawn = simulate_worker(
        rng, truth.labels, truth.classes, boundary_noise=style.boundary_noise,
        miss_rate=style.miss_rate, spurious_rate=style.spurious_rate,
        class_confusion=style.class_confusion, classes=classes, shuffle=False,
    )  # fmt: skip
    labels = drawn.labels.astype(np.uint16)
    names = list(drawn.classes)
    _merge(rng, labels, names, style.merge_rate)
    _split(rng, labels, names, style.split_rate)
    labels = _bias(labels, style.bias)
    dense = _dense(labels, names)
    order = rng.permutation(len(dense.classes))  # workers list instances in any order
    lut = np.zeros(len(order) + 1, dtype=dense.labels.dtype)
    lut[order + 1] = np.arange(1, len(order) + 1)
    shuffled = [""] * len(order)
    for old, new in enumerate(lut[1:].tolist()):
        shuffled[new - 1] = dense.classes[old]
    return Annotation(lut[dense.labels], tuple(shuffled))


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedImage:
    """One image of a simulated job: its truth and the answers (``WorkerAnnotation``)."""

    source_ref: str
    truth: Annotation
    answers: tuple[WorkerAnnotation, ...]


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedJob:
    """A simulated job: images in order, each with its truth and its workers' answers."""

    images: tuple[SimulatedImage, ...]
    label_attribute: str = "gt-label"

    def manifest_lines(self, *, mode: str = "P") -> Iterator[str]:
        """Output-manifest lines as the recipe's Lambda writes them (no newline).

        ``mode`` is the PNG flavour: ``"P"`` (the tool's), ``"RGBA"`` or ``"RGB"``
        (:func:`~gtconsensus.testing.synthetic.encode_answer_png`).
        """
        for image in self.images:
            answers = [
                (a.worker_id, worker_answer(a.labels, a.classes, mode=mode)) for a in image.answers
            ]
            yield manifest_line(image.source_ref, answers, label_attribute=self.label_attribute)

    def lambda_payload(self, *, mode: str = "P") -> list[dict[str, Any]]:
        """The consolidation-request payload file (a JSON list, one entry per object).

        ``mode`` is the PNG flavour, as for :meth:`manifest_lines`.
        """
        return [
            {
                "datasetObjectId": str(i),
                "dataObject": {"s3Uri": image.source_ref},
                "annotations": [
                    {
                        "workerId": a.worker_id,
                        "annotationData": {
                            "content": json.dumps(
                                worker_answer(a.labels, a.classes, mode=mode),
                                separators=(",", ":"),
                            )
                        },
                    }
                    for a in image.answers
                ],
            }
            for i, image in enumerate(self.images)
        ]

    def fingerprint(self) -> str:
        """sha256 of every truth and answer (to check determinism)."""
        digest = hashlib.sha256()
        for image in self.images:
            digest.update(image.truth.labels.tobytes())
            digest.update(repr(image.truth.classes).encode())
            for a in image.answers:
                digest.update(a.worker_id.encode())
                digest.update(a.labels.tobytes())
                digest.update(repr(a.classes).encode())
        return digest.hexdigest()


def lambda_event(payload_uri: str, *, label_attribute: str = "gt-label") -> dict[str, Any]:
    """A post-annotation Lambda event pointing at a payload file.

    Examples
    --------
    >>> lambda_event("s3://b/p.json")["payload"]
    {'s3Uri': 's3://b/p.json'}
    """
    return {
        "version": "2018-10-06",
        "labelingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/simulated",
        "labelAttributeName": label_attribute,
        "roleArn": "arn:aws:iam::111122223333:role/GroundTruthExecution",
        "payload": {"s3Uri": payload_uri},
        "outputConfig": "s3://simulated/annotations",
    }


def simulate_job(
    seed: int,
    styles: Sequence[WorkerStyle],
    *,
    n_images: int,
    height: int = 120,
    width: int = 160,
    instances: tuple[int, int] = (0, 6),
    workers_per_image: int | None = None,
    classes: Sequence[str] = DEFAULT_CLASSES,
    source_prefix: str = "s3://simulated/images/",
    label_attribute: str = "gt-label",
) -> SimulatedJob:
    """A whole job: ``n_images`` truths, each answered by the workers of ``styles``.

    Parameters
    ----------
    seed : int
    styles : sequence of WorkerStyle
        The workforce (distinct ``worker_id``).
    n_images : int
    height, width : int
    instances : (int, int)
        Inclusive range of objects per image (0 gives empty images).
    workers_per_image : int, optional
        When set, each image is answered by that many workers drawn from
        ``styles`` (so workers answer different subsets); default all of them.
        Fewer answers come when a style has an ``absent_rate``; an image none
        of its workers answered is left out (Ground Truth sends no such
        object), its number skipped in ``source-ref``.
    classes : sequence of str
    source_prefix : str
    label_attribute : str, default "gt-label"
        The labeling job's label attribute, the key of the manifest lines' answers.

    Returns
    -------
    SimulatedJob
    """
    ids = [s.worker_id for s in styles]
    if len(set(ids)) != len(ids) or not ids:
        raise OptionsError("bad_option", f"`styles` need distinct worker ids, got {ids}")
    k = len(styles) if workers_per_image is None else workers_per_image
    if not 1 <= k <= len(styles):
        raise OptionsError("bad_option", f"`workers_per_image` must be in 1..{len(styles)}")
    rng = np.random.default_rng(seed)
    # Absences come from a stream of their own: the answers that come stay the same.
    absences = np.random.default_rng([seed, 1]) if any(s.absent_rate for s in styles) else None
    images = []
    for index in range(n_images):
        count = int(rng.integers(instances[0], instances[1] + 1))
        truth = draw_scene(rng, height=height, width=width, n_instances=count, classes=classes)
        chosen = sorted(rng.choice(len(styles), size=k, replace=False).tolist())
        answers = []
        for i in chosen:
            drawn = simulate_answer(rng, truth, styles[i], classes=classes)
            if absences is not None and absences.random() < styles[i].absent_rate:
                continue
            answers.append(WorkerAnnotation(styles[i].worker_id, drawn.labels, drawn.classes))
        if answers:
            source_ref = f"{source_prefix}{index + 1:05d}.jpg"
            images.append(SimulatedImage(source_ref, truth, tuple(answers)))
    return SimulatedJob(tuple(images), label_attribute)


def renamed(style: WorkerStyle, worker_id: str) -> WorkerStyle:
    """The same style under another worker id."""
    return replace(style, worker_id=worker_id)
