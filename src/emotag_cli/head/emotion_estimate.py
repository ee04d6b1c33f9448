"""Estimate emotion directions from tracked, labelled scenes (``scripts/build_emotion_directions.py``).

Per speaker, a neutral reference: the mean tracked motion ``[expr ‖ jaw]`` of the speaker's
neutral-labelled clips, or, for a speaker without one, of the ``neutral_fraction`` of the
speaker's frames the emotion teacher finds most neutral. Each emotional clip of class k gives the
mean motion of its ``frame_fraction`` of frames the teacher rates most k, minus its speaker's
neutral; a speaker's clips of class k are averaged, then the speakers are (each speaker weighs the
same, so a speaker with many clips does not define the emotion alone).

Speech is kept out of a direction in two ways (an emotion must not open or seal the mouth, so the
mouth still follows the speech under any emotion): the jaw part is dropped, and the expression
part is made orthogonal to the inner-lip opening — the linear change of the gap between the inner
lip midpoints per coefficient, from the head model's basis — keeping ``keep_opening`` of it.

The direction is the unit vector of the result; its length is the natural magnitude (the motion
of the average real emotional face, relative to neutral, without the speech part).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EmotagError
from .emotion_directions import CLASSES, EmotionDirections

TEACHER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")   # emotion.npy's column order
INNER_LIP = (13, 14)  # MediaPipe upper / lower inner-lip midpoints (vertices 13, 14 of the open model)


@dataclass(frozen=True)
class EstimateSettings:
    frame_fraction: float = 0.5     # share of an emotional clip's frames (most k per the teacher) that count
    neutral_fraction: float = 0.2   # share of a speaker's frames used as neutral when no neutral clip exists
    keep_opening: float = 0.0       # share of the inner-lip opening part kept in a direction
    n_jaw: int = 3                  # trailing jaw entries of the motion vector (dropped)


@dataclass
class LabelledClip:
    """One tracked scene: motion ``[N, D]`` (expr ‖ jaw), teacher ``p_emo [N, 7]``, label, speaker."""

    name: str
    motion: np.ndarray
    p_emo: np.ndarray
    emotion: str
    speaker: str
    record: dict[str, Any]


def lip_opening_gradient(model, n_expr: int = 50, n_jaw: int = 3) -> np.ndarray:
    """``[n_expr + n_jaw]``: change of the inner-lip gap (upper minus lower midpoint height, metres)
    per unit of each motion coordinate of ``model`` (a HeadModel: its landmark embedding places
    MediaPipe's points 13 and 14); the jaw entries are 0 (the jaw is dropped anyway)."""
    from .lbs import landmark_expression_basis

    indices = list(model.meta.get("landmark_indices") or range(model.n_landmarks))
    for mp_index in INNER_LIP:
        if mp_index not in indices:
            raise EmotagError(f"head model {model.id} has no landmark for MediaPipe point {mp_index} (inner lip)")
    up, low = landmark_expression_basis(model, [indices.index(m) for m in INNER_LIP], n_expr)[:, 1].numpy()
    return np.concatenate([up - low, np.zeros(n_jaw)])


def _mean_top(motion: np.ndarray, score: np.ndarray, fraction: float) -> np.ndarray:
    keep = score >= np.quantile(score, 1.0 - fraction)
    return motion[keep].mean(axis=0)


def estimate_directions(clips: list[LabelledClip], opening: np.ndarray, head_model: str,
                        head_model_sha256: str | None, settings: EstimateSettings = EstimateSettings()
                        ) -> EmotionDirections:
    """Directions for every class with at least one speaker having clips of it (see the module doc)."""
    by_speaker: dict[str, list[LabelledClip]] = defaultdict(list)
    for clip in clips:
        by_speaker[clip.speaker].append(clip)
    neutral_i = TEACHER.index("neutral")
    per_class: dict[str, list[np.ndarray]] = defaultdict(list)
    used: dict[str, list[dict]] = defaultdict(list)
    for speaker, own in by_speaker.items():
        neutral_clips = [c for c in own if c.emotion == "neutral"]
        if neutral_clips:
            neutral = np.concatenate([c.motion for c in neutral_clips]).mean(axis=0)
        else:
            motion = np.concatenate([c.motion for c in own])
            neutral = _mean_top(motion, np.concatenate([c.p_emo[:, neutral_i] for c in own]),
                                settings.neutral_fraction)
        changes: dict[str, list[np.ndarray]] = defaultdict(list)
        for c in own:
            if c.emotion in CLASSES:
                k = TEACHER.index(c.emotion)
                changes[c.emotion].append(_mean_top(c.motion, c.p_emo[:, k], settings.frame_fraction) - neutral)
                used[c.emotion].append({**c.record, "speaker": speaker,
                                        "neutral": "clip" if neutral_clips else "teacher's most neutral frames"})
        for emotion, d in changes.items():
            per_class[emotion].append(np.mean(d, axis=0))
    emotions = tuple(e for e in CLASSES if per_class[e])
    if not emotions:
        raise EmotagError("no emotional clip (angry, disgust, fear, happy, sad or surprise) among the scenes")

    unit_opening = opening / max(np.linalg.norm(opening), 1e-30)
    directions, magnitude = [], []
    for emotion in emotions:
        d = np.mean(per_class[emotion], axis=0)
        d[len(d) - settings.n_jaw:] = 0.0
        d = d - (1.0 - settings.keep_opening) * (d @ unit_opening) * unit_opening
        norm = float(np.linalg.norm(d))
        if norm == 0.0:
            raise EmotagError(f"the {emotion} clips show no change from neutral outside jaw and lip opening")
        directions.append(d / norm)
        magnitude.append(norm)
    provenance = {
        "method": "per speaker: mean motion of each emotional clip's frames the teacher rates most that class, "
                  "minus the speaker's neutral; averaged over clips, then speakers; jaw dropped, inner-lip "
                  "opening projected out",
        "settings": vars(settings),
        "speakers": {e: len(per_class[e]) for e in emotions},
        "clips": {e: used[e] for e in emotions},
    }
    return EmotionDirections(head_model, head_model_sha256, emotions, np.stack(directions),
                             np.asarray(magnitude), provenance=provenance)
