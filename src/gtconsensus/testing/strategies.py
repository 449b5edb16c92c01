"""Hypothesis strategies for gtconsensus inputs (needs the ``testing`` extra).

Use them in your own property-based tests::

    from hypothesis import given
    from gtconsensus.testing import strategies as gts

    @given(gts.panels())
    def test_my_step(panel):
        result = gtconsensus.consolidate(panel)
        ...

- :func:`label_images`: dense ``(H, W)`` uint8 label images, 0 background,
  every label 1..K present;
- :func:`worker_answers` and :func:`panels`: lists of
  :class:`~gtconsensus.WorkerAnnotation` with distinct worker ids and one size,
  independent (``worker_answers``) or noisy copies of one truth (``panels``);
- :func:`annotated_results`, :func:`labelled_answers`, :func:`panel_answers`:
  Ground Truth answers (the value under ``annotatedResult``) as the annotation
  tool writes them, in every PNG mode the codec reads (:data:`PNG_MODES`);
- :func:`wild_lines` and :func:`lambda_requests`: output-manifest lines and
  post-annotation events in the forms seen in the wild (:data:`ENTRY_FORMS`,
  :data:`METADATA_FORMS`), with the S3 objects they refer to as a dict;
- :func:`encode_answer`, :func:`answer_entry` and :func:`recipe_line`: the
  same, as plain functions.

Examples stay small on purpose (images up to 32x32 by default, a handful of
instances), so a property runs its examples in seconds. Everything shrinks
towards simple cases: single-pixel shapes in the top-left corner, workers that
copy the truth exactly, the tool's colours, the recipe's own line.

Examples
--------
>>> labels = np.array([[0, 1], [2, 2]], np.uint8)
>>> answer = encode_answer(labels, ["Car", "Bus"], ["#2ca02c", "#1f77b4"], png_mode="P2")
>>> answer["instances"]
[{'color': '#2ca02c', 'label': 'Car'}, {'color': '#1f77b4', 'label': 'Bus'}]
>>> from gtconsensus import decode_label_png
>>> decode_label_png(answer["labeledImage"]["pngImageData"], ["#2ca02c", "#1f77b4"]
...                  ).labels.tolist()
[[0, 1], [2, 2]]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gtconsensus._typing import LabelImage
from gtconsensus.consensus import WorkerAnnotation
from gtconsensus.masks import CATEGORY10, instance_colours
from gtconsensus.testing.synthetic import TOOL_COLOUR_ORDER

try:
    from hypothesis import reject
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as exc:  # the `testing` extra is not installed
    raise ImportError(
        "gtconsensus.testing.strategies needs Hypothesis: pip install 'gtconsensus[testing]'"
    ) from exc

# After the check above, which names this module (pngs needs Hypothesis too).
from gtconsensus.testing.pngs import GREY_PNG_MODES, PNG_MODES, encode_answer, png_mode_capacity

__all__ = [
    "DEFAULT_CLASSES",
    "ENTRY_FORMS",
    "GREY_PNG_MODES",
    "METADATA_FORMS",
    "PNG_MODES",
    "annotated_results",
    "answer_entry",
    "encode_answer",
    "label_images",
    "labelled_answers",
    "lambda_requests",
    "panel_answers",
    "panels",
    "png_mode_capacity",
    "recipe_line",
    "wild_lines",
    "worker_answers",
]

#: The small class alphabet the strategies draw from by default.
DEFAULT_CLASSES = ("Car", "Person", "Bus")

_SIDES = st.integers(1, 32)
# Short ids first (what examples shrink to), then Ground Truth's own forms:
# private.us-east-1.CYUQXZT3LFXJIUFCZMZ6HC2KFM, public.us-east-1.M52T...
_WORKER_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8) | (
    st.builds(
        "{}.{}.{}".format,
        st.sampled_from(("private", "public")),
        st.sampled_from(("us-east-1", "eu-west-1", "ap-northeast-1")),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=26, max_size=26),
    )
)


def _draw_int(draw: st.DrawFn, value: int | st.SearchStrategy[int]) -> int:
    return value if isinstance(value, int) else draw(value)


def _dense(labels: np.ndarray) -> tuple[LabelImage, list[int]]:
    """Relabel to 1..K in label order; also return the old label of each new one."""
    present = [int(v) for v in np.unique(labels) if v > 0]
    lut = np.zeros(int(labels.max(initial=0)) + 1, dtype=np.uint8)
    lut[present] = np.arange(1, len(present) + 1)
    return lut[labels], present


@st.composite
def _shapes(draw: st.DrawFn, rows: int, cols: int) -> tuple[int, int, np.ndarray]:
    """A non-empty rectangle or inscribed ellipse: its top-left pixel and its mask.

    The mask covers the shape's bounding box only, so a shape on a large image
    costs no more than on a small one.
    """
    r0 = draw(st.integers(0, rows - 1))
    r1 = draw(st.integers(r0 + 1, rows))
    c0 = draw(st.integers(0, cols - 1))
    c1 = draw(st.integers(c0 + 1, cols))
    if draw(st.sampled_from(("rectangle", "ellipse"))) == "rectangle":
        return r0, c0, np.ones((r1 - r0, c1 - c0), dtype=bool)
    half_r, half_c = (r1 - r0) / 2, (c1 - c0) / 2
    across_r = ((np.arange(r1 - r0) - half_r + 0.5) / half_r) ** 2
    across_c = ((np.arange(c1 - c0) - half_c + 0.5) / half_c) ** 2
    # The centre pixel is always inside, so the ellipse is never empty.
    return r0, c0, across_r[:, None] + across_c[None, :] <= 1


def _paint(labels: np.ndarray, kept: np.ndarray, label: int, shape: tuple[int, int, np.ndarray]
           ) -> bool:  # fmt: skip
    """Paint ``shape`` as ``label`` over ``labels``, sparing the pixel each earlier label keeps.

    Every label keeps one pixel (marked in ``kept``), so no shape hides another
    completely; a shape lying on kept pixels only takes the first free pixel in
    raster order instead. False when every pixel is taken.
    """
    r0, c0, mask = shape
    height, width = mask.shape
    free = mask & ~kept[r0 : r0 + height, c0 : c0 + width]
    first = int(free.argmax())  # the first True in raster order, if any
    if free.flat[first]:
        np.copyto(labels[r0 : r0 + height, c0 : c0 + width], label, where=free)
        kept[r0 + first // width, c0 + first % width] = True
        return True
    spare = int(kept.argmin())
    if kept.flat[spare]:
        return False
    row, col = divmod(spare, labels.shape[1])
    labels[row, col] = label
    kept[row, col] = True
    return True


def _sides_for(
    side: int | st.SearchStrategy[int], other: int | st.SearchStrategy[int], instances: int
) -> int | st.SearchStrategy[int]:
    """The default side (1 to 32) raised so that an image holds ``instances`` pixels."""
    if side is not _SIDES or instances <= 1:
        return side
    across = other if isinstance(other, int) else int(np.ceil(np.sqrt(instances)))
    low = int(np.ceil(instances / max(across, 1)))
    return st.integers(low, max(low, 32))


def _size(draw: st.DrawFn, height: int | st.SearchStrategy[int],
          width: int | st.SearchStrategy[int], min_instances: int) -> tuple[int, int]:  # fmt: skip
    """Draw one ``(H, W)`` for several label images; reject one too small for them."""
    rows = _draw_int(draw, _sides_for(height, width, min_instances))
    cols = _draw_int(draw, _sides_for(width, height, min_instances))
    if rows * cols < min_instances:
        reject()
    return rows, cols


@st.composite
def label_images(
    draw: st.DrawFn,
    *,
    height: int | st.SearchStrategy[int] = _SIDES,
    width: int | st.SearchStrategy[int] = _SIDES,
    min_instances: int = 0,
    max_instances: int = 6,
) -> LabelImage:
    """Dense ``(H, W)`` uint8 label images: 0 background, every label 1..K present.

    Rectangles and ellipses are painted in order, later ones over earlier ones,
    but each keeps at least one pixel, so K is the number of shapes painted
    (fewer only when the image has fewer pixels than shapes).

    Parameters
    ----------
    height, width : int or strategy of int
        Image size; default 1 to 32 each (at least enough pixels for
        ``min_instances``: 16 to 32 for 255).
    min_instances, max_instances : int
        Bounds on K (at most 255). A fixed size with fewer than ``min_instances``
        pixels is refused; a drawn one is rejected.

    Examples
    --------
    The smallest example of four instances (what a failing test shrinks to):

    >>> from hypothesis import find, settings
    >>> smallest = find(label_images(height=2, width=3, min_instances=4), lambda labels: True,
    ...                 settings=settings(database=None))
    >>> smallest.tolist()
    [[1, 2, 3], [4, 0, 0]]
    """
    if not 0 <= min_instances <= max_instances <= 255:
        raise InvalidArgument(
            f"need 0 <= min_instances <= max_instances <= 255, got {min_instances}, {max_instances}"
        )
    if isinstance(height, int) and isinstance(width, int) and height * width < min_instances:
        raise InvalidArgument(
            f"a {height}x{width} (H x W) image holds fewer than min_instances={min_instances}"
        )
    height, width = (_sides_for(height, width, min_instances),
                     _sides_for(width, height, min_instances))  # fmt: skip
    rows, cols = _draw_int(draw, height), _draw_int(draw, width)
    if rows < 1 or cols < 1:
        raise InvalidArgument(f"height and width must be >= 1, got {rows}x{cols} (H x W)")
    if rows * cols < min_instances:
        reject()
    labels = np.zeros((rows, cols), dtype=np.uint8)
    kept = np.zeros((rows, cols), dtype=bool)
    for label in range(1, draw(st.integers(min_instances, max_instances)) + 1):
        if not _paint(labels, kept, label, draw(_shapes(rows, cols))):
            break
    return labels


def _class_lists(k: int, classes: Sequence[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(tuple(classes)), min_size=k, max_size=k)


def _ids(draw: st.DrawFn, n: int, worker_ids: st.SearchStrategy[str]) -> list[str]:
    return draw(st.lists(worker_ids, min_size=n, max_size=n, unique=True))


@st.composite
def worker_answers(
    draw: st.DrawFn,
    *,
    min_workers: int = 1,
    max_workers: int = 4,
    height: int | st.SearchStrategy[int] = _SIDES,
    width: int | st.SearchStrategy[int] = _SIDES,
    min_instances: int = 0,
    max_instances: int = 4,
    classes: Sequence[str] = DEFAULT_CLASSES,
    worker_ids: st.SearchStrategy[str] = _WORKER_IDS,
) -> list[WorkerAnnotation]:
    """Independent workers' answers for one image: distinct ids, one size.

    Each worker draws its own :func:`label_images` (``min_instances`` to
    ``max_instances`` instances) and classes from ``classes``, so the workers
    mostly disagree; see :func:`panels` for workers who agree.
    """
    n = draw(st.integers(min_workers, max_workers))
    ids = _ids(draw, n, worker_ids)
    rows, cols = _size(draw, height, width, min_instances)
    answers = []
    for worker_id in ids:
        labels = draw(label_images(height=rows, width=cols, min_instances=min_instances,
                                   max_instances=max_instances))  # fmt: skip
        names = draw(_class_lists(int(labels.max(initial=0)), classes))
        answers.append(WorkerAnnotation(worker_id, labels, tuple(names)))
    return answers


def _shifted(labels: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``labels`` moved by (rows, cols) pixels, filling with background."""
    out = np.zeros_like(labels)
    h, w = labels.shape
    src_r, dst_r = slice(max(-rows, 0), h - max(rows, 0)), slice(max(rows, 0), h - max(-rows, 0))
    src_c, dst_c = slice(max(-cols, 0), w - max(cols, 0)), slice(max(cols, 0), w - max(-cols, 0))
    out[dst_r, dst_c] = labels[src_r, src_c]
    return out


