"""Pseudonymised copies of the job's files, for the review commands' ``--pseudonymize``.

:func:`pseudonymize_manifest` rewrites an output manifest line by line with
:func:`gtconsensus.privacy.pseudonymize_line` (blank lines stay, so line numbers
hold); :func:`pseudonymize_worker_csv` rewrites a worker table. The review
commands read these copies instead of the originals, so nothing they write
names a worker.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gtconsensus.answers import Fetch
from gtconsensus.exceptions import GtConsensusError
from gtconsensus.privacy import pseudonymize_line, pseudonymize_worker_rows
from gtconsensus.references import has_references, resolve_references

__all__ = ["pseudonymize_manifest", "pseudonymize_worker_csv"]


def _resolved(line: dict[str, Any], fetch: Fetch | None) -> dict[str, Any]:
    """``line`` with what its ``-ref`` keys point to put back, where it can be read."""
    if fetch is None:
        return line
    out = dict(line)
    for key, value in line.items():
        if isinstance(value, Mapping) and has_references(value, attribute=key):
            with contextlib.suppress(GtConsensusError):  # stays unresolved: the line fails
                out[key] = resolve_references(value, attribute=key, fetch=fetch)
    return out


def pseudonymize_manifest(
    source: str | Path, target: str | Path, secret: str, *, fetch: Fetch | None = None
) -> int:
    """Copy an output manifest with every worker id pseudonymised; returns the lines rewritten.

    Lines that are not JSON objects, or not UTF-8, are copied byte for byte
    (they hold no contract field to find ids in; the review command then
    reports them as it would in the original). With ``fetch``, what the
    Lambda's ``-ref`` keys point to is read first and pseudonymised with the
    rest: the copy must not be followed again (it would bring back the ids).
    """
    rewritten = 0
    with open(source, "rb") as lines, open(target, "wb") as out:
        for raw in lines:
            try:
                parsed = json.loads(raw.decode("utf-8")) if raw.strip() else None
            except ValueError:  # UnicodeDecodeError too
                parsed = None
            if not isinstance(parsed, dict):
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
                continue
            line = pseudonymize_line(_resolved(parsed, fetch), secret)
            text = json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
            out.write(text.encode("utf-8"))
            rewritten += 1
    return rewritten


def pseudonymize_worker_csv(source: str | Path, target: str | Path, secret: str) -> int:
    """Copy a worker table (``worker_id`` column) with the ids pseudonymised; returns rows."""
    with open(source, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = pseudonymize_worker_rows(reader, secret)
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
