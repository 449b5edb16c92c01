"""Pseudonymised copies of the job's files, for the review commands' ``--pseudonymize``.

:func:`pseudonymize_manifest` rewrites an output manifest line by line with
:func:`gtconsensus.privacy.pseudonymize_line` (blank lines stay, so line numbers
hold); :func:`pseudonymize_worker_csv` rewrites a worker table. The review
commands read these copies instead of the originals, so nothing they write
names a worker.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gtconsensus.privacy import pseudonymize_line, pseudonymize_worker_rows

__all__ = ["pseudonymize_manifest", "pseudonymize_worker_csv"]


def pseudonymize_manifest(source: str | Path, target: str | Path, secret: str) -> int:
    """Copy an output manifest with every worker id pseudonymised; returns the lines rewritten.

    Lines that are not JSON objects are copied as they are (they hold no
    contract field to find ids in).
    """
    rewritten = 0
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for text in lines:
            try:
                parsed = json.loads(text) if text.strip() else None
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                out.write(text if text.endswith("\n") else text + "\n")
                continue
            line = pseudonymize_line(parsed, secret)
            out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
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
