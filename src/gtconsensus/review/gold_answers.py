"""Reading gold answers: a consolidated output manifest whose consensus is taken as gold.

A gold manifest is any output manifest of gtconsensus (``docs/output.md``): for
example the consolidated output of an adjustment job done by a reviewer
(``gtconsensus export adjustment``), or an expert's answers consolidated on
their own (one worker's consensus is that worker's answer). Each consolidated
line gives the gold answer of its ``source-ref``; failed lines are skipped.
The answers feed :func:`gtconsensus.gold.with_gold`.

Examples
--------
>>> from gtconsensus.lines import consolidate_line
>>> from gtconsensus.review.outputs import parse_output_line
>>> from gtconsensus.testing.synthetic import make_manifest
>>> text = consolidate_line(next(make_manifest(1, 1, height=24, width=32))).output
>>> gold = gold_answer(parse_output_line(text, number=1))
>>> gold.labels.shape, len(gold.classes) == int(gold.labels.max())
((24, 32), True)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from gtconsensus._typing import LabelImage
from gtconsensus.answers import Fetch
from gtconsensus.exceptions import OptionsError
from gtconsensus.review.outputs import OutputObject, iter_output_objects

__all__ = ["GoldAnswer", "gold_answer", "gold_answers", "read_gold_answers"]


class GoldAnswer(NamedTuple):
    """A gold answer: its label image (``(H, W)``, 0 background) and a class per instance."""

    labels: LabelImage
    classes: tuple[str, ...]


def gold_answer(obj: OutputObject) -> GoldAnswer:
    """The consensus of a consolidated line as a gold answer.

    Raises
    ------
    OptionsError
        ``failed_line`` when the line holds no consensus.
    """
    if obj.error is not None or obj.labels is None:
        raise OptionsError("failed_line", f"line {obj.line} holds no consensus to take as gold")
    return GoldAnswer(obj.labels, tuple(i.label for i in obj.instances))


def gold_answers(objects: Iterable[OutputObject]) -> dict[str, GoldAnswer]:
    """``{source-ref: gold answer}`` of the consolidated lines (a later line wins)."""
    return {
        obj.source_ref: gold_answer(obj)
        for obj in objects
        if obj.error is None and obj.labels is not None and obj.source_ref is not None
    }


def read_gold_answers(
    path: str | Path, *, label_attribute: str | None = None, fetch: Fetch | None = None
) -> dict[str, GoldAnswer]:
    """The gold answers of a gold manifest, by ``source-ref``."""
    return gold_answers(iter_output_objects(path, label_attribute=label_attribute, fetch=fetch))
