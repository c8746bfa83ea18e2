"""Array helpers shared by the UTF-8 layer and the dedup stages (kept here, not in either, so
both can import them without a cycle)."""

from __future__ import annotations

import numpy as np


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` by sorting: NumPy 2.3+ takes a hash-table path for a plain
    ``np.unique`` of integers that is ~40× slower on these arrays (0.46 s against 0.01 s for
    400,000 uint64 values, NumPy 2.4)."""
    y = np.sort(x, kind="stable" if x.dtype.kind not in "iu" else None)
    if len(y) < 2:
        return y
    keep = np.empty(len(y), dtype=bool)
    keep[0] = True
    np.not_equal(y[1:], y[:-1], out=keep[1:])
    return y[keep]
