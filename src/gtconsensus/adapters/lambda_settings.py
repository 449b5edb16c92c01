"""The post-annotation Lambda's settings, from ``GTCONSENSUS_*`` environment variables.

Every value is checked when the function starts: a malformed one raises
:class:`~gtconsensus.exceptions.OptionsError` (``bad_setting``) naming the variable,
rather than failing later on every batch. ``docs/lambda.md`` lists them.

Examples
--------
>>> Settings.from_env({"GTCONSENSUS_THREADS": "4"}).threads
4
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gtconsensus.adapters.lambda_response import DEFAULT_BUDGET, RESPONSE_LIMIT
from gtconsensus.consensus import parse_min_area
from gtconsensus.exceptions import OptionsError
from gtconsensus.masks import DEFAULT_MAX_PIXELS

__all__ = ["DEFAULT_TIME_MARGIN", "LONGEST_TIMEOUT", "Settings"]

#: Seconds kept by default, out of the function's time, to write the response.
DEFAULT_TIME_MARGIN = 15.0
#: Lambda's longest timeout, in seconds: a margin must be shorter.
LONGEST_TIMEOUT = 900.0


def _flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "0").strip().lower()
    if text not in ("0", "1", "true", "false", "yes", "no", ""):
        raise OptionsError("bad_setting", f"{name} must be 0 or 1, got {text!r}")
    return text in ("1", "true", "yes")


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    text = environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value <= 0:
        message = f"{name} must be a positive {kind.__name__}, got {text!r}"
        raise OptionsError("bad_setting", message)
    return value


def _min_area(environ: Mapping[str, str], name: str) -> int | tuple[tuple[str, int], ...]:
    """``N`` for every class, ``CLASS=N,CLASS=N`` or a JSON object ``{"CLASS": N}`` per class."""
    text = environ.get(name, "").strip()
    if not text:
        return 0
    try:
        if text.startswith("{"):
            document = json.loads(text)
            if not isinstance(document, dict):
                raise OptionsError("bad_option", "not a JSON object")
            value = parse_min_area([f"{k}={v}" for k, v in document.items()]) if document else 0
        else:
            value = parse_min_area([e.strip() for e in text.split(",") if e.strip()])
    except (OptionsError, ValueError) as exc:
        message = f"{name} must be N, CLASS=N,CLASS=N or a JSON object of classes: {exc}"
        raise OptionsError("bad_setting", message) from exc
    return value if isinstance(value, int) else tuple(value.items())


@dataclass(frozen=True, slots=True)
class Settings:
    """The function's settings, from ``GTCONSENSUS_*`` environment variables.

    Examples
    --------
    >>> Settings.from_env({"GTCONSENSUS_ASSUME_ROLE": "1", "GTCONSENSUS_IOU_THRESHOLD": "0.6"})
    Settings(assume_role=True, worker_model=None, spill_prefix=None, response_budget=5800000, \
iou_threshold=0.6, max_pixels=100000000, element=None, min_median_objects=20, threads=16, \
allowed_buckets=(), class_aware=False, min_area=0, time_margin=15.0)
    >>> Settings.from_env({"GTCONSENSUS_MIN_AREA": "Person=50,Car=200"}).min_area
    (('Person', 50), ('Car', 200))
    """

    assume_role: bool = False
    worker_model: str | None = None
    spill_prefix: str | None = None
    response_budget: int = DEFAULT_BUDGET
    iou_threshold: float = 0.5
    max_pixels: int = DEFAULT_MAX_PIXELS
    element: str | None = None
    min_median_objects: int = 20
    threads: int = 16
    allowed_buckets: tuple[str, ...] = ()
    class_aware: bool = False
    #: One number for every class, or ``(class, number)`` pairs (``GTCONSENSUS_MIN_AREA``).
    min_area: int | tuple[tuple[str, int], ...] = 0
    #: Seconds of the function's time kept to write the response (``GTCONSENSUS_TIME_MARGIN_S``).
    time_margin: float = DEFAULT_TIME_MARGIN

    @property
    def min_area_option(self) -> int | dict[str, int]:
        """``min_area`` as :func:`gtconsensus.consensus.gather` takes it."""
        return self.min_area if isinstance(self.min_area, int) else dict(self.min_area)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a malformed value raises ``OptionsError`` (``bad_setting``)."""
        env = os.environ if environ is None else environ
        threshold = _number(env, "GTCONSENSUS_IOU_THRESHOLD", 0.5, float)
        if not threshold < 1.0:
            raise OptionsError(
                "bad_setting", f"GTCONSENSUS_IOU_THRESHOLD must be in (0, 1), got {threshold}"
            )
        budget = _number(env, "GTCONSENSUS_RESPONSE_BUDGET", DEFAULT_BUDGET, int)
        if budget > RESPONSE_LIMIT:
            raise OptionsError(
                "bad_setting",
                f"GTCONSENSUS_RESPONSE_BUDGET must be at most {RESPONSE_LIMIT} (Lambda's "
                f"response limit; the default {DEFAULT_BUDGET} leaves room for the runtime's "
                f"framing), got {budget}",
            )
        margin = _number(env, "GTCONSENSUS_TIME_MARGIN_S", DEFAULT_TIME_MARGIN, float)
        if not (math.isfinite(margin) and margin < LONGEST_TIMEOUT):
            raise OptionsError(
                "bad_setting",
                f"GTCONSENSUS_TIME_MARGIN_S must be a number of seconds under "
                f"{LONGEST_TIMEOUT:g} (Lambda's longest timeout), got {margin}",
            )
        return cls(
            assume_role=_flag(env, "GTCONSENSUS_ASSUME_ROLE"),
            worker_model=env.get("GTCONSENSUS_WORKER_MODEL") or None,
            spill_prefix=env.get("GTCONSENSUS_SPILL_PREFIX") or None,
            response_budget=budget,
            iou_threshold=threshold,
            max_pixels=_number(env, "GTCONSENSUS_MAX_PIXELS", DEFAULT_MAX_PIXELS, int),
            element=env.get("GTCONSENSUS_ELEMENT") or None,
            min_median_objects=_number(env, "GTCONSENSUS_BATCH_MIN_OBJECTS", 20, int),
            threads=_number(env, "GTCONSENSUS_THREADS", 16, int),
            allowed_buckets=tuple(
                b.strip()
                for b in env.get("GTCONSENSUS_ALLOWED_BUCKETS", "").split(",")
                if b.strip()
            ),
            class_aware=_flag(env, "GTCONSENSUS_CLASS_AWARE"),
            min_area=_min_area(env, "GTCONSENSUS_MIN_AREA"),
            time_margin=margin,
        )
