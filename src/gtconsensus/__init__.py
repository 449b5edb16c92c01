"""gtconsensus: consensus instance segmentation for SageMaker Ground Truth jobs.

Turns several workers' ``crowd-instance-segmentation`` answers into one
consensus segmentation, a confidence per instance and per image, and a quality
score per worker.

The core needs numpy, pillow and pydantic only; ``import gtconsensus`` loads
nothing else, and imports the pipeline's modules on first use of their names.

Examples
--------
>>> import numpy as np
>>> import gtconsensus
>>> labels = np.zeros((4, 4), np.uint8); labels[1:3, 1:3] = 1
>>> answers = [gtconsensus.WorkerAnnotation(w, labels, ("Car",)) for w in "abc"]
>>> gtconsensus.consolidate(answers).instances[0].label
'Car'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gtconsensus._version import __version__
from gtconsensus.exceptions import (
    ConsolidationError,
    GtConsensusError,
    InputError,
    MaskError,
    OptionsError,
    SchemaError,
)
from gtconsensus.limits import Limits

if TYPE_CHECKING:
    from gtconsensus.answers import Rejection, read_answers
    from gtconsensus.consensus import (
        Consensus,
        ConsensusInstance,
        ObjectEvidence,
        WorkerAnnotation,
        WorkerScore,
        consolidate,
        decide,
        gather,
    )
    from gtconsensus.lines import LineResult, consolidate_line
    from gtconsensus.masks import decode_label_png, encode_label_png
    from gtconsensus.scoring import Agreement, WorkerTally

# The rest of the API is imported on first use (PEP 562): ``import gtconsensus`` stays
# cheap, and a program pays for the pipeline (numpy, Pillow, pydantic's models) only
# when it touches it.
_LAZY = {
    "Rejection": "answers", "read_answers": "answers",
    "Consensus": "consensus", "ConsensusInstance": "consensus", "ObjectEvidence": "consensus",
    "WorkerAnnotation": "consensus", "WorkerScore": "consensus", "consolidate": "consensus",
    "decide": "consensus", "gather": "consensus",
    "LineResult": "lines", "consolidate_line": "lines",
    "decode_label_png": "masks", "encode_label_png": "masks",
    "Agreement": "scoring", "WorkerTally": "scoring",
}  # fmt: skip


# Submodules that ``import gtconsensus`` used to import eagerly: still reachable as
# attributes (``gtconsensus.masks.instance_colours``) without importing them first.
_SUBMODULES = frozenset({
    "answers", "consensus", "contract", "forms", "fusion", "lines", "masks", "matching",
    "objects", "pngcheck", "references", "schema", "scoring",
})  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import a name of the API from its module on first access (PEP 562)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"gtconsensus.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gtconsensus' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gtconsensus.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Agreement",
    "Consensus",
    "ConsensusInstance",
    "ConsolidationError",
    "GtConsensusError",
    "InputError",
    "Limits",
    "LineResult",
    "MaskError",
    "ObjectEvidence",
    "OptionsError",
    "Rejection",
    "SchemaError",
    "WorkerAnnotation",
    "WorkerScore",
    "WorkerTally",
    "__version__",
    "consolidate",
    "consolidate_line",
    "decide",
    "decode_label_png",
    "encode_label_png",
    "gather",
    "read_answers",
]
