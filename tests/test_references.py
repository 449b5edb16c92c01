"""Tests of gtconsensus.references: reading back what the Lambda moved to S3."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gtconsensus.exceptions import FetchError, SchemaError
from gtconsensus.lines import consolidate_line
from gtconsensus.references import RAW_REF_KEY, resolve_references
from support import answer, entry


def _raws() -> list[dict[str, object]]:
    labels = np.zeros((4, 5), np.uint8)
    labels[1:3, 1:4] = 1
    return [entry(w, {"annotatedResult": answer(labels, ["Car"])}) for w in ("a", "b", "c")]


def test_value_without_reference_comes_back_as_is() -> None:
    value = {"annotationsFromAllWorkers": []}
    assert resolve_references(value, attribute="gt", fetch=None) is value


def test_raw_reference_is_replaced_in_place() -> None:
    store = {"s3://b/raw.json": json.dumps(_raws())}
    value = {"consensus": {"method": "m"}, RAW_REF_KEY: "s3://b/raw.json", "extra": 1}
    resolved = resolve_references(value, attribute="gt", fetch=store.__getitem__)
    assert list(resolved) == ["consensus", "annotationsFromAllWorkers", "extra"]
    assert resolved["annotationsFromAllWorkers"] == _raws()


def test_reference_without_fetch_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match="needs a fetch") as info:
        resolve_references({RAW_REF_KEY: "s3://b/raw.json"}, attribute="gt", fetch=None)
    assert info.value.code == "unresolved_reference"


@pytest.mark.parametrize(
    ("stored", "uri", "match"),
    [
        ("{}", "s3://b/r", "must point to a JSON list"),
        ("not json", "s3://b/r", "not JSON"),
        ("[]", "https://b/r", "must be an s3:// URI"),
    ],
)
def test_bad_reference_is_refused(stored: str, uri: str, match: str) -> None:
    with pytest.raises(FetchError, match=match) as info:
        resolve_references({RAW_REF_KEY: uri}, attribute="gt", fetch=lambda _: stored)
    assert info.value.code == "bad_reference"


def test_offline_reader_follows_both_references_and_writes_the_answers_inline() -> None:
    store = {
        "s3://b/value.json": json.dumps({"consensus": {}, RAW_REF_KEY: "s3://b/raw.json"}),
        "s3://b/raw.json": json.dumps(_raws()).encode(),
    }
    line = json.dumps({"source-ref": "s3://b/1.jpg", "gt": {"gt-ref": "s3://b/value.json"}})
    result = consolidate_line(line, fetch=store.__getitem__)
    assert result.error is None
    assert result.consensus is not None
    assert len(result.consensus.instances) == 1
    value = json.loads(result.output or "")["gt"]
    assert value["annotationsFromAllWorkers"] == _raws()
    assert RAW_REF_KEY not in value


def test_unreadable_reference_fails_the_line_and_keeps_it() -> None:
    line = json.dumps({"source-ref": "s3://b/1.jpg", "gt": {RAW_REF_KEY: "s3://b/raw.json"}})
    result = consolidate_line(line)
    assert result.error is not None
    assert result.error.code == "unresolved_reference"
    assert json.loads(result.output or "")["gt"]["consensus"]["error"]["code"] == (
        "unresolved_reference"
    )
