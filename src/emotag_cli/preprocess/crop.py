"""Choosing the square crop: one for the whole clip, or a slowly moving one.

Input: the largest face's landmark box per frame in source pixels ([N, 4] x0, y0, x1, y1, NaN
where no face was found). Output: [N, 3] float32 crop squares (centre x, centre y, side), the
same side in every frame so that the crop's scale never changes.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import EmotagError


def fill_missing(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN rows of [N, K] (edges hold the nearest valid row)."""
    out = values.astype(np.float64).copy()
    valid = ~np.isnan(out).any(axis=1)
    if not valid.any():
        raise EmotagError("no face found in any frame")
    idx = np.arange(len(out))
    for k in range(out.shape[1]):
        out[:, k] = np.interp(idx, idx[valid], out[valid, k])
    return out


def crop_track(boxes: np.ndarray, frame_w: int, frame_h: int, scale: float = 1.9,
               y_shift: float = -0.1, mode: str = "fixed", smooth_frames: float = 25.0) -> np.ndarray:
    """Square crops around the face, kept inside the frame.

    boxes: [N, 4] face boxes in source pixels (NaN rows allowed).
    scale: crop side / median face-box side; y_shift: centre offset in face heights.
    mode "fixed": the median centre for every frame, widened so every frame's face box fits.
    mode "smooth": centres low-passed by a Gaussian of ``smooth_frames`` frames (sigma).
    Returns [N, 3] float32: centre x, centre y, side (all in source pixels). The side is capped
    at the frame's shorter side; the square then slides to stay inside the frame.
    """
    b = fill_missing(boxes)
    centre = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    face = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    med_face = float(np.median(face))
    centre[:, 1] += y_shift * med_face
    side = scale * med_face
    if mode == "fixed":
        c = np.median(centre, axis=0)
        # Every frame's face box must fit, with a 5 % margin.
        reach = np.max(np.abs(np.concatenate([b[:, :2] - c, b[:, 2:] - c], axis=1)))
        side = max(side, 2.1 * reach)
        centres = np.repeat(c[None], len(b), axis=0)
    elif mode == "smooth":
        centres = gaussian_filter1d(centre, sigma=max(smooth_frames, 1e-3), axis=0, mode="nearest")
    else:
        raise EmotagError(f"unknown crop mode {mode!r}")
    side = min(side, float(min(frame_w, frame_h)))
    half = side / 2
    centres[:, 0] = np.clip(centres[:, 0], half, frame_w - half)
    centres[:, 1] = np.clip(centres[:, 1], half, frame_h - half)
    return np.concatenate([centres, np.full((len(b), 1), side)], axis=1).astype(np.float32)


def apply_crop(rgb: np.ndarray, square: np.ndarray, size: int) -> np.ndarray:
    """Cut the square (centre x, centre y, side) out of rgb [H, W, 3] and resize to size×size.

    Sub-pixel placement through an affine warp; area-like filtering when shrinking (a pre-blur
    proportional to the shrink factor) to avoid aliasing.
    """
    import cv2

    cx, cy, side = (float(v) for v in square)
    s = size / side
    src = rgb
    if s < 0.5:
        src = cv2.GaussianBlur(rgb, (0, 0), sigmaX=0.5 / s * 0.6)
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], dtype=np.float64)
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
