"""Test helper: MediaPipe FaceMesh landmarks for a real clip, in the scene's convention.

Frames are decoded with PyAV, centre-cropped to a square and resized to ``size``; landmarks are
the 478 refined FaceMesh points as float32 ``[N, 478, 3]`` in crop pixels (z = MediaPipe's
normalised z times ``size``), NaN rows where no face was found. Results are memoised per
(path, size, max_frames) for the test session.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def decode_square(path: Path, size: int = 256, max_frames: int | None = None) -> np.ndarray:
    """All frames of ``path`` (or the first ``max_frames``) as RGB uint8 ``[N, size, size, 3]``."""
    import av
    import cv2

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            crop = rgb[top : top + side, left : left + side]
            frames.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return np.stack(frames)


def face_mesh(frames: np.ndarray) -> np.ndarray:
    """FaceMesh (video mode, refined) on RGB ``[N, S, S, 3]`` -> float32 ``[N, 478, 3]`` pixels."""
    import mediapipe as mp

    size = frames.shape[1]
    out = np.full((len(frames), 478, 3), np.nan, dtype=np.float32)
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, refine_landmarks=True, max_num_faces=1
    ) as mesh:
        for i, frame in enumerate(frames):
            result = mesh.process(frame)
            if result.multi_face_landmarks:
                pts = result.multi_face_landmarks[0].landmark
                out[i] = [(p.x * size, p.y * size, p.z * size) for p in pts]
    return out


@functools.lru_cache(maxsize=16)
def _clip(path: str, size: int, max_frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    frames = decode_square(Path(path), size, max_frames)
    return frames, face_mesh(frames)


def clip_landmarks(
    path: Path, size: int = 256, max_frames: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(frames ``[N, size, size, 3]`` uint8, landmarks ``[N, 478, 3]`` float32) for a clip."""
    frames, landmarks = _clip(str(path), size, max_frames)
    return frames, landmarks.copy()