def _sometimes(draw: st.DrawFn) -> bool:
    """True one time in four; shrinks to False."""
    return draw(st.integers(0, 3)) == 3


@st.composite
def _noisy_copy(
    draw: st.DrawFn,
    worker_id: str,
    truth: np.ndarray,
    truth_classes: Sequence[str],
    max_instances: int,
    classes: Sequence[str],
) -> WorkerAnnotation:
    rows, cols = truth.shape
    k = len(truth_classes)
    if _sometimes(draw):  # a worker who ignores the truth (a spammer)
        labels = draw(label_images(height=rows, width=cols, max_instances=max_instances))
        names = draw(_class_lists(int(labels.max(initial=0)), classes))
        return WorkerAnnotation(worker_id, labels, tuple(names))
    names = list(truth_classes)
    labels = truth.copy()
    for label in range(1, k + 1):
        if _sometimes(draw):  # missed
            labels[labels == label] = 0
        if _sometimes(draw):  # wrong class
            names[label - 1] = draw(st.sampled_from(tuple(classes)))
    if _sometimes(draw):  # sloppy: everything one pixel off
        labels = _shifted(labels, draw(st.integers(-1, 1)), draw(st.integers(-1, 1)))
    if k < max_instances and _sometimes(draw):  # a false positive, painted over the rest
        r0, c0, mask = draw(_shapes(rows, cols))
        labels[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]][mask] = k + 1
        names.append(draw(st.sampled_from(tuple(classes))))
    dense, old = _dense(labels)
    order = draw(st.permutations(range(len(old))))  # each worker numbers instances its own way
    lut = np.zeros(len(old) + 1, dtype=np.uint8)
    lut[1:] = np.asarray(order, dtype=np.uint8) + 1
    final_names = [""] * len(old)
    for dense_index, final_index in enumerate(order):
        final_names[final_index] = names[old[dense_index] - 1]
    return WorkerAnnotation(worker_id, lut[dense], tuple(final_names))


