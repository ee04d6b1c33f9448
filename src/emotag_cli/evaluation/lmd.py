"""Landmark distance (LMD) on the mouth, docs/reference/metrics.md.

Per frame: take the 20 mouth points (48-67) of the 68-point layout on the rendered and on the
reference frame, subtract each set's own mean (so a head displaced as a whole costs nothing), and
average the Euclidean distance between corresponding points. The clip's LMD is the mean over the
frames where both sides have landmarks. Units: pixels of the frames compared.
"""

from __future__ import annotations

import numpy as np

from .landmarks68 import MOUTH


def mouth_distances(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-frame mouth LMD.

    pred, ref: ``[N, 68, 2]`` pixel landmarks (NaN where no face). Returns float64 ``[N]``, NaN
    where either side has no landmarks.
    """
    p = np.asarray(pred, np.float64)[:, MOUTH]
    r = np.asarray(ref, np.float64)[:, MOUTH]
    p = p - p.mean(axis=1, keepdims=True)
    r = r - r.mean(axis=1, keepdims=True)
    return np.linalg.norm(p - r, axis=-1).mean(axis=1)
