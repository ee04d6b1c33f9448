"""Head / torso / background labels per frame.

The person comes from MediaPipe's selfie segmentation (weights in the mediapipe wheel). The head
is split from the torso by geometry, since no face-parsing model ships with a PyPI package: the
part of the person above a line a little below the chin (so the neck's top is head, as in the
InsTaG parsing masks) and within a band around the face, plus the face-landmark hull. The
boundary is approximate: see docs/commands/preprocess.md.
"""

from __future__ import annotations

import numpy as np

from ..scene import MASK_BACKGROUND, MASK_HEAD, MASK_TORSO

# MediaPipe FaceMesh face-oval indices, in order around the face.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
CHIN = 152
NECK_BELOW_CHIN = 0.2    # of the face height: where the head label stops on the neck
HEAD_HALF_WIDTH = 0.85   # of the face width, around the face centre, above the chin (hair, ears)
NECK_HALF_WIDTH = 0.4    # of the face width, below the chin: the neck, not the shoulders


class PersonSegmenter:
    """Selfie segmentation → person probability [H, W] float32 in [0, 1]."""

    def __init__(self) -> None:
        from .mediapipe_log import mediapipe

        mp = mediapipe()

        # model 0 is the square 256×256 "general" model, which suits square head crops.
        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = self._seg.process(np.ascontiguousarray(rgb)).segmentation_mask
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        self._seg.close()


def head_torso_labels(person: np.ndarray, landmarks: np.ndarray | None, threshold: float = 0.5) -> np.ndarray:
    """person [H, W] probability, landmarks [478, 3] crop pixels (or None) → labels [H, W] uint8."""
    import cv2

    h, w = person.shape
    labels = np.where(person >= threshold, MASK_TORSO, MASK_BACKGROUND).astype(np.uint8)
    if landmarks is None or np.isnan(landmarks).any():
        return labels
    face = landmarks[:468, :2]
    x0, y0 = face.min(0)
    x1, y1 = face.max(0)
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    neck_y = landmarks[CHIN, 1] + NECK_BELOW_CHIN * fh
    ys, xs = np.mgrid[0:h, 0:w]
    chin_y = landmarks[CHIN, 1]
    dx = np.abs(xs - cx)
    in_band = ((ys <= chin_y) & (dx <= HEAD_HALF_WIDTH * fw)) | (
        (ys > chin_y) & (ys <= neck_y) & (dx <= NECK_HALF_WIDTH * fw))
    labels[(labels == MASK_TORSO) & in_band] = MASK_HEAD
    hull = np.round(landmarks[list(FACE_OVAL), :2]).astype(np.int32)
    cv2.fillPoly(labels, [hull], MASK_HEAD)
    return labels
