"""The post-annotation response: one entry per object, kept under Lambda's 6 MB limit.

A synchronous Lambda returns at most 6 MB for the whole batch. The response is
measured as the Python runtime serialises it (``json.dumps`` with its default
separators and ASCII escapes), and when it is over the budget
(``GTCONSENSUS_RESPONSE_BUDGET``, default 5,800,000 bytes) parts of it move to
S3, under ``<prefix>/gtconsensus/<batch>/<datasetObjectId>/``:

1. raw answers first: ``annotationsFromAllWorkers`` becomes
   ``annotationsFromAllWorkers-ref`` (same position) holding the URI of
   ``annotationsFromAllWorkers.json``, object by object, the largest saving
   first (ties in payload order), until the response fits;
2. only if all raw answers are out and it still does not fit, whole values:
   the value becomes ``{"<attr>-ref": "s3://.../value.json"}``, again the
   largest saving first, until it fits. ``value.json`` holds the value with its
   raw answers by reference.

So ``annotatedResult`` keeps its shape whenever it is inline.
:func:`gtconsensus.references.resolve_references` reads it all back.

Examples
--------
>>> plan_spill([100, 300, 200], [90, 120, 150], [40, 40, 40], budget=400)
[0, 1, 1]
>>> plan_spill([100, 300, 200], [90, 120, 150], [40, 40, 40], budget=250)
[1, 2, 2]
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import StorageError
from gtconsensus.references import RAW_REF_KEY, value_ref_key

__all__ = [
    "DEFAULT_BUDGET",
    "INLINE",
    "RAW_SPILLED",
    "RESPONSE_LIMIT",
    "VALUE_SPILLED",
    "FittedResponse",
    "fit_response",
    "plan_spill",
    "response_entry",
    "runtime_size",
    "spill_uris",
]

#: Lambda's limit for a synchronous response (6 MB).
RESPONSE_LIMIT = 6 * 1024 * 1024
#: The default budget: the limit less a margin for the runtime's own framing.
DEFAULT_BUDGET = 5_800_000
#: Levels of :func:`plan_spill`: everything inline, raw answers in S3, whole value in S3.
INLINE, RAW_SPILLED, VALUE_SPILLED = 0, 1, 2


def runtime_size(value: Any) -> int:
    """Bytes of ``value`` as the Lambda runtime serialises it (``json.dumps`` defaults).

    Examples
    --------
    >>> runtime_size([{"a": "é"}])  # '[{"a": "\\u00e9"}]'
    17
    """
    return len(json.dumps(value).encode("utf-8"))


def response_entry(dataset_object_id: str, attribute: str, value: Any) -> dict[str, Any]:
    """One entry of the response list, as Ground Truth expects it.

    Examples
    --------
    >>> response_entry("7", "gt", {"consensus": {}})
    {'datasetObjectId': '7', 'consolidatedAnnotation': {'content': {'gt': {'consensus': {}}}}}
    """
    return {
        "datasetObjectId": dataset_object_id,
        "consolidatedAnnotation": {"content": {attribute: value}},
    }


def _list_size(sizes: Sequence[int]) -> int:
    return 2 + sum(sizes) + 2 * max(len(sizes) - 1, 0)  # "[", "]" and ", " between


def plan_spill(
    inline: Sequence[int],
    without_raws: Sequence[int],
    referenced: Sequence[int],
    *,
    budget: int,
) -> list[int]:
    """Choose what goes to S3: a level per entry (0 inline, 1 raw answers, 2 whole value).

    Parameters
    ----------
    inline, without_raws, referenced : sequence of int
        Each entry's serialised size at level 0, 1 and 2.
    budget : int
        The largest response allowed, in bytes.

    Returns
    -------
    list of int
        The level of each entry; the response may still be over budget when
        every value is referenced (the caller says so).
    """
    levels = [INLINE] * len(inline)
    sizes = list(inline)
    for level, target in ((RAW_SPILLED, without_raws), (VALUE_SPILLED, referenced)):
        if _list_size(sizes) <= budget:
            break
        savings = sorted(
            ((sizes[i] - target[i], i) for i in range(len(sizes)) if target[i] < sizes[i]),
            key=lambda pair: (-pair[0], pair[1]),
        )
        for saving, i in savings:
            if _list_size(sizes) <= budget:
                break
            levels[i], sizes[i] = level, sizes[i] - saving
    return levels


def _object_part(dataset_object_id: str) -> str:
    return urllib.parse.quote(dataset_object_id, safe="") or "_"


def spill_uris(base: str, dataset_object_id: str, *, occurrence: int = 1) -> tuple[str, str]:
    """The URIs of an object's raw answers and whole value under ``base``.

    ``occurrence`` counts the entries with this id so far: given a list that
    repeats an id, the second one gets its own folder, ``<id>/2/``, so that
    neither overwrites the other's files. (The Lambda merges the payload elements
    that repeat an id into one object first, Ground Truth wanting one entry per
    id, so its spill never repeats one.) A quoted id has no ``/``, so no other
    id's folder can be named so.

    Examples
    --------
    >>> spill_uris("s3://b/out/gtconsensus/iteration-1/req", "a/b")
    ('s3://b/out/gtconsensus/iteration-1/req/a%2Fb/annotationsFromAllWorkers.json', \
's3://b/out/gtconsensus/iteration-1/req/a%2Fb/value.json')
    >>> spill_uris("s3://b/req", "7", occurrence=2)[1]
    's3://b/req/7/2/value.json'
    """
    folder = f"{base.rstrip('/')}/{_object_part(dataset_object_id)}"
    if occurrence > 1:
        folder = f"{folder}/{occurrence}"
    return f"{folder}/{RAW_KEY}.json", f"{folder}/value.json"


def _without_raws(value: Mapping[str, Any], uri: str) -> dict[str, Any]:
    return {
        (RAW_REF_KEY if key == RAW_KEY else key): (uri if key == RAW_KEY else item)
        for key, item in value.items()
    }


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True, eq=False)
class FittedResponse:
    """The response list and what it took to fit it.

    Attributes
    ----------
    entries : list of dict
        One per object, in input order.
    size : int
        Serialised bytes of ``entries`` (as the runtime writes them).
    levels : tuple of int
        Per object: 0 inline, 1 raw answers in S3, 2 whole value in S3.
    bytes_written : int
        Bytes written to S3.
    """

    entries: list[dict[str, Any]]
    size: int
    levels: tuple[int, ...]
    bytes_written: int


def fit_response(
    values: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    attribute: str,
    budget: int,
    spill_base: str | None,
    put: Callable[[str, bytes], None],
    threads: int = 16,
) -> FittedResponse:
    """Build the response and move parts of it to S3 when it is over ``budget``.

    Parameters
    ----------
    values : sequence of (str, mapping)
        ``(datasetObjectId, value under the label attribute)`` in payload order.
    attribute : str
        The label attribute.
    budget : int
        Largest response allowed, in bytes.
    spill_base : str or None
        ``s3://`` folder for this batch's spill; ``None`` when none is known.
    put : callable
        Writes bytes to an ``s3://`` URI (:meth:`gtconsensus.adapters.s3.S3Store.put_json`).
    threads : int, default 16
        Concurrent writes.

    Raises
    ------
    StorageError
        ``no_spill_location`` when the response needs S3 and ``spill_base`` is
        None, ``response_too_large`` when even every value in S3 is too much,
        ``write_failed`` from ``put``.
    """
    entries = [response_entry(i, attribute, v) for i, v in values]
    inline = [runtime_size(e) for e in entries]
    if _list_size(inline) <= budget:
        return FittedResponse(entries, _list_size(inline), (INLINE,) * len(entries), 0)
    if spill_base is None:
        raise StorageError(
            "no_spill_location",
            f"the response is {_list_size(inline)} bytes, over the budget of {budget}, and "
            "neither the event's outputConfig nor GTCONSENSUS_SPILL_PREFIX says where to put it",
        )
    seen: Counter[str] = Counter()
    uris = []
    for i, _ in values:
        seen[i] += 1
        uris.append(spill_uris(spill_base, i, occurrence=seen[i]))
    light = [
        response_entry(i, attribute, _without_raws(v, raw) if RAW_KEY in v else v)
        for (i, v), (raw, _) in zip(values, uris, strict=True)
    ]
    referenced = [
        response_entry(i, attribute, {value_ref_key(attribute): whole})
        for (i, _), (_, whole) in zip(values, uris, strict=True)
    ]
    levels = plan_spill(
        inline, [runtime_size(e) for e in light], [runtime_size(e) for e in referenced],
        budget=budget,
    )  # fmt: skip
    chosen = [(entries, light, referenced)[level][k] for k, level in enumerate(levels)]
    size = runtime_size(chosen)
    if size > budget:
        raise StorageError(
            "response_too_large",
            f"{len(chosen)} objects need {size} bytes even with every value in S3 "
            f"(budget {budget}); lower the batch size of the job",
        )
    writes = []
    for k, level in enumerate(levels):
        if level >= RAW_SPILLED and RAW_KEY in values[k][1]:
            writes.append((uris[k][0], _compact(values[k][1][RAW_KEY])))
        if level == VALUE_SPILLED:
            content = light[k]["consolidatedAnnotation"]["content"]
            writes.append((uris[k][1], _compact(content[attribute])))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(lambda write: put(*write), writes))
    return FittedResponse(chosen, size, tuple(levels), sum(len(d) for _, d in writes))
