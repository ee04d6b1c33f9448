"""The video input of SyncNet: 224 px face crops around MediaPipe's landmarks, with the geometry of
syncnet_python's ``run_pipeline.py`` (which finds faces with S3FD instead)."""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage

from ...preprocess.face_align import landmark_boxes

CROP = 224
# run_pipeline.py's crop: a square 2.8 detection half-sizes wide, its top one half-size above the
# box centre, so the extra height lies below the face; off-frame pixels are grey 110; tracks
# median-smoothed over 13 frames.
CROP_SCALE = 0.4
PAD_GREY = 110
SMOOTH_FRAMES = 13


def face_boxes(landmarks: np.ndarray) -> np.ndarray | None:
    """MediaPipe landmarks ``[N, 478, 3]`` (pixels, NaN rows) -> float64 ``[N, 3]`` (cx, cy, half).

    The stand-in for S3FD's detection: the x/y bounding box of the mesh (forehead to chin, cheek to
    cheek), its centre and half its longer side. Frames without a face take the box linearly
    interpolated from their neighbours (held at the ends), as syncnet_python fills missed
    detections inside a track; then each of the three is median-filtered over 13 frames (edges
    repeated, where the original zero-pads). None when no frame has a face.
    """
    b = landmark_boxes(np.asarray(landmarks, np.float32)).astype(np.float64)  # [N, 4] x0 y0 x1 y1
    ok = np.isfinite(b[:, 0])
    if not ok.any():
        return None
    found = np.column_stack([(b[ok, 0] + b[ok, 2]) / 2, (b[ok, 1] + b[ok, 3]) / 2,
                             np.maximum(b[ok, 2] - b[ok, 0], b[ok, 3] - b[ok, 1]) / 2])
    t = np.arange(len(b))
    boxes = np.column_stack([np.interp(t, t[ok], found[:, j]) for j in range(3)])
    return scipy.ndimage.median_filter(boxes, size=(SMOOTH_FRAMES, 1), mode="nearest")


def crop_face(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` and a box (cx, cy, half) -> BGR uint8 ``[224, 224, 3]``.

    Rows ``[cy - half, cy + 1.8 half)``, columns ``cx -/+ 1.4 half`` (a square 2.8 half wide), grey
    110 outside the frame, resized bilinearly (run_pipeline.py's ``crop_video`` geometry).
    """
    cx, cy, half = (float(v) for v in box)
    half = max(half, 1.0)
    y0, y1 = int(np.floor(cy - half)), int(np.floor(cy + half * (1 + 2 * CROP_SCALE)))
    x0, x1 = int(np.floor(cx - half * (1 + CROP_SCALE))), int(np.floor(cx + half * (1 + CROP_SCALE)))
    out = np.full((y1 - y0, x1 - x0, 3), PAD_GREY, np.uint8)
    h, w = rgb.shape[:2]
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1, ::-1]
    return cv2.resize(out, (CROP, CROP), interpolation=cv2.INTER_LINEAR)