@st.composite
def panels(
    draw: st.DrawFn,
    *,
    min_workers: int = 1,
    max_workers: int = 5,
    height: int | st.SearchStrategy[int] = _SIDES,
    width: int | st.SearchStrategy[int] = _SIDES,
    min_instances: int = 0,
    max_instances: int = 4,
    classes: Sequence[str] = DEFAULT_CLASSES,
    worker_ids: st.SearchStrategy[str] = _WORKER_IDS,
) -> list[WorkerAnnotation]:
    """A panel of workers labelling one image: noisy copies of one drawn truth.

    The truth holds ``min_instances`` to ``max_instances`` instances. Each
    worker copies it, then may miss instances, pick a wrong class, shift
    everything by one pixel, add a false positive (while under
    ``max_instances``), or ignore the truth and draw at random; and numbers its
    instances in its own order. No worker draws more than ``max_instances``.
    Examples shrink to workers who copy the truth exactly.
    """
    n = draw(st.integers(min_workers, max_workers))
    ids = _ids(draw, n, worker_ids)
    rows, cols = _size(draw, height, width, min_instances)
    truth = draw(label_images(height=rows, width=cols, min_instances=min_instances,
                              max_instances=max_instances))  # fmt: skip
    truth_classes = draw(_class_lists(int(truth.max(initial=0)), classes))
    return [
        draw(_noisy_copy(worker_id, truth, truth_classes, max_instances, classes))
        for worker_id in ids
    ]


