"""Merging the lines of one image from several manifests into one line, with provenance.

An image labeled in several jobs (a job, a re-labeling round, an adjustment job) has
one line in each job's output manifest. :func:`merge_lines` makes one line of them:
every answer under one label attribute, in order, and under
``<attr>-metadata.gtconsensus-merged`` (:data:`MERGED_KEY`) which input line each
answer came from and, when the input says so, when it was submitted. The rules
(order, the same worker twice, label attributes that differ) are in
``docs/merging.md``; :mod:`gtconsensus.adapters.merge` applies them to whole files.
Pure apart from the ``fetch`` callable that reads referenced answers.

Examples
--------
>>> ref = "s3://b/1.jpg"
>>> first = {"source-ref": ref, "gt": {"annotationsFromAllWorkers": [{"workerId": "w1"}]}}
>>> again = {"source-ref": ref, "re": {"annotationsFromAllWorkers": [{"workerId": "w2"}]}}
>>> sources = [Source("a.manifest", 1, "gt", first), Source("b.manifest", 4, "re", again)]
>>> merged = merge_lines(sources, attribute="gt")
>>> [a["workerId"] for a in merged["gt"]["annotationsFromAllWorkers"]]
['w1', 'w2']
>>> merged["gt-metadata"]["gtconsensus-merged"]["answers"]
[{'source': 0, 'workerId': 'w1'}, {'source': 1, 'workerId': 'w2'}]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtconsensus.answers import Fetch
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import FetchError, SchemaError
from gtconsensus.forms import answers_from_worker_response, worker_response_ref
from gtconsensus.lines import _finite_float, _refuse_constant
from gtconsensus.references import RAW_REF_KEY, resolve_references, value_ref_key

__all__ = [
    "ANSWER_TIME_KEYS",
    "MERGED_KEY",
    "Source",
    "merge_answers",
    "merge_lines",
    "parse_object",
    "read_answers_of",
]

_BOM = "\ufeff"
#: Key of ``<attr>-metadata`` that holds a merged line's provenance.
MERGED_KEY = "gtconsensus-merged"
#: Keys of an answer copied into its provenance when present (worker-response files).
ANSWER_TIME_KEYS = ("submissionTime", "acceptanceTime", "timeSpentInSeconds")
#: Metadata copied into a source's provenance (first spelling wins), under the first name.
_SOURCE_METADATA = (
    ("job-name", "job_name"),
    ("creation-date", "creation_date"),
    ("worker-response-ref", "worker_response_ref"),
)


@dataclass(frozen=True, slots=True)
class Source:
    """One input line of a merged object.

    Attributes
    ----------
    file : str
        The input as given (path or URI).
    line : int
        Its 1-based physical line (array index for a payload file).
    attribute : str
        Its label attribute (the input's).
    parsed : dict
        The line.
    """

    file: str
    line: int
    attribute: str
    parsed: dict[str, Any]


def read_answers_of(
    source: Source, *, fetch: Fetch | None = None
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The raw answers of a line (references followed) and what is known of each.

    Returns
    -------
    (list, list of dict)
        The ``annotationsFromAllWorkers`` entries, and for each its
        ``workerId`` and the keys of :data:`ANSWER_TIME_KEYS` the answer carries
        (worker-response files have them; recipe entries usually do not).

    Raises
    ------
    GtConsensusError
        When the answers cannot be read (``missing_label_attribute``,
        ``bad_schema``, ``missing_answers``, a fetch error...).

    Examples
    --------
    >>> response = {"answers": [{"workerId": "w1", "answerContent": {"annotatedResult": {}},
    ...                          "submissionTime": "2026-11-20T18:59:58.321Z"}]}
    >>> line = {"source-ref": "s3://b/1.jpg", "gt": {},
    ...         "gt-metadata": {"worker-response-ref": "s3://b/r.json"}}
    >>> entries, known = read_answers_of(Source("a", 1, "gt", line),
    ...                                  fetch=lambda uri: json.dumps(response))
    >>> entries[0]["workerId"], known
    ('w1', [{'workerId': 'w1', 'submissionTime': '2026-11-20T18:59:58.321Z'}])
    """
    parsed, attribute = source.parsed, source.attribute
    value = parsed.get(attribute)
    if not isinstance(value, Mapping):
        what = "no" if value is None else f"a {type(value).__name__} as"
        raise SchemaError("missing_label_attribute", f"line has {what} label attribute {attribute}")
    value = resolve_references(value, attribute=attribute, fetch=fetch)
    if RAW_KEY in value:
        entries = value[RAW_KEY]
        answers = entries if isinstance(entries, list) else None
    else:
        uri = worker_response_ref(parsed, attribute)
        if uri is None:
            raise SchemaError("missing_answers", f"`{attribute}` has no `{RAW_KEY}`")
        if fetch is None:
            raise SchemaError("unresolved_reference", f"answers are in {uri}: no fetch")
        data = fetch(uri)
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise FetchError("bad_worker_response", f"{uri}: not JSON ({exc})") from exc
        entries = answers_from_worker_response(document)
        answers = document["answers"]
    if not isinstance(entries, list) or answers is None:
        raise SchemaError("bad_schema", f"`{attribute}.{RAW_KEY}` must be a list")
    return entries, [_known(entry, answer) for entry, answer in zip(entries, answers, strict=True)]


def _known(entry: Any, answer: Any) -> dict[str, Any]:
    known: dict[str, Any] = {}
    if isinstance(entry, Mapping):
        known["workerId"] = entry.get("workerId", entry.get("worker_id"))
    if isinstance(answer, Mapping):
        known.update((k, answer[k]) for k in ANSWER_TIME_KEYS if k in answer)
    return known


def _source_info(source: Source) -> dict[str, Any]:
    info: dict[str, Any] = {
        "file": source.file,
        "line": source.line,
        "attribute": source.attribute,
    }
    keys = [f"{source.attribute}-metadata"] + [k for k in source.parsed if k.endswith("-metadata")]
    for names in _SOURCE_METADATA:
        for key in keys:
            metadata = source.parsed.get(key)
            found = [metadata[n] for n in names if isinstance(metadata, Mapping) and n in metadata]
            if found:
                info[names[0]] = found[0]
                break
    return info


def merge_lines(
    sources: Sequence[Source], *, attribute: str, fetch: Fetch | None = None
) -> dict[str, Any]:
    """One manifest line holding the answers of every source line, with their provenance.

    Parameters
    ----------
    sources : sequence of Source
        The lines of one image, in order (file by file, line by line); their
        answers must be readable (:func:`read_answers_of`).
    attribute : str
        The label attribute of the merged line.
    fetch : callable, optional
        Reads referenced answers.

    Returns
    -------
    dict
        The keys of the source lines in order (the first line's value wins for a
        key several lines have), each source's label attribute replaced by
        ``attribute``, whose value is the first source's with
        ``annotationsFromAllWorkers`` holding every answer in order, and
        ``<attribute>-metadata.gtconsensus-merged``::

            {"sources": [{"file", "line", "attribute", "job-name"?, "creation-date"?,
                          "worker-response-ref"?}],
             "answers": [{"source": <index in sources>, "workerId",
                          "submissionTime"?, "acceptanceTime"?, "timeSpentInSeconds"?}]}

        where ``answers[i]`` describes ``annotationsFromAllWorkers[i]``.
    """
    read = [read_answers_of(source, fetch=fetch) for source in sources]
    return merge_answers(sources, read, attribute=attribute)


def merge_answers(
    sources: Sequence[Source],
    read: Sequence[tuple[list[Any], list[dict[str, Any]]]],
    *,
    attribute: str,
) -> dict[str, Any]:
    """:func:`merge_lines` with each source's answers already read (:func:`read_answers_of`)."""
    merged: dict[str, Any] = {}
    entries: list[Any] = []
    provenance: list[dict[str, Any]] = []
    for index, (source, (answers, known)) in enumerate(zip(sources, read, strict=True)):
        entries.extend(answers)
        provenance.extend({"source": index, **k} for k in known)
        for key, item in source.parsed.items():
            if key == source.attribute:
                key, item = attribute, _without_references(item, source.attribute)
            merged.setdefault(key, item)
    merged[attribute] = {**merged[attribute], RAW_KEY: entries}
    record = {"sources": [_source_info(s) for s in sources], "answers": provenance}
    metadata_key = f"{attribute}-metadata"
    metadata = merged.get(metadata_key, {})
    if isinstance(metadata, Mapping):
        merged[metadata_key] = {**metadata, MERGED_KEY: record}
    else:  # a metadata key that is not an object is kept as it is
        merged[MERGED_KEY] = record
    return merged


def _without_references(value: Any, attribute: str) -> dict[str, Any]:
    drop = (RAW_REF_KEY, value_ref_key(attribute))
    return {k: v for k, v in value.items() if k not in drop} if isinstance(value, Mapping) else {}


def parse_object(raw: str) -> dict[str, Any] | None:
    """A manifest line as a JSON object, or ``None`` when :func:`~gtconsensus.lines.prepare_line`
    would refuse it as such (not UTF-8, not JSON, not an object, a non-finite number).

    Examples
    --------
    >>> parse_object('{"source-ref": "s3://b/1.jpg"}'), parse_object("[1]"), parse_object("{x")
    ({'source-ref': 's3://b/1.jpg'}, None, None)
    """
    text = raw[1:] if raw.startswith(_BOM) else raw
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None
