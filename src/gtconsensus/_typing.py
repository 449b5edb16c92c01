"""Array aliases shared by the core modules (defined once, see STYLE.md)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: ``(H, W)`` label image: 0 is background, instances are 1..K (uint8 or uint16).
LabelImage: TypeAlias = npt.NDArray[np.unsignedinteger]
#: ``(H, W)`` boolean mask.
BoolMask: TypeAlias = npt.NDArray[np.bool_]
#: Float arrays (IoU matrices, vote shares).
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: Pixel votes: weighted sums (float64), or plain counts (unsigned) when every weight is 1.
VoteArray: TypeAlias = npt.NDArray[np.float64] | npt.NDArray[np.unsignedinteger]
#: Integer arrays (contingency tables, areas, counts).
IntArray: TypeAlias = npt.NDArray[np.int64]