def _colour_lists(k: int, png_mode: str) -> st.SearchStrategy[list[str]]:
    if png_mode in GREY_PNG_MODES:
        levels = st.lists(st.integers(1, 255), min_size=k, max_size=k, unique=True)
        return levels.map(lambda gs: [f"#{g:02x}{g:02x}{g:02x}" for g in gs])
    extra = list(instance_colours(k)[len(CATEGORY10) :])
    # Shrinks to the order the tool hands colours out in (#2ca02c, #1f77b4, ...).
    return st.permutations(TOOL_COLOUR_ORDER).map(lambda p: (list(p) + extra)[:k])


def _encode_drawn(
    draw: st.DrawFn,
    labels: np.ndarray,
    classes: Sequence[str],
    png_modes: Sequence[str],
) -> dict[str, Any]:
    k = len(classes)
    fitting = [m for m in png_modes if png_mode_capacity(m) >= k]
    if not fitting:
        reject()
    png_mode = draw(st.sampled_from(fitting))
    colours = draw(_colour_lists(k, png_mode))
    order = draw(st.permutations(range(k)))
    return encode_answer(labels, classes, colours, png_mode=png_mode, palette_order=order)


@st.composite
def labelled_answers(
    draw: st.DrawFn,
    *,
    labels: st.SearchStrategy[LabelImage] | None = None,
    png_modes: Sequence[str] = PNG_MODES,
    height: int | st.SearchStrategy[int] = _SIDES,
    width: int | st.SearchStrategy[int] = _SIDES,
    min_instances: int = 0,
    max_instances: int = 4,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> tuple[LabelImage, dict[str, Any]]:
    """A label image and the answer that encodes it: ``(labels, annotatedResult)``.

    Decoding the answer's PNG with its ``instances`` colours gives ``labels`` back.
    The PNG mode is drawn from ``png_modes`` (those that hold ``min_instances``);
    colours are category10 in a random order that shrinks to the tool's own
    (``#2ca02c``, ``#1f77b4``...; grey levels in greyscale modes) and palette
    indices are shuffled. With ``labels`` of your own, an image with more
    instances than every mode of ``png_modes`` holds is discarded: bound its
    instances by :func:`png_mode_capacity`.
    """
    modes = list(png_modes)
    if not modes or any(m not in PNG_MODES for m in modes):
        raise InvalidArgument(f"png_modes must be a non-empty subset of {PNG_MODES}")
    if labels is None:
        modes = [m for m in modes if png_mode_capacity(m) >= min_instances]
        if not modes:
            raise InvalidArgument(f"none of png_modes={list(png_modes)} holds "
                                  f"min_instances={min_instances} instances")  # fmt: skip
        png_mode = draw(st.sampled_from(modes))
        cap = min(max_instances, png_mode_capacity(png_mode))
        image = draw(label_images(height=height, width=width, min_instances=min_instances,
                                  max_instances=cap))  # fmt: skip
        modes = [png_mode]
    else:
        image = draw(labels)
    names = draw(_class_lists(int(image.max(initial=0)), classes))
    return image, _encode_drawn(draw, image, names, modes)


@st.composite
def annotated_results(
    draw: st.DrawFn,
    *,
    labels: st.SearchStrategy[LabelImage] | None = None,
    png_modes: Sequence[str] = PNG_MODES,
    height: int | st.SearchStrategy[int] = _SIDES,
    width: int | st.SearchStrategy[int] = _SIDES,
    min_instances: int = 0,
    max_instances: int = 4,
    classes: Sequence[str] = DEFAULT_CLASSES,
) -> dict[str, Any]:
    """One worker's answer (the ``annotatedResult`` dict), see :func:`labelled_answers`."""
    _, answer = draw(
        labelled_answers(
            labels=labels, png_modes=png_modes, height=height, width=width,
            min_instances=min_instances, max_instances=max_instances, classes=classes,
        )
    )  # fmt: skip
    return answer


@st.composite
def panel_answers(
    draw: st.DrawFn,
    *,
    panel: st.SearchStrategy[list[WorkerAnnotation]] | None = None,
    png_modes: Sequence[str] = PNG_MODES,
) -> list[tuple[str, dict[str, Any]]]:
    """A panel's answers as ``(worker_id, annotatedResult)``, each in its own PNG mode.

    ``panel`` defaults to :func:`panels` of at most as many instances as the
    roomiest of ``png_modes`` holds (4 at most); a worker of your own ``panel``
    with more instances than every mode holds makes Hypothesis discard the
    example. Feed the result to :func:`recipe_line`.
    """
    modes = list(png_modes)
    if not modes or any(m not in PNG_MODES for m in modes):
        raise InvalidArgument(f"png_modes must be a non-empty subset of {PNG_MODES}")
    if panel is None:
        panel = panels(max_instances=min(4, max(png_mode_capacity(m) for m in modes)))
    workers = draw(panel)
    return [
        (worker.worker_id, _encode_drawn(draw, worker.labels, worker.classes, modes))
        for worker in workers
    ]


def recipe_line(
    answers: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    label_attribute: str = "gt-label",
    element: str = "annotatedResult",
    source_ref: str = "s3://bucket/images/image.png",
) -> str:
    """An output-manifest line as the recipe's pass-through Lambda writes it.

    Each answer is wrapped as ``{"workerId", "annotationData": {"content": "<JSON
    string>"}}`` under ``<label_attribute>.annotationsFromAllWorkers``. See
    :func:`wild_lines` for the other forms lines take.

    Examples
    --------
    >>> line = recipe_line([("w1", {"instances": []})], label_attribute="job")
    >>> json.loads(line)["job"]["annotationsFromAllWorkers"][0]["annotationData"]["content"]
    '{"annotatedResult": {"instances": []}}'
    """
    entries = [answer_entry(worker_id, answer, element=element)[0] for worker_id, answer in answers]
    return _line(entries, label_attribute, source_ref, "recipe")


#: The forms of one worker's entry (an element of ``annotationsFromAllWorkers``
#: or of a payload's ``annotations``) that :func:`answer_entry` writes:
#: ``content`` (the recipe's: the answer as a JSON string), ``s3Uri`` and
#: ``s3uri`` (the answer is an S3 object; ``s3uri`` is the spelling the sample
#: recipe looks up), ``worker_id`` (the id under that key), ``list`` (the
#: element wrapped in a one-element list, as some templates submit it) and
#: ``escaped`` (the base64's ``=`` written as the JSON escape ``\\u003d``).
ENTRY_FORMS = ("content", "s3Uri", "s3uri", "worker_id", "list", "escaped")

#: The forms of a line's metadata that :func:`wild_lines` writes: ``recipe``
#: (``<attr>-metadata``, as the recipe's Lambda), ``snake_case`` (``job_name``,
#: ``creation_date`` with a fraction and no offset), ``groundTruth``
#: (``groundTruth/custom``), ``other_key`` (``<attr>-17-metadata``, job
#: ``<attr>-17``, as in the real sample) and ``absent``.
METADATA_FORMS = ("recipe", "snake_case", "groundTruth", "other_key", "absent")


def answer_entry(
    worker_id: str,
    answer: Mapping[str, Any],
    *,
    form: str = "content",
    element: str = "annotatedResult",
    uri: str | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One worker's entry in one of :data:`ENTRY_FORMS`, and the S3 objects it names.

    Parameters
    ----------
    worker_id : str
    answer : mapping
        The ``annotatedResult`` value (:func:`encode_answer`).
    form : str, default "content"
        One of :data:`ENTRY_FORMS`.
    element : str, default "annotatedResult"
    uri : str, optional
        Where an ``s3Uri``/``s3uri`` entry's answer lives; default
        ``s3://bucket/answers/<worker_id>.json``.

    Returns
    -------
    (dict, dict of str to bytes)
        The entry, and ``{uri: JSON bytes}`` for the answer it refers to (empty
        unless ``form`` is ``s3Uri`` or ``s3uri``): pass ``fetch=store.__getitem__``.

    Examples
    --------
    >>> entry, store = answer_entry("w1", {"instances": []}, form="s3Uri")
    >>> entry
    {'workerId': 'w1', 'annotationData': {'s3Uri': 's3://bucket/answers/w1.json'}}
    >>> store
    {'s3://bucket/answers/w1.json': b'{"annotatedResult": {"instances": []}}'}
    """
    if form not in ENTRY_FORMS:
        raise InvalidArgument(f"form must be one of {ENTRY_FORMS}, got {form!r}")
    content = json.dumps({element: [answer] if form == "list" else answer})
    if form == "escaped":
        content = content.replace("=", "\\u003d")
    if form in ("s3Uri", "s3uri"):
        where = uri or f"s3://bucket/answers/{worker_id}.json"
        return {"workerId": worker_id, "annotationData": {form: where}}, {where: content.encode()}
    key = "worker_id" if form == "worker_id" else "workerId"
    return {key: worker_id, "annotationData": {"content": content}}, {}


def _metadata(label_attribute: str, form: str) -> tuple[str, dict[str, str]] | None:
    if form == "absent":
        return None
    key, job, date = f"{label_attribute}-metadata", label_attribute, "2019-04-01T05:21:34+0000"
    kind = "groundTruth/custom" if form == "groundTruth" else "groundtruth/custom"
    if form == "other_key":
        key, job = f"{label_attribute}-17-metadata", f"{label_attribute}-17"
    if form == "snake_case":
        return key, {"type": kind, "job_name": job, "human_annotated": "yes",
                     "creation_date": "2019-04-01T05:21:34.123456"}  # fmt: skip
    return key, {"type": kind, "job-name": job, "human-annotated": "yes", "creation-date": date}


def _line(entries: Sequence[Mapping[str, Any]], label_attribute: str, source_ref: str,
          metadata_form: str) -> str:  # fmt: skip
    line: dict[str, Any] = {
        "source-ref": source_ref,
        label_attribute: {"annotationsFromAllWorkers": list(entries)},
    }
    metadata = _metadata(label_attribute, metadata_form)
    if metadata is not None:
        line[metadata[0]] = metadata[1]
    return json.dumps(line)


def _entries(
    draw: st.DrawFn,
    answers: Sequence[tuple[str, Mapping[str, Any]]],
    forms: Sequence[str],
    element: str,
    prefix: str,
) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    entries, store = [], {}
    for worker_id, answer in answers:
        form = draw(st.sampled_from(tuple(forms)))
        entry, objects = answer_entry(worker_id, answer, form=form, element=element,
                                      uri=f"{prefix}{worker_id}.json")  # fmt: skip
        entries.append(entry)
        store.update(objects)
    return entries, store


def _forms(forms: Sequence[str], known: Sequence[str], name: str) -> list[str]:
    chosen = list(forms)
    if not chosen or any(f not in known for f in chosen):
        raise InvalidArgument(f"{name} must be a non-empty subset of {tuple(known)}, got {chosen}")
    return chosen


@st.composite
def wild_lines(
    draw: st.DrawFn,
    *,
    answers: st.SearchStrategy[list[tuple[str, dict[str, Any]]]] | None = None,
    forms: Sequence[str] = ENTRY_FORMS,
    metadata_forms: Sequence[str] = METADATA_FORMS,
    label_attribute: str = "gt-label",
    element: str = "annotatedResult",
) -> tuple[str, dict[str, bytes]]:
    """Output-manifest lines in the forms seen in the wild, and the S3 objects they name.

    Like :func:`recipe_line`, but each worker's entry takes one of ``forms``
    (:data:`ENTRY_FORMS`: answers by ``s3Uri`` reference, ``worker_id``, an
    element wrapped in a list, JSON escapes) and the metadata one of
    ``metadata_forms`` (:data:`METADATA_FORMS`: other spellings, another key,
    none). Examples shrink to the recipe's own line.

    Parameters
    ----------
    answers : strategy, optional
        ``(worker_id, annotatedResult)`` lists; default :func:`panel_answers`.

    Returns
    -------
    (str, dict of str to bytes)
        The line (no newline) and the answers it refers to by URI: read it with
        ``consolidate_line(line, fetch=store.__getitem__)``.
    """
    forms = _forms(forms, ENTRY_FORMS, "forms")
    metadata_forms = _forms(metadata_forms, METADATA_FORMS, "metadata_forms")
    drawn = draw(panel_answers() if answers is None else answers)
    entries, store = _entries(draw, drawn, forms, element, "s3://bucket/answers/")
    metadata_form = draw(st.sampled_from(metadata_forms))
    return _line(entries, label_attribute, "s3://bucket/images/image.png", metadata_form), store


def _optional(draw: st.DrawFn, event: dict[str, Any], key: str, value: Any) -> None:
    """Set ``event[key]`` to ``value``, to null, or leave it out (all occur)."""
    how = draw(st.sampled_from(("value", "null", "absent")))
    if how != "absent":
        event[key] = value if how == "value" else None


@st.composite
def lambda_requests(
    draw: st.DrawFn,
    *,
    objects: st.SearchStrategy[list[list[tuple[str, dict[str, Any]]]]] | None = None,
    forms: Sequence[str] = ENTRY_FORMS,
    label_attribute: str = "gt-label",
    element: str = "annotatedResult",
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A post-annotation Lambda event and the S3 objects it names (payload, answers).

    The event takes either ``version``, and each optional key (``labelCategories``,
    ``outputConfig``, ``kmsKeyId``, ``maxHumanWorkersPerDataObject``) is set,
    null or absent; sometimes a key Ground Truth may add later is there. The
    payload holds one entry per object (ids ``"0"``, ``"1"``...), its
    ``dataObject`` by ``s3Uri`` or inline ``content``, each answer in one of
    ``forms``; ``maxHumanWorkersPerDataObject`` may exceed the answers an
    object got (expired tasks).

    Parameters
    ----------
    objects : strategy, optional
        One answer list per object; default 1 to 3 :func:`panel_answers`.

    Returns
    -------
    (dict, dict of str to bytes)
        The event and ``{uri: bytes}`` for the payload file and the answers
        given by reference: a fake S3 for your handler.
    """
    forms = _forms(forms, ENTRY_FORMS, "forms")
    batch = draw(st.lists(panel_answers(), min_size=1, max_size=3) if objects is None else objects)
    if not batch or any(not answers for answers in batch):
        raise InvalidArgument("objects must draw a non-empty list of non-empty answer lists")
    payload, store = [], {}
    for index, answers in enumerate(batch):
        prefix = f"s3://bucket/job/annotations/worker-response/iteration-1/{index}/"
        entries, objects_of = _entries(draw, answers, forms, element, prefix)
        store.update(objects_of)
        inline = draw(st.booleans())
        data_object = (
            {"content": f"image {index}"}
            if inline
            else {"s3Uri": f"s3://bucket/images/{index}.jpg"}
        )
        payload.append({"datasetObjectId": str(index), "dataObject": data_object,
                        "annotations": entries})  # fmt: skip
    payload_uri = ("s3://bucket/job/annotations/consolidated-annotation/consolidation-request/"
                   "iteration-1/2026-11-25_10:00:00.json")  # fmt: skip
    store[payload_uri] = json.dumps(payload).encode()
    event: dict[str, Any] = {
        "version": draw(st.sampled_from(("2018-10-06", "2018-10-16"))),
        "labelingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/job",
        "labelAttributeName": label_attribute,
        "roleArn": "arn:aws:iam::111122223333:role/GroundTruthExecution",
        "payload": {"s3Uri": payload_uri},
    }
    classes = sorted({i["label"] for answers in batch for _, a in answers for i in a["instances"]})
    _optional(draw, event, "labelCategories", classes)
    _optional(draw, event, "outputConfig", "s3://bucket/job/annotations")
    _optional(draw, event, "kmsKeyId", None)
    most = max(len(answers) for answers in batch) + draw(st.integers(0, 2))
    _optional(draw, event, "maxHumanWorkersPerDataObject", most)
    if draw(st.booleans()):
        event["someFutureKey"] = {"ignored": True}
    return event, store
