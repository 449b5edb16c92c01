"""Pseudonymous worker ids: a keyed hash in place of every worker id, stable per secret.

Reports, worker tables and output manifests name Ground Truth workers by their
ids (``private.us-east-1.MBYV...``). To share them outside the team, every id
is replaced by :func:`pseudonym`: ``anon-`` and the first 20 hex digits of
HMAC-SHA256 keyed with a secret. The same secret gives the same pseudonym in
every run and every file, so tables and reports still line up; without the
secret the ids cannot be recovered or confirmed by hashing guesses.

In an output line the ids are found where the output contract puts them
(``workerId`` of the raw answers and rejections, the keys of
``consensus.workers``, ``consensus.instances[].support``), then replaced
everywhere in the line: those places, keys, and inside any other string
(messages, the JSON strings of ``annotationData.content``); the PNGs' base64
is left alone. Answers kept behind references (``s3Uri``, ``-ref`` keys,
``worker-response-ref``) are not read: the files they point to keep their ids.

Examples
--------
>>> pseudonym("private.us-east-1.MBYVEFYFZNCO7HADUSARN7NF2A", "s3cret")
'anon-08525f43f2a08b5a3ba9'
>>> line = {"gt": {"consensus": {"workers": {"w-17": {"score": 1.0}},
...                              "instances": [{"support": ["w-17"]}]}}}
>>> pseudonymize_line(line, "s3cret")
{'gt': {'consensus': {'workers': {'anon-0d948dce6e5e772548be': {'score': 1.0}}, \
'instances': [{'support': ['anon-0d948dce6e5e772548be']}]}}}
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from gtconsensus.exceptions import OptionsError

__all__ = [
    "pseudonym",
    "pseudonymize_line",
    "pseudonymize_worker_model",
    "pseudonymize_worker_rows",
    "worker_ids_in",
]

_ID_KEYS = frozenset({"workerId", "worker_id", "workerID"})
_PNG_KEYS = frozenset({"pngImageData"})


def pseudonym(worker_id: str, secret: str) -> str:
    """``anon-`` and 20 hex digits of HMAC-SHA256(``secret``, ``worker_id``)."""
    if not secret:
        raise OptionsError("bad_option", "the pseudonymisation secret must not be empty")
    digest = hmac.new(secret.encode("utf-8"), worker_id.encode("utf-8"), hashlib.sha256)
    return "anon-" + digest.hexdigest()[:20]


def _parse_json_string(text: str) -> Any:
    if text[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def worker_ids_in(value: Any) -> set[str]:
    """The worker ids a JSON value names where the output contract puts them."""
    found: set[str] = set()
    stack: list[tuple[str | None, Any]] = [(None, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, Mapping):
            if key == "workers":
                found.update(str(k) for k in item)
            for k, v in item.items():
                if k in _ID_KEYS and isinstance(v, str):
                    found.add(v)
                else:
                    stack.append((str(k), v))
        elif isinstance(item, list):
            if key == "support":
                found.update(v for v in item if isinstance(v, str))
            else:
                stack.extend((key, v) for v in item)
        elif isinstance(item, str) and key not in _PNG_KEYS:
            parsed = _parse_json_string(item)
            if parsed is not None:
                stack.append((key, parsed))
    return found


def _replace_text(text: str, names: Mapping[str, str]) -> str:
    if text in names:
        return names[text]
    for old in sorted(names, key=len, reverse=True):  # a longer id first: one may hold another
        if old in text:
            text = text.replace(old, names[old])
    return text


def _replace(value: Any, names: Mapping[str, str], key: str | None = None) -> Any:
    if isinstance(value, Mapping):
        return {_replace_text(str(k), names): _replace(v, names, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, names, key) for v in value]
    if isinstance(value, str) and key not in _PNG_KEYS:
        parsed = _parse_json_string(value)
        if parsed is not None:
            if not worker_ids_in(parsed) & names.keys() and not any(n in value for n in names):
                return value  # untouched: the raw answer stays byte-identical
            return json.dumps(_replace(parsed, names), separators=(",", ":"), ensure_ascii=False)
        return _replace_text(value, names)
    return value


def pseudonymize_line(
    line: Mapping[str, Any], secret: str, *, also: Iterable[str] = ()
) -> dict[str, Any]:
    """An output-manifest line with every worker id replaced by its :func:`pseudonym`.

    Parameters
    ----------
    line : mapping
        The parsed line.
    secret : str
        The key of the hash.
    also : iterable of str
        More ids to replace wherever they occur (for example every id of the job).
    """
    ids = worker_ids_in(line) | set(also)
    names = {worker_id: pseudonym(worker_id, secret) for worker_id in ids if worker_id}
    replaced: dict[str, Any] = _replace(line, names)
    return replaced


def pseudonymize_worker_rows(
    rows: Iterable[Mapping[str, Any]], secret: str, *, column: str = "worker_id"
) -> list[dict[str, Any]]:
    """Rows of a worker table (``consolidate --workers``) with ``column`` pseudonymised.

    Examples
    --------
    >>> pseudonymize_worker_rows([{"worker_id": "w-17", "score": "0.9"}], "s3cret")
    [{'worker_id': 'anon-0d948dce6e5e772548be', 'score': '0.9'}]
    """
    return [
        {**row, column: pseudonym(str(row[column]), secret)} if row.get(column) else dict(row)
        for row in rows
    ]


def pseudonymize_worker_model(model: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """A saved worker model (``--save-worker-model``) with its ``workers`` keys pseudonymised."""
    workers = model.get("workers")
    if not isinstance(workers, Mapping):
        return dict(model)
    return {**model, "workers": {pseudonym(str(k), secret): v for k, v in workers.items()}}
