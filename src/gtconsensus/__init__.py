"""gtconsensus: consensus instance segmentation for SageMaker Ground Truth jobs.

Turns several workers' ``crowd-instance-segmentation`` answers into one
consensus segmentation, a confidence per instance and per image, and a quality
score per worker.

The core needs numpy, pillow and pydantic only; ``import gtconsensus`` loads
nothing else.

Examples
--------
>>> import numpy as np
>>> import gtconsensus
>>> labels = np.zeros((4, 4), np.uint8); labels[1:3, 1:3] = 1
>>> answers = [gtconsensus.WorkerAnnotation(w, labels, ("Car",)) for w in "abc"]
>>> gtconsensus.consolidate(answers).instances[0].label
'Car'
"""

from gtconsensus._version import __version__
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
from gtconsensus.exceptions import (
    ConsolidationError,
    GtConsensusError,
    InputError,
    MaskError,
    OptionsError,
    SchemaError,
)
from gtconsensus.limits import Limits
from gtconsensus.lines import LineResult, consolidate_line
from gtconsensus.masks import decode_label_png, encode_label_png
from gtconsensus.scoring import Agreement, WorkerTally

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
