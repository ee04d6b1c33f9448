"""Per-frame emotion requests from ``--emotion`` and ``--intensity``.

``--emotion`` is ``auto`` (inferred from the audio), one class (``happy``), or a timeline of
segments in seconds, ``"happy:0-3,sad:3-6"``. Outside the timeline's segments the request is
neutral. Segment boundaries cross-fade over ``transition_s`` seconds (a Hann-window blend of the
per-frame class weights), so a change of emotion never jumps between two frames.

``--intensity`` in [0, 1] scales the non-neutral part of each frame's weights and drives the gate;
without it the gate is inferred from the audio (see motion/control.py).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import Tensor

from ..errors import EmotagError
from .control import EMOTIONS, NEUTRAL, with_intensity

SEGMENT = re.compile(r"^\s*([a-z]+)\s*:\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$")


def parse_emotion(spec: str) -> list[tuple[str, float, float]] | str:
    """'auto' | a class name | 'name:a-b,name:c-d' → 'auto', [(name, 0, inf)] or segments."""
    spec = spec.strip().lower()
    if spec == "auto":
        return "auto"
    if spec in EMOTIONS:
        return [(spec, 0.0, float("inf"))]
    segments = []
    for part in spec.split(","):
        m = SEGMENT.match(part)
        if not m:
            raise EmotagError(f"--emotion {spec!r}: expected auto, one of {', '.join(EMOTIONS)}, "
                              f"or a timeline like 'happy:0-3,sad:3-6' (seconds)")
        name, start, end = m.group(1), float(m.group(2)), float(m.group(3))
        if name not in EMOTIONS:
            raise EmotagError(f"--emotion: unknown emotion {name!r} (choose from {', '.join(EMOTIONS)})")
        if end <= start:
            raise EmotagError(f"--emotion: segment {part.strip()!r} ends before it starts")
        segments.append((name, start, end))
    return segments


def emotion_track(spec: str, intensity: float | None, n_frames: int, fps: float = 25.0,
                  transition_s: float = 0.4) -> tuple[Tensor | None, Tensor | None]:
    """→ (emotion [N, 7] or None for auto, intensity [N, 1] or None for auto)."""
    if intensity is not None and not 0.0 <= intensity <= 1.0:
        raise EmotagError(f"--intensity must be between 0 and 1, got {intensity}")
    parsed = parse_emotion(spec)
    gate = None if intensity is None else torch.full((n_frames, 1), float(intensity))
    if parsed == "auto":
        return None, gate
    weights = np.zeros((n_frames, len(EMOTIONS)), np.float64)
    weights[:, NEUTRAL] = 1.0
    t = np.arange(n_frames) / fps
    for name, start, end in parsed:
        inside = (t >= start) & (t < end)
        weights[inside] = 0.0
        weights[inside, EMOTIONS.index(name)] = 1.0
    k = int(round(transition_s * fps))
    if k >= 2 and len(parsed) > 0 and n_frames > 1:
        window = np.hanning(k + 2)[1:-1]
        window /= window.sum()
        padded = np.pad(weights, ((k, k), (0, 0)), mode="edge")
        weights = np.stack([np.convolve(padded[:, c], window, mode="same")[k:-k] for c in range(len(EMOTIONS))], 1)
    weights = torch.from_numpy(weights / weights.sum(1, keepdims=True))
    if intensity is not None:
        weights = with_intensity(weights, float(intensity))
    return weights.float(), gate


def require_directions(spec: str, available: list[str] | tuple[str, ...]) -> None:
    """Refuse a request for an emotion the avatar's emotion directions do not have (neutral and
    auto need none), naming the ones they have."""
    parsed = parse_emotion(spec)
    if parsed == "auto":
        return
    missing = sorted({name for name, _, _ in parsed if name != "neutral" and name not in available})
    if missing:
        raise EmotagError(f"--emotion: the head model's emotion directions have no {', '.join(missing)}; "
                          f"they have: {', '.join(available)} (and neutral)")
