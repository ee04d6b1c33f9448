"""Filling frames that have no measurement (no face, or a failed external tracker row)."""

from __future__ import annotations

import numpy as np


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation in time over the rows where ``valid`` is False.

    values: ``[N, C]``; valid: ``[N]`` bool with at least one True. Rows before the first (after
    the last) valid row take its value. Returns a new float32 ``[N, C]`` array.
    """
    valid = np.asarray(valid, dtype=bool)
    if not valid.any():
        raise ValueError("fill_gaps needs at least one valid row")
    t = np.arange(len(values))
    out = np.asarray(values, dtype=np.float64).copy()
    for c in range(out.shape[1]):
        out[~valid, c] = np.interp(t[~valid], t[valid], out[valid, c])
    return out.astype(np.float32)
