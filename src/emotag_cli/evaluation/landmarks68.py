"""68-point face landmarks (iBUG 300-W layout) from dlib's shape predictor, for the LMD metric.

The predictor file ``shape_predictor_68_face_landmarks.dat`` ships in the ``face-recognition-models``
wheel; we locate it on disk (the package itself is never imported). dlib's predictor refines a face
box; it was trained on the boxes of dlib's HOG detector. Instead of running that detector we place
its box on the frame's MediaPipe landmarks with the calibration measured for the identity descriptor
(``preprocess.identity.DLIB_BOX_SCALE`` / ``DLIB_BOX_SHIFT``: side 0.89 x the landmark extent,
centre 0.015 x extent higher), so the 68 points come from the same face MediaPipe found and no
second detector can pick a different face.

Points 48-67 are the mouth (48-59 outer lip, 60-67 inner lip), 0-based.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import BackendStatus, has_module, package_file
from ..errors import MissingBackendError
from ..preprocess.face_align import landmark_boxes, square_boxes
from ..preprocess.identity import DLIB_BOX_SCALE, DLIB_BOX_SHIFT

PREDICTOR_FILE = "models/shape_predictor_68_face_landmarks.dat"
N_POINTS = 68
MOUTH = slice(48, 68)
INSTALL_HINT = "pip install dlib-bin face-recognition-models"


def predictor_path() -> Path | None:
    return package_file("face_recognition_models", PREDICTOR_FILE)


def status() -> BackendStatus:
    path = predictor_path()
    ok = path is not None and has_module("dlib")
    where = str(path) if path else f"face_recognition_models/{PREDICTOR_FILE}"
    return BackendStatus("eval/landmarks-68 (dlib)", ok, where, "" if ok else INSTALL_HINT)


def boxes_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """MediaPipe landmarks ``[N, P, 3]`` (pixels, NaN rows) -> dlib-style face boxes ``[N, 4]`` x0, y0, x1, y1."""
    return square_boxes(landmark_boxes(mesh), DLIB_BOX_SCALE, DLIB_BOX_SHIFT)


class Landmarks68:
    """dlib's 68-point shape predictor started from boxes placed on MediaPipe landmarks."""

    def __init__(self) -> None:
        path = predictor_path()
        if path is None or not has_module("dlib"):
            raise MissingBackendError(f"the 68-point landmarks (LMD) need dlib's shape predictor: {INSTALL_HINT}")
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(path))
        self.source = path

    def __call__(self, rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """One frame: RGB uint8 ``[H, W, 3]`` and its MediaPipe landmarks ``[P, 3]`` (pixels; NaN when
        no face) -> float32 ``[68, 2]`` x, y in pixels (all NaN when there is no face)."""
        out = np.full((N_POINTS, 2), np.nan, np.float32)
        box = boxes_from_mesh(np.asarray(mesh)[None])[0]
        if not np.isfinite(box).all():
            return out
        rect = self._dlib.rectangle(*(round(float(v)) for v in box))
        shape = self._predictor(np.ascontiguousarray(rgb), rect)
        out[:] = [(p.x, p.y) for p in shape.parts()]
        return out
