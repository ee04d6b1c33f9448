"""Small media files made in tests (synthetic frames, or re-encoded pieces of real clips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotag_cli.media.encode import VideoWriter
from emotag_cli.media.probe import probe
from emotag_cli.media.video import decode_cfr


def write_video(path: Path, frames, fps: float = 25.0, audio: np.ndarray | None = None,
                audio_rate: int = 16000) -> Path:
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps=fps, audio_rate=audio_rate if audio is not None else None) as out:
        for f in frames:
            out.write(f)
        if audio is not None:
            out.close(audio)
    return path


def real_frames(path: Path, n: int, size: int | None = None) -> list[np.ndarray]:
    """First n frames of a real clip at 25 fps (optionally resized to size×size)."""
    import cv2

    out = []
    for i, f in enumerate(decode_cfr(probe(path), 25.0)):
        if i >= n:
            break
        out.append(cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) if size else f)
    return out
