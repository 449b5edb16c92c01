"""References to S3 that stand in for large parts of a label-attribute value.

The post-annotation Lambda must answer within 6 MB for the whole batch, so it may
move parts of an object's value to S3 and leave a ``-ref`` key holding the
``s3://`` URI (see ``docs/lambda.md``):

- ``annotationsFromAllWorkers-ref`` instead of ``annotationsFromAllWorkers``:
  the raw answers, a JSON list, moved first;
- ``<attr>-ref`` as the only key of the value: the whole value (a JSON object),
  moved only when the batch is still over budget.

:func:`resolve_references` puts back what they point to, through the same
``fetch`` callable that reads answers given as ``annotationData.s3Uri``. It is
pure apart from that callable.

Examples
--------
>>> store = {"s3://b/v.json": '{"consensus": {}, "annotationsFromAllWorkers-ref": "s3://b/r.json"}',
...          "s3://b/r.json": b'[{"workerId": "w1"}]'}
>>> resolve_references({"gt-ref": "s3://b/v.json"}, attribute="gt", fetch=store.__getitem__)
{'consensus': {}, 'annotationsFromAllWorkers': [{'workerId': 'w1'}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gtconsensus.answers import Fetch
from gtconsensus.contract import RAW_KEY
from gtconsensus.exceptions import FetchError, SchemaError

__all__ = ["RAW_REF_KEY", "has_references", "resolve_references", "value_ref_key"]

#: Key that replaces ``annotationsFromAllWorkers`` when the raw answers were moved to S3.
RAW_REF_KEY = f"{RAW_KEY}-ref"


def value_ref_key(attribute: str) -> str:
    """The key that stands for a whole value moved to S3: ``<attr>-ref``.

    Examples
    --------
    >>> value_ref_key("street-people")
    'street-people-ref'
    """
    return f"{attribute}-ref"


def has_references(value: Mapping[str, Any], *, attribute: str) -> bool:
    """Whether a label-attribute value holds a reference this module resolves."""
    return RAW_REF_KEY in value or value_ref_key(attribute) in value


def _fetch_json(uri: object, key: str, fetch: Fetch | None) -> Any:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise FetchError("bad_reference", f"`{key}` must be an s3:// URI, got {uri!r:.80}")
    if fetch is None:
        raise SchemaError(
            "unresolved_reference",
            f"`{key}` points to {uri}: reading it needs a fetch (an S3 client, the `aws` extra)",
        )
    data = fetch(uri)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # ValueError covers JSON and UTF-8 errors
        raise FetchError("bad_reference", f"`{key}` {uri}: not JSON ({exc})") from exc


def resolve_references(
    value: Mapping[str, Any], *, attribute: str, fetch: Fetch | None
) -> Mapping[str, Any]:
    """Put back the parts of a value that were moved to S3.

    Parameters
    ----------
    value : mapping
        The value under the label attribute.
    attribute : str
        The label attribute (names the whole-value key ``<attr>-ref``).
    fetch : callable or None
        Reads an ``s3://`` URI and returns its bytes or text.

    Returns
    -------
    mapping
        ``value`` itself when it holds no reference; otherwise a new dict with
        the whole value read back and ``annotationsFromAllWorkers`` in place of
        its reference (same position).

    Raises
    ------
    FetchError
        ``bad_reference`` (not an ``s3://`` URI, not JSON, wrong JSON type),
        or whatever ``fetch`` raises for a missing object.
    SchemaError
        ``unresolved_reference`` when a reference is present and ``fetch`` is None.
    """
    whole_key = value_ref_key(attribute)
    if whole_key in value:
        whole = _fetch_json(value[whole_key], whole_key, fetch)
        if not isinstance(whole, dict):
            message = f"`{whole_key}` must point to a JSON object, got {type(whole).__name__}"
            raise FetchError("bad_reference", message)
        value = whole
    if RAW_REF_KEY not in value:
        return value
    raws = _fetch_json(value[RAW_REF_KEY], RAW_REF_KEY, fetch)
    if not isinstance(raws, list):
        message = f"`{RAW_REF_KEY}` must point to a JSON list, got {type(raws).__name__}"
        raise FetchError("bad_reference", message)
    return {
        (RAW_KEY if key == RAW_REF_KEY else key): (raws if key == RAW_REF_KEY else item)
        for key, item in value.items()
    }
