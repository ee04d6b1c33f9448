"""Per-frame lip signals shared by preprocess (audio offset) and evaluation (lip-sync figures).

All signals are per video frame; NaN marks a frame without a face and is skipped, never filled.
"""

from __future__ import annotations

import numpy as np

INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))  # MediaPipe inner lip, upper -> lower
EYE_CORNERS = ((33, 133), (263, 362))  # (outer, inner) per eye
SMOOTH_FRAMES = 3  # moving average before correlating (120 ms, about one short syllable)
MIN_FRAMES = 10


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe landmarks ``[N, 478, 3]`` (pixels, NaN rows) -> float64 ``[N]`` inner-lip gap / IOD."""
    lm = np.asarray(landmarks, np.float64)
    upper = lm[:, [a for a, _ in INNER_LIP_PAIRS]]
    lower = lm[:, [b for _, b in INNER_LIP_PAIRS]]
    gap = np.linalg.norm(upper - lower, axis=-1).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gap / inter_ocular(lm)


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe landmarks ``[N, 478, C]`` (C = 2 or 3 coordinates) -> ``[N]`` distance between the
    two eyes' corner midpoints, in the landmarks' unit."""
    lm = np.asarray(landmarks, np.float64)
    eyes = [(lm[:, o] + lm[:, i]) / 2 for o, i in EYE_CORNERS]
    return np.linalg.norm(eyes[0] - eyes[1], axis=-1)


def smooth(x: np.ndarray, width: int = SMOOTH_FRAMES) -> np.ndarray:
    """Centred moving average of ``x [N]`` over ``width`` frames that skips NaNs (NaN stays NaN)."""
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x)
    kernel = np.ones(width)
    total = np.convolve(np.where(ok, x, 0.0), kernel, mode="same")
    count = np.convolve(ok.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, total / count, np.nan)


def lagged_correlation(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[float, int]:
    """Pearson correlation of ``x[t]`` and ``y[t + lag]`` over the t where both are finite.

    Returns (r, pairs used); r is NaN with fewer than ``MIN_FRAMES`` pairs or a constant signal.
    """
    n = min(len(x), len(y))
    t = np.arange(max(0, -lag), min(n, n - lag))
    a, b = x[t], y[t + lag]
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < MIN_FRAMES:
        return float("nan"), int(len(a))
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return (float((a * b).sum() / denom) if denom > 0 else float("nan")), int(len(a))
