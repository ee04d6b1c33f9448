"""Face boxes and square face crops from the scene's MediaPipe landmarks.

The per-frame classifiers downstream (emotion teacher, identity descriptor) were trained on crops
made by a face detector. Instead of running one, we place a square box relative to the landmark
box with a scale and a vertical shift calibrated against that detector (see
docs/reference/emotion-and-identity.md for the numbers), so every model sees the framing it expects.

Units: pixels of the frame the landmarks belong to. Boxes are float ``(x0, y0, x1, y1)``.
"""

from __future__ import annotations

import cv2
import numpy as np


def has_face(landmarks: np.ndarray) -> np.ndarray:
    """``[N, P, 3]`` landmarks -> ``[N]`` bool: True where every x, y is finite."""
    return np.isfinite(landmarks[..., :2]).all(axis=(1, 2))


def landmark_boxes(landmarks: np.ndarray) -> np.ndarray:
    """``[N, P, 3]`` landmarks -> ``[N, 4]`` float32 extent of the x, y points; NaN rows for no face."""
    boxes = np.full((len(landmarks), 4), np.nan, dtype=np.float32)
    ok = has_face(landmarks)
    xy = landmarks[ok, :, :2]
    boxes[ok] = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
    return boxes


def square_boxes(boxes: np.ndarray, scale: float, shift_y: float = 0.0) -> np.ndarray:
    """Squares of side ``scale * max(w, h)`` centred on each box, moved by ``shift_y * max(w, h)``.

    boxes: ``[N, 4]`` (NaN rows stay NaN). A negative ``shift_y`` moves the square up.
    """
    extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + shift_y * extent
    half = scale * extent / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


def crop_square(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The pixels of ``box`` (rounded to whole pixels) resized to ``size`` x ``size``.

    image: ``[H, W]`` or ``[H, W, C]`` uint8. Parts of the box outside the image repeat its edge
    pixels. Shrinking uses area averaging, which keeps small crops free of aliasing.
    """
    h, w = image.shape[:2]
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    side = max(1, round(float(box[2] - box[0])))
    x1, y1 = x0 + side, y0 + side
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    patch = image[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)
