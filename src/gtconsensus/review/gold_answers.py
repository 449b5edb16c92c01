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
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gtconsensus._typing import LabelImage
from gtconsensus.answers import Fetch
from gtconsensus.exceptions import OptionsError
from gtconsensus.review.outputs import OutputObject, iter_output_objects

__all__ = [
    "GoldAnswer",
    "GoldFile",
    "gold_answer",
    "gold_answers",
    "load_gold",
    "read_gold_answers",
]


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


@dataclass(frozen=True, slots=True, eq=False)
class GoldFile:
    """The gold answers of a gold manifest, with what was left out.

    Attributes
    ----------
    answers : dict
        ``{source-ref: GoldAnswer}`` (a later line wins).
    lines : int
        Non-blank lines read.
    skipped : tuple of (int, str)
        ``(line, error code)`` of the lines that hold no consensus (failed or
        unreadable lines, or lines without a ``source-ref``).
    """

    answers: dict[str, GoldAnswer]
    lines: int
    skipped: tuple[tuple[int, str], ...]


def load_gold(
    path: str | Path, *, label_attribute: str | None = None, fetch: Fetch | None = None
) -> GoldFile:
    """Read a gold manifest for ``consolidate --gold``, refusing one that gives no answer.

    Raises
    ------
    OptionsError
        ``bad_gold`` when the file is not local (a URI), cannot be read, or
        none of its lines is a consolidated line with a ``source-ref`` (it is
        not an output manifest of gtconsensus).
    """
    if "://" in str(path):  # open() would say "No such file" of an s3:// URI
        raise OptionsError(
            "bad_gold", f"the gold file must be a local file, got {path}: copy it here first"
        )
    answers: dict[str, GoldAnswer] = {}
    skipped: list[tuple[int, str]] = []
    lines = 0
    try:
        for obj in iter_output_objects(path, label_attribute=label_attribute, fetch=fetch):
            lines += 1
            if obj.error is not None or obj.labels is None or obj.source_ref is None:
                skipped.append((obj.line, obj.error[0] if obj.error else "missing_source_ref"))
                continue
            answers[obj.source_ref] = gold_answer(obj)
    except (OSError, ValueError) as exc:  # a line that is not UTF-8 is skipped (bad_json)
        raise OptionsError("bad_gold", f"cannot read the gold file {path}: {exc}") from exc
    if not answers:
        first = f"; line {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise OptionsError(
            "bad_gold",
            f"the gold file {path} holds no consolidated line with a source-ref ({lines} lines"
            f"{first}): give an output manifest of gtconsensus",
        )
    return GoldFile(answers, lines, tuple(skipped))
